//! The pure push-frame codec (PROTOCOL.md §4).
//!
//! In: the bytes of one binary websocket frame → `WebcastPushFrame` → (gunzip, by the
//! `compress_type` header with a gzip-magic fallback) → `ProtoMessageFetchResult` → the list of
//! per-message envelopes, which `convert` decodes one by one so a bad message costs only itself.
//! Out: the client's frames — ack, heartbeat, enter-room — and, for the offline demo and the fake
//! TikTok, `msg` frames.
//!
//! Must not touch: sockets, channels, metrics; logging above debug.

use std::io::Write;

use prost::Message;

use super::proto::{
    BaseProtoMessage, HeartBeatMessage, ProtoMessageFetchResult, PushHeader,
    WebcastImEnterRoomMessage, WebcastPushFrame,
};

/// The largest decompressed fetch result accepted (a real one is ≤ 120 KB; this stops gzip bombs).
pub const MAX_DECOMPRESSED_BYTES: usize = 16 * 1024 * 1024;

/// The largest frame accepted, as received (a real one is ≤ 20 KB). Equal to the websocket's
/// message limit (`connect::MAX_MESSAGE_BYTES`); the capture reader's record limit is this too,
/// so every recorded frame replays.
pub const MAX_FRAME_BYTES: usize = 8 * 1024 * 1024;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Why a frame could not be decoded. Each is counted and the frame skipped.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("frame of {len} bytes exceeds {limit} bytes")]
    FrameTooLarge { len: usize, limit: usize },
    #[error("frame is not a PushFrame")]
    PushFrame(#[source] prost::DecodeError),
    #[error("gzip payload is corrupt")]
    Gunzip(#[source] std::io::Error),
    #[error("payload inflates beyond {limit} bytes (gzip bomb?)")]
    TooLarge { limit: usize },
    #[error("payload is not a fetch result")]
    FetchResult(#[source] prost::DecodeError),
}

impl DecodeError {
    /// Every `kind()`.
    pub const KINDS: &'static [&'static str] = &[
        "frame_too_large",
        "push_frame",
        "gunzip",
        "too_large",
        "fetch_result",
    ];

    /// A short, bounded name for metrics labels.
    pub fn kind(&self) -> &'static str {
        match self {
            DecodeError::FrameTooLarge { .. } => "frame_too_large",
            DecodeError::PushFrame(_) => "push_frame",
            DecodeError::Gunzip(_) => "gunzip",
            DecodeError::TooLarge { .. } => "too_large",
            DecodeError::FetchResult(_) => "fetch_result",
        }
    }
}

/// A decoded server frame.
#[derive(Debug)]
pub struct Frame {
    pub log_id: u64,
    pub seq_id: u64,
    pub kind: FrameKind,
}

#[derive(Debug)]
pub enum FrameKind {
    /// `msg`, or an `im_enter_room_resp` that carried a fetch result.
    Messages(ProtoMessageFetchResult),
    /// `hb` echo, `ack`, or an `im_enter_room_resp` without messages.
    Control(String),
    /// The server asks us to close (`close`).
    Close,
}

/// Decodes one frame. Payload types that carry no fetch result come back as `Control`.
pub fn decode(bytes: &[u8]) -> Result<Frame, DecodeError> {
    if bytes.len() > MAX_FRAME_BYTES {
        return Err(DecodeError::FrameTooLarge {
            len: bytes.len(),
            limit: MAX_FRAME_BYTES,
        });
    }
    let push = WebcastPushFrame::decode(bytes).map_err(DecodeError::PushFrame)?;
    let kind = match push.payload_type.as_str() {
        "msg" => FrameKind::Messages(decode_fetch_result(&push)?),
        "im_enter_room_resp" => match decode_fetch_result(&push) {
            Ok(result) if !result.messages.is_empty() || result.need_ack => {
                FrameKind::Messages(result)
            }
            _ => FrameKind::Control(push.payload_type),
        },
        "close" => FrameKind::Close,
        _ => FrameKind::Control(push.payload_type),
    };
    Ok(Frame {
        log_id: push.log_id,
        seq_id: push.seq_id,
        kind,
    })
}

fn decode_fetch_result(push: &WebcastPushFrame) -> Result<ProtoMessageFetchResult, DecodeError> {
    let compress = push
        .headers
        .iter()
        .find(|h| h.key == "compress_type")
        .map(|h| h.value.as_str());
    let gzipped = compress == Some("gzip") || push.payload.starts_with(&GZIP_MAGIC);
    if gzipped {
        let inflated = gunzip(&push.payload, MAX_DECOMPRESSED_BYTES)?;
        ProtoMessageFetchResult::decode(bytes::Bytes::from(inflated))
            .map_err(DecodeError::FetchResult)
    } else {
        ProtoMessageFetchResult::decode(bytes::Bytes::copy_from_slice(&push.payload))
            .map_err(DecodeError::FetchResult)
    }
}

