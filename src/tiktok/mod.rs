//! TikTok's Webcast protocol: the wire schema, the frame codec, conversion of messages to
//! events, and the handler every frame source shares.
//!
//! Must not touch: rows, ClickHouse.

pub mod convert;
pub mod dedupe;
pub mod frame;
pub mod handler;
pub mod proto;
