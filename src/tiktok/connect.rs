//! Opening the Webcast socket (PROTOCOL.md §3.4–3.6, §4.10): the URL built from a signed fetch
//! result, then `TcpStream::connect_timeout` → socket timeouts → native-tls for `wss://` →
//! tungstenite's client handshake with `User-Agent`, `Cookie` and `Origin` and no sub-protocol.
//!
//! With `TIKTOK_PROXY` the TCP connection goes to the proxy instead (TLS to it for an
//! `https://` proxy), which is asked `CONNECT host:port` (with `Proxy-Authorization: Basic` when
//! it has credentials); the TLS and websocket handshakes then run inside the tunnel. There is no
//! direct fallback: a proxy failure is a connect failure (`kind()` "proxy"). The target host name
//! is left to the proxy to resolve.
//!
//! The URL carries TikTok's signature (and, signed for a session, is bound to it): it lives in a
//! `Secret` and only its scheme, host and path (`redact`) ever reach logs or errors. A handshake
//! that TikTok answers with 200/400 and `Handshake-Msg` is `ConnectError::Rejected`, which the
//! caller backs off from instead of retrying.
//!
//! Must not touch: frames, decoding, events.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use base64::Engine as _;
use tungstenite::client::IntoClientRequest;
use tungstenite::handshake::HandshakeError;
use tungstenite::http::HeaderValue;
use tungstenite::protocol::WebSocketConfig;
use tungstenite::WebSocket;

use super::proto::ProtoMessageFetchResult;
use super::web::Browser;
use crate::config::{ReaderTimings, Secret, TiktokProxy};

/// Largest websocket message or frame accepted (a real `msg` frame is well under 1 MB).
pub const MAX_MESSAGE_BYTES: usize = 8 * 1024 * 1024;
/// Largest proxy answer head to a CONNECT.
const MAX_PROXY_HEAD: usize = 16 * 1024;

/// What the websocket runs over: TCP, TLS on it, either inside a proxy tunnel, or TLS inside
/// TLS to an `https://` proxy. Timeouts are set on the TCP stream underneath.
pub trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

pub type Ws = WebSocket<Box<dyn Stream>>;

/// Everything the handshake sends.
pub struct SocketRequest {
    /// The full URL with its signed query string.
    pub url: Secret<String>,
    pub user_agent: String,
    /// Cookies for the `Cookie` header (the sign server's, plus the session's if signed for it).
    pub cookie: Secret<String>,
    pub origin: String,
    /// `TIKTOK_PROXY`: the socket goes through it, never around it.
    pub proxy: Option<TiktokProxy>,
}

/// An open, upgraded socket.
pub struct Socket {
    pub ws: Ws,
    /// `ping-interval` from `Handshake-Options`, if the server named one.
    pub ping_interval: Option<Duration>,
    /// Scheme, host and path of the URL, for logs.
    pub endpoint: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("socket URL {endpoint} is not usable: {source}")]
    InvalidUrl {
        endpoint: String,
        #[source]
        source: tungstenite::Error,
    },
    #[error("cannot resolve push server {host}: {source}")]
    Resolve {
        host: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot connect to push server {endpoint}: {source}")]
    Tcp {
        endpoint: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{stage} with {endpoint} timed out")]
    Timeout {
        endpoint: String,
        stage: &'static str,
    },
    #[error("TLS with {endpoint} failed: {source}")]
    Tls {
        endpoint: String,
        #[source]
        source: native_tls::Error,
    },
    #[error("{endpoint} refused the websocket handshake with HTTP {status} (Handshake-Msg {message:?}, Handshake-Status {handshake_status:?}): TikTok is rejecting this client or URL; backing off before signing again")]
    Rejected {
        endpoint: String,
        status: u16,
        message: String,
        handshake_status: String,
    },
    #[error("{endpoint} answered the websocket handshake with HTTP {status}")]
    Http { endpoint: String, status: u16 },
    #[error("header {name} cannot be sent: it holds characters HTTP does not allow")]
    InvalidHeader { name: &'static str },
    #[error("websocket handshake with {endpoint} failed: {source}")]
    Handshake {
        endpoint: String,
        #[source]
        source: tungstenite::Error,
    },
    #[error("cannot reach proxy {proxy} (TIKTOK_PROXY): {source}")]
    ProxyUnreachable {
        proxy: String,
        #[source]
        source: std::io::Error,
    },
    #[error("proxy {proxy} refused the tunnel to {target} with HTTP {status}{}", if *status == 407 { "; check the credentials in TIKTOK_PROXY" } else { "" })]
    ProxyRefused {
        proxy: String,
        target: String,
        status: u16,
    },
    #[error(
        "proxy {proxy} did not answer the CONNECT to {target} in HTTP ({what}); check TIKTOK_PROXY"
    )]
    ProxyGarbled {
        proxy: String,
        target: String,
        what: &'static str,
    },
}

