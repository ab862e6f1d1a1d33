//! The reader daemon of one TikTok host (PROTOCOL.md §6): a loop through the states
//! Polling → Resolving → Signing → Connecting → Live → Ended | Dropped → …, shown in
//! `/healthz` (`Status::set_reader`) and in the `chakal_readers{state}` gauge.
//!
//! - The first lookup waits `Pacing::first_lookup_after` (hosts started together are spread
//!   over one poll interval); then an offline, unknown or unreachable host is looked up again
//!   every `LIVE_POLL_INTERVAL_S`.
//! - Every sign request first takes a token from the process-wide `SignBudget`, waiting for it
//!   in state `waiting_sign`; a 429's `Retry-After` holds the whole budget off.
//! - Live: sign, connect, read (`live`). The stream ends with a control action 3/4, a `close`
//!   frame, or `check_alive` saying the room is over after a drop: back to polling.
//! - A drop, or a failed sign/connect: wait a jittered exponential backoff (5 s … 5 min; at
//!   least `Retry-After` after a 429, at least 60 s after TikTok refused the handshake),
//!   re-check liveness, sign again (a signed URL is used once) and reconnect.
//! - One `FrameHandler` per host lives across connections, so its dedupe spans reconnects and
//!   the sign server's first batches.
//! - Every connection writes a `sessions` row when it opens and when it ends; every lookup
//!   writes `rooms` snapshots.
//! - The reader's `ctx.shutdown` is its own child flag: it stops when its host is removed
//!   (SIGHUP) or when the process stops. It is seen within a fraction of a second in every
//!   state: waits use
//!   `Shutdown::sleep`, HTTP calls and the socket connect run through
//!   `Shutdown::run_interruptible`, the socket reads time out every 250 ms.
//!
//! Must not touch: rows, ClickHouse, protobuf details (the handler and `live` own frames).

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::backoff::{random_between, Backoff};
use super::connect::{self, ConnectError, Socket, SocketRequest};
use super::handler::FrameHandler;
use super::live::{self, End, LiveStats};
use super::pace::SignBudget;
use super::record::Recorder;
use super::sign::{SignError, Signed, Signer};
use super::web::{Browser, RoomFacts, WebClient};
use crate::app::ReaderContext;
use crate::config::{ReaderConfig, Secret};
use crate::event::{Event, Meta, RoomSnapshot, Session};
use crate::status::now_ms;

/// Why the daemon stops.
enum Stop {
    Shutdown,
    /// The writer thread is gone; nothing read could be stored.
    WriterGone,
}

type Step<T> = Result<T, Stop>;

/// What one reader gets from the supervisor besides the configuration.
#[derive(Clone)]
pub struct Pacing {
    /// Shared by every reader of the process.
    pub sign_budget: Arc<SignBudget>,
    /// Wait before the first lookup (`pace::stagger`).
    pub first_lookup_after: Duration,
}

/// Runs the daemon for `host` until its stop flag (or the process's) is set, or the writer is
/// gone.
pub fn run(host: &str, config: &ReaderConfig, ctx: &ReaderContext, pacing: &Pacing) {
    let mut reader = Reader {
        host: host.to_string(),
        config,
        ctx,
        pacing,
        web: WebClient::new(config),
        signer: Signer::new(config),
        browser: Browser::from_user_agent(&config.user_agent),
        handler: FrameHandler::new(0, ctx.metrics.clone()).with_raw_messages(ctx.raw_messages),
        backoff: Backoff::new(config.timings.backoff_min, config.timings.backoff_max),
        state: None,
        room_id: 0,
        last_lookup: None,
    };
    log::info!(
        "reader started host={host} poll_interval_s={} first_lookup_in_ms={} signer={} authenticated={} proxy={}",
        config.poll_interval.as_secs(),
        pacing.first_lookup_after.as_millis(),
        connect::redact(&config.sign_api_url),
        reader.signer.authenticated(),
        config.proxy.as_ref().map_or("none".into(), |p| p.endpoint())
    );
    if config.session.is_some() && !reader.signer.authenticated() {
        log::info!("TIKTOK_SESSION_ID is used for lookups only: the sign server's host is not WHITELIST_AUTHENTICATED_SESSION_ID_HOST");
    }
    match reader.poll_forever() {
        Stop::Shutdown => log::info!("reader stopped host={host}"),
        Stop::WriterGone => log::error!("reader stopped host={host}: the writer thread is gone"),
    }
    if let Some(state) = reader.state {
        ctx.metrics.readers.with_label_values(&[state]).dec();
    }
    ctx.metrics.host_states.set(host, "stopped");
    ctx.status.set_reader(host, "stopped", reader.room_id, None);
}

