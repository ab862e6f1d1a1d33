//! `fake-tiktok`: a fake TikTok on loopback (lookups, sign server, push socket; see
//! `chakal_ingest::fake_tiktok`) streaming a capture file. The capture is cut into one live
//! room per stream (a new room after every frame that ends the stream), users `USER`, `USER2`…
//! It prints one ready line with its base URLs and users, and serves until SIGTERM/SIGINT.
//!
//! With `--exec PROGRAM [ARGS…]` it is the replay demo: it runs PROGRAM (the ingester) pointed at
//! itself, waits until every frame was delivered and acknowledged, stops PROGRAM with SIGTERM,
//! and prints what was sent — and, with `--clickhouse`, what landed, per method; the exit status
//! says whether every message landed exactly once.
//!
//! Must not touch: the environment (configuration comes from flags only; PROGRAM inherits the
//! environment plus the variables set here).

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chakal_ingest::clickhouse::client::Client;
use chakal_ingest::config::{normalise_host, Config};
use chakal_ingest::fake_tiktok::report::{self, AckCheck};
use chakal_ingest::fake_tiktok::scenario::SCENARIO_HELP;
use chakal_ingest::fake_tiktok::{
    load_capture, FakeConfig, FakeRoom, FakeTikTok, Recording, Scenario, SentKind,
};
use chakal_ingest::shutdown::Shutdown;

const USAGE: &str = "usage: fake-tiktok --frames FILE [options] [--exec PROGRAM [ARGS...]]
  --frames FILE        capture to stream ([u32 BE length][PushFrame] records)
  --port N             the port for the lookups, the sign server and the websocket (default 0:
                       any free port)
  --user HANDLE        the first live user (default fakehost); the capture's later streams
                       (after a frame ending the stream) go to HANDLE2, HANDLE3, …
  --room-id N          the first room id (default 7140000000000000001); the next are N+1, …
  --rate F             frames per second per socket (default: as fast as the socket takes them)
  --first-batch N      capture frames put in the sign server's first batch (default 1)
  --scenario SPEC      comma-separated: drop=N, replay=K, end=N|eof, malformed=N, stall=N,
                       sign429=COUNT[:RETRY_AFTER_S], blocked=COUNT, offline=COUNT, age, ping=SECONDS
  --verbose            debug logging
