//! The fake's bytes on the wire, both ways (PROTOCOL.md §3.3, §4): capture frames re-stamped
//! with fresh log ids, the sign server's fetch result, the stream-end, malformed, close,
//! heartbeat-echo and enter-room-answer frames, and the decoding of what the client sends.
//!
//! Pure: no sockets, no clocks (callers pass the time), no recording.

use prost::Message;

use super::record::ClientFrameKind;
use crate::tiktok::frame::{self, encode_msg_frame, envelope, FrameKind};
use crate::tiktok::proto::{
    BaseProtoMessage, CommonMessageData, HeartBeatMessage, ProtoMessageFetchResult,
    WebcastControlMessage, WebcastImEnterRoomMessage, WebcastPushFrame,
};

/// Log ids handed out by a fake start here: above 2^63, so a client that stores them in an
/// `i64` or a float gets them wrong.
pub const FIRST_LOG_ID: u64 = 9_300_000_000_000_000_001;

/// Message ids of the messages the fake makes up (stream end) start here.
pub const FIRST_OWN_MSG_ID: u64 = 7_400_000_000_000_000_001;

/// One frame of a capture file, decoded once at load time. Only what the fake needs is kept,
/// not the inflated fetch result (61 KB a frame in the benchmark corpus, whose 1 M-event runs
/// stream 42 000 frames): its envelopes are decoded again on the rare occasions they are needed.
#[derive(Clone, Debug)]
pub struct StreamFrame {
    /// The captured push frame; `None` when the bytes are not one (then `raw` is sent as-is).
    push: Option<WebcastPushFrame>,
    /// The bytes, kept only when they are not a push frame.
    raw: Vec<u8>,
    need_ack: bool,
    internal_ext: String,
    /// `(method, msg_id)` of the messages inside.
    messages: Vec<(String, u64)>,
    ends_stream: bool,
}

impl StreamFrame {
    pub fn parse(bytes: Vec<u8>) -> StreamFrame {
        let push = WebcastPushFrame::decode(bytes.as_slice()).ok();
        let result = match frame::decode(&bytes) {
            Ok(f) => match f.kind {
                FrameKind::Messages(r) => Some(r),
                FrameKind::Control(_) | FrameKind::Close => None,
            },
            Err(_) => None,
        };
        let envelopes = result.as_ref().map_or(&[][..], |r| r.messages.as_slice());
        StreamFrame {
            raw: if push.is_some() { Vec::new() } else { bytes },
            push,
            need_ack: result.as_ref().is_some_and(|r| r.need_ack),
            internal_ext: result
                .as_ref()
                .map_or(String::new(), |r| r.internal_ext.clone()),
            messages: envelopes
                .iter()
                .map(|m| (m.method.clone(), m.msg_id))
                .collect(),
            ends_stream: envelopes.iter().any(|m| {
                m.method == "WebcastControlMessage"
                    && WebcastControlMessage::decode(m.payload.as_ref())
                        .is_ok_and(|c| matches!(c.action, 3 | 4))
            }),
        }
    }

    pub fn need_ack(&self) -> bool {
        self.need_ack
    }

    pub fn internal_ext(&self) -> &str {
        &self.internal_ext
    }

    /// The envelopes of the messages inside (decoded again).
    pub fn envelopes(&self) -> Vec<BaseProtoMessage> {
        let decoded = self
            .push
            .as_ref()
            .map(|p| frame::decode(&p.encode_to_vec()));
        match decoded {
            Some(Ok(frame::Frame {
                kind: FrameKind::Messages(r),
                ..
            })) => r.messages,
            _ => Vec::new(),
        }
    }

    /// Whether a client leaves after this frame: it holds a `WebcastControlMessage` with action
    /// 3 (ended by the host) or 4 (suspended by TikTok).
    pub fn ends_stream(&self) -> bool {
        self.ends_stream
    }

    /// `(method, msg_id)` of the messages inside.
    pub fn messages(&self) -> Vec<(String, u64)> {
        self.messages.clone()
    }

    /// The frame's bytes with this sequence and log id (undecodable frames go out unchanged).
    pub fn encode(&self, seq_id: u64, log_id: u64) -> Vec<u8> {
        match &self.push {
            Some(push) => WebcastPushFrame {
                seq_id,
                log_id,
                ..push.clone()
            }
            .encode_to_vec(),
            None => self.raw.clone(),
        }
    }
}

