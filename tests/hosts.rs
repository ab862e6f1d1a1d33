//! Several hosts in one process (issue 7 req 1), with the binary: TIKTOK_HOST merged with
//! TIKTOK_HOSTS_FILE, one reader per host, and SIGHUP re-reading the file — a new host gets a
//! reader at once, a removed host's reader stops and leaves `/healthz` and `/metrics`, the
//! others keep running untouched, a bad file changes nothing, and the process keeps going.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use support::loopback::{live_page, Answer, HttpFake};
use support::{state_dirs, temp_dir, wait_for, Ingester};

fn readers(ing: &Ingester) -> Vec<(String, String)> {
    let (code, body) = ing.get("/healthz");
    assert_eq!(code, 200, "{body}");
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    let mut readers: Vec<(String, String)> = health["readers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_string(),
                r["state"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    readers.sort();
    readers
}

fn names(ing: &Ingester) -> Vec<String> {
    readers(ing).into_iter().map(|(name, _)| name).collect()
}

fn count(log: &str, needle: &str) -> usize {
    log.lines().filter(|l| l.contains(needle)).count()
}

#[test]
fn sighup_adds_and_removes_hosts_without_touching_the_others() {
    // Every host is offline: each reader looks it up once, then polls (every 30 s).
    let tiktok = HttpFake::start(|req| {
        if req.path().ends_with("/live") {
            live_page(None)
        } else {
            Answer::new(404, "no route")
        }
    });
    let clickhouse = HttpFake::start(|_| Answer::new(200, ""));
    let dir = temp_dir("hosts");
    let file = dir.join("hosts.txt");
    std::fs::write(&file, "# rooms\n@bravo\n\ncharlie  # second\n").unwrap();
    let env: HashMap<String, String> = [
        ("TIKTOK_HOST", "alpha".to_string()),
        ("TIKTOK_HOSTS_FILE", file.display().to_string()),
        ("TIKTOK_WEB_URL", tiktok.base()),
        ("TIKTOK_WEBCAST_URL", tiktok.base()),
        ("SIGN_API_URL", tiktok.base()),
        ("LIVE_POLL_INTERVAL_S", "30".to_string()),
        (
            "CLICKHOUSE_CONN",
            format!("http://127.0.0.1:{}/chakal", clickhouse.port),
        ),
        ("CLICKHOUSE_INIT_SCHEMA", "false".to_string()),
        ("HTTP_ADDR", "127.0.0.1:0".to_string()),
        ("LOG_LEVEL", "Debug".to_string()),
    ]
    .into_iter()
    .chain(state_dirs())
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let mut ing = Ingester::start(&[], &env);

    wait_for("three readers", Duration::from_secs(20), || {
        (names(&ing) == ["alpha", "bravo", "charlie"]).then_some(())
    });
    let log = ing.log();
    assert!(log.contains("first_lookup_in_ms=0"), "{log}");
    assert!(log.contains("first_lookup_in_ms=10000"), "{log}");
    assert!(log.contains("first_lookup_in_ms=20000"), "{log}");
    wait_for("alpha's first lookup", Duration::from_secs(10), || {
        (!tiktok.seen_path("/@alpha/live").is_empty()).then_some(())
    });
    let (_, metrics) = ing.get("/metrics");
    assert!(metrics.contains("chakal_hosts 3"), "{metrics}");
    assert!(
        metrics.contains("chakal_host_state{host=\"charlie\",state=\"polling\"} 1"),
        "{metrics}"
    );

    // bravo leaves, delta arrives; alpha (TIKTOK_HOST) and charlie stay.
    std::fs::write(&file, "charlie\ndelta\n").unwrap();
    ing.signal("HUP");
    wait_for("the reload", Duration::from_secs(20), || {
        (names(&ing) == ["alpha", "charlie", "delta"]).then_some(())
    });
    wait_for(
        "delta's first lookup, at once",
        Duration::from_secs(10),
        || (!tiktok.seen_path("/@delta/live").is_empty()).then_some(()),
    );
    let log = ing.log();
    assert!(
        log.contains("hosts hosts=3 added=delta removed=bravo"),
        "{log}"
    );
    assert!(log.contains("reader stopped host=bravo"), "{log}");
    assert!(log.contains("reader removed host=bravo"), "{log}");
    for host in ["alpha", "charlie"] {
        assert_eq!(
            count(&log, &format!("reader started host={host} ")),
            1,
            "{host} restarted:\n{log}"
        );
    }
    let (_, metrics) = ing.get("/metrics");
    assert!(!metrics.contains("host=\"bravo\""), "{metrics}");
    assert!(
        metrics.contains("chakal_host_state{host=\"delta\""),
        "{metrics}"
    );

    // A bad file is refused as a whole; the running hosts stay.
    std::fs::write(&file, "charlie\nnot a handle!\n").unwrap();
    ing.signal("HUP");
    wait_for("the refusal in the log", Duration::from_secs(20), || {
        ing.log().contains("hosts not reloaded").then_some(())
    });
    assert_eq!(names(&ing), ["alpha", "charlie", "delta"]);

    ing.signal("TERM");
    let status = ing.wait(Duration::from_secs(15));
    let log = ing.log();
    assert!(status.success(), "{status:?}\n{log}");
    assert!(
        log.contains("line 2: `not a handle!` is not a TikTok user"),
        "{log}"
    );
    assert_eq!(count(&log, "reader stopped host="), 4, "{log}");
    std::fs::remove_dir_all(&dir).unwrap();
}
