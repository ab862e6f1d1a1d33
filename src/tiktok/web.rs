//! Room resolution and live checks over TikTok's unsigned web endpoints (PROTOCOL.md §2):
//! username → room id + status, by the live page's `SIGI_STATE` first, `api-live/user/room`
//! as fallback, `webcast/room/info` to confirm; `webcast/room/check_alive` after a drop.
//!
//! Every request carries the browser-like headers and query parameters of §2.1, derived from
//! the configured User-Agent, and every answer is read with a size limit. JSON is read through
//! `serde_json::Value` paths, tolerant of missing fields; numbers may come as strings.
//!
//! Must not touch: the sign server, sockets, events, metrics (the caller counts outcomes).

use serde_json::Value;

use super::backoff::random_between;
use crate::config::{ReaderConfig, Secret};

/// Largest live page read (a real one is a few hundred KB).
const MAX_PAGE_BYTES: u64 = 8 * 1024 * 1024;
/// Largest JSON answer read.
const MAX_JSON_BYTES: u64 = 2 * 1024 * 1024;
/// `statusCode`/`status_code` TikTok gives for an 18+ room seen without a session.
const AGE_RESTRICTED_CODE: i64 = 4_003_110;

pub const STATUS_LIVE: i32 = 2;
pub const STATUS_PAUSED: i32 = 3;
pub const STATUS_ENDED: i32 = 4;

/// Why a lookup gave no usable answer. `kind()` is its metrics label.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error("TikTok user @{host} does not exist, cannot go live or has never been live (per {via}); check TIKTOK_HOST")]
    NotFound { host: String, via: &'static str },
    #[error("room of @{host} is age-restricted (18+); {hint}")]
    AgeRestricted { host: String, hint: &'static str },
    #[error("TikTok served no room data for @{host} ({what}): a captcha or block page; this IP may be flagged")]
    Blocked { host: String, what: &'static str },
    #[error("{endpoint} answered HTTP status {status}")]
    Http { endpoint: &'static str, status: u16 },
    #[error("cannot reach {endpoint}: {source}")]
    Transport {
        endpoint: &'static str,
        #[source]
        source: ureq::Error,
    },
    #[error("{endpoint} answered something unexpected: {what}")]
    Invalid {
        endpoint: &'static str,
        what: String,
    },
}

impl LookupError {
    /// Every outcome counted in `chakal_lookups_total`: a lookup's two verdicts, then every
    /// `kind()`.
    pub const OUTCOMES: &'static [&'static str] = &[
        "live",
        "offline",
        "not_found",
        "age_restricted",
        "blocked",
        "http_error",
        "transport",
        "invalid",
    ];

    /// A short, bounded name for metrics labels.
    pub fn kind(&self) -> &'static str {
        match self {
            LookupError::NotFound { .. } => "not_found",
            LookupError::AgeRestricted { .. } => "age_restricted",
            LookupError::Blocked { .. } => "blocked",
            LookupError::Http { .. } => "http_error",
            LookupError::Transport { .. } => "transport",
            LookupError::Invalid { .. } => "invalid",
        }
    }

    /// Says something about the user or the room (as opposed to the way there).
    fn is_verdict(&self) -> bool {
        matches!(
            self,
            LookupError::NotFound { .. } | LookupError::AgeRestricted { .. }
        )
    }
}

/// What one source said about a room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomFacts {
    /// 0 when the source names no room.
    pub room_id: u64,
    /// 2 live, 3 paused, 4 ended, 0 unknown.
    pub status: i32,
    pub title: String,
    pub viewers: u64,
    pub likes: u64,
    pub total_viewers: u64,
    /// `html`, `api_live` or `room_info`.
    pub source: &'static str,
}

impl RoomFacts {
    fn live(&self) -> bool {
        matches!(self.status, STATUS_LIVE | STATUS_PAUSED)
    }
}

/// The answer to "is @host live, and in which room?".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The room to connect to: `Some` only when live, never 0.
    pub live_room: Option<u64>,
    /// Every room description gathered on the way, for the `rooms` table.
    pub snapshots: Vec<RoomFacts>,
}

/// The parts of the User-Agent that TikTok's parameters repeat (§2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Browser {
    pub name: String,
    pub version: String,
    pub platform: &'static str,
    pub os: &'static str,
}

