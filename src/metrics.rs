//! Every Prometheus metric of the process, registered once, and `render()` to the text format.
//!
//! Names carry the `chakal_` prefix, counters end in `_total`, and labels stay bounded: event
//! kind, table, error kind, method from a fixed list (else `other`). Never room or user ids.
//! The one per-host label, `chakal_host_state{host,state}`, exists only while the process
//! captures at most `HOST_LABEL_LIMIT` hosts; above that only the aggregates remain.
//!
//! Must not touch: HTTP, the pipeline.

use std::collections::BTreeMap;
use std::sync::Mutex;

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Methods that get their own label value; every other method counts as `other`.
const KNOWN_METHODS: &[&str] = &[
    "WebcastChatMessage",
    "WebcastGiftMessage",
    "WebcastLikeMessage",
    "WebcastMemberMessage",
    "WebcastSocialMessage",
    "WebcastRoomUserSeqMessage",
    "WebcastControlMessage",
    "WebcastEmoteChatMessage",
    "WebcastEnvelopeMessage",
    "WebcastRankUpdateMessage",
    "WebcastLinkMicBattle",
    "WebcastLinkMicArmies",
    "WebcastRoomMessage",
    "WebcastSubNotifyMessage",
];

/// Most hosts for which `chakal_host_state` keeps one series per host. With more, the gauge is
/// empty and `chakal_readers{state}` (by state, all hosts together) is what remains.
pub const HOST_LABEL_LIMIT: usize = 20;

/// `chakal_host_state{host,state}` = 1 for each host's current state, while the host count is
/// within `HOST_LABEL_LIMIT`; and `chakal_hosts`, the number of hosts configured.
pub struct HostStates {
    gauge: IntGaugeVec,
    hosts: IntGauge,
    inner: Mutex<HostStatesInner>,
}

struct HostStatesInner {
    states: BTreeMap<String, &'static str>,
    labelled: bool,
}

impl HostStates {
    fn inner(&self) -> std::sync::MutexGuard<'_, HostStatesInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `host` is now in `state`.
    pub fn set(&self, host: &str, state: &'static str) {
        let mut inner = self.inner();
        let old = inner.states.insert(host.to_string(), state);
        if inner.labelled && old != Some(state) {
            if let Some(old) = old {
                let _ = self.gauge.remove_label_values(&[host, old]);
            }
            self.gauge.with_label_values(&[host, state]).set(1);
        }
    }

    /// `host` is no longer captured: its series goes.
    pub fn remove(&self, host: &str) {
        let mut inner = self.inner();
        if let Some(old) = inner.states.remove(host) {
            let _ = self.gauge.remove_label_values(&[host, old]);
        }
    }

    /// The number of hosts configured: per-host series on (≤ `HOST_LABEL_LIMIT`) or off.
    pub fn set_host_count(&self, count: usize) {
        self.hosts.set(count as i64);
        let mut inner = self.inner();
        let labelled = count <= HOST_LABEL_LIMIT;
        if labelled == inner.labelled {
            return;
        }
        inner.labelled = labelled;
        self.gauge.reset();
        if labelled {
            for (host, state) in &inner.states {
                self.gauge.with_label_values(&[host.as_str(), state]).set(1);
            }
        }
    }
}

/// Label values known before anything happens, given by the modules that own them: the tables,
/// and the outcomes and error kinds each counter is labelled with.
pub struct KnownLabels {
    pub tables: &'static [&'static str],
    pub insert_errors: &'static [&'static str],
    pub frames_invalid: &'static [&'static str],
    pub lookups: &'static [&'static str],
    pub sign_requests: &'static [&'static str],
    pub connections: &'static [&'static str],
    pub disconnects: &'static [&'static str],
}

/// A method name fit for a label.
pub fn method_label(method: &str) -> &str {
    if KNOWN_METHODS.contains(&method) {
        method
    } else {
        "other"
    }
}

