//! The process-wide shutdown flag: set by SIGINT/SIGTERM or by a panicking thread, read by
//! every loop at least every few hundred milliseconds. A second signal exits at once.
//!
//! Must not touch: every other module (they only read the flag).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Clone, Default)]
pub struct Shutdown(Arc<AtomicBool>);

impl Shutdown {
    pub fn new() -> Shutdown {
        Shutdown::default()
    }

    /// Sets the flag on SIGINT and SIGTERM; a second signal ends the process with status 1.
    pub fn register_signals(&self) -> std::io::Result<()> {
        use signal_hook::consts::{SIGINT, SIGTERM};
        for sig in [SIGINT, SIGTERM] {
            // Order matters: the conditional exit must see the flag before this signal sets it.
            signal_hook::flag::register_conditional_shutdown(sig, 1, Arc::clone(&self.0))?;
            signal_hook::flag::register(sig, Arc::clone(&self.0))?;
        }
        Ok(())
    }

    pub fn trigger(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_triggered(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// Sleeps up to `d` in slices of at most 100 ms; returns early (false) once shut down.
    pub fn sleep(&self, d: Duration) -> bool {
        let end = Instant::now() + d;
        loop {
            if self.is_triggered() {
                return false;
            }
            let now = Instant::now();
            if now >= end {
                return true;
            }
            std::thread::sleep((end - now).min(Duration::from_millis(100)));
        }
    }

    /// A guard whose drop during a panic trips the flag, so one dead thread stops the process.
    pub fn panic_guard(&self) -> PanicGuard {
        PanicGuard(self.clone())
    }
}

pub struct PanicGuard(Shutdown);

impl Drop for PanicGuard {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.trigger();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_in_a_thread_trips_the_flag() {
        let s = Shutdown::new();
        let guard = s.panic_guard();
        let _ = std::thread::spawn(move || {
            let _g = guard;
            panic!("boom");
        })
        .join();
        assert!(s.is_triggered());
    }

    #[test]
    fn sleep_returns_early_on_shutdown() {
        let s = Shutdown::new();
        s.trigger();
        let t = Instant::now();
        assert!(!s.sleep(Duration::from_secs(5)));
        assert!(t.elapsed() < Duration::from_millis(50));
    }
}
