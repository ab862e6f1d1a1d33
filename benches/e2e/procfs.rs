//! What a process costs, from Linux's /proc: resident memory (now and peak), CPU time and
//! threads, sampled on a thread of its own every `every`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug)]
pub struct Sample {
    pub at: Instant,
    /// VmRSS, MB.
    pub rss_mb: f64,
    /// VmHWM (the peak RSS so far), MB.
    pub peak_mb: f64,
    pub threads: u64,
    /// User + system CPU time so far, seconds.
    pub cpu_s: f64,
}

/// One reading of `pid`; `None` once the process is gone.
pub fn sample(pid: u32) -> Option<Sample> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15, counted after the parenthesised command name.
    let after_name = &stat[stat.rfind(')')? + 2..];
    let ticks: Vec<f64> = after_name
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|v| v.parse().ok())
        .collect();
    Some(Sample {
        at: Instant::now(),
        rss_mb: field("VmRSS:") / 1024.0,
        peak_mb: field("VmHWM:") / 1024.0,
        threads: field("Threads:") as u64,
        cpu_s: ticks.iter().sum::<f64>() / clock_ticks(),
    })
}

/// `getconf CLK_TCK` (100 on Linux unless someone built it otherwise).
fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// Samples a process until stopped.
pub struct Sampler {
    samples: Arc<Mutex<Vec<Sample>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Sampler {
    pub fn start(pid: u32, every: Duration) -> Sampler {
        let samples = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::spawn({
            let (samples, stop) = (samples.clone(), stop.clone());
            move || {
                while !stop.load(Ordering::Relaxed) {
                    match sample(pid) {
                        Some(s) => samples.lock().expect("sampler lock").push(s),
                        None => return,
                    }
                    std::thread::sleep(every);
                }
            }
        });
        Sampler {
            samples,
            stop,
            thread: Some(thread),
        }
    }

    /// The samples so far.
    pub fn samples(&self) -> Vec<Sample> {
        self.samples.lock().expect("sampler lock").clone()
    }

    pub fn stop(mut self) -> Vec<Sample> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.samples()
    }
}

/// The samples taken from `from` to `to`.
pub fn between(samples: &[Sample], from: Instant, to: Instant) -> Vec<Sample> {
    samples
        .iter()
        .filter(|s| s.at >= from && s.at <= to)
        .copied()
        .collect()
}

/// CPU use from the first to the last sample, in % of one core.
pub fn cpu_percent(samples: &[Sample]) -> f64 {
    match (samples.first(), samples.last()) {
        (Some(a), Some(b)) if b.at > a.at => {
            100.0 * (b.cpu_s - a.cpu_s) / (b.at - a.at).as_secs_f64()
        }
        _ => 0.0,
    }
}