impl Browser {
    pub fn from_user_agent(ua: &str) -> Browser {
        let (name, version) = ua.split_once('/').unwrap_or((ua, ""));
        let (platform, os) = if ua.contains("Macintosh") || ua.contains("Mac OS") {
            ("MacIntel", "mac")
        } else if ua.contains("Linux") && !ua.contains("Android") {
            ("Linux x86_64", "linux")
        } else {
            ("Win32", "windows")
        };
        Browser {
            name: name.to_string(),
            version: version.to_string(),
            platform,
            os,
        }
    }
}

/// TikTok's web endpoints as one browser would call them.
#[derive(Clone)]
pub struct WebClient {
    agent: ureq::Agent,
    web_url: String,
    webcast_url: String,
    user_agent: String,
    browser: Browser,
    device_id: String,
    logged_in: bool,
    /// `tt-target-idc=…` and, with a session, the session cookies.
    cookie: Secret<String>,
}

impl WebClient {
    pub fn new(config: &ReaderConfig) -> WebClient {
        let mut cookie = format!("tt-target-idc={}", config.target_idc);
        if let Some(session) = &config.session {
            let sid = session.session_id.expose();
            cookie.push_str(&format!(
                "; sessionid={sid}; sessionid_ss={sid}; sid_tt={sid}"
            ));
        }
        WebClient {
            agent: crate::http::agent_via(config.timings.http_timeout, config.proxy.as_ref()),
            web_url: config.web_url.clone(),
            webcast_url: config.webcast_url.clone(),
            user_agent: config.user_agent.clone(),
            browser: Browser::from_user_agent(&config.user_agent),
            device_id: random_between(7_000_000_000_000_000_000, 7_999_999_999_999_999_999)
                .to_string(),
            logged_in: config.session.is_some(),
            cookie: Secret::new(cookie),
        }
    }

    /// Live page → (on failure other than "offline") api-live → room/info (§2.8).
    pub fn resolve(&self, host: &str) -> Result<Resolved, LookupError> {
        let facts = match self.live_page(host) {
            Ok(facts) => facts,
            Err(page_error) => {
                log::debug!(
                    "live page gave no answer, trying api-live host={host} error={page_error}"
                );
                match self.api_live(host) {
                    Ok(facts) => facts,
                    Err(api_error) => {
                        let blocked = matches!(page_error, LookupError::Blocked { .. });
                        return Err(if api_error.is_verdict() || !blocked {
                            api_error
                        } else {
                            page_error
                        });
                    }
                }
            }
        };
        let mut snapshots = Vec::new();
        if facts.room_id != 0 {
            snapshots.push(facts.clone());
        }
        if facts.room_id == 0 || facts.status == STATUS_ENDED {
            return Ok(Resolved {
                live_room: None,
                snapshots,
            });
        }
        let live = match self.room_info(host, facts.room_id) {
            Ok(info) => {
                let live = info.live() || (info.status == 0 && facts.live());
                snapshots.push(info);
                live
            }
            Err(e @ LookupError::AgeRestricted { .. }) => return Err(e),
            Err(e) => {
                log::warn!(
                    "room/info unavailable, trusting {} host={host} room_id={} error={e}",
                    facts.source,
                    facts.room_id
                );
                facts.live()
            }
        };
        Ok(Resolved {
            live_room: live.then_some(facts.room_id),
            snapshots,
        })
    }

    /// Method A: `GET {web}/@host/live`, the `SIGI_STATE` script.
    pub fn live_page(&self, host: &str) -> Result<RoomFacts, LookupError> {
        let url = format!("{}/@{host}/live", self.web_url);
        let html = self.get("live page", &url, &[], MAX_PAGE_BYTES)?;
        parse_live_page(host, &String::from_utf8_lossy(&html))
    }

    /// Method B: `GET {web}/api-live/user/room/?uniqueId=host&sourceType=54`.
    pub fn api_live(&self, host: &str) -> Result<RoomFacts, LookupError> {
        let url = format!("{}/api-live/user/room/", self.web_url);
        let mut params = self.base_params();
        params.push(("uniqueId", host.to_string()));
        params.push(("sourceType", "54".into()));
        let body = self.get("api-live/user/room", &url, &params, MAX_JSON_BYTES)?;
        parse_api_live(host, &body, self.logged_in)
    }

