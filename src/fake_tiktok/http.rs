//! The fake's HTTP endpoints (PROTOCOL.md §2.2–§2.4, §3.2–§3.3), served by tiny_http: the live
//! page with `SIGI_STATE`, `api-live/user/room`, `room/check_alive`, `room/info`, and the sign
//! endpoint `webcast/fetch` (also `webcast/rooms/{id}/connect`). Paths are matched by suffix.
//!
//! Must not touch: the websocket; the scenario beyond reading it.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::json;
use tiny_http::{Header, Request, Response};

use super::frames::{sign_result, SignAnswer};
use super::record::{Lookup, SignRequest};
use super::Shared;
use crate::tiktok::proto::BaseProtoMessage;

type Reply = Response<std::io::Cursor<Vec<u8>>>;

/// Serves until the stop flag is set, waking every 50 ms.
pub(super) fn serve(server: &tiny_http::Server, shared: &Shared) {
    while !shared.stop.is_triggered() {
        let request = match server.recv_timeout(Duration::from_millis(50)) {
            Ok(Some(r)) => r,
            Ok(None) => continue,
            Err(e) => {
                log::debug!("fake tiktok http receive failed error={e}");
                continue;
            }
        };
        let reply = route(&request, shared);
        if let Err(e) = request.respond(reply) {
            log::debug!("fake tiktok http answer not sent error={e}");
        }
    }
}

fn route(request: &Request, shared: &Shared) -> Reply {
    let (path, query) = split_url(request.url());
    let trimmed = path.trim_end_matches('/');
    if let Some(user) = trimmed
        .strip_prefix("/@")
        .and_then(|p| p.strip_suffix("/live"))
    {
        return live_page(shared, user, &path, query);
    }
    if trimmed.ends_with("/api-live/user/room") {
        return api_live(shared, &path, query);
    }
    if trimmed.ends_with("/room/check_alive") {
        return check_alive(shared, &path, query);
    }
    if trimmed.ends_with("/room/info") {
        return room_info(shared, &path, query);
    }
    if trimmed.ends_with("/webcast/fetch") || is_rest_connect(trimmed) {
        return sign(shared, request, &path, query);
    }
    text(404, format!("fake tiktok has no page {path}\n"))
}

