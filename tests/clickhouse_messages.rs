//! Issue 4 against the real ClickHouse engine (tests/support/clickhouse.rs): every fixture
//! message lands typed in its table (rows counted per table), the users dimension, the lossless
//! raw store (bytes per message measured) and `redecode`, no duplicates across retries,
//! overlaps and restarts, migrations applied once, in order, over an older schema, and the
//! README's example queries through `make query`.
//!
//! The fixture-based tests read FIXTURES_DIR (default `<crate>/../shared/fixtures`) and say why
//! they return early when it is absent.

mod support;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use chakal_ingest::clickhouse::batch::Batch;
use chakal_ingest::clickhouse::client::Client;
use chakal_ingest::clickhouse::row::{table_of, Row, TABLES};
use chakal_ingest::clickhouse::schema::{self, MIGRATIONS};
use chakal_ingest::config::{ClickHouseConn, RawMessages, Secret};
use chakal_ingest::event::Event;
use chakal_ingest::metrics::Metrics;
use chakal_ingest::pipe::EventSender;
use chakal_ingest::redecode;
use chakal_ingest::tiktok::handler::FrameHandler;
use chakal_ingest::tiktok::proto::{BaseProtoMessage, ProtoMessageFetchResult};
use support::{fixtures_dir, ingester_env, ClickHouse, Ingester};

fn client(ch: &ClickHouse, database: &str) -> Client {
    Client::new(
        &ClickHouseConn {
            base_url: ch.url(),
            user: "default".into(),
            password: Secret::new(String::new()),
            database: database.into(),
        },
        Duration::from_secs(60),
    )
}

fn count(ch: &ClickHouse, sql: &str) -> u64 {
    ch.query(sql)
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// The fixture messages as (connection room, envelope), in capture order; `None` (with the
/// reason printed) when the fixtures are absent.
fn fixture_messages() -> Option<Vec<(u64, BaseProtoMessage)>> {
    let path = fixtures_dir().join("messages.ndjson");
    let Ok(text) = std::fs::read_to_string(&path) else {
        eprintln!(
            "skipping: {} not found (set FIXTURES_DIR to the shared fixtures folder)",
            path.display()
        );
        return None;
    };
    Some(
        text.lines()
            .map(|line| {
                let v: serde_json::Value = serde_json::from_str(line).unwrap();
                let s = |k: &str| v[k].as_str().unwrap().to_string();
                (
                    s("room_id").parse().unwrap(),
                    BaseProtoMessage {
                        method: s("method"),
                        payload: BASE64.decode(s("payload_b64")).unwrap().into(),
                        msg_id: s("msg_id").parse().unwrap(),
                        ..Default::default()
                    },
                )
            })
            .collect(),
    )
}

/// What one reader hands the writer for these messages (typed, raw per `mode`, users).
fn events_of(messages: &[(u64, BaseProtoMessage)], mode: RawMessages) -> Vec<Event> {
    let metrics = Arc::new(Metrics::new());
    let (tx, rx) = crossbeam_channel::unbounded();
    let out = EventSender::events(tx, metrics.clone());
    let mut handler = FrameHandler::new(0, metrics).with_raw_messages(mode);
    let mut events = Vec::new();
    for (room, msg) in messages {
        handler.set_room(*room);
        let result = ProtoMessageFetchResult {
            messages: vec![msg.clone()],
            ..Default::default()
        };
        handler
            .handle_fetch_result(&result, &out, &mut || {})
            .unwrap();
        events.extend(rx.try_iter().map(|e| *e));
    }
    events
}

/// Inserts `events` as the writer does (per-table batches of at most `batch_rows`, content
/// tokens) and returns the rows sent per table.
fn insert(client: &Client, events: &[Event], batch_rows: usize) -> BTreeMap<&'static str, u64> {
    let mut batches: BTreeMap<&'static str, Batch> = BTreeMap::new();
    let mut sent: BTreeMap<&'static str, u64> = BTreeMap::new();
    let flush = |batch: &mut Batch| {
        let sealed = batch.take();
        client
            .insert(
                &sealed.table,
                &sealed.body,
                &sealed.dedup_token,
                Duration::from_secs(30),
            )
            .unwrap_or_else(|e| panic!("insert into {} rejected: {e}", sealed.table));
    };
    for event in events {
        let row = Row::of(event);
        let batch = batches
            .entry(row.table)
            .or_insert_with(|| Batch::new(row.table));
        batch.push(&row);
        let table = row.table;
        *sent.entry(table).or_default() += 1;
        if batch.rows() >= batch_rows {
            flush(batch);
        }
    }
    for batch in batches.values_mut().filter(|b| b.rows() > 0) {
        flush(batch);
    }
    sent
}

