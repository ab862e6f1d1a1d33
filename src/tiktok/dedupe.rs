//! Remembers the last N message ids of a reader so a message seen twice (the sign server's
//! first batch overlapping the socket, history replayed after a reconnect, `im_enter_room_resp`)
//! is stored once. Bounded memory: the oldest id is forgotten when a new one comes in at capacity.
//!
//! Also `RecentUsers`, which keeps the `users` dimension from being flooded: a user is reported
//! again only when something about them changed or a while has passed.
//!
//! Must not touch: anything else.

use std::collections::hash_map::{DefaultHasher, Entry};
use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{Hash, Hasher};

use crate::event::UserRef;

pub struct Dedupe {
    seen: HashSet<u64>,
    order: VecDeque<u64>,
    capacity: usize,
}

impl Dedupe {
    /// Remembers up to `capacity` ids; the memory grows with the ids seen, not reserved at once
    /// (reserving 100 000 ids cost every reader 1.2 MB as soon as its ids spread over the
    /// table: 200 quiet rooms took 266 MB of RSS, now 61 MB).
    pub fn new(capacity: usize) -> Dedupe {
        Dedupe {
            seen: HashSet::new(),
            order: VecDeque::new(),
            capacity,
        }
    }

    /// True the first time `id` is offered; id 0 (unknown) is always new.
    pub fn first_time(&mut self, id: u64) -> bool {
        if id == 0 {
            return true;
        }
        if !self.seen.insert(id) {
            return false;
        }
        if self.order.len() == self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.seen.remove(&old);
            }
        }
        self.order.push_back(id);
        true
    }
}

/// The users a reader reported lately, by id: when (event time) and in what state.
pub struct RecentUsers {
    seen: HashMap<u64, (i64, u64)>,
    window_ms: i64,
    capacity: usize,
}

impl RecentUsers {
    pub fn new(window_ms: i64, capacity: usize) -> RecentUsers {
        RecentUsers {
            seen: HashMap::new(),
            window_ms,
            capacity,
        }
    }

    /// True when `user`, seen at `time_ms`, should be reported: first sight, a changed
    /// nickname/handle/flags/profile, or a report older than the window.
    pub fn should_report(&mut self, user: &UserRef, time_ms: i64) -> bool {
        let mut h = DefaultHasher::new();
        user.hash(&mut h);
        let state = h.finish();
        if self.seen.len() >= self.capacity && !self.seen.contains_key(&user.id) {
            let horizon = time_ms - self.window_ms;
            self.seen.retain(|_, (at, _)| *at > horizon);
            if self.seen.len() >= self.capacity {
                self.seen.clear();
            }
        }
        match self.seen.entry(user.id) {
            Entry::Occupied(mut e) => {
                let (at, old) = *e.get();
                if old == state && (time_ms - at).abs() < self.window_ms {
                    return false;
                }
                e.insert((time_ms, state));
                true
            }
            Entry::Vacant(e) => {
                e.insert((time_ms, state));
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_reported_on_change_or_after_the_window() {
        let mut r = RecentUsers::new(1000, 2);
        let mut a = UserRef {
            id: 1,
            nickname: "a".into(),
            ..Default::default()
        };
        assert!(r.should_report(&a, 0));
        assert!(!r.should_report(&a, 500));
        a.is_follower = true;
        assert!(r.should_report(&a, 600), "changed flags");
        assert!(!r.should_report(&a, 1500));
        assert!(r.should_report(&a, 1700), "window passed");
        let b = UserRef {
            id: 2,
            ..Default::default()
        };
        let c = UserRef {
            id: 3,
            ..Default::default()
        };
        assert!(r.should_report(&b, 1700));
        assert!(
            r.should_report(&c, 1800),
            "at capacity: old entries forgotten"
        );
        assert!(!r.should_report(&c, 1800));
    }

    #[test]
    fn remembers_up_to_capacity() {
        let mut d = Dedupe::new(2);
        assert!(d.first_time(1));
        assert!(!d.first_time(1));
        assert!(d.first_time(2));
        assert!(d.first_time(3)); // forgets 1
        assert!(d.first_time(1));
        assert!(!d.first_time(3));
        assert!(d.first_time(0) && d.first_time(0));
    }
}
