//! The writer thread: receives rows from the channel (events the readers have written as JSON
//! lines, `row::Row`), appends them to per-table batches, and stores a batch when it reaches
//! `BATCH_MAX_ROWS` or is `FLUSH_INTERVAL_MS` old. One `recv_timeout`, bounded by the next
//! deadline, serves new rows and the timers.
//!
//! Where a sealed batch goes:
//! - into ClickHouse, when it is answering and nothing older is waiting;
//! - else into the disk spool (`spool`), at once: a batch is spooled before it is retried,
//!   never retried in memory, so the writer keeps draining the channel while ClickHouse is away;
//! - else (spool at `SPOOL_MAX_BYTES`, or the disk failing) it is held in memory and the writer
//!   stops receiving: the channel fills and readers wait (`pipe`). Nothing is dropped.
//!
//! The backlog (spool, then held batches) is retried in order with capped backoff — the retry
//! is the probe, not one per event — in time slices that alternate with receiving, and a
//! spooled batch is removed only once stored. A spooled batch goes to the database it was
//! spooled for (a file of the spool's first format, which did not record it, to the writer's
//! own), so a restart with another `CLICKHOUSE_CONN` does not move rows between databases. A
//! batch refused as bad data is split in halves until the bad rows are alone: those go to the
//! dead-letter files (`deadletter`), the rest is stored. Every insert carries a token derived
//! from its body, so a retry after a lost answer, a replay after a crash, or the same split done
//! again stores each row once.
//!
//! The writer exits only when every sender is gone, so the channel is always drained; it then
//! stores each open batch in ClickHouse or the spool. No insert takes more than half of
//! `SHUTDOWN_TIMEOUT_MS`, so a SIGTERM that arrives mid-insert still leaves time to spool; once
//! shutdown has begun, inserts get at most half the time left and the spool is not replayed.
//! Rows are lost only when the spool is full or unwritable and ClickHouse still down at that
//! deadline (counted in `chakal_rows_lost_total`, logged at error).
//!
//! While a backlog waits, a batch is sealed at `BATCH_MAX_ROWS` or 2 s old (not
//! `FLUSH_INTERVAL_MS`): fewer, larger batches to spool and replay, so the backlog drains while
//! rows keep coming.
//!
//! A `kill -9` loses what was not yet on disk or in ClickHouse: the events in the channel
//! (≤ `CHANNEL_CAPACITY`) and the rows of the open batches (≤ `BATCH_MAX_ROWS` per table, in
//! practice the rows of the last `FLUSH_INTERVAL_MS`, or of the last 2 s while a backlog waits).
//!
//! Must not touch: protobuf, sockets.

pub mod batch;
pub mod client;
pub mod cluster;
pub mod deadletter;
#[cfg(test)]
mod fake;
pub(crate) mod json;
pub mod row;
pub mod schema;
pub mod spool;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};

use crate::metrics::Metrics;
use crate::shutdown::Shutdown;
use crate::status::{now_ms, Status};
use batch::{dedup_token, line_spans, Batch, Sealed};
use client::{Client, Decision, InsertError};
use deadletter::DeadLetter;
use row::Row;
use spool::{Spool, SpoolError, Spooled};

pub struct WriterConfig {
    pub flush_interval: Duration,
    pub batch_max_rows: usize,
    /// Longest one insert may take (`CLICKHOUSE_TIMEOUT_MS`; capped at half of `shutdown_timeout`).
    pub insert_timeout: Duration,
    pub shutdown_timeout: Duration,
    /// Apply the migrations in `sql/` before the first insert (`CLICKHOUSE_INIT_SCHEMA`).
    pub init_schema: bool,
}

/// The writer could not finish its job.
#[derive(Debug, thiserror::Error)]
pub enum WriterError {
    #[error("the spool is full or unwritable and ClickHouse still failing at the shutdown deadline; {rows} rows in {batches} batches not stored (counted in chakal_rows_lost_total); raise SPOOL_MAX_BYTES or free disk space in SPOOL_DIR")]
    ShutdownDeadline { rows: usize, batches: usize },
}

/// Why a batch is not (entirely) in ClickHouse.
#[derive(Debug)]
enum Undelivered {
    /// A transient failure: keep the batch and try again later.
    Failed(InsertError),
    /// Shutting down with too little time left to try.
    OutOfTime,
}

/// ClickHouse is failing; the backoff grows until an insert succeeds.
struct Outage {
    since: Instant,
    backoff: Duration,
}

pub struct Writer {
    client: Client,
    config: WriterConfig,
    metrics: Arc<Metrics>,
    status: Arc<Status>,
    shutdown: Shutdown,
    batches: HashMap<&'static str, Batch>,
    spool: Spool,
    dead_letter: DeadLetter,
    /// Batches neither ClickHouse nor the spool took; while any, the writer does not receive.
    held: VecDeque<Sealed>,
    /// When the backlog may be worked on next.
    backlog_due: Instant,
    outage: Option<Outage>,
    /// When the writer first saw the shutdown flag, or the channel close.
    shutdown_seen: Option<Instant>,
    /// When "spool full" was last logged (once a minute).
    stuck_logged: Option<Instant>,
    /// The migrations still have to be applied before anything is inserted.
    schema_pending: bool,
    summary: Summary,
    /// When freed memory was last handed back to the OS.
    trimmed: Instant,
}