impl ConnectError {
    /// Every outcome counted in `chakal_connections_total`: `ok`, then every `kind()`.
    pub const OUTCOMES: &'static [&'static str] = &[
        "ok",
        "invalid_url",
        "resolve",
        "tcp",
        "timeout",
        "tls",
        "rejected",
        "http_error",
        "handshake",
        "proxy",
    ];

    /// A short, bounded name for metrics labels.
    pub fn kind(&self) -> &'static str {
        match self {
            ConnectError::InvalidUrl { .. } | ConnectError::InvalidHeader { .. } => "invalid_url",
            ConnectError::Resolve { .. } => "resolve",
            ConnectError::Tcp { .. } => "tcp",
            ConnectError::Timeout { .. } => "timeout",
            ConnectError::Tls { .. } => "tls",
            ConnectError::Rejected { .. } => "rejected",
            ConnectError::Http { .. } => "http_error",
            ConnectError::Handshake { .. } => "handshake",
            ConnectError::ProxyUnreachable { .. }
            | ConnectError::ProxyRefused { .. }
            | ConnectError::ProxyGarbled { .. } => "proxy",
        }
    }

    /// TikTok refused us on purpose: wait at least the blocked backoff, never retry at once.
    pub fn is_rejection(&self) -> bool {
        matches!(self, ConnectError::Rejected { .. })
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `scheme://host/path` of a URL: what may be logged.
pub fn redact(url: &str) -> String {
    url.split(['?', '#']).next().unwrap_or("").to_string()
}

/// The socket URL (§3.4), built as a string, in order: route params with a value, the fixed
/// web params, then `room_id`, `compress`, `cursor`, `internal_ext` (a later key replaces an
/// earlier one in place), then the literal `&version_code=270000`.
pub fn socket_url(
    fetch: &ProtoMessageFetchResult,
    room_id: u64,
    browser: &Browser,
    last_rtt: u64,
) -> Secret<String> {
    let mut params: Vec<(String, String)> = Vec::new();
    let mut set = |k: &str, v: &str| match params.iter_mut().find(|(key, _)| key == k) {
        Some(slot) => slot.1 = v.to_string(),
        None => params.push((k.to_string(), v.to_string())),
    };
    let mut route: Vec<(&String, &String)> = fetch.route_params.iter().collect();
    route.sort();
    for (k, v) in route.into_iter().filter(|(_, v)| !v.is_empty()) {
        set(k, v);
    }
    let room = room_id.to_string();
    let rtt = last_rtt.to_string();
    for (k, v) in [
        ("aid", "1988"),
        ("app_language", "en"),
        ("app_name", "tiktok_web"),
        ("browser_platform", browser.platform),
        ("browser_language", "en-US"),
        ("browser_name", &browser.name),
        ("browser_version", &browser.version),
        ("browser_online", "true"),
        ("cookie_enabled", "true"),
        ("tz_name", "America/New_York"),
        ("device_platform", "web"),
        ("identity", "audience"),
        ("live_id", "12"),
        ("sup_ws_ds_opt", "1"),
        ("update_version_code", "2.0.0"),
        ("version_code", "180800"),
        ("client_enter", "1"),
        ("ws_direct", "1"),
        ("did_rule", "3"),
        ("webcast_language", "en"),
        ("screen_height", "1080"),
        ("screen_width", "1920"),
        ("heartbeat_duration", "10000"),
        ("resp_content_type", "protobuf"),
        ("history_comment_count", "6"),
        ("last_rtt", &rtt),
        ("room_id", &room),
        ("compress", "gzip"),
        ("cursor", &fetch.cursor),
        ("internal_ext", &fetch.internal_ext),
    ] {
        set(k, v);
    }
    let query: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect();
    let base = &fetch.push_server;
    let separator = if !base.contains('?') {
        "?"
    } else if base.ends_with(['?', '&']) {
        ""
    } else {
        "&"
    };
    Secret::new(format!(
        "{base}{separator}{}&version_code=270000",
        query.join("&")
    ))
}

/// `ping-interval` (seconds) of a `Handshake-Options: k=v; k2=v2` header, kept within 1–120 s.
pub fn ping_interval(options: &str) -> Option<Duration> {
    options
        .split(';')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("ping-interval"))
        .and_then(|(_, v)| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .map(|s| Duration::from_secs_f64(s.clamp(1.0, 120.0)))
}

fn header(value: &str, name: &'static str) -> Result<HeaderValue, ConnectError> {
    HeaderValue::from_str(value).map_err(|_| ConnectError::InvalidHeader { name })
}

/// Connects, upgrades, and leaves the socket with the reader's short read timeout.
pub fn open(req: &SocketRequest, timings: &ReaderTimings) -> Result<Socket, ConnectError> {
    let endpoint = redact(req.url.expose());
    let mut request = req
        .url
        .expose()
        .as_str()
        .into_client_request()
        .map_err(|source| ConnectError::InvalidUrl {
            endpoint: endpoint.clone(),
            source,
        })?;
    let headers = request.headers_mut();
    headers.insert("User-Agent", header(&req.user_agent, "User-Agent")?);
    headers.insert("Cookie", header(req.cookie.expose(), "Cookie")?);
    headers.insert("Origin", header(&req.origin, "Origin")?);
    let uri = request.uri();
    let tls = uri.scheme_str() == Some("wss");
    let host = uri
        .host()
        .unwrap_or("")
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });

    let tcp = match &req.proxy {
        None => tcp_connect(&host, port, &endpoint, timings.connect_timeout)?,
        Some(proxy) => {
            let via = proxy.endpoint();
            tcp_connect(&proxy.host, proxy.port, &via, timings.connect_timeout).map_err(
                |e| match e {
                    ConnectError::Resolve { source, .. } | ConnectError::Tcp { source, .. } => {
                        ConnectError::ProxyUnreachable { proxy: via, source }
                    }
                    other => other,
                },
            )?
        }
    };
    let io = |source| ConnectError::Tcp {
        endpoint: endpoint.clone(),
        source,
    };
    let control = tcp.try_clone().map_err(io)?;
    control.set_nodelay(true).map_err(io)?;
    control
        .set_read_timeout(Some(timings.connect_timeout))
        .map_err(io)?;
    control
        .set_write_timeout(Some(timings.connect_timeout))
        .map_err(io)?;

    let mut stream: Box<dyn Stream> = Box::new(tcp);
    if let Some(proxy) = &req.proxy {
        if proxy.tls {
            stream = Box::new(tls_over(&proxy.host, stream, &proxy.endpoint())?);
        }
        tunnel(&mut stream, proxy, &host, port, &req.user_agent)?;
    }
    if tls {
        stream = Box::new(tls_over(&host, stream, &endpoint)?);
    }

    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE_BYTES))
        .max_frame_size(Some(MAX_MESSAGE_BYTES));
    let (ws, response) =
        match tungstenite::client::client_with_config(request, stream, Some(config)) {
            Ok(ok) => ok,
            Err(HandshakeError::Interrupted(_)) => {
                return Err(ConnectError::Timeout {
                    endpoint,
                    stage: "websocket handshake",
                })
            }
            Err(HandshakeError::Failure(e)) => return Err(classify_handshake(endpoint, e)),
        };
    control
        .set_read_timeout(Some(timings.read_timeout))
        .map_err(io)?;
    control
        .set_write_timeout(Some(timings.write_timeout))
        .map_err(io)?;
    let ping_interval = response
        .headers()
        .get("Handshake-Options")
        .and_then(|v| v.to_str().ok())
        .and_then(ping_interval);
    Ok(Socket {
        ws,
        ping_interval,
        endpoint,
    })
}

