//! The sign server (PROTOCOL.md §3.2–3.3): `GET {SIGN_API_URL}/webcast/fetch` returns TikTok's
//! first fetch result for a room — the socket address (`push_server`, `route_params`), `cursor`,
//! `internal_ext` and a first batch of messages — plus the cookie the socket must carry
//! (`X-Set-TT-Cookie`). One answer serves one connection attempt: it is never reused.
//!
//! Every failure is classified (`SignError::kind`) and says how long to wait at least
//! (`SignError::min_wait`): 429 honours `Retry-After`; a refused key names `SIGN_API_KEY`.
//! Bodies are read with a size limit and decoded as protobuf without trusting them.
//!
//! Must not touch: TikTok's own endpoints, sockets, events.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prost::Message;

use super::proto::ProtoMessageFetchResult;
use crate::config::{ReaderConfig, Secret};

/// Largest sign-server answer read (a healthy one is tens of KB).
pub const MAX_SIGN_BYTES: u64 = 4 * 1024 * 1024;
/// Our library id for the sign server's statistics.
const CLIENT_ID: &str = "ttlive-rust";
/// Longest wait a `Retry-After` may impose.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);
/// Error bodies are quoted up to this many characters.
const BODY_QUOTE: usize = 200;

/// A usable sign-server answer.
#[derive(Debug)]
pub struct Signed {
    pub result: ProtoMessageFetchResult,
    /// `X-Set-TT-Cookie`: cookies for the socket handshake.
    pub cookie: Secret<String>,
    pub body_bytes: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("sign server rate limit reached (HTTP 429){}; set or upgrade SIGN_API_KEY if this persists", retry_after.map(|d| format!(", retry after {} s", d.as_secs())).unwrap_or_default())]
    RateLimited { retry_after: Option<Duration> },
    #[error("sign server refused the request with HTTP {status}: {problem} ({body})")]
    KeyRejected {
        status: u16,
        problem: &'static str,
        body: String,
    },
    #[error("sign server answered an empty body for room {room_id} (TikTok may be detecting the signer); retrying later")]
    Empty { room_id: u64 },
    #[error("sign server answer for room {room_id} is larger than {limit} bytes; retrying later")]
    TooLarge { room_id: u64, limit: u64 },
    #[error("sign server answer for room {room_id} is not a fetch result ({bytes} bytes); retrying later")]
    Malformed {
        room_id: u64,
        bytes: usize,
        #[source]
        source: prost::DecodeError,
    },
    #[error("sign server answer for room {room_id} lacks {what}; cannot open the socket, retrying later")]
    Incomplete { room_id: u64, what: &'static str },
    #[error("sign server answered HTTP {status} for room {room_id}: {body}")]
    Http {
        room_id: u64,
        status: u16,
        body: String,
    },
    #[error("cannot reach the sign server at {url}: {source}")]
    Transport {
        url: String,
        #[source]
        source: ureq::Error,
    },
}

impl SignError {
    /// Every outcome counted in `chakal_sign_requests_total`: `ok`, then every `kind()`.
    pub const OUTCOMES: &'static [&'static str] = &[
        "ok",
        "rate_limited",
        "key_rejected",
        "empty",
        "too_large",
        "malformed",
        "incomplete",
        "http_error",
        "transport",
    ];

    /// A short, bounded name for metrics labels.
    pub fn kind(&self) -> &'static str {
        match self {
            SignError::RateLimited { .. } => "rate_limited",
            SignError::KeyRejected { .. } => "key_rejected",
            SignError::Empty { .. } => "empty",
            SignError::TooLarge { .. } => "too_large",
            SignError::Malformed { .. } => "malformed",
            SignError::Incomplete { .. } => "incomplete",
            SignError::Http { .. } => "http_error",
            SignError::Transport { .. } => "transport",
        }
    }

    /// The least time to wait before asking again (the caller's backoff may add to it).
    pub fn min_wait(&self) -> Option<Duration> {
        match self {
            SignError::RateLimited { retry_after } => *retry_after,
            _ => None,
        }
    }

    /// Waiting will not help until someone fixes the key: the caller waits its longest.
    pub fn needs_operator(&self) -> bool {
        matches!(self, SignError::KeyRejected { .. })
    }
}

#[derive(Clone)]
pub struct Signer {
    agent: ureq::Agent,
    url: String,
    api_key: Secret<String>,
    user_agent: String,
    /// `x-cookie-header` for an authenticated socket, only for a whitelisted sign host.
    session_header: Option<Secret<String>>,
}

impl Signer {
    pub fn new(config: &ReaderConfig) -> Signer {
        let session_header = config.session_for_signer().map(|s| {
            Secret::new(format!(
                "sessionid={}; tt-target-idc={}",
                s.session_id.expose(),
                config.target_idc
            ))
        });
        Signer {
            agent: crate::http::agent_via(config.timings.http_timeout, config.proxy.as_ref()),
            url: format!("{}/webcast/fetch", config.sign_api_url),
            api_key: config.sign_api_key.clone(),
            user_agent: config.user_agent.clone(),
            session_header,
        }
    }

