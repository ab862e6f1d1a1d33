//! End to end on loopback, foundation level: the binary in DEBUG_MODE and in `replay` mode,
//! writing into the real ClickHouse engine (tests/support/clickhouse.rs), checking rows per
//! table, exact values, clean SIGTERM, and startup errors for bad configuration.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use chakal_ingest::replay::write_record;
use chakal_ingest::tiktok::frame::{encode_msg_frame, envelope};
use chakal_ingest::tiktok::proto::{self as pb, CommonMessageData, ProtoMessageFetchResult};
use prost::Message;
use support::{fixtures_dir, ingester_env, temp_dir, wait_for, ClickHouse, Ingester};

const CORE_TABLES: &[&str] = &[
    "chat",
    "gifts",
    "likes",
    "members",
    "social",
    "viewer_counts",
];

fn count(ch: &ClickHouse, db: &str, table: &str) -> Option<u64> {
    ch.try_query(&format!("SELECT count() FROM {db}.{table}"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
}

/// Rows of the tables that hold one row per message (not the migrations record, not the
/// `users` dimension, which holds one row per user, not the rollups).
fn total_rows(ch: &ClickHouse, db: &str) -> u64 {
    let tables: Vec<String> = chakal_ingest::clickhouse::row::TABLES
        .iter()
        .filter(|t| **t != "users")
        .map(|t| format!("'{t}'"))
        .collect();
    ch.query(&format!(
        "SELECT sum(rows) FROM system.parts WHERE database = '{db}' AND active AND table IN ({})",
        tables.join(", ")
    ))
    .trim()
    .parse()
    .unwrap()
}

#[test]
fn demo_lands_in_every_core_table_and_sigterm_loses_nothing() {
    let ch = ClickHouse::start();
    let env = ingester_env(
        &ch,
        "demo",
        &[
            ("DEBUG_MODE", "true"),
            ("DEBUG_INTERVAL_MS", "20"),
            ("FLUSH_INTERVAL_MS", "200"),
        ],
    );
    let mut ing = Ingester::start(&[], &env);

    for table in CORE_TABLES {
        wait_for(&format!("rows in {table}"), Duration::from_secs(60), || {
            count(&ch, "demo", table).filter(|&n| n > 0)
        });
    }
    let (code, body) = ing.get("/healthz");
    assert_eq!(code, 200, "{body}");
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["readers"][0]["state"], "demo");
    let (code, metrics) = ing.get("/metrics");
    assert_eq!(code, 200);
    for name in [
        "chakal_events_total{kind=\"chat\"}",
        "chakal_rows_written_total{table=\"chat\"}",
        "chakal_channel_depth",
        "chakal_insert_duration_seconds_bucket",
        // Known label values exist from startup, so an alert's increase() sees the first loss.
        "chakal_rows_lost_total{table=\"gifts\"} 0",
        "chakal_insert_errors_total{kind=\"server_reject\"} 0",
        "chakal_connections_total{outcome=\"rejected\"} 0",
    ] {
        assert!(
            metrics.contains(name),
            "{name} missing from /metrics:\n{metrics}"
        );
    }

    // Mid-stream: the demo is producing a frame every 20 ms.
    ing.signal("TERM");
    let status = ing.wait(Duration::from_secs(10));
    let log = ing.log();
    assert!(status.success(), "exit status {status:?}; log:\n{log}");
    let accepted: u64 = log
        .lines()
        .find_map(|l| l.split("shutdown complete events_accepted=").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no shutdown summary in log:\n{log}"))
        .parse()
        .unwrap();
    assert!(accepted > 0);
    assert_eq!(
        total_rows(&ch, "demo"),
        accepted,
        "every event the reader accepted is in ClickHouse"
    );
    for table in CORE_TABLES {
        let dupes = ch.query(&format!(
            "SELECT count() - uniqExact(msg_id) FROM demo.{table}"
        ));
        assert_eq!(dupes.trim(), "0", "duplicates in {table}");
    }
    assert!(
        log.contains("flushed database=demo table=chat"),
        "each flush is logged"
    );
}

fn common(msg_id: u64) -> Option<CommonMessageData> {
    Some(CommonMessageData {
        msg_id,
        room_id: 7_300_000_000_000_000_001,
        create_time: 1_717_000_000_123,
        ..Default::default()
    })
}

fn chat(msg_id: u64, user_id: u64, content: &[u8]) -> pb::BaseProtoMessage {
    let m = pb::WebcastChatMessage {
        common: common(msg_id),
        user: Some(pb::User {
            id: user_id,
            nickname: content.to_vec().into(),
            display_id: b"user0001".to_vec().into(),
            ..Default::default()
        }),
        content: content.to_vec().into(),
        content_language: "un".into(),
        ..Default::default()
    };
    envelope("WebcastChatMessage", msg_id, m.encode_to_vec())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

#[test]
fn values_land_exactly() {
    let text = "👨‍👩‍👧‍👦 🇧🇷 \u{200f}مرحبا 漢字 \"quoted\" back\\slash line\u{2028}sep nul\0end 👍🏽";
    let invalid = [b'o', b'k', 0xff, 0xfe, b'!'];
    let result = ProtoMessageFetchResult {
        messages: vec![
            chat(
                9_007_199_254_740_993,
                18_446_744_073_709_551_615,
                text.as_bytes(),
            ),
            chat(18_446_744_073_709_551_615, 9_007_199_254_740_993, &invalid),
        ],
        need_ack: true,
        ..Default::default()
    };
    let dir = temp_dir("values");
    let capture = dir.join("values.bin");
    let mut file = std::fs::File::create(&capture).unwrap();
    write_record(&mut file, &encode_msg_frame(1, 1, &result)).unwrap();
    drop(file);

    let ch = ClickHouse::start();
    let mut ing = Ingester::start(
        &["replay", capture.to_str().unwrap()],
        &ingester_env(&ch, "exact", &[]),
    );
    assert!(ing.wait(Duration::from_secs(30)).success(), "{}", ing.log());

    let rows = ch.query(
        "SELECT toString(msg_id), toString(user_id), toString(event_time), toString(room_id), hex(content), hex(nickname)
         FROM exact.chat ORDER BY msg_id FORMAT TabSeparated",
    );
    let rows: Vec<Vec<&str>> = rows.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(
        rows[0][..4],
        [
            "9007199254740993",
            "18446744073709551615",
            "2024-05-29 16:26:40.123",
            "7300000000000000001"
        ]
    );
    assert_eq!(rows[0][4], hex(text.as_bytes()), "text byte-exact");
    assert_eq!(rows[0][5], hex(text.as_bytes()), "nickname byte-exact");
    assert_eq!(rows[1][..2], ["18446744073709551615", "9007199254740993"]);
    assert_eq!(
        rows[1][4],
        hex("ok\u{fffd}\u{fffd}!".as_bytes()),
        "invalid UTF-8 stored with U+FFFD"
    );
    // The clamp trap: nothing may land in the year 9999 or at the epoch.
    let bad_times =
        ch.query("SELECT count() FROM exact.chat WHERE toYear(event_time) NOT IN (2024)");
    assert_eq!(bad_times.trim(), "0");
}

#[test]
fn real_capture_replays_every_message_once() {
    let fixtures = fixtures_dir();
    let frames = fixtures.join("frames.bin");
    if !frames.exists() {
        eprintln!(
            "skipping: {} not found (set FIXTURES_DIR to the shared fixtures folder)",
            frames.display()
        );
        return;
    }
    let mut sent: BTreeMap<String, u64> = BTreeMap::new();
    let mut ids = std::collections::HashSet::new();
    for line in std::fs::read_to_string(fixtures.join("messages.ndjson"))
        .unwrap()
        .lines()
    {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        if ids.insert(v["msg_id"].as_str().unwrap().to_string()) {
            *sent
                .entry(v["method"].as_str().unwrap().to_string())
                .or_default() += 1;
        }
    }
    let ch = ClickHouse::start();
    let mut ing = Ingester::start(
        &["replay", frames.to_str().unwrap()],
        &ingester_env(&ch, "fixtures", &[]),
    );
    assert!(ing.wait(Duration::from_secs(60)).success(), "{}", ing.log());
    let unique: u64 = sent.values().sum();
    assert_eq!(
        total_rows(&ch, "fixtures"),
        unique,
        "every distinct message of the capture lands exactly once"
    );
}

#[test]
fn bad_configuration_exits_2_naming_every_variable() {
    let env = [
        ("TIKTOK_HOST", "not a handle!"),
        ("CHANNEL_CAPACITY", "0"),
        ("CLICKHOUSE_CONN", "Host=h;Password=hunter2;Port=x"),
        ("FLUSH_INTERVAL_MS", "soon"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let mut ing = Ingester::start(&[], &env);
    let status = ing.wait(Duration::from_secs(10));
    let log = ing.log();
    assert_eq!(status.code(), Some(2), "{log}");
    for var in [
        "TIKTOK_HOST",
        "CHANNEL_CAPACITY",
        "CLICKHOUSE_CONN",
        "FLUSH_INTERVAL_MS",
    ] {
        assert!(
            log.lines()
                .any(|l| l.starts_with(&format!("invalid {var}: "))),
            "{var} not named in:\n{log}"
        );
    }
    assert!(
        !log.contains("hunter2"),
        "a secret reached the output:\n{log}"
    );
}

/// `healthcheck` asks the running process only: a variable edited since it started (a hosts
/// file being rewritten, a typo) gives "no answer" (1), never "bad configuration" (2); and
/// `replay` with no file is a usage error.
#[test]
fn healthcheck_reads_only_http_addr_and_replay_needs_a_file() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = free.local_addr().unwrap().to_string();
    drop(free);
    let env = [
        ("HTTP_ADDR", addr.as_str()),
        ("LOG_LEVEL", "verbose"),
        ("TIKTOK_HOSTS_FILE", "/nonexistent/hosts"),
        ("CHANNEL_CAPACITY", "0"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let mut ing = Ingester::start(&["healthcheck"], &env);
    let status = ing.wait(Duration::from_secs(10));
    assert_eq!(status.code(), Some(1), "{}", ing.log());

    let mut ing = Ingester::start(&["replay"], &env);
    let status = ing.wait(Duration::from_secs(10));
    let log = ing.log();
    assert_eq!(status.code(), Some(2), "{log}");
    assert!(
        log.starts_with("replay needs at least one capture file"),
        "{log}"
    );
}

/// The environment of a run that fails before it reaches ClickHouse, at LOG_LEVEL=None.
fn silent_env(extra: &[(&str, &str)]) -> std::collections::HashMap<String, String> {
    let data = temp_dir("fatal");
    let mut env: std::collections::HashMap<String, String> = [
        ("DEBUG_MODE", "true".to_string()),
        ("LOG_LEVEL", "None".to_string()),
        ("CLICKHOUSE_CONN", "http://127.0.0.1:9/unused".to_string()),
        ("HTTP_ADDR", "127.0.0.1:0".to_string()),
        ("SPOOL_DIR", data.join("spool").display().to_string()),
        ("DEAD_LETTER_DIR", data.join("dead").display().to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    for (k, v) in extra {
        env.insert(k.to_string(), v.to_string());
    }
    env
}

/// A fresh-user trial: with LOG_LEVEL=None a taken port or a bad SPOOL_DIR exited with no
/// output at all, and a bad directory said its OS error twice and exited 1.
#[test]
fn fatal_startup_errors_reach_stderr_whatever_the_log_level() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let mut ing = Ingester::start(&[], &silent_env(&[("HTTP_ADDR", &addr)]));
    let status = ing.wait(Duration::from_secs(10));
    let log = ing.log();
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(
        log.starts_with(&format!("error: cannot listen on HTTP_ADDR {addr}")),
        "{log}"
    );

    // A regular file where a directory is expected: "Not a directory" on every system.
    let file = temp_dir("fatal-file").join("a-file");
    std::fs::write(&file, "").unwrap();
    let below_file = file.join("dir").display().to_string();
    for var in ["SPOOL_DIR", "DEAD_LETTER_DIR"] {
        let mut ing = Ingester::start(&[], &silent_env(&[(var, &below_file)]));
        let status = ing.wait(Duration::from_secs(10));
        let log = ing.log();
        assert_eq!(status.code(), Some(2), "{var} is configuration: {log}");
        assert_eq!(log.lines().count(), 1, "{log}");
        assert!(log.contains(&format!("{below_file} ({var})")), "{log}");
        assert_eq!(log.matches("os error").count(), 1, "{log}");
    }
}

/// `@`, `/` and `:` in a password work percent-encoded: ClickHouse gets the decoded password.
#[test]
fn a_percent_encoded_password_is_sent_decoded() {
    let ch = ClickHouse::start_with_auth("ingest", "p@ss/w0rd:");
    let mut env = ingester_env(&ch, "unused", &[]);
    env.insert(
        "CLICKHOUSE_CONN".into(),
        format!(
            "http://ingest:p%40ss%2Fw0rd%3A@127.0.0.1:{}/encoded",
            ch.port()
        ),
    );
    let mut ing = Ingester::start(&["schema"], &env);
    assert!(ing.wait(Duration::from_secs(30)).success(), "{}", ing.log());
    let recorded = ch.query("SELECT count() > 0 FROM encoded.schema_migrations");
    assert_eq!(recorded.trim(), "1");
}

#[test]
fn schema_command_is_idempotent() {
    let ch = ClickHouse::start();
    for _ in 0..2 {
        let mut ing = Ingester::start(&["schema"], &ingester_env(&ch, "schema_twice", &[]));
        assert!(ing.wait(Duration::from_secs(30)).success(), "{}", ing.log());
    }
    let recorded = ch.query("SELECT count() FROM schema_twice.schema_migrations FINAL");
    assert_eq!(
        recorded.trim().parse::<usize>().unwrap(),
        chakal_ingest::clickhouse::schema::MIGRATIONS.len()
    );
}
