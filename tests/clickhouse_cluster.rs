//! The cluster form of the schema (`CLICKHOUSE_CLUSTER`): every migration statement, turned
//! into its `ON CLUSTER` replicated + Distributed form, must parse in the real engine
//! (`EXPLAIN AST`), and every table of `sql/` must get both halves; DDL runs ON CLUSTER. A single-node engine cannot
//! run ON CLUSTER DDL, so parsing is what can be checked here.

mod support;

use chakal_ingest::clickhouse::{cluster, schema};
use support::ClickHouse;

#[test]
fn cluster_ddl_parses_in_the_real_engine() {
    let ch = ClickHouse::start();
    let mut tables = Vec::new();
    let mut count = 0;
    for m in schema::MIGRATIONS {
        for stmt in schema::statements(m.sql) {
            if let Some(rest) = stmt.strip_prefix("CREATE TABLE IF NOT EXISTS ") {
                tables.push(rest.split_whitespace().next().unwrap().to_string());
            }
            for clustered in cluster::statements(&stmt, "chakal_cluster") {
                if let Err((status, body)) = ch.try_query(&format!("EXPLAIN AST {clustered}")) {
                    panic!(
                        "{} does not parse (HTTP {status}): {body}\n{clustered}",
                        m.name
                    );
                }
                // DDL runs on every node; a backfill INSERT … SELECT runs once, through the
                // Distributed tables.
                assert!(
                    clustered.starts_with("INSERT INTO ")
                        || clustered.contains("ON CLUSTER `chakal_cluster`"),
                    "{clustered}"
                );
                count += 1;
            }
        }
    }
    assert!(count > 2 * tables.len());
    let all: Vec<String> = schema::MIGRATIONS
        .iter()
        .flat_map(|m| schema::statements(m.sql))
        .flat_map(|s| cluster::statements(&s, "chakal_cluster"))
        .collect();
    for table in &tables {
        assert!(
            all.iter().any(|s| s.starts_with(&format!(
                "CREATE TABLE IF NOT EXISTS {table}_local ON CLUSTER"
            )) && s.contains("ENGINE = Replicated")),
            "no replicated local table for {table}"
        );
        assert!(
            all.iter().any(|s| s
                .starts_with(&format!("CREATE TABLE IF NOT EXISTS {table} ON CLUSTER"))
                && s.contains("ENGINE = Distributed(")),
            "no Distributed table for {table}"
        );
    }
    assert!(
        all.iter()
            .filter(|s| s.starts_with("CREATE MATERIALIZED VIEW"))
            .all(|s| s.contains("_local")),
        "materialized views read and write the local tables"
    );
}
