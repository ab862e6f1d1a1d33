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
    /// Some rows are bad data (unparsable, out of range): retrying the same body cannot help,
    /// but the batch can be split to find them and store the others.
    RejectRows,
    /// The request itself is wrong (unknown table or column, no permission): retrying cannot
    /// help and no row of the batch would be taken.
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

/// ClickHouse exception codes that blame the data of some rows, not the request.
const BAD_DATA_CODES: &[u32] = &[
    6,   // CANNOT_PARSE_TEXT
    25,  // CANNOT_PARSE_ESCAPE_SEQUENCE
    26,  // CANNOT_PARSE_QUOTED_STRING
    27,  // CANNOT_PARSE_INPUT_ASSERTION_FAILED
    32,  // ATTEMPT_TO_READ_AFTER_EOF
    33,  // CANNOT_READ_ALL_DATA
    38,  // CANNOT_PARSE_DATE
    41,  // CANNOT_PARSE_DATETIME
    53,  // TYPE_MISMATCH
    69,  // ARGUMENT_OUT_OF_BOUND
    70,  // CANNOT_CONVERT_TYPE
    72,  // CANNOT_PARSE_NUMBER
    117, // INCORRECT_DATA
    130, // CANNOT_READ_ARRAY_FROM_TEXT
    131, // TOO_LARGE_STRING_SIZE
    321, // VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE
    349, // CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN
    376, // CANNOT_PARSE_UUID
    377, // CANNOT_PARSE_DOMAIN_VALUE_FROM_STRING
    467, // CANNOT_PARSE_BOOL (sent with status 500)
    632, // UNEXPECTED_DATA_AFTER_PARSED_VALUE
    691, // UNKNOWN_ELEMENT_OF_ENUM
];

/// The one classification table: HTTP status and ClickHouse exception code → decision.
pub fn classify(status: u16, code: Option<u32>) -> Decision {
    if let Some(code) = code {
        return if RETRYABLE_CODES.contains(&code) {
            Decision::Retry
        } else if BAD_DATA_CODES.contains(&code) {
            Decision::RejectRows
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

    /// Every `kind()`.
    pub const KINDS: &'static [&'static str] =
        &["transport", "server_retry", "bad_data", "server_reject"];

    /// A short, bounded name for metrics labels.
    pub fn kind(&self) -> &'static str {
        match (self, self.decision()) {
            (InsertError::Transport { .. }, _) => "transport",
            (_, Decision::Retry) => "server_retry",
            (_, Decision::RejectRows) => "bad_data",
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
    timeout: Duration,
    /// `CLICKHOUSE_CLUSTER`: DDL runs `ON CLUSTER` with replicated and distributed tables.
    cluster: Option<String>,
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
            timeout,
            cluster: None,
        }
    }

    /// DDL for this cluster (`CLICKHOUSE_CLUSTER`); `None` for a single server.
    pub fn with_cluster(mut self, cluster: Option<String>) -> Client {
        self.cluster = cluster;
        self
    }

    pub fn cluster(&self) -> Option<&str> {
        self.cluster.as_deref()
    }

    pub fn database(&self) -> &str {
        &self.database
    }

    /// Inserts NDJSON rows into `table` of the configured database. `dedup_token` makes a
    /// retried batch land once. `timeout` bounds the whole request (at most the client's own
    /// timeout is used).
    pub fn insert(
        &self,
        table: &str,
        ndjson: &[u8],
        dedup_token: &str,
        timeout: Duration,
    ) -> Result<(), InsertError> {
        self.insert_into(&self.database, table, ndjson, dedup_token, timeout)
    }

    /// Like `insert`, into `table` of `database` (a spooled batch goes back to the database it
    /// was spooled for). `database` and `table` must be plain identifiers.
    pub fn insert_into(
        &self,
        database: &str,
        table: &str,
        ndjson: &[u8],
        dedup_token: &str,
        timeout: Duration,
    ) -> Result<(), InsertError> {
        let columns = super::row::explicit_columns(table)
            .map(|c| format!(" ({c})"))
            .unwrap_or_default();
        let query = format!("INSERT INTO `{database}`.`{table}`{columns} FORMAT JSONEachRow");
        let req = self
            .agent
            .post(&self.base_url)
            .query("query", &query)
            .query("async_insert", "0")
            .query("date_time_input_format", "basic")
            .query("input_format_skip_unknown_fields", "0")
            .query("insert_deduplicate", "1")
            .query("insert_deduplication_token", dedup_token)
            .config()
            .timeout_global(Some(timeout.min(self.timeout)))
            .build();
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
        // One line, for the log and the status page (a proxy's HTML error page is many).
        let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
        let mut body: String = one_line.chars().take(ERROR_BODY_LIMIT).collect();
        if body.is_empty() {
            body = "(empty body)".into();
        }
        Err(InsertError::Server { status, code, body })
    }
}