/// Inflates a gzip member, refusing to produce more than `limit` bytes.
///
/// One inflate call into an uninitialised buffer sized by the gzip trailer (ISIZE, the inflated
/// length), instead of `read_to_end`'s zeroed, growing buffer filled in chunks that are each
/// also copied into the sliding window: gunzip −35 % instructions. A false ISIZE (hostile
/// input) costs at most more rounds: the inflater checks the CRC and the length at the end.
pub fn gunzip(data: &[u8], limit: usize) -> Result<Vec<u8>, DecodeError> {
    let stated = match data {
        [.., a, b, c, d] => u32::from_le_bytes([*a, *b, *c, *d]) as usize,
        _ => 0,
    };
    let mut out = Vec::with_capacity(stated.clamp(1, limit + 1));
    let mut inflater = flate2::Decompress::new_gzip(15);
    loop {
        let consumed = usize::try_from(inflater.total_in()).unwrap_or(data.len());
        let status = inflater
            .decompress_vec(
                data.get(consumed..).unwrap_or_default(),
                &mut out,
                flate2::FlushDecompress::Finish,
            )
            .map_err(|e| DecodeError::Gunzip(e.into()))?;
        if out.len() > limit {
            return Err(DecodeError::TooLarge { limit });
        }
        if status == flate2::Status::StreamEnd {
            return Ok(out);
        }
        if out.len() < out.capacity() {
            // Room left but no end: the input ran out.
            return Err(DecodeError::Gunzip(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "gzip stream ends early",
            )));
        }
        let target = out.capacity().saturating_mul(2).min(limit + 1);
        out.reserve_exact(target - out.len());
    }
}

/// Compresses with gzip (level 6, as TikTok's frames).
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(data.len() / 4),
        flate2::Compression::new(6),
    );
    enc.write_all(data).expect("writing to a Vec cannot fail");
    enc.finish().expect("writing to a Vec cannot fail")
}

fn client_frame(payload_type: &str, log_id: u64, payload: Vec<u8>) -> Vec<u8> {
    WebcastPushFrame {
        log_id,
        payload_encoding: "pb".into(),
        payload_type: payload_type.into(),
        payload,
        ..Default::default()
    }
    .encode_to_vec()
}

/// The ACK for a fetch result that asked for one (§4.7): its frame's log id, `internal_ext` as payload.
pub fn encode_ack(log_id: u64, internal_ext: &str) -> Vec<u8> {
    let payload = if internal_ext.is_empty() {
        b"-".to_vec()
    } else {
        internal_ext.as_bytes().to_vec()
    };
    client_frame("ack", log_id, payload)
}

/// A heartbeat (§4.8); `seq` starts at 1 after entering a room.
pub fn encode_heartbeat(room_id: u64, seq: u64) -> Vec<u8> {
    client_frame(
        "hb",
        0,
        HeartBeatMessage {
            room_id,
            send_packet_seq_id: seq,
        }
        .encode_to_vec(),
    )
}

/// The enter-room request sent right after the handshake (§4.6).
pub fn encode_enter_room(room_id: u64) -> Vec<u8> {
    let msg = WebcastImEnterRoomMessage {
        room_id,
        live_id: 12,
        identity: "audience".into(),
        filter_welcome_msg: "0".into(),
        ..Default::default()
    };
    client_frame("im_enter_room", 0, msg.encode_to_vec())
}

/// A server `msg` frame as TikTok sends it: gzip'd fetch result, `compress_type: gzip` header.
pub fn encode_msg_frame(seq_id: u64, log_id: u64, result: &ProtoMessageFetchResult) -> Vec<u8> {
    gzip_msg_frame(seq_id, log_id, gzip(&result.encode_to_vec()))
}

/// A `msg` frame announcing gzip (`compress_type: gzip`) around `payload` as given.
pub fn gzip_msg_frame(seq_id: u64, log_id: u64, payload: Vec<u8>) -> Vec<u8> {
    WebcastPushFrame {
        seq_id,
        log_id,
        service: 5,
        method: 8,
        headers: vec![PushHeader {
            key: "compress_type".into(),
            value: "gzip".into(),
        }],
        payload_encoding: "pb".into(),
        payload_type: "msg".into(),
        payload,
    }
    .encode_to_vec()
}

