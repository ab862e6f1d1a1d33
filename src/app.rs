//! Wiring and supervision: creates the channel, `Metrics`, `Status`; applies the schema; spawns
//! the named threads — readers, one writer, the health server — and stops them in one
//! direction: readers end and drop their senders → the writer drains the channel and flushes →
//! the health server stops. Returns the first fatal error.
//!
//! Live hosts are supervised (`Supervisor`): one `reader-<host>` thread per host, each with its
//! own stop flag (a child of the process-wide one) and the shared sign budget. On SIGHUP the
//! hosts are read again (`HostSources::load`): new hosts get a reader, removed hosts' readers
//! are stopped and forgotten once they have ended, the others are left alone. A bad hosts file
//! keeps the running set.
//!
//! Must not touch: protobuf, rows, HTTP details, sockets.

use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::clickhouse::client::{Client, InsertError};
use crate::clickhouse::deadletter::DeadLetter;
use crate::clickhouse::spool::Spool;
use crate::clickhouse::{Writer, WriterConfig};
use crate::config::{Config, HostSources, RawMessages};
use crate::demo::{DemoRoom, DEMO_ROOM_ID};
use crate::health::HealthServer;
use crate::metrics::{KnownLabels, Metrics};
use crate::pipe::EventSender;
use crate::replay::CaptureReader;
use crate::shutdown::Shutdown;
use crate::status::{now_ms, Status};
use crate::tiktok::connect::ConnectError;
use crate::tiktok::frame::DecodeError;
use crate::tiktok::handler::FrameHandler;
use crate::tiktok::live::End;
use crate::tiktok::pace::{stagger, SignBudget};
use crate::tiktok::session::{self, Pacing};
use crate::tiktok::sign::SignError;
use crate::tiktok::web::LookupError;

/// What the process reads events from.
pub enum Mode {
    /// Live TikTok (or the DEBUG_MODE demo), until a signal.
    Run,
    /// These capture files, then exit.
    Replay(Vec<PathBuf>),
}

/// Everything a reader thread needs.
#[derive(Clone)]
pub struct ReaderContext {
    pub sender: EventSender,
    pub metrics: Arc<Metrics>,
    pub status: Arc<Status>,
    pub shutdown: Shutdown,
    /// `RAW_MESSAGES`: which messages readers also send whole.
    pub raw_messages: RawMessages,
}

pub fn run(config: Config, mode: Mode, shutdown: Shutdown) -> anyhow::Result<()> {
    let metrics = Arc::new(Metrics::new());
    metrics.init_labels(&known_labels());
    let status = Arc::new(Status::new());

    // First, so that a second process on the same SPOOL_DIR is told so before anything else
    // (its HTTP_ADDR may be free), and touches no file of the first one.
    let (spool, problems) = Spool::open(&config.spool_dir, config.spool_max_bytes)?;
    for problem in &problems {
        metrics.spool_corrupt.inc();
        log::error!("spooled batch skipped, its rows are not replayed: {problem}");
    }
    log::info!(
        "spool ready dir={} batches={} bytes={} max_bytes={}",
        config.spool_dir.display(),
        spool.len(),
        spool.bytes(),
        config.spool_max_bytes
    );
    let dead_letter = DeadLetter::open(&config.dead_letter_dir)?;

    let health = HealthServer::bind(config.http_addr)?;
    log::info!(
        "health server listening addr={}",
        health.local_addr().map_or("?".into(), |a| a.to_string())
    );
    let health_stop = Shutdown::new();
    let health_thread = spawn("health", &shutdown, {
        let (m, s, sd, stop) = (
            metrics.clone(),
            status.clone(),
            shutdown.clone(),
            health_stop.clone(),
        );
        move || health.run(m, s, sd, stop)
    })?;

    // The writer applies the schema before its first insert, so readers start at once even
    // when ClickHouse is down (their batches wait in the spool).
    let client = Client::new(&config.clickhouse, config.clickhouse_timeout)
        .with_cluster(config.clickhouse_cluster.clone());

    let (tx, rx) = crossbeam_channel::bounded(config.channel_capacity);
    let writer = Writer::new(
        client,
        WriterConfig {
            flush_interval: config.flush_interval,
            batch_max_rows: config.batch_max_rows,
            insert_timeout: config.clickhouse_timeout,
            init_schema: config.init_schema,
            shutdown_timeout: config.shutdown_timeout,
        },
        spool,
        dead_letter,
        metrics.clone(),
        status.clone(),
        shutdown.clone(),
    );
    let writer_thread = spawn("writer", &shutdown, move || writer.run(rx))?;

    let ctx = ReaderContext {
        sender: EventSender::rows(tx, metrics.clone()),
        metrics: metrics.clone(),
        status,
        shutdown: shutdown.clone(),
        raw_messages: config.raw_messages,
    };
    let mut first_error: Option<anyhow::Error> = None;
    let mut readers = Vec::new();
    match mode {
        Mode::Replay(files) => {
            let ctx = ctx.clone();
            readers.push(spawn("reader-replay", &shutdown, move || {
                replay(&files, &ctx)
            })?);
        }
        Mode::Run if config.debug_mode => {
            let (ctx, interval) = (ctx.clone(), config.debug_interval);
            readers.push(spawn("reader-demo", &shutdown, move || {
                demo(interval, &ctx);
                Ok(())
            })?);
        }
        Mode::Run => {
            if let Err(e) = supervise(&config, &ctx, &writer_thread) {
                first_error.get_or_insert(e);
            }
        }
    }
    drop(ctx); // the readers hold the only senders now

    for reader in readers {
        if let Err(e) = join(reader).and_then(|r| r) {
            first_error.get_or_insert(e);
        }
    }
    let deadline = Instant::now() + config.shutdown_timeout + Duration::from_secs(1);
    let writer_result = join_until(writer_thread, deadline);
    match writer_result {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            first_error.get_or_insert(anyhow::Error::new(e).context("writer"));
        }
        Err(e) => {
            first_error.get_or_insert(e);
        }
    }
    health_stop.trigger();
    if let Err(e) = join(health_thread) {
        first_error.get_or_insert(e);
    }
    match first_error {
        Some(e) => Err(e),
        None => {
            log::info!(
                "shutdown complete events_accepted={} events_dropped={} spool_batches={}",
                metrics.events_total(),
                metrics.events_dropped.get(),
                metrics.spool_batches.get()
            );
            Ok(())
        }
    }
}

