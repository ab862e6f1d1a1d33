//! Remembers the last N message ids of a reader so a message seen twice (the sign server's
//! first batch overlapping the socket, history replayed after a reconnect, `im_enter_room_resp`)
//! is stored once. Bounded memory: the oldest id is forgotten when a new one comes in at capacity.
//!
//! Must not touch: anything else.

use std::collections::{HashSet, VecDeque};

pub struct Dedupe {
    seen: HashSet<u64>,
    order: VecDeque<u64>,
    capacity: usize,
}

impl Dedupe {
    pub fn new(capacity: usize) -> Dedupe {
        Dedupe {
            seen: HashSet::with_capacity(capacity),
            order: VecDeque::with_capacity(capacity),
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

#[cfg(test)]
mod tests {
    use super::*;

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
