//! Test-only: a loopback push server (tungstenite `accept`) driven by a script, recording every
//! frame the client sends, plus builders for the frames and fetch results the tests exchange.
//!
//! Must not touch: anything outside tests.
// tungstenite's handshake callback fixes its error type (an HTTP response).
#![allow(clippy::result_large_err)]

use std::net::{TcpListener, TcpStream};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use prost::Message as _;
use tungstenite::handshake::server::{Request, Response};
use tungstenite::{Message, WebSocket};

use super::frame::{encode_msg_frame, envelope};
use super::proto::{
    BaseProtoMessage, CommonMessageData, ProtoMessageFetchResult, WebcastControlMessage,
    WebcastPushFrame,
};

/// A control message envelope (action 1 paused, 3 ended) with id `msg_id`.
pub fn control(msg_id: u64, room_id: u64, action: i32) -> BaseProtoMessage {
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

/// A `msg` frame asking for an ACK, carrying `messages`.
pub fn msg_frame(log_id: u64, messages: Vec<BaseProtoMessage>) -> Vec<u8> {
    let result = ProtoMessageFetchResult {
        messages,
        cursor: format!("cursor-{log_id}"),
        internal_ext: format!("ext-{log_id}"),
        need_ack: true,
        ..Default::default()
    };
    encode_msg_frame(log_id, log_id, &result)
}

/// A push frame of another type (`hb`, `close`, …) without payload.
pub fn bare_frame(payload_type: &str) -> Vec<u8> {
    WebcastPushFrame {
        payload_encoding: "pb".into(),
        payload_type: payload_type.into(),
        ..Default::default()
    }
    .encode_to_vec()
}

/// The server side of one connection.
pub struct Server {
    pub ws: WebSocket<TcpStream>,
    /// Path and query of the handshake request.
    pub uri: String,
    /// Handshake request headers (lowercase names).
    pub headers: Vec<(String, String)>,
    /// Frames the client sent, decoded.
    pub received: Vec<WebcastPushFrame>,
    /// The client's close frame arrived (or the connection ended).
    pub closed: bool,
}

impl Server {
    pub fn send(&mut self, bytes: Vec<u8>) {
        self.ws.send(Message::Binary(bytes.into())).unwrap();
    }

    /// Reads client frames for `d`.
    pub fn pump(&mut self, d: Duration) {
        let end = Instant::now() + d;
        while Instant::now() < end && !self.closed {
            self.read_one();
        }
    }

    /// Reads until `pred` holds over the frames received, or `timeout`; returns whether it held.
    pub fn wait_for(
        &mut self,
        timeout: Duration,
        pred: impl Fn(&[WebcastPushFrame]) -> bool,
    ) -> bool {
        let end = Instant::now() + timeout;
        while Instant::now() < end && !self.closed {
            if pred(&self.received) {
                return true;
            }
            self.read_one();
        }
        pred(&self.received)
    }

    fn read_one(&mut self) {
        match self.ws.read() {
            Ok(Message::Binary(b)) => {
                if let Ok(f) = WebcastPushFrame::decode(b.as_ref()) {
                    self.received.push(f);
                }
            }
            Ok(Message::Close(_)) => self.closed = true,
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => self.closed = true,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Accepts `connections` websocket clients one after the other on 127.0.0.1:0, running
/// `script` (with the connection's index) for each; returns the port and what each script
/// returned.
pub fn serve<T: Send + 'static>(
    connections: usize,
    script: impl Fn(usize, &mut Server) -> T + Send + 'static,
) -> (u16, JoinHandle<Vec<T>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        let mut out = Vec::new();
        for i in 0..connections {
            let (stream, _) = listener.accept().unwrap();
            let control = stream.try_clone().unwrap();
            let mut uri = String::new();
            let mut headers = Vec::new();
            let ws = tungstenite::accept_hdr(stream, |req: &Request, resp: Response| {
                uri = req.uri().to_string();
                headers = req
                    .headers()
                    .iter()
                    .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
                    .collect();
                Ok(resp)
            })
            .unwrap();
            control
                .set_read_timeout(Some(Duration::from_millis(20)))
                .unwrap();
            let mut server = Server {
                ws,
                uri,
                headers,
                received: Vec::new(),
                closed: false,
            };
            out.push(script(i, &mut server));
        }
        out
    });
    (port, handle)
}
