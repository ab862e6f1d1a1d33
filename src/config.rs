//! Configuration: the only place that reads the environment.
//!
//! Every variable is one row of [`VARS`] (name, default, doc). The table drives parsing, and a
//! test keeps `env.sample` and the README's table in step with it. Parsing runs in two phases as
//! ripgrep does: `Config::from_env` reads `std::env::vars()` once, `Config::from_map` turns the
//! raw strings into typed, validated values and reports *every* bad variable together, each
//! line naming the variable, what is wrong with the value and the form expected. Runtime
//! objects (HTTP agents, sockets) are built later by the modules that own them.
//!
//! Must not touch: the network, logging (the logger is configured from what this returns),
//! global state. Secrets are held in [`Secret`], whose `Debug` prints `***`.

use std::collections::HashMap;
use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

/// One environment variable the ingester understands.
pub struct Var {
    pub name: &'static str,
    /// The value used when the variable is unset or empty; `""` means "none".
    pub default: &'static str,
    pub doc: &'static str,
}

/// Every variable, in the order of `env.sample` and the README table.
pub const VARS: &[Var] = &[
    Var { name: "TIKTOK_HOST", default: "", doc: "TikTok user(s) to capture: `@handle`, `handle` or a `tiktok.com/@handle/live` URL; comma-separated for several. Required unless DEBUG_MODE=true" },
    Var { name: "TIKTOK_HOSTS_FILE", default: "", doc: "File of TikTok users to capture, one `@handle`, `handle` or `tiktok.com/@handle/live` URL a line; `#` starts a comment (also after an entry), blank lines are ignored. Merged with TIKTOK_HOST and re-read on SIGHUP: added hosts start, removed hosts stop, the others keep their connection" },
    Var { name: "CLICKHOUSE_CLUSTER", default: "", doc: "Name of a ClickHouse cluster (`remote_servers`): migrations create replicated `<table>_local` tables and Distributed `<table>` tables ON CLUSTER; empty = one server" },
    Var { name: "CLICKHOUSE_CONN", default: "http://127.0.0.1:8123/chakal", doc: "ClickHouse HTTP endpoint: `http[s]://user:pass@host:port/database` (percent-encode `@`, `/` and `:` in the password as %40, %2F, %3A) or .NET form `Host=…;Port=…;Username=…;Password=…;Database=…`; host and port are checked at startup" },
    Var { name: "LOG_LEVEL", default: "Debug", doc: "Trace, Debug, Information, Warning, Error, Critical or None (Rust names trace/debug/info/warn/error/off too)" },
    Var { name: "DEBUG_MODE", default: "false", doc: "true: no TikTok connection; generate mock room activity (as real protobuf frames) every DEBUG_INTERVAL_MS. Refused together with TIKTOK_HOST or TIKTOK_HOSTS_FILE" },
    Var { name: "DEBUG_INTERVAL_MS", default: "3000", doc: "Milliseconds between two mock frames in DEBUG_MODE" },
    Var { name: "HTTP_ADDR", default: "0.0.0.0:5000", doc: "Address of the health server (`/healthz`, `/metrics`): `host:port` or a port; port 0 picks a free one, logged at startup (`health server listening addr=…`)" },
    Var { name: "CHANNEL_CAPACITY", default: "5000", doc: "Events the reader→writer channel holds before readers wait" },
    Var { name: "FLUSH_INTERVAL_MS", default: "500", doc: "A table's batch is inserted at the latest this many ms after its first row (at least 2 s while batches wait in the spool)" },
    Var { name: "BATCH_MAX_ROWS", default: "5000", doc: "A table's batch is inserted as soon as it holds this many rows" },
    Var { name: "CLICKHOUSE_INIT_SCHEMA", default: "true", doc: "true: apply the migrations in sql/ (embedded in the binary) at startup" },
    Var { name: "CLICKHOUSE_TIMEOUT_MS", default: "10000", doc: "Timeout of one ClickHouse HTTP request (connect + send + answer)" },
    Var { name: "RAW_MESSAGES", default: "unknown", doc: "Which messages are also kept whole in raw_messages (for `chakal-ingest redecode`): all, unknown (methods without a decoder, and messages that failed to decode) or off" },
    Var { name: "SHUTDOWN_TIMEOUT_MS", default: "8000", doc: "On SIGTERM/SIGINT, how long the final flush may take before the process gives up (keep below Docker's 10 s)" },
    Var { name: "SPOOL_DIR", default: "./data/spool", doc: "Directory where batches ClickHouse cannot take are kept (fsynced) until it answers again; replayed at startup" },
    Var { name: "SPOOL_MAX_BYTES", default: "1073741824", doc: "Cap on the spool's size; when reached the writer stops receiving and readers wait (nothing is dropped)" },
    Var { name: "DEAD_LETTER_DIR", default: "./data/dead-letter", doc: "Directory of NDJSON files (one per UTC day) holding rows ClickHouse refused as bad data, with table and error" },
    Var { name: "SIGN_API_KEY", default: "", doc: "Euler Stream sign-server API key (sent as `x-api-key`); empty = anonymous, with lower rate limits" },
    Var { name: "SIGN_API_URL", default: "https://api.eulerstream.com", doc: "Base URL of the sign server (`GET {url}/webcast/fetch`); http:// or https://" },
    Var { name: "SIGN_RATE_PER_MIN", default: "10", doc: "Sign-server requests per minute, shared by every host of the process (token bucket; each connect and reconnect costs one); a 429's Retry-After pauses them all" },
    Var { name: "SIGN_RATE_BURST", default: "3", doc: "Sign-server requests that may go out back to back before SIGN_RATE_PER_MIN paces them" },
    Var { name: "TIKTOK_WEB_URL", default: "https://www.tiktok.com", doc: "Base URL of TikTok's web site (live page scrape, `api-live/user/room`, socket Origin); http:// or https://" },
    Var { name: "TIKTOK_WEBCAST_URL", default: "https://webcast.tiktok.com", doc: "Base URL of TikTok's webcast API (`/webcast/room/info/`, `/webcast/room/check_alive/`); http:// or https://" },
    Var { name: "TIKTOK_USER_AGENT", default: DEFAULT_USER_AGENT, doc: "Browser User-Agent sent to TikTok and to the sign server, which signs the socket URL for it" },
    Var { name: "TIKTOK_PROXY", default: "", doc: "Optional HTTP CONNECT proxy for all TikTok-side traffic (live page, API, sign server, websocket): `http://[user:password@]host:port` or `https://…`; never bypassed when set; ClickHouse is always reached directly" },
    Var { name: "TIKTOK_SESSION_ID", default: "", doc: "Optional `sessionid` cookie of a logged-in TikTok account, for 18+ rooms; sent to TikTok, and to the sign server only if WHITELIST_AUTHENTICATED_SESSION_ID_HOST allows it" },
    Var { name: "TIKTOK_TARGET_IDC", default: "useast1a", doc: "Data centre of the TikTok account (`tt-target-idc` cookie), e.g. useast1a or eu-ttp2" },
    Var { name: "WHITELIST_AUTHENTICATED_SESSION_ID_HOST", default: "", doc: "Host name of the sign server (e.g. `api.eulerstream.com`) trusted with TIKTOK_SESSION_ID; the session is forwarded only when this equals SIGN_API_URL's host" },
    Var { name: "LIVE_POLL_INTERVAL_S", default: "60", doc: "Seconds between two live checks of an offline host (minimum 30)" },
    Var { name: "RECORD_DIR", default: "", doc: "If set, every frame received is appended to a capture file per connection in this directory (`HOST_ROOMID_CONNECTMS.bin`, replay with `chakal-ingest replay`)" },
];

