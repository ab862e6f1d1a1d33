//! Remembers the last N message ids of a reader so a message seen twice (the sign server's
//! first batch overlapping the socket, history replayed after a reconnect, `im_enter_room_resp`)
//! is stored once. Bounded memory: the oldest id is forgotten when a new one comes in at capacity.
//!
//! Also `RecentUsers`, which keeps the `users` dimension from being flooded: a user is reported
//! again only when something about them changed or a while has passed.
//!
//! Must not touch: anything else.

use std::collections::hash_map::{DefaultHasher, Entry};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use crate::event::UserRef;

/// The ids in arrival order (a ring once full) and an open-addressing index over them: 18 bytes
/// an id instead of the 22 of a `HashSet` beside a `VecDeque` (100 000 ids: 2.2 → 1.8 MB of every
/// busy reader's RSS), and a lookup reads one cache line of the index in the common case.
pub struct Dedupe {
    /// Ids as they came; once `capacity` is reached, `oldest` is overwritten next.
    ring: Vec<u64>,
    oldest: usize,
    /// Linear-probing index, a power of two in size, filled at most to `MAX_LOAD_PER_1024`. A slot
    /// is 0 when empty, else the id's 32-bit hash (high half) and its ring position + 1 (low
    /// half): probes compare hashes, and the ring is read only when they match.
    slots: Vec<u64>,
    capacity: usize,
}

/// Fill limit of the index, per 1024 slots (0.8: short probes in a table of 131 072 slots at
/// the default 100 000 ids).
const MAX_LOAD_PER_1024: usize = 819;
const FIRST_SLOTS: usize = 1024;

impl Dedupe {
    /// Remembers up to `capacity` ids (at most ≈ 3.4·10^9, so the index stays within 2^32
    /// slots); the memory grows with the ids seen, not reserved at once (reserving 100 000 ids
    /// cost every reader 1.2 MB as soon as its ids spread over the table: 200 quiet rooms took
    /// 266 MB of RSS, now 61 MB).
    pub fn new(capacity: usize) -> Dedupe {
        Dedupe {
            ring: Vec::new(),
            oldest: 0,
            slots: vec![0; FIRST_SLOTS],
            capacity: capacity.clamp(1, u32::MAX as usize / 1024 * MAX_LOAD_PER_1024),
        }
    }

    /// True the first time `id` is offered; id 0 (unknown) is always new.
    pub fn first_time(&mut self, id: u64) -> bool {
        if id == 0 || self.find(id).is_ok() {
            return id == 0;
        }
        let position = if self.ring.len() < self.capacity {
            if self.ring.len() == self.ring.capacity() {
                let want = (self.ring.len() * 2).max(FIRST_SLOTS).min(self.capacity);
                self.ring.reserve_exact(want - self.ring.len());
            }
            self.ring.push(id);
            if self.ring.len() * 1024 > self.slots.len() * MAX_LOAD_PER_1024 {
                self.grow(); // indexes the new id with the others
                return true;
            }
            self.ring.len() - 1
        } else {
            let position = self.oldest;
            self.forget(self.ring[position]);
            self.ring[position] = id;
            self.oldest = (position + 1) % self.capacity;
            position
        };
        let slot = self.find(id).expect_err("the id is not indexed yet");
        self.slots[slot] = entry(id, position);
        true
    }

    /// Where an entry's probe starts: the top bits of its hash.
    fn home(&self, slot: u64) -> usize {
        let bits = self.slots.len().trailing_zeros();
        ((slot >> 32) >> (32 - bits)) as usize
    }

    /// `Ok(slot)` holding `id`, or `Err(slot)`: the empty slot where it would go.
    fn find(&self, id: u64) -> Result<usize, usize> {
        let mask = self.slots.len() - 1;
        let wanted = entry(id, 0) >> 32;
        let mut i = self.home(entry(id, 0));
        loop {
            match self.slots[i] {
                0 => return Err(i),
                s if s >> 32 == wanted && self.ring[(s as u32 - 1) as usize] == id => return Ok(i),
                _ => i = (i + 1) & mask,
            }
        }
    }

    /// Removes `id` from the index, shifting back the entries after it (no tombstones).
    fn forget(&mut self, id: u64) {
        let Ok(mut hole) = self.find(id) else {
            return;
        };
        let mask = self.slots.len() - 1;
        let mut i = hole;
        loop {
            i = (i + 1) & mask;
            let s = self.slots[i];
            if s == 0 {
                break;
            }
            // The entry at i may fill the hole unless its home lies cyclically in (hole, i].
            if (i.wrapping_sub(self.home(s)) & mask) >= (i.wrapping_sub(hole) & mask) {
                self.slots[hole] = s;
                hole = i;
            }
        }
        self.slots[hole] = 0;
    }

    /// Doubles the index and puts every ring position back in it.
    fn grow(&mut self) {
        self.slots = vec![0; self.slots.len() * 2];
        for position in 0..self.ring.len() {
            let id = self.ring[position];
            let slot = self.find(id).expect_err("ids in the ring are distinct");
            self.slots[slot] = entry(id, position);
        }
    }
}

/// An index entry: the id's hash (Fibonacci hashing, id × 2^64/φ: TikTok's ids share their low
/// bits) in the high half, `position + 1` in the low half (never 0).
fn entry(id: u64, position: usize) -> u64 {
    (id.wrapping_mul(0x9E37_79B9_7F4A_7C15) & !0xFFFF_FFFF) | (position as u64 + 1)
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

    /// The index against a plain model, through growth, wrap-around and many evictions whose
    /// shifted-back entries must stay findable.
    #[test]
    fn agrees_with_a_model_over_many_ids() {
        use std::collections::{HashSet, VecDeque};
        let capacity = 3000;
        let mut d = Dedupe::new(capacity);
        let (mut seen, mut order) = (HashSet::new(), VecDeque::new());
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        for step in 0..200_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Ids near each other (as TikTok's are) and repeats of recent and forgotten ones.
            let id = match x % 4 {
                0 => 7_000_000_000_000_000_000 + step,
                1 => 7_000_000_000_000_000_000 + step.saturating_sub(x % 4000),
                _ => x % 10_000 + 1,
            };
            let fresh = seen.insert(id);
            if fresh {
                order.push_back(id);
                if order.len() > capacity {
                    seen.remove(&order.pop_front().unwrap());
                }
            }
            assert_eq!(d.first_time(id), fresh, "step {step} id {id}");
        }
        assert_eq!(d.ring.len(), capacity);
        assert!(d.slots.len() * MAX_LOAD_PER_1024 >= capacity * 1024);
    }
}
