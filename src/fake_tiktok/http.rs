//! The fake's HTTP endpoints (PROTOCOL.md §2.2–§2.4, §3.2–§3.3): the live page with
//! `SIGI_STATE`, `api-live/user/room`, `room/check_alive`, `room/info`, and the sign endpoint
//! `webcast/fetch` (also `webcast/rooms/{id}/connect`). Paths are matched by suffix. Every
//! answer closes its connection.
//!
//! Must not touch: the websocket, the listener; the scenario beyond reading it.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde_json::json;

use super::frames::{sign_result, SignAnswer};
use super::listen::RequestHead;
use super::record::param;
use super::record::{Lookup, SignRequest};
use super::{Shared, Token};
use crate::tiktok::proto::BaseProtoMessage;

/// One HTTP answer.
pub(super) struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn new(status: u16, content_type: &str, body: Vec<u8>) -> Reply {
        Reply {
            status,
            headers: vec![("Content-Type", content_type.to_string())],
            body,
        }
    }

    fn header(mut self, name: &'static str, value: impl Into<String>) -> Reply {
        self.headers.push((name, value.into()));
        self
    }

    /// The answer as HTTP/1.1 bytes, with `Content-Length` and `Connection: close`.
    pub(super) fn to_bytes(&self) -> Vec<u8> {
        let reason = match self.status {
            200 => "OK",
            404 => "Not Found",
            405 => "Method Not Allowed",
            429 => "Too Many Requests",
            _ => "Unknown",
        };
        let mut head = format!("HTTP/1.1 {} {reason}\r\n", self.status);
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str(&format!(
            "Content-Length: {}\r\nConnection: close\r\n\r\n",
            self.body.len()
        ));
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

/// The answer to one request.
pub(super) fn route(shared: &Shared, head: &RequestHead) -> Reply {
    if head.method != "GET" {
        return text(
            405,
            format!("fake tiktok answers GET only, not {}\n", head.method),
        );
    }
    let path = head.path.as_str();
    let query = head.query.clone();
    let trimmed = path.trim_end_matches('/');
    if let Some(user) = trimmed
        .strip_prefix("/@")
        .and_then(|p| p.strip_suffix("/live"))
    {
        return live_page(shared, user, path, query);
    }
    if trimmed.ends_with("/api-live/user/room") {
        return api_live(shared, path, query);
    }
    if trimmed.ends_with("/room/check_alive") {
        return check_alive(shared, path, query);
    }
    if trimmed.ends_with("/room/info") {
        return room_info(shared, path, query);
    }
    if trimmed.ends_with("/webcast/fetch") || is_rest_connect(trimmed) {
        return sign(shared, head.header("x-api-key"), path, query);
    }
    text(404, format!("fake tiktok has no page {path}\n"))
}

/// `/webcast/rooms/{room_id}/connect`, the sign server's REST form.
fn is_rest_connect(path: &str) -> bool {
    path.strip_suffix("/connect")
        .and_then(|p| p.rsplit_once("/webcast/rooms/"))
        .is_some_and(|(_, id)| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
}

/// Counts and records one lookup of `endpoint` about `room` (`None`: not one of the fake's);
/// true when it answers "live".
fn record_lookup(
    shared: &Shared,
    endpoint: &'static str,
    path: &str,
    query: Vec<(String, String)>,
    room: Option<usize>,
) -> bool {
    let mut state = shared.lock();
    let live = room.is_some_and(|r| state.rooms[r].lookup_live(shared.scenario.offline_lookups));
    state.rec.lookups.push(Lookup {
        at: Instant::now(),
        endpoint,
        path: path.to_string(),
        query,
        room_id: room.map(|r| shared.rooms[r].room_id),
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

/// A stable fake numeric user id for a room's host.
fn host_id(room: usize) -> u64 {
    6_900_000_000_000_000_001 + room as u64
}

fn live_page(shared: &Shared, user: &str, path: &str, query: Vec<(String, String)>) -> Reply {
    let room = shared.room_of_user(user);
    let live = record_lookup(shared, "live_page", path, query, room);
    let state = match room {
        Some(r) => {
            let status = status_code(live);
            let room_id = shared.rooms[r].room_id.to_string();
            json!({
                "AppContext": {"appContext": {"language": "en"}},
                "LiveRoom": {"liveRoomUserInfo": {
                    "user": {
                        "id": host_id(r).to_string(),
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
        }
        // What TikTok serves for a user that does not exist or never went live.
        None => json!({"AppContext": {"appContext": {"language": "en"}}}),
    };
    let html = format!(
        "<!DOCTYPE html><html><head><title>@{user} LIVE</title></head><body><div id=\"app\"></div>\
         <script id=\"SIGI_STATE\" type=\"application/json\">{state}</script></body></html>"
    );
    Reply::new(200, "text/html; charset=utf-8", html.into_bytes())
}

fn api_live(shared: &Shared, path: &str, query: Vec<(String, String)>) -> Reply {
    let room = param(&query, "uniqueId").and_then(|u| shared.room_of_user(u));
    let live = record_lookup(shared, "api_live", path, query, room);
    let Some(r) = room else {
        return json_reply(
            json!({"statusCode": 19881007, "message": "user_not_found", "data": null}),
        );
    };
    let status = status_code(live);
    json_reply(json!({
        "statusCode": 0,
        "message": "",
        "data": {
            "user": {
                "id": host_id(r).to_string(),
                "uniqueId": shared.rooms[r].user,
                "nickname": "Fake Host",
                "roomId": shared.rooms[r].room_id.to_string(),
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

/// `room/check_alive` for several rooms: each counts as one lookup of its room.
fn check_alive(shared: &Shared, path: &str, query: Vec<(String, String)>) -> Reply {
    let ids: Vec<String> = param(&query, "room_ids")
        .unwrap_or("")
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    let data: Vec<serde_json::Value> = ids
        .iter()
        .map(|id| {
            let room = id.parse::<u64>().ok().and_then(|n| shared.room_of_id(n));
            let alive = record_lookup(shared, "check_alive", path, query.clone(), room);
            json!({
                "alive": alive,
                "room_id": id.parse::<u64>().unwrap_or(0),
                "room_id_str": id,
            })
        })
        .collect();
    json_reply(json!({"data": data, "extra": {"now": unix_ms()}, "status_code": 0}))
}

fn room_info(shared: &Shared, path: &str, query: Vec<(String, String)>) -> Reply {
    let room = param(&query, "room_id")
        .and_then(|v| v.parse::<u64>().ok())
        .and_then(|n| shared.room_of_id(n));
    let live = record_lookup(shared, "room_info", path, query, room);
    if shared.scenario.age_restricted {
        return json_reply(json!({
            "data": {"prompts": "This LIVE is age-restricted. Log in to watch."},
            "extra": {"now": unix_ms()},
            "status_code": 4003110,
        }));
    }
    let Some(r) = room else {
        return json_reply(json!({
            "data": {"message": "room not found"},
            "extra": {"now": unix_ms()},
            "status_code": 30003,
        }));
    };
    json_reply(json!({
        "data": {
            "id": shared.rooms[r].room_id,
            "id_str": shared.rooms[r].room_id.to_string(),
            "status": status_code(live),
            "title": "fake live",
            "user_count": 1234,
            "stats": {"total_user": 5678, "like_count": 42},
            "owner": {"id": host_id(r), "display_id": shared.rooms[r].user, "nickname": "Fake Host"},
            "age_restricted": {"restricted": false},
        },
        "extra": {"now": unix_ms()},
        "status_code": 0,
    }))
}

/// The room a sign request is for: `room_id` in the query, or in the REST path.
fn signed_room(shared: &Shared, path: &str, query: &[(String, String)]) -> Option<usize> {
    let from_path = path
        .trim_end_matches('/')
        .strip_suffix("/connect")
        .and_then(|p| p.rsplit_once("/webcast/rooms/"))
        .map(|(_, id)| id);
    param(query, "room_id")
        .or(from_path)
        .and_then(|id| id.parse::<u64>().ok())
        .and_then(|id| shared.room_of_id(id))
}

fn sign(shared: &Shared, api_key: Option<&str>, path: &str, query: Vec<(String, String)>) -> Reply {
    let api_key = api_key.map(str::to_string);
    let user_agent = param(&query, "user_agent").map(str::to_string);
    let room = signed_room(shared, path, &query);
    let scenario = &shared.scenario;
    let mut state = shared.lock();
    let serial = state.rec.sign_requests.len() + 1;
    let mut record = SignRequest {
        at: Instant::now(),
        path: path.to_string(),
        query,
        room_id: room.map(|r| shared.rooms[r].room_id),
        api_key,
        status: 429,
        token: None,
        first_batch_frames: 0,
        first_batch: Vec::new(),
    };
    if serial <= scenario.sign_rate_limited {
        state.rec.sign_requests.push(record);
        let secs = scenario.retry_after.as_secs();
        return json_status(
            429,
            json!({"message": "Too many requests, slow down", "limit_label": "minute"}),
        )
        .header("Retry-After", secs.to_string())
        .header("X-RateLimit-Reset", (unix_ms() / 1000 + secs).to_string());
    }
    let Some(r) = room else {
        record.status = 404;
        state.rec.sign_requests.push(record);
        return json_status(
            404,
            json!({"code": 404, "message": "room not found", "ok": false}),
        );
    };
    let token = format!(
        "fk{serial}x{:x}",
        unix_ms() ^ (serial as u64).wrapping_mul(0x9e37_79b9)
    );
    let mut batch: Vec<BaseProtoMessage> = Vec::new();
    let frames = &shared.rooms[r].frames;
    let end_at = shared.end_at(r);
    for _ in 0..shared.first_batch_frames {
        let room_state = &mut state.rooms[r];
        let Some(index) = room_state.take_next(frames.len(), end_at) else {
            break;
        };
        batch.extend(frames[index].envelopes());
        record.first_batch.extend(frames[index].messages());
        room_state.delivered_frame(index, scenario.replay_on_reconnect);
        record.first_batch_frames += 1;
    }
    state.tokens.insert(
        token.clone(),
        Token {
            room: r,
            user_agent,
            used: false,
        },
    );
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
    Reply::new(200, "application/x-protobuf", body)
        .header(
            "X-Set-TT-Cookie",
            format!("ttwid=1%7Cfake{serial}%7C{token}; tt_chain_token=fakechain{serial}"),
        )
        .header("X-Room-Id", shared.rooms[r].room_id.to_string())
        .header("X-Request-Id", format!("fake-request-{serial}"))
        .header("X-Agent-Id", "fake-agent")
}

fn json_reply(value: serde_json::Value) -> Reply {
    json_status(200, value)
}

fn json_status(status: u16, value: serde_json::Value) -> Reply {
    Reply::new(
        status,
        "application/json; charset=utf-8",
        value.to_string().into_bytes(),
    )
}

fn text(status: u16, body: String) -> Reply {
    Reply::new(status, "text/plain; charset=utf-8", body.into_bytes())
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake_tiktok::{FakeConfig, FakeTikTok, Scenario};
    use crate::tiktok::proto::ProtoMessageFetchResult;
    use prost::Message;
    use std::time::Duration;

    #[test]
    fn rest_connect_paths() {
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
        // live page ×2, api-live ×2, check_alive per room id ×2, room info.
        assert_eq!(answers, vec![false, true, true, false, true, false, true]);
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
