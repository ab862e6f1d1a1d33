//! The benchmark of issue 6, one table from one run (`make bench`; `make bench-quick` for the
//! seconds-long smoke version that `make test` runs so this never rots):
//!
//! - a. decode on one thread, against gunzip alone (`benches/decode.rs`, included);
//! - b. the project's fake TikTok streaming the corpus as fast as the socket takes it → the
//!   release ingester → the real ClickHouse engine (chDB behind `tools/clickhouse-dev/chfront.py`),
//!   events landed per second; and, in the same run, ClickHouse's own ingest rate of the same
//!   NDJSON posted by a trivial client (one connection, one insert at a time);
//! - b′. b again with ClickHouse on CPU 0 and everything else on the other CPUs (`cores`), as
//!   where ClickHouse has cores of its own: what the ingester's design allows once the CPU is
//!   not shared;
//! - c. the ingester's memory during b, and at a steady 10 000 events/s over 1 M events;
//! - d. latency at a steady 1 000 events/s, from the fake sending a message to its row's
//!   `ingested_at` in ClickHouse (+ the mean insert time, until the row is visible);
//! - e. 200 rooms at a modest rate each (one frame a second, ≈ 24 messages): CPU, RSS, threads.
//!
//! The corpus is played in passes whose msg ids are moved (`corpus`), so every event is new.
//! Everything runs on this machine's cores together — the fake (in this process), the ingester,
//! ClickHouse — and the table says how the CPU was shared.
//!
//! Variables: `BENCH_CORPUS`, `BENCH_RUNS` (default 5; medians), `BENCH_QUICK=1`, `CHDB_PYTHON`
//! (see tests/support/clickhouse.rs), `BENCH_PASSES` (passes streamed in b, default 4),
//! `BENCH_STEADY_EVENTS` (events streamed in c, default 1 000 000), `BENCH_ONLY=a,b,…` (parts).
//! Timings are printed, never asserted.

#[path = "../../tests/support/clickhouse.rs"]
mod clickhouse;
mod cores;
mod corpus;
#[path = "../decode.rs"]
mod decode;
mod ingester;
mod procfs;

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chakal_ingest::fake_tiktok::{FakeConfig, FakeRoom, FakeTikTok, SentKind, DEFAULT_ROOM_ID};
use clickhouse::ClickHouse;
use ingester::{metric_sum, Ingester};
use procfs::{between, cpu_percent, Sample, Sampler};

/// The tables the corpus's messages land in (not `users`, `sessions`, `rooms` or the rollups).
const MESSAGE_TABLES: &str = "'chat','gifts','likes','members','social','viewer_counts','control'";

struct Settings {
    quick: bool,
    runs: usize,
    /// Passes streamed in b.
    passes: usize,
    /// Passes streamed in c (1 M events).
    million_passes: usize,
    steady_rate: f64,
    latency_rate: f64,
    latency_secs: f64,
    rooms: usize,
    room_frames: usize,
    room_windows: usize,
    room_window: Duration,
    batch_rows: usize,
}

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

impl Settings {
    fn from_env(quick: bool, runs: usize, messages_per_pass: usize) -> Settings {
        let number = env_number;
        Settings {
            quick,
            runs,
            passes: if quick {
                1
            } else {
                number("BENCH_PASSES", 4).max(1)
            },
            million_passes: if quick {
                1
            } else {
                number("BENCH_STEADY_EVENTS", 1_000_000).div_ceil(messages_per_pass)
            },
            steady_rate: 10_000.0,
            latency_rate: 1_000.0,
            latency_secs: if quick { 2.0 } else { 10.0 },
            rooms: if quick { 1 } else { 200 },
            room_frames: if quick { 10 } else { 60 },
            room_windows: if quick { 1 } else { 5 },
            room_window: Duration::from_secs(if quick { 2 } else { 4 }),
            // The trivial client's batches are the ingester's (BATCH_MAX_ROWS).
            batch_rows: ingester::overrides()
                .iter()
                .find(|(k, _)| k == "BATCH_MAX_ROWS")
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(5000),
        }
    }
}