    /// Whether the socket is signed for the configured session (it must then carry it).
    pub fn authenticated(&self) -> bool {
        self.session_header.is_some()
    }

    /// One sign request for `room_id` (never 0).
    pub fn fetch(&self, room_id: u64) -> Result<Signed, SignError> {
        let transport = |source| SignError::Transport {
            url: self.url.clone(),
            source,
        };
        let mut req = self
            .agent
            .get(&self.url)
            .query("client", CLIENT_ID)
            .query("room_id", room_id.to_string())
            .query("user_agent", &self.user_agent)
            .query("client_enter", "true")
            .header("Accept", "application/protobuf,application/json")
            .header(
                "User-Agent",
                concat!("chakal-ingest/", env!("CARGO_PKG_VERSION")),
            );
        if !self.api_key.expose().is_empty() {
            req = req.header("x-api-key", self.api_key.expose());
        }
        if let Some(cookies) = &self.session_header {
            req = req.header("x-cookie-header", cookies.expose());
        }
        let mut resp = req.call().map_err(transport)?;
        let status = resp.status().as_u16();
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        };
        log::debug!(
            "sign answer room_id={room_id} status={status} request_id={} agent_id={} log_code={}",
            header("X-Request-Id")
                .or_else(|| header("X-Log-Id"))
                .unwrap_or_default(),
            header("X-Agent-Id").unwrap_or_default(),
            header("X-Log-Code").unwrap_or_default()
        );
        let cookie = header("X-Set-TT-Cookie");
        let retry_after = retry_after(header("Retry-After"), header("X-RateLimit-Reset"));
        let body = resp
            .body_mut()
            .with_config()
            .limit(MAX_SIGN_BYTES)
            .read_to_vec();
        let body = match body {
            Ok(b) => b,
            Err(ureq::Error::BodyExceedsLimit(_)) => {
                return Err(SignError::TooLarge {
                    room_id,
                    limit: MAX_SIGN_BYTES,
                })
            }
            Err(e) if status == 200 => return Err(transport(e)),
            Err(_) => Vec::new(),
        };
        match status {
            200 => {}
            429 => return Err(SignError::RateLimited { retry_after }),
            401..=403 => {
                return Err(SignError::KeyRejected {
                    status,
                    problem: match status {
                        401 => "SIGN_API_KEY is missing or invalid",
                        402 => "the plan of SIGN_API_KEY does not include this endpoint",
                        _ => "SIGN_API_KEY lacks permission for this endpoint",
                    },
                    body: quote(&body),
                })
            }
            _ => {
                return Err(SignError::Http {
                    room_id,
                    status,
                    body: quote(&body),
                })
            }
        }
        if body.is_empty() {
            return Err(SignError::Empty { room_id });
        }
        let result = ProtoMessageFetchResult::decode(body.as_slice()).map_err(|source| {
            SignError::Malformed {
                room_id,
                bytes: body.len(),
                source,
            }
        })?;
        let incomplete = |what| Err(SignError::Incomplete { room_id, what });
        let Some(cookie) = cookie else {
            return incomplete("the X-Set-TT-Cookie header");
        };
        if result.cursor.is_empty() {
            return incomplete("a cursor");
        }
        if !(result.push_server.starts_with("wss://") || result.push_server.starts_with("ws://")) {
            return incomplete("a ws:// or wss:// push_server");
        }
        Ok(Signed {
            result,
            cookie: Secret::new(cookie),
            body_bytes: body.len(),
        })
    }
}

/// `Retry-After` seconds, else `X-RateLimit-Reset` (epoch seconds) minus now; capped.
fn retry_after(retry_after: Option<String>, reset: Option<String>) -> Option<Duration> {
    let from_header = retry_after
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64);
    let from_reset = || {
        let reset = reset?.parse::<u64>().ok()?;
        let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
        Some(Duration::from_secs(reset.saturating_sub(now)))
    };
    from_header
        .or_else(from_reset)
        .map(|d| d.min(MAX_RETRY_AFTER))
}

