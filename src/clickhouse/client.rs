//! ClickHouse over HTTP: one ureq `Agent`, inserts of NDJSON bodies, plain statements, and the
//! classification of every failure into retry or reject.
//!
//! Every insert names the settings it relies on (`async_insert=0`,
//! `date_time_input_format=basic`, …) instead of trusting the server's defaults.
//!
//! Must not touch: TikTok types, events, batching policy.

use std::time::Duration;

use crate::config::{ClickHouseConn, Secret};

/// What to do after a failed request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Transient (network, overload, server restart): try again later; the data is kept.
    Retry,
    /// The request itself is wrong (bad data, unknown table): retrying cannot help.
    Reject,
}

/// ClickHouse exception codes that mean "try again later".
const RETRYABLE_CODES: &[u32] = &[
    3,   // UNEXPECTED_END_OF_FILE (body cut in transit)
    159, // TIMEOUT_EXCEEDED
    202, // TOO_MANY_SIMULTANEOUS_QUERIES
    203, // NO_FREE_CONNECTION
    209, // SOCKET_TIMEOUT
    210, // NETWORK_ERROR
    236, // ABORTED
    241, // MEMORY_LIMIT_EXCEEDED
    242, // TABLE_IS_READ_ONLY
    252, // TOO_MANY_PARTS
    285, // TOO_FEW_LIVE_REPLICAS
    319, // UNKNOWN_STATUS_OF_INSERT
    394, // QUERY_WAS_CANCELLED
    425, // SYSTEM_ERROR
    516, // AUTHENTICATION_FAILED: a config problem, but the rows must not be thrown away
    999, // KEEPER_EXCEPTION
];

/// The one classification table: HTTP status and ClickHouse exception code → decision.
pub fn classify(status: u16, code: Option<u32>) -> Decision {
    if let Some(code) = code {
        return if RETRYABLE_CODES.contains(&code) {
            Decision::Retry
        } else {
            Decision::Reject
        };
    }
    match status {
        408 | 429 | 500..=599 => Decision::Retry,
        _ => Decision::Reject,
    }
}

/// A failed ClickHouse request.
#[derive(Debug, thiserror::Error)]
pub enum InsertError {
    #[error("cannot reach ClickHouse at {url}: {source}")]
    Transport {
        url: String,
        #[source]
        source: ureq::Error,
    },
    #[error("ClickHouse answered status {status}{}: {body}", code.map(|c| format!(", code {c}")).unwrap_or_default())]
    Server {
        status: u16,
        code: Option<u32>,
        body: String,
    },
}

impl InsertError {
    pub fn decision(&self) -> Decision {
        match self {
            InsertError::Transport { .. } => Decision::Retry,
            InsertError::Server { status, code, .. } => classify(*status, *code),
        }
    }

    /// A short, bounded name for metrics labels.
    pub fn kind(&self) -> &'static str {
        match (self, self.decision()) {
            (InsertError::Transport { .. }, _) => "transport",
            (_, Decision::Retry) => "server_retry",
            (_, Decision::Reject) => "server_reject",
        }
    }
}

/// A ClickHouse HTTP endpoint with credentials and a database.
pub struct Client {
    agent: ureq::Agent,
    base_url: String,
    user: String,
    password: Secret<String>,
    database: String,
}

/// At most this much of an error body is kept in messages.
const ERROR_BODY_LIMIT: usize = 512;

impl Client {
    pub fn new(conn: &ClickHouseConn, timeout: Duration) -> Client {
        Client {
            agent: crate::http::agent(timeout),
            base_url: conn.base_url.clone(),
            user: conn.user.clone(),
            password: conn.password.clone(),
            database: conn.database.clone(),
        }
    }

    pub fn database(&self) -> &str {
        &self.database
    }

    /// Inserts NDJSON rows into `table`. `dedup_token` makes a retried batch land once.
    pub fn insert(&self, table: &str, ndjson: &[u8], dedup_token: &str) -> Result<(), InsertError> {
        let columns = super::row::explicit_columns(table)
            .map(|c| format!(" ({c})"))
            .unwrap_or_default();
        let query = format!(
            "INSERT INTO `{}`.`{table}`{columns} FORMAT JSONEachRow",
            self.database
        );
        let req = self
            .agent
            .post(&self.base_url)
            .query("query", &query)
            .query("async_insert", "0")
            .query("date_time_input_format", "basic")
            .query("input_format_skip_unknown_fields", "0")
            .query("insert_deduplicate", "1")
            .query("insert_deduplication_token", dedup_token);
        self.send(req, ndjson).map(drop)
    }

    /// Runs one statement in the configured database and returns the answer body.
    pub fn execute(&self, sql: &str) -> Result<String, InsertError> {
        let req = self
            .agent
            .post(&self.base_url)
            .query("database", &self.database);
        self.send(req, sql.as_bytes())
    }

    /// Runs one statement without selecting a database (to create it).
    pub fn execute_without_database(&self, sql: &str) -> Result<String, InsertError> {
        self.send(self.agent.post(&self.base_url), sql.as_bytes())
    }

    /// `SELECT 1` with the credentials: checks reachability and authentication.
    pub fn ping(&self) -> Result<(), InsertError> {
        self.execute_without_database("SELECT 1").map(drop)
    }

    fn send(
        &self,
        req: ureq::RequestBuilder<ureq::typestate::WithBody>,
        body: &[u8],
    ) -> Result<String, InsertError> {
        let transport = |source| InsertError::Transport {
            url: self.base_url.clone(),
            source,
        };
        let mut resp = req
            .header("X-ClickHouse-User", &self.user)
            .header("X-ClickHouse-Key", self.password.expose())
            .send(body)
            .map_err(transport)?;
        let status = resp.status().as_u16();
        let code = resp
            .headers()
            .get("X-ClickHouse-Exception-Code")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u32>().ok());
        let text = resp
            .body_mut()
            .with_config()
            .limit(64 * 1024 * 1024)
            .read_to_string()
            .map_err(transport)?;
        // An exception can arrive after a 200 was sent (streamed answers): that is a failure too.
        if status == 200 && code.is_none() {
            return Ok(text);
        }
        let mut body: String = text.trim().chars().take(ERROR_BODY_LIMIT).collect();
        if body.is_empty() {
            body = "(empty body)".into();
        }
        Err(InsertError::Server { status, code, body })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_table() {
        use Decision::*;
        let table: &[(u16, Option<u32>, Decision)] = &[
            (500, None, Retry),
            (502, None, Retry),
            (503, None, Retry),
            (429, None, Retry),
            (408, None, Retry),
            (400, None, Reject),
            (404, None, Reject),
            (400, Some(27), Reject), // CANNOT_PARSE_INPUT_ASSERTION_FAILED
            (400, Some(62), Reject), // SYNTAX_ERROR
            (404, Some(60), Reject), // UNKNOWN_TABLE
            (500, Some(16), Reject), // NO_SUCH_COLUMN_IN_TABLE
            (500, Some(252), Retry), // TOO_MANY_PARTS
            (500, Some(241), Retry), // MEMORY_LIMIT_EXCEEDED
            (200, Some(241), Retry), // exception after a 200
            (200, Some(27), Reject), // bad data after a 200
            (403, Some(516), Retry), // wrong password: keep the rows
            (503, Some(202), Retry), // TOO_MANY_SIMULTANEOUS_QUERIES
        ];
        for &(status, code, want) in table {
            assert_eq!(
                classify(status, code),
                want,
                "status {status} code {code:?}"
            );
        }
    }
}