fn typed_only(events: &[Event]) -> Vec<Event> {
    events
        .iter()
        .filter(|e| !matches!(e, Event::Raw(_)))
        .cloned()
        .collect()
}

#[test]
fn fixture_messages_fill_every_table_typed() {
    let Some(messages) = fixture_messages() else {
        return;
    };
    let ch = ClickHouse::start();
    let c = client(&ch, "typed");
    schema::apply(&c).unwrap();
    let events = events_of(&messages, RawMessages::Unknown);
    let sent = insert(&c, &events, 500);

    println!("rows per table from {} fixture messages:", messages.len());
    for table in TABLES {
        let stored = count(&ch, &format!("SELECT count() FROM typed.{table} FINAL"));
        let sent = sent.get(table).copied().unwrap_or(0);
        println!("  {table:<17} {stored} (rows sent {sent})");
        // `users` keeps one row per user: its inserts collapse by design.
        if *table != "users" {
            assert_eq!(stored, sent, "rows of {table}");
        }
    }
    // Every table of the schema gets rows from the real captures, except those whose methods
    // the captures lack and those the connection itself writes (sessions, rooms).
    let empty: Vec<&&str> = TABLES.iter().filter(|t| !sent.contains_key(**t)).collect();
    assert_eq!(
        empty,
        [&"subscriptions", &"questions", &"sessions", &"rooms"],
        "tables without fixture rows"
    );

    let distinct_messages: HashSet<u64> = messages.iter().map(|(_, m)| m.msg_id).collect();
    let message_tables: Vec<String> = TABLES
        .iter()
        .filter(|t| **t != "users")
        .map(|t| format!("'{t}'"))
        .collect();
    let message_rows = count(
        &ch,
        &format!(
            "SELECT sum(rows) FROM system.parts WHERE database = 'typed' AND active AND table IN ({})",
            message_tables.join(", ")
        ),
    );
    assert_eq!(
        message_rows,
        distinct_messages.len() as u64,
        "each message stored once"
    );

    // Exact values through the engine.
    let expected_diamonds: u64 = events
        .iter()
        .filter_map(|e| match e {
            Event::Gift(g) if g.is_final => Some(g.diamonds),
            _ => None,
        })
        .sum();
    assert_eq!(
        count(&ch, "SELECT sum(diamonds) FROM typed.gifts WHERE is_final"),
        expected_diamonds
    );
    assert!(expected_diamonds > 0);
    assert_eq!(
        count(
            &ch,
            "SELECT countIf(NOT isValidJSON(data)) FROM typed.events"
        ),
        0,
        "events.data is JSON"
    );
    assert!(
        count(
            &ch,
            "SELECT countIf(JSONLength(data) > 0) FROM typed.events"
        ) > 0
    );
    let users: HashSet<u64> = events
        .iter()
        .flat_map(|e| e.users().into_iter().map(|u| u.id).collect::<Vec<_>>())
        .collect();
    assert_eq!(
        count(&ch, "SELECT count() FROM typed.users FINAL"),
        users.len() as u64,
        "one users row per user seen"
    );
    assert!(
        count(&ch, "SELECT countIf(is_moderator OR gifter_level > 0 OR fan_club_level > 0) FROM typed.chat") > 0,
        "user flags land"
    );
}

