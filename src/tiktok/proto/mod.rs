//! Protobuf schema of TikTok's Webcast protocol, as prost message types.
//!
//! Written by hand with `#[derive(prost::Message)]` from the field tables in
//! `../shared/PROTOCOL.md` (§4 transport, §5 messages), which in turn come from the v3 schema
//! shipped by TikTokLiveProto 0.2.2 / tiktok-live-proto 0.2.4 and the v2 `.proto` sources of
//! isaackogan/TikTok-Webcast-Protobuf. There is no code generator and no `build.rs`: the derive
//! is the generated code. Only the fields the ingester stores are declared; prost skips every
//! other field, so a partial schema is safe and cheap.
//!
//! Free-text fields that reach ClickHouse (nicknames, handles, chat text, …) are declared as
//! `bytes` and turned into `String` with U+FFFD replacement by `tiktok::convert`, so one invalid
//! UTF-8 sequence from the network never fails a whole message.
//!
//! Owns: wire layouts. Must not touch: I/O, conversion to events.
#![allow(clippy::derive_partial_eq_without_eq)]

pub mod common;
pub mod messages;
pub mod transport;

pub use common::*;
pub use messages::*;
pub use transport::*;
