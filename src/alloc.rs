//! The process's heap: mimalloc, set to hand freed memory back to the OS at once.
//!
//! Why not glibc's malloc: readers allocate each event's strings and the writer frees them, and
//! glibc takes the reader's arena lock for every such free (futex wakes were 6 % of a busy
//! reader's CPU); mimalloc keeps a free list per thread. Measured under `make bench` b: ingester
//! CPU per event 7.5 → 5.3 µs. Its defaults keep freed pages for a second and ask for huge pages,
//! which tripled the steady RSS; with `configure` (and the crate's `no_thp` feature) the steady
//! RSS at 10 000 events/s is 14.4 MB, against 18.6 MB with glibc and `malloc_trim`.
//!
//! Must not touch: anything else.

use std::os::raw::{c_int, c_long};

pub use mimalloc::MiMalloc as Allocator;

/// Option numbers of `mi_option_e` in the mimalloc 3 sources that libmimalloc-sys (pinned by
/// Cargo.lock) builds; `tests::option_numbers_match_the_built_mimalloc` checks them.
const ARENA_EAGER_COMMIT: c_int = 4;
const PURGE_DELAY: c_int = 15;

extern "C" {
    fn mi_option_set(option: c_int, value: c_long);
}

/// Freed memory is returned to the OS at once, and memory is committed as it is touched. Call
/// first thing in `main`, before any thread starts.
pub fn configure() {
    // SAFETY: mi_option_set stores a value in mimalloc's option table; it takes no pointer.
    unsafe {
        mi_option_set(PURGE_DELAY, 0);
        mi_option_set(ARENA_EAGER_COMMIT, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    extern "C" {
        fn mi_option_get(option: c_int) -> c_long;
    }

    /// The defaults documented next to each option (purge delay 1 000 ms, eager arena commit 2)
    /// sit at the numbers `configure` writes to. Runs in the test process, which never calls
    /// `configure`.
    #[test]
    fn option_numbers_match_the_built_mimalloc() {
        // SAFETY: reads mimalloc's option table.
        let (purge, eager) = unsafe {
            (
                mi_option_get(PURGE_DELAY),
                mi_option_get(ARENA_EAGER_COMMIT),
            )
        };
        assert_eq!((purge, eager), (1000, 2));
    }
}
