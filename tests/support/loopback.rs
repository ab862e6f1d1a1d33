//! Loopback stand-ins for what the live client talks to, for tests that run the binary: an HTTP
//! server answering by a closure (TikTok's web and webcast endpoints, the sign server, a
//! ClickHouse that accepts every insert), a websocket push server playing one short stream per
//! connection, and a CONNECT proxy that requires credentials and records what passed through.
//! Every server binds 127.0.0.1:0 and records what it saw.
// tungstenite's handshake callback fixes its error type (an HTTP response).
#![allow(clippy::result_large_err)]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use base64::Engine as _;
use chakal_ingest::tiktok::frame::{encode_msg_frame, envelope};
use chakal_ingest::tiktok::proto::{
    CommonMessageData, ProtoMessageFetchResult, WebcastControlMessage, WebcastPushFrame,
};
use prost::Message as _;
use tungstenite::handshake::server::{Request, Response};

/// One HTTP request as received (lowercase header names).
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
}

impl Seen {
    pub fn path(&self) -> &str {
        self.url.split('?').next().unwrap_or("")
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What the fake answers.
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Answer {
        Answer {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }
    pub fn header(mut self, name: &'static str, value: &str) -> Answer {
        self.headers.push((name, value.to_string()));
        self
    }
}

pub struct HttpFake {
    pub port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl HttpFake {
    pub fn start(answer: impl Fn(&Seen) -> Answer + Send + 'static) -> HttpFake {
        let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
        let port = server.server_addr().to_ip().unwrap().port();
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::spawn({
            let (seen, stop) = (seen.clone(), stop.clone());
            move || {
                while !stop.load(Ordering::SeqCst) {
                    let Ok(Some(mut req)) = server.recv_timeout(Duration::from_millis(50)) else {
                        continue;
                    };
                    let mut body = Vec::new();
                    let _ = req.as_reader().read_to_end(&mut body);
                    let request = Seen {
                        method: req.method().to_string(),
                        url: req.url().to_string(),
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
                    };
                    let a = answer(&request);
                    seen.lock().unwrap().push(request);
                    let mut resp =
                        tiny_http::Response::from_data(a.body).with_status_code(a.status);
                    for (k, v) in a.headers {
                        resp.add_header(tiny_http::Header::from_bytes(k, v).unwrap());
                    }
                    let _ = req.respond(resp);
                }
            }
        });
        HttpFake {
            port,
            seen,
            stop,
            thread: Some(thread),
        }
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    pub fn seen_path(&self, path: &str) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.path() == path)
            .collect()
    }
}

impl Drop for HttpFake {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A live page whose SIGI_STATE says `host` is live in `room_id` (or offline with `None`).
pub fn live_page(room_id: Option<u64>) -> Answer {
    let (room, status) = match room_id {
        Some(id) => (id.to_string(), 2),
        None => (String::new(), 4),
    };
    Answer::new(
        200,
        format!("<script id=\"SIGI_STATE\" type=\"application/json\">{{\"LiveRoom\":{{\"liveRoomUserInfo\":{{\"user\":{{\"roomId\":\"{room}\",\"status\":{status}}},\"liveRoom\":{{\"status\":{status},\"title\":\"t\"}}}}}}}}</script>"),
    )
}

/// A control message envelope (action 1 paused, 3 ended).
pub fn control(
    msg_id: u64,
    room_id: u64,
    action: i32,
) -> chakal_ingest::tiktok::proto::BaseProtoMessage {
    let m = WebcastControlMessage {
        common: Some(CommonMessageData {
            msg_id,
            room_id,
            create_time: 1_700_000_000_000,
            ..Default::default()
        }),
        action,
        ..Default::default()
    };
    envelope("WebcastControlMessage", msg_id, m.encode_to_vec())
}

/// One websocket connection as the push server saw it.
#[derive(Clone, Debug, Default)]
pub struct PushConn {
    /// Path and query of the handshake.
    pub uri: String,
    pub headers: Vec<(String, String)>,
    pub entered: bool,
    pub acks: Vec<u64>,
    pub closed_by_client: bool,
}

impl PushConn {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A push server playing, on every connection: wait for the enter-room frame, send a `msg`
/// frame (control "paused", ACK asked), wait for its ACK, send the stream's end (control
/// "ended", ACK asked), then read until the client closes.
pub struct PushFake {
    pub port: u16,
    conns: Arc<Mutex<Vec<PushConn>>>,
}

impl PushFake {
    pub fn start(room_id: u64) -> PushFake {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let conns: Arc<Mutex<Vec<PushConn>>> = Arc::default();
        let all = conns.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let all = all.clone();
                std::thread::spawn(move || play(stream, room_id, &all));
            }
        });
        PushFake { port, conns }
    }

    pub fn conns(&self) -> Vec<PushConn> {
        self.conns.lock().unwrap().clone()
    }
}

fn play(stream: TcpStream, room_id: u64, all: &Mutex<Vec<PushConn>>) {
    let control_stream = stream.try_clone().unwrap();
    let mut conn = PushConn::default();
    let Ok(mut ws) = tungstenite::accept_hdr(stream, |req: &Request, resp: Response| {
        conn.uri = req.uri().to_string();
        conn.headers = req
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        Ok(resp)
    }) else {
        return;
    };
    let index = {
        let mut all = all.lock().unwrap();
        all.push(conn);
        all.len() - 1
    };
    control_stream
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let update = |f: &dyn Fn(&mut PushConn)| f(&mut all.lock().unwrap()[index]);
    let msg = |log_id: u64, action: i32| {
        let result = ProtoMessageFetchResult {
            messages: vec![control(1000 + log_id, room_id, action)],
            cursor: format!("cursor-{log_id}"),
            internal_ext: format!("ext-{log_id}"),
            need_ack: true,
            ..Default::default()
        };
        tungstenite::Message::Binary(encode_msg_frame(log_id, log_id, &result).into())
    };
    let end = Instant::now() + Duration::from_secs(20);
    let mut sent = 0;
    while Instant::now() < end {
        match ws.read() {
            Ok(tungstenite::Message::Binary(b)) => {
                let Ok(frame) = WebcastPushFrame::decode(b.as_ref()) else {
                    continue;
                };
                match frame.payload_type.as_str() {
                    "im_enter_room" => update(&|c| c.entered = true),
                    "ack" => update(&|c| c.acks.push(frame.log_id)),
                    _ => {}
                }
            }
            Ok(tungstenite::Message::Close(_)) => {
                update(&|c| c.closed_by_client = true);
                break;
            }
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
        let state = all.lock().unwrap()[index].clone();
        if state.entered && sent == 0 {
            let _ = ws.send(msg(1, 1));
            sent = 1;
        } else if state.acks.contains(&1) && sent == 1 {
            let _ = ws.send(msg(2, 3));
            sent = 2;
        }
    }
}

/// What went through one CONNECT tunnel.
#[derive(Clone, Debug, Default)]
pub struct Tunnel {
    /// `host:port` asked for.
    pub target: String,
    pub authorised: bool,
    /// Request lines (`GET /path?query HTTP/1.1`) seen inside the tunnel.
    pub requests: Vec<String>,
}

/// An HTTP CONNECT proxy requiring `Basic user:password`; 407 without them.
pub struct Proxy {
    pub port: u16,
    tunnels: Arc<Mutex<Vec<Tunnel>>>,
}

impl Proxy {
    pub fn start(user: &str, password: &str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let wanted = format!(
            "proxy-authorization: basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        )
        .to_ascii_lowercase();
        let tunnels: Arc<Mutex<Vec<Tunnel>>> = Arc::default();
        let all = tunnels.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let (all, wanted) = (all.clone(), wanted.clone());
                std::thread::spawn(move || serve_tunnel(stream, &wanted, &all));
            }
        });
        Proxy { port, tunnels }
    }