#[test]
fn raw_store_is_lossless_and_smaller_than_base64() {
    let Some(messages) = fixture_messages() else {
        return;
    };
    let ch = ClickHouse::start();
    let c = client(&ch, "raw");
    schema::apply(&c).unwrap();
    let events = events_of(&messages, RawMessages::All);
    let sent = insert(&c, &events, 500);
    let raw_rows = sent["raw_messages"];
    assert_eq!(
        raw_rows,
        messages
            .iter()
            .map(|(_, m)| m.msg_id)
            .collect::<HashSet<_>>()
            .len() as u64,
        "RAW_MESSAGES=all keeps every message whole"
    );

    let stored = ch.query(
        "SELECT toString(msg_id), base64Encode(payload) FROM raw.raw_messages ORDER BY msg_id FORMAT TabSeparated",
    );
    // The reader keeps the first of two messages with one id.
    let mut by_id: BTreeMap<u64, &BaseProtoMessage> = BTreeMap::new();
    for (_, m) in &messages {
        by_id.entry(m.msg_id).or_insert(m);
    }
    for line in stored.lines() {
        let (id, b64) = line.split_once('\t').unwrap();
        let id: u64 = id.parse().unwrap();
        assert_eq!(
            b64,
            BASE64.encode(&by_id[&id].payload),
            "payload of {id} byte-exact"
        );
    }

    // Bytes per message on disk, binary payload vs the same payloads kept as base64 text.
    ch.query(
        "CREATE TABLE raw.raw_b64 (event_time DateTime64(3, 'UTC'), room_id UInt64, msg_id UInt64, \
         method LowCardinality(String), payload_b64 String CODEC(ZSTD(3)), decode_error String) \
         ENGINE = ReplacingMergeTree PARTITION BY toYYYYMM(event_time) ORDER BY (room_id, event_time, msg_id)",
    );
    ch.query(
        "INSERT INTO raw.raw_b64 SELECT event_time, room_id, msg_id, method, base64Encode(payload), decode_error FROM raw.raw_messages",
    );
    for table in ["raw_messages", "raw_b64"] {
        ch.query(&format!("OPTIMIZE TABLE raw.{table} FINAL"));
    }
    let bytes = |table: &str| {
        count(
            &ch,
            &format!("SELECT sum(data_compressed_bytes) FROM system.parts WHERE database = 'raw' AND table = '{table}' AND active"),
        )
    };
    let typed_bytes = count(
        &ch,
        "SELECT sum(data_compressed_bytes) FROM system.parts WHERE database = 'raw' AND active AND table NOT IN ('raw_messages', 'raw_b64', 'schema_migrations')",
    );
    let payload_bytes: usize = messages.iter().map(|(_, m)| m.payload.len()).sum();
    let (binary, base64) = (bytes("raw_messages"), bytes("raw_b64"));
    let per = |b: u64| b as f64 / raw_rows as f64;
    println!(
        "raw store: {raw_rows} messages, payloads {:.0} B/msg; raw_messages {:.1} B/msg (binary, ZSTD 3), \
         base64 {:.1} B/msg; all typed tables {:.1} B/msg",
        payload_bytes as f64 / messages.len() as f64,
        per(binary),
        per(base64),
        per(typed_bytes)
    );
    assert!(
        binary < base64,
        "binary payload ({binary} B) must beat base64 ({base64} B)"
    );
}

#[test]
fn redecode_rebuilds_typed_tables_from_raw_rows_once() {
    let Some(messages) = fixture_messages() else {
        return;
    };
    let ch = ClickHouse::start();
    let c = client(&ch, "redo");
    schema::apply(&c).unwrap();
    let events = events_of(&messages, RawMessages::All);
    let raw: Vec<Event> = events
        .iter()
        .filter(|e| matches!(e, Event::Raw(_)))
        .cloned()
        .collect();
    insert(&c, &raw, 500);
    let expected = {
        let mut n: BTreeMap<&str, u64> = BTreeMap::new();
        for e in typed_only(&events)
            .iter()
            .filter(|e| !matches!(e, Event::User(_)))
        {
            *n.entry(table_of(e)).or_default() += 1;
        }
        n
    };

    let summary = redecode::run(&c, &[]).unwrap();
    assert_eq!(
        summary.read as u64,
        count(&ch, "SELECT count() FROM redo.raw_messages")
    );
    for (table, n) in &expected {
        assert_eq!(
            count(&ch, &format!("SELECT count() FROM redo.{table}")),
            *n,
            "{table} rebuilt from raw rows"
        );
    }
    assert!(count(&ch, "SELECT count() FROM redo.users") > 0);

    // Again, through the CLI: same rows, same tokens, nothing stored twice.
    let mut ing = Ingester::start(&["redecode"], &ingester_env(&ch, "redo", &[]));
    assert!(ing.wait(Duration::from_secs(60)).success(), "{}", ing.log());
    assert!(
        ing.log().contains("redecode done raw_rows="),
        "{}",
        ing.log()
    );
    for table in expected.keys() {
        assert_eq!(
            count(
                &ch,
                &format!("SELECT count() - uniqExact(msg_id) FROM redo.{table}")
            ),
            0,
            "{table} after a second redecode"
        );
    }
    // Only some methods.
    let chat_only = redecode::run(&c, &["WebcastChatMessage".to_string()]).unwrap();
    assert_eq!(chat_only.read as u64, expected["chat"]);
}