fn main() {
    let quick = std::env::var("BENCH_QUICK").is_ok_and(|v| v == "1");
    let runs = if quick {
        1
    } else {
        env_number("BENCH_RUNS", 5).max(1)
    };
    let corpus = decode::load_corpus(quick);
    progress(&format!("a: decoding the corpus, {runs} runs"));
    let a = decode::measure(&corpus, runs);
    let s = Settings::from_env(quick, runs, a.messages);
    let per_frame = a.messages as f64 / corpus.len() as f64;

    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let part = |p: &str| only.is_empty() || only.split(',').any(|o| o.trim() == p);
    let ch = ClickHouse::start();
    let work = std::env::temp_dir().join(format!("chakal-bench-{}", std::process::id()));
    let total_passes = if part("c") {
        s.passes.max(s.million_passes)
    } else {
        s.passes
    };
    progress(&format!(
        "making {total_passes} passes of the corpus with fresh msg ids"
    ));
    let frames = corpus::passes(&corpus, total_passes);
    let per_pass = corpus.len();

    let b = part("b").then(|| max_rate(&s, &ch, &work, &frames[..s.passes * per_pass]));
    // b′: the same with ClickHouse on CPU 0 and everything else (this process, so the fake
    // and the trivial client, and the ingesters it starts) on the others.
    let b_split = part("b").then(cores::split).flatten().map(|split| {
        progress("b′: ClickHouse on CPU 0, the ingester, the fake and the client on the rest");
        let ch_pid = ch.pid().expect("ClickHouse runs");
        cores::pin(ch_pid, split.clickhouse);
        cores::pin(std::process::id(), &split.rest);
        let result = max_rate(&s, &ch, &work, &frames[..s.passes * per_pass]);
        cores::pin(ch_pid, &split.all);
        cores::pin(std::process::id(), &split.all);
        result
    });
    let c = part("c").then(|| {
        let frames = &frames[..s.million_passes * per_pass];
        steady_memory(&s, &ch, &work, frames, per_frame)
    });
    let d = part("d").then(|| latency(&s, &ch, &work, &corpus, per_frame));
    let e = part("e").then(|| many_rooms(&s, &ch, &work, &corpus));
    let _ = std::fs::remove_dir_all(&work);

    print!(
        "{}",
        report(
            &s,
            &a,
            b.as_ref(),
            b_split.as_ref(),
            c.as_ref(),
            d.as_ref(),
            e.as_ref()
        )
    );
}