/// A current desktop browser (Chrome 147 on Windows, as TikTokLive 7's presets).
pub const DEFAULT_USER_AGENT: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/147.0.0.0 Safari/537.36";

/// A value that must never reach logs: `Debug` and `Display` print `***`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub fn new(value: T) -> Self {
        Secret(value)
    }
    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Where and how to reach ClickHouse.
#[derive(Clone, Debug)]
pub struct ClickHouseConn {
    /// `http://host:port` or `https://host:port`, no trailing slash, no credentials.
    pub base_url: String,
    pub user: String,
    pub password: Secret<String>,
    pub database: String,
}

/// The HTTP CONNECT proxy every TikTok-side connection goes through (`TIKTOK_PROXY`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TiktokProxy {
    /// `https://`: TLS to the proxy itself, then the tunnel.
    pub tls: bool,
    /// Host name or IP address (an IPv6 address without brackets).
    pub host: String,
    pub port: u16,
    /// Empty: no `Proxy-Authorization`.
    pub user: String,
    pub password: Secret<String>,
}

impl TiktokProxy {
    /// `http[s]://host:port`, without credentials: what logs and errors may show.
    pub fn endpoint(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.authority())
    }

    /// `host:port`, the IPv6 address in brackets.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    pub fn has_credentials(&self) -> bool {
        !self.user.is_empty() || !self.password.expose().is_empty()
    }
}

/// Where the hosts to capture come from: `TIKTOK_HOST`, fixed for the life of the process, and
/// `TIKTOK_HOSTS_FILE`, read at startup and again on every SIGHUP.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostSources {
    /// TIKTOK_HOST's handles, normalised.
    pub listed: Vec<String>,
    pub file: Option<PathBuf>,
}

/// Why `TIKTOK_HOSTS_FILE` could not be used; the hosts running so far are kept.
#[derive(Debug, thiserror::Error)]
pub enum HostsFileError {
    #[error("cannot read TIKTOK_HOSTS_FILE {path}: {source}; check the path and its permissions")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("TIKTOK_HOSTS_FILE {path} has bad lines, fix them: {}", .lines.join("; "))]
    BadLines { path: PathBuf, lines: Vec<String> },
}

impl HostSources {
    /// TIKTOK_HOST's handles then the file's, each once, in that order.
    pub fn load(&self) -> Result<Vec<String>, HostsFileError> {
        let mut hosts = self.listed.clone();
        if let Some(path) = &self.file {
            let text = std::fs::read_to_string(path).map_err(|source| HostsFileError::Read {
                path: path.clone(),
                source,
            })?;
            let from_file = parse_hosts_file(&text).map_err(|lines| HostsFileError::BadLines {
                path: path.clone(),
                lines,
            })?;
            for host in from_file {
                if !hosts.contains(&host) {
                    hosts.push(host);
                }
            }
        }
        Ok(hosts)
    }
}

/// The handles of a hosts file: one a line, `#` to the end of the line is a comment, blank lines
/// are skipped, duplicates kept once. Every bad line is reported (`line N: why`).
pub fn parse_hosts_file(text: &str) -> Result<Vec<String>, Vec<String>> {
    let mut hosts = Vec::new();
    let mut bad = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let entry = line.split('#').next().unwrap_or("").trim();
        if entry.is_empty() {
            continue;
        }
        match normalise_host(entry) {
            Ok(host) if !hosts.contains(&host) => hosts.push(host),
            Ok(_) => {}
            Err(e) => bad.push(format!("line {}: {e}", i + 1)),
        }
    }
    if bad.is_empty() {
        Ok(hosts)
    } else {
        Err(bad)
    }
}

/// Which messages the readers also hand over whole, for the `raw_messages` table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RawMessages {
    /// Every message, decoded or not: a lossless archive that `redecode` can replay.
    All,
    /// Messages of unknown methods and messages that failed to decode.
    Unknown,
    /// None: such messages are counted and dropped.
    Off,
}

/// A logged-in TikTok session (PROTOCOL.md §3.7), for 18+ rooms.
#[derive(Clone, Debug)]
pub struct TiktokSession {
    pub session_id: Secret<String>,
}

/// Timings of the live reader that are not environment variables: the protocol's own numbers
/// (PROTOCOL.md §4.8, §4.9, §6). Tests shorten them.
#[derive(Clone, Debug)]
pub struct ReaderTimings {
    /// One HTTP request to TikTok or the sign server (connect + send + answer).
    pub http_timeout: Duration,
    /// Each stage of opening the socket: TCP connect, TLS handshake, websocket handshake.
    pub connect_timeout: Duration,
    /// Socket read timeout: how often the reader wakes to heartbeat and see the shutdown flag.
    pub read_timeout: Duration,
    /// Socket write timeout: a send that cannot finish in this time means a dead socket.
    pub write_timeout: Duration,
    /// Heartbeat period when the handshake's `Handshake-Options` names no `ping-interval`.
    pub heartbeat: Duration,
    /// No frame of any kind for this long: the socket is dead.
    pub frame_silence: Duration,
    /// No `msg` frame for this long: the socket is dead.
    pub msg_silence: Duration,
    /// First reconnect delay after a drop; doubles up to `backoff_max` (jittered).
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// Least wait after TikTok refused the handshake (200/400 with `Handshake-Msg`).
    pub blocked_backoff: Duration,
    /// A connection that stayed up this long resets the reconnect backoff: a socket TikTok drops
    /// now and then is reconnected after `backoff_min`, while a reconnect storm still backs off.
    pub stable_after: Duration,
}

impl ReaderTimings {
    /// The values of PROTOCOL.md: 10 s HTTP, 10 s heartbeat, 30 s/60 s watchdog, 5 s…5 min backoff.
    pub fn standard() -> ReaderTimings {
        ReaderTimings {
            http_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_millis(250),
            write_timeout: Duration::from_secs(5),
            heartbeat: Duration::from_secs(10),
            frame_silence: Duration::from_secs(30),
            msg_silence: Duration::from_secs(60),
            backoff_min: Duration::from_secs(5),
            backoff_max: Duration::from_secs(300),
            blocked_backoff: Duration::from_secs(60),
            stable_after: Duration::from_secs(15),
        }
    }
}

/// What a live reader needs: where TikTok and the sign server are, who we say we are, how often
/// to poll, where to record.
#[derive(Clone, Debug)]
pub struct ReaderConfig {
    /// Empty: anonymous sign requests.
    pub sign_api_key: Secret<String>,
    /// Base URLs, `http[s]://host[:port][/path]`, without a trailing slash.
    pub sign_api_url: String,
    pub web_url: String,
    pub webcast_url: String,
    pub user_agent: String,
    pub session: Option<TiktokSession>,
    pub target_idc: String,
    /// Lowercase host name allowed to receive the session (empty: none).
    pub session_sign_host: String,
    /// Every TikTok-side connection goes through it when set; never bypassed.
    pub proxy: Option<TiktokProxy>,
    /// The process-wide sign budget: a token bucket refilled at this rate, holding `sign_burst`.
    pub sign_per_minute: u32,
    pub sign_burst: u32,
    pub poll_interval: Duration,
    pub record_dir: Option<PathBuf>,
    pub timings: ReaderTimings,
}

impl ReaderConfig {
    /// The session, if one is configured AND the sign server's host is the allowed one.
    pub fn session_for_signer(&self) -> Option<&TiktokSession> {
        let host = url_host(&self.sign_api_url);
        self.session
            .as_ref()
            .filter(|_| !self.session_sign_host.is_empty() && host == self.session_sign_host)
    }
}

/// The lowercase host of a validated base URL (no scheme, port or path).
pub fn url_host(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or("");
    let host = if authority.starts_with('[') {
        authority
            .split(']')
            .next()
            .map_or("", |h| h.trim_start_matches('['))
    } else {
        authority.split(':').next().unwrap_or("")
    };
    host.to_ascii_lowercase()
}

