//! A fake TikTok on loopback that speaks the real Webcast protocol (PROTOCOL.md §2–§4), for
//! end-to-end tests and the replay demo: the room lookups (live page with `SIGI_STATE`,
//! `api-live/user/room`, `room/check_alive`, `room/info`), the sign server (`/webcast/fetch`,
//! raw protobuf fetch result + `X-Set-TT-Cookie`, a one-time token in the signed URL) and the
//! push socket (enter-room, heartbeats, ACKs; capture frames streamed with fresh log ids).
//!
//! One HTTP port serves every lookup and the sign endpoint (routing by path suffix, so a client
//! may put `/webcast` in its base URL or in its paths); a second port is the websocket. Both bind
//! 127.0.0.1 with port 0 by default. A [`Scenario`] makes it misbehave on purpose; a
//! [`Recording`] tells tests what the client did. Every thread wakes at least every 50 ms to
//! see the stop flag; every socket call has a timeout. Dropping a [`FakeTikTok`] stops it.
//!
//! Must not touch: the ingester's own threads, channel, ClickHouse; the environment.

mod frames;
mod http;
pub mod record;
pub mod report;
pub mod scenario;
mod socket;

use std::collections::{HashMap, VecDeque};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub use record::{
    ClientFrame, ClientFrameKind, Connection, Lookup, Recording, SentFrame, SentKind, SignRequest,
    TokenUse,
};
pub use scenario::Scenario;

use crate::replay::{CaptureError, CaptureReader};
use crate::shutdown::Shutdown;
use frames::StreamFrame;

/// The room id the fake reports unless told otherwise (above 2^53, as real ones are).
pub const DEFAULT_ROOM_ID: u64 = 7_140_000_000_000_000_001;

/// Where the push socket lives under the websocket port, as on TikTok.
pub const PUSH_PATH: &str = "/webcast/im/ws_proxy/ws_reuse_supplement/";

/// How one fake behaves.
#[derive(Clone, Debug)]
pub struct FakeConfig {
    /// The push frames to stream, in order (capture records).
    pub frames: Vec<Vec<u8>>,
    /// The handle that is live; every other handle is unknown.
    pub user: String,
    pub room_id: u64,
    /// Stream frames per second on a socket; `None` sends as fast as the socket takes them.
    pub rate: Option<f64>,
    /// Stream frames whose messages the sign endpoint puts in its first batch (those frames are
    /// then not sent on the socket, except as history).
    pub first_batch_frames: usize,
    /// Stream nothing on a socket until the client has sent `im_enter_room` (as TikTok does).
    pub require_enter_room: bool,
    /// The websocket port (0 = any free one); the HTTP port is always picked freely unless
    /// `http_port` says otherwise.
    pub ws_port: u16,
    pub http_port: u16,
    pub scenario: Scenario,
}

impl FakeConfig {
    /// A healthy live room `fakehost` streaming `frames` as fast as the client reads.
    pub fn new(frames: Vec<Vec<u8>>) -> FakeConfig {
        FakeConfig {
            frames,
            user: "fakehost".into(),
            room_id: DEFAULT_ROOM_ID,
            rate: None,
            first_batch_frames: 1,
            require_enter_room: true,
            ws_port: 0,
            http_port: 0,
            scenario: Scenario::default(),
        }
    }

    /// Like [`FakeConfig::new`] with the frames of a capture file.
    pub fn from_capture(path: &Path) -> Result<FakeConfig, CaptureError> {
        Ok(FakeConfig::new(load_capture(path)?))
    }
}

/// Every frame of a capture file (`[u32 BE length][PushFrame]` records).
pub fn load_capture(path: &Path) -> Result<Vec<Vec<u8>>, CaptureError> {
    let mut reader = CaptureReader::open(path)?;
    let mut frames = Vec::new();
    while let Some(frame) = reader.next_frame()? {
        frames.push(frame);
    }
    Ok(frames)
}

#[derive(Debug, thiserror::Error)]
pub enum FakeError {
    #[error(
        "fake TikTok cannot listen on 127.0.0.1:{port} ({what}): {source}; pick another port or 0"
    )]
    Bind {
        what: &'static str,
        port: u16,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("fake TikTok cannot start its {name} thread: {source}")]
    Spawn {
        name: &'static str,
        #[source]
        source: std::io::Error,
    },
}

