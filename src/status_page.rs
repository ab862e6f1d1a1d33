//! The operator's status page: `GET /` serves one self-contained HTML page (inline CSS and JS,
//! no external assets) that polls `GET /status.json` every 2 s. This module owns the page and
//! the JSON it reads: the `/healthz` body plus event counts and rates by type, rows written,
//! error counters, the spool size and the recent errors.
//!
//! Numbers come from the Prometheus text of `Metrics::render`, so the page shows exactly what
//! `/metrics` shows. Rates are computed over a sliding window sampled by the health thread, so the
//! first view of the page already has them.
//!
//! Must not touch: the channel, sockets, ClickHouse; it only reads metrics text and `Status`.

use std::collections::{BTreeMap, VecDeque};

use crate::status::Status;

/// The page; its script fetches `/status.json`.
pub const PAGE: &str = include_str!("status_page.html");

/// Rates are averaged over at most this long.
const RATE_WINDOW_MS: i64 = 10_000;
/// One sample of the event counters at most this often.
const SAMPLE_EVERY_MS: i64 = 1_000;

/// Event totals by kind, sampled over time, for events per second.
#[derive(Default)]
pub struct EventRates {
    samples: VecDeque<(i64, BTreeMap<String, f64>)>,
}

impl EventRates {
    pub fn new() -> EventRates {
        EventRates::default()
    }

    /// Samples the event counters from `render()` (the metrics text) if a sample is due.
    pub fn observe(&mut self, now_ms: i64, render: impl FnOnce() -> String) {
        if let Some((last, _)) = self.samples.back() {
            if now_ms - last < SAMPLE_EVERY_MS {
                return;
            }
        }
        let totals = samples(&render(), "chakal_events_total", "kind")
            .into_iter()
            .collect();
        self.samples.push_back((now_ms, totals));
        while self
            .samples
            .front()
            .is_some_and(|(t, _)| now_ms - t > RATE_WINDOW_MS)
        {
            self.samples.pop_front();
        }
    }

    /// Events per second by kind over the window; empty until two samples are a second apart.
    pub fn per_second(&self) -> BTreeMap<String, f64> {
        let (Some((t0, first)), Some((t1, last))) = (self.samples.front(), self.samples.back())
        else {
            return BTreeMap::new();
        };
        let seconds = (t1 - t0) as f64 / 1000.0;
        if seconds < 1.0 {
            return BTreeMap::new();
        }
        last.iter()
            .map(|(kind, n)| {
                let before = first.get(kind).copied().unwrap_or(0.0);
                (kind.clone(), (n - before).max(0.0) / seconds)
            })
            .collect()
    }
}

/// The samples of metric `name` in Prometheus text, as (value of `label`, sample value);
/// the label value is empty for a sample without that label.
pub fn samples(text: &str, name: &str, label: &str) -> Vec<(String, f64)> {
    let needle = format!("{label}=\"");
    text.lines()
        .filter_map(|line| {
            let rest = line.strip_prefix(name)?;
            let (labels, value) = match rest.strip_prefix('{') {
                Some(r) => r.split_once("} ")?,
                None => ("", rest.strip_prefix(' ')?),
            };
            let label_value = labels
                .split_once(needle.as_str())
                .and_then(|(_, v)| v.split_once('"'))
                .map_or("", |(v, _)| v);
            Some((label_value.to_string(), value.trim().parse().ok()?))
        })
        .collect()
}

/// The sum of every sample of metric `name`, or None when the metric is not exported.
fn total(text: &str, name: &str) -> Option<f64> {
    let found = samples(text, name, "");
    (!found.is_empty()).then(|| found.iter().map(|(_, v)| v).sum())
}

fn by_label(text: &str, name: &str, label: &str) -> serde_json::Map<String, serde_json::Value> {
    samples(text, name, label)
        .into_iter()
        .map(|(k, v)| (k, serde_json::json!(v)))
        .collect()
}

