//! Frame bytes → events into the pipe: the path every source shares (live socket, sign-server
//! first batch, DEBUG_MODE demo, replayed captures).
//!
//! Decodes the frame (`frame`), converts each message (`convert`), skips messages already seen
//! (`dedupe`), counts everything, and tells the caller what the frame asks of it: an ACK to
//! send, a stream that ended, a server that wants the socket closed.
//!
//! Besides each message's event it sends, per `RAW_MESSAGES`, the message whole as
//! `Event::Raw` (mode `all`; `unknown` keeps only the raw events of unknown or broken messages,
//! `off` none), and an `Event::User` for each user the message shows that this reader has not
//! reported lately (`RecentUsers`), which feeds the `users` dimension.
//!
//! Must not touch: sockets (the caller sends the ACK), ClickHouse.

use std::sync::Arc;

use super::convert::convert;
use super::dedupe::{Dedupe, RecentUsers};
use super::frame::{self, FrameKind};
use super::proto::ProtoMessageFetchResult;
use crate::config::RawMessages;
use crate::event::{Event, Raw, UserSeen};
use crate::metrics::{method_label, Metrics};
use crate::pipe::{EventSender, WriterGone};

/// Message ids remembered per reader for deduplication.
pub const DEDUPE_CAPACITY: usize = 100_000;
/// A user unchanged since their last report is reported again after this much event time.
pub const USER_REPORT_WINDOW_MS: i64 = 10 * 60 * 1000;
/// Users remembered per reader for `USER_REPORT_WINDOW_MS`.
pub const RECENT_USERS_CAPACITY: usize = 50_000;

/// What a frame asks of the connection.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The ACK frame to send back, if the fetch result asked for one.
    pub ack: Option<Vec<u8>>,
    /// A control message ended the stream (action 3 or 4).
    pub stream_ended: bool,
    /// The server sent a `close` frame.
    pub close: bool,
    /// The frame carried a fetch result (`msg`), as opposed to hb/ack/enter-room echoes.
    pub had_messages: bool,
    /// Messages new to this reader, handed to the writer.
    pub new_messages: usize,
}

pub struct FrameHandler {
    room_id: u64,
    dedupe: Dedupe,
    users: RecentUsers,
    raw_messages: RawMessages,
    metrics: Arc<Metrics>,
}

impl FrameHandler {
    pub fn new(room_id: u64, metrics: Arc<Metrics>) -> FrameHandler {
        FrameHandler {
            room_id,
            dedupe: Dedupe::new(DEDUPE_CAPACITY),
            users: RecentUsers::new(USER_REPORT_WINDOW_MS, RECENT_USERS_CAPACITY),
            raw_messages: RawMessages::Unknown,
            metrics,
        }
    }

    /// Which messages are also sent whole (`RAW_MESSAGES`); `Unknown` unless set.
    pub fn with_raw_messages(mut self, mode: RawMessages) -> FrameHandler {
        self.raw_messages = mode;
        self
    }

    /// The room used for messages whose header carries none; set when (re)connecting.
    pub fn set_room(&mut self, room_id: u64) {
        self.room_id = room_id;
    }

    /// Handles one binary websocket frame. An undecodable frame is counted and skipped: it
    /// returns an empty outcome, never an error, so the connection goes on.
    pub fn handle_frame(
        &mut self,
        bytes: &[u8],
        out: &EventSender,
        idle: &mut dyn FnMut(),
    ) -> Result<Outcome, WriterGone> {
        self.metrics.frames_received.inc();
        self.metrics.bytes_received.inc_by(bytes.len() as u64);
        let frame = match frame::decode(bytes) {
            Ok(f) => f,
            Err(e) => {
                self.metrics
                    .frames_invalid
                    .with_label_values(&[e.kind()])
                    .inc();
                log::debug!("frame skipped bytes={} error={e}", bytes.len());
                return Ok(Outcome::default());
            }
        };
        match frame.kind {
            FrameKind::Messages(result) => {
                let mut outcome = self.handle_fetch_result(&result, out, idle)?;
                if result.need_ack {
                    outcome.ack = Some(frame::encode_ack(frame.log_id, &result.internal_ext));
                }
                Ok(outcome)
            }
            FrameKind::Close => Ok(Outcome {
                close: true,
                ..Outcome::default()
            }),
            FrameKind::Control(kind) => {
                log::trace!("control frame type={kind}");
                Ok(Outcome::default())
            }
        }
    }

