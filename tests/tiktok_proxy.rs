//! The binary against loopback fakes of TikTok (web, webcast, sign server, push socket), a
//! ClickHouse that accepts every insert, and a CONNECT proxy requiring credentials:
//! - every TikTok-side request (live page, api-live, room info, sign, websocket) goes through
//!   `TIKTOK_PROXY`, ClickHouse never does, and a refused proxy is not bypassed (issue 7 req 6);
//! - a full session (lookup → sign → socket → frames → ACKs) at `LOG_LEVEL=Trace` leaves no
//!   secret in the logs, `/metrics` or `/healthz`: not the sign key, the session id, the
//!   ClickHouse or proxy password, the ttwid cookie, nor the signed socket query (issue 5 req 6).

mod support;

use std::collections::HashMap;
use std::time::Duration;

use support::loopback::{signed_fetch, Answer, HttpFake, Proxy, PushFake};
use support::{state_dirs, wait_for, Ingester};

const ROOM: u64 = 7140000000000000001;
const SIGN_KEY: &str = "signkey-5ecret-k3y";
const SESSION: &str = "sess-5ecret-1d";
const CH_PASSWORD: &str = "ch-5ecret-pw";
const PROXY_USER: &str = "proxyuser";
const PROXY_PASSWORD: &str = "proxy-5ecret-pw";
const TTWID: &str = "ttwid-5ecret-c00kie";
/// Marks the signed URL's own values (route parameter, cursor, internal_ext).
const SIGNED: &str = "s1gned-5ecret";

struct World {
    web: HttpFake,
    sign: HttpFake,
    push: PushFake,
    clickhouse: HttpFake,
    proxy: Proxy,
}