pub struct Metrics {
    registry: Registry,
    pub frames_received: IntCounter,
    pub frames_invalid: IntCounterVec,
    pub bytes_received: IntCounter,
    pub messages_received: IntCounterVec,
    pub messages_duplicate: IntCounter,
    pub decode_errors: IntCounterVec,
    pub raw_skipped: IntCounter,
    pub events_sent: IntCounterVec,
    pub events_dropped: IntCounter,
    pub channel_depth: IntGauge,
    pub channel_blocked_seconds: prometheus::Counter,
    pub acks_sent: IntCounter,
    pub heartbeats_sent: IntCounter,
    pub inserts: IntCounterVec,
    pub insert_errors: IntCounterVec,
    pub rows_written: IntCounterVec,
    pub bytes_written: IntCounterVec,
    pub rows_rejected: IntCounterVec,
    pub insert_duration: HistogramVec,
    pub batch_rows: Histogram,
    pub readers: IntGaugeVec,
    pub spool_bytes: IntGauge,
    pub spool_batches: IntGauge,
    pub spool_oldest_age_seconds: IntGauge,
    pub spool_full: IntGauge,
    pub spool_written: IntCounter,
    pub spool_replayed: IntCounter,
    pub spool_corrupt: IntCounter,
    pub dead_letter_rows: IntCounterVec,
    pub rows_lost: IntCounterVec,
    pub lookups: IntCounterVec,
    pub sign_requests: IntCounterVec,
    pub connections: IntCounterVec,
    pub disconnects: IntCounterVec,
    pub reconnects: IntCounter,
    pub capture_errors: IntCounter,
    pub sign_wait_seconds: prometheus::Counter,
    pub host_states: HostStates,
}

fn counter(registry: &Registry, name: &str, help: &str) -> IntCounter {
    let c = IntCounter::new(name, help).expect("valid metric");
    registry
        .register(Box::new(c.clone()))
        .expect("unique metric");
    c
}

fn counter_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
    registry
        .register(Box::new(c.clone()))
        .expect("unique metric");
    c
}

fn gauge(registry: &Registry, name: &str, help: &str) -> IntGauge {
    let g = IntGauge::new(name, help).expect("valid metric");
    registry
        .register(Box::new(g.clone()))
        .expect("unique metric");
    g
}

