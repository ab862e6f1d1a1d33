# chakal-ingest — the two commands: `make run` (the main job) and `make test` (every test).
# Everything else here is what those two need, plus helpers for operators.

SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV        ?= .venv
PYTHON      := $(VENV)/bin/python
DATA        ?= .data
CH_PORT     ?= 8123
CH_URL      := http://127.0.0.1:$(CH_PORT)
CH_PIDFILE  := $(DATA)/clickhouse.pid
CH_LOG      := $(DATA)/clickhouse.log
BIN         := target/release/chakal-ingest
FIXTURES_DIR ?= $(abspath ../shared/fixtures)
BENCH_CORPUS ?= $(abspath ../shared/bench/webcast_frames.bin)

export CHDB_PYTHON := $(abspath $(PYTHON))
export FIXTURES_DIR
export BENCH_CORPUS

.PHONY: help run build venv clickhouse clickhouse-stop schema query replay-demo test test-reliability test-rust test-chfront lint fmt clean fuzz bench bench-quick

help:
	@echo "make run              capture TIKTOK_HOST into ClickHouse; with no config: offline demo into a local ClickHouse"
	@echo "make test             every test, including those against the real ClickHouse engine"
	@echo "make clickhouse       start the local dev ClickHouse (chDB) on 127.0.0.1:$(CH_PORT), data in $(DATA)/"
	@echo "make clickhouse-stop  stop it"
	@echo "make query SQL='…'    run a query in CLICKHOUSE_CONN's database (default: chakal of the local ClickHouse)"
	@echo "make schema           apply the migrations in sql/ to CLICKHOUSE_CONN"
	@echo "make replay-demo      real captured TikTok frames through a fake TikTok into the local ClickHouse (~50 s, keeps a replay_demo_<time> database)"
	@echo "make test-reliability the reliability scenarios at full length (~10 min)"
	@echo "make bench            the performance benchmark (issue 6): one table, also in target/bench/report.md"
	@echo "make bench-quick      the same in seconds, figures meaningless (make test runs it so it never rots)"
	@echo "make install          build and install the binary, systemd units and env template (PREFIX, DESTDIR)"
	@echo "make test-deploy      lint the Dockerfile and check docker-compose.yml (no Docker engine needed)"
	@echo "make fuzz             fuzz the frame decoder for FUZZ_SECONDS (default 600)"

build:
	cargo build --release --locked

# The chDB engine behind the local ClickHouse, in a project venv (created on first use).
venv: $(VENV)/.installed
$(VENV)/.installed: tools/clickhouse-dev/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tools/clickhouse-dev/requirements.txt
	touch $@

# Starts the local ClickHouse unless something already answers on $(CH_PORT). A chfront that
# dies while starting (port taken by another program, say) is noticed at once, not after 60 s.
# In a session of its own (setsid), so the Ctrl-C that stops `make run` leaves it running.
clickhouse: venv
	@mkdir -p $(DATA)
	@if curl -fsS --max-time 2 $(CH_URL)/ping >/dev/null 2>&1; then \
		echo "ClickHouse already answers on $(CH_URL)"; \
	else \
		setsid nohup $(PYTHON) tools/clickhouse-dev/chfront.py --host 127.0.0.1 --port $(CH_PORT) --path $(DATA)/clickhouse \
			>$(CH_LOG) 2>&1 & pid=$$!; echo $$pid > $(CH_PIDFILE); \
		for i in $$(seq 1 120); do \
			curl -fsS --max-time 1 $(CH_URL)/ping >/dev/null 2>&1 && break; \
			kill -0 $$pid 2>/dev/null || break; \
			sleep 0.5; \
		done; \
		if ! curl -fsS --max-time 2 $(CH_URL)/ping >/dev/null 2>&1; then \
			kill $$pid 2>/dev/null; rm -f $(CH_PIDFILE); \
			if grep -q "Address already in use" $(CH_LOG); then \
				echo "local ClickHouse not started: port $(CH_PORT) is in use by another program; stop it, or use another port with CH_PORT=… (e.g. make run CH_PORT=8124)"; \
			else \
				echo "local ClickHouse did not start; see $(CH_LOG):"; tail -20 $(CH_LOG); \
			fi; \
			exit 1; \
		fi; \
		echo "local ClickHouse (chDB) started on $(CH_URL), pid $$pid, data in $(DATA)/clickhouse"; \
	fi
	@echo "query it:  make query SQL='SELECT count() FROM chat'   (database chakal)"
	@echo "      or:  curl '$(CH_URL)/?query=SELECT+count()+FROM+chakal.chat'"