/// Rows written since the last info-level summary line.
struct Summary {
    since: Instant,
    rows: HashMap<String, usize>,
}

const SUMMARY_EVERY: Duration = Duration::from_secs(60);
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Replaying the backlog and receiving take turns of this length while ClickHouse answers.
const BACKLOG_SLICE: Duration = Duration::from_millis(250);
/// While a backlog waits, batches are sealed at this age at the earliest (`max_age`).
const BACKLOG_FLUSH_INTERVAL: Duration = Duration::from_secs(2);
/// The longest single wait, so the shutdown flag is seen promptly.
const MAX_WAIT: Duration = Duration::from_millis(250);
/// During shutdown, an insert is not tried with less time than this.
const MIN_INSERT_BUDGET: Duration = Duration::from_millis(200);
const STUCK_LOG_EVERY: Duration = Duration::from_secs(60);
/// Events taken from the channel one after the other before the timers are looked at again.
const BURST: usize = 1000;
/// How often freed heap memory is handed back to the OS (`release_free_memory`).
const TRIM_EVERY: Duration = Duration::from_secs(1);
/// The writer's nap after a burst (it adds at most this to an event's latency).
const LINGER: Duration = Duration::from_millis(1);

impl Writer {
    /// `spool` may hold batches from an earlier run: they are replayed first.
    pub fn new(
        client: Client,
        config: WriterConfig,
        spool: Spool,
        dead_letter: DeadLetter,
        metrics: Arc<Metrics>,
        status: Arc<Status>,
        shutdown: Shutdown,
    ) -> Writer {
        let schema_pending = config.init_schema;
        Writer {
            client,
            config,
            metrics,
            status,
            shutdown,
            batches: HashMap::new(),
            spool,
            dead_letter,
            held: VecDeque::new(),
            backlog_due: Instant::now(),
            outage: None,
            shutdown_seen: None,
            stuck_logged: None,
            schema_pending,
            summary: Summary {
                since: Instant::now(),
                rows: HashMap::new(),
            },
            trimmed: Instant::now(),
        }
    }