#[test]
fn no_duplicates_across_retries_overlaps_and_restarts() {
    let Some(messages) = fixture_messages() else {
        return;
    };
    let mut ch = ClickHouse::start();
    let c = client(&ch, "dedup");
    schema::apply(&c).unwrap();
    let chats: Vec<Event> = events_of(&messages, RawMessages::Off)
        .into_iter()
        .filter(|e| matches!(e, Event::Chat(_)))
        .collect();
    let n = chats.len() as u64;
    let dupes = |ch: &ClickHouse, fin: &str| {
        count(
            ch,
            &format!("SELECT count() - uniqExact(msg_id) FROM dedup.chat {fin}"),
        )
    };

    // A retried insert (same batch, same token) is stored once, no FINAL needed.
    insert(&c, &chats, usize::MAX);
    insert(&c, &chats, usize::MAX);
    assert_eq!(count(&ch, "SELECT count() FROM dedup.chat"), n);
    assert_eq!(dupes(&ch, ""), 0);

    // A process restart (the dedup log is on disk): the same batch again is still dropped.
    ch.restart();
    insert(&c, &chats, usize::MAX);
    assert_eq!(count(&ch, "SELECT count() FROM dedup.chat"), n);

    // Overlapping batches (a reconnect replaying history in another grouping): different
    // bodies, different tokens, so the rows land twice until a merge (stopped here to see it)…
    ch.query("SYSTEM STOP MERGES dedup.chat");
    insert(&c, &chats[chats.len() / 2..], 7);
    assert!(dupes(&ch, "") > 0, "overlap visible before the merge");
    // …and FINAL, or OPTIMIZE … FINAL, leaves each message once.
    assert_eq!(dupes(&ch, "FINAL"), 0);
    ch.query("SYSTEM START MERGES dedup.chat");
    ch.query("OPTIMIZE TABLE dedup.chat FINAL");
    assert_eq!(dupes(&ch, ""), 0);
    assert_eq!(count(&ch, "SELECT count() FROM dedup.chat"), n);
}

#[test]
fn migrations_apply_once_in_order_over_an_older_schema() {
    let ch = ClickHouse::start();
    let c = client(&ch, "mig");
    let first_release = MIGRATIONS.iter().position(|m| m.version == 9).unwrap();

    // An older release's database, with a row in it.
    assert_eq!(
        schema::apply_migrations(&c, &MIGRATIONS[..first_release]).unwrap(),
        first_release
    );
    ch.query(
        "INSERT INTO mig.chat (event_time, room_id, msg_id, user_id, content) VALUES ('2024-05-29 16:26:40.123', 1, 2, 3, 'hi')",
    );
    // Upgrade, then again: the rest runs once, in order.
    assert_eq!(schema::apply(&c).unwrap(), MIGRATIONS.len() - first_release);
    assert_eq!(schema::apply(&c).unwrap(), 0);
    let versions =
        ch.query("SELECT version FROM mig.schema_migrations FINAL ORDER BY applied_at, version");
    let versions: Vec<u32> = versions
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect();
    assert_eq!(
        versions,
        MIGRATIONS.iter().map(|m| m.version).collect::<Vec<_>>()
    );
    assert_eq!(
        ch.query("SELECT content, length(emote_ids), length(mention_user_ids) FROM mig.chat")
            .trim(),
        "hi\t0\t0",
        "old rows keep their data and get the new columns' defaults"
    );
    for table in TABLES {
        assert_eq!(
            count(
                &ch,
                &format!(
                    "SELECT count() FROM system.tables WHERE database = 'mig' AND name = '{table}'"
                )
            ),
            1,
            "{table}"
        );
    }

    // A database whose raw_messages predates the binary payload (payload_b64 stored as text):
    // the upgrade makes `payload` readable there too, and the writer's inserts still work.
    let old = client(&ch, "mig_old");
    schema::apply_migrations(&old, &MIGRATIONS[..first_release - 1]).unwrap();
    ch.query(
        "CREATE TABLE mig_old.raw_messages (event_time DateTime64(3, 'UTC'), room_id UInt64, msg_id UInt64, \
         method LowCardinality(String), payload_b64 String CODEC(ZSTD(3)), decode_error String, \
         ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)) ENGINE = ReplacingMergeTree \
         PARTITION BY toYYYYMM(event_time) ORDER BY (room_id, event_time, msg_id)",
    );
    ch.query(
        "INSERT INTO mig_old.schema_migrations (version, name) VALUES (8, '008_raw_messages.sql')",
    );
    ch.query("INSERT INTO mig_old.raw_messages (event_time, room_id, msg_id, method, payload_b64) VALUES ('2024-05-29 16:26:40.123', 1, 1, 'M', 'aGVsbG8=')");
    schema::apply(&old).unwrap();
    let raw = Event::Raw(chakal_ingest::event::Raw {
        meta: chakal_ingest::event::Meta {
            room_id: 1,
            msg_id: 2,
            time_ms: 1_717_000_000_123,
        },
        method: "M".into(),
        payload: vec![0, 255, b'x'],
        error: None,
    });
    insert(&old, &[raw], 1);
    assert_eq!(
        ch.query("SELECT hex(payload) FROM mig_old.raw_messages ORDER BY msg_id")
            .trim(),
        "68656C6C6F\n00FF78"
    );
}