fn world() -> World {
    let push = PushFake::start(ROOM);
    let push_port = push.port;
    World {
        // The live page is a captcha, so api-live is asked too.
        web: HttpFake::start(|req| match req.path() {
            "/@someone/live" => Answer::new(200, "<div id=\"tiktok-verify-page\">slide</div>"),
            "/api-live/user/room/" => Answer::new(
                200,
                format!(
                    r#"{{"statusCode":0,"data":{{"user":{{"roomId":"{ROOM}","status":2}},"liveRoom":{{"status":2,"title":"t"}}}}}}"#
                ),
            ),
            "/webcast/room/info/" => Answer::new(
                200,
                r#"{"status_code":0,"data":{"status":2,"title":"t","user_count":3}}"#,
            ),
            "/webcast/room/check_alive/" => Answer::new(200, r#"{"data":[{"alive":false}]}"#),
            _ => Answer::new(404, "no route"),
        }),
        sign: HttpFake::start(move |req| match req.path() {
            "/webcast/fetch" => Answer::new(200, signed_fetch(push_port, ROOM, SIGNED))
                .header("X-Set-TT-Cookie", &format!("ttwid={TTWID}")),
            _ => Answer::new(404, "no route"),
        }),
        push,
        clickhouse: HttpFake::start(|_| Answer::new(200, "")),
        proxy: Proxy::start(PROXY_USER, PROXY_PASSWORD),
    }
}

fn env(w: &World, proxy_password: &str) -> HashMap<String, String> {
    [
        ("TIKTOK_HOST", "@someone".to_string()),
        ("TIKTOK_WEB_URL", w.web.base()),
        ("TIKTOK_WEBCAST_URL", w.web.base()),
        ("SIGN_API_URL", w.sign.base()),
        ("SIGN_API_KEY", SIGN_KEY.to_string()),
        ("TIKTOK_SESSION_ID", SESSION.to_string()),
        (
            "WHITELIST_AUTHENTICATED_SESSION_ID_HOST",
            "127.0.0.1".to_string(),
        ),
        (
            "TIKTOK_PROXY",
            format!(
                "http://{PROXY_USER}:{proxy_password}@127.0.0.1:{}",
                w.proxy.port
            ),
        ),
        (
            "CLICKHOUSE_CONN",
            format!(
                "http://ingest:{CH_PASSWORD}@127.0.0.1:{}/chakal",
                w.clickhouse.port
            ),
        ),
        ("CLICKHOUSE_INIT_SCHEMA", "false".to_string()),
        ("FLUSH_INTERVAL_MS", "100".to_string()),
        ("HTTP_ADDR", "127.0.0.1:0".to_string()),
        ("LOG_LEVEL", "Trace".to_string()),
    ]
    .into_iter()
    .chain(state_dirs())
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// Every form in which a secret could show up.
fn secrets(extra: &[String]) -> Vec<String> {
    let mut all: Vec<String> = [
        SIGN_KEY,
        SESSION,
        CH_PASSWORD,
        PROXY_PASSWORD,
        TTWID,
        SIGNED,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    use base64::Engine as _;
    all.push(
        base64::engine::general_purpose::STANDARD.encode(format!("{PROXY_USER}:{PROXY_PASSWORD}")),
    );
    all.extend(extra.iter().cloned());
    all
}

fn assert_clean(what: &str, text: &str, secrets: &[String]) {
    for secret in secrets {
        assert!(
            !text.contains(secret.as_str()),
            "{what} shows the secret {secret:?}:\n{text}"
        );
    }
}

#[test]
fn every_tiktok_request_goes_through_the_proxy_and_no_secret_is_ever_shown() {
    let w = world();
    let mut ing = Ingester::start(&[], &env(&w, PROXY_PASSWORD));

    // The whole session: lookup, sign, socket, two frames ACKed, stream end.
    let conn = wait_for(
        "the stream to end on the socket",
        Duration::from_secs(30),
        || {
            w.push
                .conns()
                .into_iter()
                .find(|c| c.acks.contains(&2) && c.closed_by_client)
        },
    );
    assert!(conn.entered);
    assert_eq!(conn.acks, [1, 2]);
    wait_for("inserts", Duration::from_secs(20), || {
        (!w.clickhouse.seen().is_empty()).then_some(())
    });
    let (code, health) = ing.get("/healthz");
    assert_eq!(code, 200, "{health}");
    let (_, metrics) = ing.get("/metrics");
    assert!(metrics.contains("chakal_acks_sent_total 2"), "{metrics}");
    assert!(
        metrics.contains("chakal_host_state{host=\"someone\""),
        "{metrics}"
    );

    // Routing: TikTok through the proxy with credentials, ClickHouse directly.
    let tunnels = w.proxy.tunnels();
    assert!(tunnels.iter().all(|t| t.authorised), "{tunnels:?}");
    let targets: Vec<&str> = tunnels.iter().map(|t| t.target.as_str()).collect();
    for (name, port) in [
        ("web", w.web.port),
        ("sign", w.sign.port),
        ("push", w.push.port),
    ] {
        assert!(
            targets.contains(&format!("127.0.0.1:{port}").as_str()),
            "{name} not reached through the proxy: {targets:?}"
        );
    }
    assert!(
        !targets.contains(&format!("127.0.0.1:{}", w.clickhouse.port).as_str()),
        "ClickHouse went through the TikTok proxy: {targets:?}"
    );
    let requests: Vec<&str> = tunnels
        .iter()
        .flat_map(|t| t.requests.iter().map(String::as_str))
        .collect();
    for path in [
        "GET /@someone/live",
        "GET /api-live/user/room/?",
        "GET /webcast/room/info/?",
        "GET /webcast/fetch?",
        "GET /webcast/im/?",
    ] {
        assert!(
            requests.iter().any(|r| r.starts_with(path)),
            "{path} did not go through the proxy: {requests:?}"
        );
    }
    let proxied = requests.len();
    let direct = w.web.seen().len() + w.sign.seen().len() + w.push.conns().len();
    assert!(
        proxied >= direct,
        "{direct} TikTok-side requests but only {proxied} through the proxy"
    );
    assert!(w.clickhouse.seen().iter().all(|r| r.method == "POST"));

    // The session cookie (PROTOCOL.md §3.7): on TikTok's HTTP calls and the socket, and to the
    // sign server only because it is whitelisted here.
    let cookie = conn.header("cookie").unwrap_or("");
    assert!(cookie.starts_with(&format!("ttwid={TTWID}")), "{cookie}");
    assert!(cookie.contains(&format!("sessionid={SESSION}")), "{cookie}");
    assert!(cookie.contains("tt-target-idc=useast1a"), "{cookie}");
    for req in w.web.seen() {
        assert!(
            req.header("cookie")
                .unwrap_or("")
                .contains(&format!("sessionid={SESSION}")),
            "{req:?}"
        );
    }
    let sign = &w.sign.seen_path("/webcast/fetch")[0];
    assert_eq!(sign.header("x-api-key"), Some(SIGN_KEY));
    assert_eq!(
        sign.header("x-cookie-header"),
        Some(format!("sessionid={SESSION}; tt-target-idc=useast1a").as_str())
    );

    // Secrets: the signed query string as the push server received it is one of them.
    let query = conn
        .uri
        .split_once('?')
        .map(|(_, q)| q.to_string())
        .unwrap();
    assert!(query.contains(SIGNED));
    let secrets = secrets(&[query]);
    assert_clean("/healthz", &health, &secrets);
    assert_clean("/metrics", &metrics, &secrets);
    ing.signal("TERM");
    let status = ing.wait(Duration::from_secs(15));
    let log = ing.log();
    assert!(status.success(), "exit {status:?}\n{log}");
    assert!(log.contains("log_level: Trace"), "{log}");
    assert!(log.contains("connected host=someone"), "{log}");
    assert!(!log.contains("panicked"), "{log}");
    assert_clean("the log", &log, &secrets);
}

#[test]
fn a_refusing_proxy_is_never_bypassed_and_its_errors_show_no_secret() {
    let w = world();
    const WRONG: &str = "wr0ng-5ecret-pw";
    let mut ing = Ingester::start(&[], &env(&w, WRONG));
    let health = wait_for(
        "the proxy refusal in /healthz",
        Duration::from_secs(30),
        || {
            let (_, body) = ing.get("/healthz");
            body.contains("407").then_some(body)
        },
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(!w.proxy.tunnels().is_empty());
    assert!(w.proxy.tunnels().iter().all(|t| !t.authorised));
    assert!(
        w.web.seen().is_empty() && w.sign.seen().is_empty() && w.push.conns().is_empty(),
        "TikTok was reached around the proxy"
    );
    let (_, metrics) = ing.get("/metrics");
    ing.signal("TERM");
    ing.wait(Duration::from_secs(15));
    let log = ing.log();
    assert!(log.contains("407"), "{log}");
    let secrets = secrets(&[WRONG.to_string()]);
    assert_clean("/healthz", &health, &secrets);
    assert_clean("/metrics", &metrics, &secrets);
    assert_clean("the log", &log, &secrets);
}