/// A running fake. Stops (and joins its threads) on [`FakeTikTok::stop`] or drop.
pub struct FakeTikTok {
    shared: Arc<Shared>,
    http_addr: SocketAddr,
    ws_addr: SocketAddr,
    threads: Vec<JoinHandle<()>>,
}

impl FakeTikTok {
    /// Binds both ports and starts serving.
    pub fn start(config: FakeConfig) -> Result<FakeTikTok, FakeError> {
        let listener =
            TcpListener::bind(("127.0.0.1", config.ws_port)).map_err(|source| FakeError::Bind {
                what: "websocket",
                port: config.ws_port,
                source: source.into(),
            })?;
        let ws_addr = listener.local_addr().map_err(|source| FakeError::Bind {
            what: "websocket",
            port: config.ws_port,
            source: source.into(),
        })?;
        let server =
            tiny_http::Server::http(("127.0.0.1", config.http_port)).map_err(|source| {
                FakeError::Bind {
                    what: "http",
                    port: config.http_port,
                    source,
                }
            })?;
        let http_addr = server
            .server_addr()
            .to_ip()
            .expect("a server bound to 127.0.0.1 has an IP address");
        let frames = config
            .frames
            .iter()
            .cloned()
            .map(StreamFrame::parse)
            .collect();
        let shared = Arc::new(Shared {
            push_server: format!("ws://{ws_addr}{PUSH_PATH}"),
            frames,
            stop: Shutdown::new(),
            started: Instant::now(),
            state: Mutex::new(State::new()),
            conn_threads: Mutex::new(Vec::new()),
            config,
        });
        let mut fake = FakeTikTok {
            shared: shared.clone(),
            http_addr,
            ws_addr,
            threads: Vec::new(),
        };
        let s = shared.clone();
        fake.threads
            .push(spawn("fake-http", move || http::serve(&server, &s))?);
        let s = shared;
        fake.threads.push(spawn("fake-ws", move || {
            socket::accept_loop(&listener, &s)
        })?);
        log::debug!("fake tiktok listening http={http_addr} ws={ws_addr}");
        Ok(fake)
    }

    /// Base URL of the live page and `api-live` (TikTok's `https://www.tiktok.com`).
    pub fn web_url(&self) -> String {
        format!("http://{}", self.http_addr)
    }

    /// Base URL of `room/check_alive` and `room/info` (TikTok's `https://webcast.tiktok.com`;
    /// paths are matched by suffix, so `…/webcast` works as a base too).
    pub fn webcast_url(&self) -> String {
        format!("http://{}", self.http_addr)
    }

    /// Base URL of the sign server (Euler's `https://api.eulerstream.com`).
    pub fn sign_url(&self) -> String {
        format!("http://{}", self.http_addr)
    }

    /// The `push_server` the sign endpoint hands out.
    pub fn push_server(&self) -> &str {
        &self.shared.push_server
    }

    pub fn ws_addr(&self) -> SocketAddr {
        self.ws_addr
    }

    pub fn user(&self) -> &str {
        &self.shared.config.user
    }

    pub fn room_id(&self) -> u64 {
        self.shared.config.room_id
    }

    /// Frames in the capture being streamed.
    pub fn stream_len(&self) -> usize {
        self.shared.frames.len()
    }

    /// `(method, msg_id)` of every message in the capture, in order.
    pub fn stream_messages(&self) -> Vec<(String, u64)> {
        self.shared
            .frames
            .iter()
            .flat_map(StreamFrame::messages)
            .collect()
    }

    /// Capture frames delivered so far (socket or sign first batch), each counted once.
    pub fn delivered(&self) -> usize {
        let state = self.shared.lock();
        state.next - state.pending.len()
    }

    /// Makes the user live (status 2) or offline (status 4) for the following lookups.
    pub fn set_live(&self, live: bool) {
        self.shared.lock().live = live;
    }

    /// A copy of everything recorded so far.
    pub fn recording(&self) -> Recording {
        self.shared.lock().rec.clone()
    }

    pub fn sign_requests(&self) -> Vec<SignRequest> {
        self.shared.lock().rec.sign_requests.clone()
    }

    pub fn connections(&self) -> Vec<Connection> {
        self.shared.lock().rec.connections.clone()
    }

    pub fn frames_sent(&self) -> Vec<SentFrame> {
        self.shared.lock().rec.sent.clone()
    }

    /// `(conn, log_id, payload)` of every ACK received.
    pub fn acks(&self) -> Vec<(usize, u64, Vec<u8>)> {
        self.shared.lock().rec.acks()
    }

