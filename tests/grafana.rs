//! The Grafana dashboards in deploy/grafana and the alert rules in deploy/prometheus:
//! - structure: every panel has a data source, targets, a unique id and a non-overlapping place
//!   on the 24-column grid; every template variable used is defined;
//! - ClickHouse: every SQL query, with Grafana's macros expanded, parses (`EXPLAIN AST`) and runs
//!   in the real engine against the schema applied by the binary's `schema` command, over data
//!   from the DEBUG_MODE demo;
//! - Prometheus: every metric named exists in src/metrics.rs; every expression and the alert rules
//!   parse with `promtool check rules`, and the alerts pass `promtool test rules` (skipped with a
//!   message when promtool, from Debian's `prometheus` package, is missing).

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use support::{ingester_env, temp_dir, wait_for, ClickHouse, Ingester};

const CLICKHOUSE_PLUGIN: &str = "grafana-clickhouse-datasource";
const DASHBOARDS: [&str; 2] = ["chakal-clickhouse.json", "chakal-metrics.json"];

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn dashboard(name: &str) -> Value {
    let path = crate_dir().join("deploy/grafana").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name} is not JSON: {e}"))
}

fn panels(d: &Value) -> &Vec<Value> {
    d["panels"].as_array().expect("panels array")
}

/// Every (panel title, target) of a dashboard.
fn targets(d: &Value) -> Vec<(String, &Value)> {
    panels(d)
        .iter()
        .flat_map(|p| {
            let title = p["title"].as_str().unwrap_or("?").to_string();
            p["targets"]
                .as_array()
                .into_iter()
                .flatten()
                .map(move |t| (title.clone(), t))
        })
        .collect()
}

/// `$name` and `${name}` variable references in `text`, Grafana's own `$__…` excluded.
fn variables_used(text: &str) -> BTreeSet<String> {
    let mut used = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        rest = &rest[at + 1..];
        let braced = rest.starts_with('{');
        let name: String = rest
            .trim_start_matches('{')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() && !name.starts_with("__") {
            used.insert(name);
        } else if braced && name.is_empty() {
            panic!("odd variable reference in {text}");
        }
    }
    used
}

#[test]
fn dashboards_are_well_formed() {
    for name in DASHBOARDS {
        let d = dashboard(name);
        for key in ["uid", "title"] {
            assert!(
                d[key].as_str().is_some_and(|s| !s.is_empty()),
                "{name}: {key}"
            );
        }
        assert!(
            d["schemaVersion"].as_u64().is_some(),
            "{name}: schemaVersion"
        );
        let defined: BTreeSet<String> = d["templating"]["list"]
            .as_array()
            .expect("templating.list")
            .iter()
            .map(|v| v["name"].as_str().expect("variable name").to_string())
            .collect();
        let mut ids = BTreeSet::new();
        let mut cells = BTreeSet::new();
        for p in panels(&d) {
            let title = p["title"].as_str().unwrap_or("?");
            let id = p["id"].as_u64().unwrap_or_else(|| panic!("{title}: id"));
            assert!(ids.insert(id), "{name}: panel id {id} used twice");
            let kind = p["datasource"]["type"]
                .as_str()
                .unwrap_or_else(|| panic!("{title}: datasource.type"));
            assert!(
                p["datasource"]["uid"].as_str().is_some(),
                "{title}: datasource.uid"
            );
            let pos: Vec<u64> = ["x", "y", "w", "h"]
                .iter()
                .map(|k| {
                    p["gridPos"][k]
                        .as_u64()
                        .unwrap_or_else(|| panic!("{title}: gridPos.{k}"))
                })
                .collect();
            let (x, y, w, h) = (pos[0], pos[1], pos[2], pos[3]);
            assert!(w > 0 && h > 0 && x + w <= 24, "{title}: gridPos {pos:?}");
            for cx in x..x + w {
                for cy in y..y + h {
                    assert!(cells.insert((cx, cy)), "{title} overlaps another panel");
                }
            }
            let ts = p["targets"].as_array().filter(|t| !t.is_empty());
            let ts = ts.unwrap_or_else(|| panic!("{title}: no targets"));
            let mut refs = BTreeSet::new();
            for t in ts {
                assert_eq!(t["datasource"]["type"], kind, "{title}: target data source");
                assert!(
                    refs.insert(t["refId"].as_str().expect("refId")),
                    "{title}: refId twice"
                );
                let query = match kind {
                    CLICKHOUSE_PLUGIN => {
                        assert_eq!(t["editorType"], "sql", "{title}");
                        let table = t["format"] == 1 && t["queryType"] == "table";
                        let series = t["format"] == 0 && t["queryType"] == "timeseries";
                        assert!(table || series, "{title}: format and queryType disagree");
                        t["rawSql"].as_str()
                    }
                    "prometheus" => t["expr"].as_str(),
                    other => panic!("{title}: unexpected data source type {other}"),
                };
                let query = query.filter(|q| !q.trim().is_empty());
                let query = query.unwrap_or_else(|| panic!("{title}: empty query"));
                let unknown: Vec<_> = variables_used(query)
                    .difference(&defined)
                    .cloned()
                    .collect();
                assert!(
                    unknown.is_empty(),
                    "{title}: undefined variables {unknown:?}"
                );
            }
        }
    }
}