    pub fn tunnels(&self) -> Vec<Tunnel> {
        self.tunnels.lock().unwrap().clone()
    }
}

fn serve_tunnel(mut client: TcpStream, wanted: &str, all: &Arc<Mutex<Vec<Tunnel>>>) {
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match client.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let head = String::from_utf8_lossy(&head).to_string();
    let target = head.split_whitespace().nth(1).unwrap_or("").to_string();
    let authorised = head.to_ascii_lowercase().lines().any(|l| l == wanted);
    let index = {
        let mut all = all.lock().unwrap();
        all.push(Tunnel {
            target: target.clone(),
            authorised,
            requests: Vec::new(),
        });
        all.len() - 1
    };
    if !head.starts_with("CONNECT ") || !authorised {
        let _ = client.write_all(
            b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"test\"\r\nContent-Length: 0\r\n\r\n",
        );
        return;
    }
    let Ok(upstream) = TcpStream::connect(&target) else {
        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
        return;
    };
    let _ = client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
    client.set_read_timeout(None).unwrap();
    let (mut from_client, mut to_upstream) =
        (client.try_clone().unwrap(), upstream.try_clone().unwrap());
    let all = all.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        loop {
            let n = match from_client.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            for line in String::from_utf8_lossy(&buf[..n]).split("\r\n") {
                if line.starts_with("GET /") || line.starts_with("POST /") {
                    all.lock().unwrap()[index].requests.push(line.to_string());
                }
            }
            if to_upstream.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = to_upstream.shutdown(Shutdown::Write);
    });
    let (mut upstream, mut client) = (upstream, client);
    let _ = std::io::copy(&mut upstream, &mut client);
    let _ = client.shutdown(Shutdown::Write);
}

/// The fetch result the sign fake hands out: a socket on `push_port` for `room_id`, with a
/// route parameter, cursor and internal_ext that are part of the signed query string.
pub fn signed_fetch(push_port: u16, room_id: u64, secret: &str) -> Vec<u8> {
    ProtoMessageFetchResult {
        messages: vec![control(1, room_id, 1)],
        cursor: format!("cursor-{secret}"),
        internal_ext: format!("ext-{secret}"),
        push_server: format!("ws://127.0.0.1:{push_port}/webcast/im/"),
        route_params: [("wrss".to_string(), format!("wrss-{secret}"))].into(),
        is_first: true,
        ..Default::default()
    }
    .encode_to_vec()
}
