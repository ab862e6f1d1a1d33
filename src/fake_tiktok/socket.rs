//! The fake's push socket (PROTOCOL.md §3.5–§3.6, §4): answers the handshake itself (101 with
//! `Handshake-Options`, or TikTok's HTTP 200 refusal with `Handshake-Status`/`Handshake-Msg`,
//! which tungstenite's server cannot send), checks the signed URL's one-time token, then runs the
//! connection with tungstenite: records every client frame, echoes heartbeats, answers
//! enter-room, streams the room's capture frames with fresh log ids and plays the scenario
//! (drop, history replay, stall, malformed frame, stream end + `close`).
//!
//! Must not touch: HTTP endpoints, the listener, the ingester.

use std::collections::VecDeque;
use std::io::{ErrorKind, Write};
use std::net::{Shutdown as TcpShutdown, TcpStream};
use std::time::{Duration, Instant};

use prost::Message as _;
use tungstenite::protocol::Role;
use tungstenite::{Message, WebSocket};

use super::frames::{self, decode_client_frame};
use super::listen::{RequestHead, TICK};
use super::record::param;
use super::record::{ClientFrame, ClientFrameKind, Connection, SentFrame, SentKind, TokenUse};
use super::Shared;
use crate::tiktok::proto::{HeartBeatMessage, ProtoMessageFetchResult};

/// How far a paced socket may fall behind its schedule before the schedule restarts from now.
const MAX_LAG: Duration = Duration::from_secs(1);