    /// Method C: `GET {webcast}/webcast/room/info/?room_id=`.
    pub fn room_info(&self, host: &str, room_id: u64) -> Result<RoomFacts, LookupError> {
        let url = format!("{}/webcast/room/info/", self.webcast_url);
        let mut params = self.base_params();
        params.push(("room_id", room_id.to_string()));
        let body = self.get("room/info", &url, &params, MAX_JSON_BYTES)?;
        parse_room_info(host, room_id, &body, self.logged_in)
    }

    /// `GET {webcast}/webcast/room/check_alive/?room_ids=`: is this room still live?
    pub fn check_alive(&self, room_id: u64) -> Result<bool, LookupError> {
        let url = format!("{}/webcast/room/check_alive/", self.webcast_url);
        let mut params = self.base_params();
        params.push(("room_ids", room_id.to_string()));
        let body = self.get("room/check_alive", &url, &params, MAX_JSON_BYTES)?;
        parse_check_alive(&body)
    }

    /// The "look like a browser" query parameters of §2.1.
    fn base_params(&self) -> Vec<(&'static str, String)> {
        let b = &self.browser;
        let referer = format!("{}/", self.web_url);
        [
            ("aid", "1988"),
            ("app_language", "en"),
            ("app_name", "tiktok_web"),
            ("browser_language", "en-US"),
            ("browser_name", &b.name),
            ("browser_online", "true"),
            ("browser_platform", b.platform),
            ("browser_version", &b.version),
            ("channel", "tiktok_web"),
            ("cookie_enabled", "true"),
            ("data_collection_enabled", "true"),
            ("device_id", &self.device_id),
            ("device_platform", "web_pc"),
            ("focus_state", "true"),
            ("from_page", "user"),
            ("history_len", "10"),
            ("is_fullscreen", "false"),
            ("is_page_visible", "true"),
            ("os", b.os),
            ("priority_region", "US"),
            ("referer", &referer),
            ("region", "US"),
            ("root_referer", &referer),
            ("screen_height", "1080"),
            ("screen_width", "1920"),
            ("tz_name", "America/New_York"),
            (
                "user_is_login",
                if self.logged_in { "true" } else { "false" },
            ),
            ("webcast_language", "en"),
        ]
        .into_iter()
        .map(|(k, v)| (k, v.to_string()))
        .collect()
    }