#[cfg(test)]
mod tests {
    use super::super::fake::{FakeClickHouse, Response};
    use super::*;

    const PASSWORD: &str = "s3cret-Pa55word";

    fn client(url: &str) -> Client {
        let conn = ClickHouseConn {
            base_url: url.to_string(),
            user: "ingest".into(),
            password: Secret::new(PASSWORD.into()),
            database: "chakal".into(),
        };
        Client::new(&conn, Duration::from_secs(5))
    }

    const T: Duration = Duration::from_secs(5);

    #[test]
    fn an_exception_after_a_200_is_a_failure() {
        let fake = FakeClickHouse::start(|_| {
            let mut r = Response::exception(200, 241, "Memory limit (total) exceeded");
            r.body = format!("partial answer\n{}", r.body);
            r
        });
        let err = client(&fake.url)
            .insert("chat", b"{}\n", "tok", T)
            .unwrap_err();
        assert!(
            matches!(
                err,
                InsertError::Server {
                    status: 200,
                    code: Some(241),
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(err.decision(), Decision::Retry);
        let bad = FakeClickHouse::start(|_| Response::exception(200, 27, "Cannot parse input"));
        let err = client(&bad.url)
            .insert("chat", b"{}\n", "tok", T)
            .unwrap_err();
        assert_eq!(err.decision(), Decision::RejectRows);
    }

    #[test]
    fn an_insert_names_its_settings_and_token_and_sends_the_password_only_in_a_header() {
        let fake = FakeClickHouse::start(|_| Response::ok());
        client(&fake.url)
            .insert("chat", b"{\"a\":1}\n", "chat-00ff-8", T)
            .unwrap();
        let req = &fake.inserts()[0];
        let param = |k| req.param(k).unwrap_or_default();
        assert_eq!(
            param("query"),
            "INSERT INTO `chakal`.`chat` FORMAT JSONEachRow"
        );
        assert_eq!(param("insert_deduplication_token"), "chat-00ff-8");
        assert_eq!(param("insert_deduplicate"), "1");
        assert_eq!(param("async_insert"), "0");
        assert_eq!(param("date_time_input_format"), "basic");
        assert_eq!(req.body, b"{\"a\":1}\n");
        let key = format!("x-clickhouse-key: {PASSWORD}");
        assert!(
            req.headers.iter().any(|h| h.eq_ignore_ascii_case(&key)),
            "{:?}",
            req.headers
        );
        assert!(!req.target.contains(PASSWORD));
    }

    #[test]
    fn a_refused_password_is_retried_and_never_shown() {
        let fake = FakeClickHouse::start(|_| {
            Response::exception(403, 516, "ingest: Authentication failed: password is incorrect, or there is no user with such name")
        });
        let err = client(&fake.url)
            .insert("chat", b"{}\n", "t", T)
            .unwrap_err();
        assert_eq!(err.decision(), Decision::Retry);
        let shown = format!("{err} {err:?} {:?}", client(&fake.url).password);
        assert!(shown.contains("516"), "{shown}");
        assert!(!shown.contains(PASSWORD), "{shown}");

        // Nothing listens on a port just freed: a transport error names the URL only.
        let url = fake.url.clone();
        drop(fake);
        let err = client(&url).ping().unwrap_err();
        assert_eq!(err.decision(), Decision::Retry);
        let shown = format!("{err} {err:?}");
        assert!(shown.contains(&url) && !shown.contains(PASSWORD), "{shown}");
    }

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
            (400, Some(27), RejectRows), // CANNOT_PARSE_INPUT_ASSERTION_FAILED
            (400, Some(62), Reject),     // SYNTAX_ERROR
            (404, Some(60), Reject),     // UNKNOWN_TABLE
            (500, Some(16), Reject),     // NO_SUCH_COLUMN_IN_TABLE: every row would fail
            (400, Some(117), RejectRows), // INCORRECT_DATA
            (400, Some(41), RejectRows), // CANNOT_PARSE_DATETIME
            (400, Some(321), RejectRows), // VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE
            (400, Some(72), RejectRows), // CANNOT_PARSE_NUMBER: `-1` for a UInt64
            (500, Some(467), RejectRows), // CANNOT_PARSE_BOOL comes with a 500
            (500, Some(252), Retry),     // TOO_MANY_PARTS
            (500, Some(241), Retry),     // MEMORY_LIMIT_EXCEEDED
            (200, Some(241), Retry),     // exception after a 200
            (200, Some(27), RejectRows), // bad data after a 200
            (403, Some(516), Retry),     // wrong password: keep the rows
            (503, Some(202), Retry),     // TOO_MANY_SIMULTANEOUS_QUERIES
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
