//! Shared test support: the real ClickHouse (`clickhouse`), the ingester binary run as a child
//! process with its logs captured (`Ingester`), fixtures location, and a watchdog.
#![allow(dead_code)] // every test binary includes this module but uses a different part of it

pub mod clickhouse;
pub mod loopback;

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub use self::clickhouse::ClickHouse;

/// Where the shared fixtures are: `FIXTURES_DIR`, else `../shared/fixtures` beside the crate.
pub fn fixtures_dir() -> PathBuf {
    std::env::var_os("FIXTURES_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures"))
}

/// A fresh temporary directory for one test.
pub fn temp_dir(tag: &str) -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "chakal-test-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

/// Polls `f` every 100 ms until it returns `Some`, failing the test after `limit`.
pub fn wait_for<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The `chakal-ingest` binary running as a child process, stderr captured to a file.
pub struct Ingester {
    child: Child,
    log_path: PathBuf,
}

impl Ingester {
    /// Starts the binary with exactly `env` (plus PATH) and `args`.
    pub fn start(args: &[&str], env: &HashMap<String, String>) -> Ingester {
        let dir = temp_dir("ingester");
        let log_path = dir.join("ingester.log");
        let log = File::create(&log_path).expect("create log file");
        let child = Command::new(env!("CARGO_BIN_EXE_chakal-ingest"))
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(env)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start chakal-ingest");
        Ingester { child, log_path }
    }

    pub fn log(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = File::open(&self.log_path) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }

    /// The health server's address, once the log names it.
    pub fn health_addr(&self) -> String {
        wait_for(
            "the health server address in the log",
            Duration::from_secs(30),
            || {
                self.log().lines().find_map(|l| {
                    l.split("health server listening addr=")
                        .nth(1)
                        .map(|a| a.trim().to_string())
                })
            },
        )
    }

    /// GET a path on the health server: (status, body).
    pub fn get(&self, path: &str) -> (u16, String) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(5)))
            .build()
            .into();
        let mut resp = agent
            .get(&format!("http://{}{path}", self.health_addr()))
            .call()
            .expect("health server answers");
        (
            resp.status().as_u16(),
            resp.body_mut().read_to_string().expect("body"),
        )
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(ok.success(), "kill -{sig} failed");
    }

    /// Waits for the process to exit, failing the test after `limit`.
    pub fn wait(&mut self, limit: Duration) -> ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            if start.elapsed() > limit {
                let _ = self.child.kill();
                panic!(
                    "chakal-ingest did not exit within {limit:?}; log:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Ingester {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// SPOOL_DIR and DEAD_LETTER_DIR in a fresh temp dir: an ingester left on the defaults would
/// share `./data/spool` (and its lock) with every other test's.
pub fn state_dirs() -> [(&'static str, String); 2] {
    let data = temp_dir("data");
    [
        ("SPOOL_DIR", data.join("spool").display().to_string()),
        (
            "DEAD_LETTER_DIR",
            data.join("dead-letter").display().to_string(),
        ),
    ]
}

/// The environment for an ingester writing into `database` of `ch`, with its spool and
/// dead-letter directories in a fresh temp dir (override them in `extra`).
pub fn ingester_env(
    ch: &ClickHouse,
    database: &str,
    extra: &[(&str, &str)],
) -> HashMap<String, String> {
    let mut env: HashMap<String, String> = [
        ("CLICKHOUSE_CONN", format!("{}/{database}", ch.url())),
        ("HTTP_ADDR", "127.0.0.1:0".to_string()),
        ("LOG_LEVEL", "Debug".to_string()),
    ]
    .into_iter()
    .chain(state_dirs())
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    for (k, v) in extra {
        env.insert(k.to_string(), v.to_string());
    }
    env
}
