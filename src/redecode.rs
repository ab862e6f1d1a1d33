//! `chakal-ingest redecode [METHOD…]`: runs the current decoder again over the messages kept
//! whole in `raw_messages` (all of them, or those of the given methods) and inserts the typed
//! rows (and the `users` rows) they now give. Useful after a decoder upgrade, or with
//! `RAW_MESSAGES=all` to rebuild typed tables.
//!
//! Rows are read in pages (`SELECT … FORMAT JSONEachRow`, payload as base64), converted by the
//! same `FrameHandler` the readers use (so dedupe, flags and the users dimension behave the
//! same), batched per table and inserted with content-derived deduplication tokens, so running
//! it twice stores nothing twice. Messages still unknown are not written again: they are in
//! `raw_messages` already.
//!
//! Must not touch: sockets, the writer thread, protobuf fields (conversion is `tiktok::convert`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;

use crate::clickhouse::batch::Batch;
use crate::clickhouse::client::{Client, InsertError};
use crate::clickhouse::row::Row;
use crate::config::RawMessages;
use crate::metrics::Metrics;
use crate::pipe::EventSender;
use crate::tiktok::handler::FrameHandler;
use crate::tiktok::proto::{BaseProtoMessage, ProtoMessageFetchResult};

/// Raw rows read per query.
const PAGE_ROWS: usize = 5_000;
/// A table's batch is inserted once it holds this many rows.
const BATCH_ROWS: usize = 5_000;

/// Why a redecode stopped.
#[derive(Debug, thiserror::Error)]
pub enum RedecodeError {
    #[error("cannot read table `raw_messages`; check CLICKHOUSE_CONN and that the schema is applied: {0}")]
    Read(#[source] InsertError),
    #[error("insert into table `{table}` failed; fix ClickHouse and run redecode again (it is idempotent): {source}")]
    Insert {
        table: &'static str,
        #[source]
        source: InsertError,
    },
    #[error(
        "row {line} of raw_messages is not what redecode expects ({what}); is the schema current?"
    )]
    BadRow { line: usize, what: String },
}

/// What a redecode did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Raw rows read.
    pub read: usize,
    /// Rows inserted, per table.
    pub rows: HashMap<&'static str, usize>,
}

/// Redecodes the raw rows of `methods` (all when empty).
pub fn run(client: &Client, methods: &[String]) -> Result<Summary, RedecodeError> {
    let metrics = Arc::new(Metrics::new());
    let (tx, rx) = crossbeam_channel::unbounded();
    let out = EventSender::rows(tx, metrics.clone());
    let mut handler = FrameHandler::new(0, metrics).with_raw_messages(RawMessages::Off);
    let mut batches: HashMap<&'static str, Batch> = HashMap::new();
    let mut summary = Summary::default();
    let filter = if methods.is_empty() {
        String::new()
    } else {
        let quoted: Vec<String> = methods
            .iter()
            .map(|m| format!("'{}'", m.replace('\\', "\\\\").replace('\'', "\\'")))
            .collect();
        format!("WHERE method IN ({})", quoted.join(", "))
    };
    loop {
        let page = client
            .execute(&format!(
                "SELECT method, toString(room_id) AS room_id, toString(msg_id) AS msg_id, \
                 base64Encode(payload) AS payload_b64 FROM raw_messages FINAL {filter} \
                 ORDER BY room_id, event_time, msg_id LIMIT {PAGE_ROWS} OFFSET {} \
                 FORMAT JSONEachRow",
                summary.read
            ))
            .map_err(RedecodeError::Read)?;
        let mut rows = 0;
        for line in page.lines().filter(|l| !l.trim().is_empty()) {
            rows += 1;
            let (room_id, msg) = parse_row(line, summary.read + rows)?;
            handler.set_room(room_id);
            let result = ProtoMessageFetchResult {
                messages: vec![msg],
                ..Default::default()
            };
            if let Err(gone) = handler.handle_fetch_result(&result, &out, &mut || {}) {
                // The receiver lives as long as this function, so this cannot happen.
                log::error!("bug: redecode channel closed: {gone}");
            }
            for row in rx.try_iter() {
                push(&mut batches, client, &mut summary, &row)?;
            }
        }
        summary.read += rows;
        if rows < PAGE_ROWS {
            break;
        }
    }
    let tables: Vec<&'static str> = batches.keys().copied().collect();
    for table in tables {
        flush(&mut batches, client, &mut summary, table)?;
    }
    Ok(summary)
}

fn parse_row(line: &str, line_no: usize) -> Result<(u64, BaseProtoMessage), RedecodeError> {
    let bad = |what: &str| RedecodeError::BadRow {
        line: line_no,
        what: what.to_string(),
    };
    let v: serde_json::Value =
        serde_json::from_str(line).map_err(|e| bad(&format!("not JSON: {e}")))?;
    let field = |k: &str| v.get(k).and_then(|x| x.as_str());
    let room_id = field("room_id")
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("room_id"))?;
    let msg_id = field("msg_id")
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("msg_id"))?;
    let method = field("method").ok_or_else(|| bad("method"))?.to_string();
    let payload = BASE64
        .decode(field("payload_b64").ok_or_else(|| bad("payload_b64"))?)
        .map_err(|e| bad(&format!("payload_b64: {e}")))?;
    Ok((
        room_id,
        BaseProtoMessage {
            method,
            payload: payload.into(),
            msg_id,
            ..Default::default()
        },
    ))
}

fn push(
    batches: &mut HashMap<&'static str, Batch>,
    client: &Client,
    summary: &mut Summary,
    row: &Row,
) -> Result<(), RedecodeError> {
    let table = row.table;
    let batch = batches.entry(table).or_insert_with(|| Batch::new(table));
    batch.push(row);
    if batch.rows() >= BATCH_ROWS {
        flush(batches, client, summary, table)?;
    }
    Ok(())
}

fn flush(
    batches: &mut HashMap<&'static str, Batch>,
    client: &Client,
    summary: &mut Summary,
    table: &'static str,
) -> Result<(), RedecodeError> {
    let Some(batch) = batches.get_mut(table) else {
        return Ok(());
    };
    if batch.rows() == 0 {
        return Ok(());
    }
    let sealed = batch.take();
    client
        // No shutdown deadline here: the client's own timeout bounds the request.
        .insert(table, &sealed.body, &sealed.dedup_token, Duration::MAX)
        .map_err(|source| RedecodeError::Insert { table, source })?;
    *summary.rows.entry(table).or_default() += sealed.rows;
    log::debug!("redecode flushed table={table} rows={}", sealed.rows);
    Ok(())
}
