//! The one place ureq agents are built: native-tls, a timeout on every call, HTTP error statuses
//! returned as responses (callers classify them), and a bounded response size.
//!
//! Proxies are explicit: `agent` never uses one (ureq's default would read `HTTP_PROXY` and
//! friends from the environment; ClickHouse and the health check are always reached directly),
//! and `agent_via` sends every request through the given CONNECT proxy, with no direct fallback.
//!
//! Must not touch: what is sent or how answers are read.

use std::time::Duration;

use ureq::tls::{TlsConfig, TlsProvider};
use ureq::{Proxy, ProxyProtocol};

use crate::config::TiktokProxy;

/// An agent whose every request (connect, send, answer) ends within `timeout`; no proxy.
pub fn agent(timeout: Duration) -> ureq::Agent {
    build(timeout, None)
}

/// Like `agent`, every request tunnelled through `proxy` when there is one (TikTok-side traffic).
pub fn agent_via(timeout: Duration, proxy: Option<&TiktokProxy>) -> ureq::Agent {
    build(
        timeout,
        proxy.map(|p| self::proxy(p).expect("TIKTOK_PROXY was validated by config::parse_proxy")),
    )
}

/// ureq's form of a configured proxy; config validation calls it so that `agent_via` cannot fail.
pub fn proxy(p: &TiktokProxy) -> Result<Proxy, ureq::Error> {
    let protocol = if p.tls {
        ProxyProtocol::Https
    } else {
        ProxyProtocol::Http
    };
    let host = if p.host.contains(':') {
        format!("[{}]", p.host)
    } else {
        p.host.clone()
    };
    let mut builder = Proxy::builder(protocol).host(&host).port(p.port);
    if p.has_credentials() {
        builder = builder.username(&p.user).password(p.password.expose());
    }
    builder.build()
}

fn build(timeout: Duration, proxy: Option<Proxy>) -> ureq::Agent {
    ureq::Agent::config_builder()
        .tls_config(
            TlsConfig::builder()
                .provider(TlsProvider::NativeTls)
                .build(),
        )
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .proxy(proxy)
        .build()
        .into()
}
