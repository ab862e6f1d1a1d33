//! Issue 5, "never lose an event", shown against the real ClickHouse engine and the real binary.
//!
//! `reliability_scenarios` runs the ingester's DEBUG_MODE demo (a frame every 20 ms, ~600
//! events/s) through outages and crashes and prints one table — scenario, sent, landed,
//! dead-lettered, lost, duplicates — also written to `target/tmp/reliability.txt`. "Sent" is
//! the ingester's own count: `shutdown complete events_accepted=N` after a SIGTERM, or the sum
//! of its `demo frame messages=N` debug lines for a run ended by `kill -9` (that count may miss
//! the frame being sent at the kill, at most ~20 events). Background merges are stopped, so a
//! duplicate insert stays visible as a duplicate row. The short run takes a few seconds per
//! scenario; `REL_LONG=1` uses the full durations (a one-minute outage, half-minute runs).
//!
//! The other tests check, on the same engine, that a retried or replayed batch is stored once,
//! and in the database it was spooled for; that a second process on the same `SPOOL_DIR` stops
//! at startup without harming the first; and that the ClickHouse password never reaches logs,
//! `/metrics` or `/healthz`.

mod support;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chakal_ingest::clickhouse::batch::Sealed;
use chakal_ingest::clickhouse::client::Client;
use chakal_ingest::clickhouse::deadletter::DeadLetter;
use chakal_ingest::clickhouse::row::write_json_line;
use chakal_ingest::clickhouse::spool::Spool;
use chakal_ingest::clickhouse::{schema, Writer, WriterConfig};
use chakal_ingest::config::{ClickHouseConn, Secret};
use chakal_ingest::event::{Chat, Event, Meta, UserRef};
use chakal_ingest::metrics::Metrics;
use chakal_ingest::shutdown::Shutdown;
use chakal_ingest::status::Status;
use support::{ingester_env, temp_dir, wait_for, ClickHouse, Ingester};

const CHANNEL_CAPACITY: u64 = 1000;
const BATCH_MAX_ROWS: u64 = 1000;
const FLUSH_INTERVAL_MS: u64 = 200;

fn long() -> bool {
    std::env::var("REL_LONG").is_ok_and(|v| v == "1")
}

/// The short or the long (`REL_LONG=1`) duration.
fn secs(short: f64, long_run: f64) -> Duration {
    Duration::from_secs_f64(if long() { long_run } else { short })
}

fn demo_env(ch: &ClickHouse, db: &str) -> HashMap<String, String> {
    ingester_env(
        ch,
        db,
        &[
            ("DEBUG_MODE", "true"),
            ("DEBUG_INTERVAL_MS", "20"),
            ("FLUSH_INTERVAL_MS", &FLUSH_INTERVAL_MS.to_string()),
            ("CHANNEL_CAPACITY", &CHANNEL_CAPACITY.to_string()),
            ("BATCH_MAX_ROWS", &BATCH_MAX_ROWS.to_string()),
            ("CLICKHOUSE_TIMEOUT_MS", "2000"),
        ],
    )
}

/// Creates the tables (the binary's `schema` command), then stops background merges so that
/// ReplacingMergeTree cannot hide a duplicate insert. Again after every ClickHouse restart.
fn prepare(ch: &ClickHouse, env: &HashMap<String, String>) {
    let mut schema = Ingester::start(&["schema"], env);
    assert!(
        schema.wait(Duration::from_secs(60)).success(),
        "{}",
        schema.log()
    );
    stop_merges(ch);
}

fn stop_merges(ch: &ClickHouse) {
    ch.query("SYSTEM STOP MERGES");
}

/// Rows in every table that holds one row per message (typed tables, `events`, `raw_messages`;
/// not `users`, the rollups or their views), and how many of them repeat a msg_id.
fn landed(ch: &ClickHouse, db: &str) -> (u64, u64) {
    let (mut rows, mut dupes) = (0, 0);
    for table in chakal_ingest::fake_tiktok::report::message_tables() {
        let line = ch.query(&format!(
            "SELECT count(), count() - uniqExact(msg_id) FROM {db}.{table}"
        ));
        let mut it = line.split_whitespace().map(|n| n.parse::<u64>().unwrap());
        rows += it.next().unwrap();
        dupes += it.next().unwrap();
    }
    (rows, dupes)
}

