//! The writer thread: receives events from the channel, turns them into rows in per-table
//! batches, and inserts a batch when it reaches `BATCH_MAX_ROWS` or is `FLUSH_INTERVAL_MS` old.
//! One `recv_timeout`, bounded by the oldest batch's deadline, serves both new events and the
//! flush timer.
//!
//! A failed insert is classified (`client::classify`): transient failures are retried with
//! backoff, keeping the batch, so nothing is lost while ClickHouse is away (meanwhile the
//! channel fills and readers wait); rejected batches are logged at error level and counted.
//! The writer exits only when every sender is gone, so the channel is always drained; once
//! shutdown has begun, retries stop at the shutdown deadline.
//!
//! Must not touch: protobuf, sockets.

pub mod batch;
pub mod client;
pub mod row;
pub mod schema;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};

use crate::event::Event;
use crate::metrics::Metrics;
use crate::shutdown::Shutdown;
use crate::status::Status;
use batch::{Batch, Sealed};
use client::{Client, Decision};

pub struct WriterConfig {
    pub flush_interval: Duration,
    pub batch_max_rows: usize,
    pub shutdown_timeout: Duration,
}

/// The writer could not finish its job.
#[derive(Debug, thiserror::Error)]
pub enum WriterError {
    #[error("ClickHouse still failing at the shutdown deadline; {rows} rows of table `{table}` not stored: {source}")]
    ShutdownDeadline {
        table: &'static str,
        rows: usize,
        #[source]
        source: client::InsertError,
    },
}

pub struct Writer {
    client: Client,
    config: WriterConfig,
    metrics: Arc<Metrics>,
    status: Arc<Status>,
    shutdown: Shutdown,
    batches: HashMap<&'static str, Batch>,
    /// When the writer first saw the shutdown flag.
    shutdown_seen: Option<Instant>,
    summary: Summary,
}

/// Rows written since the last info-level summary line.
struct Summary {
    since: Instant,
    rows: HashMap<&'static str, usize>,
}

const SUMMARY_EVERY: Duration = Duration::from_secs(60);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

impl Writer {
    pub fn new(
        client: Client,
        config: WriterConfig,
        metrics: Arc<Metrics>,
        status: Arc<Status>,
        shutdown: Shutdown,
    ) -> Writer {
        Writer {
            client,
            config,
            metrics,
            status,
            shutdown,
            batches: HashMap::new(),
            shutdown_seen: None,
            summary: Summary {
                since: Instant::now(),
                rows: HashMap::new(),
            },
        }
    }

    /// Runs until every sender of `rx` is dropped, then flushes everything and returns.
    pub fn run(mut self, rx: Receiver<Event>) -> Result<(), WriterError> {
        loop {
            let timeout = self
                .next_deadline()
                .map_or(self.config.flush_interval, |d| {
                    d.saturating_duration_since(Instant::now())
                });
            let received = rx.recv_timeout(timeout);
            self.metrics.channel_depth.set(rx.len() as i64);
            match received {
                Ok(event) => {
                    let table = row::table_of(&event);
                    let batch = self
                        .batches
                        .entry(table)
                        .or_insert_with(|| Batch::new(table));
                    if let Err(e) = batch.push(&event) {
                        // Serialising our own row types cannot fail; if it does, it is a bug.
                        log::error!("bug: row not serialisable table={table} error={e}");
                        self.metrics.rows_rejected.with_label_values(&[table]).inc();
                    }
                    if batch.rows() >= self.config.batch_max_rows {
                        self.flush(table)?;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            self.flush_due()?;
            self.log_summary(false);
        }
        let tables: Vec<&'static str> = self.batches.keys().copied().collect();
        for table in tables {
            self.flush(table)?;
        }
        self.log_summary(true);
        Ok(())
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.batches
            .values()
            .filter_map(|b| b.deadline(self.config.flush_interval))
            .min()
    }

    fn flush_due(&mut self) -> Result<(), WriterError> {
        let now = Instant::now();
        let due: Vec<&'static str> = self
            .batches
            .values()
            .filter(|b| {
                b.deadline(self.config.flush_interval)
                    .is_some_and(|d| d <= now)
            })
            .map(|b| b.table)
            .collect();
        for table in due {
            self.flush(table)?;
        }
        Ok(())
    }

    fn flush(&mut self, table: &'static str) -> Result<(), WriterError> {
        let Some(batch) = self.batches.get_mut(table) else {
            return Ok(());
        };
        if batch.rows() == 0 {
            return Ok(());
        }
        let sealed = batch.take();
        self.insert_with_retry(sealed)
    }

    fn insert_with_retry(&mut self, sealed: Sealed) -> Result<(), WriterError> {
        let table = sealed.table;
        let mut backoff = Duration::from_millis(100);
        loop {
            let started = Instant::now();
            let result = self.client.insert(table, &sealed.body, &sealed.dedup_token);
            let elapsed = started.elapsed();
            self.metrics
                .insert_duration
                .with_label_values(&[table])
                .observe(elapsed.as_secs_f64());
            let error = match result {
                Ok(()) => {
                    self.metrics.inserts.with_label_values(&[table, "ok"]).inc();
                    self.metrics
                        .rows_written
                        .with_label_values(&[table])
                        .inc_by(sealed.rows as u64);
                    self.metrics
                        .bytes_written
                        .with_label_values(&[table])
                        .inc_by(sealed.body.len() as u64);
                    self.metrics.batch_rows.observe(sealed.rows as f64);
                    self.status.insert_succeeded();
                    *self.summary.rows.entry(table).or_default() += sealed.rows;
                    log::debug!(
                        "flushed table={table} rows={} bytes={} ms={}",
                        sealed.rows,
                        sealed.body.len(),
                        elapsed.as_millis()
                    );
                    return Ok(());
                }
                Err(e) => e,
            };
            self.metrics
                .inserts
                .with_label_values(&[table, "failed"])
                .inc();
            self.metrics
                .insert_errors
                .with_label_values(&[error.kind()])
                .inc();
            if error.decision() == Decision::Reject {
                self.metrics
                    .rows_rejected
                    .with_label_values(&[table])
                    .inc_by(sealed.rows as u64);
                log::error!(
                    "insert rejected table={table} rows={} error={error}",
                    sealed.rows
                );
                return Ok(());
            }
            self.status.insert_failed();
            if self.shutdown.is_triggered() {
                let seen = *self.shutdown_seen.get_or_insert_with(Instant::now);
                let left = self.config.shutdown_timeout.saturating_sub(seen.elapsed());
                if left.is_zero() {
                    return Err(WriterError::ShutdownDeadline {
                        table,
                        rows: sealed.rows,
                        source: error,
                    });
                }
                backoff = backoff.min(left);
            }
            log::warn!(
                "insert failed, retrying table={table} rows={} in_ms={} error={error}",
                sealed.rows,
                backoff.as_millis()
            );
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    fn log_summary(&mut self, force: bool) {
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
