//! How the readers of one process share the sign server and spread their polls (PROTOCOL.md §6
//! rule 5): one `SignBudget` — a token bucket of `SIGN_RATE_BURST` tokens refilled at
//! `SIGN_RATE_PER_MIN` — that every sign request draws from, so fifty hosts starting together
//! queue up instead of tripping the sign server's 429; and `stagger`, the deterministic delay
//! before a host's first lookup, so their polls do not all fall in the same second.
//!
//! Tokens are *reserved*: a caller gets its place in line at once and is told how long to wait,
//! so waiters are served first come, first served and the clock is a parameter (tests pass
//! their own `Instant`s). A 429 with `Retry-After` holds the whole bucket off until then.
//!
//! Must not touch: sleeping, HTTP, threads (the reader waits, interruptibly).

use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct SignBudget {
    /// Tokens per minute (kept per minute so that whole numbers give exact durations).
    per_minute: f64,
    burst: f64,
    state: Mutex<Bucket>,
}

struct Bucket {
    /// Tokens at `at`; negative when reservations are waiting for tokens not yet refilled.
    tokens: f64,
    /// When `tokens` was counted; in the future while the bucket is held off.
    at: Instant,
}

impl SignBudget {
    /// A full bucket of `burst` tokens, refilled at `per_minute` (both at least 1).
    pub fn new(per_minute: u32, burst: u32, now: Instant) -> SignBudget {
        let burst = f64::from(burst.max(1));
        SignBudget {
            per_minute: f64::from(per_minute.max(1)),
            burst,
            state: Mutex::new(Bucket {
                tokens: burst,
                at: now,
            }),
        }
    }

    fn bucket(&self) -> std::sync::MutexGuard<'_, Bucket> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts the tokens refilled up to `now` (nothing while held off).
    fn refill(&self, b: &mut Bucket, now: Instant) {
        if now > b.at {
            let earned = (now - b.at).as_secs_f64() * self.per_minute / 60.0;
            b.tokens = (b.tokens + earned).min(self.burst);
            b.at = now;
        }
    }

    /// Takes one token: how long from `now` until it may be used (zero: at once).
    pub fn reserve(&self, now: Instant) -> Duration {
        let mut b = self.bucket();
        self.refill(&mut b, now);
        b.tokens -= 1.0;
        let debt = Duration::from_secs_f64((-b.tokens).max(0.0) * 60.0 / self.per_minute);
        b.at.saturating_duration_since(now) + debt
    }

    /// Gives back a reserved token that was not used (its reader stopped while waiting).
    pub fn refund(&self, now: Instant) {
        let mut b = self.bucket();
        self.refill(&mut b, now);
        b.tokens = (b.tokens + 1.0).min(self.burst);
    }

    /// The sign server said "not before `until`" (429 Retry-After): no token is handed out
    /// for use before then, and the bucket refills only from then on.
    pub fn hold_off(&self, now: Instant, until: Instant) {
        let mut b = self.bucket();
        self.refill(&mut b, now);
        if until > b.at {
            b.tokens = b.tokens.min(0.0);
            b.at = until;
        }
    }
}

/// The delay before the first lookup of the `index`-th of `count` hosts started together:
/// `interval × index / count`, so the first starts at once and the others are spread evenly
/// over one poll interval.
pub fn stagger(index: usize, count: usize, interval: Duration) -> Duration {
    if count <= 1 || index == 0 {
        return Duration::ZERO;
    }
    interval.mul_f64(index.min(count - 1) as f64 / count as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    #[test]
    fn a_full_bucket_serves_its_burst_then_paces_at_the_rate() {
        let t0 = Instant::now();
        let b = SignBudget::new(10, 3, t0); // one token every 6 s
        let waits: Vec<Duration> = (0..6).map(|_| b.reserve(t0)).collect();
        assert_eq!(
            waits,
            [
                Duration::ZERO,
                Duration::ZERO,
                Duration::ZERO,
                6 * SEC,
                12 * SEC,
                18 * SEC
            ]
        );
        // 18 s later every reservation is due and the bucket is empty: the next waits 6 s.
        assert_eq!(b.reserve(t0 + 18 * SEC), 6 * SEC);
    }

    #[test]
    fn tokens_refill_over_time_up_to_the_burst() {
        let t0 = Instant::now();
        let b = SignBudget::new(60, 2, t0); // one a second
        assert_eq!(b.reserve(t0), Duration::ZERO);
        assert_eq!(b.reserve(t0), Duration::ZERO);
        assert_eq!(b.reserve(t0 + SEC / 2), SEC / 2);
        // After a long idle time the bucket holds `burst` tokens, not more.
        let later = t0 + 3600 * SEC;
        assert_eq!(b.reserve(later), Duration::ZERO);
        assert_eq!(b.reserve(later), Duration::ZERO);
        assert_eq!(b.reserve(later), SEC);
    }

    #[test]
    fn fifty_hosts_at_once_are_spread_at_the_rate() {
        let t0 = Instant::now();
        let b = SignBudget::new(10, 3, t0);
        let waits: Vec<Duration> = (0..50).map(|_| b.reserve(t0)).collect();
        assert!(
            waits.windows(2).all(|w| w[1] >= w[0]),
            "first come, first served"
        );
        assert_eq!(waits[49], 47 * 6 * SEC);
        // Never more than burst + rate × elapsed tokens in use by any moment.
        for (i, w) in waits.iter().enumerate() {
            assert!(
                i as f64 + 1.0 <= 3.0 + w.as_secs_f64() / 6.0 + 1e-9,
                "{i}: {w:?}"
            );
        }
    }

    #[test]
    fn a_refund_shortens_the_line() {
        let t0 = Instant::now();
        let b = SignBudget::new(60, 1, t0);
        assert_eq!(b.reserve(t0), Duration::ZERO);
        assert_eq!(b.reserve(t0), SEC);
        b.refund(t0);
        assert_eq!(b.reserve(t0), SEC);
    }

    #[test]
    fn retry_after_holds_every_reader_off() {
        let t0 = Instant::now();
        let b = SignBudget::new(60, 3, t0);
        assert_eq!(b.reserve(t0), Duration::ZERO);
        b.hold_off(t0, t0 + 30 * SEC);
        assert_eq!(
            b.reserve(t0),
            31 * SEC,
            "the bucket was emptied, refills from then"
        );
        assert_eq!(b.reserve(t0 + 10 * SEC), 22 * SEC);
        // A shorter hold-off than the one in force changes nothing.
        b.hold_off(t0, t0 + 5 * SEC);
        assert_eq!(b.reserve(t0 + 30 * SEC), 3 * SEC);
    }

    #[test]
    fn first_polls_are_spread_over_the_interval() {
        let minute = 60 * SEC;
        assert_eq!(stagger(0, 1, minute), Duration::ZERO);
        assert_eq!(stagger(0, 4, minute), Duration::ZERO);
        let spread: Vec<Duration> = (0..4).map(|i| stagger(i, 4, minute)).collect();
        assert_eq!(spread, [Duration::ZERO, 15 * SEC, 30 * SEC, 45 * SEC]);
        assert_eq!(stagger(9, 4, minute), 45 * SEC);
    }
}