    /// `(conn, room_id, send_packet_seq_id)` of every heartbeat received.
    pub fn heartbeats(&self) -> Vec<(usize, u64, u64)> {
        self.shared.lock().rec.heartbeats()
    }

    /// `(conn, room_id)` of every enter-room request received.
    pub fn enter_rooms(&self) -> Vec<(usize, u64)> {
        self.shared.lock().rec.enter_rooms()
    }

    /// Polls the recording every 20 ms until `done` holds (true) or `timeout` passes (false).
    pub fn wait_until(&self, timeout: Duration, done: impl Fn(&Recording) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if done(&self.shared.lock().rec) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops serving: closes sockets, joins every thread. Idempotent.
    pub fn stop(&mut self) {
        self.shared.stop.trigger();
        for handle in self.threads.drain(..) {
            let _ = handle.join();
        }
    }
}

impl Drop for FakeTikTok {
    fn drop(&mut self) {
        self.stop();
    }
}

fn spawn(
    name: &'static str,
    f: impl FnOnce() + Send + 'static,
) -> Result<JoinHandle<()>, FakeError> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .map_err(|source| FakeError::Spawn { name, source })
}

/// What the HTTP and socket threads share.
struct Shared {
    config: FakeConfig,
    frames: Vec<StreamFrame>,
    push_server: String,
    stop: Shutdown,
    started: Instant,
    state: Mutex<State>,
    /// Per-connection threads, joined by the accept loop when it stops.
    conn_threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Shared {
    /// The state; a thread that panicked while holding it left nothing half-written that
    /// matters to a fake, so poisoning is ignored.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn scenario(&self) -> &Scenario {
        &self.config.scenario
    }

    /// Capture frames delivered that trigger the scenario's stream end, if it has one.
    fn end_at(&self) -> Option<usize> {
        self.scenario().end_after.map(|n| n.min(self.frames.len()))
    }
}

/// The mutable half: the room's timeline and the recording.
struct State {
    rec: Recording,
    live: bool,
    lookups: usize,
    /// Next capture frame to deliver.
    next: usize,
    /// Capture frames taken but not delivered (the write failed); they go out first.
    pending: VecDeque<usize>,
    /// Capture frames delivered most recently, oldest first (for history replay).
    history: VecDeque<usize>,
    seq_id: u64,
    next_log_id: u64,
    next_msg_id: u64,
    /// Sign tokens issued: token → (user agent signed for, used by a handshake).
    tokens: HashMap<String, (Option<String>, bool)>,
    handshakes: usize,
    accepted: usize,
    malformed_sent: bool,
    ended: bool,
}

impl State {
    fn new() -> State {
        State {
            rec: Recording::default(),
            live: true,
            lookups: 0,
            next: 0,
            pending: VecDeque::new(),
            history: VecDeque::new(),
            seq_id: 0,
            next_log_id: frames::FIRST_LOG_ID,
            next_msg_id: frames::FIRST_OWN_MSG_ID,
            tokens: HashMap::new(),
            handshakes: 0,
            accepted: 0,
            malformed_sent: false,
            ended: false,
        }
    }

    /// A fresh `(seq_id, log_id)` for the next server frame.
    fn stamp(&mut self) -> (u64, u64) {
        self.seq_id += 1;
        self.next_log_id += 1;
        (self.seq_id, self.next_log_id - 1)
    }

    /// Capture frames delivered, each counted once.
    fn delivered(&self) -> usize {
        self.next - self.pending.len()
    }

    /// The next capture frame to deliver, unless the stream ends first (`end_at`).
    fn take_next(&mut self, total: usize, end_at: Option<usize>) -> Option<usize> {
        if let Some(i) = self.pending.pop_front() {
            return Some(i);
        }
        let limit = end_at.unwrap_or(total).min(total);
        if self.next < limit {
            self.next += 1;
            Some(self.next - 1)
        } else {
            None
        }
    }

    /// Notes a capture frame as delivered, keeping the last `keep` for history replay.
    fn delivered_frame(&mut self, index: usize, keep: usize) {
        if keep == 0 {
            return;
        }
        self.history.push_back(index);
        while self.history.len() > keep {
            self.history.pop_front();
        }
    }

    /// Counts one lookup and says whether it sees the user live.
    fn lookup_live(&mut self, offline_lookups: usize) -> bool {
        self.lookups += 1;
        self.live && self.lookups > offline_lookups
    }
}
