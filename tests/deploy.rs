//! The systemd deployment: `make install-files` stages the binary, both units and the env
//! template under a DESTDIR, and `systemd-analyze verify` accepts the staged units with their
//! ExecStart resolving to the staged binary (`--root` at the staging directory). Also pins what
//! the units promise: hardening, restart limits, a stop timeout above the final-flush deadline;
//! and that the env template runs the service at LOG_LEVEL=Information.
//!
//! Skips with a message when `systemd-analyze` is not installed (Debian package `systemd`).

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use chakal_ingest::config::VARS;
use support::temp_dir;

const UNITS: [&str; 2] = ["chakal-ingest.service", "chakal-ingest@.service"];
/// Where the host's systemd keeps its own units (targets the verified units depend on).
const SYSTEM_UNITS: &str = "/usr/lib/systemd/system";

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn systemd_analyze() -> Option<PathBuf> {
    ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// `make install-files` into `root` with this test build's binary; make's own variables from an
/// outer `make test` are cleared so the child make starts clean.
fn make_install(root: &Path, prefix: &str) -> Output {
    Command::new("make")
        .arg("--no-print-directory")
        .arg("-C")
        .arg(crate_dir())
        .arg("install-files")
        .arg(format!("DESTDIR={}", root.display()))
        .arg(format!("PREFIX={prefix}"))
        .arg(format!("BIN={}", env!("CARGO_BIN_EXE_chakal-ingest")))
        .env_remove("MAKEFLAGS")
        .env_remove("MFLAGS")
        .env_remove("MAKELEVEL")
        .output()
        .expect("run make")
}

fn verify(analyze: &Path, root: &Path) -> Output {
    Command::new(analyze)
        .arg("verify")
        .arg(format!("--root={}", root.display()))
        .args(["chakal-ingest.service", "chakal-ingest@hosts-a.service"])
        .output()
        .expect("run systemd-analyze")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn make_install_stages_units_that_systemd_verifies() {
    let Some(analyze) = systemd_analyze() else {
        println!(
            "SKIPPED: systemd-analyze not found; `apt-get install systemd` to verify the units"
        );
        return;
    };
    let root = temp_dir("install");
    let prefix = "/opt/chakal";
    let out = make_install(&root, prefix);
    assert!(out.status.success(), "make install-files:\n{}", text(&out));

    let bin = root.join("opt/chakal/bin/chakal-ingest");
    for path in [
        bin.clone(),
        root.join("etc/chakal-ingest/chakal-ingest.env.sample"),
        root.join("opt/chakal/share/doc/chakal-ingest/README.md"),
    ] {
        assert!(path.is_file(), "{} not installed", path.display());
    }
    for unit in UNITS {
        let staged = std::fs::read_to_string(root.join("etc/systemd/system").join(unit))
            .unwrap_or_else(|e| panic!("unit {unit} not installed: {e}"));
        assert!(
            staged.contains(&format!("ExecStart={prefix}/bin/chakal-ingest run")),
            "{unit} does not start the binary under PREFIX:\n{staged}"
        );
        assert!(
            !staged.contains("/usr/local"),
            "{unit} still names /usr/local"
        );
    }

    // The targets the units order themselves after (network-online, multi-user…) come from the
    // host, copied so that --root sees them.
    std::fs::create_dir_all(root.join("usr/lib/systemd")).unwrap();
    let copy = Command::new("cp")
        .arg("-a")
        .arg(SYSTEM_UNITS)
        .arg(root.join("usr/lib/systemd/"))
        .output()
        .expect("run cp");
    assert!(
        copy.status.success(),
        "copy {SYSTEM_UNITS}: {}",
        text(&copy)
    );

    let out = verify(&analyze, &root);
    assert!(
        out.status.success() && text(&out).trim().is_empty(),
        "systemd-analyze verify:\n{}",
        text(&out)
    );

    let out = Command::new(&analyze)
        .args(["security", "--offline=true", "--no-pager"])
        .arg(format!("--root={}", root.display()))
        .arg("chakal-ingest.service")
        .output()
        .expect("run systemd-analyze security");
    let report = text(&out);
    let exposure: f64 = report
        .lines()
        .find_map(|l| {
            l.split("Overall exposure level for chakal-ingest.service: ")
                .nth(1)
        })
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in:\n{report}"));
    println!("systemd-analyze security exposure: {exposure} (0 = locked down, 10 = exposed)");
    assert!(exposure <= 2.0, "exposure {exposure} above 2.0:\n{report}");

    // The check has teeth: without the binary, verify names the missing ExecStart.
    std::fs::remove_file(&bin).unwrap();
    let out = verify(&analyze, &root);
    assert!(
        !out.status.success() && text(&out).contains("/opt/chakal/bin/chakal-ingest"),
        "verify should fail on a missing binary:\n{}",
        text(&out)
    );
    let _ = std::fs::remove_dir_all(&root);
}

/// The value of `key=` in a unit (last assignment wins, as in systemd).
fn setting<'a>(unit: &'a str, key: &str) -> Option<&'a str> {
    unit.lines()
        .rev()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
}