/// docs/queries.sql, one statement each, in order.
fn example_queries() -> Vec<String> {
    schema::statements(include_str!("../docs/queries.sql"))
}

#[test]
fn readme_shows_every_example_query() {
    let readme = include_str!("../README.md");
    for query in example_queries() {
        assert!(
            readme.contains(&query),
            "README lacks this query of docs/queries.sql:\n{query}"
        );
    }
}

#[test]
fn rollups_and_example_queries_are_exact_under_duplicates() {
    let Some(messages) = fixture_messages() else {
        return;
    };
    let ch = ClickHouse::start();
    let c = client(&ch, "analytics");
    schema::apply(&c).unwrap();
    ch.query("USE analytics");
    let events = events_of(&messages, RawMessages::Unknown);
    // Every message twice, in other batches (other tokens): as after a restart replaying history.
    insert(&c, &events, 500);
    insert(&c, &events, 37);
    let db = |sql: &str| sql.replace("FROM ", "FROM analytics.");

    let room: u64 = count(
        &ch,
        "SELECT room_id FROM analytics.room_minute_stats GROUP BY room_id \
         ORDER BY uniqExact(kind) DESC, sum(messages) DESC, room_id LIMIT 1",
    );
    let in_room = |e: &&Event| e.meta().room_id == room && !matches!(e, Event::User(_));
    let first_of_each: BTreeMap<u64, &Event> = events
        .iter()
        .filter(in_room)
        .map(|e| (e.meta().msg_id, e))
        .collect();
    let mut diamonds_by_user: BTreeMap<u64, u64> = BTreeMap::new();
    let (mut chats, mut follows) = (0u64, HashSet::new());
    for e in first_of_each.values() {
        match e {
            Event::Gift(g) if g.is_final => {
                *diamonds_by_user.entry(g.user.id).or_default() += g.diamonds
            }
            Event::Chat(_) => chats += 1,
            Event::Social(s) if s.kind == chakal_ingest::event::SocialKind::Follow => {
                follows.insert(s.user.id);
            }
            _ => {}
        }
    }
    let queries = example_queries();
    assert_eq!(queries.len(), 8, "docs/queries.sql holds 8 queries");
    let run = |i: usize| {
        ch.query(&db(
            &queries[i].replace("{room_id:UInt64}", &room.to_string())
        ))
    };
    let column = |out: &str, col: usize| -> Vec<u64> {
        out.lines()
            .map(|l| l.split('\t').nth(col).unwrap().parse().unwrap())
            .collect()
    };
    for (i, q) in queries.iter().enumerate() {
        let out = run(i);
        println!(
            "query {}: {} rows; first: {:?}",
            i + 1,
            out.lines().count(),
            out.lines().next()
        );
        assert!(
            !out.trim().is_empty(),
            "query {} returned nothing:\n{q}",
            i + 1
        );
    }
    // 1: the top gifter and their diamonds.
    let top = run(0);
    let (top_user, top_diamonds) = diamonds_by_user
        .iter()
        .max_by_key(|(u, d)| (**d, std::cmp::Reverse(**u)))
        .unwrap();
    assert_eq!(column(&top, 0)[0], *top_user, "{top}\n{diamonds_by_user:?}");
    assert_eq!(column(&top, 4)[0], *top_diamonds);
    // 2, 3, 5: totals equal the events, each message once despite the duplicates.
    assert_eq!(
        column(&run(1), 1).iter().sum::<u64>(),
        diamonds_by_user.values().sum::<u64>()
    );
    assert_eq!(column(&run(2), 1).iter().sum::<u64>(), chats);
    assert_eq!(run(4).lines().count(), follows.len());
    // 6: chatters' messages add up to the chat messages.
    let chatters = run(5);
    assert!(column(&chatters, 3).iter().sum::<u64>() <= chats);
    // 8: messages by type over all rooms equal the distinct messages per table.
    let by_kind: BTreeMap<String, u64> = run(7)
        .lines()
        .map(|l| {
            let (k, n) = l.split_once('\t').unwrap();
            (k.to_string(), n.parse().unwrap())
        })
        .collect();
    let distinct = |table: &str| {
        count(
            &ch,
            &format!("SELECT uniqExact(msg_id) FROM analytics.{table}"),
        )
    };
    assert_eq!(by_kind["chat"], distinct("chat"));
    assert_eq!(by_kind["like"], distinct("likes"));
    assert_eq!(
        by_kind["gift"],
        count(
            &ch,
            "SELECT uniqExact(msg_id) FROM analytics.gifts WHERE is_final"
        )
    );
}