/// Grafana's ClickHouse macros as the plugin expands them, over the last hour, 60 s buckets.
fn expand_macros(sql: &str, from: i64, to: i64) -> String {
    let mut out = sql.replace("$__interval_s", "60");
    for (name, expansion) in [
        (
            "$__timeFilter(",
            format!("{{c}} >= toDateTime({from}) AND {{c}} <= toDateTime({to})"),
        ),
        (
            "$__timeInterval(",
            "toStartOfInterval(toDateTime({c}), INTERVAL 60 second)".to_string(),
        ),
    ] {
        while let Some(at) = out.find(name) {
            let args = at + name.len();
            let end = args + out[args..].find(')').expect("macro closing parenthesis");
            let column = out[args..end].trim().to_string();
            out.replace_range(at..=end, &expansion.replace("{c}", &column));
        }
    }
    out
}

fn substitute(sql: &str, database: &str, room: &str) -> String {
    let now = chakal_ingest::status::now_ms() / 1000;
    let sql = expand_macros(sql, now - 3600, now + 60)
        .replace("${database}", database)
        .replace("${room}", room);
    assert!(
        !sql.contains('$'),
        "unexpanded variable or macro in:\n{sql}"
    );
    sql
}

#[test]
fn clickhouse_queries_parse_and_run_against_the_schema() {
    let ch = ClickHouse::start();
    let db = "chakal";
    let conn = format!("{}/{db}", ch.url());
    let out = Command::new(env!("CARGO_BIN_EXE_chakal-ingest"))
        .arg("schema")
        .env("CLICKHOUSE_CONN", &conn)
        .output()
        .expect("run chakal-ingest schema");
    assert!(
        out.status.success(),
        "chakal-ingest schema: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let env = ingester_env(
        &ch,
        db,
        &[
            ("DEBUG_MODE", "true"),
            ("DEBUG_INTERVAL_MS", "20"),
            ("CLICKHOUSE_INIT_SCHEMA", "false"),
        ],
    );
    let mut ing = Ingester::start(&[], &env);
    wait_for("final gifts from the demo", Duration::from_secs(60), || {
        ch.try_query(&format!("SELECT count() FROM {db}.gifts WHERE is_final"))
            .ok()
            .filter(|n| n.trim().parse::<u64>().is_ok_and(|n| n > 0))
    });
    ing.signal("TERM");
    assert!(ing.wait(Duration::from_secs(15)).success(), "{}", ing.log());

    let d = dashboard("chakal-clickhouse.json");
    let room_query = d["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "room")
        .and_then(|v| v["query"].as_str())
        .expect("room variable query");
    let rooms = ch.query(&substitute(room_query, db, "0"));
    let room = rooms
        .lines()
        .next()
        .expect("the demo room is offered")
        .trim();
    assert_eq!(
        room,
        chakal_ingest::demo::DEMO_ROOM_ID.to_string(),
        "exact u64"
    );

    let mut checked = 0;
    for (title, t) in targets(&d) {
        let raw = t["rawSql"].as_str().unwrap();
        for room in ["0", room] {
            let sql = substitute(raw, db, room);
            if let Err((status, body)) = ch.try_query(&format!("EXPLAIN AST {sql}")) {
                panic!("{title}: does not parse, status {status}: {body}\n{sql}");
            }
            let rows = ch
                .try_query(&sql)
                .unwrap_or_else(|(status, body)| panic!("{title}: status {status}: {body}\n{sql}"));
            // The demo has no stream state changes and opens no websocket.
            if !["Stream state changes", "Connections"].contains(&title.as_str()) {
                assert!(
                    !rows.trim().is_empty(),
                    "{title}: no rows for room {room}\n{sql}"
                );
            }
        }
        checked += 1;
    }
    assert_eq!(checked, panels(&d).len(), "one SQL target per panel");

    let (_, by_type) = targets(&d)
        .into_iter()
        .find(|(title, _)| title == "Events per minute by type")
        .expect("events per minute panel");
    let sql = substitute(by_type["rawSql"].as_str().unwrap(), db, "0");
    let types = ch.query(&format!("SELECT groupUniqArray(type) FROM ({sql})"));
    for table in [
        "chat",
        "gifts",
        "likes",
        "members",
        "social",
        "viewer_counts",
    ] {
        assert!(types.contains(table), "{table} missing from {types}");
    }
}

/// Metric names registered in src/metrics.rs.
fn known_metrics() -> BTreeSet<String> {
    let source = include_str!("../src/metrics.rs");
    source
        .split('"')
        .filter(|s| {
            s.starts_with("chakal_")
                && s.len() > "chakal_".len()
                && s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        })
        .map(String::from)
        .collect()
}

fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("chakal_") {
        let name: String = rest[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        rest = &rest[at + name.len()..];
        if name.len() > "chakal_".len() {
            names.insert(name);
        }
    }
    names
}

/// The series a histogram or counter name in a query belongs to.
fn family(name: &str, known: &BTreeSet<String>) -> String {
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = name.strip_suffix(suffix) {
            if known.contains(base) {
                return base.to_string();
            }
        }
    }
    name.to_string()
}