/// The validated configuration of one process.
#[derive(Clone, Debug)]
pub struct Config {
    /// Normalised TikTok handles (no `@`) of TIKTOK_HOST and TIKTOK_HOSTS_FILE at startup;
    /// possibly empty in DEBUG_MODE or with a hosts file still to be filled.
    pub tiktok_hosts: Vec<String>,
    /// Where `tiktok_hosts` came from, to read them again on SIGHUP.
    pub host_sources: HostSources,
    pub clickhouse: ClickHouseConn,
    /// `CLICKHOUSE_CLUSTER`: the cluster the schema is created on, if any.
    pub clickhouse_cluster: Option<String>,
    pub log_level: log::LevelFilter,
    pub debug_mode: bool,
    pub debug_interval: Duration,
    pub http_addr: SocketAddr,
    pub channel_capacity: usize,
    pub flush_interval: Duration,
    pub batch_max_rows: usize,
    pub init_schema: bool,
    pub clickhouse_timeout: Duration,
    pub shutdown_timeout: Duration,
    pub raw_messages: RawMessages,
    pub spool_dir: PathBuf,
    pub spool_max_bytes: u64,
    pub dead_letter_dir: PathBuf,
    pub reader: ReaderConfig,
}

/// One bad variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub var: &'static str,
    pub message: String,
}

/// Every bad variable found, reported together; `Display` gives one line per variable.
#[derive(Debug, thiserror::Error)]
pub struct ConfigError {
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "invalid {}: {}", p.var, p.message)?;
        }
        Ok(())
    }
}

impl Config {
    /// Reads the process environment once and validates it.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_map(&std::env::vars().collect())
    }

    /// Parses and validates raw values; unknown keys in `env` are ignored.
    pub fn from_map(env: &HashMap<String, String>) -> Result<Config, ConfigError> {
        let mut p = Parser {
            env,
            problems: Vec::new(),
        };
        let listed_hosts = p.parse("TIKTOK_HOST", parse_hosts);
        let hosts_file = p.parse("TIKTOK_HOSTS_FILE", |v| {
            Ok((!v.is_empty()).then(|| PathBuf::from(v)))
        });
        let clickhouse = p.parse("CLICKHOUSE_CONN", parse_clickhouse_conn);
        let clickhouse_cluster = p.parse("CLICKHOUSE_CLUSTER", parse_cluster);
        let log_level = p.parse("LOG_LEVEL", parse_log_level);
        let debug_mode = p.parse("DEBUG_MODE", parse_bool);
        let debug_interval = p.parse("DEBUG_INTERVAL_MS", |v| parse_millis(v, 10, 3_600_000));
        let http_addr = p.parse("HTTP_ADDR", parse_addr);
        let channel_capacity = p.parse("CHANNEL_CAPACITY", |v| parse_count(v, 1, 10_000_000));
        let flush_interval = p.parse("FLUSH_INTERVAL_MS", |v| parse_millis(v, 1, 600_000));
        let batch_max_rows = p.parse("BATCH_MAX_ROWS", |v| parse_count(v, 1, 10_000_000));
        let init_schema = p.parse("CLICKHOUSE_INIT_SCHEMA", parse_bool);
        let clickhouse_timeout =
            p.parse("CLICKHOUSE_TIMEOUT_MS", |v| parse_millis(v, 100, 600_000));
        let shutdown_timeout = p.parse("SHUTDOWN_TIMEOUT_MS", |v| parse_millis(v, 100, 600_000));
        let raw_messages = p.parse("RAW_MESSAGES", parse_raw_messages);
        let spool_dir = p.parse("SPOOL_DIR", parse_dir);
        let spool_max_bytes = p.parse("SPOOL_MAX_BYTES", |v| {
            parse_count(v, 1, usize::MAX).map(|n| n as u64)
        });
        let dead_letter_dir = p.parse("DEAD_LETTER_DIR", parse_dir);
        let reader = parse_reader(&mut p);

        let (host_sources, tiktok_hosts) = match (listed_hosts, hosts_file) {
            (Some(listed), Some(file)) => {
                let sources = HostSources { listed, file };
                match sources.load() {
                    Ok(hosts) => (Some(sources), Some(hosts)),
                    Err(e) => {
                        p.problems.push(Problem {
                            var: "TIKTOK_HOSTS_FILE",
                            message: e.to_string(),
                        });
                        (None, None)
                    }
                }
            }
            _ => (None, None),
        };
        if let (Some(sources), Some(debug)) = (&host_sources, debug_mode) {
            let no_hosts = sources.listed.is_empty() && sources.file.is_none();
            if !debug && no_hosts {
                p.problems.push(Problem {
                    var: "TIKTOK_HOST",
                    message: "is empty: set the TikTok user to capture (e.g. `@someone`) or TIKTOK_HOSTS_FILE, or DEBUG_MODE=true for the offline demo".into(),
                });
            }
            // The demo would write mock rows where the real room's were expected (docker
            // compose turns the demo on unless DEBUG_MODE=false is set beside TIKTOK_HOST).
            if debug && !no_hosts {
                p.problems.push(Problem {
                    var: "DEBUG_MODE",
                    message: "is true (the offline demo, mock rows) while TIKTOK_HOST or TIKTOK_HOSTS_FILE names users to capture: set DEBUG_MODE=false to capture them, or unset TIKTOK_HOST and TIKTOK_HOSTS_FILE for the demo".into(),
                });
            }
        }
        // Every value parsed (or its problem recorded) above; `?` stops at the first missing one.
        let config = (|| {
            Some(Config {
                tiktok_hosts: tiktok_hosts?,
                host_sources: host_sources?,
                clickhouse: clickhouse?,
                clickhouse_cluster: clickhouse_cluster?,
                log_level: log_level?,
                debug_mode: debug_mode?,
                debug_interval: debug_interval?,
                http_addr: http_addr?,
                channel_capacity: channel_capacity?,
                flush_interval: flush_interval?,
                batch_max_rows: batch_max_rows?,
                init_schema: init_schema?,
                clickhouse_timeout: clickhouse_timeout?,
                shutdown_timeout: shutdown_timeout?,
                raw_messages: raw_messages?,
                spool_dir: spool_dir?,
                spool_max_bytes: spool_max_bytes?,
                dead_letter_dir: dead_letter_dir?,
                reader: reader?,
            })
        })();
        match config {
            Some(config) if p.problems.is_empty() => Ok(config),
            _ => Err(ConfigError {
                problems: p.problems,
            }),
        }
    }
}

