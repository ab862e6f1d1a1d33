//! The release `chakal-ingest` binary as a child process, pointed at the fake TikTok and the
//! benchmark's ClickHouse, with its log in a file; stopped with SIGTERM as in production.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use chakal_ingest::fake_tiktok::FakeTikTok;

pub struct Ingester {
    child: Child,
    log: PathBuf,
}

impl Ingester {
    /// Starts the binary for every user of `fake`, writing into database `db` of `clickhouse`;
    /// `extra` overrides or adds variables. Spool and dead letters go under `dir`.
    pub fn start(
        fake: &FakeTikTok,
        clickhouse: &str,
        db: &str,
        dir: &Path,
        extra: &[(&str, &str)],
    ) -> Ingester {
        std::fs::create_dir_all(dir).expect("create the ingester's directory");
        let log = dir.join(format!("{db}.log"));
        let mut env: HashMap<String, String> = [
            ("TIKTOK_HOST", fake.hosts()),
            ("TIKTOK_WEB_URL", fake.web_url()),
            ("TIKTOK_WEBCAST_URL", fake.webcast_url()),
            ("SIGN_API_URL", fake.sign_url()),
            // The fake signs as fast as asked: the budget must not pace the benchmark.
            ("SIGN_RATE_PER_MIN", "60000".into()),
            ("SIGN_RATE_BURST", "10000".into()),
            ("LIVE_POLL_INTERVAL_S", "30".into()),
            ("CLICKHOUSE_CONN", format!("{clickhouse}/{db}")),
            ("HTTP_ADDR", "127.0.0.1:0".into()),
            ("LOG_LEVEL", "Information".into()),
            ("SPOOL_DIR", dir.join("spool").display().to_string()),
            (
                "DEAD_LETTER_DIR",
                dir.join("dead-letter").display().to_string(),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        env.extend(overrides());
        let child = Command::new(env!("CARGO_BIN_EXE_chakal-ingest"))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(&env)
            .stdout(Stdio::null())
            .stderr(File::create(&log).expect("create the ingester's log"))
            .spawn()
            .expect("start chakal-ingest");
        Ingester { child, log }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `host:port` of its health server, once it has logged it.
    pub fn health_addr(&self) -> Option<String> {
        let log = self.log();
        let line = log
            .lines()
            .find(|l| l.contains("health server listening"))?;
        let addr = line.split("addr=").nth(1)?.split_whitespace().next()?;
        Some(addr.to_string())
    }

    /// Its `/metrics` text, or empty when it does not answer.
    pub fn metrics(&self) -> String {
        let Some(addr) = self.health_addr() else {
            return String::new();
        };
        chakal_ingest::http::agent(Duration::from_secs(5))
            .get(format!("http://{addr}/metrics"))
            .call()
            .ok()
            .and_then(|mut r| r.body_mut().read_to_string().ok())
            .unwrap_or_default()
    }

    /// Panics with the log's tail when the process has exited.
    pub fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            let log = self.log();
            let tail: String = log
                .lines()
                .rev()
                .take(30)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n");
            panic!("chakal-ingest exited with {status}; its log ends:\n{tail}");
        }
    }

    /// SIGTERM, then SIGKILL after 20 s.
    pub fn stop(mut self) -> Option<ExitStatus> {
        self.terminate()
    }

    fn terminate(&mut self) -> Option<ExitStatus> {
        if let Ok(Some(status)) = self.child.try_wait() {
            return Some(status);
        }
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        None
    }
}

impl Drop for Ingester {
    /// A benchmark that panics leaves no ingester behind.
    fn drop(&mut self) {
        self.terminate();
    }
}

/// `BENCH_INGESTER_ENV="NAME=VALUE …"`: settings given to every ingester the benchmark starts,
/// over its own (to see what a setting does to the figures).
pub fn overrides() -> Vec<(String, String)> {
    let text = std::env::var("BENCH_INGESTER_ENV").unwrap_or_default();
    text.split_whitespace()
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => panic!("BENCH_INGESTER_ENV: {pair:?} is not NAME=VALUE"),
        })
        .collect()
}

/// The sum of a Prometheus metric's samples (all label sets) in `text`.
pub fn metric_sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}