/// `/webcast/rooms/{room_id}/connect`, the sign server's REST form.
fn is_rest_connect(path: &str) -> bool {
    path.strip_suffix("/connect")
        .and_then(|p| p.rsplit_once("/webcast/rooms/"))
        .is_some_and(|(_, id)| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
}

/// Counts and records one lookup of `endpoint`; true when it answers "live". A lookup of an
/// unknown user or room (`ours` false) answers "not live" but still counts.
fn record_lookup(
    shared: &Shared,
    endpoint: &'static str,
    path: &str,
    query: Vec<(String, String)>,
    ours: bool,
) -> bool {
    let mut state = shared.lock();
    let live = state.lookup_live(shared.scenario().offline_lookups) && ours;
    state.rec.lookups.push(Lookup {
        at: Instant::now(),
        endpoint,
        path: path.to_string(),
        query,
        answered_live: live,
    });
    live
}

/// 2 live, 4 offline (§2.6).
fn status_code(live: bool) -> u8 {
    if live {
        2
    } else {
        4
    }
}

fn start_time_s(shared: &Shared) -> u64 {
    unix_ms().saturating_sub(shared.started.elapsed().as_millis() as u64) / 1000
}

fn live_page(shared: &Shared, user: &str, path: &str, query: Vec<(String, String)>) -> Reply {
    let known = user == shared.config.user;
    let live = record_lookup(shared, "live_page", path, query, known);
    let state = if known {
        let status = status_code(live);
        let room_id = shared.config.room_id.to_string();
        json!({
            "AppContext": {"appContext": {"language": "en"}},
            "LiveRoom": {"liveRoomUserInfo": {
                "user": {
                    "id": "6900000000000000001",
                    "uniqueId": user,
                    "nickname": "Fake Host",
                    "roomId": room_id,
                    "status": status,
                },
                "liveRoom": {
                    "roomId": room_id,
                    "status": status,
                    "title": "fake live",
                    "startTime": start_time_s(shared),
                    "liveRoomStats": {"userCount": 1234, "enterCount": 5678},
                },
            }},
        })
    } else {
        // What TikTok serves for a user that does not exist or never went live.
        json!({"AppContext": {"appContext": {"language": "en"}}})
    };
    let html = format!(
        "<!DOCTYPE html><html><head><title>@{user} LIVE</title></head><body><div id=\"app\"></div>\
         <script id=\"SIGI_STATE\" type=\"application/json\">{state}</script></body></html>"
    );
    Response::from_string(html).with_header(header("Content-Type", "text/html; charset=utf-8"))
}

fn api_live(shared: &Shared, path: &str, query: Vec<(String, String)>) -> Reply {
    let known = super::record::param(&query, "uniqueId") == Some(shared.config.user.as_str());
    let live = record_lookup(shared, "api_live", path, query, known);
    if !known {
        return json_reply(
            json!({"statusCode": 19881007, "message": "user_not_found", "data": null}),
        );
    }
    let status = status_code(live);
    json_reply(json!({
        "statusCode": 0,
        "message": "",
        "data": {
            "user": {
                "id": "6900000000000000001",
                "uniqueId": shared.config.user,
                "nickname": "Fake Host",
                "roomId": shared.config.room_id.to_string(),
                "status": status,
            },
            "liveRoom": {
                "status": status,
                "title": "fake live",
                "startTime": start_time_s(shared),
                "liveRoomStats": {"userCount": 1234, "enterCount": 5678},
            },
            "stats": {"followerCount": 4321, "followingCount": 12},
        },
    }))
}

fn check_alive(shared: &Shared, path: &str, query: Vec<(String, String)>) -> Reply {
    let ids: Vec<String> = super::record::param(&query, "room_ids")
        .unwrap_or("")
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    let ours = ids
        .iter()
        .any(|id| id.parse::<u64>().ok() == Some(shared.config.room_id));
    let live = record_lookup(shared, "check_alive", path, query, ours);
    let data: Vec<serde_json::Value> = ids
        .iter()
        .map(|id| {
            let ours = id.parse::<u64>().ok() == Some(shared.config.room_id);
            json!({
                "alive": live && ours,
                "room_id": id.parse::<u64>().unwrap_or(0),
                "room_id_str": id,
            })
        })
        .collect();
    json_reply(json!({"data": data, "extra": {"now": unix_ms()}, "status_code": 0}))
}

fn room_info(shared: &Shared, path: &str, query: Vec<(String, String)>) -> Reply {
    let ours = super::record::param(&query, "room_id").and_then(|v| v.parse::<u64>().ok())
        == Some(shared.config.room_id);
    let live = record_lookup(shared, "room_info", path, query, ours);
    if shared.scenario().age_restricted {
        return json_reply(json!({
            "data": {"prompts": "This LIVE is age-restricted. Log in to watch."},
            "extra": {"now": unix_ms()},
            "status_code": 4003110,
        }));
    }
    json_reply(json!({
        "data": {
            "id": shared.config.room_id,
            "id_str": shared.config.room_id.to_string(),
            "status": status_code(live),
            "title": "fake live",
            "user_count": 1234,
            "stats": {"total_user": 5678, "like_count": 42},
            "owner": {"id": 6900000000000000001u64, "display_id": shared.config.user, "nickname": "Fake Host"},
            "age_restricted": {"restricted": false},
        },
        "extra": {"now": unix_ms()},
        "status_code": 0,
    }))
}

fn sign(shared: &Shared, request: &Request, path: &str, query: Vec<(String, String)>) -> Reply {
    let api_key = request
        .headers()
        .iter()
        .find(|h| h.field.equiv("x-api-key"))
        .map(|h| h.value.as_str().to_string());
    let user_agent = super::record::param(&query, "user_agent").map(str::to_string);
    let scenario = shared.scenario();
    let mut state = shared.lock();
    let serial = state.rec.sign_requests.len() + 1;
    let mut record = SignRequest {
        at: Instant::now(),
        path: path.to_string(),
        query,
        api_key,
        status: 429,
        token: None,
        first_batch_frames: 0,
    };
    if serial <= scenario.sign_rate_limited {
        state.rec.sign_requests.push(record);
        let secs = scenario.retry_after.as_secs();
        return json_reply(
            json!({"message": "Too many requests, slow down", "limit_label": "minute"}),
        )
        .with_status_code(429)
        .with_header(header("Retry-After", &secs.to_string()))
        .with_header(header(
            "X-RateLimit-Reset",
            &(unix_ms() / 1000 + secs).to_string(),
        ));
    }
    let token = format!(
        "fk{serial}x{:x}",
        unix_ms() ^ (serial as u64).wrapping_mul(0x9e37_79b9)
    );
    let mut batch: Vec<BaseProtoMessage> = Vec::new();
    let end_at = shared.end_at();
    for _ in 0..shared.config.first_batch_frames {
        let Some(index) = state.take_next(shared.frames.len(), end_at) else {
            break;
        };
        batch.extend(shared.frames[index].envelopes().iter().cloned());
        state.delivered_frame(index, scenario.replay_on_reconnect);
        record.first_batch_frames += 1;
    }
    state
        .tokens
        .insert(token.clone(), (user_agent.clone(), false));
    record.status = 200;
    record.token = Some(token.clone());
    state.rec.sign_requests.push(record);
    drop(state);
    let body = sign_result(
        &SignAnswer {
            push_server: &shared.push_server,
            token: &token,
            serial,
            now_ms: unix_ms() as i64,
        },
        batch,
    );
    Response::from_data(body)
        .with_header(header("Content-Type", "application/x-protobuf"))
        .with_header(header(
            "X-Set-TT-Cookie",
            &format!("ttwid=1%7Cfake{serial}%7C{token}; tt_chain_token=fakechain{serial}"),
        ))
        .with_header(header("X-Room-Id", &shared.config.room_id.to_string()))
        .with_header(header("X-Request-Id", &format!("fake-request-{serial}")))
        .with_header(header("X-Agent-Id", "fake-agent"))
}

fn json_reply(value: serde_json::Value) -> Reply {
    Response::from_string(value.to_string())
        .with_header(header("Content-Type", "application/json; charset=utf-8"))
}

fn text(code: u16, body: String) -> Reply {
    Response::from_string(body)
        .with_status_code(code)
        .with_header(header("Content-Type", "text/plain; charset=utf-8"))
}

fn header(name: &str, value: &str) -> Header {
    Header::from_bytes(name, value).expect("headers built by the fake are printable ASCII")
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Splits a request target into its path and decoded query pairs.
pub(super) fn split_url(url: &str) -> (String, Vec<(String, String)>) {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let pairs = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect();
    (percent_decode(path), pairs)
}

/// `%XX` and `+` decoding; invalid escapes are kept literally, invalid UTF-8 replaced.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake_tiktok::{FakeConfig, FakeTikTok, Scenario};
    use crate::tiktok::proto::ProtoMessageFetchResult;
    use prost::Message;

    #[test]
    fn query_strings_are_decoded() {
        let (path, q) = split_url("/a%20b/?x=1&ua=Mozilla%2F5.0+(X11)&flag&bad=%zz%4");
        assert_eq!(path, "/a b/");
        assert_eq!(
            q,
            vec![
                ("x".into(), "1".into()),
                ("ua".into(), "Mozilla/5.0 (X11)".into()),
                ("flag".into(), "".into()),
                ("bad".into(), "%zz%4".into()),
            ]
        );
        assert!(is_rest_connect("/webcast/rooms/123/connect"));
        assert!(!is_rest_connect("/webcast/rooms//connect"));
    }

    fn get(url: &str) -> (u16, String) {
        let mut response = crate::http::agent(Duration::from_secs(5))
            .get(url)
            .call()
            .unwrap();
        let status = response.status().as_u16();
        (status, response.body_mut().read_to_string().unwrap())
    }

    #[test]
    fn lookups_answer_live_after_the_offline_ones() {
        let mut config = FakeConfig::new(vec![]);
        config.scenario = Scenario {
            offline_lookups: 1,
            ..Scenario::default()
        };
        let fake = FakeTikTok::start(config).unwrap();
        let web = fake.web_url();
        let (code, page) = get(&format!("{web}/@fakehost/live"));
        assert_eq!(code, 200);
        assert!(page.contains(r#"<script id="SIGI_STATE" type="application/json">"#));
        assert!(page.contains(r#""status":4"#), "{page}");
        let (_, page) = get(&format!("{web}/@fakehost/live"));
        assert!(
            page.contains(r#""roomId":"7140000000000000001","status":2"#),
            "{page}"
        );
        let (_, body) = get(&format!(
            "{web}/api-live/user/room/?aid=1988&uniqueId=fakehost&sourceType=54"
        ));
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["data"]["liveRoom"]["status"], 2);
        assert_eq!(v["data"]["user"]["roomId"], "7140000000000000001");
        let (_, body) = get(&format!("{web}/api-live/user/room/?uniqueId=nobody"));
        assert!(body.contains("user_not_found"), "{body}");
        let (_, body) = get(&format!(
            "{}/webcast/room/check_alive/?room_ids=7140000000000000001,5",
            fake.webcast_url()
        ));
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["data"][0]["alive"], true);
        assert_eq!(v["data"][1]["alive"], false);
        let (_, body) = get(&format!(
            "{}/webcast/room/info/?room_id=7140000000000000001",
            fake.webcast_url()
        ));
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["data"]["status"], 2);
        let rec = fake.recording();
        let answers: Vec<bool> = rec.lookups.iter().map(|l| l.answered_live).collect();
        assert_eq!(answers, vec![false, true, true, false, true, true]);
    }

    #[test]
    fn sign_answers_protobuf_then_rate_limits() {
        let mut config = FakeConfig::new(vec![]);
        config.scenario = Scenario {
            sign_rate_limited: 1,
            retry_after: Duration::from_secs(7),
            age_restricted: true,
            ..Scenario::default()
        };
        let fake = FakeTikTok::start(config).unwrap();
        let url = format!(
            "{}/webcast/fetch?client=ttlive-rust&room_id=7140000000000000001&user_agent=UA%201",
            fake.sign_url()
        );
        let agent = crate::http::agent(Duration::from_secs(5));
        let limited = agent.get(&url).header("x-api-key", "k").call().unwrap();
        assert_eq!(limited.status().as_u16(), 429);
        assert_eq!(limited.headers()["retry-after"], "7");
        let mut ok = agent.get(&url).call().unwrap();
        assert_eq!(ok.status().as_u16(), 200);
        assert!(ok.headers()["x-set-tt-cookie"]
            .to_str()
            .unwrap()
            .starts_with("ttwid="));
        let body = ok.body_mut().read_to_vec().unwrap();
        let result = ProtoMessageFetchResult::decode(body.as_slice()).unwrap();
        assert_eq!(result.push_server, fake.push_server());
        let signs = fake.sign_requests();
        assert_eq!(signs[0].api_key.as_deref(), Some("k"));
        assert_eq!((signs[0].status, signs[1].status), (429, 200));
        assert_eq!(signs[1].param("user_agent"), Some("UA 1"));
        assert_eq!(
            signs[1].token.as_deref(),
            Some(result.route_params["wrss"].as_str())
        );
        let (_, body) = get(&format!(
            "{}/webcast/room/info/?room_id=1",
            fake.webcast_url()
        ));
        assert!(
            body.contains("4003110") && body.contains("prompts"),
            "{body}"
        );
    }
}