/// The start of an error body, printable, for messages.
fn quote(body: &[u8]) -> String {
    let text: String = String::from_utf8_lossy(body)
        .chars()
        .filter(|c| !c.is_control())
        .take(BODY_QUOTE)
        .collect();
    if text.trim().is_empty() {
        "empty body".into()
    } else {
        text.trim().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tiktok::fake_http::{reader_config, FakeHttp, Reply};
    use crate::tiktok::frame::envelope;

    const PATH: &str = "/webcast/fetch";

    fn good_result() -> ProtoMessageFetchResult {
        ProtoMessageFetchResult {
            messages: vec![envelope("WebcastChatMessage", 1, vec![])],
            cursor: "c1".into(),
            internal_ext: "ext".into(),
            push_server: "wss://webcast-ws.tiktok.com/webcast/im/ws_proxy/ws_reuse_supplement/"
                .into(),
            is_first: true,
            ..Default::default()
        }
    }

    fn ok_reply(result: &ProtoMessageFetchResult) -> Reply {
        Reply::new(200, result.encode_to_vec()).header("X-Set-TT-Cookie", "ttwid=abc; x=y")
    }

    #[test]
    fn good_answer_is_decoded_with_its_cookie() {
        let fake = FakeHttp::start();
        fake.route(PATH, vec![ok_reply(&good_result())]);
        let signed = Signer::new(&reader_config(&fake.base, &[]))
            .fetch(7)
            .unwrap();
        assert_eq!(signed.result, good_result());
        assert_eq!(signed.cookie.expose(), "ttwid=abc; x=y");
        let seen = &fake.seen(PATH)[0];
        assert_eq!(seen.query["client"], "ttlive-rust");
        assert_eq!(seen.query["room_id"], "7");
        assert_eq!(seen.query["user_agent"], crate::config::DEFAULT_USER_AGENT);
        assert_eq!(seen.headers["x-api-key"], "test-key");
        assert!(!seen.headers.contains_key("x-cookie-header"));
    }

    #[test]
    fn session_is_forwarded_only_to_a_whitelisted_host() {
        let fake = FakeHttp::start();
        fake.route(PATH, vec![ok_reply(&good_result())]);
        let session = ("TIKTOK_SESSION_ID", "sid9");
        let signer = Signer::new(&reader_config(&fake.base, &[session]));
        assert!(!signer.authenticated());
        signer.fetch(7).unwrap();
        let allowed = Signer::new(&reader_config(
            &fake.base,
            &[
                session,
                ("WHITELIST_AUTHENTICATED_SESSION_ID_HOST", "127.0.0.1"),
            ],
        ));
        assert!(allowed.authenticated());
        allowed.fetch(7).unwrap();
        let seen = fake.seen(PATH);
        assert!(!seen[0].headers.contains_key("x-cookie-header"));
        assert_eq!(
            seen[1].headers["x-cookie-header"],
            "sessionid=sid9; tt-target-idc=useast1a"
        );
    }

    #[test]
    fn failures_are_classified() {
        let fake = FakeHttp::start();
        let signer = Signer::new(&reader_config(&fake.base, &[]));
        let cases: Vec<(Reply, &str)> = vec![
            (
                Reply::new(429, "{}").header("Retry-After", "42"),
                "rate_limited",
            ),
            (Reply::new(401, r#"{"message":"bad key"}"#), "key_rejected"),
            (Reply::new(402, ""), "key_rejected"),
            (Reply::new(403, ""), "key_rejected"),
            (Reply::new(500, "down"), "http_error"),
            (
                Reply::new(200, "").header("X-Set-TT-Cookie", "a=b"),
                "empty",
            ),
            (
                Reply::new(200, vec![0xff; 64]).header("X-Set-TT-Cookie", "a=b"),
                "malformed",
            ),
            (Reply::new(200, good_result().encode_to_vec()), "incomplete"),
            (
                ok_reply(&ProtoMessageFetchResult {
                    cursor: String::new(),
                    ..good_result()
                }),
                "incomplete",
            ),
            (
                ok_reply(&ProtoMessageFetchResult {
                    push_server: "https://not-a-socket".into(),
                    ..good_result()
                }),
                "incomplete",
            ),
            (
                Reply::new(200, vec![0u8; MAX_SIGN_BYTES as usize + 10])
                    .header("X-Set-TT-Cookie", "a=b"),
                "too_large",
            ),
        ];
        for (reply, want) in cases {
            fake.route(PATH, vec![reply]);
            let err = signer.fetch(7).unwrap_err();
            assert_eq!(err.kind(), want, "{err}");
        }
    }

    #[test]
    fn rate_limit_and_key_errors_say_what_to_do() {
        let fake = FakeHttp::start();
        let signer = Signer::new(&reader_config(&fake.base, &[]));
        fake.route(
            PATH,
            vec![Reply::new(429, "{}").header("Retry-After", "42")],
        );
        let err = signer.fetch(7).unwrap_err();
        assert_eq!(err.min_wait(), Some(Duration::from_secs(42)));
        assert!(err.to_string().contains("retry after 42 s"), "{err}");
        fake.route(PATH, vec![Reply::new(401, r#"{"message":"bad key"}"#)]);
        let err = signer.fetch(7).unwrap_err();
        assert!(err.needs_operator());
        assert_eq!(
            err.to_string(),
            r#"sign server refused the request with HTTP 401: SIGN_API_KEY is missing or invalid ({"message":"bad key"})"#
        );
        assert!(!err.to_string().contains("test-key"));
    }

    #[test]
    fn retry_after_sources() {
        assert_eq!(
            retry_after(Some("7".into()), None),
            Some(Duration::from_secs(7))
        );
        assert_eq!(retry_after(Some("soon".into()), None), None);
        assert_eq!(
            retry_after(Some("999999".into()), None),
            Some(MAX_RETRY_AFTER)
        );
        let in_a_minute = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 60;
        let d = retry_after(None, Some(in_a_minute.to_string())).unwrap();
        assert!(
            d >= Duration::from_secs(58) && d <= Duration::from_secs(60),
            "{d:?}"
        );
    }
}