/// `make query` with `SQL`, `PARAMS` and the environment given (make's own variables of an
/// outer make cleared); its output, or a panic with what it printed.
fn make_query(sql: &str, vars: &[&str], env: &[(&str, String)]) -> String {
    let out = std::process::Command::new("make")
        .args([
            "--no-print-directory",
            "-s",
            "-C",
            env!("CARGO_MANIFEST_DIR"),
            "query",
        ])
        .arg(format!("SQL={sql}"))
        .args(vars)
        .env_remove("MAKEFLAGS")
        .env_remove("MFLAGS")
        .env_remove("MAKELEVEL")
        .env_remove("CLICKHOUSE_CONN")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("run make");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "make query {sql}: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// A fresh-user trial: a malformed CLICKHOUSE_CONN reached curl ("URL using bad/illegal
/// format"); it is named, without its value (which may hold a password), and exits 2.
#[test]
fn make_query_names_a_malformed_clickhouse_conn() {
    for conn in [
        "garbage-with-hunter2",
        "http:///chakal",
        "Port=8123;Password=hunter2",
    ] {
        let out =
            std::process::Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tools/query.sh"))
                .arg("http://127.0.0.1:9")
                .env("CLICKHOUSE_CONN", conn)
                .env("SQL", "SELECT 1")
                .output()
                .expect("run tools/query.sh");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{conn}: {err}");
        assert!(
            err.starts_with("invalid CLICKHOUSE_CONN: no host"),
            "{conn}: {err}"
        );
        assert!(!err.contains("hunter2"), "{conn}: {err}");
    }
}

/// A fresh-user trial: `make query` ran in `default`, so the README's queries failed with
/// "Unknown table expression identifier".
#[test]
fn make_query_runs_the_readme_queries_in_the_configured_database() {
    let ch = ClickHouse::start();
    for database in ["chakal", "elsewhere"] {
        schema::apply(&client(&ch, database)).unwrap();
    }
    let port = format!("CH_PORT={}", ch.port());
    for query in example_queries() {
        make_query(&query, &[&port, "PARAMS=param_room_id=1"], &[]);
    }
    assert_eq!(
        make_query(
            "SELECT currentDatabase(), {n:UInt8}",
            &[&port, "PARAMS=param_n=7"],
            &[]
        )
        .trim(),
        "chakal\t7"
    );
    let conn = ("CLICKHOUSE_CONN", format!("{}/elsewhere", ch.url()));
    assert_eq!(
        make_query("SELECT currentDatabase()", &[], std::slice::from_ref(&conn)).trim(),
        "elsewhere"
    );
    let dotnet = (
        "CLICKHOUSE_CONN",
        format!("Host=127.0.0.1;Port={};Database=elsewhere", ch.port()),
    );
    assert_eq!(
        make_query("SELECT count() FROM chat", &[], &[dotnet]).trim(),
        "0"
    );
    assert_eq!(
        make_query("SELECT currentDatabase()", &["DB=chakal"], &[conn]).trim(),
        "chakal"
    );
}
