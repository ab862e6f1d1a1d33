//! The one place ureq agents are built: native-tls, a timeout on every call, HTTP error statuses
//! returned as responses (callers classify them), and a bounded response size.
//!
//! Must not touch: what is sent or how answers are read.

use std::time::Duration;

use ureq::tls::{TlsConfig, TlsProvider};

/// An agent whose every request (connect, send, answer) ends within `timeout`.
pub fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .tls_config(
            TlsConfig::builder()
                .provider(TlsProvider::NativeTls)
                .build(),
        )
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .build()
        .into()
}