/// The live reader's variables (PROTOCOL.md §2.1, §3.2, §3.7, §6).
fn parse_reader(p: &mut Parser) -> Option<ReaderConfig> {
    let sign_api_key = p.parse("SIGN_API_KEY", |v| parse_header_value(v).map(Secret::new));
    let sign_api_url = p.parse("SIGN_API_URL", parse_base_url);
    let web_url = p.parse("TIKTOK_WEB_URL", parse_base_url);
    let webcast_url = p.parse("TIKTOK_WEBCAST_URL", parse_base_url);
    let user_agent = p.parse("TIKTOK_USER_AGENT", parse_header_value);
    let session_id = p.parse("TIKTOK_SESSION_ID", parse_cookie_value);
    let target_idc = p.parse("TIKTOK_TARGET_IDC", parse_cookie_value);
    let session_sign_host = p.parse("WHITELIST_AUTHENTICATED_SESSION_ID_HOST", |v| {
        parse_host_name(v)
    });
    let proxy = p.parse("TIKTOK_PROXY", parse_proxy);
    let sign_per_minute = p.parse("SIGN_RATE_PER_MIN", |v| parse_count(v, 1, 60_000));
    let sign_burst = p.parse("SIGN_RATE_BURST", |v| parse_count(v, 1, 10_000));
    let poll_interval = p.parse("LIVE_POLL_INTERVAL_S", |v| parse_seconds(v, 30, 86_400));
    let record_dir = p.parse("RECORD_DIR", |v| {
        Ok((!v.is_empty()).then(|| PathBuf::from(v)))
    });
    Some(ReaderConfig {
        sign_api_key: sign_api_key?,
        sign_api_url: sign_api_url?,
        web_url: web_url?,
        webcast_url: webcast_url?,
        user_agent: user_agent?,
        session: Some(session_id?)
            .filter(|s| !s.is_empty())
            .map(|s| TiktokSession {
                session_id: Secret::new(s),
            }),
        target_idc: target_idc?,
        session_sign_host: session_sign_host?,
        proxy: proxy?,
        sign_per_minute: sign_per_minute? as u32,
        sign_burst: sign_burst? as u32,
        poll_interval: poll_interval?,
        record_dir: record_dir?,
        timings: ReaderTimings::standard(),
    })
}

struct Parser<'a> {
    env: &'a HashMap<String, String>,
    problems: Vec<Problem>,
}

impl Parser<'_> {
    /// Parses one variable (or its default); a failure is recorded and `None` returned.
    fn parse<T>(
        &mut self,
        name: &'static str,
        f: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let var = VARS
            .iter()
            .find(|v| v.name == name)
            .expect("every parsed variable is in VARS");
        let raw = self
            .env
            .get(name)
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .unwrap_or(var.default);
        match f(raw) {
            Ok(v) => Some(v),
            Err(message) => {
                self.problems.push(Problem { var: name, message });
                None
            }
        }
    }
}

/// Quotes a (non-secret) value in an error message, cut to 80 characters.
fn shown(value: &str) -> String {
    format!("`{}`", value.chars().take(80).collect::<String>())
}

fn parse_bool(v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(format!(
            "{} is not a boolean; expected true or false",
            shown(v)
        )),
    }
}

fn parse_raw_messages(v: &str) -> Result<RawMessages, String> {
    match v.to_ascii_lowercase().as_str() {
        "all" => Ok(RawMessages::All),
        "unknown" => Ok(RawMessages::Unknown),
        "off" | "none" => Ok(RawMessages::Off),
        _ => Err(format!(
            "{} is not a raw-store mode; expected all, unknown or off",
            shown(v)
        )),
    }
}

fn parse_count(v: &str, min: usize, max: usize) -> Result<usize, String> {
    match v.parse::<usize>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        Ok(n) => Err(format!(
            "{n} is out of range; expected a whole number from {min} to {max}"
        )),
        Err(_) => Err(format!(
            "{} is not a whole number; expected a whole number from {min} to {max}",
            shown(v)
        )),
    }
}

fn parse_millis(v: &str, min: u64, max: u64) -> Result<Duration, String> {
    match v.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(Duration::from_millis(n)),
        Ok(n) => Err(format!(
            "{n} ms is out of range; expected milliseconds from {min} to {max}"
        )),
        Err(_) => Err(format!(
            "{} is not a number of milliseconds; expected a whole number from {min} to {max}",
            shown(v)
        )),
    }
}

/// A directory path; whether it is usable is checked when it is opened, at startup.
fn parse_dir(v: &str) -> Result<PathBuf, String> {
    Ok(PathBuf::from(v))
}

fn parse_seconds(v: &str, min: u64, max: u64) -> Result<Duration, String> {
    match v.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(Duration::from_secs(n)),
        Ok(n) => Err(format!(
            "{n} s is out of range; expected seconds from {min} to {max}"
        )),
        Err(_) => Err(format!(
            "{} is not a number of seconds; expected a whole number from {min} to {max}",
            shown(v)
        )),
    }
}

/// `http[s]://host[:port][/path]` → the same without a trailing slash.
fn parse_base_url(v: &str) -> Result<String, String> {
    const FORM: &str = "expected `https://host[:port][/path]` or `http://…`";
    let Some((scheme, rest)) = v.split_once("://") else {
        return Err(format!("{} is not a URL; {FORM}", shown(v)));
    };
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err(format!("scheme `{scheme}` is not supported; {FORM}"));
    }
    if rest.contains(['?', '#']) || rest.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "{} has a query, fragment or spaces; {FORM}",
            shown(v)
        ));
    }
    let rest = rest.trim_end_matches('/');
    let authority = rest.split('/').next().unwrap_or("");
    if authority.is_empty() || authority.contains('@') {
        return Err(format!(
            "{} has no host (or carries credentials); {FORM}",
            shown(v)
        ));
    }
    Ok(format!("{scheme}://{rest}"))
}

/// A value that goes into an HTTP header: visible ASCII and spaces only.
fn parse_header_value(v: &str) -> Result<String, String> {
    if v.chars().all(|c| c == ' ' || c.is_ascii_graphic()) {
        Ok(v.to_string())
    } else {
        Err("contains characters not allowed in an HTTP header (only printable ASCII)".into())
    }
}

/// A cookie value: no separators, spaces or quotes (the value itself is never echoed).
fn parse_cookie_value(v: &str) -> Result<String, String> {
    if v.chars()
        .all(|c| c.is_ascii_graphic() && !matches!(c, ';' | ',' | '"' | '\\'))
    {
        Ok(v.to_string())
    } else {
        Err("is not a cookie value (no spaces, `;`, `,`, quotes or non-ASCII)".into())
    }
}

/// A bare host name such as `api.eulerstream.com` (lowercased), or empty.
fn parse_host_name(v: &str) -> Result<String, String> {
    if v.chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
    {
        Ok(v.to_ascii_lowercase())
    } else {
        Err(format!(
            "{} is not a host name; expected the sign server's host, e.g. `api.eulerstream.com` (no scheme, port or path)",
            shown(v)
        ))
    }
}

/// `http[s]://[user:password@]host[:port][/]` → a proxy. Errors never quote the value: it may
/// hold a password.
fn parse_proxy(v: &str) -> Result<Option<TiktokProxy>, String> {
    const FORM: &str = "expected `http://[user:password@]host:port` or `https://…` (percent-encode `@`, `:` and `/` in the credentials)";
    if v.is_empty() {
        return Ok(None);
    }
    let Some((scheme, rest)) = v.split_once("://") else {
        return Err(format!("is not a URL; {FORM}"));
    };
    let tls = match scheme.to_ascii_lowercase().as_str() {
        "http" => false,
        "https" => true,
        other => {
            return Err(format!(
                "scheme `{}` is not supported (HTTP CONNECT proxies only); {FORM}",
                other.chars().take(10).collect::<String>()
            ))
        }
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains(['/', '?', '#']) || rest.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("has a path, query or spaces; {FORM}"));
    }
    let (userinfo, hostport) = match rest.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, rest),
    };
    let (host, port) = if let Some(bracketed) = hostport.strip_prefix('[') {
        let (host, after) = bracketed
            .split_once(']')
            .ok_or_else(|| format!("has an unclosed `[` in its host; {FORM}"))?;
        (host, after.strip_prefix(':'))
    } else {
        match hostport.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    let host_ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'));
    if !host_ok {
        return Err(format!("has no valid host; {FORM}"));
    }
    let port = match port {
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 => n,
            _ => return Err(format!("port is not a number from 1 to 65535; {FORM}")),
        },
        None if tls => 443,
        None => 80,
    };
    let (user, password) = match userinfo {
        Some(u) => match u.split_once(':') {
            Some((user, pass)) => (percent_decode(user), percent_decode(pass)),
            None => (percent_decode(u), String::new()),
        },
        None => (String::new(), String::new()),
    };
    if user.contains(':') || !(user.chars().chain(password.chars())).all(|c| !c.is_control()) {
        return Err(format!(
            "has credentials with `:` in the user name or control characters; {FORM}"
        ));
    }
    let proxy = TiktokProxy {
        tls,
        host: host.to_ascii_lowercase(),
        port,
        user,
        password: Secret::new(password),
    };
    crate::http::proxy(&proxy).map_err(|e| format!("is not usable as a proxy ({e}); {FORM}"))?;
    Ok(Some(proxy))
}