/// What the sign endpoint puts in a 200 answer besides the first batch.
pub struct SignAnswer<'a> {
    pub push_server: &'a str,
    /// The one-time token, carried as route param `wrss`.
    pub token: &'a str,
    /// Numbers the cursor and internal_ext.
    pub serial: usize,
    pub now_ms: i64,
}

/// The sign server's body: a raw (not gzip'd, not framed) fetch result (§3.3).
pub fn sign_result(answer: &SignAnswer, first_batch: Vec<BaseProtoMessage>) -> Vec<u8> {
    let route_params = [
        ("wrss".to_string(), answer.token.to_string()),
        // TikTok sends keys with empty values too; clients skip those (§3.4).
        ("imprp".to_string(), String::new()),
    ]
    .into_iter()
    .collect();
    ProtoMessageFetchResult {
        messages: first_batch,
        cursor: format!("{}_fake_cursor_{}", answer.now_ms, answer.serial),
        fetch_interval: 1000,
        now: answer.now_ms,
        internal_ext: format!("internal_src:fake|sign:{}", answer.serial),
        fetch_type: 1,
        route_params,
        heartbeat_duration: 10_000,
        // As on the wire; clients must still not ACK the sign result (§4.7).
        need_ack: true,
        push_server: answer.push_server.to_string(),
        is_first: true,
    }
    .encode_to_vec()
}

/// A `msg` frame holding one `WebcastControlMessage` with action 3 (stream ended by the host),
/// and the `internal_ext` its ACK must carry.
pub fn stream_end_frame(
    seq_id: u64,
    log_id: u64,
    room_id: u64,
    msg_id: u64,
    now_ms: i64,
) -> (Vec<u8>, String) {
    let control = WebcastControlMessage {
        common: Some(CommonMessageData {
            msg_id,
            room_id,
            create_time: now_ms,
            ..Default::default()
        }),
        action: 3,
        ..Default::default()
    };
    let internal_ext = format!("internal_src:fake|end:{msg_id}");
    let result = ProtoMessageFetchResult {
        messages: vec![envelope(
            "WebcastControlMessage",
            msg_id,
            control.encode_to_vec(),
        )],
        cursor: format!("{now_ms}_fake_end"),
        now: now_ms,
        internal_ext: internal_ext.clone(),
        need_ack: true,
        ..Default::default()
    };
    (encode_msg_frame(seq_id, log_id, &result), internal_ext)
}

/// A `msg` frame announcing gzip whose payload is a gzip stream cut short: it decodes as a push
/// frame, but its fetch result cannot be read.
pub fn malformed_frame(seq_id: u64, log_id: u64) -> Vec<u8> {
    let whole = frame::gzip(b"this fetch result is never complete");
    frame::gzip_msg_frame(seq_id, log_id, whole[..whole.len() / 2].to_vec())
}

/// A server push frame without a fetch result (`close`, `hb`, `im_enter_room_resp`).
pub fn control_frame(payload_type: &str, seq_id: u64, log_id: u64, payload: Vec<u8>) -> Vec<u8> {
    WebcastPushFrame {
        seq_id,
        log_id,
        payload_encoding: "pb".into(),
        payload_type: payload_type.into(),
        payload,
        ..Default::default()
    }
    .encode_to_vec()
}

