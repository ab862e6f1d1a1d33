//! Test-only: a loopback HTTP server with canned answers per path, recording every request, so
//! the lookup and signing code can be tested against real HTTP without TikTok.
//!
//! Must not touch: anything outside tests.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// One canned answer.
#[derive(Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }
    pub fn header(mut self, key: &str, value: &str) -> Reply {
        self.headers.push((key.into(), value.into()));
        self
    }
}

/// One request as received: path, decoded query, headers (lowercase names).
#[derive(Clone, Debug)]
pub struct Seen {
    pub at: std::time::Instant,
    pub path: String,
    pub query: HashMap<String, String>,
    pub headers: HashMap<String, String>,
}

type Routes = Arc<Mutex<HashMap<String, Vec<Reply>>>>;

pub struct FakeHttp {
    pub base: String,
    routes: Routes,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FakeHttp {
    pub fn start() -> FakeHttp {
        let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
        let base = format!("http://{}", server.server_addr().to_ip().unwrap());
        let routes: Routes = Arc::default();
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let thread = std::thread::spawn({
            let (routes, seen, stop) = (routes.clone(), seen.clone(), stop.clone());
            move || {
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    let Ok(Some(req)) = server.recv_timeout(Duration::from_millis(50)) else {
                        continue;
                    };
                    let url = req.url().to_string();
                    let (path, query) = url.split_once('?').unwrap_or((&url, ""));
                    seen.lock().unwrap().push(Seen {
                        at: std::time::Instant::now(),
                        path: path.to_string(),
                        query: query
                            .split('&')
                            .filter_map(|kv| kv.split_once('='))
                            .map(|(k, v)| (decode(k), decode(v)))
                            .collect(),
                        headers: req
                            .headers()
                            .iter()
                            .map(|h| {
                                (
                                    h.field.as_str().as_str().to_ascii_lowercase(),
                                    h.value.as_str().to_string(),
                                )
                            })
                            .collect(),
                    });
                    let reply = {
                        let mut routes = routes.lock().unwrap();
                        match routes.get_mut(path) {
                            Some(list) if list.len() > 1 => list.remove(0),
                            Some(list) if !list.is_empty() => list[0].clone(),
                            _ => Reply::new(404, "no route"),
                        }
                    };
                    let mut resp =
                        tiny_http::Response::from_data(reply.body).with_status_code(reply.status);
                    for (k, v) in reply.headers {
                        resp.add_header(tiny_http::Header::from_bytes(k, v).unwrap());
                    }
                    let _ = req.respond(resp);
                }
            }
        });
        FakeHttp {
            base,
            routes,
            seen,
            stop,
            thread: Some(thread),
        }
    }

    /// Answers `path` with these replies in turn, repeating the last one.
    pub fn route(&self, path: &str, replies: Vec<Reply>) {
        self.routes.lock().unwrap().insert(path.into(), replies);
    }

    pub fn seen(&self, path: &str) -> Vec<Seen> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.path == path)
            .cloned()
            .collect()
    }
}

impl Drop for FakeHttp {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                    }
                    Err(_) => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A reader configuration pointing every URL at `base`, with short timings.
pub fn reader_config(base: &str, extra: &[(&str, &str)]) -> crate::config::ReaderConfig {
    let mut env: HashMap<String, String> = [
        ("TIKTOK_HOST", "someone"),
        ("SIGN_API_URL", base),
        ("TIKTOK_WEB_URL", base),
        ("TIKTOK_WEBCAST_URL", base),
    ]
    .iter()
    .chain(extra)
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    env.entry("SIGN_API_KEY".into())
        .or_insert("test-key".into());
    let mut config = crate::config::Config::from_map(&env).unwrap().reader;
    config.timings.http_timeout = Duration::from_secs(2);
    config
}
