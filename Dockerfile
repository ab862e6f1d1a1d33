# syntax=docker/dockerfile:1
# chakal-ingest: release build, then a small runtime image (CA certificates, OpenSSL, non-root user).
# `docker build -t chakal-ingest .`; `docker compose up --build` runs it beside ClickHouse.

FROM rust:1.95-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends pkg-config libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Every file Cargo.toml names (cargo reads all targets, benches included, before building one).
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY sql ./sql
COPY benches ./benches
# The registry and target caches survive between builds; the binary is copied out of the cache.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin chakal-ingest \
 && install -m 0755 target/release/chakal-ingest /usr/local/bin/chakal-ingest

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates libssl3 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 chakal \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/chakal-ingest --create-home chakal
COPY --from=build /usr/local/bin/chakal-ingest /usr/local/bin/chakal-ingest
# Numeric, so runtimes that check for a non-root user without reading /etc/passwd see one.
USER 10001:10001
# The working directory holds the spool (data/spool); mount a volume here to keep it.
WORKDIR /var/lib/chakal-ingest
ENV HTTP_ADDR=0.0.0.0:5000 \
    LOG_LEVEL=Information
EXPOSE 5000
# No curl in the image: the binary checks its own /healthz.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 CMD ["chakal-ingest", "healthcheck"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["chakal-ingest"]
CMD ["run"]
