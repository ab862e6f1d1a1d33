//! The status page as an operator sees it: the binary runs the DEBUG_MODE demo into the real
//! ClickHouse, headless Chromium loads `GET /`, runs its script (which fetches `/status.json`),
//! and the rendered DOM must show the demo reader, events and rates by type, rows written and no
//! errors. A screenshot is taken too.
//!
//! Skips with a message when Chromium is not installed (Debian package `chromium`).

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{ingester_env, temp_dir, wait_for, ClickHouse, Ingester};

const CHROMIUM_TIMEOUT: Duration = Duration::from_secs(60);

fn chromium() -> Option<PathBuf> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// Runs headless Chromium on `url` with `mode` (`--dump-dom` or `--screenshot=…`); its stdout.
/// Virtual time lets the page's fetch and its 2 s refresh timer run before the DOM is taken.
fn headless(chromium: &Path, profile: &Path, mode: &str, url: &str) -> String {
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
            "--window-size=1100,1000",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(mode)
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");
    let stdout = child.stdout.take().expect("piped stdout");
    let reader = std::thread::spawn(move || std::io::read_to_string(stdout));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("chromium try_wait") {
            break status;
        }
        if start.elapsed() > CHROMIUM_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium {mode} did not finish within {CHROMIUM_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "chromium {mode} failed: {status:?}");
    reader
        .join()
        .expect("reader thread")
        .expect("chromium stdout")
}

/// The text of the element whose opening tag contains `marker`.
fn text_after<'a>(dom: &'a str, marker: &str) -> &'a str {
    let at = dom
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} not in the rendered page:\n{dom}"));
    let rest = &dom[at..];
    let start = rest.find('>').expect("tag end") + 1;
    let end = rest[start..].find('<').expect("text end");
    &rest[start..start + end]
}

/// The part of `dom` from `start` to the next `end`.
fn element<'a>(dom: &'a str, start: &str, end: &str) -> &'a str {
    let at = dom
        .find(start)
        .unwrap_or_else(|| panic!("{start} not in the rendered page:\n{dom}"));
    let len = dom[at..].find(end).expect("element end") + end.len();
    &dom[at..at + len]
}

fn number(text: &str) -> f64 {
    text.replace(',', "")
        .parse()
        .unwrap_or_else(|e| panic!("{text:?} is not a number: {e}"))
}

#[test]
fn status_page_renders_the_demo_in_chromium() {
    let Some(chromium) = chromium() else {
        println!("SKIPPED: chromium not found; `apt-get install chromium` to test the status page");
        return;
    };
    let ch = ClickHouse::start();
    let env = ingester_env(
        &ch,
        "page",
        &[("DEBUG_MODE", "true"), ("DEBUG_INTERVAL_MS", "20")],
    );
    let ing = Ingester::start(&[], &env);
    // Rates need samples a second apart; rows need a flush.
    wait_for(
        "rates and rows in /status.json",
        Duration::from_secs(60),
        || {
            let (_, body) = ing.get("/status.json");
            let v: serde_json::Value = serde_json::from_str(&body).ok()?;
            let rows = v["rows_written"]["chat"].as_f64().unwrap_or(0.0);
            let rate = v["events_per_second"]["chat"].as_f64().unwrap_or(0.0);
            (rows > 0.0 && rate > 0.0).then_some(())
        },
    );
    let (code, page) = ing.get("/");
    assert_eq!(code, 200);
    assert!(page.starts_with("<!doctype html>"), "{page}");

    let url = format!("http://{}/", ing.health_addr());
    let profile = temp_dir("chromium");
    let dom = headless(&chromium, &profile, "--dump-dom", &url);

    assert_eq!(text_after(&dom, "id=\"health\""), "ok");
    assert!(dom.contains("class=\"badge ok\""), "health badge class");
    assert!(
        dom.contains("<tr data-state=\"demo\"><td>demo</td>"),
        "the demo reader row:\n{dom}"
    );
    assert!(
        dom.contains("<td>7446000000000000001</td>"),
        "the demo room id"
    );
    for kind in ["chat", "gift", "like", "member", "social", "viewer_count"] {
        let row = element(&dom, &format!("<tr data-kind=\"{kind}\">"), "</tr>");
        let total = number(text_after(row, "class=\"num total\""));
        let rate = number(text_after(row, "class=\"num rate\""));
        assert!(total > 0.0, "{kind}: total {total} in {row}");
        assert!(rate >= 0.0, "{kind}: rate {rate} in {row}");
    }
    assert!(number(text_after(&dom, "id=\"rate-total\"")) > 0.0);
    assert!(number(text_after(&dom, "id=\"rows-total\"")) > 0.0);
    assert!(text_after(&dom, "id=\"last-insert\"").ends_with(" ago"));
    assert_eq!(
        text_after(&dom, "id=\"spool\""),
        "0 B",
        "nothing waits in the spool"
    );
    assert_eq!(
        text_after(&dom, "class=\"muted none\""),
        "none",
        "no errors"
    );
    assert!(text_after(&dom, "id=\"updated\"").starts_with("updated "));

    let png = profile.join("status-page.png");
    headless(
        &chromium,
        &profile,
        &format!("--screenshot={}", png.display()),
        &url,
    );
    let bytes = std::fs::read(&png).expect("screenshot written");
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.len() > 10_000);
    let _ = std::fs::remove_dir_all(&profile);
}