/// A TLS client session for `host` over `stream`.
fn tls_over(
    host: &str,
    stream: Box<dyn Stream>,
    endpoint: &str,
) -> Result<native_tls::TlsStream<Box<dyn Stream>>, ConnectError> {
    let tls_error = |source| ConnectError::Tls {
        endpoint: endpoint.to_string(),
        source,
    };
    let connector = native_tls::TlsConnector::new().map_err(tls_error)?;
    match connector.connect(host, stream) {
        Ok(s) => Ok(s),
        Err(native_tls::HandshakeError::Failure(e)) => Err(tls_error(e)),
        Err(native_tls::HandshakeError::WouldBlock(_)) => Err(ConnectError::Timeout {
            endpoint: endpoint.to_string(),
            stage: "TLS handshake",
        }),
    }
}

/// `CONNECT host:port` through the proxy on `stream`; on a 2xx answer the stream is a tunnel
/// to the target. The answer is read byte by byte so that nothing past its head is consumed.
fn tunnel(
    stream: &mut Box<dyn Stream>,
    proxy: &TiktokProxy,
    host: &str,
    port: u16,
    user_agent: &str,
) -> Result<(), ConnectError> {
    let via = proxy.endpoint();
    let target = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let failed = |source: std::io::Error| {
        if matches!(source.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) {
            ConnectError::Timeout {
                endpoint: via.clone(),
                stage: "proxy CONNECT",
            }
        } else {
            ConnectError::ProxyUnreachable {
                proxy: via.clone(),
                source,
            }
        }
    };
    let mut head = format!(
        "CONNECT {target} HTTP/1.1\r\nHost: {target}\r\nUser-Agent: {user_agent}\r\nProxy-Connection: Keep-Alive\r\n"
    );
    if proxy.has_credentials() {
        let credentials = Secret::new(format!("{}:{}", proxy.user, proxy.password.expose()));
        let encoded = base64::engine::general_purpose::STANDARD.encode(credentials.expose());
        head.push_str(&format!("Proxy-Authorization: Basic {encoded}\r\n"));
    }
    head.push_str("\r\n");
    let head = Secret::new(head);
    stream
        .write_all(head.expose().as_bytes())
        .and_then(|()| stream.flush())
        .map_err(failed)?;

    let garbled = |what| ConnectError::ProxyGarbled {
        proxy: via.clone(),
        target: target.clone(),
        what,
    };
    let mut answer = Vec::with_capacity(256);
    let mut byte = [0u8; 1];
    while !answer.ends_with(b"\r\n\r\n") {
        if answer.len() >= MAX_PROXY_HEAD {
            return Err(garbled("answer head too long"));
        }
        match stream.read(&mut byte) {
            Ok(0) => return Err(garbled("connection closed before the answer ended")),
            Ok(_) => answer.push(byte[0]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(failed(e)),
        }
    }
    let status_line = answer.split(|b| *b == b'\n').next().unwrap_or(b"");
    let status = std::str::from_utf8(status_line)
        .ok()
        .filter(|l| l.starts_with("HTTP/1."))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(|| garbled("no HTTP status line"))?;
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err(ConnectError::ProxyRefused {
            proxy: via,
            target,
            status,
        })
    }
}

