//! What `/healthz` and the status page report: each reader's state and room, the last
//! successful insert, how long ClickHouse has been failing, and a small ring of recent errors.
//! Written by the reader and writer threads, read by `health`.
//!
//! Any thread can report an error for operators with `Status::push_error(source, message)`;
//! the ring keeps the last `RECENT_ERRORS`, repeats folded into a count. Messages must already be
//! free of secrets (as every logged error is).
//!
//! Must not touch: the channel, sockets, ClickHouse.

use std::collections::VecDeque;
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

/// How many recent errors `Status` keeps; older ones are forgotten.
pub const RECENT_ERRORS: usize = 20;
/// Longer error messages are cut to this many characters.
const ERROR_MAX_CHARS: usize = 300;

/// One entry of the recent-errors ring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecentError {
    /// When it last happened.
    pub at_ms: i64,
    /// Who reported it: `writer`, a reader's name, …
    pub source: String,
    pub message: String,
    /// How many times in a row it was reported.
    pub count: u64,
}

pub struct Status {
    pub started_ms: i64,
    readers: Mutex<Vec<ReaderStatus>>,
    errors: Mutex<VecDeque<RecentError>>,
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
            errors: Mutex::new(VecDeque::with_capacity(RECENT_ERRORS)),
            last_insert_ms: AtomicI64::new(0),
            failing_since_ms: AtomicI64::new(0),
        }
    }

    /// Records a reader's state (adding the reader on first use); an error also goes to the
    /// recent-errors ring.
    pub fn set_reader(&self, name: &str, state: &'static str, room_id: u64, error: Option<String>) {
        if let Some(e) = &error {
            self.push_error(name, e);
        }
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

    /// Adds an error to the recent-errors ring (the same message from the same source as the
    /// newest entry only bumps its count and time).
    pub fn push_error(&self, source: &str, message: &str) {
        let message: String = message.chars().take(ERROR_MAX_CHARS).collect();
        let now = now_ms();
        let mut errors = self.errors.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(last) = errors
            .back_mut()
            .filter(|e| e.source == source && e.message == message)
        {
            last.count += 1;
            last.at_ms = now;
            return;
        }
        if errors.len() == RECENT_ERRORS {
            errors.pop_front();
        }
        errors.push_back(RecentError {
            at_ms: now,
            source: source.into(),
            message,
            count: 1,
        });
    }

    /// The recent errors, newest first.
    pub fn recent_errors(&self) -> Vec<RecentError> {
        let errors = self.errors.lock().unwrap_or_else(|p| p.into_inner());
        errors.iter().rev().cloned().collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_errors_are_bounded_newest_first_and_fold_repeats() {
        let s = Status::new();
        s.push_error("writer", "insert into table `chat` failed");
        s.push_error("writer", "insert into table `chat` failed");
        s.set_reader(
            "@someone",
            "connecting",
            0,
            Some("sign server answered 429".into()),
        );
        let errors = s.recent_errors();
        assert_eq!(errors.len(), 2);
        assert_eq!(
            (errors[0].source.as_str(), errors[0].message.as_str()),
            ("@someone", "sign server answered 429")
        );
        assert_eq!((errors[1].source.as_str(), errors[1].count), ("writer", 2));

        for i in 0..RECENT_ERRORS + 5 {
            s.push_error("writer", &format!("error {i}"));
        }
        let errors = s.recent_errors();
        assert_eq!(errors.len(), RECENT_ERRORS);
        assert_eq!(errors[0].message, format!("error {}", RECENT_ERRORS + 4));
        assert_eq!(errors[RECENT_ERRORS - 1].message, "error 5");

        s.push_error("writer", &"é".repeat(1000));
        assert_eq!(
            s.recent_errors()[0].message.chars().count(),
            ERROR_MAX_CHARS
        );
    }
}