    /// Handles the messages of one fetch result (from a frame or from the sign server).
    pub fn handle_fetch_result(
        &mut self,
        result: &ProtoMessageFetchResult,
        out: &EventSender,
        idle: &mut dyn FnMut(),
    ) -> Result<Outcome, WriterGone> {
        let mut outcome = Outcome {
            had_messages: true,
            ..Outcome::default()
        };
        for msg in &result.messages {
            self.metrics
                .messages_received
                .with_label_values(&[method_label(&msg.method)])
                .inc();
            let event = convert(msg, self.room_id);
            if !self.dedupe.first_time(event.meta().msg_id) {
                self.metrics.messages_duplicate.inc();
                continue;
            }
            match &event {
                Event::Raw(raw) if raw.error.is_some() => {
                    self.metrics
                        .decode_errors
                        .with_label_values(&[method_label(&raw.method)])
                        .inc();
                    log::debug!(
                        "message stored raw method={} msg_id={} error={}",
                        raw.method,
                        raw.meta.msg_id,
                        raw.error.as_deref().unwrap_or("")
                    );
                }
                Event::Control(c) if c.action.ends_stream() => outcome.stream_ended = true,
                _ => {}
            }
            let users: Vec<Event> = event
                .users()
                .into_iter()
                .filter(|u| self.users.should_report(u, event.meta().time_ms))
                .map(|u| {
                    Event::User(UserSeen {
                        meta: event.meta().clone(),
                        user: u.clone(),
                    })
                })
                .collect();
            let is_raw = matches!(event, Event::Raw(_));
            match (self.raw_messages, is_raw) {
                (RawMessages::Off, true) => {
                    self.metrics.raw_skipped.inc();
                }
                (RawMessages::All, false) => {
                    let raw = Event::Raw(Raw {
                        meta: event.meta().clone(),
                        method: msg.method.clone(),
                        payload: msg.payload.to_vec(),
                        error: None,
                    });
                    out.send(event, idle)?;
                    out.send(raw, idle)?;
                }
                _ => out.send(event, idle)?,
            }
            for user in users {
                out.send(user, idle)?;
            }
            outcome.new_messages += 1;
        }
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tiktok::frame::{encode_msg_frame, envelope};
    use crate::tiktok::proto::{CommonMessageData, WebcastControlMessage};
    use bytes::Bytes;
    use prost::Message;

    fn control(msg_id: u64, action: i32) -> crate::tiktok::proto::BaseProtoMessage {
        let m = WebcastControlMessage {
            common: Some(CommonMessageData {
                msg_id,
                room_id: 5,
                create_time: 1,
                ..Default::default()
            }),
            action,
            ..Default::default()
        };
        envelope("WebcastControlMessage", msg_id, m.encode_to_vec())
    }

    #[test]
    fn acks_dedupes_and_sees_stream_end() {
        let metrics = Arc::new(Metrics::new());
        let (tx, rx) = crossbeam_channel::bounded(100);
        let out = EventSender::events(tx, metrics.clone());
        let mut h = FrameHandler::new(5, metrics.clone());
        let result = ProtoMessageFetchResult {
            messages: vec![control(1, 1), control(1, 1), control(2, 3)],
            need_ack: true,
            internal_ext: "ext".into(),
            ..Default::default()
        };
        let outcome = h
            .handle_frame(&encode_msg_frame(1, 77, &result), &out, &mut || {})
            .unwrap();
        assert_eq!(outcome.ack, Some(frame::encode_ack(77, "ext")));
        assert!(outcome.stream_ended);
        assert_eq!(outcome.new_messages, 2);
        assert_eq!(rx.len(), 2);
        assert_eq!(metrics.messages_duplicate.get(), 1);
        let again = h
            .handle_frame(&encode_msg_frame(2, 78, &result), &out, &mut || {})
            .unwrap();
        assert_eq!(again.new_messages, 0);
    }

    fn chat(msg_id: u64, user_id: u64) -> crate::tiktok::proto::BaseProtoMessage {
        let m = crate::tiktok::proto::WebcastChatMessage {
            common: Some(CommonMessageData {
                msg_id,
                room_id: 5,
                create_time: 1_717_000_000_000,
                ..Default::default()
            }),
            user: Some(crate::tiktok::proto::User {
                id: user_id,
                nickname: Bytes::from_static(b"Viewer"),
                ..Default::default()
            }),
            content: Bytes::from_static(b"hi"),
            ..Default::default()
        };
        envelope("WebcastChatMessage", msg_id, m.encode_to_vec())
    }

    fn kinds(
        mode: RawMessages,
        messages: Vec<crate::tiktok::proto::BaseProtoMessage>,
    ) -> (Vec<&'static str>, u64) {
        let metrics = Arc::new(Metrics::new());
        let (tx, rx) = crossbeam_channel::bounded(100);
        let out = EventSender::events(tx, metrics.clone());
        let mut h = FrameHandler::new(5, metrics.clone()).with_raw_messages(mode);
        let result = ProtoMessageFetchResult {
            messages,
            ..Default::default()
        };
        h.handle_fetch_result(&result, &out, &mut || {}).unwrap();
        (
            rx.try_iter().map(|e| e.kind()).collect(),
            metrics.raw_skipped.get(),
        )
    }

    #[test]
    fn users_are_reported_once_per_window() {
        let (k, _) = kinds(
            RawMessages::Unknown,
            vec![chat(1, 9), chat(2, 9), chat(3, 8)],
        );
        assert_eq!(k, ["chat", "user", "chat", "chat", "user"]);
    }

    #[test]
    fn raw_messages_mode_decides_what_is_kept_whole() {
        let unknown = || envelope("WebcastBrandNewMessage", 7, vec![]);
        let (k, skipped) = kinds(RawMessages::All, vec![chat(1, 0), unknown()]);
        assert_eq!((k, skipped), (vec!["chat", "raw", "raw"], 0));
        let (k, skipped) = kinds(RawMessages::Unknown, vec![chat(1, 0), unknown()]);
        assert_eq!((k, skipped), (vec!["chat", "raw"], 0));
        let (k, skipped) = kinds(RawMessages::Off, vec![chat(1, 0), unknown()]);
        assert_eq!((k, skipped), (vec!["chat"], 1));
    }

    #[test]
    fn malformed_frame_is_counted_and_skipped() {
        let metrics = Arc::new(Metrics::new());
        let (tx, _rx) = crossbeam_channel::bounded(1);
        let out = EventSender::events(tx, metrics.clone());
        let mut h = FrameHandler::new(5, metrics.clone());
        assert_eq!(
            h.handle_frame(&[0xff, 0x00, 0x13], &out, &mut || {})
                .unwrap(),
            Outcome::default()
        );
        assert_eq!(
            metrics
                .frames_invalid
                .with_label_values(&["push_frame"])
                .get(),
            1
        );
    }
}
