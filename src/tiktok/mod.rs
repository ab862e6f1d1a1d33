//! TikTok's Webcast protocol: the wire schema, the frame codec, conversion of messages to
//! events, the handler every frame source shares, and the live client — room lookup (`web`),
//! signing (`sign`), the socket (`connect`, `live`), capture files (`record`), the per-host
//! daemon (`session`) and what its readers share (`pace`).
//!
//! Must not touch: rows, ClickHouse.

pub mod backoff;
pub mod connect;
pub mod convert;
pub mod dedupe;
#[cfg(test)]
pub mod fake_http;
#[cfg(test)]
pub mod fake_push;
pub mod frame;
pub mod handler;
pub mod live;
pub mod pace;
pub mod proto;
pub mod record;
pub mod session;
pub mod sign;
pub mod web;