fn progress(what: &str) {
    eprintln!("bench: {what}");
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Message rows landed in `db`.
fn message_rows(ch: &ClickHouse, db: &str) -> u64 {
    ch.query(&format!(
        "SELECT sum(rows) FROM system.parts WHERE database = '{db}' AND active AND table IN ({MESSAGE_TABLES})"
    ))
    .trim()
    .parse()
    .unwrap_or(0)
}

fn drop_database(ch: &ClickHouse, db: &str) {
    ch.query(&format!("DROP DATABASE IF EXISTS {db}"));
}

/// When `rows` crossed `level` (linear between two readings).
fn crossing(series: &[(Instant, f64)], level: f64) -> Option<Instant> {
    let i = series.iter().position(|(_, r)| *r >= level)?;
    if i == 0 {
        return Some(series[0].0);
    }
    let ((t0, r0), (t1, r1)) = (series[i - 1], series[i]);
    let f = if r1 > r0 {
        (level - r0) / (r1 - r0)
    } else {
        1.0
    };
    Some(t0 + (t1 - t0).mul_f64(f.clamp(0.0, 1.0)))
}

/// Rows per second between 10 % and 90 % of `total`, the ramp-up and the tail left out.
fn sustained_rate(series: &[(Instant, f64)], total: f64) -> f64 {
    match (crossing(series, 0.1 * total), crossing(series, 0.9 * total)) {
        (Some(a), Some(b)) if b > a => 0.8 * total / (b - a).as_secs_f64(),
        _ => 0.0,
    }
}

/// A fake TikTok streaming `rooms`, nothing in the sign server's first batch (every message
/// goes through the socket, where its send time is recorded).
fn fake(rooms: Vec<FakeRoom>, rate: Option<f64>) -> FakeTikTok {
    let mut config = FakeConfig::with_rooms(rooms);
    config.rate = rate;
    config.first_batch_frames = 0;
    FakeTikTok::start(config).expect("the fake TikTok starts")
}

fn one_room(frames: &[Vec<u8>]) -> Vec<FakeRoom> {
    vec![FakeRoom {
        user: "benchhost".into(),
        room_id: DEFAULT_ROOM_ID,
        frames: frames.to_vec(),
    }]
}

/// Polls the landed message rows every `every` until `expected`; panics with the ingester's
/// log after `limit`.
fn wait_landed(
    ch: &ClickHouse,
    db: &str,
    ing: &mut Ingester,
    expected: u64,
    every: Duration,
    limit: Duration,
) -> Vec<(Instant, f64)> {
    let start = Instant::now();
    let mut series = Vec::new();
    loop {
        let rows = message_rows(ch, db);
        series.push((Instant::now(), rows as f64));
        if rows >= expected {
            return series;
        }
        ing.assert_running();
        assert!(
            start.elapsed() < limit,
            "{rows} of {expected} message rows landed in {db} after {limit:?}; ingester log:\n{}",
            ing.log()
        );
        std::thread::sleep(every);
    }
}

struct MaxRate {
    /// Message rows landed per second, ingester.
    ingester: f64,
    /// The same rows per second, trivial client.
    limit: f64,
    /// ingester ÷ limit; the median of the runs' ratios (each run's two figures are measured
    /// one after the other, so a slow spell of the machine moves both).
    ratio: f64,
    messages: usize,
    peak_mb: f64,
    steady_mb: f64,
    ingester_cpu: f64,
    clickhouse_cpu: f64,
    limit_clickhouse_cpu: f64,
    process_cpu: f64,
    /// Share of the run (start to last row landed) the writer spent inside inserts, %.
    writer_in_inserts: f64,
    /// Share of the run the reader waited for room in the full channel, %.
    reader_blocked: f64,
}

/// b (and the memory of c during it): per run, ClickHouse's own rate on the NDJSON, then the
/// ingester fed by the fake.
fn max_rate(s: &Settings, ch: &ClickHouse, work: &std::path::Path, frames: &[Vec<u8>]) -> MaxRate {
    progress("b: building the NDJSON the ingester would send");
    let (bodies, messages) = corpus::ndjson(frames, s.batch_rows);
    let bytes: usize = bodies.iter().map(|b| b.body.len()).sum();
    let agent = chakal_ingest::http::agent(Duration::from_secs(120));
    let ch_pid = ch.pid().expect("ClickHouse runs");
    let mut runs: Vec<MaxRate> = Vec::new();
    for run in 0..s.runs {
        // The limit: the rows posted one insert at a time, nothing else running.
        let db = format!("bench_limit_{run}");
        create_schema(ch, &db);
        progress(&format!(
            "b run {}/{}: posting {} NDJSON bodies ({:.1} MB, {messages} message rows) to ClickHouse",
            run + 1,
            s.runs,
            bodies.len(),
            bytes as f64 / 1e6
        ));
        let ch_sampler = Sampler::start(ch_pid, Duration::from_millis(100));
        let started = Instant::now();
        let mut series = vec![(started, 0.0)];
        let mut landed = 0.0;
        for body in &bodies {
            let mut answer = agent
                .post(format!("{}/", ch.url()))
                .query(
                    "query",
                    format!("INSERT INTO {db}.{} FORMAT JSONEachRow", body.table),
                )
                .query("date_time_input_format", "basic")
                .send(&body.body[..])
                .expect("ClickHouse answers");
            let status = answer.status().as_u16();
            let text = answer.body_mut().read_to_string().unwrap_or_default();
            assert_eq!(status, 200, "insert into {}: {text}", body.table);
            if body.table != "users" {
                landed += body.rows as f64;
            }
            series.push((Instant::now(), landed));
        }
        let limit = sustained_rate(&series, messages as f64);
        let limit_clickhouse_cpu = cpu_percent(&ch_sampler.stop());
        assert_eq!(
            message_rows(ch, &db) as usize,
            messages,
            "limit rows landed"
        );
        drop_database(ch, &db);

        // The ingester, fed by the fake as fast as its socket takes the frames.
        let db = format!("bench_ingest_{run}");
        progress(&format!(
            "b run {}/{}: streaming {} frames through the ingester",
            run + 1,
            s.runs,
            frames.len()
        ));
        let fake = fake(one_room(frames), None);
        let driver = Sampler::start(std::process::id(), Duration::from_millis(100));
        let started = Instant::now();
        let mut ing = Ingester::start(&fake, &ch.url(), &db, work, &[]);
        let sampler = Sampler::start(ing.pid(), Duration::from_millis(100));
        let ch_sampler = Sampler::start(ch_pid, Duration::from_millis(100));
        let series = wait_landed(
            ch,
            &db,
            &mut ing,
            messages as u64,
            Duration::from_millis(100),
            Duration::from_secs(600),
        );
        let (samples, ch_samples, driver_samples) =
            (sampler.samples(), ch_sampler.stop(), driver.stop());
        let from = crossing(&series, 0.1 * messages as f64).expect("rows landed");
        let to = crossing(&series, 0.9 * messages as f64).expect("rows landed");
        let steady: Vec<Sample> = between(&samples, from, to);
        let run_s = series
            .last()
            .map_or(0.0, |(t, _)| (*t - started).as_secs_f64());
        let metrics = ing.metrics();
        let in_inserts = metric_sum(&metrics, "chakal_insert_duration_seconds_sum");
        let blocked = metric_sum(&metrics, "chakal_channel_blocked_seconds_total");
        let ingester = sustained_rate(&series, messages as f64);
        runs.push(MaxRate {
            ingester,
            limit,
            ratio: ingester / limit,
            messages,
            peak_mb: samples.last().map_or(0.0, |x| x.peak_mb),
            steady_mb: median(steady.iter().map(|x| x.rss_mb).collect()),
            ingester_cpu: cpu_percent(&steady),
            clickhouse_cpu: cpu_percent(&between(&ch_samples, from, to)),
            limit_clickhouse_cpu,
            process_cpu: cpu_percent(&between(&driver_samples, from, to)),
            writer_in_inserts: 100.0 * in_inserts / run_s.max(f64::EPSILON),
            reader_blocked: 100.0 * blocked / run_s.max(f64::EPSILON),
        });
        sampler.stop();
        let status = ing.stop();
        assert!(
            status.is_some_and(|s| s.success()),
            "the ingester did not stop cleanly: {status:?}"
        );
        drop(fake);
        drop_database(ch, &db);
        let last = runs.last().expect("just pushed");
        progress(&format!(
            "b run {}: ingester {:.0}/s, ClickHouse alone {:.0}/s, ratio {:.2}",
            run + 1,
            last.ingester,
            last.limit,
            last.ratio
        ));
    }
    let m = |f: fn(&MaxRate) -> f64| median(runs.iter().map(f).collect());
    MaxRate {
        ingester: m(|r| r.ingester),
        limit: m(|r| r.limit),
        ratio: m(|r| r.ratio),
        messages,
        peak_mb: m(|r| r.peak_mb),
        steady_mb: m(|r| r.steady_mb),
        ingester_cpu: m(|r| r.ingester_cpu),
        clickhouse_cpu: m(|r| r.clickhouse_cpu),
        limit_clickhouse_cpu: m(|r| r.limit_clickhouse_cpu),
        process_cpu: m(|r| r.process_cpu),
        writer_in_inserts: m(|r| r.writer_in_inserts),
        reader_blocked: m(|r| r.reader_blocked),
    }
}

/// The schema in `db`, as the ingester applies it.
fn create_schema(ch: &ClickHouse, db: &str) {
    let env = HashMap::from([
        ("CLICKHOUSE_CONN".to_string(), format!("{}/{db}", ch.url())),
        ("DEBUG_MODE".to_string(), "true".to_string()),
    ]);
    let config = chakal_ingest::config::Config::from_map(&env).expect("a valid CLICKHOUSE_CONN");
    let client =
        chakal_ingest::clickhouse::client::Client::new(&config.clickhouse, Duration::from_secs(60));
    chakal_ingest::clickhouse::schema::apply(&client).expect("the schema applies");
}

struct Steady {
    events: u64,
    rate: f64,
    steady_mb: f64,
    early_mb: f64,
    late_mb: f64,
    end_mb: f64,
    peak_mb: f64,
    cpu: f64,
}

/// c: a steady 10 000 events/s until 1 M events have landed; RSS sampled all along.
fn steady_memory(
    s: &Settings,
    ch: &ClickHouse,
    work: &std::path::Path,
    frames: &[Vec<u8>],
    per_frame: f64,
) -> Steady {
    let expected = (frames.len() as f64 * per_frame).round() as u64;
    progress(&format!(
        "c: {expected} events at {:.0}/s through the ingester",
        s.steady_rate
    ));
    let db = "bench_steady";
    let fake = fake(one_room(frames), Some(s.steady_rate / per_frame));
    let mut ing = Ingester::start(&fake, &ch.url(), db, work, &[]);
    let sampler = Sampler::start(ing.pid(), Duration::from_millis(250));
    let series = wait_landed(
        ch,
        db,
        &mut ing,
        expected,
        Duration::from_millis(500),
        Duration::from_secs_f64(expected as f64 / s.steady_rate * 2.0 + 120.0),
    );
    let samples = sampler.stop();
    let end_mb = procfs::sample(ing.pid()).map_or(0.0, |x| x.rss_mb);
    let at = |f: f64| crossing(&series, f * expected as f64).expect("rows landed");
    let rss = |from: f64, to: f64| {
        median(
            between(&samples, at(from), at(to))
                .iter()
                .map(|x| x.rss_mb)
                .collect(),
        )
    };
    let result = Steady {
        events: expected,
        rate: sustained_rate(&series, expected as f64),
        steady_mb: rss(0.1, 1.0),
        early_mb: rss(0.1, 0.2),
        late_mb: rss(0.9, 1.0),
        end_mb,
        peak_mb: samples.last().map_or(0.0, |x| x.peak_mb),
        cpu: cpu_percent(&between(&samples, at(0.1), at(0.9))),
    };
    let _ = ing.stop();
    drop(fake);
    drop_database(ch, db);
    result
}

struct Latency {
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    insert_ms: f64,
    events: usize,
}

/// d: a steady 1 000 events/s; per message, fake send → `ingested_at`.
fn latency(
    s: &Settings,
    ch: &ClickHouse,
    work: &std::path::Path,
    corpus: &[Vec<u8>],
    per_frame: f64,
) -> Latency {
    let rate = s.latency_rate / per_frame;
    let n = ((rate * s.latency_secs).round() as usize).clamp(1, corpus.len());
    let mut runs = Vec::new();
    for run in 0..s.runs {
        progress(&format!(
            "d run {}/{}: {n} frames at {rate:.1} frames/s ({:.0} events/s)",
            run + 1,
            s.runs,
            s.latency_rate
        ));
        let db = format!("bench_latency_{run}");
        let fake = fake(one_room(&corpus[..n]), Some(rate));
        let (clock_instant, clock_unix_ms) = (Instant::now(), unix_ms());
        let mut ing = Ingester::start(&fake, &ch.url(), &db, work, &[]);
        let expected = corpus::ndjson(&corpus[..n], s.batch_rows).1 as u64;
        wait_landed(
            ch,
            &db,
            &mut ing,
            expected,
            Duration::from_millis(200),
            Duration::from_secs(120),
        );
        let metrics = ing.metrics();
        let inserts = metric_sum(&metrics, "chakal_insert_duration_seconds_count");
        let insert_ms = if inserts > 0.0 {
            1000.0 * metric_sum(&metrics, "chakal_insert_duration_seconds_sum") / inserts
        } else {
            0.0
        };
        let sent: HashMap<u64, f64> = fake
            .frames_sent()
            .into_iter()
            .filter(|f| f.kind == SentKind::Stream)
            .flat_map(|f| {
                let at = clock_unix_ms
                    + f.at.saturating_duration_since(clock_instant).as_secs_f64() * 1000.0;
                f.messages.into_iter().map(move |(_, id)| (id, at))
            })
            .collect();
        let union: Vec<String> = MESSAGE_TABLES
            .split(',')
            .map(|t| {
                format!(
                    "SELECT msg_id, toUnixTimestamp64Milli(ingested_at) FROM {db}.{}",
                    t.trim_matches('\'')
                )
            })
            .collect();
        let landed = ch.query(&union.join(" UNION ALL "));
        let mut ms: Vec<f64> = landed
            .lines()
            .filter_map(|l| {
                let (id, at) = l.split_once('\t')?;
                let sent = sent.get(&id.parse().ok()?)?;
                Some(at.parse::<f64>().ok()? - sent + insert_ms)
            })
            .collect();
        ms.sort_by(f64::total_cmp);
        runs.push(Latency {
            p50_ms: percentile(&ms, 0.5),
            p99_ms: percentile(&ms, 0.99),
            max_ms: ms.last().copied().unwrap_or(0.0),
            insert_ms,
            events: ms.len(),
        });
        let _ = ing.stop();
        drop(fake);
        drop_database(ch, &db);
    }
    let m = |f: fn(&Latency) -> f64| median(runs.iter().map(f).collect());
    Latency {
        p50_ms: m(|r| r.p50_ms),
        p99_ms: m(|r| r.p99_ms),
        max_ms: m(|r| r.max_ms),
        insert_ms: m(|r| r.insert_ms),
        events: runs.iter().map(|r| r.events).sum(),
    }
}

fn unix_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

struct Rooms {
    rooms: usize,
    cpu: f64,
    rss_mb: f64,
    peak_mb: f64,
    threads: f64,
    events_per_s: f64,
}

/// e: `rooms` rooms, one frame a second each; measured once every room is in.
fn many_rooms(s: &Settings, ch: &ClickHouse, work: &std::path::Path, corpus: &[Vec<u8>]) -> Rooms {
    let rooms: Vec<FakeRoom> = (0..s.rooms)
        .map(|i| FakeRoom {
            user: format!("benchroom{i:03}"),
            room_id: DEFAULT_ROOM_ID + i as u64,
            frames: (0..s.room_frames)
                .map(|k| corpus[(i * 7 + k) % corpus.len()].clone())
                .collect(),
        })
        .collect();
    progress(&format!(
        "e: {} rooms at one frame a second each; waiting for every room to be entered (the ingester staggers first lookups over 30 s)",
        s.rooms
    ));
    let db = "bench_rooms";
    let fake = fake(rooms, Some(1.0));
    let mut ing = Ingester::start(&fake, &ch.url(), db, work, &[]);
    let started = Instant::now();
    loop {
        let mut entered: Vec<u64> = fake.enter_rooms().into_iter().map(|(_, r)| r).collect();
        entered.sort_unstable();
        entered.dedup();
        if entered.len() >= s.rooms {
            break;
        }
        ing.assert_running();
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "only {} of {} rooms entered after 120 s; ingester log:\n{}",
            entered.len(),
            s.rooms,
            ing.log()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let sampler = Sampler::start(ing.pid(), Duration::from_millis(250));
    let (mut cpu, mut rss, mut threads, mut rates) = (vec![], vec![], vec![], vec![]);
    // Events from the ingester's own counter: the rooms replay overlapping slices of the
    // corpus, whose rows ClickHouse collapses, so counting rows would undercount.
    let events = |ing: &Ingester| metric_sum(&ing.metrics(), "chakal_events_total");
    let mut events_before = events(&ing);
    for _ in 0..s.room_windows {
        let from = Instant::now();
        std::thread::sleep(s.room_window);
        let window = between(&sampler.samples(), from, Instant::now());
        cpu.push(cpu_percent(&window));
        rss.push(window.last().map_or(0.0, |x| x.rss_mb));
        threads.push(window.last().map_or(0.0, |x| x.threads as f64));
        let now = events(&ing);
        rates.push((now - events_before) / s.room_window.as_secs_f64());
        events_before = now;
    }
    let samples = sampler.stop();
    let result = Rooms {
        rooms: s.rooms,
        cpu: median(cpu),
        rss_mb: median(rss),
        peak_mb: samples.last().map_or(0.0, |x| x.peak_mb),
        threads: median(threads),
        events_per_s: median(rates),
    };
    let _ = ing.stop();
    drop(fake);
    drop_database(ch, db);
    result
}

fn shell(cmd: &str, args: &[&str]) -> String {
    std::process::Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map_or("?".to_string(), |m| m.trim().to_string());
    let mem_gb = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0 / 1024.0);
    format!(
        "{model}, {} cores, {mem_gb:.0} GB",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    )
}

fn met(ok: bool) -> &'static str {
    if ok {
        "yes"
    } else {
        "**no**"
    }
}

