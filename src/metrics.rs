//! Every Prometheus metric of the process, registered once, and `render()` to the text format.
//!
//! Names carry the `chakal_` prefix, counters end in `_total`, and labels stay bounded: event
//! kind, table, error kind, method from a fixed list (else `other`). Never room or user ids.
//!
//! Must not touch: HTTP, the pipeline.

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
    pub lookups: IntCounterVec,
    pub sign_requests: IntCounterVec,
    pub connections: IntCounterVec,
    pub disconnects: IntCounterVec,
    pub reconnects: IntCounter,
    pub capture_errors: IntCounter,
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
            Opts::new("chakal_readers", "Readers by connection state (polling, resolving, signing, connecting, live, ended, dropped, demo, replay, stopped)"),
            &["state"],
        )
        .expect("valid");
        r.register(Box::new(readers.clone())).expect("unique");
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
                "Websocket connection attempts, by outcome (ok, rejected, http_error, timeout, tcp, tls, handshake, invalid_url)",
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
            registry: r,
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
}
