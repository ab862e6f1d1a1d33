//! Reconnect delays: exponential from a minimum to a cap, with ±20 % jitter so readers of many
//! rooms do not reconnect in step (PROTOCOL.md §6: 5 s, 10 s, 20 s … 5 min), plus the small
//! source of randomness the client needs (jitter, device ids).
//!
//! Must not touch: sleeping, I/O (the caller waits, with `Shutdown::sleep`).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A random 64-bit number (SipHash of a per-call random key, the clock and a counter): not for
/// secrets, good enough for jitter and browser-like ids.
pub fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}

/// A random number in `low..=high`.
pub fn random_between(low: u64, high: u64) -> u64 {
    low + random_u64() % (high - low + 1)
}

pub struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Backoff {
        Backoff {
            min,
            max: max.max(min),
            next: min,
        }
    }

    /// The next delay (jittered), doubling the one after, up to the cap.
    pub fn next_delay(&mut self) -> Duration {
        let base = self.next;
        self.next = (self.next * 2).min(self.max);
        let jitter = random_between(800, 1200);
        (base * jitter as u32 / 1000).min(self.max)
    }

    /// Back to the minimum, after a connection that held.
    pub fn reset(&mut self) {
        self.next = self.min;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_with_jitter_up_to_the_cap_and_resets() {
        let (min, max) = (Duration::from_secs(5), Duration::from_secs(300));
        let mut b = Backoff::new(min, max);
        let delays: Vec<Duration> = (0..10).map(|_| b.next_delay()).collect();
        for (i, d) in delays.iter().enumerate() {
            let base = (min * 2u32.pow(i as u32)).min(max);
            assert!(
                *d >= base * 8 / 10 && *d <= (base * 12 / 10).min(max),
                "delay {i} = {d:?}"
            );
        }
        assert!(delays[9] >= Duration::from_secs(240));
        b.reset();
        assert!(b.next_delay() <= Duration::from_secs(6));
    }

    #[test]
    fn random_numbers_stay_in_range_and_vary() {
        let values: Vec<u64> = (0..200).map(|_| random_between(100, 200)).collect();
        assert!(values.iter().all(|v| (100..=200).contains(v)));
        assert!(values.iter().any(|v| *v != values[0]));
    }
}
