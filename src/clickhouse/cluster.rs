//! The same migrations for a ClickHouse cluster (`CLICKHOUSE_CLUSTER`): every table becomes a
//! `Replicated*MergeTree` table `<name>_local` on each node plus a `Distributed` table `<name>`
//! over them, all `ON CLUSTER`. The ingester keeps inserting into `<name>` (now Distributed,
//! sharded by room so a stream stays on one shard and its duplicates meet in one
//! ReplacingMergeTree); materialized views run on each node over the local tables, and plain
//! views read the Distributed tables.
//!
//! Pure text transformation of the statements in `sql/` (their shapes are fixed by this crate);
//! a test parses every result with the real engine. Must not touch: I/O.

/// The statements that stand for one statement of a single-node migration on `cluster`.
pub fn statements(stmt: &str, cluster: &str) -> Vec<String> {
    let on = format!("ON CLUSTER `{cluster}`");
    if let Some(rest) = stmt.strip_prefix("CREATE TABLE IF NOT EXISTS ") {
        let (name, body) = split_name(rest);
        return create_table(name, body, cluster, &on);
    }
    if let Some(rest) = stmt.strip_prefix("CREATE MATERIALIZED VIEW IF NOT EXISTS ") {
        // `mv TO target AS SELECT … FROM source …`: per node, from local to local.
        let (name, body) = split_name(rest);
        let body = body.trim_start();
        let body = match body.strip_prefix("TO ") {
            Some(to) => {
                let (target, after) = split_name(to);
                format!("TO {target}_local{}", localise_from(after))
            }
            None => body.to_string(),
        };
        return vec![format!(
            "CREATE MATERIALIZED VIEW IF NOT EXISTS {name} {on} {body}"
        )];
    }
    if let Some(rest) = stmt.strip_prefix("CREATE VIEW IF NOT EXISTS ") {
        let (name, body) = split_name(rest);
        return vec![format!("CREATE VIEW IF NOT EXISTS {name} {on}{body}")];
    }
    if let Some(rest) = stmt.strip_prefix("ALTER TABLE ") {
        let (name, body) = split_name(rest);
        return vec![
            format!("ALTER TABLE {name}_local {on}{body}"),
            format!("ALTER TABLE {name} {on}{body}"),
        ];
    }
    if let Some(rest) = stmt.strip_prefix("CREATE DATABASE IF NOT EXISTS ") {
        return vec![format!(
            "CREATE DATABASE IF NOT EXISTS {} {on}",
            rest.trim()
        )];
    }
    vec![stmt.to_string()]
}

/// The first word and the rest.
fn split_name(s: &str) -> (&str, &str) {
    let end = s
        .find(|c: char| c.is_whitespace() || c == '(')
        .unwrap_or(s.len());
    (&s[..end], &s[end..])
}

fn create_table(name: &str, body: &str, cluster: &str, on: &str) -> Vec<String> {
    let local = format!("{name}_local");
    let engine_at = body
        .find("ENGINE = ")
        .map_or(body.len(), |i| i + "ENGINE = ".len());
    let (columns, engine_and_rest) = body.split_at(engine_at);
    let engine_end = engine_and_rest
        .find(|c: char| c.is_whitespace())
        .unwrap_or(engine_and_rest.len());
    let (engine, rest) = engine_and_rest.split_at(engine_end);
    let (engine_name, args) = match engine.split_once('(') {
        Some((n, a)) => (n, format!(", {}", a.trim_end_matches(')'))),
        None => (engine, String::new()),
    };
    let replicated = format!(
        "Replicated{engine_name}('/clickhouse/tables/{{shard}}/{{database}}/{local}', '{{replica}}'{args})"
    );
    let key = if has_column(columns, "room_id") {
        "cityHash64(room_id)"
    } else if has_column(columns, "user_id") {
        "cityHash64(user_id)"
    } else {
        "rand()"
    };
    vec![
        format!("CREATE TABLE IF NOT EXISTS {local} {on}{columns}{replicated}{rest}"),
        format!(
            "CREATE TABLE IF NOT EXISTS {name} {on} AS {local} ENGINE = Distributed(`{cluster}`, currentDatabase(), {local}, {key})"
        ),
    ]
}

fn has_column(columns: &str, column: &str) -> bool {
    columns
        .lines()
        .any(|l| l.split_whitespace().next() == Some(column))
}

/// `FROM t` → `FROM t_local` in a materialized view's query.
fn localise_from(query: &str) -> String {
    let mut out = String::with_capacity(query.len() + 16);
    let mut rest = query;
    while let Some(at) = rest.find("FROM ") {
        let (before, after) = rest.split_at(at + "FROM ".len());
        out.push_str(before);
        let (table, tail) = split_name(after);
        out.push_str(table);
        out.push_str("_local");
        rest = tail;
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_becomes_replicated_local_plus_distributed() {
        let got = statements(
            "CREATE TABLE IF NOT EXISTS sessions\n(\n    room_id UInt64,\n    updated_at DateTime64(3, 'UTC')\n)\nENGINE = ReplacingMergeTree(updated_at)\nORDER BY room_id",
            "c1",
        );
        assert_eq!(got.len(), 2);
        assert!(
            got[0].starts_with("CREATE TABLE IF NOT EXISTS sessions_local ON CLUSTER `c1`\n("),
            "{}",
            got[0]
        );
        assert!(
            got[0].contains("ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/sessions_local', '{replica}', updated_at)\nORDER BY room_id"),
            "{}",
            got[0]
        );
        assert_eq!(
            got[1],
            "CREATE TABLE IF NOT EXISTS sessions ON CLUSTER `c1` AS sessions_local ENGINE = Distributed(`c1`, currentDatabase(), sessions_local, cityHash64(room_id))"
        );
    }

    #[test]
    fn views_and_alters() {
        let mv = statements("CREATE MATERIALIZED VIEW IF NOT EXISTS m TO agg AS\nSELECT room_id FROM chat GROUP BY room_id", "c");
        assert_eq!(mv, vec!["CREATE MATERIALIZED VIEW IF NOT EXISTS m ON CLUSTER `c` TO agg_local AS\nSELECT room_id FROM chat_local GROUP BY room_id"]);
        let alter = statements("ALTER TABLE chat ADD COLUMN IF NOT EXISTS x UInt8", "c");
        assert_eq!(
            alter,
            vec![
                "ALTER TABLE chat_local ON CLUSTER `c` ADD COLUMN IF NOT EXISTS x UInt8",
                "ALTER TABLE chat ON CLUSTER `c` ADD COLUMN IF NOT EXISTS x UInt8",
            ]
        );
        let view = statements("CREATE VIEW IF NOT EXISTS v AS\nSELECT 1 FROM agg", "c");
        assert_eq!(
            view,
            vec!["CREATE VIEW IF NOT EXISTS v ON CLUSTER `c` AS\nSELECT 1 FROM agg"]
        );
    }
}
