//! Did every message the fake sent land in ClickHouse exactly once? Counts per method on both
//! sides — sent (first occurrence of each msg_id, as one reader dedupes) and landed — and renders
//! them side by side. Used by the end-to-end tests and the replay demo.
//!
//! Landed rows are attributed to methods by their msg_id, looked up in what was sent, across
//! every table that holds one row per message (typed tables and `raw_messages`). That needs no
//! knowledge of which table a method goes to, and a row in the wrong table, a row stored twice
//! or a row for a message never sent all show up.
//!
//! Must not touch: the fake's threads, the ingester's pipeline.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use super::record::Recording;
use crate::clickhouse::client::{Client, InsertError};
use crate::clickhouse::row::TABLES;

/// Landed rows whose msg_id was never sent are counted under this name.
pub const UNKNOWN_MSG_ID: &str = "(msg_id not sent)";

/// The tables holding one row per stored message: every table rows go to, except the `users`
/// dimension (one row per user) and the connection's own `sessions` and `rooms`.
pub fn message_tables() -> Vec<&'static str> {
    TABLES
        .iter()
        .copied()
        .filter(|t| !matches!(*t, "users" | "sessions" | "rooms"))
        .collect()
}

/// Messages per method, counting each msg_id once (the first time it appears, as a reader's
/// dedupe does; msg_id 0 means "unknown" and always counts).
pub fn sent_per_method(messages: &[(String, u64)]) -> BTreeMap<String, u64> {
    let mut seen = HashSet::new();
    let mut counts = BTreeMap::new();
    for (method, msg_id) in messages {
        if *msg_id == 0 || seen.insert(*msg_id) {
            *counts.entry(method.clone()).or_insert(0) += 1;
        }
    }
    counts
}

/// What landed for one method.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Landed {
    /// Rows (not merged away: `count()` without FINAL).
    pub rows: u64,
    /// Distinct msg_ids among them.
    pub distinct: u64,
}

/// Rows per method across every message table of the client's database; `sent` gives each
/// msg_id its method.
pub fn landed_per_method(
    client: &Client,
    sent: &[(String, u64)],
) -> Result<BTreeMap<String, Landed>, InsertError> {
    let method_of: HashMap<u64, &str> = sent.iter().map(|(m, id)| (*id, m.as_str())).collect();
    let union: Vec<String> = message_tables()
        .iter()
        .map(|t| format!("SELECT msg_id FROM `{t}`"))
        .collect();
    let sql = format!(
        "SELECT toString(msg_id), count() FROM ({}) GROUP BY msg_id FORMAT TabSeparated",
        union.join(" UNION ALL ")
    );
    let body = client.execute(&sql)?;
    let mut landed: BTreeMap<String, Landed> = BTreeMap::new();
    for line in body.lines() {
        let Some((id, rows)) = line.split_once('\t') else {
            continue;
        };
        let (Ok(id), Ok(rows)) = (id.parse::<u64>(), rows.trim().parse::<u64>()) else {
            continue;
        };
        let method = method_of.get(&id).copied().unwrap_or(UNKNOWN_MSG_ID);
        let entry = landed.entry(method.to_string()).or_default();
        entry.rows += rows;
        entry.distinct += 1;
    }
    Ok(landed)
}

/// Methods whose landed rows differ from the sent count, or that landed twice.
pub fn mismatches(sent: &BTreeMap<String, u64>, landed: &BTreeMap<String, Landed>) -> Vec<String> {
    let methods: BTreeSet<&String> = sent.keys().chain(landed.keys()).collect();
    methods
        .into_iter()
        .filter(|m| {
            let l = landed.get(*m).copied().unwrap_or_default();
            sent.get(*m).copied().unwrap_or(0) != l.rows || l.rows != l.distinct
        })
        .cloned()
        .collect()
}

/// A plain-text table: method, sent, landed (rows), with `!` on the rows that differ.
pub fn render(sent: &BTreeMap<String, u64>, landed: Option<&BTreeMap<String, Landed>>) -> String {
    let methods: BTreeSet<&String> = sent
        .keys()
        .chain(landed.into_iter().flat_map(|l| l.keys()))
        .collect();
    let mut out = format!("{:<44} {:>7} {:>7}\n", "method", "sent", "landed");
    let (mut total_sent, mut total_landed) = (0, 0);
    for method in methods {
        let s = sent.get(method).copied().unwrap_or(0);
        total_sent += s;
        match landed {
            Some(landed) => {
                let l = landed.get(method).copied().unwrap_or_default();
                total_landed += l.rows;
                let mark = if s != l.rows || l.rows != l.distinct {
                    " !"
                } else {
                    ""
                };
                out.push_str(&format!("{method:<44} {s:>7} {:>7}{mark}\n", l.rows));
            }
            None => out.push_str(&format!("{method:<44} {s:>7} {:>7}\n", "-")),
        }
    }
    let total_landed = landed.map_or("-".to_string(), |_| total_landed.to_string());
    out.push_str(&format!(
        "{:<44} {total_sent:>7} {total_landed:>7}\n",
        "total"
    ));
    out
}

