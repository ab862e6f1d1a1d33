//! The process-wide shutdown flag: set by SIGINT/SIGTERM or by a panicking thread, read by
//! every loop at least every few hundred milliseconds. A second signal exits at once.
//!
//! Two more flags ride along: a *child* flag (`Shutdown::child`) that stops one reader — it is
//! set on its own or by the process-wide flag — and the reload request set by SIGHUP
//! (`take_reload`), which the supervisor in `app` answers by re-reading the hosts.
//!
//! Must not touch: every other module (they only read the flags).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone, Default)]
pub struct Shutdown {
    flag: Arc<AtomicBool>,
    /// A child's parent: the process-wide flag, which stops the child too.
    parent: Option<Arc<AtomicBool>>,
    /// Set by SIGHUP, cleared by `take_reload`.
    reload: Arc<AtomicBool>,
}

impl Shutdown {
    pub fn new() -> Shutdown {
        Shutdown::default()
    }

    /// Sets the flag on SIGINT and SIGTERM (a second one ends the process with status 1), and
    /// the reload request on SIGHUP (which then no longer ends the process).
    pub fn register_signals(&self) -> std::io::Result<()> {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        for sig in [SIGINT, SIGTERM] {
            // Order matters: the conditional exit must see the flag before this signal sets it.
            signal_hook::flag::register_conditional_shutdown(sig, 1, Arc::clone(&self.flag))?;
            signal_hook::flag::register(sig, Arc::clone(&self.flag))?;
        }
        signal_hook::flag::register(SIGHUP, Arc::clone(&self.reload))?;
        Ok(())
    }

    /// A flag of its own, also set whenever this one is: stopping the child stops only what
    /// watches it (one reader), stopping the process stops it too. A child of a child answers
    /// to its own flag and the process-wide one.
    pub fn child(&self) -> Shutdown {
        Shutdown {
            flag: Arc::default(),
            parent: Some(Arc::clone(self.parent.as_ref().unwrap_or(&self.flag))),
            reload: Arc::default(),
        }
    }

    /// Sets this flag (a child's own, or the process-wide one).
    pub fn trigger(&self) {
        self.flag.store(true, Ordering::SeqCst);
    }

    pub fn is_triggered(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
            || self
                .parent
                .as_ref()
                .is_some_and(|p| p.load(Ordering::SeqCst))
    }

    /// Asks for a reload, as SIGHUP does.
    pub fn request_reload(&self) {
        self.reload.store(true, Ordering::SeqCst);
    }

    /// Whether a reload was asked for since the last call (clears the request).
    pub fn take_reload(&self) -> bool {
        self.reload.swap(false, Ordering::SeqCst)
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

    /// Runs a bounded blocking call (HTTP request, socket connect) on a helper thread named
    /// `name` and waits for it in 100 ms slices. Returns `None` as soon as the flag is set: the
    /// caller moves on at once and the helper, whose call has its own timeout, ends on its own
    /// and its result is dropped. If no thread can be spawned the call runs inline.
    pub fn run_interruptible<T: Send + 'static>(
        &self,
        name: &str,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        let job = Arc::new(Mutex::new(Some(f)));
        let (tx, rx) = crossbeam_channel::bounded(1);
        let spawned = std::thread::Builder::new().name(name.to_string()).spawn({
            let job = Arc::clone(&job);
            move || {
                let f = job.lock().unwrap_or_else(|p| p.into_inner()).take();
                if let Some(f) = f {
                    let _ = tx.send(f());
                }
            }
        });
        if let Err(e) = spawned {
            log::warn!("no helper thread, running inline name={name} error={e}");
            let f = job.lock().unwrap_or_else(|p| p.into_inner()).take();
            return f.map(|f| f());
        }
        loop {
            if self.is_triggered() {
                return None;
            }
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(value) => return Some(value),
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return None,
            }
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
    fn interruptible_call_returns_its_value_or_gives_up_on_shutdown() {
        let s = Shutdown::new();
        assert_eq!(s.run_interruptible("t-quick", || 7), Some(7));
        let trip = s.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(150));
            trip.trigger();
        });
        let t = Instant::now();
        let slow = s.run_interruptible("t-slow", || std::thread::sleep(Duration::from_secs(5)));
        assert_eq!(slow, None);
        assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    }

    #[test]
    fn a_child_stops_alone_or_with_the_process() {
        let process = Shutdown::new();
        let (a, b) = (process.child(), process.child());
        a.trigger();
        assert!(a.is_triggered() && !b.is_triggered() && !process.is_triggered());
        let grandchild = b.child();
        process.trigger();
        assert!(b.is_triggered() && grandchild.is_triggered());
    }

    #[test]
    fn reload_requests_are_taken_once() {
        let s = Shutdown::new();
        assert!(!s.take_reload());
        s.request_reload();
        s.clone().request_reload();
        assert!(s.take_reload());
        assert!(!s.take_reload());
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