fn report(
    s: &Settings,
    a: &decode::Decode,
    b: Option<&MaxRate>,
    b_split: Option<&MaxRate>,
    c: Option<&Steady>,
    d: Option<&Latency>,
    e: Option<&Rooms>,
) -> String {
    let commit = shell(
        "git",
        &[
            "-C",
            env!("CARGO_MANIFEST_DIR"),
            "describe",
            "--always",
            "--dirty",
        ],
    );
    let mut out = String::new();
    out.push_str(&format!(
        "\n## {} — commit {commit}\n\n{}; `make bench`{}; medians of {} runs (the ratios of b and b′: the median of each run's own ratio)\n\n",
        shell("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        machine(),
        if s.quick {
            " (BENCH_QUICK=1: smoke run, figures not meaningful)"
        } else {
            ""
        },
        s.runs
    ));
    out.push_str("| | measured | value | reference, same run | ratio | target | met |\n");
    out.push_str("| --- | --- | ---: | --- | ---: | --- | --- |\n");
    let last = a.stages.len() - 1;
    out.push_str(&format!(
        "| a | decode → rows → JSONEachRow, one thread | {:.0} msgs/s, {:.1} MB/s | gunzip alone: {:.0} msgs/s, {:.1} MB/s | {:.2} | ≥ 0.50 | {} |\n",
        a.msgs_per_s(last),
        a.wire_mb_per_s(last),
        a.msgs_per_s(0),
        a.wire_mb_per_s(0),
        a.over_floor(),
        met(a.over_floor() >= 0.5)
    ));
    if let Some(b) = b {
        let ratio = b.ratio;
        out.push_str(&format!(
        "| b | events landed, fake → ingester → ClickHouse ({} events a run) | {:.0} events/s | ClickHouse's own ingest of the same NDJSON: {:.0} events/s | {:.2} | ≥ 0.90 | {} |\n",
        b.messages, b.ingester, b.limit, ratio, met(ratio >= 0.9)
    ));
        if let Some(p) = b_split {
            out.push_str(&format!(
            "| b′ | the same, ClickHouse on CPU 0 and everything else on the other CPUs | {:.0} events/s | ClickHouse's own ingest, same split: {:.0} events/s | {:.2} | (context) | |\n",
            p.ingester, p.limit, p.ratio
        ));
        }
        out.push_str(&format!(
            "| c | ingester RSS during b: steady / peak | {:.1} / {:.1} MB | | | | |\n",
            b.steady_mb, b.peak_mb
        ));
    }
    if let Some(c) = c {
        let growth = c.late_mb - c.early_mb;
        out.push_str(&format!(
        "| c | ingester RSS at {:.0} events/s over {} events: steady / after them / peak | {:.1} / {:.1} / {:.1} MB | growth from 10–20 % to 90–100 % of the events: {:+.1} MB | | ≤ 20 MB, flat | {} |\n",
        c.rate, c.events, c.steady_mb, c.end_mb, c.peak_mb, growth,
        // Flat means no growth; a fall (allocator slack handed back as the run settles) is not one.
        met(c.steady_mb <= 20.0 && growth <= 1.0)
    ));
    }
    if let Some(d) = d {
        out.push_str(&format!(
        "| d | latency at 1 000 events/s, sent → visible: p50 / p99 ({} events) | {:.0} / {:.0} ms | max {:.0} ms; includes the mean insert, {:.0} ms | | p99 ≤ 1 s | {} |\n",
        d.events, d.p50_ms, d.p99_ms, d.max_ms, d.insert_ms, met(d.p99_ms <= 1000.0)
    ));
    }
    if let Some(e) = e {
        out.push_str(&format!(
        "| e | {} rooms, 1 frame/s each ({:.0} events/s in all): CPU / RSS / threads | {:.0} % of a core / {:.1} MB / {:.0} | peak RSS {:.1} MB | | ≤ 1 core, ≤ 150 MB | {} |\n",
        e.rooms, e.events_per_s, e.cpu, e.rss_mb, e.threads, e.peak_mb,
        met(e.cpu <= 100.0 && e.rss_mb <= 150.0)
    ));
    }
    if let Some(b) = b {
        out.push_str(&format!(
            "\nCPU during b, in % of one core: ingester {:.0}, ClickHouse {:.0} (alone with the trivial client: {:.0}), fake TikTok + this driver {:.0}. The writer spent {:.0} % of the run inside inserts; the reader waited for room in the channel {:.0} % of it.\n",
            b.ingester_cpu, b.clickhouse_cpu, b.limit_clickhouse_cpu, b.process_cpu, b.writer_in_inserts, b.reader_blocked
        ));
    }
    if let Some(p) = b_split {
        out.push_str(&format!(
            "CPU during b′: ingester {:.0}, ClickHouse {:.0} (alone with the trivial client: {:.0}), fake TikTok + this driver {:.0}; writer inside inserts {:.0} %, reader waiting for the channel {:.0} %.\n",
            p.ingester_cpu, p.clickhouse_cpu, p.limit_clickhouse_cpu, p.process_cpu, p.writer_in_inserts, p.reader_blocked
        ));
    }
    if let Some(c) = c {
        out.push_str(&format!(
            "At {:.0} events/s the ingester used {:.0} % of a core.\n",
            c.rate, c.cpu
        ));
    }
    out.push('\n');
    out.push_str("Decode stages (a):\n\n");
    out.push_str(&decode::table(a));
    out
}
