//! A fake ClickHouse HTTP endpoint for unit tests of classification, retries and splitting —
//! behaviour the real engine cannot be made to show on demand (an exception after a 200, a
//! 503 on the third request, a refused password). Tests of what ClickHouse stores use the real
//! engine (`tests/`).
//!
//! Also `TempDir`, a scratch directory for spool and dead-letter tests.
//!
//! Must not touch: anything outside tests.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// One request as received.
#[derive(Debug, Clone)]
pub struct Request {
    /// Path and query string.
    pub target: String,
    /// Header lines as sent, `Name: value`.
    pub headers: Vec<String>,
    pub body: Vec<u8>,
}

impl Request {
    /// A query-string parameter, percent-decoded.
    pub fn param(&self, name: &str) -> Option<String> {
        let query = self.target.split_once('?')?.1;
        query.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            (k == name).then(|| decode(v))
        })
    }
}

/// An answer: status, extra headers, body.
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn ok() -> Response {
        Response {
            status: 200,
            headers: Vec::new(),
            body: String::new(),
        }
    }

    /// A ClickHouse exception as the server sends it.
    pub fn exception(status: u16, code: u32, message: &str) -> Response {
        Response {
            status,
            headers: vec![("X-ClickHouse-Exception-Code".into(), code.to_string())],
            body: format!("Code: {code}. DB::Exception: {message}. (FAKE)\n"),
        }
    }
}

type Handler = dyn Fn(&Request) -> Response + Send + Sync;

/// Serves until dropped; every request is recorded.
pub struct FakeClickHouse {
    pub url: String,
    pub requests: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FakeClickHouse {
    pub fn start(handler: impl Fn(&Request) -> Response + Send + Sync + 'static) -> FakeClickHouse {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).expect("nonblocking");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let handler: Arc<Handler> = Arc::new(handler);
        let thread = std::thread::spawn({
            let (requests, stop) = (requests.clone(), stop.clone());
            move || {
                while !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((stream, _)) => serve(stream, &*handler, &requests),
                        Err(_) => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
            }
        });
        FakeClickHouse {
            url,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    /// The insert bodies received, as text, in order.
    pub fn inserts(&self) -> Vec<Request> {
        self.requests
            .lock()
            .expect("not poisoned")
            .iter()
            .filter(|r| r.param("query").is_some_and(|q| q.starts_with("INSERT")))
            .cloned()
            .collect()
    }
}

impl Drop for FakeClickHouse {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(stream: TcpStream, handler: &Handler, requests: &Mutex<Vec<Request>>) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut reader = BufReader::new(&stream);
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let target = line.split_whitespace().nth(1).unwrap_or("").to_string();
    let mut headers = Vec::new();
    let mut length = 0usize;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 {
            return;
        }
        let h = h.trim_end().to_string();
        if h.is_empty() {
            break;
        }
        if let Some((name, value)) = h.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        headers.push(h);
    }
    let mut body = vec![0u8; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let request = Request {
        target,
        headers,
        body,
    };
    let response = handler(&request);
    requests.lock().expect("not poisoned").push(request);
    let mut out = format!(
        "HTTP/1.1 {} X\r\nContent-Length: {}\r\nConnection: close\r\n",
        response.status,
        response.body.len()
    );
    for (k, v) in &response.headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    out.push_str(&response.body);
    let _ = (&stream).write_all(out.as_bytes());
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "chakal-{name}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