struct Reader<'a> {
    host: String,
    config: &'a ReaderConfig,
    ctx: &'a ReaderContext,
    pacing: &'a Pacing,
    web: WebClient,
    signer: Signer,
    browser: Browser,
    handler: FrameHandler,
    backoff: Backoff,
    state: Option<&'static str>,
    room_id: u64,
    /// The previous lookup outcome, so a repeated one is logged at debug only.
    last_lookup: Option<&'static str>,
}

impl Reader<'_> {
    fn poll_forever(&mut self) -> Stop {
        let mut wait = self.pacing.first_lookup_after;
        loop {
            if !wait.is_zero() {
                self.set("polling", None);
                if let Err(stop) = self.sleep(wait) {
                    return stop;
                }
            }
            wait = self.config.poll_interval;
            let step = self
                .resolve()
                .and_then(|room| room.map_or(Ok(()), |room| self.follow(room)));
            if let Err(stop) = step {
                return stop;
            }
        }
    }

    /// Shows `state` in the gauge and `/healthz`; `error` (if any) becomes the last error.
    fn set(&mut self, state: &'static str, error: Option<String>) {
        if self.state != Some(state) {
            let readers = &self.ctx.metrics.readers;
            if let Some(old) = self.state {
                readers.with_label_values(&[old]).dec();
            }
            readers.with_label_values(&[state]).inc();
            self.ctx.metrics.host_states.set(&self.host, state);
            self.state = Some(state);
        }
        self.ctx
            .status
            .set_reader(&self.host, state, self.room_id, error);
    }

    fn sleep(&self, d: Duration) -> Step<()> {
        if self.ctx.shutdown.sleep(d) {
            Ok(())
        } else {
            Err(Stop::Shutdown)
        }
    }

    /// A bounded blocking call on a helper thread; shutdown abandons it.
    fn interruptible<T: Send + 'static>(
        &self,
        what: &str,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Step<T> {
        self.ctx
            .shutdown
            .run_interruptible(&format!("{what}-{}", self.host), f)
            .ok_or(Stop::Shutdown)
    }

    fn emit(&self, event: Event) -> Step<()> {
        self.ctx
            .sender
            .send(event, &mut || {})
            .map_err(|_| Stop::WriterGone)
    }

    fn lookup_outcome(&mut self, outcome: &'static str, message: &str) {
        self.ctx.metrics.lookups.with_label_values(&[outcome]).inc();
        if self.last_lookup == Some(outcome) {
            log::debug!("{message}");
        } else if matches!(outcome, "live" | "offline") {
            log::info!("{message}");
        } else {
            log::warn!("{message}");
        }
        self.last_lookup = Some(outcome);
    }

    /// Resolving: the room to connect to, if the host is live.
    fn resolve(&mut self) -> Step<Option<u64>> {
        self.set("resolving", None);
        let (web, host) = (self.web.clone(), self.host.clone());
        let resolved = self.interruptible("lookup", move || web.resolve(&host))?;
        let host = self.host.clone();
        match resolved {
            Ok(resolved) => {
                for facts in &resolved.snapshots {
                    self.emit(self.snapshot(facts))?;
                }
                match resolved.live_room {
                    Some(room_id) => {
                        self.room_id = room_id;
                        self.lookup_outcome(
                            "live",
                            &format!("host is live host={host} room_id={room_id}"),
                        );
                        Ok(Some(room_id))
                    }
                    None => {
                        self.lookup_outcome(
                            "offline",
                            &format!(
                                "host is offline, next check in {} s host={host}",
                                self.config.poll_interval.as_secs()
                            ),
                        );
                        Ok(None)
                    }
                }
            }
            Err(e) => {
                self.lookup_outcome(
                    e.kind(),
                    &format!("lookup failed host={host} outcome={} error={e}", e.kind()),
                );
                self.set("resolving", Some(e.to_string()));
                Ok(None)
            }
        }
    }

    fn snapshot(&self, facts: &RoomFacts) -> Event {
        Event::Room(RoomSnapshot {
            meta: Meta {
                room_id: facts.room_id,
                msg_id: 0,
                time_ms: now_ms(),
            },
            host: self.host.clone(),
            source: facts.source,
            status: facts.status,
            title: facts.title.clone(),
            viewers: facts.viewers,
            likes: facts.likes,
            total_viewers: facts.total_viewers,
        })
    }

    /// Is the room still live? `None` when the check itself failed (then we try anyway).
    fn still_alive(&mut self, room_id: u64) -> Step<Option<bool>> {
        self.set("resolving", None);
        let web = self.web.clone();
        let alive = self.interruptible("alive", move || web.check_alive(room_id))?;
        let host = self.host.clone();
        Ok(match alive {
            Ok(alive) => {
                let outcome = if alive { "live" } else { "offline" };
                self.lookup_outcome(
                    outcome,
                    &format!("room check host={host} room_id={room_id} alive={alive}"),
                );
                Some(alive)
            }
            Err(e) => {
                self.lookup_outcome(e.kind(), &format!("room check failed, reconnecting anyway host={host} room_id={room_id} error={e}"));
                None
            }
        })
    }

    /// Signing → Connecting → Live, again after every drop, until the stream is over.
    fn follow(&mut self, room_id: u64) -> Step<()> {
        self.handler.set_room(room_id);
        self.backoff.reset();
        let mut wait: Option<Duration> = None;
        loop {
            if let Some(delay) = wait.take() {
                self.ctx.metrics.reconnects.inc();
                log::warn!(
                    "reconnecting host={} room_id={room_id} in_ms={}",
                    self.host,
                    delay.as_millis()
                );
                self.sleep(delay)?;
                if self.still_alive(room_id)? == Some(false) {
                    log::info!("stream over host={} room_id={room_id}", self.host);
                    self.set("ended", None);
                    return Ok(());
                }
            }
            let signed = match self.sign(room_id)? {
                Ok(signed) => signed,
                Err(e) => {
                    let delay = if e.needs_operator() {
                        log::error!("cannot sign host={} room_id={room_id}: {e}", self.host);
                        self.config.timings.backoff_max
                    } else {
                        log::warn!("sign failed host={} room_id={room_id} error={e}", self.host);
                        self.backoff
                            .next_delay()
                            .max(e.min_wait().unwrap_or_default())
                    };
                    self.set("dropped", Some(e.to_string()));
                    wait = Some(delay);
                    continue;
                }
            };
            self.set("connecting", None);
            let socket = match self.connect(room_id, &signed)? {
                Ok(socket) => socket,
                Err(e) => {
                    self.ctx
                        .metrics
                        .connections
                        .with_label_values(&[e.kind()])
                        .inc();
                    log::warn!(
                        "connect failed host={} room_id={room_id} error={e}",
                        self.host
                    );
                    let mut delay = self.backoff.next_delay();
                    if e.is_rejection() {
                        delay = delay.max(self.config.timings.blocked_backoff);
                    }
                    self.set("dropped", Some(e.to_string()));
                    // The first batch is real room traffic: keep it even without a socket.
                    let outcome = self
                        .handler
                        .handle_fetch_result(&signed.result, &self.ctx.sender, &mut || {})
                        .map_err(|_| Stop::WriterGone)?;
                    if outcome.stream_ended {
                        self.set("ended", None);
                        return Ok(());
                    }
                    wait = Some(delay);
                    continue;
                }
            };
            let (end, lasted) = self.live(room_id, socket, &signed)?;
            if end.stream_over() {
                self.set("ended", None);
                return Ok(());
            }
            if lasted >= self.config.timings.stable_after {
                self.backoff.reset();
            }
            let reason = match &end {
                End::Error(e) => format!("connection lost: {e}"),
                other => format!("connection lost: {}", other.reason()),
            };
            self.set("dropped", Some(reason));
            wait = Some(self.backoff.next_delay());
        }
    }

    /// Waits for a token of the shared sign budget; a reader stopped meanwhile gives it back.
    fn wait_for_sign_token(&mut self) -> Step<()> {
        let budget = &self.pacing.sign_budget;
        let wait = budget.reserve(Instant::now());
        if wait.is_zero() {
            return Ok(());
        }
        self.set("waiting_sign", None);
        log::debug!(
            "waiting for the sign budget host={} in_ms={}",
            self.host,
            wait.as_millis()
        );
        let started = Instant::now();
        let waited = self.sleep(wait);
        self.ctx
            .metrics
            .sign_wait_seconds
            .inc_by(started.elapsed().as_secs_f64());
        if waited.is_err() {
            budget.refund(Instant::now());
        }
        waited
    }

    fn sign(&mut self, room_id: u64) -> Step<Result<Signed, SignError>> {
        self.wait_for_sign_token()?;
        self.set("signing", None);
        let signer = self.signer.clone();
        let result = self.interruptible("sign", move || signer.fetch(room_id))?;
        if let Some(retry_after) = result.as_ref().err().and_then(SignError::min_wait) {
            let now = Instant::now();
            self.pacing.sign_budget.hold_off(now, now + retry_after);
        }
        let outcome = match &result {
            Ok(signed) => {
                log::debug!(
                    "signed host={} room_id={room_id} bytes={} messages={} push_server={}",
                    self.host,
                    signed.body_bytes,
                    signed.result.messages.len(),
                    connect::redact(&signed.result.push_server)
                );
                "ok"
            }
            Err(e) => e.kind(),
        };
        self.ctx
            .metrics
            .sign_requests
            .with_label_values(&[outcome])
            .inc();
        Ok(result)
    }

    fn connect(&mut self, room_id: u64, signed: &Signed) -> Step<Result<Socket, ConnectError>> {
        let mut cookie = signed
            .cookie
            .expose()
            .trim()
            .trim_end_matches(';')
            .to_string();
        if let (true, Some(session)) = (self.signer.authenticated(), &self.config.session) {
            let sid = session.session_id.expose();
            cookie.push_str(&format!(
                "; sessionid={sid}; sessionid_ss={sid}; sid_tt={sid}; tt-target-idc={}",
                self.config.target_idc
            ));
        }
        let request = SocketRequest {
            url: connect::socket_url(
                &signed.result,
                room_id,
                &self.browser,
                random_between(100, 200),
            ),
            user_agent: self.config.user_agent.clone(),
            cookie: Secret::new(cookie),
            origin: self.config.web_url.clone(),
            proxy: self.config.proxy.clone(),
        };
        let timings = self.config.timings.clone();
        self.interruptible("connect", move || connect::open(&request, &timings))
    }

    /// Live: one connection, bracketed by its two `sessions` rows.
    fn live(&mut self, room_id: u64, mut socket: Socket, signed: &Signed) -> Step<(End, Duration)> {
        self.ctx
            .metrics
            .connections
            .with_label_values(&["ok"])
            .inc();
        self.set("live", None);
        let connected_ms = now_ms();
        log::info!(
            "connected host={} room_id={room_id} endpoint={} heartbeat_s={}",
            self.host,
            socket.endpoint,
            socket
                .ping_interval
                .unwrap_or(self.config.timings.heartbeat)
                .as_secs_f32()
        );
        let mut stats = LiveStats::default();
        self.emit(self.session_row(room_id, connected_ms, None, "open", &stats))?;
        let mut recorder = Recorder::open(
            self.config.record_dir.as_deref(),
            &self.host,
            room_id,
            connected_ms,
            &self.ctx.metrics,
        );
        let started = Instant::now();
        let end = live::run(
            &mut socket,
            room_id,
            &signed.result,
            &mut self.handler,
            self.ctx,
            &self.config.timings,
            &mut recorder,
            &mut stats,
        );
        drop(socket);
        let lasted = started.elapsed();
        self.ctx
            .metrics
            .disconnects
            .with_label_values(&[end.reason()])
            .inc();
        log::info!(
            "disconnected host={} room_id={room_id} reason={} frames={} messages={} duration_s={}{}",
            self.host,
            end.reason(),
            stats.frames,
            stats.messages,
            lasted.as_secs(),
            match &end {
                End::Error(e) => format!(" error={e}"),
                _ => String::new(),
            }
        );
        if end == End::WriterGone {
            return Err(Stop::WriterGone);
        }
        self.emit(self.session_row(room_id, connected_ms, Some(now_ms()), end.reason(), &stats))?;
        if end == End::Shutdown {
            return Err(Stop::Shutdown);
        }
        Ok((end, lasted))
    }

    fn session_row(
        &self,
        room_id: u64,
        connected_ms: i64,
        ended_ms: Option<i64>,
        reason: &'static str,
        stats: &LiveStats,
    ) -> Event {
        Event::Session(Session {
            meta: Meta {
                room_id,
                msg_id: 0,
                time_ms: ended_ms.unwrap_or(connected_ms),
            },
            host: self.host.clone(),
            connected_ms,
            ended_ms,
            end_reason: reason,
            frames: stats.frames,
            messages: stats.messages,
            bytes: stats.bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RawMessages;
    use crate::event::Event;
    use crate::metrics::Metrics;
    use crate::pipe::EventSender;
    use crate::shutdown::Shutdown;
    use crate::status::Status;
    use crate::tiktok::fake_http::{reader_config, FakeHttp, Reply};
    use crate::tiktok::fake_push::{control, msg_frame, serve};
    use crate::tiktok::proto::ProtoMessageFetchResult;
    use prost::Message as _;
    use std::sync::Arc;
    use std::thread::JoinHandle;

    const ROOM: u64 = 7140000000000000001;

    fn page(room: &str, status: u32) -> Reply {
        Reply::new(200, format!("<script id=\"SIGI_STATE\" type=\"application/json\">{{\"LiveRoom\":{{\"liveRoomUserInfo\":{{\"user\":{{\"roomId\":\"{room}\",\"status\":{status}}},\"liveRoom\":{{\"status\":{status},\"title\":\"t\"}}}}}}}}</script>"))
    }

    fn signed(port: u16, cursor: &str) -> Reply {
        let result = ProtoMessageFetchResult {
            messages: vec![control(1, ROOM, 1)],
            cursor: cursor.into(),
            internal_ext: "ext".into(),
            push_server: format!("ws://127.0.0.1:{port}/webcast/im/"),
            route_params: [("wrss".to_string(), "w1".to_string())].into(),
            is_first: true,
            ..Default::default()
        };
        Reply::new(200, result.encode_to_vec()).header("X-Set-TT-Cookie", "ttwid=tw1;")
    }

    struct Daemon {
        ctx: ReaderContext,
        rx: crossbeam_channel::Receiver<Box<Event>>,
        thread: JoinHandle<()>,
    }

    fn start(config: ReaderConfig) -> Daemon {
        start_paced(
            config,
            Pacing {
                sign_budget: Arc::new(SignBudget::new(600, 10, Instant::now())),
                first_lookup_after: Duration::ZERO,
            },
        )
    }

    fn start_paced(config: ReaderConfig, pacing: Pacing) -> Daemon {
        let metrics = Arc::new(Metrics::new());
        let (tx, rx) = crossbeam_channel::bounded(10_000);
        let ctx = ReaderContext {
            sender: EventSender::events(tx, metrics.clone()),
            metrics,
            status: Arc::new(Status::new()),
            shutdown: Shutdown::new(),
            raw_messages: RawMessages::Unknown,
        };
        let thread = std::thread::spawn({
            let ctx = ctx.clone();
            move || run("someone", &config, &ctx, &pacing)
        });
        Daemon { ctx, rx, thread }
    }

    impl Daemon {
        fn wait_until(&self, what: &str, cond: impl Fn() -> bool) {
            let end = Instant::now() + Duration::from_secs(10);
            while !cond() {
                assert!(Instant::now() < end, "timed out waiting for {what}");
                std::thread::sleep(Duration::from_millis(10));
            }
        }

        fn state(&self) -> &'static str {
            self.ctx.status.readers().first().map_or("", |r| r.state)
        }

        /// Shuts down; checks the reader returns promptly and leaves no gauge behind.
        fn stop(self) -> Vec<Event> {
            let Daemon { ctx, rx, thread } = self;
            let t = Instant::now();
            ctx.shutdown.trigger();
            thread.join().unwrap();
            assert!(
                t.elapsed() < Duration::from_secs(1),
                "shutdown took {:?}",
                t.elapsed()
            );
            assert_eq!(ctx.status.readers()[0].state, "stopped");
            let gauges = ctx.metrics.render();
            assert!(
                !gauges
                    .lines()
                    .any(|l| l.starts_with("chakal_readers{") && !l.ends_with(" 0")),
                "{gauges}"
            );
            drop(ctx);
            rx.try_iter().map(|e| *e).collect()
        }
    }

    fn fast(mut config: ReaderConfig) -> ReaderConfig {
        config.poll_interval = Duration::from_millis(200);
        config.timings = crate::config::ReaderTimings {
            http_timeout: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(2),
            read_timeout: Duration::from_millis(50),
            heartbeat: Duration::from_millis(100),
            backoff_min: Duration::from_millis(50),
            backoff_max: Duration::from_millis(200),
            blocked_backoff: Duration::from_millis(400),
            ..crate::config::ReaderTimings::standard()
        };
        config
    }

    fn count(metrics: &Metrics, name: &str, label: &str) -> u64 {
        let text = metrics.render();
        let wanted = format!("{name}{{{label}}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&wanted))
            .map_or(0, |v| v.parse().unwrap())
    }

    #[test]
    fn follows_a_stream_across_a_drop_then_polls_again() {
        let (port, push) = serve(2, |i, s| {
            assert!(s.wait_for(Duration::from_secs(3), |f| !f.is_empty()));
            if i == 0 {
                s.send(msg_frame(
                    10,
                    vec![control(1, ROOM, 1), control(2, ROOM, 1)],
                ));
                s.wait_for(Duration::from_secs(2), |f| {
                    f.iter().any(|f| f.payload_type == "ack")
                });
            } else {
                s.send(msg_frame(
                    11,
                    vec![control(2, ROOM, 1), control(3, ROOM, 3)],
                ));
                s.wait_for(Duration::from_secs(2), |_| false);
            }
            (
                s.uri.clone(),
                s.header("cookie").map(str::to_string),
                s.header("user-agent").map(str::to_string),
            )
        });
        let fake = FakeHttp::start();
        fake.route(
            "/@someone/live",
            vec![
                page("7140000000000000001", 2),
                page("7140000000000000001", 4),
            ],
        );
        fake.route(
            "/webcast/room/info/",
            vec![Reply::new(
                200,
                r#"{"status_code":0,"data":{"status":2,"title":"t","user_count":3}}"#,
            )],
        );
        fake.route(
            "/webcast/fetch",
            vec![signed(port, "cursor-a"), signed(port, "cursor-b")],
        );
        fake.route(
            "/webcast/room/check_alive/",
            vec![Reply::new(200, r#"{"data":[{"alive":true}]}"#)],
        );
        let record = std::env::temp_dir().join(format!("chakal-session-{}", std::process::id()));
        let mut config = fast(reader_config(&fake.base, &[]));
        config.record_dir = Some(record.clone());
        let daemon = start(config);

        let connections = push.join().unwrap();
        daemon.wait_until("the next lookup after the stream", || {
            fake.seen("/@someone/live").len() >= 2
        });
        daemon.wait_until("polling", || daemon.state() == "polling");
        let metrics = daemon.ctx.metrics.clone();
        let events = daemon.stop();

        let ids: Vec<u64> = events
            .iter()
            .filter(|e| matches!(e, Event::Control(_)))
            .map(|e| e.meta().msg_id)
            .collect();
        assert_eq!(
            ids,
            [1, 2, 3],
            "each message once, across the first batch and both connections"
        );
        let sessions: Vec<(Option<i64>, &str, u64)> = events
            .iter()
            .filter_map(|e| match e {
                Event::Session(s) => Some((s.ended_ms, s.end_reason, s.frames)),
                _ => None,
            })
            .map(|(ended, reason, frames)| (ended.map(|_| 0), reason, frames))
            .collect();
        assert_eq!(
            sessions,
            [
                (None, "open", 0),
                (Some(0), "closed", 1),
                (None, "open", 0),
                (Some(0), "stream_ended", 1)
            ]
        );
        let rooms: Vec<(&str, i32)> = events
            .iter()
            .filter_map(|e| match e {
                Event::Room(r) => Some((r.source, r.status)),
                _ => None,
            })
            .collect();
        assert_eq!(rooms, [("html", 2), ("room_info", 2), ("html", 4)]);

        // A fresh signature per connection, never a reused URL.
        assert_eq!(fake.seen("/webcast/fetch").len(), 2);
        assert!(
            connections[0].0.contains("cursor=cursor-a")
                && connections[1].0.contains("cursor=cursor-b")
        );
        for (uri, cookie, ua) in &connections {
            assert!(
                uri.contains("room_id=7140000000000000001")
                    && uri.starts_with("/webcast/im/?wrss=w1&"),
                "{uri}"
            );
            assert_eq!(cookie.as_deref(), Some("ttwid=tw1"));
            assert_eq!(ua.as_deref(), Some(crate::config::DEFAULT_USER_AGENT));
        }
        assert_eq!(
            fake.seen("/webcast/room/check_alive/").len(),
            1,
            "liveness re-checked after the drop"
        );
        assert_eq!(metrics.reconnects.get(), 1);
        assert_eq!(
            count(&metrics, "chakal_connections_total", "outcome=\"ok\""),
            2
        );
        assert_eq!(
            count(&metrics, "chakal_disconnects_total", "reason=\"closed\""),
            1
        );
        assert_eq!(
            count(
                &metrics,
                "chakal_disconnects_total",
                "reason=\"stream_ended\""
            ),
            1
        );
        assert_eq!(
            count(&metrics, "chakal_sign_requests_total", "outcome=\"ok\""),
            2
        );
        assert!(count(&metrics, "chakal_lookups_total", "outcome=\"offline\"") >= 1);

        let mut files: Vec<String> = std::fs::read_dir(&record)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        files.sort();
        assert_eq!(files.len(), 2, "{files:?}");
        assert!(files
            .iter()
            .all(|f| f.starts_with("someone_7140000000000000001_")));
        std::fs::remove_dir_all(&record).unwrap();
    }

    #[test]
    fn rate_limit_and_refused_handshake_back_off_before_signing_again() {
        let blocked = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = blocked.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for stream in blocked.incoming() {
                let mut stream = stream.unwrap();
                let mut buf = [0u8; 8192];
                let _ = std::io::Read::read(&mut stream, &mut buf);
                let _ = std::io::Write::write_all(&mut stream, b"HTTP/1.1 200 OK\r\nHandshake-Status: 415\r\nHandshake-Msg: DEVICE_BLOCKED\r\nContent-Length: 0\r\n\r\n");
            }
        });
        let fake = FakeHttp::start();
        fake.route("/@someone/live", vec![page("7140000000000000001", 2)]);
        fake.route(
            "/webcast/room/info/",
            vec![Reply::new(
                200,
                r#"{"status_code":0,"data":{"status":2,"title":"t"}}"#,
            )],
        );
        fake.route(
            "/webcast/fetch",
            vec![
                Reply::new(429, "{}").header("Retry-After", "1"),
                signed(port, "c"),
            ],
        );
        fake.route(
            "/webcast/room/check_alive/",
            vec![Reply::new(200, r#"{"data":[{"alive":true}]}"#)],
        );
        let daemon = start(fast(reader_config(&fake.base, &[])));
        daemon.wait_until("three sign requests", || {
            fake.seen("/webcast/fetch").len() >= 3
        });
        let status = daemon.ctx.status.readers()[0].clone();
        let metrics = daemon.ctx.metrics.clone();
        let events = daemon.stop();
        let signs = fake.seen("/webcast/fetch");
        assert!(
            signs[1].at - signs[0].at >= Duration::from_secs(1),
            "Retry-After honoured"
        );
        assert!(
            signs[2].at - signs[1].at >= Duration::from_millis(400),
            "refused handshake backed off"
        );
        assert_eq!(
            count(
                &metrics,
                "chakal_sign_requests_total",
                "outcome=\"rate_limited\""
            ),
            1
        );
        assert!(count(&metrics, "chakal_connections_total", "outcome=\"rejected\"") >= 1);
        assert!(
            status
                .last_error
                .as_deref()
                .unwrap_or("")
                .contains("DEVICE_BLOCKED"),
            "{status:?}"
        );
        assert!(
            !status.last_error.unwrap().contains("cursor="),
            "no signed query string in errors"
        );
        let first_batch = events
            .iter()
            .filter(|e| matches!(e, Event::Control(_)))
            .count();
        assert_eq!(
            first_batch, 1,
            "the first batch of a signature is kept once even when the socket is refused"
        );
    }

    #[test]
    fn refused_key_is_named_and_shutdown_cuts_the_long_wait() {
        let fake = FakeHttp::start();
        fake.route("/@someone/live", vec![page("7140000000000000001", 2)]);
        fake.route(
            "/webcast/room/info/",
            vec![Reply::new(
                200,
                r#"{"status_code":0,"data":{"status":2,"title":"t"}}"#,
            )],
        );
        fake.route(
            "/webcast/fetch",
            vec![Reply::new(401, r#"{"message":"invalid key"}"#)],
        );
        let mut config = fast(reader_config(&fake.base, &[]));
        config.timings.backoff_max = Duration::from_secs(3600);
        let daemon = start(config);
        daemon.wait_until("the refused sign request", || daemon.state() == "dropped");
        let status = daemon.ctx.status.readers()[0].clone();
        assert!(status
            .last_error
            .unwrap()
            .contains("SIGN_API_KEY is missing or invalid"));
        assert_eq!(status.room_id, ROOM);
        daemon.stop();
        assert_eq!(fake.seen("/webcast/fetch").len(), 1);
    }

    #[test]
    fn offline_host_is_polled_without_signing() {
        let fake = FakeHttp::start();
        fake.route("/@someone/live", vec![page("", 2)]);
        let daemon = start(fast(reader_config(&fake.base, &[])));
        daemon.wait_until("two lookups", || fake.seen("/@someone/live").len() >= 2);
        let metrics = daemon.ctx.metrics.clone();
        daemon.stop();
        assert!(
            fake.seen("/webcast/fetch").is_empty(),
            "no room id, no connection"
        );
        assert!(count(&metrics, "chakal_lookups_total", "outcome=\"offline\"") >= 2);
    }

    #[test]
    fn signing_waits_for_the_shared_budget_and_a_429_holds_it_off_for_everyone() {
        let fake = FakeHttp::start();
        fake.route("/@someone/live", vec![page("7140000000000000001", 2)]);
        fake.route(
            "/webcast/room/info/",
            vec![Reply::new(
                200,
                r#"{"status_code":0,"data":{"status":2,"title":"t"}}"#,
            )],
        );
        fake.route(
            "/webcast/fetch",
            vec![Reply::new(429, "{}").header("Retry-After", "2")],
        );
        let budget = Arc::new(SignBudget::new(60, 1, Instant::now()));
        assert_eq!(
            budget.reserve(Instant::now()),
            Duration::ZERO,
            "another host took the only token"
        );
        let started = Instant::now();
        let daemon = start_paced(
            fast(reader_config(&fake.base, &[])),
            Pacing {
                sign_budget: budget.clone(),
                first_lookup_after: Duration::from_millis(300),
            },
        );
        daemon.wait_until("waiting for a token", || daemon.state() == "waiting_sign");
        daemon.wait_until("the sign request", || {
            !fake.seen("/webcast/fetch").is_empty()
        });
        let lookup = fake.seen("/@someone/live")[0].at;
        let sign = fake.seen("/webcast/fetch")[0].at;
        assert!(
            lookup - started >= Duration::from_millis(300),
            "first lookup staggered"
        );
        assert!(
            sign - started >= Duration::from_millis(900),
            "signed only once a token came: {:?}",
            sign - started
        );
        std::thread::sleep(Duration::from_millis(100));
        let wait = budget.reserve(Instant::now());
        assert!(
            wait >= Duration::from_millis(1800),
            "Retry-After holds every reader off: {wait:?}"
        );
        let metrics = daemon.ctx.metrics.clone();
        daemon.stop();
        assert!(metrics.sign_wait_seconds.get() >= 0.5);
        let states = metrics.render();
        assert!(
            states.contains("chakal_host_state{host=\"someone\",state=\"stopped\"} 1"),
            "{states}"
        );
    }
}