/// After the `close` frame, how long the client gets to close the socket itself.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// Answers a websocket handshake: 101, or TikTok's HTTP 200 refusal; then runs the session.
pub(super) fn handshake(mut stream: TcpStream, head: RequestHead, shared: &Shared) {
    let Some(key) = head.header("sec-websocket-key").map(str::to_string) else {
        let _ = stream.write_all(
            b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
        return;
    };
    let admission = admit(shared, &head);
    let (None, Some(room)) = (admission.refusal, admission.room) else {
        let (status, msg) = admission.refusal.unwrap_or((416, "SIGNATURE_INVALID"));
        let answer = format!(
            "HTTP/1.1 200 OK\r\nHandshake-Status: {status}\r\nHandshake-Msg: {msg}\r\n\
             Content-Length: 0\r\nConnection: close\r\n\r\n"
        );
        let _ = stream.write_all(answer.as_bytes());
        let _ = stream.shutdown(TcpShutdown::Both);
        return;
    };
    let mut answer = format!(
        "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Accept: {}\r\n",
        tungstenite::handshake::derive_accept_key(key.as_bytes())
    );
    if let Some(secs) = shared.scenario.ping_interval_s {
        answer.push_str(&format!("Handshake-Options: ping-interval={secs}\r\n"));
    }
    answer.push_str("\r\n");
    if let Err(e) = stream.write_all(answer.as_bytes()) {
        log::debug!("fake tiktok handshake answer not sent error={e}");
        return;
    }
    let ws = WebSocket::from_partially_read(stream, head.tail, Role::Server, None);
    Session::new(admission, room, ws, shared).run();
}

/// The fate of one handshake.
struct Admission {
    id: usize,
    /// The room its token was issued for; `None` when refused.
    room: Option<usize>,
    /// (Handshake-Status, Handshake-Msg) of a refusal.
    refusal: Option<(u16, &'static str)>,
    /// The room's first accepted connection (it plays the drop and stall scenarios).
    first: bool,
    /// Capture frames to resend first, as history.
    replay: VecDeque<usize>,
}

/// Records the handshake and decides its fate.
fn admit(shared: &Shared, head: &RequestHead) -> Admission {
    let mut state = shared.lock();
    state.handshakes += 1;
    let id = state.rec.connections.len();
    let token = param(&head.query, "wrss");
    let (token_use, room, signed_user_agent) = match token.and_then(|t| state.tokens.get_mut(t)) {
        Some(t) => {
            let use_ = if std::mem::replace(&mut t.used, true) {
                TokenUse::Reused
            } else {
                TokenUse::Fresh
            };
            (use_, Some(t.room), t.user_agent.clone())
        }
        None if token.is_some() => (TokenUse::Unknown, None, None),
        None => (TokenUse::Missing, None, None),
    };
    let refusal = if state.handshakes <= shared.scenario.refuse_handshakes
        || head.header("user-agent").is_none_or(str::is_empty)
    {
        // TikTok's answer to a blocked device or a missing User-Agent (§3.5–§3.6).
        Some((415, "DEVICE_BLOCKED"))
    } else if token_use != TokenUse::Fresh {
        // The fake's own words: TikTok's answer to a reused or forged URL is not documented.
        Some((416, "SIGNATURE_INVALID"))
    } else {
        None
    };
    let mut admission = Admission {
        id,
        room: None,
        refusal,
        first: false,
        replay: VecDeque::new(),
    };
    if let (None, Some(r)) = (refusal, room) {
        let room_state = &mut state.rooms[r];
        admission.room = Some(r);
        admission.first = room_state.accepted == 0;
        if !admission.first {
            admission.replay.extend(room_state.history.iter().copied());
        }
        room_state.accepted += 1;
    }
    state.rec.connections.push(Connection {
        id,
        at: Instant::now(),
        path: head.path.clone(),
        query: head.query.clone(),
        headers: head.headers.clone(),
        token: token_use,
        room_id: room.map(|r| shared.rooms[r].room_id),
        signed_user_agent,
        refused: refusal.map(|(_, msg)| msg.to_string()),
    });
    admission
}

/// The client closed the session, or the socket broke.
struct Closed;

/// One accepted socket.
struct Session<'a> {
    id: usize,
    /// Index of the room in `Shared::rooms`.
    room: usize,
    ws: WebSocket<TcpStream>,
    shared: &'a Shared,
    /// The room's first accepted connection plays the drop and stall scenarios.
    first: bool,
    replay: VecDeque<usize>,
    /// Server frames to send before anything else (heartbeat echoes, enter-room answer).
    outbox: VecDeque<(Vec<u8>, SentFrame)>,
    entered: bool,
    stream_frames_sent: usize,
    stalled: bool,
    /// When the drop scenario half-closed the socket: the client gets `CLOSE_GRACE` to read
    /// what was sent (and to have its last ACKs recorded) before the socket is gone.
    dropped_since: Option<Instant>,
    interval: Option<Duration>,
    next_due: Instant,
    closing_since: Option<Instant>,
}

/// What to send next on a session.
enum Next {
    Frame(Vec<u8>, SentFrame),
    Nothing,
}

impl<'a> Session<'a> {
    fn new(
        admission: Admission,
        room: usize,
        ws: WebSocket<TcpStream>,
        shared: &'a Shared,
    ) -> Session<'a> {
        Session {
            id: admission.id,
            room,
            ws,
            shared,
            first: admission.first,
            replay: admission.replay,
            outbox: VecDeque::new(),
            entered: !shared.require_enter_room,
            stream_frames_sent: 0,
            stalled: false,
            dropped_since: None,
            interval: shared.rate.map(|r| Duration::from_secs_f64(1.0 / r)),
            next_due: Instant::now(),
            closing_since: None,
        }
    }

    fn run(mut self) {
        loop {
            if self.shared.stop.is_triggered() {
                let _ = self.ws.close(None);
                let _ = self.ws.flush();
                return;
            }
            let wait = if self.ready_to_send() {
                Duration::ZERO
            } else if self.stalled
                || !self.entered
                || self.closing_since.is_some()
                || self.dropped_since.is_some()
            {
                TICK
            } else {
                self.next_due
                    .saturating_duration_since(Instant::now())
                    .clamp(Duration::from_millis(1), TICK)
            };
            if self.read_client(wait).is_err() {
                return;
            }
            if self
                .closing_since
                .is_some_and(|since| since.elapsed() >= CLOSE_GRACE)
            {
                let _ = self.ws.close(None);
                let _ = self.ws.flush();
                return;
            }
            if self
                .dropped_since
                .is_some_and(|since| since.elapsed() >= CLOSE_GRACE)
            {
                return;
            }
            if self.stalled || self.dropped_since.is_some() {
                continue;
            }
            if self.write_due().is_err() {
                return;
            }
            let scenario = &self.shared.scenario;
            let sent = Some(self.stream_frames_sent);
            if (self.first && scenario.drop_after == sent)
                || (self.stream_frames_sent > 0 && scenario.drop_every == sent)
            {
                // No close frame: the TCP stream just ends, as when TikTok drops a socket.
                log::debug!("fake tiktok drops connection conn={}", self.id);
                let _ = self.ws.get_ref().shutdown(TcpShutdown::Write);
                self.dropped_since = Some(Instant::now());
                continue;
            }
            if self.first && scenario.stall_after == Some(self.stream_frames_sent) {
                log::debug!("fake tiktok stalls connection conn={}", self.id);
                self.stalled = true;
            }
        }
    }

    fn ready_to_send(&self) -> bool {
        !self.stalled
            && self.dropped_since.is_none()
            && (!self.outbox.is_empty()
                || (self.entered
                    && self.closing_since.is_none()
                    && Instant::now() >= self.next_due))
    }

    /// Reads every client frame available, waiting up to `wait` for the first (0: none).
    fn read_client(&mut self, wait: Duration) -> Result<(), Closed> {
        let blocking = if wait.is_zero() {
            self.ws.get_mut().set_nonblocking(true)
        } else {
            self.ws
                .get_mut()
                .set_nonblocking(false)
                .and_then(|()| self.ws.get_mut().set_read_timeout(Some(wait)))
        };
        if blocking.is_err() {
            return Err(Closed);
        }
        let result = loop {
            match self.ws.read() {
                Ok(Message::Binary(bytes)) => {
                    self.on_client_frame(decode_client_frame(&bytes));
                    // Take whatever else is already there without waiting.
                    if self.ws.get_mut().set_nonblocking(true).is_err() {
                        break Err(Closed);
                    }
                }
                Ok(Message::Text(text)) => {
                    self.on_client_frame(ClientFrameKind::Invalid { len: text.len() })
                }
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
                {
                    break Ok(())
                }
                Err(e) => {
                    log::debug!("fake tiktok connection ended conn={} reason={e}", self.id);
                    break Err(Closed);
                }
            }
        };
        if self.ws.get_mut().set_nonblocking(false).is_err() {
            return Err(Closed);
        }
        result
    }

    fn on_client_frame(&mut self, kind: ClientFrameKind) {
        match &kind {
            ClientFrameKind::EnterRoom { room_id, .. } => {
                self.entered = true;
                let payload = ProtoMessageFetchResult {
                    cursor: "fake_enter_room_cursor".into(),
                    internal_ext: "internal_src:fake|enter_room".into(),
                    ..Default::default()
                }
                .encode_to_vec();
                self.queue_control("im_enter_room_resp", SentKind::EnterRoomResponse, payload);
                log::debug!("fake tiktok enter room conn={} room_id={room_id}", self.id);
            }
            ClientFrameKind::Heartbeat { room_id, seq } => {
                let payload = HeartBeatMessage {
                    room_id: *room_id,
                    send_packet_seq_id: *seq,
                }
                .encode_to_vec();
                self.queue_control("hb", SentKind::Heartbeat, payload);
            }
            _ => {}
        }
        self.shared.lock().rec.client_frames.push(ClientFrame {
            conn: self.id,
            at: Instant::now(),
            kind,
        });
    }

    fn queue_control(&mut self, payload_type: &str, kind: SentKind, payload: Vec<u8>) {
        let (seq_id, log_id) = self.shared.lock().stamp();
        let bytes = frames::control_frame(payload_type, seq_id, log_id, payload);
        self.outbox
            .push_back((bytes, self.sent(kind, log_id, false, String::new())));
    }

    fn sent(&self, kind: SentKind, log_id: u64, need_ack: bool, internal_ext: String) -> SentFrame {
        SentFrame {
            conn: self.id,
            room_id: self.shared.rooms[self.room].room_id,
            at: Instant::now(),
            kind,
            log_id,
            need_ack,
            internal_ext,
            stream_index: None,
            replayed: false,
            messages: Vec::new(),
        }
    }

    /// Sends the outbox, then the next frame if one is due.
    fn write_due(&mut self) -> Result<(), Closed> {
        while let Some((bytes, record)) = self.outbox.pop_front() {
            self.send(bytes, record)?;
        }
        if !self.ready_to_send() {
            return Ok(());
        }
        match self.next_frame() {
            Next::Frame(bytes, record) => {
                let index = record.stream_index.filter(|_| !record.replayed);
                let kind = record.kind;
                if let Err(e) = self.send(bytes, record) {
                    if let Some(index) = index {
                        self.shared.lock().rooms[self.room]
                            .pending
                            .push_front(index);
                    }
                    return Err(e);
                }
                if kind == SentKind::Stream {
                    self.stream_frames_sent += 1;
                }
                // On a fixed schedule, so the rate holds however long a loop takes (counting
                // from the send, 418 frames/s came out as 120); a lag beyond a second (the
                // client not reading) is forgiven rather than made up in a burst.
                let now = Instant::now();
                self.next_due = match self.interval {
                    Some(every) if now.saturating_duration_since(self.next_due) < MAX_LAG => {
                        self.next_due + every
                    }
                    Some(every) => now + every,
                    None => now,
                };
            }
            // Nothing to send yet: look again after a tick.
            Next::Nothing => self.next_due = Instant::now() + TICK,
        }
        Ok(())
    }

    /// Picks the next frame: history replay, stream end, malformed frame, next capture frame.
    fn next_frame(&mut self) -> Next {
        let shared = self.shared;
        let room = &shared.rooms[self.room];
        let scenario = &shared.scenario;
        let mut state = shared.lock();
        if let Some(index) = self.replay.pop_front() {
            let (seq_id, log_id) = state.stamp();
            return Next::Frame(
                room.frames[index].encode(seq_id, log_id),
                self.stream_record(index, log_id, true),
            );
        }
        let end_at = shared.end_at(self.room);
        let delivered = state.rooms[self.room].delivered();
        if end_at.is_some_and(|n| delivered >= n) && !state.rooms[self.room].ended {
            let room_state = &mut state.rooms[self.room];
            room_state.ended = true;
            room_state.live = false;
            let (seq_id, log_id) = state.stamp();
            let msg_id = state.next_msg_id;
            state.next_msg_id += 1;
            drop(state);
            let (bytes, internal_ext) = frames::stream_end_frame(
                seq_id,
                log_id,
                room.room_id,
                msg_id,
                crate::status::now_ms(),
            );
            let mut record = self.sent(SentKind::StreamEnd, log_id, true, internal_ext);
            record.messages = vec![("WebcastControlMessage".into(), msg_id)];
            // `close` follows; then the client has CLOSE_GRACE to hang up.
            self.queue_control("close", SentKind::Close, Vec::new());
            self.closing_since = Some(Instant::now());
            return Next::Frame(bytes, record);
        }
        let malformed_due = scenario.malformed_after.is_some_and(|n| delivered >= n);
        if malformed_due && !state.rooms[self.room].malformed_sent {
            state.rooms[self.room].malformed_sent = true;
            let (seq_id, log_id) = state.stamp();
            return Next::Frame(
                frames::malformed_frame(seq_id, log_id),
                self.sent(SentKind::Malformed, log_id, false, String::new()),
            );
        }
        let room_state = &mut state.rooms[self.room];
        match room_state.take_next(room.frames.len(), end_at) {
            Some(index) => {
                room_state.delivered_frame(index, scenario.replay_on_reconnect);
                let (seq_id, log_id) = state.stamp();
                Next::Frame(
                    room.frames[index].encode(seq_id, log_id),
                    self.stream_record(index, log_id, false),
                )
            }
            None => Next::Nothing,
        }
    }

    fn stream_record(&self, index: usize, log_id: u64, replayed: bool) -> SentFrame {
        let frame = &self.shared.rooms[self.room].frames[index];
        let mut record = self.sent(
            SentKind::Stream,
            log_id,
            frame.need_ack(),
            frame.internal_ext().to_string(),
        );
        record.stream_index = Some(index);
        record.replayed = replayed;
        record.messages = frame.messages();
        record
    }

    fn send(&mut self, bytes: Vec<u8>, mut record: SentFrame) -> Result<(), Closed> {
        match self.ws.send(Message::Binary(bytes.into())) {
            Ok(()) => {
                record.at = Instant::now();
                self.shared.lock().rec.sent.push(record);
                Ok(())
            }
            Err(e) => {
                log::debug!("fake tiktok send failed conn={} error={e}", self.id);
                Err(Closed)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake_tiktok::{FakeConfig, FakeRoom, FakeTikTok, Scenario};
    use crate::tiktok::frame::{
        decode, encode_ack, encode_enter_room, encode_heartbeat, encode_msg_frame, envelope,
        FrameKind,
    };
    use tungstenite::client::IntoClientRequest;

    const UA: &str = "Mozilla/5.0 (test)";

    /// `count` capture frames of two messages each, all asking for an ACK.
    fn capture(count: u64) -> Vec<Vec<u8>> {
        (0..count)
            .map(|i| {
                let result = ProtoMessageFetchResult {
                    messages: vec![
                        envelope("WebcastChatMessage", 100 + 2 * i, vec![]),
                        envelope("WebcastLikeMessage", 101 + 2 * i, vec![]),
                    ],
                    need_ack: true,
                    internal_ext: format!("ext-{i}"),
                    ..Default::default()
                };
                encode_msg_frame(i + 1, 5000 + i, &result)
            })
            .collect()
    }

    /// Calls the sign endpoint for the first room; returns the socket URL.
    fn sign(fake: &FakeTikTok) -> String {
        sign_room(fake, fake.room_id())
    }

    /// Calls the sign endpoint; returns the socket URL (push_server + route params).
    fn sign_room(fake: &FakeTikTok, room_id: u64) -> String {
        let url = format!(
            "{}/webcast/fetch?client=test&room_id={room_id}&user_agent=x",
            fake.sign_url()
        );
        let mut response = crate::http::agent(Duration::from_secs(5))
            .get(&url)
            .call()
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        let body = response.body_mut().read_to_vec().unwrap();
        let result = ProtoMessageFetchResult::decode(body.as_slice()).unwrap();
        format!(
            "{}?wrss={}&room_id={room_id}",
            result.push_server, result.route_params["wrss"]
        )
    }

    type Client = WebSocket<TcpStream>;

    fn connect(
        fake: &FakeTikTok,
        url: &str,
        ua: Option<&str>,
    ) -> Result<Client, tungstenite::Error> {
        let mut request = url.into_client_request().unwrap();
        if let Some(ua) = ua {
            request
                .headers_mut()
                .insert("User-Agent", ua.parse().unwrap());
        }
        let stream = TcpStream::connect_timeout(&fake.addr(), Duration::from_secs(2)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(3)))
            .unwrap();
        match tungstenite::client::client(request, stream) {
            Ok((ws, _)) => Ok(ws),
            Err(tungstenite::HandshakeError::Failure(e)) => Err(e),
            Err(tungstenite::HandshakeError::Interrupted(_)) => panic!("handshake timed out"),
        }
    }

    fn send(ws: &mut Client, bytes: Vec<u8>) {
        ws.send(Message::Binary(bytes.into())).unwrap();
    }

    /// The next server frame: (payload_type or "msg", log_id, fetch result if any).
    fn next(ws: &mut Client) -> (String, u64, Option<ProtoMessageFetchResult>) {
        loop {
            match ws.read().unwrap() {
                Message::Binary(bytes) => {
                    let frame = decode(&bytes).unwrap();
                    return match frame.kind {
                        FrameKind::Messages(r) => ("msg".into(), frame.log_id, Some(r)),
                        FrameKind::Control(t) => (t, frame.log_id, None),
                        FrameKind::Close => ("close".into(), frame.log_id, None),
                    };
                }
                _ => continue,
            }
        }
    }

    fn refusal(result: Result<Client, tungstenite::Error>) -> (u16, String) {
        match result {
            Err(tungstenite::Error::Http(response)) => (
                response.status().as_u16(),
                response.headers()["handshake-msg"]
                    .to_str()
                    .unwrap()
                    .to_string(),
            ),
            Err(e) => panic!("expected an HTTP refusal, got {e}"),
            Ok(_) => panic!("expected an HTTP refusal, got a socket"),
        }
    }

    #[test]
    fn streams_after_enter_room_echoes_heartbeats_and_records_acks() {
        let mut config = FakeConfig::new(capture(3));
        config.scenario.ping_interval_s = Some(4);
        let fake = FakeTikTok::start(config).unwrap();
        let url = sign(&fake); // its first batch takes capture frame 0
        let mut ws = connect(&fake, &url, Some(UA)).unwrap();
        send(&mut ws, encode_enter_room(fake.room_id()));
        assert_eq!(next(&mut ws).0, "im_enter_room_resp");
        send(&mut ws, encode_heartbeat(fake.room_id(), 1));
        let mut acked = Vec::new();
        let mut heartbeat_echoed = false;
        while acked.len() < 2 || !heartbeat_echoed {
            match next(&mut ws) {
                (kind, log_id, Some(r)) if kind == "msg" => {
                    send(&mut ws, encode_ack(log_id, &r.internal_ext));
                    acked.push((log_id, r.messages[0].msg_id));
                }
                (kind, _, None) if kind == "hb" => heartbeat_echoed = true,
                other => panic!("unexpected frame {other:?}"),
            }
        }
        assert_eq!(
            acked.iter().map(|a| a.1).collect::<Vec<_>>(),
            vec![102, 104]
        );
        assert!(fake.wait_until(Duration::from_secs(3), |r| r.acks().len() == 2));
        let rec = fake.recording();
        let sent: Vec<u64> = rec.need_ack().map(|f| f.log_id).collect();
        let acks: Vec<u64> = rec.acks().iter().map(|a| a.1).collect();
        assert_eq!(sent, acks);
        assert!(acks.iter().all(|id| *id > frames::FIRST_LOG_ID - 1));
        assert_eq!(rec.acks()[0].2, b"ext-1");
        assert_eq!(rec.heartbeats(), vec![(0, fake.room_id(), 1)]);
        assert_eq!(rec.enter_rooms(), vec![(0, fake.room_id())]);
        assert_eq!(rec.connections[0].token, TokenUse::Fresh);
        assert_eq!(rec.connections[0].header("user-agent"), Some(UA));
        assert_eq!(fake.delivered(), 3);

        // The same signed URL again: refused and recorded as a reuse.
        let (status, msg) = refusal(connect(&fake, &url, Some(UA)));
        assert_eq!((status, msg.as_str()), (200, "SIGNATURE_INVALID"));
        assert_eq!(fake.connections()[1].token, TokenUse::Reused);
    }

    #[test]
    fn each_room_streams_its_own_capture() {
        let rooms = vec![
            FakeRoom {
                user: "a".into(),
                room_id: 1,
                frames: capture(1),
            },
            FakeRoom {
                user: "b".into(),
                room_id: 2,
                frames: capture(3),
            },
        ];
        let mut config = FakeConfig::with_rooms(rooms);
        config.first_batch_frames = 0;
        let fake = FakeTikTok::start(config).unwrap();
        assert_eq!(fake.hosts(), "a,b");
        let mut ws = connect(&fake, &sign_room(&fake, 2), Some(UA)).unwrap();
        send(&mut ws, encode_enter_room(2));
        assert_eq!(next(&mut ws).0, "im_enter_room_resp");
        for _ in 0..3 {
            assert_eq!(next(&mut ws).0, "msg");
        }
        assert!(fake.wait_until(Duration::from_secs(3), |r| r.sent.len() == 4));
        let rec = fake.recording();
        assert!(rec.sent.iter().all(|f| f.room_id == 2));
        assert_eq!(rec.connections[0].room_id, Some(2));
        assert_eq!(fake.delivered(), 3);
        assert_eq!(fake.stream_len(), 4);
    }

    #[test]
    fn refuses_blocked_devices_and_missing_user_agents() {
        let mut config = FakeConfig::new(capture(1));
        config.scenario.refuse_handshakes = 1;
        let fake = FakeTikTok::start(config).unwrap();
        let (status, msg) = refusal(connect(&fake, &sign(&fake), Some(UA)));
        assert_eq!((status, msg.as_str()), (200, "DEVICE_BLOCKED"));
        let (_, msg) = refusal(connect(&fake, &sign(&fake), None));
        assert_eq!(msg, "DEVICE_BLOCKED");
        assert!(connect(&fake, &sign(&fake), Some(UA)).is_ok());
        let refused: Vec<Option<String>> =
            fake.connections().into_iter().map(|c| c.refused).collect();
        assert_eq!(
            refused,
            vec![
                Some("DEVICE_BLOCKED".into()),
                Some("DEVICE_BLOCKED".into()),
                None
            ]
        );
    }

    #[test]
    fn drop_then_history_replay_then_stream_end() {
        let mut config = FakeConfig::new(capture(6));
        config.scenario = Scenario {
            drop_after: Some(2),
            replay_on_reconnect: 2,
            end_after: Some(5),
            ..Scenario::default()
        };
        let fake = FakeTikTok::start(config).unwrap();
        let mut ws = connect(&fake, &sign(&fake), Some(UA)).unwrap();
        send(&mut ws, encode_enter_room(fake.room_id()));
        let mut first = Vec::new();
        loop {
            match ws.read() {
                Ok(Message::Binary(b)) => first.push(decode(&b).unwrap().seq_id),
                Ok(_) => {}
                Err(_) => break, // dropped
            }
        }
        assert_eq!(
            first.len(),
            3,
            "enter-room answer + 2 frames, then the drop"
        );

        let mut ws = connect(&fake, &sign(&fake), Some(UA)).unwrap();
        send(&mut ws, encode_enter_room(fake.room_id()));
        let mut kinds = Vec::new();
        loop {
            let (kind, log_id, result) = next(&mut ws);
            if let Some(r) = &result {
                send(&mut ws, encode_ack(log_id, &r.internal_ext));
            }
            kinds.push(kind.clone());
            if kind == "close" {
                break;
            }
        }
        assert_eq!(
            kinds,
            ["im_enter_room_resp", "msg", "msg", "msg", "msg", "close"]
        );
        assert!(fake.wait_until(Duration::from_secs(3), |r| r
            .sent
            .iter()
            .any(|f| f.kind == SentKind::Close)));
        let rec = fake.recording();
        let second: Vec<(Option<usize>, bool, SentKind)> = rec
            .sent
            .iter()
            .filter(|f| f.conn == 1 && f.kind != SentKind::EnterRoomResponse)
            .map(|f| (f.stream_index, f.replayed, f.kind))
            .collect();
        assert_eq!(
            second,
            vec![
                (Some(2), true, SentKind::Stream),
                (Some(3), true, SentKind::Stream),
                (Some(4), false, SentKind::Stream),
                (None, false, SentKind::StreamEnd),
                (None, false, SentKind::Close),
            ]
        );
        let mut log_ids: Vec<u64> = rec.sent.iter().map(|f| f.log_id).collect();
        log_ids.sort_unstable();
        log_ids.dedup();
        assert_eq!(
            log_ids.len(),
            rec.sent.len(),
            "every frame has its own log id"
        );
        assert!(fake.wait_until(Duration::from_secs(3), |r| {
            r.acks().len() == r.need_ack().filter(|f| f.conn == 1).count()
        }));
        // The room is over: lookups say offline.
        let body = crate::http::agent(Duration::from_secs(5))
            .get(&format!(
                "{}/api-live/user/room/?uniqueId=fakehost",
                fake.web_url()
            ))
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap();
        assert!(body.contains(r#""status":4"#), "{body}");
    }

    #[test]
    fn malformed_frame_then_stall_without_heartbeat_echo() {
        let mut config = FakeConfig::new(capture(4));
        config.rate = Some(200.0);
        config.scenario = Scenario {
            malformed_after: Some(1),
            stall_after: Some(1),
            ..Scenario::default()
        };
        let fake = FakeTikTok::start(config).unwrap();
        let mut ws = connect(&fake, &sign(&fake), Some(UA)).unwrap();
        send(&mut ws, encode_enter_room(fake.room_id()));
        assert_eq!(next(&mut ws).0, "im_enter_room_resp");
        match ws.read().unwrap() {
            Message::Binary(b) => assert!(decode(&b).is_err(), "the malformed frame"),
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(next(&mut ws).0, "msg");
        send(&mut ws, encode_heartbeat(fake.room_id(), 1));
        ws.get_mut()
            .set_read_timeout(Some(Duration::from_millis(400)))
            .unwrap();
        assert!(
            matches!(ws.read(), Err(tungstenite::Error::Io(e)) if e.kind() == ErrorKind::WouldBlock),
            "a stalled socket sends nothing"
        );
        assert!(fake.wait_until(Duration::from_secs(2), |r| r.heartbeats().len() == 1));
        let kinds: Vec<SentKind> = fake.frames_sent().iter().map(|f| f.kind).collect();
        assert_eq!(
            kinds,
            [
                SentKind::EnterRoomResponse,
                SentKind::Malformed,
                SentKind::Stream
            ]
        );
    }
}