replay demo (with --exec):
  --exec PROGRAM ARGS  run PROGRAM with TIKTOK_HOST (every user), TIKTOK_WEB_URL, TIKTOK_WEBCAST_URL,
                       SIGN_API_URL (and CLICKHOUSE_CONN, HTTP_ADDR=127.0.0.1:0, LOG_LEVEL=Information,
                       SPOOL_DIR and DEAD_LETTER_DIR in data/replay-demo/DATABASE/) set; stop it once
                       every frame is acknowledged; must be the last option
  --clickhouse URL     ClickHouse HTTP base (http://[user:pass@]host:port): PROGRAM writes to a fresh
                       database there and the landed rows are counted per method
  --database NAME      that database (default replay_demo_<unix seconds>)
  --timeout SECONDS    give up waiting for the ACKs after this long (default 120)";

/// After the last ACK, how long PROGRAM gets to flush before SIGTERM (its own final flush follows).
const SETTLE: Duration = Duration::from_secs(2);
const CHILD_STOP_TIMEOUT: Duration = Duration::from_secs(20);

struct Args {
    frames: PathBuf,
    port: u16,
    user: String,
    room_id: u64,
    rate: Option<f64>,
    first_batch: usize,
    scenario: Scenario,
    verbose: bool,
    clickhouse: Option<String>,
    database: Option<String>,
    timeout: Duration,
    exec: Vec<String>,
}

fn parse_args(mut raw: Vec<String>) -> Result<Args, String> {
    let exec = match raw.iter().position(|a| a == "--exec") {
        Some(i) => {
            let tail = raw.split_off(i);
            if tail.len() < 2 {
                return Err("--exec needs a program".into());
            }
            tail[1..].to_vec()
        }
        None => Vec::new(),
    };
    let mut args = Args {
        frames: PathBuf::new(),
        port: 0,
        user: "fakehost".into(),
        room_id: chakal_ingest::fake_tiktok::DEFAULT_ROOM_ID,
        rate: None,
        first_batch: 1,
        scenario: Scenario::default(),
        verbose: false,
        clickhouse: None,
        database: None,
        timeout: Duration::from_secs(120),
        exec,
    };
    let mut it = raw.into_iter();
    while let Some(flag) = it.next() {
        if flag == "--verbose" {
            args.verbose = true;
            continue;
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = |what: &str| format!("{flag} `{value}` is not {what}");
        match flag.as_str() {
            "--frames" => args.frames = PathBuf::from(&value),
            "--port" => args.port = value.parse().map_err(|_| number("a port"))?,
            "--user" => args.user = normalise_host(&value)?,
            "--room-id" => args.room_id = value.parse().map_err(|_| number("a room id"))?,
            "--rate" => {
                let rate: f64 = value.parse().map_err(|_| number("a number"))?;
                args.rate = (rate > 0.0).then_some(rate);
            }
            "--first-batch" => args.first_batch = value.parse().map_err(|_| number("a count"))?,
            "--scenario" => args.scenario = Scenario::parse(&value).map_err(|e| e.to_string())?,
            "--clickhouse" => args.clickhouse = Some(value.trim_end_matches('/').to_string()),
            "--database" => args.database = Some(value),
            "--timeout" => {
                let secs: u64 = value.parse().map_err(|_| number("whole seconds"))?;
                args.timeout = Duration::from_secs(secs);
            }
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    if args.frames.as_os_str().is_empty() {
        return Err("--frames FILE is required".into());
    }
    if args.exec.is_empty() && (args.clickhouse.is_some() || args.database.is_some()) {
        return Err(
            "--clickhouse and --database belong to the replay demo; add --exec PROGRAM".into(),
        );
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1).collect()) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("fake-tiktok: {e}\n{USAGE}\nscenario items: {SCENARIO_HELP}");
            return ExitCode::from(2);
        }
    };
    env_logger::Builder::new()
        .filter_level(if args.verbose {
            log::LevelFilter::Debug
        } else {
            log::LevelFilter::Info
        })
        .filter_module("tungstenite", log::LevelFilter::Warn)
        .filter_module("tiny_http", log::LevelFilter::Warn)
        .filter_module("ureq", log::LevelFilter::Warn)
        .format_timestamp_millis()
        .init();
    let frames = match load_capture(&args.frames) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("fake-tiktok: {e}");
            return ExitCode::from(2);
        }
    };
    let mut config = FakeConfig::with_rooms(FakeRoom::split_at_stream_ends(
        frames,
        &args.user,
        args.room_id,
    ));
    config.rate = args.rate;
    config.first_batch_frames = args.first_batch;
    config.port = args.port;
    config.scenario = args.scenario.clone();
    let shutdown = Shutdown::new();
    if let Err(e) = shutdown.register_signals() {
        eprintln!("fake-tiktok: cannot register signal handlers: {e}");
        return ExitCode::from(1);
    }
    let mut fake = match FakeTikTok::start(config) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("fake-tiktok: {e}");
            return ExitCode::from(1);
        }
    };
    println!(
        "fake-tiktok ready web={} webcast={} sign={} push={} hosts={} first_room_id={} frames={}",
        fake.web_url(),
        fake.webcast_url(),
        fake.sign_url(),
        fake.push_server(),
        fake.hosts(),
        fake.room_id(),
        fake.stream_len()
    );
    let ok = if args.exec.is_empty() {
        while shutdown.sleep(Duration::from_millis(250)) {}
        println!("{}", summary(&fake.recording()));
        true
    } else {
        match demo(&fake, &args, &shutdown) {
            Ok(ok) => ok,
            Err(e) => {
                eprintln!("fake-tiktok: {e}");
                false
            }
        }
    };
    fake.stop();
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// The replay demo; true when every frame was acknowledged, PROGRAM stopped cleanly and (with
/// `--clickhouse`) every message landed exactly once.
fn demo(fake: &FakeTikTok, args: &Args, shutdown: &Shutdown) -> Result<bool, String> {
    let database = args.database.clone().unwrap_or_else(|| {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        format!("replay_demo_{secs}")
    });
    let conn = args
        .clickhouse
        .as_ref()
        .map(|base| format!("{base}/{database}"));
    let client = match &conn {
        Some(conn) => {
            let env = HashMap::from([
                ("CLICKHOUSE_CONN".to_string(), conn.clone()),
                ("DEBUG_MODE".to_string(), "true".to_string()),
            ]);
            let config = Config::from_map(&env).map_err(|e| format!("--clickhouse: {e}"))?;
            Some(Client::new(&config.clickhouse, Duration::from_secs(30)))
        }
        None => None,
    };
    // The demo's own spool: an ingester running here holds ./data/spool, and the demo's
    // batches belong to the demo's database only.
    let state = PathBuf::from("data/replay-demo").join(&database);
    let mut command = Command::new(&args.exec[0]);
    command
        .args(&args.exec[1..])
        .env("SPOOL_DIR", state.join("spool"))
        .env("DEAD_LETTER_DIR", state.join("dead-letter"))
        .env("TIKTOK_HOST", fake.hosts())
        .env("TIKTOK_WEB_URL", fake.web_url())
        .env("TIKTOK_WEBCAST_URL", fake.webcast_url())
        .env("SIGN_API_URL", fake.sign_url())
        .env("HTTP_ADDR", "127.0.0.1:0")
        .env("LOG_LEVEL", "Information");
    if let Some(conn) = &conn {
        command.env("CLICKHOUSE_CONN", conn);
        println!("writing to database {database}");
    }
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", args.exec[0]))?;

    let deadline = Instant::now() + args.timeout;
    let started = Instant::now();
    let mut done = false;
    while !done && Instant::now() < deadline && !shutdown.is_triggered() {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("{} exited early with {status}", args.exec[0]));
        }
        let rec = fake.recording();
        done = fake.delivered() == fake.stream_len() && AckCheck::of(&rec).missing.is_empty();
        if !done {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let elapsed = started.elapsed();
    if done {
        shutdown.sleep(SETTLE);
    } else {
        eprintln!(
            "fake-tiktok: not every frame was delivered and acknowledged within {} s",
            args.timeout.as_secs()
        );
    }
    let exit = stop_child(&mut child);
    let rec = fake.recording();
    println!("{}", summary(&rec));
    println!(
        "delivered {} frames in {:.2} s ({:.0} frames/s)",
        fake.delivered(),
        elapsed.as_secs_f64(),
        fake.delivered() as f64 / elapsed.as_secs_f64().max(0.001)
    );
    let sent = fake.expected_per_method();
    let mut ok = done && exit.as_ref().is_ok_and(|s| s.success()) && AckCheck::of(&rec).ok();
    match &client {
        Some(client) => {
            let landed = report::landed_per_method(client, &fake.stream_messages())
                .map_err(|e| format!("counting rows in {database}: {e}"))?;
            print!("{}", report::render(&sent, Some(&landed)));
            let bad = report::mismatches(&sent, &landed);
            if !bad.is_empty() {
                println!("methods that did not land exactly once: {}", bad.join(", "));
                ok = false;
            }
        }
        None => print!("{}", report::render(&sent, None)),
    }
    match exit {
        Ok(status) => println!("{} stopped with {status}", args.exec[0]),
        Err(e) => println!("{} did not stop: {e}", args.exec[0]),
    }
    Ok(ok)
}

/// SIGTERM (via `kill`, std has no portable way), then SIGKILL after the timeout.
fn stop_child(child: &mut Child) -> Result<std::process::ExitStatus, String> {
    if let Ok(Some(status)) = child.try_wait() {
        return Ok(status);
    }
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let deadline = Instant::now() + CHILD_STOP_TIMEOUT;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Ok(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    Err(format!(
        "still running {} s after SIGTERM; killed",
        CHILD_STOP_TIMEOUT.as_secs()
    ))
}

/// One line per kind of traffic seen.
fn summary(rec: &Recording) -> String {
    let refused = rec
        .connections
        .iter()
        .filter(|c| c.refused.is_some())
        .count();
    let stream = rec.sent.iter().filter(|f| f.kind == SentKind::Stream);
    let replayed = stream.clone().filter(|f| f.replayed).count();
    format!(
        "lookups={} sign_requests={} connections={} refused={} stream_frames_sent={} replayed={} \
         heartbeats={} enter_rooms={} acks: {}",
        rec.lookups.len(),
        rec.sign_requests.len(),
        rec.connections.len(),
        refused,
        stream.count(),
        replayed,
        rec.heartbeats().len(),
        rec.enter_rooms().len(),
        AckCheck::of(rec)
    )
}
