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
//! UTF-8 sequence from the network never fails a whole message. They are `bytes::Bytes`: the
//! fetch result is decoded from one `Bytes` buffer, so every message payload and every text
//! field is a slice of it, not a copy (decoding speed, issue 6).
//!
//! Files by area: `transport` (socket envelopes), `common` (header, user, text, image),
//! `messages` (core audience events), `room` (room texts, pins, deletions, notices),
//! `interact` (questions, subscriptions, envelopes, polls, goals, ranks), `battle` (battles and
//! link-mic), `commerce` (gift panel, shopping, partnerships, games). Together they cover the 62
//! methods of PROTOCOL.md §5.1; `tiktok::convert` maps each method to its type.
//!
//! Owns: wire layouts. Must not touch: I/O, conversion to events.
#![allow(clippy::derive_partial_eq_without_eq)]

pub mod battle;
pub mod commerce;
pub mod common;
pub mod interact;
pub mod messages;
pub mod room;
pub mod transport;

pub use battle::*;
pub use commerce::*;
pub use common::*;
pub use interact::*;
pub use messages::*;
pub use room::*;
pub use transport::*;
