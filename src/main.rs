//! The `chakal-ingest` binary: parses the command line, reads the configuration, sets up the
//! logger and signals, runs the app, and turns the result into an exit code — the only place
//! that exits: 0 done, 1 runtime failure (including a `SPOOL_DIR` another process holds: that
//! process may be a `replay` that ends, so a supervisor's restart can succeed), 2 bad
//! configuration or usage (a bad variable, or a directory a variable names that cannot be
//! used). The error that stops the process reaches stderr whatever LOG_LEVEL says.

use std::path::PathBuf;
use std::process::ExitCode;

use chakal_ingest::app::{self, Mode};
use chakal_ingest::clickhouse::deadletter::DeadLetterError;
use chakal_ingest::clickhouse::spool::SpoolError;
use chakal_ingest::clickhouse::{client::Client, schema};
use chakal_ingest::config::Config;
use chakal_ingest::redecode;
use chakal_ingest::shutdown::Shutdown;

const USAGE: &str = "usage: chakal-ingest [run | replay FILE... | schema | redecode [METHOD...] | healthcheck | --version]
  run            capture TIKTOK_HOST (or the DEBUG_MODE demo) into ClickHouse until SIGTERM (default)
  replay FILE..  ingest capture files ([u32 BE length][PushFrame] records) and exit
                 (health server on a free port unless HTTP_ADDR is set)
  schema         apply the migrations in sql/ to CLICKHOUSE_CONN and exit
  redecode [M..] decode the messages kept in raw_messages again (all, or those of methods M)
                 into the typed tables, and exit
  healthcheck    exit 0 if the running ingester's /healthz (on HTTP_ADDR) answers 200, else 1
Configuration comes from the environment; see env.sample.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = match args.first().map(String::as_str) {
        None | Some("run") => Command::Run,
        Some("replay") if args.len() > 1 => {
            Command::Replay(args[1..].iter().map(PathBuf::from).collect())
        }
        Some("schema") => Command::Schema,
        Some("redecode") => Command::Redecode(args[1..].to_vec()),
        Some("replay") => {
            eprintln!("replay needs at least one capture file (written with RECORD_DIR)");
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
        Some("healthcheck") => Command::Healthcheck,
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Some("-V" | "--version" | "version") => {
            println!("chakal-ingest {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Some(other) => {
            eprintln!("unknown command `{other}`");
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let mut env: std::collections::HashMap<String, String> = std::env::vars().collect();
    match command {
        Command::Run => {}
        // It only asks the running process, at HTTP_ADDR: a variable edited since that process
        // started (a hosts file being rewritten, say) must not mark it unhealthy.
        Command::Healthcheck => env.retain(|name, _| name == "HTTP_ADDR"),
        // Beside a running ingester, on a free port unless told otherwise.
        Command::Replay(_) => {
            env.entry("HTTP_ADDR".into())
                .or_insert_with(|| "127.0.0.1:0".into());
        }
        Command::Schema | Command::Redecode(_) => {}
    }
    if !matches!(command, Command::Run) {
        // Replay, schema, redecode and healthcheck read no TikTok room.
        env.remove("TIKTOK_HOST");
        env.remove("TIKTOK_HOSTS_FILE");
        env.insert("DEBUG_MODE".into(), "true".into());
    }
    let config = match Config::from_map(&env) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            eprintln!("configuration is invalid; see env.sample for every variable and its form");
            return ExitCode::from(2);
        }
    };
    let result = match command {
        Command::Healthcheck => return healthcheck(config.http_addr),
        Command::Schema => {
            init_logger(&config);
            let client = Client::new(&config.clickhouse, config.clickhouse_timeout)
                .with_cluster(config.clickhouse_cluster.clone());
            schema::apply(&client)
                .map(|n| log::info!("schema ready migrations_applied={n}"))
                .map_err(anyhow::Error::new)
        }
        Command::Redecode(methods) => {
            init_logger(&config);
            let client = Client::new(&config.clickhouse, config.clickhouse_timeout)
                .with_cluster(config.clickhouse_cluster.clone());
            redecode::run(&client, &methods)
                .map(|s| {
                    let mut rows: Vec<String> =
                        s.rows.iter().map(|(t, n)| format!("{t}={n}")).collect();
                    rows.sort();
                    log::info!("redecode done raw_rows={} {}", s.read, rows.join(" "));
                })
                .map_err(anyhow::Error::new)
        }
        Command::Run | Command::Replay(_) => {
            init_logger(&config);
            let shutdown = Shutdown::new();
            if let Err(e) = shutdown.register_signals() {
                fatal(&format!("cannot register signal handlers: {e}"));
                return ExitCode::from(1);
            }
            let mode = match command {
                Command::Replay(files) => Mode::Replay(files),
                _ => Mode::Run,
            };
            app::run(config, mode, shutdown)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            fatal(&chain_once(&e));
            ExitCode::from(exit_code(&e))
        }
    }
}

/// The error and its causes on one line, each said once: a message that already quotes its
/// source (`cannot use … : {source}; what to do`) is not followed by that source again.
fn chain_once(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let cause = cause.to_string();
        if text.contains(&cause) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&cause);
    }
    text
}

/// Why the process stops: through the logger when it shows errors, else straight to stderr, so
/// LOG_LEVEL=None (or Critical) never hides it.
fn fatal(message: &str) {
    if log::log_enabled!(log::Level::Error) {
        log::error!("{message}");
    } else {
        eprintln!("error: {message}");
    }
}

/// 2 when a directory named by a variable (SPOOL_DIR, DEAD_LETTER_DIR) cannot be used: a
/// configuration error, which restarting cannot fix; 1 for every other failure, among them a
/// spool directory another process holds (it may be a `replay` that ends; restarting then helps).
fn exit_code(e: &anyhow::Error) -> u8 {
    let bad_dir = e.chain().any(|cause| {
        matches!(cause.downcast_ref(), Some(SpoolError::Dir { .. }))
            || matches!(cause.downcast_ref(), Some(DeadLetterError::Dir { .. }))
    });
    if bad_dir {
        2
    } else {
        1
    }
}

fn init_logger(config: &Config) {
    env_logger::Builder::new()
        .filter_level(config.log_level)
        // Library internals stay quiet: they may print request headers (credentials) at debug.
        .filter_module("ureq", log::LevelFilter::Warn)
        .filter_module("ureq_proto", log::LevelFilter::Warn)
        .filter_module("tungstenite", log::LevelFilter::Warn)
        .filter_module("tiny_http", log::LevelFilter::Warn)
        .format_timestamp_millis()
        .init();
    log::info!(
        "starting chakal-ingest version={} config={config:?}",
        env!("CARGO_PKG_VERSION")
    );
}

enum Command {
    Run,
    Replay(Vec<PathBuf>),
    Schema,
    Redecode(Vec<String>),
    Healthcheck,
}

/// For container health checks without curl: GET /healthz on this host's HTTP_ADDR port.
fn healthcheck(addr: std::net::SocketAddr) -> ExitCode {
    let host = if addr.ip().is_unspecified() {
        "127.0.0.1".to_string()
    } else {
        addr.ip().to_string()
    };
    let url = format!("http://{host}:{}/healthz", addr.port());
    let agent = chakal_ingest::http::agent(std::time::Duration::from_secs(3));
    match agent.get(&url).call() {
        Ok(resp) if resp.status() == 200 => ExitCode::SUCCESS,
        Ok(resp) => {
            eprintln!("unhealthy: {url} answered {}", resp.status());
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("unhealthy: {url}: {e}");
            ExitCode::from(1)
        }
    }
}
