//! The health server: `GET /healthz` (JSON, 200 or 503 with reasons), `GET /metrics`
//! (Prometheus text), `GET /` (the status page) and `GET /status.json` (its data, see
//! `status_page`), 404 otherwise. Runs on its own thread with tiny_http, waking every 250 ms to
//! see the shutdown flag and to sample the event rates.
//!
//! Must not touch: the channel, sockets, ClickHouse; it reads only `Metrics`, `Status` and the flag.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::metrics::Metrics;
use crate::shutdown::Shutdown;
use crate::status::{now_ms, Status};
use crate::status_page::{self, EventRates};

/// Inserts failing for longer than this make `/healthz` answer 503.
pub const CLICKHOUSE_UNHEALTHY_AFTER_MS: i64 = 30_000;

#[derive(Debug, thiserror::Error)]
#[error("cannot listen on HTTP_ADDR {addr} (is another instance running?); choose a free port with HTTP_ADDR, and give a second instance its own SPOOL_DIR too (or its own working directory)")]
pub struct BindError {
    addr: SocketAddr,
    #[source]
    source: Box<dyn std::error::Error + Send + Sync>,
}

pub struct HealthServer {
    server: tiny_http::Server,
}

impl HealthServer {
    /// Binds now, so a taken port is a startup error rather than a dead thread.
    pub fn bind(addr: SocketAddr) -> Result<HealthServer, BindError> {
        let server = tiny_http::Server::http(addr).map_err(|source| BindError { addr, source })?;
        Ok(HealthServer { server })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.server.server_addr().to_ip()
    }

    /// Serves until `stop` is set.
    pub fn run(
        self,
        metrics: Arc<Metrics>,
        status: Arc<Status>,
        shutdown: Shutdown,
        stop: Shutdown,
    ) {
        let mut rates = EventRates::new();
        while !stop.is_triggered() {
            rates.observe(now_ms(), || metrics.render());
            let request = match self.server.recv_timeout(Duration::from_millis(250)) {
                Ok(Some(r)) => r,
                Ok(None) => continue,
                Err(e) => {
                    log::warn!("health server receive failed error={e}");
                    continue;
                }
            };
            let path = request.url().split('?').next().unwrap_or("").to_string();
            let response = match (request.method(), path.as_str()) {
                (tiny_http::Method::Get, "/healthz") => {
                    let (code, body) = healthz(&metrics, &status, &shutdown, now_ms());
                    respond(code, "application/json", body)
                }
                (tiny_http::Method::Get, "/metrics") => respond(
                    200,
                    "text/plain; version=0.0.4; charset=utf-8",
                    metrics.render(),
                ),
                (tiny_http::Method::Get, "/") => {
                    respond(200, "text/html; charset=utf-8", status_page::PAGE.into())
                }
                (tiny_http::Method::Get, "/status.json") => {
                    let now = now_ms();
                    let (_, health) = healthz_value(&metrics, &status, &shutdown, now);
                    let body =
                        status_page::status_json(health, &metrics.render(), &rates, &status, now);
                    respond(200, "application/json", body)
                }
                _ => respond(
                    404,
                    "text/plain; charset=utf-8",
                    "not found: try / (status page), /healthz, /status.json or /metrics\n".into(),
                ),
            };
            if let Err(e) = request.respond(response) {
                log::debug!("health response not sent error={e}");
            }
        }
    }
}

fn respond(
    code: u16,
    content_type: &str,
    body: String,
) -> tiny_http::Response<std::io::Cursor<Vec<u8>>> {
    let header = tiny_http::Header::from_bytes("Content-Type", content_type).expect("valid header");
    let no_store =
        tiny_http::Header::from_bytes("Cache-Control", "no-store").expect("valid header");
    tiny_http::Response::from_string(body)
        .with_status_code(code)
        .with_header(header)
        .with_header(no_store)
}

/// The status code and JSON body of `/healthz`.
pub fn healthz(metrics: &Metrics, status: &Status, shutdown: &Shutdown, now: i64) -> (u16, String) {
    let (code, body) = healthz_value(metrics, status, shutdown, now);
    (code, body.to_string())
}