    fn get(
        &self,
        endpoint: &'static str,
        url: &str,
        params: &[(&'static str, String)],
        limit: u64,
    ) -> Result<Vec<u8>, LookupError> {
        let transport = |source| LookupError::Transport { endpoint, source };
        let mut req = self.agent.get(url);
        for (k, v) in params {
            req = req.query(*k, v);
        }
        let mut resp = req
            .header("User-Agent", &self.user_agent)
            .header("Accept", "text/html,application/json,application/protobuf")
            .header("Accept-Language", "en-US,en;q=0.9")
            .header("Cache-Control", "max-age=0")
            .header("Referer", format!("{}/", self.web_url))
            .header("Origin", &self.web_url)
            .header("Sec-Fetch-Site", "same-site")
            .header("Sec-Fetch-Mode", "cors")
            .header("Sec-Fetch-Dest", "empty")
            .header("Sec-Fetch-Ua-Mobile", "?0")
            .header("Cookie", self.cookie.expose())
            .call()
            .map_err(transport)?;
        let status = resp.status().as_u16();
        if status != 200 {
            return Err(LookupError::Http { endpoint, status });
        }
        resp.body_mut()
            .with_config()
            .limit(limit)
            .read_to_vec()
            .map_err(|e| match e {
                ureq::Error::BodyExceedsLimit(n) => LookupError::Invalid {
                    endpoint,
                    what: format!("body larger than {n} bytes"),
                },
                other => transport(other),
            })
    }
}

/// A JSON number or numeric string as u64.
fn json_u64(v: Option<&Value>) -> u64 {
    match v {
        Some(Value::Number(n)) => n.as_u64().unwrap_or(0),
        Some(Value::String(s)) => s.trim().parse().unwrap_or(0),
        _ => 0,
    }
}

fn json_i64(v: Option<&Value>) -> Option<i64> {
    match v {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    }
}

fn json_str(v: Option<&Value>) -> String {
    v.and_then(Value::as_str).unwrap_or("").to_string()
}

/// The user-info object shared by SIGI_STATE (`LiveRoom.liveRoomUserInfo`) and api-live
/// (`data`): room id in `user.roomId` (or `liveRoom.roomId`), status in `liveRoom.status`
/// (or `user.status`).
fn facts_from_user_info(info: &Value, source: &'static str) -> RoomFacts {
    let room_id = match json_u64(info.pointer("/user/roomId")) {
        0 => json_u64(info.pointer("/liveRoom/roomId")),
        id => id,
    };
    let status = json_i64(info.pointer("/liveRoom/status"))
        .or_else(|| json_i64(info.pointer("/user/status")))
        .unwrap_or(0);
    RoomFacts {
        room_id,
        status: i32::try_from(status).unwrap_or(0),
        title: json_str(info.pointer("/liveRoom/title")),
        viewers: json_u64(info.pointer("/liveRoom/liveRoomStats/userCount")),
        likes: 0,
        total_viewers: json_u64(info.pointer("/liveRoom/liveRoomStats/enterCount")),
        source,
    }
}

/// The facts in a live page, or why there are none.
pub fn parse_live_page(host: &str, html: &str) -> Result<RoomFacts, LookupError> {
    let blocked = |what| LookupError::Blocked {
        host: host.to_string(),
        what,
    };
    let Some(tag) = html.find("id=\"SIGI_STATE\"") else {
        return Err(blocked(
            if html.contains("tiktok-verify-page") || html.contains("captcha") {
                "captcha page"
            } else {
                "no SIGI_STATE in the live page"
            },
        ));
    };
    let rest = &html[tag..];
    let json = rest
        .find('>')
        .map(|start| &rest[start + 1..])
        .and_then(|body| body.find("</script>").map(|end| &body[..end]))
        .ok_or_else(|| blocked("SIGI_STATE script is cut short"))?;
    let state: Value = serde_json::from_str(json).map_err(|_| blocked("SIGI_STATE is not JSON"))?;
    let Some(info) = state.pointer("/LiveRoom/liveRoomUserInfo") else {
        return Err(LookupError::NotFound {
            host: host.to_string(),
            via: "live page",
        });
    };
    Ok(facts_from_user_info(info, "html"))
}

fn parse_json(endpoint: &'static str, body: &[u8]) -> Result<Value, LookupError> {
    serde_json::from_slice(body).map_err(|e| LookupError::Invalid {
        endpoint,
        what: format!("not JSON ({e})"),
    })
}

fn age_hint(logged_in: bool) -> &'static str {
    if logged_in {
        "TIKTOK_SESSION_ID is set but was not accepted: renew it (and check TIKTOK_TARGET_IDC)"
    } else {
        "set TIKTOK_SESSION_ID (and TIKTOK_TARGET_IDC) of a logged-in adult account"
    }
}

pub fn parse_api_live(host: &str, body: &[u8], logged_in: bool) -> Result<RoomFacts, LookupError> {
    const ENDPOINT: &str = "api-live/user/room";
    let v = parse_json(ENDPOINT, body)?;
    let code = json_i64(v.get("statusCode")).unwrap_or(0);
    let message = json_str(v.get("message"));
    if message == "user_not_found" {
        return Err(LookupError::NotFound {
            host: host.to_string(),
            via: ENDPOINT,
        });
    }
    if code == AGE_RESTRICTED_CODE {
        return Err(LookupError::AgeRestricted {
            host: host.to_string(),
            hint: age_hint(logged_in),
        });
    }
    if code != 0 {
        return Err(LookupError::Invalid {
            endpoint: ENDPOINT,
            what: format!(
                "statusCode {code} message {:?}",
                message.chars().take(100).collect::<String>()
            ),
        });
    }
    match v.get("data") {
        Some(data) if data.is_object() => Ok(facts_from_user_info(data, "api_live")),
        _ => Err(LookupError::NotFound {
            host: host.to_string(),
            via: ENDPOINT,
        }),
    }
}

pub fn parse_room_info(
    host: &str,
    room_id: u64,
    body: &[u8],
    logged_in: bool,
) -> Result<RoomFacts, LookupError> {
    const ENDPOINT: &str = "room/info";
    let v = parse_json(ENDPOINT, body)?;
    let code = json_i64(v.get("status_code")).unwrap_or(0);
    let data = v.get("data").and_then(Value::as_object);
    let restricted = code == AGE_RESTRICTED_CODE
        || data.is_some_and(|d| d.contains_key("prompts") || (code == 0 && d.len() <= 1));
    if restricted {
        return Err(LookupError::AgeRestricted {
            host: host.to_string(),
            hint: age_hint(logged_in),
        });
    }
    let (0, Some(data)) = (code, data) else {
        return Err(LookupError::Invalid {
            endpoint: ENDPOINT,
            what: format!("status_code {code} without room data"),
        });
    };
    let data = Value::Object(data.clone());
    Ok(RoomFacts {
        room_id,
        status: json_i64(data.get("status"))
            .and_then(|s| i32::try_from(s).ok())
            .unwrap_or(0),
        title: json_str(data.get("title")),
        viewers: json_u64(data.get("user_count")),
        likes: json_u64(data.pointer("/stats/like_count")),
        total_viewers: json_u64(data.pointer("/stats/total_user")),
        source: "room_info",
    })
}

pub fn parse_check_alive(body: &[u8]) -> Result<bool, LookupError> {
    const ENDPOINT: &str = "room/check_alive";
    let v = parse_json(ENDPOINT, body)?;
    v.pointer("/data/0/alive")
        .and_then(Value::as_bool)
        .ok_or_else(|| LookupError::Invalid {
            endpoint: ENDPOINT,
            what: "no data[0].alive".into(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(state: &str) -> String {
        format!("<html><head></head><body><script id=\"SIGI_STATE\" type=\"application/json\">{state}</script><script>x</script></body></html>")
    }

    #[test]
    fn live_page_yields_room_and_status_from_either_place() {
        let live = page(
            r#"{"LiveRoom":{"liveRoomUserInfo":{"user":{"roomId":"7140000000000000001","uniqueId":"someone","status":2},"liveRoom":{"status":2,"title":"hello","liveRoomStats":{"userCount":321,"enterCount":999}}}}}"#,
        );
        assert_eq!(
            parse_live_page("someone", &live).unwrap(),
            RoomFacts {
                room_id: 7140000000000000001,
                status: 2,
                title: "hello".into(),
                viewers: 321,
                likes: 0,
                total_viewers: 999,
                source: "html",
            }
        );
        let user_status_only =
            page(r#"{"LiveRoom":{"liveRoomUserInfo":{"user":{"roomId":"55","status":4}}}}"#);
        let facts = parse_live_page("someone", &user_status_only).unwrap();
        assert_eq!((facts.room_id, facts.status), (55, 4));
        let room_in_live_room = page(
            r#"{"LiveRoom":{"liveRoomUserInfo":{"user":{"roomId":""},"liveRoom":{"roomId":"77","status":3}}}}"#,
        );
        let facts = parse_live_page("someone", &room_in_live_room).unwrap();
        assert_eq!((facts.room_id, facts.status), (77, 3));
    }

    #[test]
    fn live_page_failures_are_told_apart() {
        let kind = |html: &str| parse_live_page("someone", html).unwrap_err().kind();
        assert_eq!(kind(&page(r#"{"AppContext":{}}"#)), "not_found");
        assert_eq!(
            kind("<div id=\"tiktok-verify-page\">slide</div>"),
            "blocked"
        );
        assert_eq!(kind("<html>nothing</html>"), "blocked");
        assert_eq!(kind(&page("{not json")), "blocked");
        assert_eq!(
            kind("<script id=\"SIGI_STATE\" type=\"application/json\">{\"LiveRoom\""),
            "blocked"
        );
    }

    #[test]
    fn api_live_answers() {
        let live = br#"{"statusCode":0,"data":{"user":{"roomId":"9","status":2},"liveRoom":{"status":2,"title":"t"}}}"#;
        let facts = parse_api_live("h", live, false).unwrap();
        assert_eq!(
            (facts.room_id, facts.status, facts.source),
            (9, 2, "api_live")
        );
        let kind = |b: &[u8]| parse_api_live("h", b, false).unwrap_err().kind();
        assert_eq!(
            kind(br#"{"statusCode":10221,"message":"user_not_found"}"#),
            "not_found"
        );
        assert_eq!(
            kind(br#"{"statusCode":4003110,"message":"age"}"#),
            "age_restricted"
        );
        assert_eq!(
            kind(br#"{"statusCode":10201,"message":"params_error"}"#),
            "invalid"
        );
        assert_eq!(kind(b"<html>"), "invalid");
        assert_eq!(kind(br#"{"statusCode":0,"data":null}"#), "not_found");
    }

    #[test]
    fn room_info_answers() {
        let live = br#"{"status_code":0,"data":{"status":2,"title":"t","user_count":12,"stats":{"like_count":"34","total_user":56}}}"#;
        let facts = parse_room_info("h", 9, live, false).unwrap();
        assert_eq!(
            (
                facts.room_id,
                facts.status,
                facts.viewers,
                facts.likes,
                facts.total_viewers
            ),
            (9, 2, 12, 34, 56)
        );
        let err = |b: &[u8]| parse_room_info("h", 9, b, false).unwrap_err();
        assert_eq!(
            err(br#"{"status_code":0,"data":{"prompts":"18+"}}"#).kind(),
            "age_restricted"
        );
        assert_eq!(
            err(br#"{"status_code":0,"data":{"message":"x"}}"#).kind(),
            "age_restricted"
        );
        assert_eq!(
            err(br#"{"status_code":4003110,"data":{}}"#).kind(),
            "age_restricted"
        );
        assert_eq!(
            err(br#"{"status_code":30003,"data":{"message":"x","a":1}}"#).kind(),
            "invalid"
        );
        let hint = err(br#"{"status_code":4003110}"#).to_string();
        assert!(hint.contains("set TIKTOK_SESSION_ID"), "{hint}");
        let hint = parse_room_info("h", 9, br#"{"status_code":4003110}"#, true)
            .unwrap_err()
            .to_string();
        assert!(hint.contains("renew it"), "{hint}");
    }

    #[test]
    fn check_alive_answers() {
        assert!(parse_check_alive(br#"{"data":[{"alive":true,"room_id":9}]}"#).unwrap());
        assert!(!parse_check_alive(br#"{"data":[{"alive":false}]}"#).unwrap());
        assert_eq!(
            parse_check_alive(br#"{"data":[]}"#).unwrap_err().kind(),
            "invalid"
        );
    }

    #[test]
    fn browser_fields_come_from_the_user_agent() {
        let b = Browser::from_user_agent(crate::config::DEFAULT_USER_AGENT);
        assert_eq!(
            (b.name.as_str(), b.platform, b.os),
            ("Mozilla", "Win32", "windows")
        );
        assert!(b.version.starts_with("5.0 (Windows NT 10.0"));
        let mac = Browser::from_user_agent("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7)");
        assert_eq!((mac.platform, mac.os), ("MacIntel", "mac"));
    }

    mod over_http {
        use super::*;
        use crate::tiktok::fake_http::{reader_config, FakeHttp, Reply};

        const ROOM_INFO_LIVE: &str = r#"{"status_code":0,"data":{"status":2,"title":"live now","user_count":5,"stats":{"like_count":6,"total_user":7}}}"#;

        #[test]
        fn captcha_page_falls_back_to_api_live_then_room_info_confirms() {
            let fake = FakeHttp::start();
            fake.route(
                "/@someone/live",
                vec![Reply::new(200, "<div id=\"tiktok-verify-page\"></div>")],
            );
            fake.route(
                "/api-live/user/room/",
                vec![Reply::new(200, r#"{"statusCode":0,"data":{"user":{"roomId":"7140000000000000001","status":2},"liveRoom":{"status":2}}}"#)],
            );
            fake.route("/webcast/room/info/", vec![Reply::new(200, ROOM_INFO_LIVE)]);
            let config = reader_config(&fake.base, &[("TIKTOK_SESSION_ID", "sid123")]);
            let resolved = WebClient::new(&config).resolve("someone").unwrap();
            assert_eq!(resolved.live_room, Some(7140000000000000001));
            let sources: Vec<&str> = resolved.snapshots.iter().map(|s| s.source).collect();
            assert_eq!(sources, ["api_live", "room_info"]);
            assert_eq!(resolved.snapshots[1].likes, 6);

            let api = &fake.seen("/api-live/user/room/")[0];
            assert_eq!(api.query["uniqueId"], "someone");
            assert_eq!(api.query["sourceType"], "54");
            assert_eq!(api.query["aid"], "1988");
            assert_eq!(api.query["user_is_login"], "true");
            assert_eq!(api.headers["user-agent"], crate::config::DEFAULT_USER_AGENT);
            assert_eq!(
                api.headers["cookie"],
                "tt-target-idc=useast1a; sessionid=sid123; sessionid_ss=sid123; sid_tt=sid123"
            );
            let info = &fake.seen("/webcast/room/info/")[0];
            assert_eq!(info.query["room_id"], "7140000000000000001");
            assert!(fake.seen("/@someone/live")[0].query.is_empty());
        }

        #[test]
        fn offline_page_is_final_and_needs_no_other_call() {
            let fake = FakeHttp::start();
            fake.route(
                "/@someone/live",
                vec![Reply::new(
                    200,
                    page(
                        r#"{"LiveRoom":{"liveRoomUserInfo":{"user":{"roomId":"42","status":4}}}}"#,
                    ),
                )],
            );
            let resolved = WebClient::new(&reader_config(&fake.base, &[]))
                .resolve("someone")
                .unwrap();
            assert_eq!(resolved.live_room, None);
            assert_eq!(resolved.snapshots.len(), 1);
            assert!(fake.seen("/api-live/user/room/").is_empty());
            assert!(fake.seen("/webcast/room/info/").is_empty());
        }

        #[test]
        fn room_info_can_overrule_a_stale_page() {
            let fake = FakeHttp::start();
            fake.route(
                "/@someone/live",
                vec![Reply::new(
                    200,
                    page(
                        r#"{"LiveRoom":{"liveRoomUserInfo":{"user":{"roomId":"42","status":2}}}}"#,
                    ),
                )],
            );
            fake.route(
                "/webcast/room/info/",
                vec![Reply::new(
                    200,
                    r#"{"status_code":0,"data":{"status":4,"title":"over"}}"#,
                )],
            );
            let resolved = WebClient::new(&reader_config(&fake.base, &[]))
                .resolve("someone")
                .unwrap();
            assert_eq!(resolved.live_room, None);
            fake.route(
                "/webcast/room/info/",
                vec![Reply::new(
                    200,
                    r#"{"status_code":0,"data":{"prompts":"18+"}}"#,
                )],
            );
            let err = WebClient::new(&reader_config(&fake.base, &[]))
                .resolve("someone")
                .unwrap_err();
            assert_eq!(err.kind(), "age_restricted");
        }

        #[test]
        fn outcomes_when_both_methods_fail() {
            let fake = FakeHttp::start();
            let config = reader_config(&fake.base, &[]);
            fake.route(
                "/@someone/live",
                vec![Reply::new(200, "<html>verify</html>")],
            );
            fake.route(
                "/api-live/user/room/",
                vec![Reply::new(
                    200,
                    r#"{"statusCode":10221,"message":"user_not_found"}"#,
                )],
            );
            assert_eq!(
                WebClient::new(&config)
                    .resolve("someone")
                    .unwrap_err()
                    .kind(),
                "not_found"
            );
            fake.route("/api-live/user/room/", vec![Reply::new(503, "busy")]);
            assert_eq!(
                WebClient::new(&config)
                    .resolve("someone")
                    .unwrap_err()
                    .kind(),
                "blocked"
            );
            fake.route("/@someone/live", vec![Reply::new(500, "oops")]);
            let err = WebClient::new(&config).resolve("someone").unwrap_err();
            assert_eq!(err.kind(), "http_error");
            assert_eq!(
                err.to_string(),
                "api-live/user/room answered HTTP status 503"
            );
            let nowhere = reader_config("http://127.0.0.1:1", &[]);
            assert_eq!(
                WebClient::new(&nowhere)
                    .resolve("someone")
                    .unwrap_err()
                    .kind(),
                "transport"
            );
        }

        #[test]
        fn check_alive_over_http() {
            let fake = FakeHttp::start();
            fake.route(
                "/webcast/room/check_alive/",
                vec![Reply::new(200, r#"{"data":[{"alive":false}]}"#)],
            );
            let web = WebClient::new(&reader_config(&fake.base, &[]));
            assert!(!web.check_alive(42).unwrap());
            assert_eq!(
                fake.seen("/webcast/room/check_alive/")[0].query["room_ids"],
                "42"
            );
        }
    }
}