/// Wraps a typed message in its envelope.
pub fn envelope(method: &str, msg_id: u64, payload: Vec<u8>) -> BaseProtoMessage {
    BaseProtoMessage {
        method: method.into(),
        payload: payload.into(),
        msg_id,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn client_frames_match_protocol_appendix_b() {
        let room = 7140000000000000001;
        assert_eq!(
            hex(&encode_heartbeat(room, 1)),
            "32 02 70 62 3a 02 68 62 42 0c 08 81 80 a8 82 bb 85 98 8b 63 10 01"
        );
        assert_eq!(
            hex(&encode_enter_room(room)),
            "32 02 70 62 3a 0d 69 6d 5f 65 6e 74 65 72 5f 72 6f 6f 6d 42 19 08 81 80 a8 82 bb 85 98 8b 63 20 0c 2a 08 61 75 64 69 65 6e 63 65 4a 01 30"
        );
        assert_eq!(
            hex(&encode_ack(7300000000000000123, "internal_ext_value")),
            "10 fb 80 e8 e2 aa ea b3 a7 65 32 02 70 62 3a 03 61 63 6b 42 12 69 6e 74 65 72 6e 61 6c 5f 65 78 74 5f 76 61 6c 75 65"
        );
    }

    #[test]
    fn msg_frame_round_trips_through_gzip() {
        let result = ProtoMessageFetchResult {
            messages: vec![envelope("WebcastChatMessage", 42, vec![1, 2, 3])],
            need_ack: true,
            internal_ext: "ext".into(),
            ..Default::default()
        };
        let frame = decode(&encode_msg_frame(3, 99, &result)).unwrap();
        assert_eq!((frame.seq_id, frame.log_id), (3, 99));
        match frame.kind {
            FrameKind::Messages(r) => assert_eq!(r, result),
            other => panic!("expected messages, got {other:?}"),
        }
    }

    #[test]
    fn gzip_is_sniffed_without_header() {
        let result = ProtoMessageFetchResult {
            cursor: "c".into(),
            ..Default::default()
        };
        let push = WebcastPushFrame {
            payload_type: "msg".into(),
            payload: gzip(&result.encode_to_vec()),
            ..Default::default()
        };
        match decode(&push.encode_to_vec()).unwrap().kind {
            FrameKind::Messages(r) => assert_eq!(r.cursor, "c"),
            other => panic!("expected messages, got {other:?}"),
        }
    }

    #[test]
    fn gzip_bomb_is_rejected() {
        let bomb = gzip(&vec![0u8; 2 * 1024 * 1024]);
        assert!(matches!(
            gunzip(&bomb, 1024 * 1024),
            Err(DecodeError::TooLarge { .. })
        ));
        assert_eq!(
            gunzip(&bomb, 4 * 1024 * 1024).unwrap().len(),
            2 * 1024 * 1024
        );
    }

    #[test]
    fn the_frame_limit_is_the_websocket_limit() {
        assert_eq!(MAX_FRAME_BYTES, super::super::connect::MAX_MESSAGE_BYTES);
    }

    #[test]
    fn an_oversized_frame_is_refused_before_decoding() {
        let big = vec![0u8; MAX_FRAME_BYTES + 1];
        assert!(matches!(
            decode(&big),
            Err(DecodeError::FrameTooLarge { len, .. }) if len == MAX_FRAME_BYTES + 1
        ));
    }

    #[test]
    fn truncated_or_lying_gzip_is_an_error() {
        let data: Vec<u8> = (0..100_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        let gz = gzip(&data);
        assert_eq!(gunzip(&gz, MAX_DECOMPRESSED_BYTES).unwrap(), data);
        assert!(matches!(
            gunzip(&gz[..gz.len() / 2], MAX_DECOMPRESSED_BYTES),
            Err(DecodeError::Gunzip(_))
        ));
        // A trailer stating fewer bytes than the stream holds: more rounds, then the length check.
        let mut lying = gz.clone();
        let at = lying.len() - 4;
        lying[at..].copy_from_slice(&10u32.to_le_bytes());
        assert!(matches!(
            gunzip(&lying, MAX_DECOMPRESSED_BYTES),
            Err(DecodeError::Gunzip(_))
        ));
        assert!(matches!(gunzip(&[], 10), Err(DecodeError::Gunzip(_))));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(decode(&[0xff, 0xff, 0xff]).is_err());
        let push = WebcastPushFrame {
            payload_type: "msg".into(),
            payload: vec![0x1f, 0x8b, 0, 1],
            ..Default::default()
        };
        assert!(matches!(
            decode(&push.encode_to_vec()),
            Err(DecodeError::Gunzip(_))
        ));
    }

    #[test]
    fn close_and_control_frames() {
        let close = WebcastPushFrame {
            payload_type: "close".into(),
            ..Default::default()
        };
        assert!(matches!(
            decode(&close.encode_to_vec()).unwrap().kind,
            FrameKind::Close
        ));
        let hb = WebcastPushFrame {
            payload_type: "hb".into(),
            ..Default::default()
        };
        assert!(
            matches!(decode(&hb.encode_to_vec()).unwrap().kind, FrameKind::Control(t) if t == "hb")
        );
    }
}
