//! The per-table NDJSON buffer: rows appended as JSON lines, with its row count, size and age,
//! and the content-derived deduplication token that makes a retried insert land once.
//!
//! Must not touch: HTTP, the channel.

use std::ops::Range;
use std::time::{Duration, Instant};

use crate::event::Event;

use super::row;

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

    /// Appends the event's row.
    pub fn push(&mut self, event: &Event) -> serde_json::Result<()> {
        let before = self.buf.len();
        if let Err(e) = row::write_json_line(event, &mut self.buf) {
            self.buf.truncate(before);
            return Err(e);
        }
        self.rows += 1;
        self.opened.get_or_insert_with(Instant::now);
        Ok(())
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

    /// Takes the rows out, leaving the batch empty (its buffer's capacity is kept for reuse).
    pub fn take(&mut self) -> Sealed {
        let body = self.buf.clone();
        self.buf.clear();
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

/// `table-<fnv1a64 of body>-<len>`: stable across retries, restarts and spool replays.
pub fn dedup_token(table: &str, body: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in body {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{table}-{h:016x}-{}", body.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Control, ControlAction, Meta};

    fn ev(msg_id: u64) -> Event {
        Event::Control(Control {
            meta: Meta {
                room_id: 1,
                msg_id,
                time_ms: 0,
            },
            action: ControlAction::Paused,
        })
    }

    #[test]
    fn counts_ages_and_takes() {
        let mut b = Batch::new("control");
        assert_eq!(b.deadline(Duration::from_millis(500)), None);
        b.push(&ev(1)).unwrap();
        b.push(&ev(2)).unwrap();
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
    fn token_depends_on_content_only() {
        let (mut a, mut b) = (Batch::new("control"), Batch::new("control"));
        a.push(&ev(1)).unwrap();
        b.push(&ev(1)).unwrap();
        assert_eq!(a.take().dedup_token, b.take().dedup_token);
        a.push(&ev(2)).unwrap();
        b.push(&ev(3)).unwrap();
        assert_ne!(a.take().dedup_token, b.take().dedup_token);
    }
}