impl Metrics {
    pub fn new() -> Metrics {
        let r = Registry::new();
        let channel_depth = IntGauge::new(
            "chakal_channel_depth",
            "Events waiting in the reader→writer channel",
        )
        .expect("valid");
        r.register(Box::new(channel_depth.clone())).expect("unique");
        let channel_blocked_seconds = prometheus::Counter::new(
            "chakal_channel_blocked_seconds_total",
            "Seconds readers spent waiting because the channel was full",
        )
        .expect("valid");
        r.register(Box::new(channel_blocked_seconds.clone()))
            .expect("unique");
        let insert_duration = HistogramVec::new(
            HistogramOpts::new(
                "chakal_insert_duration_seconds",
                "Duration of one ClickHouse insert",
            )
            .buckets(vec![
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["table"],
        )
        .expect("valid");
        r.register(Box::new(insert_duration.clone()))
            .expect("unique");
        let batch_rows = Histogram::with_opts(
            HistogramOpts::new("chakal_batch_rows", "Rows per insert")
                .buckets(vec![1.0, 10.0, 100.0, 500.0, 1000.0, 5000.0, 20000.0]),
        )
        .expect("valid");
        r.register(Box::new(batch_rows.clone())).expect("unique");
        let readers = IntGaugeVec::new(
            Opts::new("chakal_readers", "Readers by connection state (polling, resolving, waiting_sign, signing, connecting, live, ended, dropped, demo, replay, stopped)"),
            &["state"],
        )
        .expect("valid");
        r.register(Box::new(readers.clone())).expect("unique");
        let sign_wait_seconds = prometheus::Counter::new(
            "chakal_sign_wait_seconds_total",
            "Seconds readers waited for the shared sign budget (SIGN_RATE_PER_MIN) before signing",
        )
        .expect("valid");
        r.register(Box::new(sign_wait_seconds.clone()))
            .expect("unique");
        let host_gauge = IntGaugeVec::new(
            Opts::new("chakal_host_state", "1 for each host's current reader state (polling, resolving, waiting_sign, signing, connecting, live, ended, dropped); only while the process captures at most 20 hosts"),
            &["host", "state"],
        )
        .expect("valid");
        r.register(Box::new(host_gauge.clone())).expect("unique");
        let hosts = IntGauge::new(
            "chakal_hosts",
            "TikTok hosts configured (TIKTOK_HOST and TIKTOK_HOSTS_FILE)",
        )
        .expect("valid");
        r.register(Box::new(hosts.clone())).expect("unique");
        Metrics {
            frames_received: counter(
                &r,
                "chakal_frames_received_total",
                "Websocket frames received (or generated in DEBUG_MODE)",
            ),
            frames_invalid: counter_vec(
                &r,
                "chakal_frames_invalid_total",
                "Frames that could not be decoded, skipped",
                &["kind"],
            ),
            bytes_received: counter(
                &r,
                "chakal_bytes_received_total",
                "Bytes of frames received",
            ),
            messages_received: counter_vec(
                &r,
                "chakal_messages_received_total",
                "Messages received, by method",
                &["method"],
            ),
            messages_duplicate: counter(
                &r,
                "chakal_messages_duplicate_total",
                "Messages skipped because their msg_id was already seen",
            ),
            decode_errors: counter_vec(
                &r,
                "chakal_decode_errors_total",
                "Messages that failed to decode (stored raw with the error)",
                &["method"],
            ),
            raw_skipped: counter(
                &r,
                "chakal_raw_messages_skipped_total",
                "Unknown or undecodable messages not stored because RAW_MESSAGES=off",
            ),
            events_sent: counter_vec(
                &r,
                "chakal_events_total",
                "Events handed to the writer, by kind",
                &["kind"],
            ),
            events_dropped: counter(
                &r,
                "chakal_events_dropped_total",
                "Events lost because the writer was gone (a bug or a fatal writer error)",
            ),
            channel_depth,
            channel_blocked_seconds,
            acks_sent: counter(&r, "chakal_acks_sent_total", "ACK frames sent"),
            heartbeats_sent: counter(&r, "chakal_heartbeats_sent_total", "Heartbeat frames sent"),
            inserts: counter_vec(
                &r,
                "chakal_inserts_total",
                "Insert requests, by table and result (ok, failed)",
                &["table", "result"],
            ),
            insert_errors: counter_vec(
                &r,
                "chakal_insert_errors_total",
                "Failed inserts by kind (transport, server_retry, server_reject)",
                &["kind"],
            ),
            rows_written: counter_vec(
                &r,
                "chakal_rows_written_total",
                "Rows stored in ClickHouse, by table",
                &["table"],
            ),
            bytes_written: counter_vec(
                &r,
                "chakal_bytes_written_total",
                "NDJSON bytes stored in ClickHouse, by table",
                &["table"],
            ),
            rows_rejected: counter_vec(
                &r,
                "chakal_rows_rejected_total",
                "Rows ClickHouse refused as bad data, by table",
                &["table"],
            ),
            insert_duration,
            batch_rows,
            readers,
            spool_bytes: gauge(&r, "chakal_spool_bytes", "Bytes of batches waiting in the disk spool (SPOOL_DIR)"),
            spool_batches: gauge(&r, "chakal_spool_batches", "Batches waiting in the disk spool"),
            spool_oldest_age_seconds: gauge(
                &r,
                "chakal_spool_oldest_age_seconds",
                "Age of the oldest batch in the disk spool (0 when empty)",
            ),
            spool_full: gauge(
                &r,
                "chakal_spool_full",
                "1 while the spool is at SPOOL_MAX_BYTES and ClickHouse is away: the writer stops receiving and readers wait",
            ),
            spool_written: counter(
                &r,
                "chakal_spool_batches_written_total",
                "Batches written to the disk spool because ClickHouse could not take them",
            ),
            spool_replayed: counter(
                &r,
                "chakal_spool_batches_replayed_total",
                "Spooled batches stored in ClickHouse and removed from the spool",
            ),
            spool_corrupt: counter(
                &r,
                "chakal_spool_corrupt_total",
                "Spool files found torn or corrupt, moved to SPOOL_DIR/corrupt/",
            ),
            dead_letter_rows: counter_vec(
                &r,
                "chakal_dead_letter_rows_total",
                "Rows ClickHouse refused as bad data, written to DEAD_LETTER_DIR, by table",
                &["table"],
            ),
            rows_lost: counter_vec(
                &r,
                "chakal_rows_lost_total",
                "Rows neither stored, spooled nor dead-lettered (disk failures, shutdown deadline), by table",
                &["table"],
            ),
            lookups: counter_vec(
                &r,
                "chakal_lookups_total",
                "Room lookups and live checks, by outcome (live, offline, not_found, age_restricted, blocked, http_error, transport, invalid)",
                &["outcome"],
            ),
            sign_requests: counter_vec(
                &r,
                "chakal_sign_requests_total",
                "Sign-server fetch requests, by outcome (ok, rate_limited, key_rejected, empty, too_large, malformed, incomplete, http_error, transport)",
                &["outcome"],
            ),
            connections: counter_vec(
                &r,
                "chakal_connections_total",
                "Websocket connection attempts, by outcome (ok, rejected, http_error, timeout, tcp, tls, handshake, invalid_url, resolve, proxy)",
                &["outcome"],
            ),
            disconnects: counter_vec(
                &r,
                "chakal_disconnects_total",
                "Websocket sessions ended, by reason (stream_ended, server_close, closed, error, frame_silence, msg_silence, send_failed, shutdown, writer_gone)",
                &["reason"],
            ),
            reconnects: counter(
                &r,
                "chakal_reconnects_total",
                "Reconnect attempts to a room after a drop or a failed sign/connect",
            ),
            capture_errors: counter(
                &r,
                "chakal_capture_errors_total",
                "Capture files (RECORD_DIR) that could not be created or written; recording stops for that connection",
            ),
            sign_wait_seconds,
            host_states: HostStates {
                gauge: host_gauge,
                hosts,
                inner: Mutex::new(HostStatesInner {
                    states: BTreeMap::new(),
                    labelled: true,
                }),
            },
            registry: r,
        }
    }

    /// Creates every labelled counter series whose label values are known, at 0. A series that
    /// appears only with its first increment hides that increment from `increase()` and
    /// `rate()`: an alert on the first lost row, rejected batch or refused handshake would
    /// never fire.
    pub fn init_labels(&self, known: &KnownLabels) {
        for table in known.tables {
            for counter in [
                &self.rows_written,
                &self.bytes_written,
                &self.rows_rejected,
                &self.dead_letter_rows,
                &self.rows_lost,
            ] {
                counter.with_label_values(&[table]);
            }
            for result in ["ok", "failed"] {
                self.inserts.with_label_values(&[table, result]);
            }
        }
        let methods: Vec<&str> = KNOWN_METHODS.iter().copied().chain(["other"]).collect();
        for (counter, values) in [
            (&self.insert_errors, known.insert_errors),
            (&self.frames_invalid, known.frames_invalid),
            (&self.lookups, known.lookups),
            (&self.sign_requests, known.sign_requests),
            (&self.connections, known.connections),
            (&self.disconnects, known.disconnects),
            (&self.messages_received, &methods),
            (&self.decode_errors, &methods),
        ] {
            for value in values {
                counter.with_label_values(&[value]);
            }
        }
    }

    /// Events handed to the writer so far, all kinds together except `user`: those are derived
    /// (the users dimension), so this counts one event per stored message row.
    pub fn events_total(&self) -> u64 {
        use prometheus::core::Collector;
        self.events_sent
            .collect()
            .iter()
            .flat_map(|family| family.get_metric())
            .filter(|m| !m.get_label().iter().any(|l| l.value() == "user"))
            .map(|m| m.get_counter().get_value() as u64)
            .sum()
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .expect("encoding to a Vec cannot fail");
        String::from_utf8(buf).expect("the text format is UTF-8")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The string literals in the body of the method that `signature` opens in `source`.
    fn returned_labels(source: &str, signature: &str) -> Vec<String> {
        let Some(start) = source.find(signature) else {
            return Vec::new();
        };
        let body = &source[start..];
        let body = &body[..body.find("\n    }\n").unwrap_or(body.len())];
        body.split('"')
            .skip(1)
            .step_by(2)
            .map(String::from)
            .collect()
    }

    /// Each label list that `init_labels` creates at 0 holds every value its `kind()` (or
    /// `reason()`) returns, so a new variant cannot go missing from the zero series.
    #[test]
    fn label_lists_hold_every_value_their_kind_returns() {
        use crate::clickhouse::client::InsertError;
        use crate::tiktok::{
            connect::ConnectError, frame::DecodeError, live::End, sign::SignError, web::LookupError,
        };
        let checks: [(&str, &str, &str, &[&str]); 6] = [
            (
                "client.rs",
                include_str!("clickhouse/client.rs"),
                "pub fn kind(&self)",
                InsertError::KINDS,
            ),
            (
                "frame.rs",
                include_str!("tiktok/frame.rs"),
                "pub fn kind(&self)",
                DecodeError::KINDS,
            ),
            (
                "connect.rs",
                include_str!("tiktok/connect.rs"),
                "pub fn kind(&self)",
                ConnectError::OUTCOMES,
            ),
            (
                "sign.rs",
                include_str!("tiktok/sign.rs"),
                "pub fn kind(&self)",
                SignError::OUTCOMES,
            ),
            (
                "web.rs",
                include_str!("tiktok/web.rs"),
                "pub fn kind(&self)",
                LookupError::OUTCOMES,
            ),
            (
                "live.rs",
                include_str!("tiktok/live.rs"),
                "pub fn reason(&self)",
                End::REASONS,
            ),
        ];
        for (file, source, signature, list) in checks {
            let labels = returned_labels(source, signature);
            assert!(
                !labels.is_empty(),
                "{file}: no labels found in `{signature}`"
            );
            for label in labels {
                assert!(
                    list.contains(&label.as_str()),
                    "{file}: `{label}` returned by `{signature}` is missing from its label list"
                );
            }
        }
    }

    #[test]
    fn renders_prefixed_names_and_bounded_labels() {
        let m = Metrics::new();
        m.events_sent.with_label_values(&["chat"]).inc_by(3);
        m.messages_received
            .with_label_values(&[method_label("WebcastSomethingNew")])
            .inc();
        let text = m.render();
        assert!(
            text.contains("chakal_events_total{kind=\"chat\"} 3"),
            "{text}"
        );
        assert!(
            text.contains("chakal_messages_received_total{method=\"other\"} 1"),
            "{text}"
        );
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            assert!(line.starts_with("chakal_"), "{line}");
        }
    }

    /// The first loss must show in `increase()`: its series exists, at 0, from startup.
    #[test]
    fn known_label_values_exist_at_zero_before_their_first_increment() {
        let m = Metrics::new();
        let known = KnownLabels {
            tables: &["chat", "gifts"],
            insert_errors: &["transport"],
            frames_invalid: &["gunzip"],
            lookups: &["blocked"],
            sign_requests: &["rate_limited"],
            connections: &["rejected"],
            disconnects: &["error"],
        };
        assert!(!m.render().contains("chakal_rows_lost_total"));
        m.init_labels(&known);
        let text = m.render();
        for line in [
            "chakal_rows_lost_total{table=\"gifts\"} 0",
            "chakal_rows_rejected_total{table=\"chat\"} 0",
            "chakal_dead_letter_rows_total{table=\"chat\"} 0",
            "chakal_inserts_total{result=\"failed\",table=\"gifts\"} 0",
            "chakal_insert_errors_total{kind=\"transport\"} 0",
            "chakal_frames_invalid_total{kind=\"gunzip\"} 0",
            "chakal_lookups_total{outcome=\"blocked\"} 0",
            "chakal_sign_requests_total{outcome=\"rate_limited\"} 0",
            "chakal_connections_total{outcome=\"rejected\"} 0",
            "chakal_disconnects_total{reason=\"error\"} 0",
            "chakal_decode_errors_total{method=\"other\"} 0",
        ] {
            assert!(text.contains(line), "{line} missing:\n{text}");
        }
    }

    fn host_lines(m: &Metrics) -> Vec<String> {
        m.render()
            .lines()
            .filter(|l| l.starts_with("chakal_host_state{"))
            .map(String::from)
            .collect()
    }

    #[test]
    fn host_states_are_labelled_only_for_a_few_hosts() {
        let m = Metrics::new();
        m.host_states.set_host_count(2);
        m.host_states.set("a", "polling");
        m.host_states.set("b", "polling");
        m.host_states.set("a", "live");
        assert_eq!(
            host_lines(&m),
            [
                "chakal_host_state{host=\"a\",state=\"live\"} 1",
                "chakal_host_state{host=\"b\",state=\"polling\"} 1"
            ]
        );
        m.host_states.remove("b");
        assert_eq!(host_lines(&m).len(), 1);

        m.host_states.set_host_count(HOST_LABEL_LIMIT + 1);
        m.host_states.set("c", "signing");
        assert!(host_lines(&m).is_empty(), "aggregate only above the limit");
        assert!(m
            .render()
            .contains(&format!("chakal_hosts {}", HOST_LABEL_LIMIT + 1)));

        m.host_states.set_host_count(HOST_LABEL_LIMIT);
        assert_eq!(
            host_lines(&m),
            [
                "chakal_host_state{host=\"a\",state=\"live\"} 1",
                "chakal_host_state{host=\"c\",state=\"signing\"} 1"
            ],
            "back under the limit, every current state is shown again"
        );
    }
}
