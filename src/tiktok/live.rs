//! One open connection, from the enter-room frame to its end (PROTOCOL.md §4.5–4.10): sends
//! `im_enter_room`, handles the sign server's first batch, then reads frames with the socket's
//! short read timeout, heartbeating on time (also while the pipe is full, through the
//! handler's idle hook), acknowledging every fetch result that asks for it, recording frames,
//! and watching for silence. Returns why the connection ended; the caller decides what next.
//!
//! Must not touch: HTTP, reconnect policy, the rooms/sessions tables.

use std::io::ErrorKind;
use std::time::{Duration, Instant};

use tungstenite::Message;

use super::connect::{Socket, Ws};
use super::frame;
use super::handler::FrameHandler;
use super::proto::ProtoMessageFetchResult;
use super::record::Recorder;
use crate::app::ReaderContext;
use crate::config::ReaderTimings;
use crate::metrics::Metrics;

/// Why a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// A control message said the stream ended (action 3 or 4).
    StreamEnded,
    /// The server sent a `close` push frame.
    ServerClose,
    /// The websocket closed (close frame, EOF, reset).
    Closed,
    /// A read failed otherwise (protocol error, too large a message…).
    Error(String),
    /// No frame at all for `frame_silence`.
    FrameSilence,
    /// No `msg` frame for `msg_silence`.
    MsgSilence,
    /// Writing the enter-room, a heartbeat or an ACK failed.
    SendFailed,
    Shutdown,
    /// The writer thread is gone: nothing read can be stored any more.
    WriterGone,
}

impl End {
    /// Every `reason()`.
    pub const REASONS: &'static [&'static str] = &[
        "stream_ended",
        "server_close",
        "closed",
        "error",
        "frame_silence",
        "msg_silence",
        "send_failed",
        "shutdown",
        "writer_gone",
    ];

    /// A short, bounded name for metrics labels and the `sessions` table.
    pub fn reason(&self) -> &'static str {
        match self {
            End::StreamEnded => "stream_ended",
            End::ServerClose => "server_close",
            End::Closed => "closed",
            End::Error(_) => "error",
            End::FrameSilence => "frame_silence",
            End::MsgSilence => "msg_silence",
            End::SendFailed => "send_failed",
            End::Shutdown => "shutdown",
            End::WriterGone => "writer_gone",
        }
    }

    /// The room's stream is over: poll for the next one instead of reconnecting.
    pub fn stream_over(&self) -> bool {
        matches!(self, End::StreamEnded | End::ServerClose)
    }
}

/// What one connection carried.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LiveStats {
    pub frames: u64,
    pub messages: u64,
    pub bytes: u64,
}

/// The heartbeat schedule (§4.8): `send_packet_seq_id` from 1, one every `every`.
struct Heartbeat {
    room_id: u64,
    seq: u64,
    every: Duration,
    next: Instant,
    failed: bool,
}

impl Heartbeat {
    /// Sends the heartbeat if it is due; a failed send marks the socket dead.
    fn tick(&mut self, ws: &mut Ws, metrics: &Metrics) {
        if self.failed || Instant::now() < self.next {
            return;
        }
        match send(ws, frame::encode_heartbeat(self.room_id, self.seq)) {
            Ok(()) => {
                metrics.heartbeats_sent.inc();
                log::trace!("heartbeat sent seq={}", self.seq);
                self.seq += 1;
                self.next = Instant::now() + self.every;
            }
            Err(e) => {
                log::debug!("heartbeat not sent error={e}");
                self.failed = true;
            }
        }
    }
}

