//! The schema contract with ClickHouse: the numbered files in `sql/`, embedded in the binary,
//! applied once each and in order, and recorded in `schema_migrations`.
//!
//! Every file is idempotent on its own (`IF NOT EXISTS`), so applying a file twice, or on top of
//! an older version, is harmless; the record only saves work and shows what ran. A file may hold
//! several statements separated by `;` at the end of a line.
//!
//! Must not touch: events, rows, the writer loop.

use super::client::{Client, InsertError};

/// One numbered file of `sql/`.
pub struct Migration {
    pub version: u32,
    pub name: &'static str,
    pub sql: &'static str,
}

macro_rules! migrations {
    ($($version:literal => $file:literal),* $(,)?) => {
        &[$(Migration { version: $version, name: $file, sql: include_str!(concat!("../../sql/", $file)) }),*]
    };
}

/// Every file of `sql/`, in order of version (a test checks none is missing; gaps are allowed).
pub const MIGRATIONS: &[Migration] = migrations![
    1 => "001_chat.sql",
    2 => "002_gifts.sql",
    3 => "003_likes.sql",
    4 => "004_members.sql",
    5 => "005_social.sql",
    6 => "006_viewer_counts.sql",
    7 => "007_control.sql",
    8 => "008_raw_messages.sql",
    9 => "009_chat_emotes.sql",
    10 => "010_audience.sql",
    11 => "011_engagement.sql",
    12 => "012_battles.sql",
    13 => "013_room.sql",
    14 => "014_events.sql",
    15 => "015_users.sql",
    16 => "016_raw_payload.sql",
    17 => "017_room_minute.sql",
    18 => "018_stream_gifters.sql",
    20 => "020_sessions.sql",
    21 => "021_rooms.sql",
];

const MIGRATIONS_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations
(
    version    UInt32,
    name       String,
    applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY version";

/// Splits a file into statements: `;` at the end of a line ends one; `--` comment lines are dropped.
pub fn statements(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in sql.lines() {
        if line.trim_start().starts_with("--") {
            continue;
        }
        let trimmed = line.trim_end();
        if let Some(stmt_end) = trimmed.strip_suffix(';') {
            current.push_str(stmt_end);
            if !current.trim().is_empty() {
                out.push(std::mem::take(&mut current).trim().to_string());
            }
            current.clear();
        } else {
            current.push_str(line);
            current.push('\n');
        }
    }
    if !current.trim().is_empty() {
        out.push(current.trim().to_string());
    }
    out
}

/// Creates the database and applies every migration not yet recorded. Returns how many ran.
pub fn apply(client: &Client) -> Result<usize, InsertError> {
    apply_migrations(client, MIGRATIONS)
}

/// Like `apply`, for a list of migrations in order (a prefix of `MIGRATIONS` stands for an
/// older release of the schema).
pub fn apply_migrations(client: &Client, migrations: &[Migration]) -> Result<usize, InsertError> {
    for stmt in for_target(
        client,
        &format!("CREATE DATABASE IF NOT EXISTS `{}`", client.database()),
    ) {
        client.execute_without_database(&stmt)?;
    }
    for stmt in for_target(client, MIGRATIONS_TABLE) {
        client.execute(&stmt)?;
    }
    let done = client.execute("SELECT version FROM schema_migrations FORMAT TabSeparated")?;
    let done: Vec<u32> = done.lines().filter_map(|l| l.trim().parse().ok()).collect();
    let mut applied = 0;
    for m in migrations.iter().filter(|m| !done.contains(&m.version)) {
        for stmt in statements(m.sql).iter().flat_map(|s| for_target(client, s)) {
            client.execute(&stmt)?;
        }
        client.execute(&format!(
            "INSERT INTO schema_migrations (version, name) VALUES ({}, '{}')",
            m.version, m.name
        ))?;
        log::info!("applied migration version={} name={}", m.version, m.name);
        applied += 1;
    }
    Ok(applied)
}

/// A statement as it must run on the client's server: unchanged, or for its cluster.
pub fn for_target(client: &Client, stmt: &str) -> Vec<String> {
    match client.cluster() {
        Some(cluster) => super::cluster::statements(stmt, cluster),
        None => vec![stmt.to_string()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sql_file_is_a_migration_in_order() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/sql");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".sql"))
            .collect();
        files.sort();
        let listed: Vec<&str> = MIGRATIONS.iter().map(|m| m.name).collect();
        assert_eq!(files, listed);
        for pair in MIGRATIONS.windows(2) {
            assert!(
                pair[0].version < pair[1].version,
                "versions must increase: {} then {}",
                pair[0].name,
                pair[1].name
            );
        }
        for m in MIGRATIONS {
            assert!(
                m.name.starts_with(&format!("{:03}_", m.version)),
                "{} must start with its version",
                m.name
            );
        }
    }

    #[test]
    fn statements_split_on_line_end_semicolons() {
        let sql = "-- comment; not a split\nCREATE TABLE a (x String DEFAULT 'a;b');\n\nALTER TABLE a ADD COLUMN y UInt8;\n";
        assert_eq!(
            statements(sql),
            vec![
                "CREATE TABLE a (x String DEFAULT 'a;b')".to_string(),
                "ALTER TABLE a ADD COLUMN y UInt8".to_string()
            ]
        );
    }
}
