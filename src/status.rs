//! What `/healthz` reports: each reader's state and room, the last successful insert, how long
//! ClickHouse has been failing. Written by the reader and writer threads, read by `health`.
//!
//! Must not touch: the channel, sockets, ClickHouse.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// One reader as shown in `/healthz`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReaderStatus {
    /// The TikTok handle, `demo` or a replayed file name.
    pub name: String,
    /// polling, resolving, signing, connecting, live, demo, replay, stopped …
    pub state: &'static str,
    pub room_id: u64,
    pub since_ms: i64,
    pub last_error: Option<String>,
}

pub struct Status {
    pub started_ms: i64,
    readers: Mutex<Vec<ReaderStatus>>,
    last_insert_ms: AtomicI64,
    failing_since_ms: AtomicI64,
}

impl Default for Status {
    fn default() -> Self {
        Status::new()
    }
}

impl Status {
    pub fn new() -> Status {
        Status {
            started_ms: now_ms(),
            readers: Mutex::new(Vec::new()),
            last_insert_ms: AtomicI64::new(0),
            failing_since_ms: AtomicI64::new(0),
        }
    }

    /// Records a reader's state (adding the reader on first use).
    pub fn set_reader(&self, name: &str, state: &'static str, room_id: u64, error: Option<String>) {
        let mut readers = self.readers.lock().unwrap_or_else(|p| p.into_inner());
        let now = now_ms();
        match readers.iter_mut().find(|r| r.name == name) {
            Some(r) => {
                if r.state != state {
                    r.since_ms = now;
                }
                r.state = state;
                r.room_id = room_id;
                if error.is_some() {
                    r.last_error = error;
                }
            }
            None => readers.push(ReaderStatus {
                name: name.into(),
                state,
                room_id,
                since_ms: now,
                last_error: error,
            }),
        }
    }

    /// Forgets a reader (a host no longer captured).
    pub fn remove_reader(&self, name: &str) {
        self.readers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|r| r.name != name);
    }

    pub fn readers(&self) -> Vec<ReaderStatus> {
        self.readers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn insert_succeeded(&self) {
        self.last_insert_ms.store(now_ms(), Ordering::Relaxed);
        self.failing_since_ms.store(0, Ordering::Relaxed);
    }

    pub fn insert_failed(&self) {
        let _ = self.failing_since_ms.compare_exchange(
            0,
            now_ms(),
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }

    /// When the last insert succeeded (0: never).
    pub fn last_insert_ms(&self) -> i64 {
        self.last_insert_ms.load(Ordering::Relaxed)
    }

    /// Since when inserts have been failing (0: they are not).
    pub fn failing_since_ms(&self) -> i64 {
        self.failing_since_ms.load(Ordering::Relaxed)
    }
}