# chfront finishes its queries (up to 30 s) before it exits; the pid file goes only once it has.
clickhouse-stop:
	@if [ -f $(CH_PIDFILE) ] && kill -0 $$(cat $(CH_PIDFILE)) 2>/dev/null; then \
		pid=$$(cat $(CH_PIDFILE)); kill -TERM $$pid; \
		for i in $$(seq 1 175); do kill -0 $$pid 2>/dev/null || break; sleep 0.2; done; \
		if kill -0 $$pid 2>/dev/null; then \
			echo "local ClickHouse (pid $$pid) is still running 35 s after SIGTERM; wait, or end it with kill -9 $$pid"; \
			exit 1; \
		fi; \
		rm -f $(CH_PIDFILE); echo "local ClickHouse stopped"; \
	else \
		rm -f $(CH_PIDFILE); echo "local ClickHouse is not running (started by make)"; \
	fi

# With no CLICKHOUSE_CONN: the local ClickHouse (started if needed). With no TIKTOK_HOST: the offline demo.
run: build
	@if [ -z "$$CLICKHOUSE_CONN" ]; then $(MAKE) --no-print-directory clickhouse; fi
	@if [ -z "$$TIKTOK_HOST$$TIKTOK_HOSTS_FILE" ] && [ -z "$$DEBUG_MODE" ]; then \
		echo "TIKTOK_HOST is not set: running the offline demo (DEBUG_MODE=true). Ctrl-C stops it."; fi
	@addr=$${HTTP_ADDR:-0.0.0.0:5000}; port=$${addr##*:}; host=$${addr%:*}; \
		if [ "$$host" = "$$addr" ]; then host=127.0.0.1; fi; \
		case $$host in ""|0.0.0.0|"[::]") host=127.0.0.1;; esac; \
		if [ "$$port" = 0 ]; then \
			echo "health: HTTP_ADDR port 0 picks a free port, see the log line 'health server listening addr=…'"; \
		else \
			echo "health: curl http://$$host:$$port/healthz   metrics: /metrics   status page: /"; \
		fi
	@echo "rows:   make query SQL='SELECT count() FROM chat'"
	@if [ -z "$$TIKTOK_HOST$$TIKTOK_HOSTS_FILE" ]; then export DEBUG_MODE=$${DEBUG_MODE:-true}; fi; \
		export CLICKHOUSE_CONN=$${CLICKHOUSE_CONN:-$(CH_URL)/chakal}; \
		exec $(BIN)

schema: build
	@if [ -z "$$CLICKHOUSE_CONN" ]; then $(MAKE) --no-print-directory clickhouse; fi
	CLICKHOUSE_CONN=$${CLICKHOUSE_CONN:-$(CH_URL)/chakal} $(BIN) schema

# The real captured frames of FIXTURES_DIR served by the project's fake TikTok (loopback), ingested
# by the release binary into a fresh database of the local ClickHouse; prints sent vs landed per method.
# About 50 s once built. Each run keeps its database replay_demo_<unix time> (printed) to look at:
# make query DB=replay_demo_… SQL='…'; drop it with make query SQL='DROP DATABASE replay_demo_…'.
replay-demo: clickhouse
	cargo build --release --locked --bins
	target/release/fake-tiktok --frames $(FIXTURES_DIR)/frames.bin --clickhouse $(CH_URL) --exec $(abspath $(BIN))

# In CLICKHOUSE_CONN's server and database (as `make run` and `make schema`), else the local
# ClickHouse's `chakal`, so the README's queries run as written. DB: another database (e.g. a
# replay_demo_<time> one); PARAMS: query parameters, e.g. PARAMS='param_room_id=7446000000000000001'
# for {room_id:UInt64}.
SQL ?= SELECT table, sum(rows) FROM system.parts WHERE database = currentDatabase() AND active GROUP BY table ORDER BY table
export SQL
query:
	@DB='$(DB)' PARAMS='$(PARAMS)' tools/query.sh $(CH_URL)

test: venv
	cd tools/clickhouse-dev && ../../$(PYTHON) -m unittest -q test_chfront
	$(MAKE) --no-print-directory test-deploy
	$(MAKE) --no-print-directory bench-quick
	cargo build --tests --locked
	cargo test --locked

# The benchmark of issue 6 (benches/e2e, which includes benches/decode.rs): decode vs gunzip, the
# fake TikTok → release ingester → ClickHouse vs ClickHouse alone, memory, latency, 200 rooms.
# Release build, several minutes; BENCH_RUNS (default 5), BENCH_ONLY=a,b,… to run some parts.
# Record a run in bench/RESULTS.md.
bench: venv
	@mkdir -p target/bench
	cargo bench --locked --bench e2e | tee target/bench/report.md

# The same in seconds on 200 frames (debug build, shared with the tests): proves it still runs,
# asserts no timing.
bench-quick: venv
	BENCH_QUICK=1 cargo test --locked --bench e2e