/// The status code and body of `/healthz`, as JSON for `/status.json` to extend.
fn healthz_value(
    metrics: &Metrics,
    status: &Status,
    shutdown: &Shutdown,
    now: i64,
) -> (u16, serde_json::Value) {
    let mut reasons = Vec::new();
    if shutdown.is_triggered() {
        reasons.push("shutting down".to_string());
    }
    let failing = status.failing_since_ms();
    if failing > 0 && now - failing > CLICKHOUSE_UNHEALTHY_AFTER_MS {
        reasons.push(format!(
            "ClickHouse inserts failing for {} s",
            (now - failing) / 1000
        ));
    }
    let spool_batches = metrics.spool_batches.get();
    let spool_full = metrics.spool_full.get() > 0;
    if spool_full {
        reasons.push(
            "spool full (SPOOL_MAX_BYTES): the writer has stopped receiving and readers wait"
                .to_string(),
        );
    }
    let readers: Vec<serde_json::Value> = status
        .readers()
        .into_iter()
        .map(|r| {
            serde_json::json!({
                "name": r.name,
                "state": r.state,
                "room_id": r.room_id.to_string(),
                "since_ms": r.since_ms,
                "last_error": r.last_error,
            })
        })
        .collect();
    let last_insert = status.last_insert_ms();
    let body = serde_json::json!({
        "status": if reasons.is_empty() { "ok" } else { "unhealthy" },
        "reasons": reasons,
        "uptime_s": (now - status.started_ms) / 1000,
        "readers": readers,
        "last_insert_ms": if last_insert > 0 { Some(last_insert) } else { None },
        "queue_depth": metrics.channel_depth.get(),
        "spool": {
            "batches": spool_batches,
            "bytes": metrics.spool_bytes.get(),
            "oldest_age_s": metrics.spool_oldest_age_seconds.get(),
            "full": spool_full,
            "note": (spool_batches > 0).then(|| format!(
                "{spool_batches} batches wait in the spool for ClickHouse, oldest {} s",
                metrics.spool_oldest_age_seconds.get()
            )),
        },
    });
    (if reasons.is_empty() { 200 } else { 503 }, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn healthy_then_unhealthy_on_shutdown() {
        let (m, s, sd) = (Metrics::new(), Status::new(), Shutdown::new());
        s.set_reader("demo", "demo", 0, None);
        let (code, body) = healthz(&m, &s, &sd, now_ms());
        assert_eq!(code, 200, "{body}");
        assert!(body.contains("\"state\":\"demo\""), "{body}");
        sd.trigger();
        let (code, body) = healthz(&m, &s, &sd, now_ms());
        assert_eq!(code, 503);
        assert!(body.contains("shutting down"), "{body}");
    }

    #[test]
    fn unhealthy_when_clickhouse_fails_for_30_s() {
        let (m, s, sd) = (Metrics::new(), Status::new(), Shutdown::new());
        s.insert_failed();
        let now = now_ms();
        assert_eq!(healthz(&m, &s, &sd, now + 29_000).0, 200);
        let (code, body) = healthz(&m, &s, &sd, now + 31_000);
        assert_eq!(code, 503);
        assert!(
            body.contains("ClickHouse inserts failing for 31 s"),
            "{body}"
        );
        s.insert_succeeded();
        assert_eq!(healthz(&m, &s, &sd, now + 31_000).0, 200);
    }

    #[test]
    fn a_waiting_spool_is_shown_and_a_full_one_is_unhealthy() {
        let (m, s, sd) = (Metrics::new(), Status::new(), Shutdown::new());
        let (code, body) = healthz(&m, &s, &sd, now_ms());
        assert_eq!(code, 200);
        assert!(body.contains("\"spool\":{\"batches\":0"), "{body}");
        m.spool_batches.set(3);
        m.spool_oldest_age_seconds.set(42);
        let (code, body) = healthz(&m, &s, &sd, now_ms());
        assert_eq!(
            code, 200,
            "a spool being replayed is not an outage by itself"
        );
        assert!(
            body.contains("3 batches wait in the spool for ClickHouse, oldest 42 s"),
            "{body}"
        );
        m.spool_full.set(1);
        let (code, body) = healthz(&m, &s, &sd, now_ms());
        assert_eq!(code, 503);
        assert!(body.contains("spool full"), "{body}");
    }
}