/// The label values every labelled counter can take, from the modules that produce them.
fn known_labels() -> KnownLabels {
    KnownLabels {
        tables: crate::clickhouse::row::TABLES,
        insert_errors: InsertError::KINDS,
        frames_invalid: DecodeError::KINDS,
        lookups: LookupError::OUTCOMES,
        sign_requests: SignError::OUTCOMES,
        connections: ConnectError::OUTCOMES,
        disconnects: End::REASONS,
    }
}

/// Runs the live readers until the process stops, a reader ends on its own (the writer is
/// gone) or the writer thread ends; answers SIGHUP by reloading the hosts. Returns once every
/// reader has ended.
fn supervise<W>(
    config: &Config,
    ctx: &ReaderContext,
    writer: &JoinHandle<W>,
) -> anyhow::Result<()> {
    let budget = Arc::new(SignBudget::new(
        config.reader.sign_per_minute,
        config.reader.sign_burst,
        Instant::now(),
    ));
    let process = ctx.shutdown.clone();
    let start = {
        let (ctx, reader_config) = (ctx.clone(), config.reader.clone());
        move |host: &str, stop: Shutdown, first_lookup_after: Duration| {
            let ctx = ReaderContext {
                shutdown: stop,
                ..ctx.clone()
            };
            let (reader_config, host_name) = (reader_config.clone(), host.to_string());
            let pacing = Pacing {
                sign_budget: budget.clone(),
                first_lookup_after,
            };
            spawn(&format!("reader-{host}"), &process, move || {
                session::run(&host_name, &reader_config, &ctx, &pacing)
            })
        }
    };
    let mut readers = Supervisor::new(
        start,
        ctx.shutdown.clone(),
        config.reader.poll_interval,
        ctx.status.clone(),
        ctx.metrics.clone(),
    );
    if config.tiktok_hosts.is_empty() {
        log::info!(
            "no TikTok host to capture yet: add handles to TIKTOK_HOSTS_FILE and send SIGHUP"
        );
    }
    readers.want(config.tiktok_hosts.clone());
    let mut result = Ok(());
    loop {
        if let Err(e) = readers.reconcile() {
            result = Err(e);
            break;
        }
        if ctx.shutdown.is_triggered() || writer.is_finished() || readers.reader_ended() {
            break;
        }
        if ctx.shutdown.take_reload() {
            reload(&config.host_sources, &mut readers);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    match readers.stop_all() {
        Some(e) => Err(e),
        None => result,
    }
}

/// SIGHUP: the hosts of TIKTOK_HOST and TIKTOK_HOSTS_FILE again; on a bad file, no change.
fn reload(sources: &HostSources, readers: &mut Supervisor<impl StartReader>) {
    if sources.file.is_none() {
        log::info!("SIGHUP received; TIKTOK_HOSTS_FILE is not set, hosts unchanged");
        return;
    }
    match sources.load() {
        Ok(hosts) => readers.want(hosts),
        Err(e) => log::error!(
            "hosts not reloaded, keeping the {} running: {e}",
            readers.wanted.len()
        ),
    }
}

/// Spawns the reader of `host` with its stop flag, first lookup after the given delay.
trait StartReader: FnMut(&str, Shutdown, Duration) -> anyhow::Result<JoinHandle<()>> {}
impl<F: FnMut(&str, Shutdown, Duration) -> anyhow::Result<JoinHandle<()>>> StartReader for F {}

/// One reader thread and its own stop flag.
struct Hosted {
    host: String,
    stop: Shutdown,
    thread: JoinHandle<()>,
}

/// The live readers kept in step with the wanted hosts. `start(host, stop, first_lookup_after)`
/// spawns one reader.
struct Supervisor<S> {
    start: S,
    /// The process-wide flag; each reader's stop flag is a child of it.
    process: Shutdown,
    poll_interval: Duration,
    status: Arc<Status>,
    metrics: Arc<Metrics>,
    wanted: Vec<String>,
    running: Vec<Hosted>,
    /// Asked to stop, not yet ended; a host re-added meanwhile starts once its old reader ended.
    stopping: Vec<Hosted>,
}

impl<S: StartReader> Supervisor<S> {
    fn new(
        start: S,
        process: Shutdown,
        poll_interval: Duration,
        status: Arc<Status>,
        metrics: Arc<Metrics>,
    ) -> Supervisor<S> {
        Supervisor {
            start,
            process,
            poll_interval,
            status,
            metrics,
            wanted: Vec::new(),
            running: Vec::new(),
            stopping: Vec::new(),
        }
    }

    /// The hosts to run from now on; `reconcile` does the rest.
    fn want(&mut self, hosts: Vec<String>) {
        let added: Vec<&str> = hosts
            .iter()
            .filter(|h| !self.wanted.contains(h))
            .map(String::as_str)
            .collect();
        let removed: Vec<&str> = self
            .wanted
            .iter()
            .filter(|h| !hosts.contains(h))
            .map(String::as_str)
            .collect();
        if !added.is_empty() || !removed.is_empty() {
            log::info!(
                "hosts hosts={} added={} removed={}",
                hosts.len(),
                added.join(","),
                removed.join(",")
            );
        }
        self.metrics.host_states.set_host_count(hosts.len());
        self.wanted = hosts;
    }

    /// Forgets ended readers of removed hosts, stops readers of removed hosts, starts readers
    /// of new hosts (spread over one poll interval). Fails only if a thread cannot be spawned.
    fn reconcile(&mut self) -> anyhow::Result<()> {
        let (ended, still): (Vec<Hosted>, Vec<Hosted>) = self
            .stopping
            .drain(..)
            .partition(|r| r.thread.is_finished());
        self.stopping = still;
        let mut first_error = None;
        for reader in ended {
            if let Err(e) = join(reader.thread) {
                first_error.get_or_insert(e);
            }
            self.status.remove_reader(&reader.host);
            self.metrics.host_states.remove(&reader.host);
            log::info!("reader removed host={}", reader.host);
        }
        let (keep, removed): (Vec<Hosted>, Vec<Hosted>) = self
            .running
            .drain(..)
            .partition(|r| self.wanted.contains(&r.host));
        self.running = keep;
        for reader in removed {
            reader.stop.trigger();
            self.stopping.push(reader);
        }
        let new: Vec<String> = self
            .wanted
            .iter()
            .filter(|h| {
                !self.running.iter().any(|r| &r.host == *h)
                    && !self.stopping.iter().any(|r| &r.host == *h)
            })
            .cloned()
            .collect();
        for (i, host) in new.iter().enumerate() {
            let stop = self.process.child();
            let thread = (self.start)(
                host,
                stop.clone(),
                stagger(i, new.len(), self.poll_interval),
            )?;
            self.running.push(Hosted {
                host: host.clone(),
                stop,
                thread,
            });
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// A running reader ended without being asked to: its writer is gone (or it panicked).
    fn reader_ended(&self) -> bool {
        self.running.iter().any(|r| r.thread.is_finished())
    }

    /// Stops every reader and waits for them; the first panic, if any.
    fn stop_all(self) -> Option<anyhow::Error> {
        let readers: Vec<Hosted> = self.running.into_iter().chain(self.stopping).collect();
        for reader in &readers {
            reader.stop.trigger();
        }
        let mut first_error = None;
        for reader in readers {
            if let Err(e) = join(reader.thread) {
                first_error.get_or_insert(e);
            }
        }
        first_error
    }
}

/// Spawns a named thread whose panic trips the shutdown flag.
fn spawn<T: Send + 'static>(
    name: &str,
    shutdown: &Shutdown,
    f: impl FnOnce() -> T + Send + 'static,
) -> anyhow::Result<JoinHandle<T>> {
    let guard = shutdown.panic_guard();
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            let _guard = guard;
            f()
        })
        .with_context(|| format!("spawning thread {name}"))
}

fn join<T>(handle: JoinHandle<T>) -> anyhow::Result<T> {
    let name = handle.thread().name().unwrap_or("?").to_string();
    handle
        .join()
        .map_err(|_| anyhow::anyhow!("thread {name} panicked"))
}

fn join_until<T>(handle: JoinHandle<T>, deadline: Instant) -> anyhow::Result<T> {
    while !handle.is_finished() {
        if Instant::now() >= deadline {
            bail!(
                "thread {} did not finish before the shutdown deadline",
                handle.thread().name().unwrap_or("?")
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    join(handle)
}

/// DEBUG_MODE: one mock frame every `interval`, through the real handler.
fn demo(interval: Duration, ctx: &ReaderContext) {
    ctx.status.set_reader("demo", "demo", DEMO_ROOM_ID, None);
    ctx.metrics.readers.with_label_values(&["demo"]).inc();
    let mut room = DemoRoom::new(now_ms() as u64);
    let mut handler =
        FrameHandler::new(DEMO_ROOM_ID, ctx.metrics.clone()).with_raw_messages(ctx.raw_messages);
    log::info!(
        "demo room started room_id={DEMO_ROOM_ID} interval_ms={}",
        interval.as_millis()
    );
    loop {
        let frame = room.next_frame(now_ms());
        match handler.handle_frame(&frame, &ctx.sender, &mut || {}) {
            Ok(outcome) => log::debug!("demo frame messages={}", outcome.new_messages),
            Err(_) => break,
        }
        if !ctx.shutdown.sleep(interval) {
            break;
        }
    }
    ctx.metrics.readers.with_label_values(&["demo"]).dec();
    ctx.status.set_reader("demo", "stopped", DEMO_ROOM_ID, None);
}

/// `replay FILE…`: every frame of every file, then done.
fn replay(files: &[PathBuf], ctx: &ReaderContext) -> anyhow::Result<()> {
    let mut handler = FrameHandler::new(0, ctx.metrics.clone()).with_raw_messages(ctx.raw_messages);
    for path in files {
        let name = path.display().to_string();
        ctx.status.set_reader(&name, "replay", 0, None);
        let mut reader = CaptureReader::open(path)?;
        let (mut frames, mut messages) = (0usize, 0usize);
        while let Some(frame) = reader.next_frame()? {
            if ctx.shutdown.is_triggered() {
                return Ok(());
            }
            let outcome = handler.handle_frame(&frame, &ctx.sender, &mut || {})?;
            frames += 1;
            messages += outcome.new_messages;
        }
        log::info!("replayed file={name} frames={frames} messages={messages}");
        ctx.status.set_reader(&name, "stopped", 0, None);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;

    /// Fake readers: each records its start and runs until its stop flag, lingering
    /// `linger` after it (a reader finishing its current step) while counted as alive.
    struct Fakes {
        starts: Arc<Mutex<Vec<(String, Duration)>>>,
        alive: Arc<Mutex<Vec<String>>>,
        most_alive_of_one_host: Arc<AtomicUsize>,
    }

    fn supervisor(
        process: &Shutdown,
        linger: Duration,
    ) -> (Supervisor<impl StartReader>, Fakes, Arc<Status>) {
        let fakes = Fakes {
            starts: Arc::default(),
            alive: Arc::default(),
            most_alive_of_one_host: Arc::default(),
        };
        let (starts, alive, most) = (
            fakes.starts.clone(),
            fakes.alive.clone(),
            fakes.most_alive_of_one_host.clone(),
        );
        let status = Arc::new(Status::new());
        let reader_status = status.clone();
        let start = move |host: &str, stop: Shutdown, first: Duration| {
            starts.lock().unwrap().push((host.to_string(), first));
            let (alive, most, status, host) = (
                alive.clone(),
                most.clone(),
                reader_status.clone(),
                host.to_string(),
            );
            {
                let mut alive = alive.lock().unwrap();
                alive.push(host.clone());
                let n = alive.iter().filter(|h| **h == host).count();
                most.fetch_max(n, Ordering::SeqCst);
            }
            status.set_reader(&host, "polling", 0, None);
            Ok(std::thread::spawn(move || {
                while !stop.is_triggered() {
                    std::thread::sleep(Duration::from_millis(5));
                }
                std::thread::sleep(linger);
                status.set_reader(&host, "stopped", 0, None);
                let mut alive = alive.lock().unwrap();
                let i = alive.iter().position(|h| *h == host).unwrap();
                alive.remove(i);
            }))
        };
        let sup = Supervisor::new(
            start,
            process.clone(),
            Duration::from_secs(60),
            status.clone(),
            Arc::new(Metrics::new()),
        );
        (sup, fakes, status)
    }

    fn hosts(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    fn running(sup: &Supervisor<impl StartReader>) -> Vec<String> {
        sup.running.iter().map(|r| r.host.clone()).collect()
    }

    /// Reconciles until nothing is left stopping (fails after 5 s).
    fn settle(sup: &mut Supervisor<impl StartReader>) {
        let end = Instant::now() + Duration::from_secs(5);
        loop {
            sup.reconcile().unwrap();
            if sup.stopping.is_empty() {
                return;
            }
            assert!(Instant::now() < end, "readers did not stop");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn reload_starts_new_hosts_stops_removed_ones_and_leaves_the_rest_alone() {
        let process = Shutdown::new();
        let (mut sup, fakes, status) = supervisor(&process, Duration::ZERO);
        sup.want(hosts(&["a", "b", "c"]));
        settle(&mut sup);
        assert_eq!(running(&sup), ["a", "b", "c"]);
        assert_eq!(
            *fakes.starts.lock().unwrap(),
            [
                ("a".to_string(), Duration::ZERO),
                ("b".to_string(), Duration::from_secs(20)),
                ("c".to_string(), Duration::from_secs(40)),
            ],
            "first lookups spread over the poll interval"
        );
        let b_thread = sup.running[1].thread.thread().id();

        sup.want(hosts(&["b", "c", "d"]));
        settle(&mut sup);
        assert_eq!(running(&sup), ["b", "c", "d"]);
        assert_eq!(sup.running[0].thread.thread().id(), b_thread, "b untouched");
        let starts: Vec<String> = fakes
            .starts
            .lock()
            .unwrap()
            .iter()
            .map(|s| s.0.clone())
            .collect();
        assert_eq!(starts, ["a", "b", "c", "d"], "only d was started");
        assert_eq!(
            *fakes.alive.lock().unwrap(),
            ["b", "c", "d"],
            "a's reader ended"
        );
        let names: Vec<String> = status.readers().into_iter().map(|r| r.name).collect();
        assert_eq!(names, ["b", "c", "d"], "/healthz forgets a removed host");
        assert!(
            !process.is_triggered(),
            "removing a host does not stop the process"
        );
        assert!(!sup.reader_ended());

        assert!(sup.stop_all().is_none());
        assert!(fakes.alive.lock().unwrap().is_empty());
    }

    #[test]
    fn a_host_added_back_while_its_reader_stops_gets_one_reader_at_a_time() {
        let process = Shutdown::new();
        let (mut sup, fakes, _) = supervisor(&process, Duration::from_millis(300));
        sup.want(hosts(&["a"]));
        sup.reconcile().unwrap();
        sup.want(Vec::new());
        sup.reconcile().unwrap();
        sup.want(hosts(&["a"]));
        sup.reconcile().unwrap();
        assert!(
            running(&sup).is_empty(),
            "the new reader waits for the old one"
        );
        settle(&mut sup);
        sup.reconcile().unwrap();
        assert_eq!(running(&sup), ["a"]);
        assert_eq!(fakes.starts.lock().unwrap().len(), 2);
        assert_eq!(fakes.most_alive_of_one_host.load(Ordering::SeqCst), 1);
        assert!(sup.stop_all().is_none());
    }

    #[test]
    fn the_process_flag_stops_every_reader_and_a_lone_end_is_noticed() {
        let process = Shutdown::new();
        let (mut sup, fakes, _) = supervisor(&process, Duration::ZERO);
        sup.want(hosts(&["a", "b"]));
        sup.reconcile().unwrap();
        sup.running[0].stop.trigger();
        let end = Instant::now() + Duration::from_secs(5);
        while !sup.reader_ended() {
            assert!(Instant::now() < end);
            std::thread::sleep(Duration::from_millis(5));
        }
        process.trigger();
        let end = Instant::now() + Duration::from_secs(5);
        while !fakes.alive.lock().unwrap().is_empty() {
            assert!(Instant::now() < end, "b did not see the process flag");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(sup.stop_all().is_none());
    }
}