fn wait_rows(ch: &ClickHouse, db: &str) {
    wait_for("rows in ClickHouse", Duration::from_secs(60), || {
        ch.try_query(&format!("SELECT count() FROM {db}.chat"))
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .filter(|&n| n > 0)
    });
}

/// A gauge or counter from `/metrics` (summed over labels).
fn metric(ing: &Ingester, name: &str) -> f64 {
    let (_, text) = ing.get("/metrics");
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// SIGTERM, a clean exit within 10 s, and the events the run accepted.
fn terminate(ing: &mut Ingester) -> u64 {
    ing.signal("TERM");
    let started = Instant::now();
    let status = ing.wait(Duration::from_secs(10));
    let log = ing.log();
    assert!(status.success(), "exit status {status:?}; log:\n{log}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "SIGTERM took {:?}",
        started.elapsed()
    );
    log.lines()
        .find_map(|l| l.split("shutdown complete events_accepted=").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no shutdown summary in log:\n{log}"))
        .parse()
        .unwrap()
}

/// Events the demo handed to the writer, from its debug lines (for a run killed with -9).
fn demo_events_logged(log: &str) -> u64 {
    log.lines()
        .filter_map(|l| l.split("demo frame messages=").nth(1))
        .filter_map(|n| n.trim().parse::<u64>().ok())
        .sum()
}

struct Row {
    scenario: String,
    sent: u64,
    landed: u64,
    dead: u64,
    duplicates: u64,
    /// The most that may be lost, or 0.
    bound: u64,
}

impl Row {
    fn lost(&self) -> i64 {
        self.sent as i64 - self.landed as i64 - self.dead as i64
    }
}

/// (a) ClickHouse stopped for a while mid-stream, then restarted.
fn clickhouse_outage() -> Row {
    let outage = secs(3.0, 60.0);
    let mut ch = ClickHouse::start();
    let env = demo_env(&ch, "rel_a");
    prepare(&ch, &env);
    let mut ing = Ingester::start(&[], &env);
    wait_rows(&ch, "rel_a");
    ch.stop();
    let down = Instant::now();
    wait_for("batches in the spool", Duration::from_secs(30), || {
        (metric(&ing, "chakal_spool_batches") > 0.0).then_some(())
    });
    let (_, health) = ing.get("/healthz");
    assert!(
        health.contains("batches wait in the spool"),
        "/healthz shows the spool: {health}"
    );
    std::thread::sleep(outage.saturating_sub(down.elapsed()));
    ch.restart();
    stop_merges(&ch);
    wait_for(
        "the spool to drain (slow when the machine is busy)",
        Duration::from_secs(180),
        || (metric(&ing, "chakal_spool_batches") == 0.0).then_some(()),
    );
    std::thread::sleep(secs(1.0, 10.0));
    let sent = terminate(&mut ing);
    let (landed, duplicates) = landed(&ch, "rel_a");
    Row {
        scenario: format!("a ClickHouse down {} s", outage.as_secs()),
        sent,
        landed,
        dead: 0,
        duplicates,
        bound: 0,
    }
}

/// (b) SIGTERM mid-stream, then a restart; with ClickHouse up, or down at the SIGTERM (the
/// final flush goes to the spool and the restart replays it).
fn sigterm_restart(outage: bool) -> Row {
    let db = if outage { "rel_b2" } else { "rel_b" };
    let run = secs(2.0, 30.0);
    let mut ch = ClickHouse::start();
    let env = demo_env(&ch, db);
    prepare(&ch, &env);
    let mut first = Ingester::start(&[], &env);
    wait_rows(&ch, db);
    std::thread::sleep(run);
    if outage {
        ch.stop();
        std::thread::sleep(Duration::from_secs(1));
    }
    let sent_first = terminate(&mut first);
    if outage {
        assert!(
            first.log().contains("replayed at the next start"),
            "{}",
            first.log()
        );
        ch.restart();
        stop_merges(&ch);
    }
    let mut second = Ingester::start(&[], &env);
    std::thread::sleep(run);
    wait_for(
        "the spool to drain (slow when the machine is busy)",
        Duration::from_secs(180),
        || (metric(&second, "chakal_spool_batches") == 0.0).then_some(()),
    );
    let sent = sent_first + terminate(&mut second);
    let (landed, duplicates) = landed(&ch, db);
    Row {
        scenario: if outage {
            "b SIGTERM, ClickHouse down, restart".into()
        } else {
            "b SIGTERM mid-stream, restart".into()
        },
        sent,
        landed,
        dead: 0,
        duplicates,
        bound: 0,
    }
}

/// (c) `kill -9` mid-stream (optionally during an outage, so the spool holds batches), restart.
fn kill9_restart(outage: bool) -> Row {
    let db = if outage { "rel_c2" } else { "rel_c" };
    let run = secs(2.0, 30.0);
    let mut ch = ClickHouse::start();
    let env = demo_env(&ch, db);
    prepare(&ch, &env);
    let mut first = Ingester::start(&[], &env);
    wait_rows(&ch, db);
    std::thread::sleep(run);
    if outage {
        ch.stop();
        wait_for("batches in the spool", Duration::from_secs(30), || {
            (metric(&first, "chakal_spool_batches") >= 2.0).then_some(())
        });
    }
    // Freeze every thread, count what was sent, then kill.
    first.signal("STOP");
    let sent_first = demo_events_logged(&first.log());
    first.signal("KILL");
    first.wait(Duration::from_secs(10));
    if outage {
        ch.restart();
        stop_merges(&ch);
    }
    let mut second = Ingester::start(&[], &env);
    wait_for(
        "the spool to drain (slow when the machine is busy)",
        Duration::from_secs(180),
        || (metric(&second, "chakal_spool_batches") == 0.0).then_some(()),
    );
    std::thread::sleep(run);
    let sent = sent_first + terminate(&mut second);
    let (landed, duplicates) = landed(&ch, db);
    Row {
        scenario: if outage {
            "c kill -9 during an outage, restart".into()
        } else {
            "c kill -9 mid-stream, restart".into()
        },
        sent,
        landed,
        dead: 0,
        duplicates,
        // Channel + open batches. Each open batch is at most FLUSH_INTERVAL_MS old, which at
        // the demo's rate (~600 events/s) is far below BATCH_MAX_ROWS rows; during an outage
        // at most 2 s old (the writer's backlog age): ~1 200 rows.
        bound: CHANNEL_CAPACITY
            + if outage {
                2 * BATCH_MAX_ROWS
            } else {
                BATCH_MAX_ROWS
            },
    }
}

fn chat_event(msg_id: u64) -> Event {
    Event::Chat(Chat {
        meta: Meta {
            room_id: 42,
            msg_id,
            time_ms: 1_717_000_000_000 + msg_id as i64,
        },
        user: UserRef {
            id: msg_id,
            unique_id: format!("user{msg_id}"),
            nickname: "Viewer".into(),
            ..Default::default()
        },
        content: format!("message {msg_id}"),
        language: "en".into(),
        mention_user_id: 0,
        mention_user_ids: Vec::new(),
        emotes: Vec::new(),
    })
}

/// `n` chat rows as NDJSON, the one at `poison` (if any) with a user id ClickHouse refuses.
fn chat_rows(first_id: u64, n: u64, poison: Option<u64>) -> Vec<u8> {
    let mut body = Vec::new();
    for id in first_id..first_id + n {
        let mut line = Vec::new();
        write_json_line(&chat_event(id), &mut line);
        if Some(id) == poison {
            let text = String::from_utf8(line).unwrap();
            line = text
                .replacen(&format!("\"user_id\":{id}"), "\"user_id\":-1", 1)
                .into_bytes();
        }
        body.extend_from_slice(&line);
    }
    body
}

/// (e) A batch with one row ClickHouse refuses, waiting in the spool when the ingester starts.
fn poison_row() -> Row {
    const FIRST: u64 = 1_000_000;
    const N: u64 = 50;
    let ch = ClickHouse::start();
    let env = demo_env(&ch, "rel_e");
    prepare(&ch, &env);
    let (mut spool, _) = Spool::open(Path::new(&env["SPOOL_DIR"]), 1 << 30).unwrap();
    let body = chat_rows(FIRST, N, Some(FIRST + 37));
    spool
        .push("rel_e", &Sealed::from_ndjson("chat", body), 0)
        .unwrap();
    drop(spool);
    let mut ing = Ingester::start(&[], &env);
    wait_rows(&ch, "rel_e");
    std::thread::sleep(secs(2.0, 30.0));
    let sent = terminate(&mut ing) + N;
    let dead_lines = dead_letter_lines(Path::new(&env["DEAD_LETTER_DIR"]));
    assert_eq!(dead_lines.len(), 1, "{dead_lines:?}");
    let dead: serde_json::Value = serde_json::from_str(&dead_lines[0]).unwrap();
    assert_eq!(dead["database"], "rel_e");
    assert_eq!(dead["table"], "chat");
    assert!(
        dead["row"].as_str().unwrap().contains("\"user_id\":-1"),
        "{dead}"
    );
    assert!(
        dead["error"].as_str().unwrap().contains("code 72"),
        "{dead}"
    );
    let good = ch.query(&format!(
        "SELECT count() FROM rel_e.chat WHERE msg_id >= {FIRST} AND msg_id < {}",
        FIRST + N
    ));
    assert_eq!(good.trim(), (N - 1).to_string(), "every other row landed");
    let (landed, duplicates) = landed(&ch, "rel_e");
    Row {
        scenario: "e one poison row in a batch".into(),
        sent,
        landed,
        dead: dead_lines.len() as u64,
        duplicates,
        bound: 0,
    }
}

fn dead_letter_lines(dir: &Path) -> Vec<String> {
    let mut lines = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        lines.extend(text.lines().map(str::to_string));
    }
    lines
}

#[test]
fn reliability_scenarios() {
    let rows = vec![
        clickhouse_outage(),
        sigterm_restart(false),
        sigterm_restart(true),
        kill9_restart(false),
        kill9_restart(true),
        poison_row(),
    ];
    let mut table = format!(
        "{:<40} {:>7} {:>7} {:>12} {:>5} {:>11} {:>6}\n",
        "scenario", "sent", "landed", "dead-letter", "lost", "duplicates", "bound"
    );
    for r in &rows {
        writeln!(
            table,
            "{:<40} {:>7} {:>7} {:>12} {:>5} {:>11} {:>6}",
            r.scenario,
            r.sent,
            r.landed,
            r.dead,
            r.lost(),
            r.duplicates,
            r.bound
        )
        .unwrap();
    }
    println!("\n{table}");
    let report = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("reliability.txt");
    let _ = std::fs::write(&report, &table);
    for r in &rows {
        assert_eq!(r.duplicates, 0, "duplicates in {}\n{table}", r.scenario);
        assert!(r.sent > 0 && r.landed > 0, "{table}");
        assert!(
            r.lost() <= r.bound as i64,
            "{} lost {} > bound {}\n{table}",
            r.scenario,
            r.lost(),
            r.bound
        );
        if r.bound == 0 {
            assert_eq!(r.lost(), 0, "{} lost rows\n{table}", r.scenario);
        }
    }
}

fn client_for(ch: &ClickHouse, db: &str) -> Client {
    let conn = ClickHouseConn {
        base_url: ch.url(),
        user: "default".into(),
        password: Secret::new(String::new()),
        database: db.into(),
    };
    Client::new(&conn, Duration::from_secs(30))
}

/// Runs a writer with no events over the spool in `dir/spool` until it is empty.
fn drain_spool(client: Client, dir: &Path) -> Arc<Metrics> {
    let (spool, problems) = Spool::open(&dir.join("spool"), 1 << 30).unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    let metrics = Arc::new(Metrics::new());
    let writer = Writer::new(
        client,
        WriterConfig {
            flush_interval: Duration::from_millis(100),
            batch_max_rows: 100,
            insert_timeout: Duration::from_secs(30),
            shutdown_timeout: Duration::from_secs(30),
            init_schema: false,
        },
        spool,
        DeadLetter::open(&dir.join("dead")).unwrap(),
        metrics.clone(),
        Arc::new(Status::new()),
        Shutdown::new(),
    );
    let (tx, rx) = crossbeam_channel::bounded::<chakal_ingest::clickhouse::row::Row>(1);
    drop(tx);
    writer.run(rx).unwrap();
    metrics
}

/// A batch retried after a lost answer, re-split after a bad row, or replayed from the spool
/// after a crash is stored once: the token and the table's deduplication window do it.
#[test]
fn retried_and_replayed_batches_are_stored_once() {
    let ch = ClickHouse::start();
    let client = client_for(&ch, "idem");
    schema::apply(&client).unwrap();
    let t = Duration::from_secs(30);

    // A retry after a lost answer: the same body and token again.
    let batch = Sealed::from_ndjson("chat", chat_rows(1, 20, None));
    client
        .insert("chat", &batch.body, &batch.dedup_token, t)
        .unwrap();
    client
        .insert("chat", &batch.body, &batch.dedup_token, t)
        .unwrap();
    assert_eq!(ch.query("SELECT count() FROM idem.chat").trim(), "20");

    // The same batch left in the spool by a crash (stored, but not yet removed), plus a batch
    // with a bad row whose good part was stored before the crash: replayed at the next start.
    let dir = temp_dir("idem");
    let (mut spool, _) = Spool::open(&dir.join("spool"), 1 << 30).unwrap();
    spool.push("idem", &batch, 0).unwrap();
    let poisoned = Sealed::from_ndjson("chat", chat_rows(100, 9, Some(104)));
    spool.push("idem", &poisoned, 0).unwrap();
    spool.push("idem", &poisoned, 0).unwrap();
    drop(spool);
    for round in 0..2 {
        if round == 1 {
            // The same crash again: both batches back in the spool, already stored.
            let (mut spool, _) = Spool::open(&dir.join("spool"), 1 << 30).unwrap();
            spool.push("idem", &batch, 0).unwrap();
            spool.push("idem", &poisoned, 0).unwrap();
        }
        let metrics = drain_spool(client_for(&ch, "idem"), &dir);
        assert_eq!(metrics.spool_batches.get(), 0);
        assert_eq!(metrics.spool_replayed.get(), if round == 0 { 3 } else { 2 });
    }
    let counts = ch.query(
        "SELECT count(), uniqExact(msg_id), countIf(msg_id >= 100) FROM idem.chat FORMAT TabSeparated",
    );
    assert_eq!(counts.trim(), "28\t28\t8", "20 + 8 good rows, each once");
    let _ = std::fs::remove_dir_all(dir);
}

/// Issue "spooled batches go to whatever database the next process connects to": a batch
/// spooled for database A is replayed into A by a writer now writing to B, once.
#[test]
fn a_spooled_batch_lands_in_the_database_it_was_spooled_for() {
    let ch = ClickHouse::start();
    for db in ["spool_a", "spool_b"] {
        schema::apply(&client_for(&ch, db)).unwrap();
    }
    let dir = temp_dir("per-db");
    let for_a = Sealed::from_ndjson("chat", chat_rows(1, 8, None));
    let for_b = Sealed::from_ndjson("chat", chat_rows(500, 3, None));
    for round in 0..2 {
        // Round 1: the same batches again, as after a crash between the insert and the removal.
        let (mut spool, _) = Spool::open(&dir.join("spool"), 1 << 30).unwrap();
        spool.push("spool_a", &for_a, 0).unwrap();
        spool.push("spool_b", &for_b, 0).unwrap();
        drop(spool);
        let metrics = drain_spool(client_for(&ch, "spool_b"), &dir);
        assert_eq!(metrics.spool_replayed.get(), 2, "round {round}");
    }
    let count = |db: &str| {
        ch.query(&format!(
            "SELECT count(), uniqExact(msg_id), min(msg_id) FROM {db}.chat FORMAT TabSeparated"
        ))
    };
    assert_eq!(count("spool_a").trim(), "8\t8\t1", "A's rows in A, once");
    assert_eq!(count("spool_b").trim(), "3\t3\t500", "only B's rows in B");
    let _ = std::fs::remove_dir_all(dir);
}

/// Issue "two instances sharing one SPOOL_DIR lose and duplicate rows": a second ingester (or
/// a `replay`) on the same SPOOL_DIR stops at startup with exit code 1 and says why, and the
/// first one loses nothing.
#[test]
fn a_second_process_on_the_same_spool_dir_stops_at_startup() {
    let mut ch = ClickHouse::start();
    let env = demo_env(&ch, "rel_lock");
    prepare(&ch, &env);
    let mut first = Ingester::start(&[], &env);
    wait_rows(&ch, "rel_lock");
    // While ClickHouse is down the first one's batches wait in the spool the others would share.
    ch.stop();
    wait_for("batches in the spool", Duration::from_secs(30), || {
        (metric(&first, "chakal_spool_batches") > 0.0).then_some(())
    });
    let frames = support::fixtures_dir().join("frames.bin");
    for args in [vec![], vec!["replay", frames.to_str().unwrap()]] {
        let mut second = Ingester::start(&args, &env);
        let status = second.wait(Duration::from_secs(30));
        let log = second.log();
        assert_eq!(status.code(), Some(1), "{args:?}: {log}");
        assert!(
            log.contains(&format!(
                "spool directory {} (SPOOL_DIR) is in use",
                env["SPOOL_DIR"]
            )) && log.contains("its own SPOOL_DIR"),
            "{args:?}: {log}"
        );
    }
    ch.restart();
    stop_merges(&ch);
    wait_for(
        "the spool to drain (slow when the machine is busy)",
        Duration::from_secs(180),
        || (metric(&first, "chakal_spool_batches") == 0.0).then_some(()),
    );
    let sent = terminate(&mut first);
    let (landed, duplicates) = landed(&ch, "rel_lock");
    assert_eq!((landed, duplicates), (sent, 0), "{}", first.log());
    assert!(!first.log().contains("is corrupt"), "{}", first.log());
}

/// Issue 5 §6: the ClickHouse password never appears in logs (at trace), `/metrics` or
/// `/healthz`, whether ClickHouse refuses it at schema time or at insert time.
#[test]
fn the_clickhouse_password_never_leaks() {
    const PASSWORD: &str = "Leak-Canary-7f3a9c";
    let ch = ClickHouse::start_with_auth("ingest", "the-right-one");
    for init_schema in ["true", "false"] {
        let conn = format!("http://ingest:{PASSWORD}@127.0.0.1:{}/secrets", ch.port());
        let mut env = ingester_env(
            &ch,
            "secrets",
            &[
                ("DEBUG_MODE", "true"),
                ("DEBUG_INTERVAL_MS", "20"),
                ("FLUSH_INTERVAL_MS", "100"),
                ("LOG_LEVEL", "Trace"),
                ("CLICKHOUSE_INIT_SCHEMA", init_schema),
            ],
        );
        env.insert("CLICKHOUSE_CONN".into(), conn);
        let mut ing = Ingester::start(&[], &env);
        // With or without the schema to apply first, the refusal reaches the writer's outage log.
        let refused = "ClickHouse cannot take inserts";
        wait_for(
            "ClickHouse to refuse the password",
            Duration::from_secs(30),
            || ing.log().contains(refused).then_some(()),
        );
        std::thread::sleep(Duration::from_secs(1));
        let (_, metrics) = ing.get("/metrics");
        let (_, health) = ing.get("/healthz");
        ing.signal("TERM");
        ing.wait(Duration::from_secs(15));
        let log = ing.log();
        assert!(log.contains("516"), "the refusal is logged:\n{log}");
        for (what, text) in [("log", &log), ("/metrics", &metrics), ("/healthz", &health)] {
            assert!(
                !text.contains(PASSWORD),
                "the password appears in {what}:\n{text}"
            );
        }
    }
}