fn tcp_connect(
    host: &str,
    port: u16,
    endpoint: &str,
    timeout: Duration,
) -> Result<TcpStream, ConnectError> {
    let addrs: Vec<_> = (host, port)
        .to_socket_addrs()
        .map_err(|source| ConnectError::Resolve {
            host: host.to_string(),
            source,
        })?
        .collect();
    let mut last = std::io::Error::new(ErrorKind::NotFound, "the host has no address");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(s) => return Ok(s),
            Err(e) => last = e,
        }
    }
    if matches!(last.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock) {
        return Err(ConnectError::Timeout {
            endpoint: endpoint.to_string(),
            stage: "TCP connect",
        });
    }
    Err(ConnectError::Tcp {
        endpoint: endpoint.to_string(),
        source: last,
    })
}

fn classify_handshake(endpoint: String, error: tungstenite::Error) -> ConnectError {
    match error {
        tungstenite::Error::Http(resp) => {
            let get = |name: &str| {
                resp.headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .chars()
                    .take(200)
                    .collect::<String>()
            };
            let status = resp.status().as_u16();
            let message = get("Handshake-Msg");
            if matches!(status, 200 | 400) || !message.is_empty() {
                ConnectError::Rejected {
                    endpoint,
                    status,
                    message,
                    handshake_status: get("Handshake-Status"),
                }
            } else {
                ConnectError::Http { endpoint, status }
            }
        }
        tungstenite::Error::Io(e)
            if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
        {
            ConnectError::Timeout {
                endpoint,
                stage: "websocket handshake",
            }
        }
        source => ConnectError::Handshake { endpoint, source },
    }
}