    /// Runs until every sender of `rx` is dropped, then stores everything and returns.
    pub fn run(mut self, rx: Receiver<Row>) -> Result<(), WriterError> {
        loop {
            self.note_shutdown();
            if self.has_work() && Instant::now() >= self.backlog_due {
                self.work_backlog();
            }
            self.update_gauges(rx.len());
            if !self.held.is_empty() {
                // Backpressure: nothing more is taken until the held batches are stored.
                if self.past_deadline() {
                    return Err(self.give_up());
                }
                self.pause();
                continue;
            }
            let now = Instant::now();
            let wake = [self.next_batch_deadline(), self.backlog_deadline()]
                .into_iter()
                .flatten()
                .min()
                .map_or(MAX_WAIT, |d| d.saturating_duration_since(now).min(MAX_WAIT));
            match rx.recv_timeout(wake) {
                Ok(row) => {
                    self.accept(&row);
                    // What else is waiting is taken now: the timers and gauges are looked at
                    // once per burst, not per event (b: 0.49 → 0.53 of ClickHouse's own rate, with
                    // the two batch.rs changes).
                    let mut emptied = false;
                    for _ in 0..BURST {
                        if !self.held.is_empty() {
                            break; // backpressure: stop taking events
                        }
                        match rx.try_recv() {
                            Ok(row) => self.accept(&row),
                            Err(_) => {
                                emptied = true;
                                break;
                            }
                        }
                    }
                    // A reader sends a frame's events one by one, and each send to a writer
                    // blocked on the empty channel wakes it (a futex call in the reader). A
                    // short nap lets the rest of the frame pile up, to be taken in one burst:
                    // futex calls fell from 9.5 to 2.7 % of the reader's CPU under load, and
                    // from 19 to 5 % of the writer's. No nap while events are still waiting:
                    // after an insert the channel is full, ClickHouse idles until the next batch
                    // is full, and draining 5 000 rows cost 5 naps (5 ms) on top of 3 ms of work.
                    if emptied {
                        std::thread::sleep(LINGER);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            self.flush_due();
            self.log_summary(false);
        }
        self.finish()
    }

    /// The channel is closed: store every open batch, then whatever is held.
    fn finish(mut self) -> Result<(), WriterError> {
        self.shutdown_seen.get_or_insert_with(Instant::now);
        let tables: Vec<&'static str> = self.batches.keys().copied().collect();
        for table in tables {
            self.flush(table);
        }
        // After a natural end (replay done) the spool is drained too, while time allows.
        let drain_spool = !self.shutdown.is_triggered();
        while !self.held.is_empty() || (drain_spool && !self.spool.is_empty()) {
            if self.past_deadline() {
                if !self.held.is_empty() {
                    return Err(self.give_up());
                }
                break;
            }
            if Instant::now() >= self.backlog_due {
                self.work_backlog();
            } else {
                self.pause();
            }
        }
        self.update_gauges(0);
        self.log_summary(true);
        if !self.spool.is_empty() {
            log::info!(
                "writer stopped with batches waiting in the spool; they are replayed at the next start dir={} batches={} bytes={}",
                self.spool.dir().display(),
                self.spool.len(),
                self.spool.bytes()
            );
        }
        Ok(())
    }

    fn accept(&mut self, row: &Row) {
        let table = row.table;
        let batch = self
            .batches
            .entry(table)
            .or_insert_with(|| Batch::new(table));
        batch.push(row);
        if batch.rows() >= self.config.batch_max_rows {
            self.flush(table);
        }
    }

    fn next_batch_deadline(&self) -> Option<Instant> {
        self.batches
            .values()
            .filter_map(|b| b.deadline(self.max_age()))
            .min()
    }

    /// How old a batch may get before it is sealed: `FLUSH_INTERVAL_MS`, or while a backlog
    /// waits at least `BACKLOG_FLUSH_INTERVAL`, so fewer and larger batches go to the spool and
    /// the replay outruns them. With 200 ms and ten tables, 50 small batches a second (each
    /// fsynced into the spool, then one insert each) kept a busy machine's spool from draining.
    fn max_age(&self) -> Duration {
        if self.has_backlog() {
            self.config.flush_interval.max(BACKLOG_FLUSH_INTERVAL)
        } else {
            self.config.flush_interval
        }
    }

    fn backlog_deadline(&self) -> Option<Instant> {
        self.has_work().then_some(self.backlog_due)
    }

    /// Batches wait that are older than any new one: new batches queue behind them.
    fn has_backlog(&self) -> bool {
        !self.spool.is_empty() || !self.held.is_empty()
    }

    /// The backlog has something to try now: held batches, or (unless shutting down) the spool.
    fn has_work(&self) -> bool {
        !self.held.is_empty() || (!self.shutdown.is_triggered() && !self.spool.is_empty())
    }

    fn flush_due(&mut self) {
        let now = Instant::now();
        let due: Vec<&'static str> = self
            .batches
            .values()
            .filter(|b| b.deadline(self.max_age()).is_some_and(|d| d <= now))
            .map(|b| b.table)
            .collect();
        for table in due {
            self.flush(table);
        }
    }

    fn flush(&mut self, table: &'static str) {
        let Some(batch) = self.batches.get_mut(table) else {
            return;
        };
        if batch.rows() == 0 {
            return;
        }
        let sealed = batch.take();
        self.store(sealed);
    }

    /// A fresh batch: into ClickHouse if nothing waits before it, else to the spool.
    fn store(&mut self, batch: Sealed) {
        if !self.has_backlog() {
            match self.deliver(&batch, None) {
                Ok(()) => return,
                Err(Undelivered::Failed(e)) => self.note_failure(&e),
                Err(Undelivered::OutOfTime) => {}
            }
        }
        self.spool_batch(batch);
    }

    fn spool_batch(&mut self, batch: Sealed) {
        if !self.held.is_empty() {
            self.held.push_back(batch);
            return;
        }
        match self.spool.push(self.client.database(), &batch, now_ms()) {
            Ok(()) => {
                self.metrics.spool_written.inc();
                log::debug!(
                    "spooled table={} rows={} bytes={} spool_batches={}",
                    batch.table,
                    batch.rows,
                    batch.body.len(),
                    self.spool.len()
                );
            }
            Err(e) => {
                self.report_stuck(&e);
                self.held.push_back(batch);
            }
        }
    }

    /// Logs at error, at most once a minute, that batches wait in memory.
    fn report_stuck(&mut self, e: &SpoolError) {
        if self
            .stuck_logged
            .is_some_and(|t| t.elapsed() < STUCK_LOG_EVERY)
        {
            return;
        }
        self.stuck_logged = Some(Instant::now());
        log::error!("cannot spool a batch; holding it in memory and no longer receiving: readers wait until ClickHouse answers error={e}");
    }

    /// Works through the backlog, oldest first, for one slice or until an insert fails.
    /// Once shutdown has begun, only held batches are tried: the spool is safe as it is.
    fn work_backlog(&mut self) {
        let slice_end = Instant::now() + BACKLOG_SLICE;
        let replay_spool = !self.shutdown.is_triggered();
        while Instant::now() < slice_end {
            let (batch, database, from_spool) = if replay_spool && !self.spool.is_empty() {
                match self.spool.front() {
                    Ok(Some(Spooled { database, batch })) => (batch, database, true),
                    Ok(None) => continue,
                    Err(e) => {
                        self.metrics.spool_corrupt.inc();
                        log::error!("spooled batch skipped, its rows are not replayed: {e}");
                        continue;
                    }
                }
            } else if let Some(batch) = self.held.pop_front() {
                (batch, None, false)
            } else {
                self.end_outage();
                return;
            };
            match self.deliver(&batch, database.as_deref()) {
                Ok(()) => {
                    self.end_outage();
                    if from_spool {
                        self.metrics.spool_replayed.inc();
                        if let Err(e) = self.spool.pop_front() {
                            log::error!("{e}");
                        }
                    }
                }
                Err(failure) => {
                    if !from_spool {
                        self.held.push_front(batch);
                    }
                    match failure {
                        Undelivered::Failed(e) => self.note_failure(&e),
                        Undelivered::OutOfTime => self.backlog_due = Instant::now() + MAX_WAIT,
                    }
                    return;
                }
            }
        }
        // Slice used up: receive for a slice, then come back.
        self.backlog_due = Instant::now() + BACKLOG_SLICE;
    }

    fn note_failure(&mut self, e: &InsertError) {
        self.status.push_error("writer", &e.to_string());
        let backoff = match &mut self.outage {
            None => {
                log::warn!(
                    "ClickHouse cannot take inserts; spooling batches to {} and retrying in_ms={} error={e}",
                    self.spool.dir().display(),
                    FIRST_BACKOFF.as_millis()
                );
                self.outage = Some(Outage {
                    since: Instant::now(),
                    backoff: FIRST_BACKOFF,
                });
                FIRST_BACKOFF
            }
            Some(outage) => {
                outage.backoff = (outage.backoff * 2).min(MAX_BACKOFF);
                log::warn!(
                    "ClickHouse still failing, retrying in_ms={} spool_batches={} error={e}",
                    outage.backoff.as_millis(),
                    self.spool.len()
                );
                outage.backoff
            }
        };
        self.backlog_due = Instant::now() + backoff;
    }

    fn end_outage(&mut self) {
        if let Some(outage) = self.outage.take() {
            log::info!(
                "ClickHouse answers again after s={}; replaying spool_batches={}",
                outage.since.elapsed().as_secs(),
                self.spool.len()
            );
        }
    }

    /// Applies the migrations once, before the first insert. Until ClickHouse takes them, every
    /// batch counts as undelivered, so it goes to the spool: readers capture from the start
    /// even when ClickHouse is down then.
    fn ensure_schema(&mut self) -> Result<(), Undelivered> {
        if !self.schema_pending {
            return Ok(());
        }
        match schema::apply(&self.client) {
            Ok(n) => {
                self.schema_pending = false;
                log::info!(
                    "schema ready database={} migrations_applied={n}",
                    self.client.database()
                );
                Ok(())
            }
            Err(e) => {
                if e.decision() != Decision::Retry {
                    log::error!(
                        "schema in sql/ not applied; batches wait in the spool (fix ClickHouse or set CLICKHOUSE_INIT_SCHEMA=false) error={e}"
                    );
                }
                Err(Undelivered::Failed(e))
            }
        }
    }

    /// Stores a batch into `database` (`None`: the writer's own), splitting it to isolate rows
    /// refused as bad data. `Err` only when ClickHouse failed transiently (part of the batch may
    /// be stored: a retry of the whole batch splits it the same way and the stored parts are
    /// dropped by their tokens). The schema is applied to the writer's own database only: a
    /// batch spooled for another one finds its tables there or is refused into the dead-letter
    /// file.
    fn deliver(&mut self, batch: &Sealed, database: Option<&str>) -> Result<(), Undelivered> {
        let table = batch.table.as_str();
        if let Err(failure) = self.ensure_schema() {
            // The batch is not stored, as when its insert fails: counted and seen by /healthz
            // (a ClickHouse unreachable or refusing the credentials from the start is no
            // healthier than one lost later).
            if let Undelivered::Failed(e) = &failure {
                self.count_failed_insert(table, e);
                // Whatever the error's class: no batch can be stored until the schema is.
                self.status.insert_failed();
            }
            return Err(failure);
        }
        let error = match self.insert(database, table, &batch.body, &batch.dedup_token, batch.rows)
        {
            Ok(()) => return Ok(()),
            Err(Undelivered::Failed(e)) => e,
            Err(other) => return Err(other),
        };
        let spans = line_spans(&batch.body);
        match error.decision() {
            Decision::Retry => return Err(Undelivered::Failed(error)),
            Decision::RejectRows if spans.len() > 1 => {}
            Decision::RejectRows | Decision::Reject => {
                let rows = spans.iter().map(|s| &batch.body[s.clone()]);
                self.dead_letter(database, table, &error, rows);
                return Ok(());
            }
        }
        log::warn!(
            "insert refused as bad data; splitting to find the bad rows table={table} rows={} error={error}",
            spans.len()
        );
        let mid = spans.len() / 2;
        let mut stack = vec![(mid, spans.len()), (0, mid)];
        while let Some((from, to)) = stack.pop() {
            let body = &batch.body[spans[from].start..spans[to - 1].end];
            let token = dedup_token(table, body);
            let error = match self.insert(database, table, body, &token, to - from) {
                Ok(()) => continue,
                Err(Undelivered::Failed(e)) => e,
                Err(other) => return Err(other),
            };
            match error.decision() {
                Decision::Retry => return Err(Undelivered::Failed(error)),
                Decision::RejectRows if to - from > 1 => {
                    let mid = (from + to) / 2;
                    stack.push((mid, to));
                    stack.push((from, mid));
                }
                Decision::RejectRows | Decision::Reject => self.dead_letter(
                    database,
                    table,
                    &error,
                    spans[from..to].iter().map(|s| &batch.body[s.clone()]),
                ),
            }
        }
        Ok(())
    }

    fn dead_letter<'a>(
        &mut self,
        database: Option<&str>,
        table: &str,
        error: &InsertError,
        rows: impl ExactSizeIterator<Item = &'a [u8]>,
    ) {
        let database = database.unwrap_or(self.client.database());
        let n = rows.len() as u64;
        self.metrics
            .rows_rejected
            .with_label_values(&[table])
            .inc_by(n);
        match self
            .dead_letter
            .write(database, table, &error.to_string(), rows)
        {
            Ok(path) => {
                self.metrics
                    .dead_letter_rows
                    .with_label_values(&[table])
                    .inc_by(n);
                log::error!(
                    "rows refused by ClickHouse, written to the dead-letter file database={database} table={table} rows={n} file={} error={error}",
                    path.display()
                );
                self.status.push_error(
                    "writer",
                    &format!(
                        "{n} rows of table `{table}` refused, see the dead-letter file: {error}"
                    ),
                );
            }
            Err(e) => {
                self.metrics.rows_lost.with_label_values(&[table]).inc_by(n);
                log::error!(
                    "rows refused by ClickHouse are lost table={table} rows={n} error={error}; {e}"
                );
                self.status.push_error(
                    "writer",
                    &format!("{n} rows of table `{table}` lost: {error}; {e}"),
                );
            }
        }
    }

    /// How long an insert may take now. Never more than half of `SHUTDOWN_TIMEOUT_MS`, so a
    /// SIGTERM arriving mid-insert still leaves time to spool; during shutdown at most half the
    /// time left (the other half is for the spool); `None` when too little is left.
    fn insert_budget(&self) -> Option<Duration> {
        let Some(seen) = self.shutdown_seen else {
            return Some(
                self.config
                    .insert_timeout
                    .min(self.config.shutdown_timeout / 2),
            );
        };
        let left = (seen + self.config.shutdown_timeout).saturating_duration_since(Instant::now());
        let budget = (left / 2).min(self.config.insert_timeout);
        (budget >= MIN_INSERT_BUDGET).then_some(budget)
    }

    /// One insert request into `database` (`None`: the writer's own), with its metrics.
    fn insert(
        &mut self,
        database: Option<&str>,
        table: &str,
        body: &[u8],
        token: &str,
        rows: usize,
    ) -> Result<(), Undelivered> {
        self.note_shutdown();
        let timeout = self.insert_budget().ok_or(Undelivered::OutOfTime)?;
        let started = Instant::now();
        let database = database.unwrap_or(self.client.database());
        let result = self
            .client
            .insert_into(database, table, body, token, timeout);
        let elapsed = started.elapsed();
        if self.shutdown_seen.is_none() && self.shutdown.is_triggered() {
            // The signal came during the insert: count the deadline from its start, the
            // earliest it can have been, so the writer never outlives the app's deadline.
            self.shutdown_seen = Some(started);
        }
        self.metrics
            .insert_duration
            .with_label_values(&[table])
            .observe(elapsed.as_secs_f64());
        match result {
            Ok(()) => {
                self.metrics.inserts.with_label_values(&[table, "ok"]).inc();
                self.metrics
                    .rows_written
                    .with_label_values(&[table])
                    .inc_by(rows as u64);
                self.metrics
                    .bytes_written
                    .with_label_values(&[table])
                    .inc_by(body.len() as u64);
                self.metrics.batch_rows.observe(rows as f64);
                self.status.insert_succeeded();
                *self.summary.rows.entry(table.to_string()).or_default() += rows;
                log::debug!(
                    "flushed database={database} table={table} rows={rows} bytes={} ms={}",
                    body.len(),
                    elapsed.as_millis()
                );
                Ok(())
            }
            Err(e) => {
                self.count_failed_insert(table, &e);
                if e.decision() == Decision::Retry {
                    self.status.insert_failed();
                }
                log::debug!("insert failed table={table} rows={rows} error={e}");
                Err(Undelivered::Failed(e))
            }
        }
    }

    fn count_failed_insert(&self, table: &str, e: &InsertError) {
        self.metrics
            .inserts
            .with_label_values(&[table, "failed"])
            .inc();
        self.metrics
            .insert_errors
            .with_label_values(&[e.kind()])
            .inc();
    }

    fn note_shutdown(&mut self) {
        if self.shutdown_seen.is_none() && self.shutdown.is_triggered() {
            self.shutdown_seen = Some(Instant::now());
        }
    }

    fn past_deadline(&self) -> bool {
        self.shutdown_seen
            .is_some_and(|seen| seen.elapsed() >= self.config.shutdown_timeout)
    }

    /// The held batches cannot be stored in time: count and report them as lost.
    fn give_up(&mut self) -> WriterError {
        let (mut rows, batches) = (0, self.held.len());
        for batch in self.held.drain(..) {
            rows += batch.rows;
            self.metrics
                .rows_lost
                .with_label_values(&[&batch.table])
                .inc_by(batch.rows as u64);
        }
        self.update_gauges(0);
        WriterError::ShutdownDeadline { rows, batches }
    }

    /// Sleeps until the backlog is due, at most `MAX_WAIT`.
    fn pause(&self) {
        let wait = self
            .backlog_due
            .saturating_duration_since(Instant::now())
            .min(MAX_WAIT);
        std::thread::sleep(wait);
    }

    fn update_gauges(&self, channel_depth: usize) {
        let m = &self.metrics;
        m.channel_depth.set(channel_depth as i64);
        m.spool_bytes.set(self.spool.bytes() as i64);
        m.spool_batches.set(self.spool.len() as i64);
        m.spool_oldest_age_seconds.set(
            self.spool
                .oldest_created_ms()
                .map_or(0, |t| (now_ms() - t).max(0) / 1000),
        );
        m.spool_full.set(i64::from(!self.held.is_empty()));
    }

    fn log_summary(&mut self, force: bool) {
        if self.trimmed.elapsed() >= TRIM_EVERY {
            release_free_memory();
            self.trimmed = Instant::now();
        }
        if !force && self.summary.since.elapsed() < SUMMARY_EVERY {
            return;
        }
        if !self.summary.rows.is_empty() {
            let mut parts: Vec<String> = self
                .summary
                .rows
                .iter()
                .map(|(t, n)| format!("{t}={n}"))
                .collect();
            parts.sort();
            log::info!(
                "rows written in the last {} s: {}",
                self.summary.since.elapsed().as_secs(),
                parts.join(" ")
            );
        }
        self.summary = Summary {
            since: Instant::now(),
            rows: HashMap::new(),
        };
    }
}

/// Hands the free pages of the heap back to the OS. Readers allocate each row's line and the
/// writer frees it, so glibc's heaps fill with free pages between live blocks that it
/// keeps resident; `malloc_trim` releases them (steady RSS at 10 000 events/s: 24 → 20 MB).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn release_free_memory() {
    extern "C" {
        fn malloc_trim(pad: usize) -> std::os::raw::c_int;
    }
    // SAFETY: glibc's malloc_trim takes no pointer and only walks the allocator's own lists;
    // it is thread-safe (it locks each arena).
    unsafe {
        malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_free_memory() {}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Mutex;

    use super::fake::{FakeClickHouse, Response, TempDir};
    use super::*;
    use crate::config::{ClickHouseConn, Secret};
    use crate::event::{Control, ControlAction, Event, Meta};

    fn event(msg_id: u64) -> Event {
        Event::Control(Control {
            meta: Meta {
                room_id: 1,
                msg_id,
                time_ms: 1_717_000_000_000,
            },
            action: ControlAction::Paused,
        })
    }

    /// A fake whose inserts fail with 503 while `down`, refuse bodies containing `POISON` as
    /// bad data, and otherwise store the body's lines in `stored`.
    struct Fake {
        server: FakeClickHouse,
        down: Arc<AtomicBool>,
        stored: Arc<Mutex<Vec<String>>>,
    }

    fn fake() -> Fake {
        let down = Arc::new(AtomicBool::new(false));
        let stored = Arc::new(Mutex::new(Vec::new()));
        let server = FakeClickHouse::start({
            let (down, stored) = (down.clone(), stored.clone());
            move |req| {
                if down.load(Ordering::SeqCst) {
                    return Response {
                        status: 503,
                        headers: Vec::new(),
                        body: "down for maintenance".into(),
                    };
                }
                let body = String::from_utf8_lossy(&req.body).into_owned();
                if body.contains("POISON") {
                    return Response::exception(400, 27, "Cannot parse input");
                }
                stored
                    .lock()
                    .unwrap()
                    .extend(body.lines().map(str::to_string));
                Response::ok()
            }
        });
        Fake {
            server,
            down,
            stored,
        }
    }

    struct Harness {
        metrics: Arc<Metrics>,
        shutdown: Shutdown,
        spool_dir: TempDir,
        dead_dir: TempDir,
    }

    fn harness(name: &str) -> Harness {
        Harness {
            metrics: Arc::new(Metrics::new()),
            shutdown: Shutdown::new(),
            spool_dir: TempDir::new(&format!("{name}-spool")),
            dead_dir: TempDir::new(&format!("{name}-dead")),
        }
    }

    impl Harness {
        fn writer(&self, url: &str, spool_max: u64) -> Writer {
            let conn = ClickHouseConn {
                base_url: url.into(),
                user: "default".into(),
                password: Secret::new(String::new()),
                database: "chakal".into(),
            };
            let (spool, problems) = Spool::open(&self.spool_dir.0, spool_max).unwrap();
            assert!(problems.is_empty());
            Writer::new(
                Client::new(&conn, Duration::from_secs(2)),
                WriterConfig {
                    flush_interval: Duration::from_millis(20),
                    batch_max_rows: 5,
                    insert_timeout: Duration::from_secs(2),
                    shutdown_timeout: Duration::from_secs(2),
                    init_schema: false,
                },
                spool,
                DeadLetter::open(&self.dead_dir.0).unwrap(),
                self.metrics.clone(),
                Arc::new(Status::new()),
                self.shutdown.clone(),
            )
        }
    }

    fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
        let end = Instant::now() + Duration::from_secs(10);
        while !done() {
            assert!(Instant::now() < end, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn msg_ids(lines: &[String]) -> Vec<u64> {
        lines
            .iter()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                v["msg_id"].as_u64().unwrap()
            })
            .collect()
    }

    #[test]
    fn an_outage_goes_to_the_spool_without_stalling_and_is_replayed_in_order() {
        let (fake, h) = (fake(), harness("outage"));
        fake.down.store(true, Ordering::SeqCst);
        let (tx, rx) = crossbeam_channel::bounded(4);
        let writer = h.writer(&fake.server.url, 1 << 20);
        let thread = std::thread::spawn(move || writer.run(rx));
        // The channel holds 4: sending 60 only works if the writer keeps draining into the spool.
        for id in 1..=60 {
            tx.send_timeout(Row::of(&event(id)), Duration::from_secs(5))
                .expect("the writer keeps receiving during an outage");
        }
        wait_for("12 spooled batches", || h.metrics.spool_written.get() >= 12);
        assert!(h.metrics.spool_batches.get() >= 1);
        fake.down.store(false, Ordering::SeqCst);
        wait_for("the spool to drain", || {
            fake.stored.lock().unwrap().len() >= 60 && h.metrics.spool_batches.get() == 0
        });
        drop(tx);
        thread.join().unwrap().unwrap();
        let stored = fake.stored.lock().unwrap().clone();
        assert_eq!(
            msg_ids(&stored),
            (1..=60).collect::<Vec<_>>(),
            "in order, once"
        );
        let left: Vec<_> = std::fs::read_dir(&h.spool_dir.0)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, [spool::LOCK_FILE], "no batch file left");
    }

    #[test]
    fn a_bad_row_is_split_out_to_the_dead_letter_file_and_the_rest_stored() {
        let (fake, h) = (fake(), harness("split"));
        let mut body = String::new();
        for id in 1..=11u64 {
            if id == 7 {
                body.push_str("{\"msg_id\":7,\"note\":\"POISON\"}\n");
            } else {
                body.push_str(&format!("{{\"msg_id\":{id}}}\n"));
            }
        }
        let (mut spool, _) = Spool::open(&h.spool_dir.0, 1 << 20).unwrap();
        spool
            .push(
                "chakal",
                &Sealed::from_ndjson("control", body.into_bytes()),
                0,
            )
            .unwrap();
        drop(spool);
        let (tx, rx) = crossbeam_channel::bounded::<Row>(1);
        drop(tx);
        h.writer(&fake.server.url, 1 << 20).run(rx).unwrap();
        let mut ids = msg_ids(&fake.stored.lock().unwrap());
        ids.sort();
        assert_eq!(ids, vec![1, 2, 3, 4, 5, 6, 8, 9, 10, 11]);
        assert_eq!(
            h.metrics
                .dead_letter_rows
                .with_label_values(&["control"])
                .get(),
            1
        );
        let file = std::fs::read_dir(&h.dead_dir.0)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let text = std::fs::read_to_string(file).unwrap();
        let line: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(line["database"], "chakal");
        assert_eq!(line["table"], "control");
        assert_eq!(line["row"], "{\"msg_id\":7,\"note\":\"POISON\"}");
        assert!(
            line["error"].as_str().unwrap().contains("code 27"),
            "{line}"
        );
        assert_eq!(h.metrics.spool_batches.get(), 0);
    }

    /// While batches wait in the spool, fresh ones are sealed at 2 s, not at FLUSH_INTERVAL_MS.
    #[test]
    fn a_backlog_makes_fresh_batches_larger() {
        let (fake, h) = (fake(), harness("backlog-age"));
        let mut writer = h.writer(&fake.server.url, 1 << 20);
        assert_eq!(writer.max_age(), Duration::from_millis(20));
        writer
            .spool
            .push(
                "chakal",
                &Sealed::from_ndjson("control", b"{}\n".to_vec()),
                0,
            )
            .unwrap();
        assert_eq!(writer.max_age(), BACKLOG_FLUSH_INTERVAL);
        writer.spool.pop_front().unwrap();
        assert_eq!(writer.max_age(), Duration::from_millis(20));
    }

    /// A ClickHouse that fails from the start (wrong password, wrong host) fails the schema
    /// step, not an insert: it must count and show as failing inserts all the same.
    #[test]
    fn clickhouse_failing_from_the_start_counts_and_shows_as_failing_inserts() {
        let (fake, h) = (fake(), harness("schema-down"));
        fake.down.store(true, Ordering::SeqCst);
        let mut writer = h.writer(&fake.server.url, 1 << 20);
        writer.schema_pending = true;
        let status = writer.status.clone();
        let (tx, rx) = crossbeam_channel::bounded(10);
        for id in 1..=5 {
            tx.send(Row::of(&event(id))).unwrap(); // five make a full batch
        }
        drop(tx);
        writer.run(rx).unwrap();
        assert!(status.failing_since_ms() > 0, "/healthz would say ok");
        assert!(
            h.metrics
                .inserts
                .with_label_values(&["control", "failed"])
                .get()
                >= 1
        );
        assert!(
            h.metrics
                .insert_errors
                .with_label_values(&["server_retry"])
                .get()
                >= 1
        );
        assert!(fake.stored.lock().unwrap().is_empty());
        assert_eq!(
            h.metrics.spool_batches.get(),
            1,
            "the batch waits in the spool"
        );
    }

    #[test]
    fn a_full_spool_stops_the_writer_receiving_until_clickhouse_answers() {
        let (fake, h) = (fake(), harness("full"));
        fake.down.store(true, Ordering::SeqCst);
        let (tx, rx) = crossbeam_channel::bounded(2);
        // Room for about two batches of five rows.
        let writer = h.writer(&fake.server.url, 300);
        let thread = std::thread::spawn(move || writer.run(rx));
        let mut sent = 0u64;
        while sent < 100 {
            match tx.send_timeout(Row::of(&event(sent + 1)), Duration::from_millis(500)) {
                Ok(()) => sent += 1,
                Err(_) => break, // backpressure reached the sender
            }
        }
        assert!(sent < 100, "the writer should have stopped receiving");
        assert_eq!(h.metrics.spool_full.get(), 1);
        fake.down.store(false, Ordering::SeqCst);
        for id in sent + 1..=100 {
            tx.send_timeout(Row::of(&event(id)), Duration::from_secs(10))
                .unwrap();
        }
        drop(tx);
        thread.join().unwrap().unwrap();
        let mut ids = msg_ids(&fake.stored.lock().unwrap());
        ids.sort();
        assert_eq!(ids, (1..=100).collect::<Vec<_>>());
        assert_eq!(h.metrics.spool_full.get(), 0);
    }

    #[test]
    fn sigterm_during_a_hung_insert_still_spools_everything_in_time() {
        let hang = Arc::new(AtomicBool::new(true));
        let server = FakeClickHouse::start({
            let hang = hang.clone();
            move |_| {
                let end = Instant::now() + Duration::from_secs(20);
                while hang.load(Ordering::SeqCst) && Instant::now() < end {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Response::ok()
            }
        });
        let h = harness("hung");
        let (tx, rx) = crossbeam_channel::bounded(100);
        for id in 1..=7 {
            tx.send(Row::of(&event(id))).unwrap(); // five make a full batch: its insert hangs
        }
        let mut writer = h.writer(&server.url, 1 << 20);
        writer.config.insert_timeout = Duration::from_secs(30);
        let started = Instant::now();
        let thread = std::thread::spawn(move || writer.run(rx));
        std::thread::sleep(Duration::from_millis(300));
        h.shutdown.trigger();
        drop(tx);
        thread.join().unwrap().unwrap();
        let took = started.elapsed();
        hang.store(false, Ordering::SeqCst);
        // shutdown_timeout is 2 s: the hung insert gets at most 1 s, the rest goes to the spool.
        assert!(took < Duration::from_millis(2500), "took {took:?}");
        let (mut spool, _) = Spool::open(&h.spool_dir.0, 1 << 20).unwrap();
        let mut rows = 0;
        while let Some(spooled) = spool.front().unwrap() {
            rows += spooled.batch.rows;
            spool.pop_front().unwrap();
        }
        assert_eq!(rows, 7);
    }

    #[test]
    fn shutdown_with_clickhouse_down_spools_everything_in_time() {
        let (fake, h) = (fake(), harness("shutdown"));
        fake.down.store(true, Ordering::SeqCst);
        let (tx, rx) = crossbeam_channel::bounded(100);
        for id in 1..=23 {
            tx.send(Row::of(&event(id))).unwrap();
        }
        drop(tx);
        h.shutdown.trigger();
        let started = Instant::now();
        h.writer(&fake.server.url, 1 << 20).run(rx).unwrap();
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(fake.stored.lock().unwrap().is_empty());

        // The next start replays them.
        fake.down.store(false, Ordering::SeqCst);
        let h2 = Harness {
            shutdown: Shutdown::new(),
            ..h
        };
        let (tx, rx) = crossbeam_channel::bounded::<Row>(1);
        drop(tx);
        h2.writer(&fake.server.url, 1 << 20).run(rx).unwrap();
        let mut ids = msg_ids(&fake.stored.lock().unwrap());
        ids.sort();
        assert_eq!(ids, (1..=23).collect::<Vec<_>>());
    }

    /// Issue "spooled batches go to whatever database the next process connects to": a spool
    /// file did not record its database, so a restart with another one moved the rows there.
    #[test]
    fn a_spooled_batch_is_replayed_into_the_database_it_was_spooled_for() {
        let (server, h) = (FakeClickHouse::start(|_| Response::ok()), harness("per-db"));
        std::fs::create_dir_all(&h.spool_dir.0).unwrap();
        // Left by a version that did not record the database: it goes to the writer's own.
        std::fs::write(
            h.spool_dir.0.join(format!("{:020}.batch", 0)),
            spool::V1_FILE,
        )
        .unwrap();
        let earlier = Sealed::from_ndjson("control", b"{\"msg_id\":1}\n".to_vec());
        let (mut spool, _) = Spool::open(&h.spool_dir.0, 1 << 20).unwrap();
        spool.push("earlier_db", &earlier, 0).unwrap();
        drop(spool);
        let (tx, rx) = crossbeam_channel::bounded(4);
        tx.send(Row::of(&event(2))).unwrap();
        drop(tx);
        h.writer(&server.url, 1 << 20).run(rx).unwrap();

        let inserts = server.inserts();
        let sent: Vec<(String, String)> = inserts
            .iter()
            .map(|r| {
                let param = |k| r.param(k).unwrap_or_default();
                (param("query"), param("insert_deduplication_token"))
            })
            .collect();
        assert_eq!(
            sent,
            [
                (
                    "INSERT INTO `chakal`.`chat` FORMAT JSONEachRow".to_string(),
                    "chat-874e691e196395d8a547c237ca774d3e-26".to_string()
                ),
                (
                    "INSERT INTO `earlier_db`.`control` FORMAT JSONEachRow".to_string(),
                    earlier.dedup_token.clone()
                ),
                (
                    "INSERT INTO `chakal`.`control` FORMAT JSONEachRow".to_string(),
                    sent[2].1.clone()
                ),
            ],
            "each batch with its own token, into its own database"
        );
        assert_eq!(h.metrics.spool_batches.get(), 0);
    }
}
