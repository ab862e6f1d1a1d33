//! Wiring and supervision: creates the channel, `Metrics`, `Status`; applies the schema; spawns
//! the named threads — readers, one writer, the health server — and stops them in one
//! direction: readers end and drop their senders → the writer drains the channel and flushes →
//! the health server stops. Returns the first fatal error.
//!
//! Must not touch: protobuf, rows, HTTP details, sockets.

use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::clickhouse::client::Client;
use crate::clickhouse::{schema, Writer, WriterConfig};
use crate::config::{Config, RawMessages};
use crate::demo::{DemoRoom, DEMO_ROOM_ID};
use crate::health::HealthServer;
use crate::metrics::Metrics;
use crate::pipe::EventSender;
use crate::replay::CaptureReader;
use crate::shutdown::Shutdown;
use crate::status::{now_ms, Status};
use crate::tiktok::handler::FrameHandler;
use crate::tiktok::session;

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
    let status = Arc::new(Status::new());
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

    let client = Client::new(&config.clickhouse, config.clickhouse_timeout);
    if config.init_schema {
        apply_schema(&client, &shutdown)?;
    }

    let (tx, rx) = crossbeam_channel::bounded(config.channel_capacity);
    let writer = Writer::new(
        client,
        WriterConfig {
            flush_interval: config.flush_interval,
            batch_max_rows: config.batch_max_rows,
            shutdown_timeout: config.shutdown_timeout,
        },
        metrics.clone(),
        status.clone(),
        shutdown.clone(),
    );
    let writer_thread = spawn("writer", &shutdown, move || writer.run(rx))?;

    let ctx = ReaderContext {
        sender: EventSender::new(tx, metrics.clone()),
        metrics: metrics.clone(),
        status,
        shutdown: shutdown.clone(),
        raw_messages: config.raw_messages,
    };
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
            for host in &config.tiktok_hosts {
                let (ctx, reader_config, host) = (ctx.clone(), config.reader.clone(), host.clone());
                readers.push(spawn(&format!("reader-{host}"), &shutdown, move || {
                    session::run(&host, &reader_config, &ctx);
                    Ok(())
                })?);
            }
        }
    }
    drop(ctx); // the readers hold the only senders now

    let mut first_error: Option<anyhow::Error> = None;
    for reader in readers {
        if let Err(e) = join(reader) {
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
                "shutdown complete events_accepted={}",
                metrics.events_total()
            );
            Ok(())
        }
    }
}

/// Applies `sql/`, retrying while ClickHouse is unreachable (it may still be starting).
fn apply_schema(client: &Client, shutdown: &Shutdown) -> anyhow::Result<()> {
    let mut backoff = Duration::from_millis(250);
    loop {
        match schema::apply(client) {
            Ok(n) => {
                log::info!(
                    "schema ready database={} migrations_applied={n}",
                    client.database()
                );
                return Ok(());
            }
            Err(e) if e.decision() == crate::clickhouse::client::Decision::Retry => {
                log::warn!(
                    "schema not applied yet, retrying in_ms={} error={e}",
                    backoff.as_millis()
                );
                if !shutdown.sleep(backoff) {
                    bail!("shut down before ClickHouse answered: {e}");
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
            Err(e) => {
                return Err(e).context(
                    "applying the schema in sql/ (set CLICKHOUSE_INIT_SCHEMA=false to skip)",
                )
            }
        }
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
