//! Which CPUs the benchmark's processes run on, for b′: ClickHouse on a core of its own, as on a
//! host where it does not share CPUs with the ingester. Set with util-linux's `taskset` on every
//! thread of a process; threads and children started later inherit it.

use std::process::{Command, Stdio};

/// Both halves of the split, or `None` on a machine with fewer than 2 CPUs or no `taskset`.
pub struct Split {
    /// CPU 0: ClickHouse.
    pub clickhouse: &'static str,
    /// The other CPUs: the ingester, the fake TikTok, the trivial client.
    pub rest: String,
    /// Every CPU, to undo the split.
    pub all: String,
}

pub fn split() -> Option<Split> {
    let n = std::thread::available_parallelism().map_or(1, |n| n.get());
    let found = Command::new("taskset")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    (n >= 2 && found).then(|| Split {
        clickhouse: "0",
        rest: format!("1-{}", n - 1),
        all: format!("0-{}", n - 1),
    })
}

/// Every thread of `pid` onto `cpus` (a taskset list such as `1-3`); panics if refused.
pub fn pin(pid: u32, cpus: &str) {
    let status = Command::new("taskset")
        .args(["-a", "-p", "-c", cpus, &pid.to_string()])
        .stdout(Stdio::null())
        .status()
        .expect("taskset runs");
    assert!(status.success(), "taskset -a -p -c {cpus} {pid} failed");
}