/// The body of `/status.json`: `health` (the `/healthz` body) extended with what the page shows.
pub fn status_json(
    mut health: serde_json::Value,
    metrics_text: &str,
    rates: &EventRates,
    status: &Status,
    now_ms: i64,
) -> String {
    let errors: Vec<serde_json::Value> = status
        .recent_errors()
        .into_iter()
        .map(|e| {
            serde_json::json!({
                "at_ms": e.at_ms,
                "source": e.source,
                "message": e.message,
                "count": e.count,
            })
        })
        .collect();
    let extra = serde_json::json!({
        "version": env!("CARGO_PKG_VERSION"),
        "now_ms": now_ms,
        "started_ms": status.started_ms,
        "failing_since_ms": match status.failing_since_ms() { 0 => None, t => Some(t) },
        "events": by_label(metrics_text, "chakal_events_total", "kind"),
        "events_per_second": rates.per_second(),
        "rows_written": by_label(metrics_text, "chakal_rows_written_total", "table"),
        "spool_bytes": total(metrics_text, "chakal_spool_bytes"),
        // Counters with no sample yet (no label seen) are 0.
        "counters": {
            "insert_errors": total(metrics_text, "chakal_insert_errors_total").unwrap_or(0.0),
            "rows_rejected": total(metrics_text, "chakal_rows_rejected_total").unwrap_or(0.0),
            "frames_invalid": total(metrics_text, "chakal_frames_invalid_total").unwrap_or(0.0),
            "decode_errors": total(metrics_text, "chakal_decode_errors_total").unwrap_or(0.0),
            "events_dropped": total(metrics_text, "chakal_events_dropped_total").unwrap_or(0.0),
            "reconnects": total(metrics_text, "chakal_reconnects_total").unwrap_or(0.0),
        },
        "errors": errors,
    });
    if let (Some(body), serde_json::Value::Object(extra)) = (health.as_object_mut(), extra) {
        body.extend(extra);
    }
    health.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;

    #[test]
    fn samples_read_labelled_and_plain_metrics() {
        let m = Metrics::new();
        m.events_sent.with_label_values(&["chat"]).inc_by(3);
        m.events_sent.with_label_values(&["gift"]).inc();
        m.channel_depth.set(7);
        let text = m.render();
        assert_eq!(
            samples(&text, "chakal_events_total", "kind"),
            vec![("chat".to_string(), 3.0), ("gift".to_string(), 1.0)]
        );
        assert_eq!(total(&text, "chakal_channel_depth"), Some(7.0));
        // A longer name sharing the prefix is another metric.
        assert_eq!(total(&text, "chakal_channel"), None);
        assert_eq!(total(&text, "chakal_spool_bytes"), Some(0.0));
        assert_eq!(total(&text, "chakal_no_such_metric"), None);
        assert_eq!(
            total("chakal_spool_bytes 4096\n", "chakal_spool_bytes"),
            Some(4096.0)
        );
    }

    #[test]
    fn rates_cover_the_window_and_forget_older_samples() {
        let mut rates = EventRates::new();
        let text = |n: u64| format!("chakal_events_total{{kind=\"chat\"}} {n}\n");
        rates.observe(0, || text(0));
        assert!(rates.per_second().is_empty(), "one sample is no rate");
        rates.observe(500, || panic!("sampled again before a second passed"));
        rates.observe(2_000, || text(10));
        assert_eq!(rates.per_second()["chat"], 5.0);
        for s in 3..=30 {
            rates.observe(s * 1000, || text(10 + 100 * (s as u64 - 2)));
        }
        // Only the last 10 s count: 100 events per second, not the slow start.
        assert_eq!(rates.per_second()["chat"], 100.0);
    }

    #[test]
    fn status_json_carries_page_data_and_the_health_body() {
        let m = Metrics::new();
        m.events_sent.with_label_values(&["chat"]).inc_by(3);
        m.rows_written.with_label_values(&["chat"]).inc_by(3);
        let s = Status::new();
        s.push_error("writer", "insert into table `chat` failed, status 500");
        let health = serde_json::json!({"status": "ok", "readers": []});
        let body = status_json(health, &m.render(), &EventRates::new(), &s, 42);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["status"], "ok");
        assert_eq!(v["now_ms"], 42);
        assert_eq!(v["events"]["chat"], 3.0);
        assert_eq!(v["rows_written"]["chat"], 3.0);
        assert_eq!(v["spool_bytes"], 0.0);
        assert_eq!(v["errors"][0]["source"], "writer");
        assert_eq!(v["counters"]["events_dropped"], 0.0);
    }

    #[test]
    fn page_is_self_contained() {
        assert!(PAGE.starts_with("<!doctype html>"));
        assert!(PAGE.contains("/status.json"));
        for external in ["src=\"http", "href=\"http", "@import", "url(", "<link"] {
            assert!(!PAGE.contains(external), "page loads {external}…");
        }
        assert!(!PAGE.contains("innerHTML"), "values go in with textContent");
    }
}