/// The ACKs received against the frames that asked for one (§4.7).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AckCheck {
    /// Frames sent with `need_ack`.
    pub expected: usize,
    /// Of those, acknowledged exactly once with their `internal_ext` as payload.
    pub acked_once: usize,
    /// Log ids of need-ack frames never acknowledged.
    pub missing: Vec<u64>,
    /// Log ids acknowledged more than once.
    pub repeated: Vec<u64>,
    /// ACKs for log ids that were never sent or did not ask for one (e.g. 0).
    pub unexpected: Vec<u64>,
    /// ACKs whose payload is not the frame's `internal_ext`.
    pub wrong_payload: Vec<u64>,
}

impl AckCheck {
    pub fn of(rec: &Recording) -> AckCheck {
        let mut check = AckCheck::default();
        let acks = rec.acks();
        for frame in rec.need_ack() {
            check.expected += 1;
            let mine: Vec<&Vec<u8>> = acks
                .iter()
                .filter(|(_, log_id, _)| *log_id == frame.log_id)
                .map(|(_, _, payload)| payload)
                .collect();
            match mine.as_slice() {
                [] => check.missing.push(frame.log_id),
                [payload] if payload.as_slice() == frame.internal_ext.as_bytes() => {
                    check.acked_once += 1
                }
                [_] => check.wrong_payload.push(frame.log_id),
                _ => check.repeated.push(frame.log_id),
            }
        }
        check.unexpected = acks
            .iter()
            .map(|(_, log_id, _)| *log_id)
            .filter(|id| !rec.need_ack().any(|f| f.log_id == *id))
            .collect();
        check
    }

    /// Every need-ack frame acknowledged exactly once, correctly, and nothing else.
    pub fn ok(&self) -> bool {
        self.acked_once == self.expected && self.unexpected.is_empty()
    }
}

impl std::fmt::Display for AckCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "need_ack={} acked_once={} missing={:?} repeated={:?} unexpected={:?} wrong_payload={:?}",
            self.expected, self.acked_once, self.missing, self.repeated, self.unexpected, self.wrong_payload
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake_tiktok::record::{ClientFrame, ClientFrameKind, SentFrame, SentKind};
    use std::time::Instant;

    #[test]
    fn ack_check_finds_every_kind_of_fault() {
        let sent = |log_id: u64, need_ack: bool| SentFrame {
            conn: 0,
            room_id: 1,
            at: Instant::now(),
            kind: SentKind::Stream,
            log_id,
            need_ack,
            internal_ext: format!("ext{log_id}"),
            stream_index: None,
            replayed: false,
            messages: vec![],
        };
        let ack = |log_id: u64, payload: &str| ClientFrame {
            conn: 0,
            at: Instant::now(),
            kind: ClientFrameKind::Ack {
                log_id,
                payload: payload.as_bytes().to_vec(),
                payload_encoding: "pb".into(),
            },
        };
        let rec = Recording {
            sent: vec![
                sent(1, true),
                sent(2, true),
                sent(3, true),
                sent(4, true),
                sent(5, false),
            ],
            client_frames: vec![
                ack(1, "ext1"),
                ack(2, "ext2"),
                ack(2, "ext2"),
                ack(3, "x"),
                ack(5, "ext5"),
                ack(0, "-"),
            ],
            ..Recording::default()
        };
        let check = AckCheck::of(&rec);
        assert_eq!(
            check,
            AckCheck {
                expected: 4,
                acked_once: 1,
                missing: vec![4],
                repeated: vec![2],
                unexpected: vec![5, 0],
                wrong_payload: vec![3],
            }
        );
        assert!(!check.ok());
    }

    #[test]
    fn sent_counts_each_msg_id_once() {
        let messages = vec![
            ("A".to_string(), 1),
            ("A".to_string(), 1),
            ("B".to_string(), 2),
            ("B".to_string(), 0),
            ("B".to_string(), 0),
        ];
        let sent = sent_per_method(&messages);
        assert_eq!(sent, BTreeMap::from([("A".into(), 1), ("B".into(), 3)]));
    }

    #[test]
    fn mismatches_and_table() {
        let sent = BTreeMap::from([("A".to_string(), 2), ("B".to_string(), 1)]);
        let landed = BTreeMap::from([
            (
                "A".to_string(),
                Landed {
                    rows: 2,
                    distinct: 2,
                },
            ),
            (
                "B".to_string(),
                Landed {
                    rows: 2,
                    distinct: 1,
                },
            ),
            (
                "C".to_string(),
                Landed {
                    rows: 1,
                    distinct: 1,
                },
            ),
        ]);
        assert_eq!(mismatches(&sent, &landed), vec!["B", "C"]);
        let table = render(&sent, Some(&landed));
        assert!(
            table.contains("A                                                  2       2\n"),
            "{table}"
        );
        assert!(
            table.contains("B                                                  1       2 !\n"),
            "{table}"
        );
        assert!(
            table.ends_with("total                                              3       5\n"),
            "{table}"
        );
        assert!(render(&sent, None).contains("3       -"));
    }
}