fn parse_addr(v: &str) -> Result<SocketAddr, String> {
    let candidate = if v.chars().all(|c| c.is_ascii_digit()) {
        format!("0.0.0.0:{v}")
    } else {
        v.to_string()
    };
    candidate
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .ok_or_else(|| format!("{} is not an address to listen on; expected `host:port` such as `0.0.0.0:5000`, or a port", shown(v)))
}

fn parse_log_level(v: &str) -> Result<log::LevelFilter, String> {
    use log::LevelFilter::*;
    Ok(match v.to_ascii_lowercase().as_str() {
        "trace" => Trace,
        "debug" => Debug,
        "information" | "info" => Info,
        "warning" | "warn" => Warn,
        "error" | "critical" => Error,
        "none" | "off" => Off,
        _ => {
            return Err(format!(
                "{} is not a log level; expected Trace, Debug, Information, Warning, Error, Critical or None (or trace, debug, info, warn, error, off)",
                shown(v)
            ))
        }
    })
}

/// Normalises one TikTok user reference to its handle (PROTOCOL.md §1 step 1).
pub fn normalise_host(raw: &str) -> Result<String, String> {
    let mut s = raw.trim();
    for prefix in ["https://", "http://"] {
        if let Some(rest) = s.strip_prefix(prefix) {
            s = rest;
        }
    }
    for prefix in ["www.tiktok.com/", "m.tiktok.com/", "tiktok.com/"] {
        if let Some(rest) = s.strip_prefix(prefix) {
            s = rest;
        }
    }
    let s = s.split(['?', '#']).next().unwrap_or("");
    let s = s.trim_end_matches('/');
    let s = s.strip_suffix("/live").unwrap_or(s);
    let s = s.strip_prefix('@').unwrap_or(s);
    let valid = !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
    if valid {
        Ok(s.to_string())
    } else {
        Err(format!("{} is not a TikTok user; expected `@handle`, `handle` or `https://www.tiktok.com/@handle/live`", shown(raw)))
    }
}

fn parse_hosts(v: &str) -> Result<Vec<String>, String> {
    let mut hosts = Vec::new();
    for part in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let host = normalise_host(part)?;
        if !hosts.contains(&host) {
            hosts.push(host);
        }
    }
    Ok(hosts)
}

fn valid_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && s.len() <= 64
}

const CONN_FORMS: &str = "expected `http[s]://user:password@host:port/database` or `Host=…;Port=…;Username=…;Password=…;Database=…`";

/// How to write a password that holds URL delimiters.
const PERCENT_ENCODE: &str =
    "percent-encode `@`, `/` and `:` in the user name and password as %40, %2F and %3A";

fn parse_cluster(v: &str) -> Result<Option<String>, String> {
    if v.is_empty() {
        Ok(None)
    } else if valid_identifier(v) {
        Ok(Some(v.to_string()))
    } else {
        Err(format!(
            "{} is not a cluster name; expected a name from the server's remote_servers (letters, digits, underscore)",
            shown(v)
        ))
    }
}

fn parse_clickhouse_conn(v: &str) -> Result<ClickHouseConn, String> {
    let conn = if v.contains("://") {
        parse_conn_url(v)?
    } else {
        parse_conn_keys(v)?
    };
    if !valid_identifier(&conn.database) {
        // A URL with credentials is never quoted: its parts may be pieces of the password.
        let named = if v.contains("://") && v.contains('@') {
            "the database name".to_string()
        } else {
            format!("database name {}", shown(&conn.database))
        };
        return Err(format!(
            "{named} is not a plain identifier (letters, digits, underscore)"
        ));
    }
    Ok(conn)
}

/// Why a ClickHouse `host[:port]` is not usable.
enum HostPortError {
    Host,
    Port,
}

/// A host as it goes in a URL: a host name, an IPv4 address, or an IPv6 address (bracketed;
/// `::1` and `[::1]` are both accepted).
fn url_host_of(host: &str) -> Option<String> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if bare.parse::<std::net::Ipv6Addr>().is_ok() {
        return Some(format!("[{bare}]"));
    }
    let name_ok = !host.is_empty()
        && host.len() <= 253
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    name_ok.then(|| host.to_string())
}

/// A TCP port from 1 to 65535.
fn parse_port(p: &str) -> Option<u16> {
    p.parse::<u16>().ok().filter(|&n| n > 0)
}

/// `host`, `host:port`, `[v6]` or `[v6]:port` → the host as it goes in a URL and the port.
fn split_host_port(hostport: &str) -> Result<(String, Option<u16>), HostPortError> {
    let (host, port) = match hostport.strip_prefix('[') {
        Some(rest) => {
            let (ip, after) = rest.split_once(']').ok_or(HostPortError::Host)?;
            let port = match after {
                "" => None,
                p => Some(p.strip_prefix(':').ok_or(HostPortError::Port)?),
            };
            (format!("[{ip}]"), port)
        }
        None => match hostport.split_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (hostport.to_string(), None),
        },
    };
    let host = url_host_of(&host).ok_or(HostPortError::Host)?;
    let port = match port {
        Some(p) => Some(parse_port(p).ok_or(HostPortError::Port)?),
        None => None,
    };
    Ok((host, port))
}

fn parse_conn_url(v: &str) -> Result<ClickHouseConn, String> {
    let (scheme, rest) = v.split_once("://").expect("caller checked");
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        // Echo it only if it looks like a scheme: a mistyped URL may hold the password here.
        let looks_like_scheme = scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        let named = if looks_like_scheme {
            format!("scheme `{scheme}`")
        } else {
            "the text before `://`".to_string()
        };
        return Err(format!("{named} is not supported (the ingester speaks ClickHouse's HTTP interface); {CONN_FORMS}"));
    }
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    if path.contains('@') {
        // A `/` in the credentials ended the host part early: nothing of them may be echoed.
        return Err(format!(
            "an `@` follows the first `/`: a `/` in the user name or password ends the host part early; {PERCENT_ENCODE}"
        ));
    }
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    if hostport.is_empty() {
        return Err(format!("the URL has no host; {CONN_FORMS}"));
    }
    let (host, port) = split_host_port(hostport).map_err(|e| match e {
        // Not echoed: a `:` in an unencoded user name or password may put part of it here.
        HostPortError::Port => {
            format!("the port is not a number from 1 to 65535 ({PERCENT_ENCODE}); {CONN_FORMS}")
        }
        HostPortError::Host if userinfo.is_some() => {
            format!("the host is not a host name or IP address ({PERCENT_ENCODE}); {CONN_FORMS}")
        }
        HostPortError::Host => format!(
            "host {} is not a host name or IP address (IPv6 in brackets); {CONN_FORMS}",
            shown(hostport.rsplit_once(':').map_or(hostport, |(h, _)| h))
        ),
    })?;
    let port = port.unwrap_or(if scheme == "https" { 8443 } else { 8123 });
    let (user, password) = match userinfo {
        Some(u) => match u.split_once(':') {
            Some((user, pass)) => (percent_decode(user), percent_decode(pass)),
            None => (percent_decode(u), String::new()),
        },
        None => ("default".to_string(), String::new()),
    };
    let database = path.split(['?', '/']).next().unwrap_or("");
    Ok(ClickHouseConn {
        base_url: format!("{scheme}://{host}:{port}"),
        user: if user.is_empty() {
            "default".into()
        } else {
            user
        },
        password: Secret::new(password),
        database: if database.is_empty() {
            "chakal".into()
        } else {
            database.to_string()
        },
    })
}

