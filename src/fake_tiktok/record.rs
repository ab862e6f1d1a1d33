//! What a fake TikTok saw and did, for tests to assert on: lookups, sign requests, socket
//! handshakes, every frame the client sent and every frame the fake sent.
//!
//! Must not touch: sockets, HTTP, the scenario (this is a passive log).

use std::time::Instant;

/// One room lookup (live page, api-live, check_alive or room info).
#[derive(Clone, Debug)]
pub struct Lookup {
    pub at: Instant,
    /// `live_page`, `api_live`, `check_alive` or `room_info`.
    pub endpoint: &'static str,
    pub path: String,
    pub query: Vec<(String, String)>,
    /// The room asked about, if it is one of the fake's.
    pub room_id: Option<u64>,
    /// Whether the answer said the user is live.
    pub answered_live: bool,
}

/// One call of the sign endpoint.
#[derive(Clone, Debug)]
pub struct SignRequest {
    pub at: Instant,
    pub path: String,
    pub query: Vec<(String, String)>,
    /// The room signed for, if it is one of the fake's (404 otherwise).
    pub room_id: Option<u64>,
    /// The `x-api-key` header, if sent.
    pub api_key: Option<String>,
    /// 200, 404 for an unknown room, or 429 when rate limited.
    pub status: u16,
    /// The one-time token put in the signed URL's route params (200 answers only).
    pub token: Option<String>,
    /// Stream frames whose messages went into the answer's first batch.
    pub first_batch_frames: usize,
    /// `(method, msg_id)` of the first batch's messages.
    pub first_batch: Vec<(String, u64)>,
}

impl SignRequest {
    /// The value of query parameter `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        param(&self.query, name)
    }
}

/// How a socket handshake's signed-URL token compares with what the sign endpoint issued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenUse {
    /// Issued by the sign endpoint and not used before.
    Fresh,
    /// Issued, but an earlier handshake already used it.
    Reused,
    /// Present but never issued.
    Unknown,
    /// No token in the URL.
    Missing,
}

/// One socket handshake.
#[derive(Clone, Debug)]
pub struct Connection {
    /// 0, 1, 2… in order of arrival; `ClientFrame::conn` and `SentFrame::conn` refer to it.
    pub id: usize,
    pub at: Instant,
    pub path: String,
    pub query: Vec<(String, String)>,
    /// Request headers, names lowercased, in order.
    pub headers: Vec<(String, String)>,
    pub token: TokenUse,
    /// The room the token was issued for.
    pub room_id: Option<u64>,
    /// The `user_agent` the sign request that issued the token was made with.
    pub signed_user_agent: Option<String>,
    /// `None` when accepted (101); otherwise the `Handshake-Msg` of the refusal.
    pub refused: Option<String>,
}

impl Connection {
    pub fn param(&self, name: &str) -> Option<&str> {
        param(&self.query, name)
    }

    /// The value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A frame the client sent over an accepted socket.
#[derive(Clone, Debug)]
pub struct ClientFrame {
    pub conn: usize,
    pub at: Instant,
    pub kind: ClientFrameKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientFrameKind {
    EnterRoom {
        room_id: u64,
        live_id: i64,
        identity: String,
        filter_welcome_msg: String,
    },
    Heartbeat {
        room_id: u64,
        seq: u64,
    },
    Ack {
        log_id: u64,
        payload: Vec<u8>,
        payload_encoding: String,
    },
    /// A push frame of another payload type.
    Other {
        payload_type: String,
    },
    /// Binary data that is not a push frame, or a text frame.
    Invalid {
        len: usize,
    },
}

/// What kind of frame the fake sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SentKind {
    /// A `msg` frame of the capture (possibly resent as history).
    Stream,
    /// The `msg` frame carrying `WebcastControlMessage` action 3.
    StreamEnd,
    /// A `msg` frame whose payload does not decode.
    Malformed,
    /// The `close` push frame.
    Close,
    /// The echo of a client heartbeat.
    Heartbeat,
    /// The answer to the enter-room request.
    EnterRoomResponse,
}

/// A frame the fake wrote to a socket (only frames written completely are recorded).
#[derive(Clone, Debug)]
pub struct SentFrame {
    pub conn: usize,
    pub room_id: u64,
    pub at: Instant,
    pub kind: SentKind,
    pub log_id: u64,
    pub need_ack: bool,
    /// The fetch result's `internal_ext`, which the ACK must carry.
    pub internal_ext: String,
    /// Index of the capture frame, for `Stream` frames.
    pub stream_index: Option<usize>,
    /// Resent as history on a reconnect.
    pub replayed: bool,
    /// `(method, msg_id)` of every message in the frame.
    pub messages: Vec<(String, u64)>,
}

/// Everything recorded so far.
#[derive(Clone, Debug, Default)]
pub struct Recording {
    pub lookups: Vec<Lookup>,
    pub sign_requests: Vec<SignRequest>,
    pub connections: Vec<Connection>,
    pub client_frames: Vec<ClientFrame>,
    pub sent: Vec<SentFrame>,
}

impl Recording {
    /// `(conn, log_id, payload)` of every ACK.
    pub fn acks(&self) -> Vec<(usize, u64, Vec<u8>)> {
        self.client_frames
            .iter()
            .filter_map(|f| match &f.kind {
                ClientFrameKind::Ack {
                    log_id, payload, ..
                } => Some((f.conn, *log_id, payload.clone())),
                _ => None,
            })
            .collect()
    }

    /// `(conn, room_id, send_packet_seq_id)` of every heartbeat.
    pub fn heartbeats(&self) -> Vec<(usize, u64, u64)> {
        self.client_frames
            .iter()
            .filter_map(|f| match f.kind {
                ClientFrameKind::Heartbeat { room_id, seq } => Some((f.conn, room_id, seq)),
                _ => None,
            })
            .collect()
    }

    /// `(conn, room_id)` of every enter-room request.
    pub fn enter_rooms(&self) -> Vec<(usize, u64)> {
        self.client_frames
            .iter()
            .filter_map(|f| match f.kind {
                ClientFrameKind::EnterRoom { room_id, .. } => Some((f.conn, room_id)),
                _ => None,
            })
            .collect()
    }

    /// Frames sent that asked for an ACK.
    pub fn need_ack(&self) -> impl Iterator<Item = &SentFrame> {
        self.sent.iter().filter(|f| f.need_ack)
    }

    /// Accepted connections (101).
    pub fn accepted(&self) -> impl Iterator<Item = &Connection> {
        self.connections.iter().filter(|c| c.refused.is_none())
    }
}

/// The value of `name` in decoded query pairs.
pub fn param<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}
