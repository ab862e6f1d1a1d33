//! A fake TikTok on loopback that speaks the real Webcast protocol (PROTOCOL.md §2–§4), for
//! end-to-end tests and the replay demo: the room lookups (live page with `SIGI_STATE`,
//! `api-live/user/room`, `room/check_alive`, `room/info`), the sign server (`/webcast/fetch`,
//! raw protobuf fetch result + `X-Set-TT-Cookie`, a one-time token in the signed URL) and the
//! push socket (enter-room, heartbeats, ACKs; capture frames streamed with fresh log ids).
//!
//! One port on 127.0.0.1 (0 = any free one) serves every lookup, the sign endpoint (routing by
//! path suffix, so a client may put `/webcast` in its base URL or in its paths) and the
//! websocket. A [`Scenario`] makes it misbehave on purpose; a
//! [`Recording`] tells tests what the client did. Every thread wakes at least every 50 ms to
//! see the stop flag; every socket call has a timeout. Dropping a [`FakeTikTok`] stops it.
//!
//! Must not touch: the ingester's own threads, channel, ClickHouse; the environment.

mod frames;
mod http;
mod listen;
pub mod record;
pub mod report;
pub mod scenario;
mod socket;

use std::collections::{BTreeMap, HashMap, VecDeque};
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

/// One live user of the fake: its handle, its room and the capture frames that room streams.
#[derive(Clone, Debug)]
pub struct FakeRoom {
    pub user: String,
    pub room_id: u64,
    /// The push frames to stream, in order (capture records).
    pub frames: Vec<Vec<u8>>,
}

impl FakeRoom {
    /// Cuts a capture into streams the way a client sees them: a stream ends with a frame holding
    /// a `WebcastControlMessage` with action 3 or 4, after which a client leaves the room. Each
    /// stream becomes a room of its own, so every frame of the capture can be delivered: users
    /// `user`, `user2`, `user3`…, room ids `first_room_id`, `first_room_id + 1`…
    pub fn split_at_stream_ends(
        frames: Vec<Vec<u8>>,
        user: &str,
        first_room_id: u64,
    ) -> Vec<FakeRoom> {
        let mut rooms = Vec::new();
        let mut current = Vec::new();
        for frame in frames {
            let ends = StreamFrame::parse(frame.clone()).ends_stream();
            current.push(frame);
            if ends {
                rooms.push(std::mem::take(&mut current));
            }
        }
        if !current.is_empty() || rooms.is_empty() {
            rooms.push(current);
        }
        rooms
            .into_iter()
            .enumerate()
            .map(|(i, frames)| FakeRoom {
                user: if i == 0 {
                    user.to_string()
                } else {
                    format!("{user}{}", i + 1)
                },
                room_id: first_room_id + i as u64,
                frames,
            })
            .collect()
    }
}

/// How one fake behaves.
#[derive(Clone, Debug)]
pub struct FakeConfig {
    /// The live users; every other handle is unknown. At least one.
    pub rooms: Vec<FakeRoom>,
    /// Stream frames per second on a socket; `None` sends as fast as the socket takes them.
    pub rate: Option<f64>,
    /// Stream frames whose messages the sign endpoint puts in its first batch (those frames are
    /// then not sent on the socket, except as history).
    pub first_batch_frames: usize,
    /// Stream nothing on a socket until the client has sent `im_enter_room` (as TikTok does).
    pub require_enter_room: bool,
    /// The port for HTTP and the websocket (0 = any free one).
    pub port: u16,
    /// Played by every room on its own (counts of sign requests and handshakes are global).
    pub scenario: Scenario,
}

impl FakeConfig {
    /// One healthy live room, user `fakehost`, streaming `frames` as fast as the client reads.
    pub fn new(frames: Vec<Vec<u8>>) -> FakeConfig {
        FakeConfig::with_rooms(vec![FakeRoom {
            user: "fakehost".into(),
            room_id: DEFAULT_ROOM_ID,
            frames,
        }])
    }