#[cfg(test)]
// tungstenite's handshake callback fixes its error type (an HTTP response).
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::sync::mpsc;
    use std::time::Instant;
    use tungstenite::handshake::server::{Request, Response};

    fn fetch(push_server: &str, route: &[(&str, &str)]) -> ProtoMessageFetchResult {
        ProtoMessageFetchResult {
            push_server: push_server.into(),
            route_params: route
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            cursor: "t-1_r-1".into(),
            internal_ext: "internal_src:dim|wss_push_room_id:7".into(),
            ..Default::default()
        }
    }

    fn browser() -> Browser {
        Browser::from_user_agent("Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/147.0.0.0")
    }

    #[test]
    fn url_is_built_in_order_and_encoded() {
        let f = fetch(
            "wss://webcast-ws.tiktok.com/webcast/im/ws_proxy/ws_reuse_supplement/",
            &[("wrss", "abc def"), ("imprp", "x/y"), ("empty", "")],
        );
        let url = socket_url(&f, 7140000000000000001, &browser(), 150);
        assert_eq!(
            url.expose(),
            "wss://webcast-ws.tiktok.com/webcast/im/ws_proxy/ws_reuse_supplement/?\
imprp=x%2Fy&wrss=abc%20def&aid=1988&app_language=en&app_name=tiktok_web&browser_platform=Win32&\
browser_language=en-US&browser_name=Mozilla&browser_version=5.0%20%28Windows%20NT%2010.0%3B%20Win64%3B%20x64%29%20Chrome%2F147.0.0.0&\
browser_online=true&cookie_enabled=true&tz_name=America%2FNew_York&device_platform=web&identity=audience&live_id=12&\
sup_ws_ds_opt=1&update_version_code=2.0.0&version_code=180800&client_enter=1&ws_direct=1&did_rule=3&\
webcast_language=en&screen_height=1080&screen_width=1920&heartbeat_duration=10000&resp_content_type=protobuf&\
history_comment_count=6&last_rtt=150&room_id=7140000000000000001&compress=gzip&cursor=t-1_r-1&\
internal_ext=internal_src%3Adim%7Cwss_push_room_id%3A7&version_code=270000"
        );
    }

    #[test]
    fn later_keys_replace_earlier_ones_in_place_and_existing_queries_are_extended() {
        let f = fetch(
            "wss://ws-fallback.eulerstream.com/?token=t0k",
            &[("room_id", "1"), ("aid", "0"), ("ua", "Mozilla/5.0 (X11)")],
        );
        let url = socket_url(&f, 9, &browser(), 100);
        let url = url.expose();
        assert!(url.starts_with("wss://ws-fallback.eulerstream.com/?token=t0k&aid=1988&room_id=9&ua=Mozilla%2F5.0%20%28X11%29&app_language=en"), "{url}");
        assert_eq!(url.matches("room_id=").count(), 1);
        assert!(!url.contains(' '));
        assert_eq!(redact(url), "wss://ws-fallback.eulerstream.com/");
    }

    #[test]
    fn ping_interval_from_handshake_options() {
        assert_eq!(
            ping_interval("ping-interval=10; reconnect-interval=5"),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            ping_interval("a=b;Ping-Interval = 0.5"),
            Some(Duration::from_secs(1))
        );
        assert_eq!(ping_interval("ping-interval=0"), None);
        assert_eq!(ping_interval("reconnect-interval=5"), None);
    }

    fn timings() -> ReaderTimings {
        ReaderTimings {
            connect_timeout: Duration::from_millis(500),
            read_timeout: Duration::from_millis(100),
            ..ReaderTimings::standard()
        }
    }

    fn request(port: u16, scheme: &str) -> SocketRequest {
        let f = fetch(
            &format!("{scheme}://127.0.0.1:{port}/webcast/im/"),
            &[("wrss", "w")],
        );
        SocketRequest {
            url: socket_url(&f, 42, &browser(), 120),
            user_agent: "UA/1.0 (test)".into(),
            cookie: Secret::new("ttwid=abc; tt-target-idc=useast1a".into()),
            origin: "https://www.tiktok.com".into(),
            proxy: None,
        }
    }

    #[test]
    fn handshake_sends_our_headers_and_reads_the_ping_interval() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, rx) = mpsc::channel();
        let server = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut ws = tungstenite::accept_hdr(stream, |req: &Request, mut resp: Response| {
                let h = |n: &str| {
                    req.headers()
                        .get(n)
                        .map(|v| v.to_str().unwrap().to_string())
                };
                tx.send((
                    req.uri().to_string(),
                    h("user-agent"),
                    h("cookie"),
                    h("origin"),
                    h("sec-websocket-protocol"),
                ))
                .unwrap();
                resp.headers_mut()
                    .insert("Handshake-Options", "ping-interval=3".parse().unwrap());
                Ok(resp)
            })
            .unwrap();
            let _ = ws.read();
        });
        let mut socket = open(&request(port, "ws"), &timings()).unwrap();
        assert_eq!(socket.ping_interval, Some(Duration::from_secs(3)));
        assert_eq!(
            socket.endpoint,
            format!("ws://127.0.0.1:{port}/webcast/im/")
        );
        let (uri, ua, cookie, origin, protocol) = rx.recv().unwrap();
        assert!(uri.starts_with("/webcast/im/?wrss=w&aid=1988"), "{uri}");
        assert!(uri.ends_with("&version_code=270000"), "{uri}");
        assert_eq!(ua.as_deref(), Some("UA/1.0 (test)"));
        assert_eq!(cookie.as_deref(), Some("ttwid=abc; tt-target-idc=useast1a"));
        assert_eq!(origin.as_deref(), Some("https://www.tiktok.com"));
        assert_eq!(protocol, None);
        let t = Instant::now();
        match socket.ws.read() {
            Err(tungstenite::Error::Io(e)) => assert!(matches!(
                e.kind(),
                ErrorKind::WouldBlock | ErrorKind::TimedOut
            )),
            other => panic!("expected a read timeout, got {other:?}"),
        }
        assert!(
            t.elapsed() < Duration::from_millis(400),
            "{:?}",
            t.elapsed()
        );
        drop(socket);
        server.join().unwrap();
    }

    /// A server that reads the request and answers with `answer` (raw bytes).
    fn raw_server(answer: &'static [u8]) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(answer);
            std::thread::sleep(Duration::from_millis(1500));
        });
        port
    }

    #[test]
    fn refused_handshakes_are_classified() {
        let port = raw_server(b"HTTP/1.1 200 OK\r\nHandshake-Status: 415\r\nHandshake-Msg: DEVICE_BLOCKED\r\nContent-Length: 0\r\n\r\n");
        let err = open(&request(port, "ws"), &timings()).err().unwrap();
        assert!(err.is_rejection());
        assert_eq!(err.kind(), "rejected");
        let text = err.to_string();
        assert!(
            text.contains("\"DEVICE_BLOCKED\"") && text.contains("\"415\""),
            "{text}"
        );
        assert!(
            !text.contains("cursor") && !text.contains('?'),
            "the query must not be shown: {text}"
        );

        let port = raw_server(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        assert!(open(&request(port, "ws"), &timings())
            .err()
            .unwrap()
            .is_rejection());

        let port = raw_server(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
        let err = open(&request(port, "ws"), &timings()).err().unwrap();
        assert_eq!((err.kind(), err.is_rejection()), ("http_error", false));

        let port = raw_server(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(
            open(&request(port, "wss"), &timings())
                .err()
                .unwrap()
                .kind(),
            "tls"
        );

        let port = raw_server(b"");
        assert_eq!(
            open(&request(port, "ws"), &timings()).err().unwrap().kind(),
            "timeout"
        );

        let closed = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        assert_eq!(
            open(&request(closed, "ws"), &timings())
                .err()
                .unwrap()
                .kind(),
            "tcp"
        );
    }

    /// A one-connection CONNECT proxy on 127.0.0.1:0 requiring `Basic {user:pass}` (unless
    /// `credentials` is empty): sends its
    /// request head on the channel, answers `answer` if the credentials match (else 407), and
    /// on a 2xx forwards bytes both ways to the requested target.
    fn connect_proxy(
        credentials: &'static str,
        answer: &'static str,
    ) -> (u16, mpsc::Receiver<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let wanted = format!(
            "proxy-authorization: basic {}",
            base64::engine::general_purpose::STANDARD.encode(credentials)
        )
        .to_ascii_lowercase();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let (mut client, _) = listener.accept().unwrap();
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && client.read(&mut byte).unwrap() == 1 {
                head.push(byte[0]);
            }
            let head = String::from_utf8(head).unwrap();
            let authorised =
                credentials.is_empty() || head.to_ascii_lowercase().lines().any(|l| l == wanted);
            let target = head.split_whitespace().nth(1).unwrap().to_string();
            let _ = tx.send(head);
            if !authorised {
                let _ = client.write_all(
                    b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n",
                );
                return;
            }
            client.write_all(answer.as_bytes()).unwrap();
            if !answer.starts_with("HTTP/1.1 2") {
                return;
            }
            let upstream = TcpStream::connect(target).unwrap();
            let (mut c2, mut u2) = (client.try_clone().unwrap(), upstream.try_clone().unwrap());
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut c2, &mut u2);
                let _ = u2.shutdown(std::net::Shutdown::Write);
            });
            let (mut client, mut upstream) = (client, upstream);
            let _ = std::io::copy(&mut upstream, &mut client);
            let _ = client.shutdown(std::net::Shutdown::Write);
        });
        (port, rx)
    }

    fn via(port: u16, user: &str, password: &str) -> Option<TiktokProxy> {
        Some(TiktokProxy {
            tls: false,
            host: "127.0.0.1".into(),
            port,
            user: user.into(),
            password: Secret::new(password.into()),
        })
    }

    #[test]
    fn the_socket_goes_through_the_proxy_tunnel() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, rx) = mpsc::channel();
        let server = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut ws = tungstenite::accept_hdr(stream, |req: &Request, resp: Response| {
                tx.send(
                    req.headers()
                        .get("cookie")
                        .map(|v| v.to_str().unwrap().to_string()),
                )
                .unwrap();
                Ok(resp)
            })
            .unwrap();
            ws.send(tungstenite::Message::Binary(b"through".to_vec().into()))
                .unwrap();
            let _ = ws.read();
        });
        let (proxy_port, heads) =
            connect_proxy("u:p@ss", "HTTP/1.1 200 Connection established\r\n\r\n");
        let mut req = request(port, "ws");
        req.proxy = via(proxy_port, "u", "p@ss");
        let mut socket = open(&req, &timings()).unwrap();
        let head = heads.recv().unwrap();
        assert!(
            head.starts_with(&format!(
                "CONNECT 127.0.0.1:{port} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            )),
            "{head}"
        );
        assert!(head.contains("User-Agent: UA/1.0 (test)\r\n"), "{head}");
        assert!(
            !head.contains("cursor"),
            "the signed URL stays inside the tunnel: {head}"
        );
        assert_eq!(
            rx.recv().unwrap().as_deref(),
            Some("ttwid=abc; tt-target-idc=useast1a")
        );
        let end = Instant::now() + Duration::from_secs(2);
        let frame = loop {
            match socket.ws.read() {
                Ok(m) => break m,
                Err(tungstenite::Error::Io(e))
                    if Instant::now() < end
                        && matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) => panic!("{e}"),
            }
        };
        assert_eq!(frame.into_data().as_ref(), b"through");
        drop(socket);
        server.join().unwrap();
    }

    /// A target that must never be reached: counts connections.
    fn untouched_target() -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = hits.clone();
        std::thread::spawn(move || {
            for _ in listener.incoming() {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        });
        (port, hits)
    }

    #[test]
    fn proxy_failures_never_fall_back_to_a_direct_connection() {
        let (port, hits) = untouched_target();
        let attempt = |proxy: Option<TiktokProxy>| {
            let mut req = request(port, "ws");
            req.proxy = proxy;
            open(&req, &timings()).err().unwrap()
        };

        let (proxy_port, heads) = connect_proxy("u:right", "HTTP/1.1 200 OK\r\n\r\n");
        let err = attempt(via(proxy_port, "u", "wrong-pw"));
        assert!(heads
            .recv()
            .unwrap()
            .contains("Proxy-Authorization: Basic "));
        assert_eq!(err.kind(), "proxy");
        let text = err.to_string();
        assert_eq!(
            text,
            format!("proxy http://127.0.0.1:{proxy_port} refused the tunnel to 127.0.0.1:{port} with HTTP 407; check the credentials in TIKTOK_PROXY")
        );

        let (proxy_port, _) =
            connect_proxy("", "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
        let err = attempt(via(proxy_port, "", ""));
        assert_eq!((err.kind(), err.is_rejection()), ("proxy", false));
        assert!(err.to_string().ends_with("with HTTP 502"), "{err}");

        let (proxy_port, _) = connect_proxy("", "SSH-2.0-nope\r\n\r\n");
        assert_eq!(attempt(via(proxy_port, "", "")).kind(), "proxy");

        let closed = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let err = attempt(via(closed, "u", "pw"));
        assert_eq!(err.kind(), "proxy");
        assert!(
            err.to_string().starts_with(&format!(
                "cannot reach proxy http://127.0.0.1:{closed} (TIKTOK_PROXY)"
            )),
            "{err}"
        );

        let tls_proxy = raw_server(b"not TLS\r\n");
        let mut proxy = via(tls_proxy, "", "").unwrap();
        proxy.tls = true;
        assert_eq!(
            attempt(Some(proxy)).kind(),
            "tls",
            "TLS to an https:// proxy"
        );

        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(
            hits.load(std::sync::atomic::Ordering::SeqCst),
            0,
            "no direct connection"
        );
    }
}