#[test]
fn units_are_hardened_and_outlast_the_final_flush() {
    let flush_ms: u64 = VARS
        .iter()
        .find(|v| v.name == "SHUTDOWN_TIMEOUT_MS")
        .expect("SHUTDOWN_TIMEOUT_MS in config::VARS")
        .default
        .parse()
        .unwrap();
    for name in UNITS {
        let unit = std::fs::read_to_string(crate_dir().join("deploy").join(name)).unwrap();
        for (key, value) in [
            ("DynamicUser", "yes"),
            ("ProtectSystem", "strict"),
            ("NoNewPrivileges", "yes"),
            ("Restart", "on-failure"),
            ("RestartPreventExitStatus", "2"),
            ("KillSignal", "SIGTERM"),
        ] {
            assert_eq!(setting(&unit, key), Some(value), "{name}: {key}");
        }
        for key in ["StartLimitIntervalSec", "StartLimitBurst", "StateDirectory"] {
            assert!(setting(&unit, key).is_some(), "{name}: {key} missing");
        }
        let state = setting(&unit, "StateDirectory").unwrap();
        assert_eq!(
            setting(&unit, "WorkingDirectory"),
            Some(format!("%S/{state}").as_str()),
            "{name}: the spool (./data/spool) must land in the state directory"
        );
        let stop_s: u64 = setting(&unit, "TimeoutStopSec")
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name}: TimeoutStopSec in whole seconds"));
        // app.rs waits SHUTDOWN_TIMEOUT plus one second for the writer before giving up.
        assert!(
            stop_s * 1000 > flush_ms + 1000,
            "{name}: TimeoutStopSec={stop_s} does not outlast the {flush_ms} ms flush"
        );
    }
    let template =
        std::fs::read_to_string(crate_dir().join("deploy/chakal-ingest@.service")).unwrap();
    assert_eq!(
        setting(&template, "EnvironmentFile"),
        Some("/etc/chakal-ingest/%i.env")
    );
    assert_eq!(
        setting(&template, "StateDirectory"),
        Some("chakal-ingest/%i")
    );
}

/// The env template that `make install` stages (env.sample) sets LOG_LEVEL=Information: the
/// binary's own default, Debug, logs every flush, too much for a service's journal.
#[test]
fn the_env_template_runs_a_service_at_information() {
    let sample = std::fs::read_to_string(crate_dir().join("env.sample")).unwrap();
    let level = sample
        .lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("LOG_LEVEL="));
    assert_eq!(level, Some("Information"), "env.sample's LOG_LEVEL");
    let default = VARS.iter().find(|v| v.name == "LOG_LEVEL").unwrap().default;
    assert_eq!(
        default, "Debug",
        "the binary's default stays Debug, as the original had it"
    );
}
