//! Transport messages of the Webcast socket (PROTOCOL.md §4, Appendix A): the push frame, the
//! fetch result it carries, the per-message envelope, and the client's heartbeat and enter-room.

/// One binary websocket frame (§4.1).
#[derive(Clone, PartialEq, prost::Message)]
pub struct WebcastPushFrame {
    #[prost(uint64, tag = "1")]
    pub seq_id: u64,
    #[prost(uint64, tag = "2")]
    pub log_id: u64,
    #[prost(uint64, tag = "3")]
    pub service: u64,
    #[prost(uint64, tag = "4")]
    pub method: u64,
    #[prost(message, repeated, tag = "5")]
    pub headers: Vec<PushHeader>,
    #[prost(string, tag = "6")]
    pub payload_encoding: String,
    #[prost(string, tag = "7")]
    pub payload_type: String,
    #[prost(bytes = "vec", tag = "8")]
    pub payload: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct PushHeader {
    #[prost(string, tag = "1")]
    pub key: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

/// The batch of room messages inside a `msg` frame, and the sign server's body (§4.3).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ProtoMessageFetchResult {
    #[prost(message, repeated, tag = "1")]
    pub messages: Vec<BaseProtoMessage>,
    #[prost(string, tag = "2")]
    pub cursor: String,
    #[prost(int64, tag = "3")]
    pub fetch_interval: i64,
    #[prost(int64, tag = "4")]
    pub now: i64,
    #[prost(string, tag = "5")]
    pub internal_ext: String,
    #[prost(int32, tag = "6")]
    pub fetch_type: i32,
    #[prost(map = "string, string", tag = "7")]
    pub route_params: std::collections::HashMap<String, String>,
    #[prost(int64, tag = "8")]
    pub heartbeat_duration: i64,
    #[prost(bool, tag = "9")]
    pub need_ack: bool,
    #[prost(string, tag = "10")]
    pub push_server: String,
    #[prost(bool, tag = "11")]
    pub is_first: bool,
}

/// The per-message envelope (§4.4).
#[derive(Clone, PartialEq, prost::Message)]
pub struct BaseProtoMessage {
    #[prost(string, tag = "1")]
    pub method: String,
    /// Shares the fetch result's buffer (decoded from `Bytes`): no copy per message, and the
    /// message's own text fields are slices of it too.
    #[prost(bytes = "bytes", tag = "2")]
    pub payload: bytes::Bytes,
    #[prost(uint64, tag = "3")]
    pub msg_id: u64,
    #[prost(int32, tag = "4")]
    pub msg_type: i32,
    #[prost(int64, tag = "5")]
    pub offset: i64,
    #[prost(bool, tag = "6")]
    pub is_history: bool,
}

/// Client heartbeat (§4.8).
#[derive(Clone, PartialEq, prost::Message)]
pub struct HeartBeatMessage {
    #[prost(uint64, tag = "1")]
    pub room_id: u64,
    #[prost(uint64, tag = "2")]
    pub send_packet_seq_id: u64,
}

/// Client enter-room request (§4.6).
#[derive(Clone, PartialEq, prost::Message)]
pub struct WebcastImEnterRoomMessage {
    #[prost(uint64, tag = "1")]
    pub room_id: u64,
    #[prost(string, tag = "2")]
    pub room_tag: String,
    #[prost(string, tag = "3")]
    pub live_region: String,
    #[prost(int64, tag = "4")]
    pub live_id: i64,
    #[prost(string, tag = "5")]
    pub identity: String,
    #[prost(string, tag = "6")]
    pub cursor: String,
    #[prost(int64, tag = "7")]
    pub account_type: i64,
    #[prost(int64, tag = "8")]
    pub enter_unique_id: i64,
    #[prost(string, tag = "9")]
    pub filter_welcome_msg: String,
    #[prost(bool, tag = "10")]
    pub is_anchor_continue_keep_msg: bool,
}
