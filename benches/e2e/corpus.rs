//! The benchmark's streams: the corpus played again and again, each pass with every msg id moved
//! by a fixed offset, so that a pass is new to the ingester's dedupe and to ClickHouse (whose
//! tables collapse rows of equal `(room_id, event_time, msg_id)`). Moving an id keeps its varint
//! length, so no length prefix changes: the fetch result is patched in place and gzip'd again at
//! the corpus's level (6), so every pass costs the decoder what the corpus costs.
//!
//! Also the NDJSON the ingester would send for a stream, built with the ingester's own code
//! (frame handler → events → per-table batches), for the "trivial client" that measures
//! ClickHouse's own ingest rate.

use std::sync::Arc;

use chakal_ingest::clickhouse::batch::{Batch, Sealed};
use chakal_ingest::metrics::Metrics;
use chakal_ingest::pipe::EventSender;
use chakal_ingest::tiktok::frame::{gunzip, gzip, MAX_DECOMPRESSED_BYTES};
use chakal_ingest::tiktok::handler::FrameHandler;
use chakal_ingest::tiktok::proto::WebcastPushFrame;
use prost::Message;

/// Pass `p` moves every msg id by `p × PASS_STRIDE` (the corpus's ids lie in 7.44e18–7.45e18,
/// so up to 170 passes stay distinct and below 2^63).
const PASS_STRIDE: u64 = 10_000_000_000_000_000;

/// `passes` passes of `corpus`, one after the other.
pub fn passes(corpus: &[Vec<u8>], passes: usize) -> Vec<Vec<u8>> {
    let mut out = corpus.to_vec();
    for p in 1..passes {
        let offset = p as u64 * PASS_STRIDE;
        out.extend(corpus.iter().map(|f| moved(f, offset)));
    }
    out
}

/// One frame with its msg ids moved by `offset`.
fn moved(frame: &[u8], offset: u64) -> Vec<u8> {
    let mut push = WebcastPushFrame::decode(frame).expect("corpus frames are push frames");
    let mut result = gunzip(&push.payload, MAX_DECOMPRESSED_BYTES).expect("corpus frames gunzip");
    // ProtoMessageFetchResult.messages (1) → BaseProtoMessage: msg_id (3) and payload (2) →
    // the typed message's common (1) → msg_id (2).
    for envelope in fields(&result, 0..result.len(), 1) {
        for id in fields(&result, envelope.clone(), 3) {
            add(&mut result, id, offset);
        }
        for payload in fields(&result, envelope, 2) {
            for common in fields(&result, payload, 1) {
                for id in fields(&result, common, 2) {
                    add(&mut result, id, offset);
                }
            }
        }
    }
    push.payload = gzip(&result);
    push.encode_to_vec()
}

/// Where the values of field `tag` lie in the message at `range` of `buf`: the bytes of a
/// length-delimited value, or the varint itself.
fn fields(buf: &[u8], range: std::ops::Range<usize>, tag: u64) -> Vec<std::ops::Range<usize>> {
    let mut found = Vec::new();
    let mut at = range.start;
    while at < range.end {
        let (key, n) = varint(buf, at);
        at += n;
        let start = at;
        match key & 7 {
            0 => at += varint(buf, at).1,
            1 => at += 8,
            2 => {
                let (len, n) = varint(buf, at);
                at += n + len as usize;
                if key >> 3 == tag {
                    found.push(start + n..at);
                }
                continue;
            }
            5 => at += 4,
            other => panic!("corpus has wire type {other}"),
        }
        if key >> 3 == tag && key & 7 == 0 {
            found.push(start..at);
        }
    }
    found
}

fn varint(buf: &[u8], at: usize) -> (u64, usize) {
    let (mut value, mut n) = (0u64, 0);
    loop {
        let b = buf[at + n];
        value |= u64::from(b & 0x7f) << (7 * n);
        n += 1;
        if b < 0x80 {
            return (value, n);
        }
    }
}

/// Adds `offset` to the varint at `range`, which must keep its length.
fn add(buf: &mut [u8], range: std::ops::Range<usize>, offset: u64) {
    let (value, n) = varint(buf, range.start);
    let mut v = value + offset;
    for i in 0..n {
        let last = i + 1 == n;
        buf[range.start + i] = (v & 0x7f) as u8 | if last { 0 } else { 0x80 };
        v >>= 7;
    }
    assert_eq!(v, 0, "msg id {value} + {offset} needs a longer varint");
}

/// The NDJSON bodies the ingester would insert for `frames`: each table's rows in batches of
/// `batch_rows`, in the order they fill. Also returns the number of message rows (all tables
/// but `users`).
pub fn ndjson(frames: &[Vec<u8>], batch_rows: usize) -> (Vec<Sealed>, usize) {
    let metrics = Arc::new(Metrics::new());
    let (tx, rx) = crossbeam_channel::unbounded();
    let sender = EventSender::rows(tx, metrics.clone());
    let mut handler = FrameHandler::new(0, metrics);
    let mut batches: Vec<Batch> = Vec::new();
    let (mut sealed, mut message_rows) = (Vec::new(), 0);
    for frame in frames {
        handler
            .handle_frame(frame, &sender, &mut || {})
            .expect("the receiver lives");
        for row in rx.try_iter() {
            let table = row.table;
            if table != "users" {
                message_rows += 1;
            }
            let batch = match batches.iter().position(|b| b.table == table) {
                Some(i) => &mut batches[i],
                None => {
                    batches.push(Batch::new(table));
                    batches.last_mut().expect("just pushed")
                }
            };
            batch.push(&row);
            if batch.rows() >= batch_rows {
                sealed.push(batch.take());
            }
        }
    }
    sealed.extend(batches.iter_mut().filter(|b| b.rows() > 0).map(Batch::take));
    (sealed, message_rows)
}
