//! chakal-ingest captures everything that happens in TikTok LIVE rooms and stores it in
//! ClickHouse.
//!
//! Bird's-eye view: one blocking reader thread per room reads websocket frames (or, in
//! DEBUG_MODE, generates them), decodes them — PushFrame → gunzip → fetch result → typed
//! messages → `Event` — and sends the events into a bounded channel. One writer thread turns
//! events into rows, batches them per table, and inserts each batch into ClickHouse over HTTP as
//! JSONEachRow. A third thread serves `/healthz` and Prometheus `/metrics`. Data flows one way:
//! frame → message → event → row → batch → HTTP.
//!
//! Modules, in reading order:

pub mod app;
pub mod clickhouse;
pub mod config;
pub mod demo;
pub mod event;
pub mod fake_tiktok;
pub mod health;
pub mod http;
pub mod metrics;
pub mod pipe;
pub mod redecode;
pub mod replay;
pub mod shutdown;
pub mod status;
pub mod status_page;
pub mod tiktok;
