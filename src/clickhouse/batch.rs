//! The per-table NDJSON buffer: rows appended as JSON lines, with its row count, size and age,
//! and the content-derived deduplication token that makes a retried insert land once.
//!
//! Must not touch: HTTP, the channel.

use std::ops::Range;
use std::time::{Duration, Instant};

use super::row::Row;

pub struct Batch {
    pub table: &'static str,
    buf: Vec<u8>,
    rows: usize,
    opened: Option<Instant>,
}

/// A batch taken out for insertion (or read back from the spool).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub table: String,
    pub body: Vec<u8>,
    pub rows: usize,
    /// Same body, same token: ClickHouse stores a retried or replayed batch once.
    pub dedup_token: String,
}

impl Batch {
    pub fn new(table: &'static str) -> Batch {
        Batch {
            table,
            buf: Vec::new(),
            rows: 0,
            opened: None,
        }
    }

    /// Appends a row (its line was written by the reader).
    pub fn push(&mut self, row: &Row) {
        self.buf.extend_from_slice(&row.line);
        self.rows += 1;
        self.opened.get_or_insert_with(Instant::now);
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn bytes(&self) -> usize {
        self.buf.len()
    }

    /// When this batch must be flushed at the latest, if it holds anything.
    pub fn deadline(&self, max_age: Duration) -> Option<Instant> {
        self.opened.map(|t| t + max_age)
    }

    /// Takes the rows out, leaving the batch empty.
    pub fn take(&mut self) -> Sealed {
        // The body moves out and the next one is reserved at the same size (untouched until
        // written), instead of copying the rows out: writer thread −10 % CPU under load.
        let next = Vec::with_capacity(self.buf.capacity());
        let body = std::mem::replace(&mut self.buf, next);
        let rows = std::mem::take(&mut self.rows);
        self.opened = None;
        Sealed {
            table: self.table.to_string(),
            dedup_token: dedup_token(self.table, &body),
            body,
            rows,
        }
    }
}

impl Sealed {
    /// A batch of ready NDJSON lines for `table` (each ending in `\n`), with its token. This is
    /// how rows that did not come from events — a spool file, a test's hand-made bad row — are
    /// handed to the writer's delivery path.
    pub fn from_ndjson(table: &str, body: Vec<u8>) -> Sealed {
        Sealed {
            table: table.to_string(),
            rows: line_spans(&body).len(),
            dedup_token: dedup_token(table, &body),
            body,
        }
    }
}

/// The byte range of each line of an NDJSON body, newline included; a last line without a
/// newline counts too, empty lines do not.
pub fn line_spans(body: &[u8]) -> Vec<Range<usize>> {
    let mut spans = Vec::new();
    let mut start = 0;
    for (i, &b) in body.iter().enumerate() {
        if b == b'\n' {
            if i > start {
                spans.push(start..i + 1);
            }
            start = i + 1;
        }
    }
    if start < body.len() {
        spans.push(start..body.len());
    }
    spans
}

/// `table-<MurmurHash3 x64 128 of body>-<len>`: stable across retries, restarts and spool
/// replays (the spool keeps each batch's token). Murmur reads 16 bytes a step where FNV-1a,
/// used before, read one: the token was 19 % of the writer thread's CPU under load.
pub fn dedup_token(table: &str, body: &[u8]) -> String {
    let (h1, h2) = murmur3_x64_128(body);
    format!("{table}-{h1:016x}{h2:016x}-{}", body.len())
}

/// MurmurHash3_x64_128 (Austin Appleby, public domain), seed 0.
fn murmur3_x64_128(data: &[u8]) -> (u64, u64) {
    const C1: u64 = 0x87c3_7b91_1142_53d5;
    const C2: u64 = 0x4cf5_ad43_2745_937f;
    let mix1 = |k: u64| k.wrapping_mul(C1).rotate_left(31).wrapping_mul(C2);
    let mix2 = |k: u64| k.wrapping_mul(C2).rotate_left(33).wrapping_mul(C1);
    let word = |b: &[u8]| {
        let mut w = [0u8; 8];
        w[..b.len()].copy_from_slice(b);
        u64::from_le_bytes(w)
    };
    let (mut h1, mut h2) = (0u64, 0u64);
    let mut blocks = data.chunks_exact(16);
    for block in &mut blocks {
        h1 ^= mix1(word(&block[..8]));
        h1 = h1
            .rotate_left(27)
            .wrapping_add(h2)
            .wrapping_mul(5)
            .wrapping_add(0x52dc_e729);
        h2 ^= mix2(word(&block[8..]));
        h2 = h2
            .rotate_left(31)
            .wrapping_add(h1)
            .wrapping_mul(5)
            .wrapping_add(0x3849_5ab5);
    }
    let tail = blocks.remainder();
    if tail.len() > 8 {
        h2 ^= mix2(word(&tail[8..]));
    }
    if !tail.is_empty() {
        h1 ^= mix1(word(&tail[..tail.len().min(8)]));
    }
    h1 ^= data.len() as u64;
    h2 ^= data.len() as u64;
    h1 = h1.wrapping_add(h2);
    h2 = h2.wrapping_add(h1);
    let fmix = |mut k: u64| {
        k ^= k >> 33;
        k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
        k ^= k >> 33;
        k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        k ^ (k >> 33)
    };
    h1 = fmix(h1);
    h2 = fmix(h2);
    h1 = h1.wrapping_add(h2);
    h2 = h2.wrapping_add(h1);
    (h1, h2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Control, ControlAction, Event, Meta};

    fn ev(msg_id: u64) -> Row {
        Row::of(&Event::Control(Control {
            meta: Meta {
                room_id: 1,
                msg_id,
                time_ms: 0,
            },
            action: ControlAction::Paused,
        }))
    }

    #[test]
    fn counts_ages_and_takes() {
        let mut b = Batch::new("control");
        assert_eq!(b.deadline(Duration::from_millis(500)), None);
        b.push(&ev(1));
        b.push(&ev(2));
        assert_eq!(b.rows(), 2);
        assert!(b.deadline(Duration::from_millis(500)).is_some());
        let sealed = b.take();
        assert_eq!(sealed.rows, 2);
        assert_eq!(sealed.body.iter().filter(|&&c| c == b'\n').count(), 2);
        assert_eq!((b.rows(), b.bytes()), (0, 0));
        assert_eq!(b.deadline(Duration::from_millis(500)), None);
    }

    #[test]
    fn line_spans_cover_every_row() {
        assert_eq!(line_spans(b"a\nbb\n\nc"), vec![0..2, 2..5, 6..7]);
        assert!(line_spans(b"").is_empty());
        let sealed = Sealed::from_ndjson("chat", b"{}\n{}\n".to_vec());
        assert_eq!(sealed.rows, 2);
        assert_eq!(sealed.dedup_token, dedup_token("chat", b"{}\n{}\n"));
    }

    #[test]
    fn murmur3_matches_the_reference_vectors() {
        assert_eq!(murmur3_x64_128(b""), (0, 0));
        assert_eq!(
            murmur3_x64_128(b"The quick brown fox jumps over the lazy dog"),
            (0xe34b_bc7b_bc07_1b6c, 0x7a43_3ca9_c49a_9347)
        );
    }

    #[test]
    fn token_depends_on_content_only() {
        let (mut a, mut b) = (Batch::new("control"), Batch::new("control"));
        a.push(&ev(1));
        b.push(&ev(1));
        assert_eq!(a.take().dedup_token, b.take().dedup_token);
        a.push(&ev(2));
        b.push(&ev(3));
        assert_ne!(a.take().dedup_token, b.take().dedup_token);
    }
}