fn parse_conn_keys(v: &str) -> Result<ClickHouseConn, String> {
    let (mut host, mut port, mut user, mut password, mut database) = (None, None, None, None, None);
    let mut https = false;
    for (i, part) in v
        .split(';')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .enumerate()
    {
        // The part is not echoed: it may be a password missing its `Password=`.
        let Some((key, value)) = part.split_once('=') else {
            return Err(format!(
                "part {} is not a `Key=Value` pair; {CONN_FORMS}",
                i + 1
            ));
        };
        let value = value.trim().to_string();
        match key.trim().to_ascii_lowercase().as_str() {
            "host" | "server" => host = Some(value),
            "port" => port = Some(parse_port(&value).ok_or_else(|| format!("Port {} is not a number from 1 to 65535", shown(&value)))?),
            "username" | "user" | "user id" | "uid" => user = Some(value),
            "password" | "pwd" => password = Some(value),
            "database" => database = Some(value),
            "protocol" => https = value.eq_ignore_ascii_case("https"),
            "usessl" | "ssl" => https = parse_bool(&value).map_err(|e| format!("UseSsl: {e}"))?,
            "compression" | "compress" | "usesession" | "timeout" => {}
            other => return Err(format!("key `{other}` is not known; known keys are Host, Port, Username, Password, Database, Protocol, UseSsl")),
        }
    }
    let host = host
        .filter(|h| !h.is_empty())
        .ok_or_else(|| format!("Host is missing; {CONN_FORMS}"))?;
    let host = url_host_of(&host).ok_or_else(|| {
        format!(
            "Host {} is not a host name or IP address; expected e.g. `clickhouse`, `10.0.0.5` or `::1` (the port goes in Port=)",
            shown(&host)
        )
    })?;
    let port = port.unwrap_or(if https { 8443 } else { 8123 });
    let scheme = if https { "https" } else { "http" };
    Ok(ClickHouseConn {
        base_url: format!("{scheme}://{host}:{port}"),
        user: user
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| "default".into()),
        password: Secret::new(password.unwrap_or_default()),
        database: database
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| "chakal".into()),
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// Demo rows must not land where a real room's were expected (compose defaults to the demo).
    #[test]
    fn debug_mode_beside_hosts_is_refused_naming_both() {
        let err = Config::from_map(&env(&[("DEBUG_MODE", "true"), ("TIKTOK_HOST", "@someone")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("DEBUG_MODE"), "{err}");
        assert!(err.contains("DEBUG_MODE=false"), "{err}");
        assert!(err.contains("TIKTOK_HOST"), "{err}");
        let ok = Config::from_map(&env(&[
            ("DEBUG_MODE", "false"),
            ("TIKTOK_HOST", "@someone"),
        ]));
        assert!(ok.is_ok());
    }

    #[test]
    fn defaults_in_debug_mode() {
        let c = Config::from_map(&env(&[("DEBUG_MODE", "true")])).unwrap();
        assert!(c.debug_mode && c.tiktok_hosts.is_empty());
        assert_eq!(c.log_level, log::LevelFilter::Debug);
        assert_eq!(c.http_addr.to_string(), "0.0.0.0:5000");
        assert_eq!((c.channel_capacity, c.batch_max_rows), (5000, 5000));
        assert_eq!(c.flush_interval, Duration::from_millis(500));
        assert_eq!(c.debug_interval, Duration::from_millis(3000));
        assert_eq!(c.clickhouse.base_url, "http://127.0.0.1:8123");
        assert_eq!(
            (c.clickhouse.user.as_str(), c.clickhouse.database.as_str()),
            ("default", "chakal")
        );
    }

    #[test]
    fn every_bad_variable_is_reported_by_name() {
        let err = Config::from_map(&env(&[
            ("DEBUG_MODE", "maybe"),
            ("CHANNEL_CAPACITY", "lots"),
            ("LOG_LEVEL", "Loud"),
            ("HTTP_ADDR", "nowhere:port"),
            ("CLICKHOUSE_CONN", "ftp://x"),
        ]))
        .unwrap_err();
        let text = err.to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 5, "{text}");
        for var in [
            "DEBUG_MODE",
            "CHANNEL_CAPACITY",
            "LOG_LEVEL",
            "HTTP_ADDR",
            "CLICKHOUSE_CONN",
        ] {
            assert!(
                lines
                    .iter()
                    .any(|l| l.starts_with(&format!("invalid {var}: "))),
                "{var} missing in {text}"
            );
        }
        assert!(text.contains("expected true or false"), "{text}");
    }

    #[test]
    fn missing_host_outside_debug_mode_names_tiktok_host() {
        let err = Config::from_map(&env(&[])).unwrap_err();
        assert_eq!(err.problems.len(), 1);
        assert_eq!(err.problems[0].var, "TIKTOK_HOST");
    }

    #[test]
    fn hosts_are_normalised() {
        for raw in [
            "@some.one",
            "some.one",
            "https://www.tiktok.com/@some.one/live",
            "tiktok.com/@some.one?lang=en",
        ] {
            assert_eq!(normalise_host(raw).unwrap(), "some.one", "{raw}");
        }
        assert!(normalise_host("bad handle!").is_err());
        let c = Config::from_map(&env(&[("TIKTOK_HOST", "@a, b ,@a")])).unwrap();
        assert_eq!(c.tiktok_hosts, vec!["a", "b"]);
    }

    #[test]
    fn dotnet_log_levels() {
        for (raw, want) in [
            ("Information", log::LevelFilter::Info),
            ("Warning", log::LevelFilter::Warn),
            ("Critical", log::LevelFilter::Error),
            ("warn", log::LevelFilter::Warn),
            ("None", log::LevelFilter::Off),
        ] {
            let c = Config::from_map(&env(&[("DEBUG_MODE", "true"), ("LOG_LEVEL", raw)])).unwrap();
            assert_eq!(c.log_level, want, "{raw}");
        }
    }

    #[test]
    fn clickhouse_conn_url_and_dotnet_forms() {
        let c = parse_clickhouse_conn("https://ingest:p%40ss@ch.example:8443/analytics").unwrap();
        assert_eq!(
            (c.base_url.as_str(), c.user.as_str(), c.database.as_str()),
            ("https://ch.example:8443", "ingest", "analytics")
        );
        assert_eq!(c.password.expose(), "p@ss");
        let c = parse_clickhouse_conn("Host=db;Port=8124;Username=u;Password=secret;Database=tt")
            .unwrap();
        assert_eq!(
            (c.base_url.as_str(), c.user.as_str(), c.database.as_str()),
            ("http://db:8124", "u", "tt")
        );
        assert_eq!(c.password.expose(), "secret");
        let c = parse_clickhouse_conn("host=db;PASSWORD=x;protocol=https").unwrap();
        assert_eq!(c.base_url, "https://db:8443");
        assert!(parse_clickhouse_conn("Port=1")
            .unwrap_err()
            .contains("Host is missing"));
        assert!(parse_clickhouse_conn("Host=db;Colour=blue")
            .unwrap_err()
            .contains("`colour` is not known"));
        assert!(parse_clickhouse_conn("http://h:8123/bad-name").is_err());
    }

    /// A fresh-user trial: `http://bad host:8123/chakal` started and then retried forever.
    #[test]
    fn clickhouse_conn_hosts_and_ports_are_checked_at_startup() {
        for (conn, want) in [
            (
                "http://bad host:8123/chakal",
                "host `bad host` is not a host name",
            ),
            (
                "http://h:0/chakal",
                "the port is not a number from 1 to 65535",
            ),
            (
                "http://h:port/chakal",
                "the port is not a number from 1 to 65535",
            ),
            ("http://::1:8123/chakal", "is not a host name or IP address"),
            ("http://[::1/chakal", "is not a host name or IP address"),
            ("http://[::1]x/chakal", "the port is not a number"),
            (
                "Host=bad host;Port=8123",
                "Host `bad host` is not a host name",
            ),
            ("Host=h:8123", "Host `h:8123` is not a host name"),
            ("Host=h;Port=0", "Port `0` is not a number from 1 to 65535"),
        ] {
            let err = Config::from_map(&env(&[("DEBUG_MODE", "true"), ("CLICKHOUSE_CONN", conn)]))
                .unwrap_err();
            assert_eq!(err.problems.len(), 1, "{conn} → {err}");
            assert_eq!(err.problems[0].var, "CLICKHOUSE_CONN", "{conn}");
            assert!(err.problems[0].message.contains(want), "{conn} → {err}");
        }
        for (conn, base_url) in [
            ("http://[::1]:8124/db", "http://[::1]:8124"),
            ("https://[2001:db8::5]/db", "https://[2001:db8::5]:8443"),
            (
                "http://ch-1.example_net:65535",
                "http://ch-1.example_net:65535",
            ),
            ("Host=::1", "http://[::1]:8123"),
            ("Host=[::1];Port=9", "http://[::1]:9"),
            ("Host=10.0.0.5;Protocol=https", "https://10.0.0.5:8443"),
        ] {
            assert_eq!(parse_clickhouse_conn(conn).unwrap().base_url, base_url);
        }
    }

    /// A fresh-user trial: an unencoded `/` in the password put the rest of it in the database
    /// name, which the error quoted.
    #[test]
    fn clickhouse_credentials_are_never_echoed_and_may_be_percent_encoded() {
        for (conn, pieces) in [
            (
                "http://u:p@ss/w0rd@127.0.0.1:8123/chakal",
                &["p@ss", "@ss", "w0rd"][..],
            ),
            (
                "http://us/er:secret@127.0.0.1:8123/chakal",
                &["us/er", "er:", "secret"],
            ),
            ("http://u:hunter2@bad host:8123/chakal", &["hunter2"]),
            ("http://u:hunter2@h:77777/chakal", &["hunter2", "77777"]),
            ("http://u:hunter2@h:8123/bad-db", &["hunter2", "bad-db"]),
            ("http://u:p:4/w0rd@h/chakal", &["p:4", "w0rd"]),
        ] {
            let err = Config::from_map(&env(&[("DEBUG_MODE", "true"), ("CLICKHOUSE_CONN", conn)]))
                .unwrap_err()
                .to_string();
            assert!(err.starts_with("invalid CLICKHOUSE_CONN: "), "{err}");
            for piece in pieces {
                assert!(!err.contains(piece), "{conn} → {err}");
            }
        }
        let err = parse_clickhouse_conn("http://u:p@ss/w0rd@127.0.0.1:8123/chakal").unwrap_err();
        assert!(
            err.contains("%40") && err.contains("%2F") && err.contains("%3A"),
            "the error says how to encode the password: {err}"
        );
        let c =
            parse_clickhouse_conn("http://us%2Fer%3A1:p%40ss%2Fw0rd%3A%25@127.0.0.1:8123/chakal")
                .unwrap();
        assert_eq!(
            (c.base_url.as_str(), c.user.as_str(), c.database.as_str()),
            ("http://127.0.0.1:8123", "us/er:1", "chakal")
        );
        assert_eq!(c.password.expose(), "p@ss/w0rd:%");
    }

    #[test]
    fn secrets_never_print() {
        let c = Config::from_map(&env(&[
            ("DEBUG_MODE", "true"),
            ("CLICKHOUSE_CONN", "http://u:hunter2@h:8123/db"),
        ]))
        .unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
        let err = Config::from_map(&env(&[(
            "CLICKHOUSE_CONN",
            "Host=h;Password=hunter2;Port=x",
        )]))
        .unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    /// Issue 5 §6: a mistyped CLICKHOUSE_CONN never echoes the password in its error.
    #[test]
    fn malformed_connection_strings_never_echo_the_password() {
        for conn in [
            "Host=h;hunter2;Port=8123",
            "http://u:hun/ter2@h:8123/db",
            "http://u:99999/x@h/db",
            "u:hunter2://h:8123/db",
        ] {
            let err = Config::from_map(&env(&[("DEBUG_MODE", "true"), ("CLICKHOUSE_CONN", conn)]))
                .unwrap_err()
                .to_string();
            assert!(err.contains("CLICKHOUSE_CONN"), "{err}");
            for secret in ["hunter2", "hun", "ter2", "99999"] {
                assert!(!err.contains(secret), "{conn} → {err}");
            }
        }
    }

    /// Variable names in `text`, as found by `pattern` (a line prefix before `NAME`).
    fn names_in(text: &str, before: &str, after: char) -> Vec<String> {
        let mut names: Vec<String> = text
            .lines()
            .filter_map(|l| l.trim_start().strip_prefix(before))
            .filter_map(|rest| rest.split(after).next())
            .filter(|n| {
                !n.is_empty()
                    && n.chars()
                        .all(|c| c.is_ascii_uppercase() || c == '_' || c.is_ascii_digit())
            })
            .map(String::from)
            .collect();
        names.sort();
        names.dedup();
        names
    }

    fn table_names() -> Vec<String> {
        let mut names: Vec<String> = VARS.iter().map(|v| v.name.to_string()).collect();
        names.sort();
        names
    }

    #[test]
    fn env_sample_lists_every_variable() {
        let sample = include_str!("../env.sample");
        let mut found = names_in(sample, "# ", '=');
        found.extend(names_in(sample, "", '='));
        found.sort();
        found.dedup();
        assert_eq!(found, table_names(), "env.sample and config::VARS differ");
    }

    #[test]
    fn readme_table_lists_every_variable() {
        let readme = include_str!("../README.md");
        assert_eq!(
            names_in(readme, "| `", '`'),
            table_names(),
            "README configuration table and config::VARS differ"
        );
    }

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let mut env: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        env.entry("TIKTOK_HOST".into()).or_insert("@someone".into());
        Config::from_map(&env)
    }

    #[test]
    fn reader_defaults() {
        let r = config(&[]).unwrap().reader;
        assert_eq!(r.sign_api_url, "https://api.eulerstream.com");
        assert_eq!(r.web_url, "https://www.tiktok.com");
        assert_eq!(r.webcast_url, "https://webcast.tiktok.com");
        assert_eq!(r.user_agent, DEFAULT_USER_AGENT);
        assert_eq!(r.target_idc, "useast1a");
        assert_eq!(r.poll_interval, Duration::from_secs(60));
        assert!(r.sign_api_key.expose().is_empty());
        assert!(r.session.is_none() && r.record_dir.is_none());
    }

    #[test]
    fn plain_http_base_urls_work_and_lose_their_trailing_slash() {
        let r = config(&[
            ("SIGN_API_URL", "http://127.0.0.1:9000/"),
            ("TIKTOK_WEB_URL", "HTTP://localhost:81/prefix/"),
            ("TIKTOK_WEBCAST_URL", "https://[::1]:8443"),
        ])
        .unwrap()
        .reader;
        assert_eq!(r.sign_api_url, "http://127.0.0.1:9000");
        assert_eq!(r.web_url, "http://localhost:81/prefix");
        assert_eq!(r.webcast_url, "https://[::1]:8443");
        assert_eq!(url_host(&r.webcast_url), "::1");
    }

    #[test]
    fn bad_reader_values_are_all_reported_by_name() {
        let err = config(&[
            ("SIGN_API_URL", "ftp://x"),
            ("TIKTOK_WEB_URL", "www.tiktok.com"),
            ("TIKTOK_WEBCAST_URL", "https://h/?q=1"),
            ("LIVE_POLL_INTERVAL_S", "29"),
            ("TIKTOK_SESSION_ID", "abc;def"),
            ("TIKTOK_USER_AGENT", "Mozilla\u{7f}"),
            (
                "WHITELIST_AUTHENTICATED_SESSION_ID_HOST",
                "https://api.eulerstream.com",
            ),
        ])
        .unwrap_err();
        let vars: Vec<&str> = err.problems.iter().map(|p| p.var).collect();
        assert_eq!(
            vars,
            [
                "SIGN_API_URL",
                "TIKTOK_WEB_URL",
                "TIKTOK_WEBCAST_URL",
                "TIKTOK_USER_AGENT",
                "TIKTOK_SESSION_ID",
                "WHITELIST_AUTHENTICATED_SESSION_ID_HOST",
                "LIVE_POLL_INTERVAL_S",
            ]
        );
        let text = err.to_string();
        assert!(
            text.contains("invalid LIVE_POLL_INTERVAL_S: 29 s is out of range"),
            "{text}"
        );
        assert!(
            !text.contains("abc;def"),
            "a session id must never be echoed: {text}"
        );
    }

    #[test]
    fn session_goes_to_the_signer_only_when_its_host_is_whitelisted() {
        let base = [
            ("TIKTOK_SESSION_ID", "s3cr3t"),
            ("SIGN_API_URL", "https://API.eulerstream.com:443"),
        ];
        let r = config(&base).unwrap().reader;
        assert!(r.session.is_some());
        assert!(r.session_for_signer().is_none());
        let mut allowed = base.to_vec();
        allowed.push((
            "WHITELIST_AUTHENTICATED_SESSION_ID_HOST",
            "api.EulerStream.com",
        ));
        let r = config(&allowed).unwrap().reader;
        assert!(r.session_for_signer().is_some());
        let mut other = base.to_vec();
        other.push(("WHITELIST_AUTHENTICATED_SESSION_ID_HOST", "evil.example"));
        assert!(config(&other)
            .unwrap()
            .reader
            .session_for_signer()
            .is_none());
        let debug = format!("{:?}", config(&allowed).unwrap());
        assert!(!debug.contains("s3cr3t"), "{debug}");
    }

    #[test]
    fn hosts_file_lines_comments_and_blanks() {
        let text = "# my rooms\n@alpha\n\n  beta   # the second one\nhttps://www.tiktok.com/@gamma/live\n@alpha\n\t\n";
        assert_eq!(parse_hosts_file(text).unwrap(), ["alpha", "beta", "gamma"]);
        assert_eq!(parse_hosts_file("").unwrap(), Vec::<String>::new());
        let bad = parse_hosts_file("ok\nnot a handle\n# fine\nbad!\n").unwrap_err();
        assert_eq!(bad.len(), 2, "{bad:?}");
        assert!(
            bad[0].starts_with("line 2: `not a handle` is not a TikTok user"),
            "{bad:?}"
        );
        assert!(bad[1].starts_with("line 4: "), "{bad:?}");
    }

    fn temp_file(tag: &str, text: &str) -> PathBuf {
        let path =
            std::env::temp_dir().join(format!("chakal-hosts-{tag}-{}.txt", std::process::id()));
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn hosts_file_is_merged_with_tiktok_host_and_read_again_on_demand() {
        let path = temp_file("merge", "@b\nc\n");
        let file = path.to_str().unwrap();
        let c = Config::from_map(&env(&[
            ("TIKTOK_HOST", "@a,b"),
            ("TIKTOK_HOSTS_FILE", file),
        ]))
        .unwrap();
        assert_eq!(c.tiktok_hosts, ["a", "b", "c"]);
        std::fs::write(&path, "d\n# c is gone\n").unwrap();
        assert_eq!(c.host_sources.load().unwrap(), ["a", "b", "d"]);
        std::fs::write(&path, "d\nno way\n").unwrap();
        let err = c.host_sources.load().unwrap_err().to_string();
        assert!(
            err.contains("line 2: `no way` is not a TikTok user"),
            "{err}"
        );
        std::fs::remove_file(&path).unwrap();

        let err = c.host_sources.load().unwrap_err().to_string();
        assert!(err.starts_with("cannot read TIKTOK_HOSTS_FILE"), "{err}");
        let err = Config::from_map(&env(&[("TIKTOK_HOSTS_FILE", file)])).unwrap_err();
        assert_eq!(err.problems[0].var, "TIKTOK_HOSTS_FILE");
    }

    #[test]
    fn an_empty_hosts_file_is_enough_to_start() {
        let path = temp_file("empty", "# filled in later\n");
        let c = Config::from_map(&env(&[("TIKTOK_HOSTS_FILE", path.to_str().unwrap())])).unwrap();
        assert!(c.tiktok_hosts.is_empty());
        assert_eq!(c.host_sources.file.as_deref(), Some(path.as_path()));
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn sign_rate_defaults_and_bounds() {
        let r = config(&[]).unwrap().reader;
        assert_eq!((r.sign_per_minute, r.sign_burst), (10, 3));
        let r = config(&[("SIGN_RATE_PER_MIN", "120"), ("SIGN_RATE_BURST", "1")])
            .unwrap()
            .reader;
        assert_eq!((r.sign_per_minute, r.sign_burst), (120, 1));
        let err = config(&[("SIGN_RATE_PER_MIN", "0"), ("SIGN_RATE_BURST", "many")]).unwrap_err();
        let vars: Vec<&str> = err.problems.iter().map(|p| p.var).collect();
        assert_eq!(vars, ["SIGN_RATE_PER_MIN", "SIGN_RATE_BURST"]);
    }

    #[test]
    fn proxy_urls() {
        assert_eq!(parse_proxy("").unwrap(), None);
        let p = parse_proxy("http://us%40r:p%3Ass@Proxy.example:3128/")
            .unwrap()
            .unwrap();
        assert_eq!(
            (p.tls, p.host.as_str(), p.port, p.user.as_str()),
            (false, "proxy.example", 3128, "us@r")
        );
        assert_eq!(p.password.expose(), "p:ss");
        assert_eq!(p.endpoint(), "http://proxy.example:3128");
        assert!(p.has_credentials());
        let p = parse_proxy("https://[::1]").unwrap().unwrap();
        assert_eq!((p.tls, p.host.as_str(), p.port), (true, "::1", 443));
        assert_eq!(p.endpoint(), "https://[::1]:443");
        assert!(!p.has_credentials());
        assert_eq!(parse_proxy("HTTP://10.0.0.1").unwrap().unwrap().port, 80);
        for bad in [
            "proxy.example:3128",
            "socks5://h:1080",
            "http://h:99999",
            "http://:8080",
            "http://h:8080/path",
            "http://u:p@",
        ] {
            assert!(parse_proxy(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn proxy_errors_and_debug_never_show_the_password() {
        let err = config(&[("TIKTOK_PROXY", "http://user:hunter2@h:notaport")]).unwrap_err();
        assert_eq!(err.problems[0].var, "TIKTOK_PROXY");
        assert!(!err.to_string().contains("hunter2"), "{err}");
        let c = config(&[("TIKTOK_PROXY", "http://user:hunter2@h:8080")]).unwrap();
        assert!(c.reader.proxy.is_some());
        let debug = format!("{c:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
    }
}
