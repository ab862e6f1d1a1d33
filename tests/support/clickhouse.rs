//! The integration tests' ClickHouse: a real ClickHouse engine behind the project's own HTTP
//! front, `tools/clickhouse-dev/chfront.py` (chDB inside; see the README there).
//!
//! `ClickHouse::start()` runs chfront on a free loopback port with a fresh data directory and
//! waits until it listens; dropping the value stops it (SIGTERM) and deletes the directory.
//! The Python comes from `CHDB_PYTHON`, else `<crate>/.venv/bin/python` (made by `make venv`).
//! chfront's log (one line per failed request) is kept beside the data and its tail is shown in
//! the panics raised here.
#![allow(dead_code)] // every test binary includes this module but uses a different part of it

use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const READY_LINE_PREFIX: &str = "chfront ready on http://127.0.0.1:";
const READY_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
const QUERY_TIMEOUT: Duration = Duration::from_secs(120);
const MAX_RESULT_BYTES: u64 = 1 << 30;
const LOG_TAIL_BYTES: u64 = 8 * 1024;

/// A running chfront with its own data directory.
pub struct ClickHouse {
    child: Option<Child>,
    port: u16,
    /// Temporary directory holding `data/` (chfront's `--path`) and `chfront.log`.
    root: PathBuf,
    credentials: Option<(String, String)>,
    agent: ureq::Agent,
}

impl ClickHouse {
    /// Starts chfront on 127.0.0.1 with a free port and a fresh data directory, accepting any
    /// user; panics (with what to do) if the Python or chfront cannot be started within 60 s.
    pub fn start() -> ClickHouse {
        Self::launch(None)
    }

    /// Like [`ClickHouse::start`], but chfront requires this user and password (HTTP 403 with
    /// `Code: 516` otherwise); [`ClickHouse::query`] sends them.
    pub fn start_with_auth(user: &str, password: &str) -> ClickHouse {
        Self::launch(Some((user.to_owned(), password.to_owned())))
    }

    fn launch(credentials: Option<(String, String)>) -> ClickHouse {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(QUERY_TIMEOUT))
            .build()
            .into();
        let mut clickhouse = ClickHouse {
            child: None,
            port: 0,
            root: unique_temp_dir(),
            credentials,
            agent,
        };
        clickhouse.spawn(0);
        clickhouse
    }

    /// `http://127.0.0.1:PORT`, the base URL of ClickHouse's HTTP interface.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// chfront's process id while it runs (the benchmark reads its CPU time from /proc).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The result of `sql` (POSTed as the body; TabSeparated unless it says `FORMAT`); panics
    /// with the status, ClickHouse's error and chfront's log on anything but HTTP 200.
    pub fn query(&self, sql: &str) -> String {
        match self.try_query(sql) {
            Ok(result) => result,
            Err((status, body)) => panic!(
                "ClickHouse query failed with HTTP {status}: {body}\nquery: {sql}\n{}",
                self.log_tail()
            ),
        }
    }

    /// The result of `sql`, or the HTTP status and body of the error (`Code: N. DB::Exception:
    /// …`). Status 0 means no HTTP response at all (server down, timeout) and the body says why.
    pub fn try_query(&self, sql: &str) -> Result<String, (u16, String)> {
        let mut request = self.agent.post(format!("{}/", self.url()));
        if let Some((user, password)) = &self.credentials {
            request = request
                .header("X-ClickHouse-User", user)
                .header("X-ClickHouse-Key", password);
        }
        let mut response = request
            .send(sql)
            .map_err(|err| (0, format!("request failed: {err}")))?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_RESULT_BYTES)
            .read_to_string()
            .map_err(|err| (status, format!("reading the response failed: {err}")))?;
        if status == 200 {
            Ok(body)
        } else {
            Err((status, body))
        }
    }

    /// Stops chfront with SIGTERM (in-flight requests finish first) and waits for it; kills it
    /// if it has not exited after 30 s. The data directory stays. Does nothing if stopped.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let terminated = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status()
            .is_ok_and(|status| status.success());
        let deadline = Instant::now() + STOP_TIMEOUT;
        while terminated && Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Stops chfront and starts it again on the same port with the same data (outage tests).
    pub fn restart(&mut self) {
        self.stop();
        self.spawn(self.port);
    }

    fn spawn(&mut self, port: u16) {
        let python = python();
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.log_path())
            .unwrap_or_else(|err| panic!("cannot create {}: {err}", self.log_path().display()));
        let mut command = Command::new(&python);
        command
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/clickhouse-dev/chfront.py"))
            .arg("--port")
            .arg(port.to_string())
            .arg("--path")
            .arg(self.root.join("data"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log);
        if let Some((user, password)) = &self.credentials {
            command
                .arg("--user")
                .arg(user)
                .arg("--password")
                .arg(password);
        }
        let mut child = command.spawn().unwrap_or_else(|err| {
            panic!(
                "cannot run {} ({err}): run `make venv` to create the Python environment with \
                 chDB, or point CHDB_PYTHON at a Python that has chdb-core installed",
                python.display()
            )
        });

        let stdout = child.stdout.take().expect("chfront's stdout is piped");
        let (ready_tx, ready_rx) = mpsc::channel();
        thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = ready_tx.send(line);
        });
        let line = ready_rx.recv_timeout(READY_TIMEOUT).unwrap_or_default();
        match line
            .trim_end()
            .strip_prefix(READY_LINE_PREFIX)
            .and_then(|p| p.parse().ok())
        {
            Some(bound_port) => {
                self.port = bound_port;
                self.child = Some(child);
            }
            None => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "chfront exited or did not get ready within {READY_TIMEOUT:?} \
                     (stdout: {line:?})\n{}",
                    self.log_tail()
                );
            }
        }
    }

    fn log_path(&self) -> PathBuf {
        self.root.join("chfront.log")
    }

    /// The end of chfront's log, for panic messages.
    fn log_tail(&self) -> String {
        let mut tail = String::new();
        if let Ok(mut log) = File::open(self.log_path()) {
            let length = log.metadata().map(|meta| meta.len()).unwrap_or(0);
            let _ = log.seek(SeekFrom::Start(length.saturating_sub(LOG_TAIL_BYTES)));
            let mut bytes = Vec::new();
            let _ = log.read_to_end(&mut bytes);
            tail = String::from_utf8_lossy(&bytes).into_owned();
        }
        format!("--- end of {} ---\n{tail}", self.log_path().display())
    }
}

impl Drop for ClickHouse {
    fn drop(&mut self) {
        self.stop();
        let _ = fs::remove_dir_all(&self.root);
    }
}

/// `CHDB_PYTHON`, else the project's venv; panics with the fix when the venv is missing.
fn python() -> PathBuf {
    if let Some(python) = std::env::var_os("CHDB_PYTHON") {
        return PathBuf::from(python);
    }
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `make venv` to create the Python environment with chDB that the \
         ClickHouse tests need (or point CHDB_PYTHON at a Python that has chdb-core installed)",
        python.display()
    );
    python
}

/// A new empty directory under the system temp dir, unique across processes and threads.
fn unique_temp_dir() -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.subsec_nanos());
    let dir = std::env::temp_dir().join(format!(
        "chakal-clickhouse-{}-{}-{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    fs::create_dir_all(&dir).unwrap_or_else(|err| panic!("cannot create {}: {err}", dir.display()));
    dir
}