/// What one binary frame from the client is.
pub fn decode_client_frame(bytes: &[u8]) -> ClientFrameKind {
    let Ok(push) = WebcastPushFrame::decode(bytes) else {
        return ClientFrameKind::Invalid { len: bytes.len() };
    };
    match push.payload_type.as_str() {
        "im_enter_room" => match WebcastImEnterRoomMessage::decode(push.payload.as_slice()) {
            Ok(m) => ClientFrameKind::EnterRoom {
                room_id: m.room_id,
                live_id: m.live_id,
                identity: m.identity,
                filter_welcome_msg: m.filter_welcome_msg,
            },
            Err(_) => ClientFrameKind::Invalid { len: bytes.len() },
        },
        "hb" => match HeartBeatMessage::decode(push.payload.as_slice()) {
            Ok(m) => ClientFrameKind::Heartbeat {
                room_id: m.room_id,
                seq: m.send_packet_seq_id,
            },
            Err(_) => ClientFrameKind::Invalid { len: bytes.len() },
        },
        "ack" => ClientFrameKind::Ack {
            log_id: push.log_id,
            payload: push.payload,
            payload_encoding: push.payload_encoding,
        },
        _ => ClientFrameKind::Other {
            payload_type: push.payload_type,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tiktok::frame::{decode, encode_ack, encode_enter_room, encode_heartbeat};

    fn capture_frame() -> Vec<u8> {
        let result = ProtoMessageFetchResult {
            messages: vec![envelope("WebcastChatMessage", 11, vec![1])],
            need_ack: true,
            internal_ext: "ext-1".into(),
            ..Default::default()
        };
        encode_msg_frame(4, 5, &result)
    }

    #[test]
    fn stream_frames_are_restamped_and_keep_their_messages() {
        let frame = StreamFrame::parse(capture_frame());
        assert!(frame.need_ack());
        assert_eq!(frame.internal_ext(), "ext-1");
        assert_eq!(
            frame.messages(),
            vec![("WebcastChatMessage".to_string(), 11)]
        );
        let decoded = decode(&frame.encode(77, FIRST_LOG_ID)).unwrap();
        assert_eq!((decoded.seq_id, decoded.log_id), (77, FIRST_LOG_ID));
        assert!(matches!(decoded.kind, FrameKind::Messages(r) if r.messages[0].msg_id == 11));

        let garbage = StreamFrame::parse(vec![0xff, 0xff]);
        assert!(!garbage.need_ack() && garbage.messages().is_empty());
        assert_eq!(garbage.encode(1, 2), vec![0xff, 0xff]);
    }

    #[test]
    fn sign_result_carries_what_clients_check() {
        let answer = SignAnswer {
            push_server: "ws://127.0.0.1:9/webcast/im/ws_proxy/ws_reuse_supplement/",
            token: "tok",
            serial: 3,
            now_ms: 1_700_000_000_000,
        };
        let body = sign_result(&answer, vec![envelope("WebcastLikeMessage", 8, vec![])]);
        let r = ProtoMessageFetchResult::decode(body.as_slice()).unwrap();
        assert!(r.is_first && !r.cursor.is_empty() && !r.internal_ext.is_empty());
        assert_eq!(r.push_server, answer.push_server);
        assert_eq!(r.route_params["wrss"], "tok");
        assert_eq!(r.messages.len(), 1);
    }

    #[test]
    fn stream_end_malformed_and_control_frames_decode_as_intended() {
        let (end, ext) = stream_end_frame(1, 2, 3, FIRST_OWN_MSG_ID, 1_700_000_000_000);
        let f = decode(&end).unwrap();
        let FrameKind::Messages(r) = f.kind else {
            panic!("stream end is a msg frame")
        };
        assert_eq!((f.log_id, r.internal_ext.as_str()), (2, ext.as_str()));
        let control = WebcastControlMessage::decode(r.messages[0].payload.as_ref()).unwrap();
        assert_eq!(control.action, 3);

        assert!(matches!(
            decode(&malformed_frame(1, 2)),
            Err(frame::DecodeError::Gunzip(_))
        ));
        assert!(matches!(
            decode(&control_frame("close", 1, 0, vec![])).unwrap().kind,
            FrameKind::Close
        ));
    }

    #[test]
    fn client_frames_are_recognised() {
        assert_eq!(
            decode_client_frame(&encode_enter_room(42)),
            ClientFrameKind::EnterRoom {
                room_id: 42,
                live_id: 12,
                identity: "audience".into(),
                filter_welcome_msg: "0".into()
            }
        );
        assert_eq!(
            decode_client_frame(&encode_heartbeat(42, 7)),
            ClientFrameKind::Heartbeat {
                room_id: 42,
                seq: 7
            }
        );
        assert_eq!(
            decode_client_frame(&encode_ack(FIRST_LOG_ID, "ext")),
            ClientFrameKind::Ack {
                log_id: FIRST_LOG_ID,
                payload: b"ext".to_vec(),
                payload_encoding: "pb".into()
            }
        );
        assert_eq!(
            decode_client_frame(&[0xff, 0xff, 0xff]),
            ClientFrameKind::Invalid { len: 3 }
        );
    }
}