fn send(ws: &mut Ws, bytes: Vec<u8>) -> tungstenite::Result<()> {
    ws.send(Message::Binary(bytes.into()))
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

/// A websocket close, best effort: the connection is being dropped anyway.
fn close_quietly(ws: &mut Ws) {
    let _ = ws.close(None);
    let _ = ws.flush();
}

/// Runs one connection until it ends. `initial` is the sign server's fetch result, whose
/// messages are handled like any others (the handler deduplicates).
#[allow(clippy::too_many_arguments)]
pub fn run(
    socket: &mut Socket,
    room_id: u64,
    initial: &ProtoMessageFetchResult,
    handler: &mut FrameHandler,
    ctx: &ReaderContext,
    timings: &ReaderTimings,
    recorder: &mut Recorder,
    stats: &mut LiveStats,
) -> End {
    let metrics = &*ctx.metrics;
    let ws = &mut socket.ws;
    if let Err(e) = send(ws, frame::encode_enter_room(room_id)) {
        log::debug!("enter-room not sent room_id={room_id} error={e}");
        return End::SendFailed;
    }
    let every = socket.ping_interval.unwrap_or(timings.heartbeat);
    let mut beat = Heartbeat {
        room_id,
        seq: 1,
        every,
        next: Instant::now() + every,
        failed: false,
    };
    match handler.handle_fetch_result(initial, &ctx.sender, &mut || beat.tick(ws, metrics)) {
        Ok(outcome) => {
            stats.messages += outcome.new_messages as u64;
            if outcome.stream_ended {
                close_quietly(ws);
                return End::StreamEnded;
            }
        }
        Err(_) => return End::WriterGone,
    }
    let (mut last_frame, mut last_msg) = (Instant::now(), Instant::now());
    loop {
        if ctx.shutdown.is_triggered() {
            close_quietly(ws);
            return End::Shutdown;
        }
        beat.tick(ws, metrics);
        if beat.failed {
            return End::SendFailed;
        }
        if last_frame.elapsed() >= timings.frame_silence {
            close_quietly(ws);
            return End::FrameSilence;
        }
        if last_msg.elapsed() >= timings.msg_silence {
            close_quietly(ws);
            return End::MsgSilence;
        }
        let bytes = match ws.read() {
            Ok(Message::Binary(bytes)) => bytes,
            Ok(Message::Close(_)) => return End::Closed,
            Ok(other) => {
                log::trace!("non-binary websocket message len={}", other.len());
                last_frame = Instant::now();
                continue;
            }
            Err(tungstenite::Error::Io(e)) if is_timeout(&e) => {
                // Push out anything queued (pongs to the server's pings).
                match ws.flush() {
                    Err(tungstenite::Error::Io(e)) if !is_timeout(&e) => return End::SendFailed,
                    _ => continue,
                }
            }
            Err(
                tungstenite::Error::ConnectionClosed
                | tungstenite::Error::AlreadyClosed
                | tungstenite::Error::Protocol(
                    tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
                ),
            ) => return End::Closed,
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset | ErrorKind::BrokenPipe
                ) =>
            {
                return End::Closed
            }
            Err(e) => return End::Error(e.to_string()),
        };
        last_frame = Instant::now();
        stats.frames += 1;
        stats.bytes += bytes.len() as u64;
        recorder.record(&bytes, metrics);
        let outcome =
            match handler.handle_frame(&bytes, &ctx.sender, &mut || beat.tick(ws, metrics)) {
                Ok(outcome) => outcome,
                Err(_) => return End::WriterGone,
            };
        stats.messages += outcome.new_messages as u64;
        if outcome.had_messages {
            last_msg = Instant::now();
        }
        if let Some(ack) = outcome.ack {
            if let Err(e) = send(ws, ack) {
                log::debug!("ack not sent error={e}");
                return End::SendFailed;
            }
            metrics.acks_sent.inc();
        }
        if outcome.stream_ended {
            close_quietly(ws);
            return End::StreamEnded;
        }
        if outcome.close {
            close_quietly(ws);
            return End::ServerClose;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{RawMessages, Secret};
    use crate::event::Event;
    use crate::metrics::Metrics;
    use crate::pipe::EventSender;
    use crate::shutdown::Shutdown;
    use crate::status::Status;
    use crate::tiktok::connect::{self, SocketRequest};
    use crate::tiktok::fake_push::{bare_frame, control, msg_frame, serve};
    use crate::tiktok::proto::HeartBeatMessage;
    use crate::tiktok::web::Browser;
    use prost::Message as _;
    use std::sync::Arc;

    const ROOM: u64 = 7140000000000000001;

    struct Client {
        ctx: ReaderContext,
        rx: crossbeam_channel::Receiver<Box<Event>>,
        timings: ReaderTimings,
    }

    fn client() -> Client {
        let metrics = Arc::new(Metrics::new());
        let (tx, rx) = crossbeam_channel::bounded(1000);
        Client {
            ctx: ReaderContext {
                sender: EventSender::events(tx, metrics.clone()),
                metrics,
                status: Arc::new(Status::new()),
                shutdown: Shutdown::new(),
                raw_messages: RawMessages::Unknown,
            },
            rx,
            timings: ReaderTimings {
                read_timeout: Duration::from_millis(50),
                heartbeat: Duration::from_millis(100),
                connect_timeout: Duration::from_secs(2),
                ..ReaderTimings::standard()
            },
        }
    }

    fn run_against(port: u16, c: &Client, initial: &ProtoMessageFetchResult) -> (End, LiveStats) {
        let fetch = ProtoMessageFetchResult {
            push_server: format!("ws://127.0.0.1:{port}/ws"),
            cursor: "c".into(),
            ..Default::default()
        };
        let request = SocketRequest {
            url: connect::socket_url(&fetch, ROOM, &Browser::from_user_agent("UA/1"), 150),
            user_agent: "UA/1".into(),
            cookie: Secret::new("ttwid=1".into()),
            origin: "http://127.0.0.1".into(),
            proxy: None,
        };
        let mut socket = connect::open(&request, &c.timings).unwrap();
        let mut handler = FrameHandler::new(ROOM, c.ctx.metrics.clone());
        let mut stats = LiveStats::default();
        let mut recorder = Recorder::open(None, "h", ROOM, 0, &c.ctx.metrics);
        let end = run(
            &mut socket,
            ROOM,
            initial,
            &mut handler,
            &c.ctx,
            &c.timings,
            &mut recorder,
            &mut stats,
        );
        (end, stats)
    }

    #[test]
    fn enters_heartbeats_acks_and_ends_with_the_stream() {
        let (port, server) = serve(1, |_, s| {
            assert!(s.wait_for(Duration::from_secs(2), |f| !f.is_empty()));
            assert_eq!(s.received[0].payload_type, "im_enter_room");
            s.send(msg_frame(
                77,
                vec![control(1, ROOM, 1), control(2, ROOM, 1)],
            ));
            s.pump(Duration::from_millis(380));
            s.send(msg_frame(78, vec![control(3, ROOM, 3)]));
            s.wait_for(Duration::from_secs(2), |_| false);
            (s.received.clone(), s.closed)
        });
        let c = client();
        let initial = ProtoMessageFetchResult {
            messages: vec![control(1, ROOM, 1)],
            ..Default::default()
        };
        let (end, stats) = run_against(port, &c, &initial);
        assert_eq!(end, End::StreamEnded);
        assert_eq!((stats.frames, stats.messages), (2, 3));
        let (received, closed) = server.join().unwrap().pop().unwrap();
        assert!(closed, "the client closes the websocket at stream end");
        let enter =
            crate::tiktok::proto::WebcastImEnterRoomMessage::decode(received[0].payload.as_slice())
                .unwrap();
        assert_eq!(enter.room_id, ROOM);
        let seqs: Vec<u64> = received
            .iter()
            .filter(|f| f.payload_type == "hb")
            .map(|f| {
                let hb = HeartBeatMessage::decode(f.payload.as_slice()).unwrap();
                assert_eq!(hb.room_id, ROOM);
                hb.send_packet_seq_id
            })
            .collect();
        assert!(seqs.len() >= 3, "{seqs:?}");
        assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
        let acks: Vec<(u64, Vec<u8>)> = received
            .iter()
            .filter(|f| f.payload_type == "ack")
            .map(|f| (f.log_id, f.payload.clone()))
            .collect();
        assert_eq!(
            acks,
            vec![(77, b"ext-77".to_vec()), (78, b"ext-78".to_vec())]
        );
        assert_eq!(c.ctx.metrics.acks_sent.get(), 2);
        let ids: Vec<u64> = c.rx.try_iter().map(|e| e.meta().msg_id).collect();
        assert_eq!(
            ids,
            [1, 2, 3],
            "message 1 of the first batch is stored once"
        );
    }

    #[test]
    fn close_frame_ends_the_stream() {
        let (port, server) = serve(1, |_, s| {
            s.wait_for(Duration::from_secs(2), |f| !f.is_empty());
            s.send(bare_frame("close"));
            s.wait_for(Duration::from_secs(2), |_| false);
        });
        let c = client();
        let (end, _) = run_against(port, &c, &ProtoMessageFetchResult::default());
        assert_eq!(end, End::ServerClose);
        server.join().unwrap();
    }

    #[test]
    fn watchdog_ends_a_silent_socket_and_one_without_messages() {
        let (port, server) = serve(2, |i, s| {
            s.wait_for(Duration::from_secs(2), |f| !f.is_empty());
            let end = Instant::now() + Duration::from_millis(1500);
            while Instant::now() < end && !s.closed {
                if i == 1 {
                    s.send(bare_frame("hb"));
                }
                s.pump(Duration::from_millis(60));
            }
        });
        let mut c = client();
        c.timings.frame_silence = Duration::from_millis(300);
        c.timings.msg_silence = Duration::from_millis(600);
        let t = Instant::now();
        let (end, _) = run_against(port, &c, &ProtoMessageFetchResult::default());
        assert_eq!(end, End::FrameSilence);
        assert!(
            t.elapsed() < Duration::from_millis(1200),
            "{:?}",
            t.elapsed()
        );
        let (end, stats) = run_against(port, &c, &ProtoMessageFetchResult::default());
        assert_eq!(end, End::MsgSilence);
        assert!(stats.frames >= 3);
        server.join().unwrap();
    }

    #[test]
    fn shutdown_is_prompt_and_closes_the_websocket() {
        let (port, server) = serve(1, |_, s| {
            s.wait_for(Duration::from_secs(3), |_| false);
            s.closed
        });
        let c = client();
        let trip = c.ctx.shutdown.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            trip.trigger();
        });
        let t = Instant::now();
        let (end, _) = run_against(port, &c, &ProtoMessageFetchResult::default());
        assert_eq!(end, End::Shutdown);
        assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
        assert!(server.join().unwrap()[0], "the server saw our close frame");
    }

    #[test]
    fn dropped_tcp_is_a_closed_connection() {
        let (port, server) = serve(1, |_, s| {
            s.wait_for(Duration::from_secs(2), |f| !f.is_empty());
        });
        let c = client();
        let (end, _) = run_against(port, &c, &ProtoMessageFetchResult::default());
        assert_eq!(end, End::Closed);
        server.join().unwrap();
    }
}