fn promtool() -> Option<PathBuf> {
    ["/usr/bin/promtool", "/usr/local/bin/promtool"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

fn run_promtool(promtool: &Path, args: &[&str], dir: &Path) {
    let out = Command::new(promtool)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run promtool");
    assert!(
        out.status.success(),
        "promtool {args:?}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn prometheus_queries_and_alerts_use_known_metrics_and_parse() {
    let known = known_metrics();

    let d = dashboard("chakal-metrics.json");
    let mut rules = Vec::new();
    for (title, t) in targets(&d) {
        let expr = t["expr"].as_str().unwrap();
        for name in metric_names(expr) {
            let base = family(&name, &known);
            assert!(known.contains(&base), "{title}: unknown metric {name}");
        }
        let expr = expr
            .replace("$__rate_interval", "5m")
            .replace("$instance", ".*");
        assert!(
            !expr.contains('$'),
            "{title}: unexpanded variable in {expr}"
        );
        rules.push(serde_json::json!({
            "record": format!("dashboard:panel_{}_{}", rules.len(), t["refId"].as_str().unwrap()),
            "expr": expr,
        }));
    }
    let alerts = std::fs::read_to_string(crate_dir().join("deploy/prometheus/alerts.yml")).unwrap();
    for name in metric_names(&alerts) {
        assert!(
            known.contains(&family(&name, &known)),
            "alerts.yml: unknown metric {name}"
        );
    }

    let Some(promtool) = promtool() else {
        println!("SKIPPED: promtool not found; `apt-get install prometheus` to parse the PromQL");
        return;
    };
    let dir = temp_dir("promtool");
    // JSON is YAML: the dashboard's expressions as one recording-rule group.
    let file = serde_json::json!({"groups": [{"name": "dashboard", "rules": rules}]});
    std::fs::write(dir.join("dashboard.rules.yml"), file.to_string()).unwrap();
    run_promtool(&promtool, &["check", "rules", "dashboard.rules.yml"], &dir);
    let prometheus_dir = crate_dir().join("deploy/prometheus");
    run_promtool(
        &promtool,
        &["check", "rules", "alerts.yml"],
        &prometheus_dir,
    );
    run_promtool(
        &promtool,
        &["test", "rules", "alerts.test.yml"],
        &prometheus_dir,
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The README's runbook names every metric of src/metrics.rs (in its metrics reference) and
/// every alert of alerts.yml (in its alerts table).
#[test]
fn readme_documents_every_metric_and_alert() {
    let readme = include_str!("../README.md");
    let section = |heading: &str| {
        readme
            .split(heading)
            .nth(1)
            .and_then(|rest| rest.split("\n### ").next())
            .unwrap_or_else(|| panic!("README has no {heading} section"))
    };
    let ours = known_metrics();
    let documented = metric_names(section("### Metrics reference"));
    let missing: Vec<_> = ours.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "README metrics reference lacks {missing:?}"
    );
    let stale: Vec<_> = documented.difference(&ours).collect();
    assert!(
        stale.is_empty(),
        "README metrics reference names unknown {stale:?}"
    );

    let alerts = include_str!("../deploy/prometheus/alerts.yml");
    let table = section("### Dashboards and alerts");
    for name in alerts
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert: "))
    {
        assert!(
            table.contains(&format!("| {name} |")),
            "README alerts table lacks {name}"
        );
    }
}