    /// Healthy live rooms with defaults for everything else.
    pub fn with_rooms(rooms: Vec<FakeRoom>) -> FakeConfig {
        FakeConfig {
            rooms,
            rate: None,
            first_batch_frames: 1,
            require_enter_room: true,
            port: 0,
            scenario: Scenario::default(),
        }
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
    #[error("fake TikTok cannot listen on 127.0.0.1:{port}: {source}; pick another port or 0")]
    Bind {
        port: u16,
        #[source]
        source: std::io::Error,
    },
    #[error("fake TikTok cannot start its listener thread: {0}")]
    Spawn(#[source] std::io::Error),
}

/// A running fake. Stops (and joins its threads) on [`FakeTikTok::stop`] or drop.
pub struct FakeTikTok {
    shared: Arc<Shared>,
    addr: SocketAddr,
    thread: Option<JoinHandle<()>>,
}

impl FakeTikTok {
    /// Binds the port and starts serving.
    pub fn start(config: FakeConfig) -> Result<FakeTikTok, FakeError> {
        let bind_error = |source: std::io::Error| FakeError::Bind {
            port: config.port,
            source,
        };
        let listener = TcpListener::bind(("127.0.0.1", config.port)).map_err(bind_error)?;
        let addr = listener.local_addr().map_err(bind_error)?;
        let rooms: Vec<Room> = config
            .rooms
            .into_iter()
            .map(|r| Room {
                user: r.user,
                room_id: r.room_id,
                frames: r.frames.into_iter().map(StreamFrame::parse).collect(),
            })
            .collect();
        let shared = Arc::new(Shared {
            state: Mutex::new(State::new(rooms.len())),
            rooms,
            rate: config.rate.filter(|r| *r > 0.0),
            first_batch_frames: config.first_batch_frames,
            require_enter_room: config.require_enter_room,
            scenario: config.scenario,
            push_server: format!("ws://{addr}{PUSH_PATH}"),
            stop: Shutdown::new(),
            started: Instant::now(),
        });
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("fake-tiktok".into())
            .spawn(move || listen::accept_loop(&listener, &s))
            .map_err(FakeError::Spawn)?;
        log::debug!("fake tiktok listening addr={addr}");
        Ok(FakeTikTok {
            shared,
            addr,
            thread: Some(thread),
        })
    }

    /// Base URL of the live page and `api-live` (TikTok's `https://www.tiktok.com`).
    pub fn web_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Base URL of `room/check_alive` and `room/info` (TikTok's `https://webcast.tiktok.com`;
    /// paths are matched by suffix, so `…/webcast` works as a base too).
    pub fn webcast_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Base URL of the sign server (Euler's `https://api.eulerstream.com`).
    pub fn sign_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The `push_server` the sign endpoint hands out.
    pub fn push_server(&self) -> &str {
        &self.shared.push_server
    }

    /// The one address serving HTTP and the websocket.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The first room's user.
    pub fn user(&self) -> &str {
        &self.shared.rooms[0].user
    }

    /// The first room's id.
    pub fn room_id(&self) -> u64 {
        self.shared.rooms[0].room_id
    }

    /// Every user, comma-separated (a `TIKTOK_HOST` value).
    pub fn hosts(&self) -> String {
        let users: Vec<&str> = self.shared.rooms.iter().map(|r| r.user.as_str()).collect();
        users.join(",")
    }

    /// `(user, room_id)` of every room.
    pub fn rooms(&self) -> Vec<(String, u64)> {
        self.shared
            .rooms
            .iter()
            .map(|r| (r.user.clone(), r.room_id))
            .collect()
    }

    /// Capture frames of all rooms.
    pub fn stream_len(&self) -> usize {
        self.shared.rooms.iter().map(|r| r.frames.len()).sum()
    }

    /// `(method, msg_id)` of every message in every room's capture, in order.
    pub fn stream_messages(&self) -> Vec<(String, u64)> {
        self.shared
            .rooms
            .iter()
            .flat_map(|r| r.frames.iter().flat_map(StreamFrame::messages))
            .collect()
    }

    /// Messages per method a client should store from all rooms' captures: each msg_id once per
    /// room, as a reader dedupes within its room.
    pub fn expected_per_method(&self) -> BTreeMap<String, u64> {
        let mut total = BTreeMap::new();
        for room in &self.shared.rooms {
            let messages: Vec<(String, u64)> =
                room.frames.iter().flat_map(StreamFrame::messages).collect();
            for (method, n) in report::sent_per_method(&messages) {
                *total.entry(method).or_insert(0) += n;
            }
        }
        total
    }

    /// Capture frames delivered so far (socket or sign first batch), each counted once.
    pub fn delivered(&self) -> usize {
        self.shared
            .lock()
            .rooms
            .iter()
            .map(RoomState::delivered)
            .sum()
    }

    /// Makes every user live (status 2) or offline (status 4) for the following lookups.
    pub fn set_live(&self, live: bool) {
        for room in &mut self.shared.lock().rooms {
            room.live = live;
        }
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
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for FakeTikTok {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A room as served: its capture decoded once.
struct Room {
    user: String,
    room_id: u64,
    frames: Vec<StreamFrame>,
}

/// What the HTTP and socket threads share.
struct Shared {
    rooms: Vec<Room>,
    rate: Option<f64>,
    first_batch_frames: usize,
    require_enter_room: bool,
    scenario: Scenario,
    push_server: String,
    stop: Shutdown,
    started: Instant,
    state: Mutex<State>,
}

impl Shared {
    /// The state; a thread that panicked while holding it left nothing half-written that
    /// matters to a fake, so poisoning is ignored.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn room_of_user(&self, user: &str) -> Option<usize> {
        self.rooms.iter().position(|r| r.user == user)
    }

    fn room_of_id(&self, room_id: u64) -> Option<usize> {
        self.rooms.iter().position(|r| r.room_id == room_id)
    }

    /// Capture frames of `room` delivered that trigger the scenario's stream end, if any.
    fn end_at(&self, room: usize) -> Option<usize> {
        self.scenario
            .end_after
            .map(|n| n.min(self.rooms[room].frames.len()))
    }
}

/// A sign token handed out: which room, for which user agent, used by a handshake yet.
struct Token {
    room: usize,
    user_agent: Option<String>,
    used: bool,
}

/// The mutable half: the rooms' timelines, the ids handed out, the recording.
struct State {
    rec: Recording,
    rooms: Vec<RoomState>,
    seq_id: u64,
    next_log_id: u64,
    next_msg_id: u64,
    tokens: HashMap<String, Token>,
    handshakes: usize,
}

impl State {
    fn new(rooms: usize) -> State {
        State {
            rec: Recording::default(),
            rooms: (0..rooms).map(|_| RoomState::default()).collect(),
            seq_id: 0,
            next_log_id: frames::FIRST_LOG_ID,
            next_msg_id: frames::FIRST_OWN_MSG_ID,
            tokens: HashMap::new(),
            handshakes: 0,
        }
    }

    /// A fresh `(seq_id, log_id)` for the next server frame.
    fn stamp(&mut self) -> (u64, u64) {
        self.seq_id += 1;
        self.next_log_id += 1;
        (self.seq_id, self.next_log_id - 1)
    }
}

/// One room's timeline.
struct RoomState {
    live: bool,
    lookups: usize,
    /// Next capture frame to deliver.
    next: usize,
    /// Capture frames taken but not delivered (the write failed); they go out first.
    pending: VecDeque<usize>,
    /// Capture frames delivered most recently, oldest first (for history replay).
    history: VecDeque<usize>,
    /// Sockets accepted for this room.
    accepted: usize,
    malformed_sent: bool,
    ended: bool,
}

impl Default for RoomState {
    fn default() -> RoomState {
        RoomState {
            live: true,
            lookups: 0,
            next: 0,
            pending: VecDeque::new(),
            history: VecDeque::new(),
            accepted: 0,
            malformed_sent: false,
            ended: false,
        }
    }
}

impl RoomState {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tiktok::frame::{encode_msg_frame, envelope};
    use crate::tiktok::proto::{CommonMessageData, ProtoMessageFetchResult, WebcastControlMessage};
    use prost::Message;

    fn frame(control_action: Option<i32>) -> Vec<u8> {
        let mut messages = vec![envelope("WebcastChatMessage", 1, vec![])];
        if let Some(action) = control_action {
            let control = WebcastControlMessage {
                common: Some(CommonMessageData::default()),
                action,
                ..Default::default()
            };
            messages.push(envelope(
                "WebcastControlMessage",
                2,
                control.encode_to_vec(),
            ));
        }
        let result = ProtoMessageFetchResult {
            messages,
            ..Default::default()
        };
        encode_msg_frame(1, 1, &result)
    }

    #[test]
    fn captures_split_after_each_stream_end() {
        let frames = vec![
            frame(None),
            frame(Some(1)),
            frame(Some(3)),
            frame(None),
            frame(Some(4)),
            frame(None),
        ];
        let rooms = FakeRoom::split_at_stream_ends(frames, "h", 10);
        let shape: Vec<(&str, u64, usize)> = rooms
            .iter()
            .map(|r| (r.user.as_str(), r.room_id, r.frames.len()))
            .collect();
        assert_eq!(shape, vec![("h", 10, 3), ("h2", 11, 2), ("h3", 12, 1)]);
        let one = FakeRoom::split_at_stream_ends(vec![frame(Some(3))], "h", 10);
        assert_eq!(one.len(), 1);
        assert_eq!(FakeRoom::split_at_stream_ends(vec![], "h", 10).len(), 1);
    }
}