# The reliability suite of issue 5 at the issue's durations (about 10 minutes): a 60 s ClickHouse
# outage, SIGTERM and kill -9 mid-stream, a poison row, the socket dropped every 20 s for 2 minutes.
# `make test` runs the same scenarios shortened. Each prints its table (scenario, sent, landed, lost,
# duplicates).
test-reliability: venv
	REL_LONG=1 cargo test --locked --test reliability -- --nocapture
	REL_LONG=1 cargo test --locked --test e2e_tiktok socket_dropped -- --nocapture

# Long fuzzing of the reader's path (frame → fetch result → convert → row), FUZZ_SECONDS long:
# libFuzzer via cargo-fuzz when the nightly toolchain is there, else the deterministic mutator
# of tests/hostile_input.rs (which `make test` runs for 20 s).
FUZZ_SECONDS ?= 600
fuzz:
	@if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then \
		command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked; \
		python3 fuzz/seed_corpus.py fuzz/corpus/frame $(FIXTURES_DIR)/frames.bin $(FIXTURES_DIR)/../bench/webcast_frames.bin; \
		cargo +nightly fuzz run frame fuzz/corpus/frame -- -max_total_time=$(FUZZ_SECONDS) -max_len=65536; \
	else \
		echo "no nightly toolchain: running the deterministic mutator for $(FUZZ_SECONDS) s"; \
		FUZZ_SECONDS=$(FUZZ_SECONDS) cargo test --test hostile_input -- --nocapture; \
	fi

lint:
	cargo fmt --all -- --check
	cargo clippy --all-targets --locked -- -D warnings

fmt:
	cargo fmt --all

# Leaves ./data, the ingester's own spool and dead-letter files: rows spooled there are not in
# ClickHouse yet (the next run sends them), so they are never deleted behind your back.
clean: clickhouse-stop
	cargo clean
	rm -rf $(VENV) $(DATA)
	@if [ -d data ]; then echo "kept ./data (spool: rows not yet in ClickHouse, sent by the next run; dead-letter files): remove it yourself when nothing there is needed"; fi

# --- Installing on a host (systemd) -------------------------------------------------------------
# `sudo make install`: the release binary in $(PREFIX)/bin, the units (chakal-ingest.service, and
# the template chakal-ingest@.service for one instance per group of hosts) in $(UNITDIR), the
# configuration template in /etc/chakal-ingest, the README in $(DOCDIR). DESTDIR stages it all
# under another root (packaging); `make install-files` does the same without building.
PREFIX  ?= /usr/local
UNITDIR ?= /etc/systemd/system
DOCDIR  ?= $(PREFIX)/share/doc/chakal-ingest
UNITS   := chakal-ingest.service chakal-ingest@.service

.PHONY: install install-files uninstall

install: build
	@$(MAKE) --no-print-directory install-files

install-files:
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/chakal-ingest
	install -d -m 0755 $(DESTDIR)$(UNITDIR)
	@# The units name /usr/local; point them at $(PREFIX).
	for unit in $(UNITS); do \
		sed 's|/usr/local/|$(PREFIX)/|g' deploy/$$unit > $(DESTDIR)$(UNITDIR)/$$unit && \
		chmod 0644 $(DESTDIR)$(UNITDIR)/$$unit || exit 1; \
	done
	install -D -m 0644 env.sample $(DESTDIR)/etc/chakal-ingest/chakal-ingest.env.sample
	install -D -m 0644 README.md $(DESTDIR)$(DOCDIR)/README.md
	@echo "installed. Next: cp /etc/chakal-ingest/chakal-ingest.env.sample /etc/chakal-ingest/chakal-ingest.env,"
	@echo "edit it, then: systemctl daemon-reload && systemctl enable --now chakal-ingest"
	@echo "(one instance per group of hosts: /etc/chakal-ingest/NAME.env and chakal-ingest@NAME)"

# Leaves /etc/chakal-ingest (your configuration) and /var/lib/chakal-ingest (the spool) in place.
uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/chakal-ingest $(addprefix $(DESTDIR)$(UNITDIR)/,$(UNITS))
	rm -f $(DESTDIR)/etc/chakal-ingest/chakal-ingest.env.sample
	rm -rf $(DESTDIR)$(DOCDIR)

# --- Checks of the deployment files (no Docker engine needed) ------------------------------------
# hadolint and PyYAML from PyPI into the project venv; deploy/test_deploy.py lints the Dockerfile,
# checks the Docker build context and docker-compose.yml. The systemd units and dashboards are
# checked by cargo test (tests/deploy.rs, tests/grafana.rs).
.PHONY: venv-deploy test-deploy

venv-deploy: $(VENV)/.installed-deploy
$(VENV)/.installed-deploy: deploy/requirements-test.txt $(VENV)/.installed
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r deploy/requirements-test.txt
	touch $@

test-deploy: venv-deploy
	$(PYTHON) -m unittest -v deploy/test_deploy.py
