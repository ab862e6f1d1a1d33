//! The dead-letter files: rows ClickHouse refused, kept for a person to look at and replay.
//!
//! One NDJSON file per UTC day in `DEAD_LETTER_DIR` (`2024-05-29.ndjson`), appended to and
//! fsynced. Each line is `{"time", "database", "table", "error", "row"}` where `row` is the
//! refused NDJSON line as a string (it may not even be JSON), so `jq -r .row` gives back what
//! was sent. Every write is one `O_APPEND` write of whole lines, so processes sharing the
//! directory interleave lines but never overwrite each other: it needs no lock; `database`
//! says where each row was meant to go.
//!
//! Must not touch: HTTP, the channel, metrics, logging (the caller reports).

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::row::format_datetime_ms;
use crate::status::now_ms;

#[derive(Debug, thiserror::Error)]
pub enum DeadLetterError {
    #[error("cannot use dead-letter directory {dir} (DEAD_LETTER_DIR): {source}; create it or point DEAD_LETTER_DIR at a writable directory")]
    Dir {
        dir: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot append to dead-letter file {path}: {source}; free disk space or check DEAD_LETTER_DIR")]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

pub struct DeadLetter {
    dir: PathBuf,
}

impl DeadLetter {
    /// Creates the directory now and checks it takes a file, so a bad or read-only
    /// `DEAD_LETTER_DIR` is a startup error, not rows lost at the first refusal.
    pub fn open(dir: &Path) -> Result<DeadLetter, DeadLetterError> {
        let bad_dir = |source| DeadLetterError::Dir {
            dir: dir.to_path_buf(),
            source,
        };
        fs::create_dir_all(dir).map_err(bad_dir)?;
        let probe = dir.join(".writable");
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(&probe)
            .map_err(bad_dir)?;
        fs::remove_file(&probe).map_err(bad_dir)?;
        Ok(DeadLetter {
            dir: dir.to_path_buf(),
        })
    }

    /// Appends one line per refused row of `database`.`table` and makes it durable. Returns the
    /// file written.
    pub fn write<'a>(
        &self,
        database: &str,
        table: &str,
        error: &str,
        rows: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<PathBuf, DeadLetterError> {
        let now = now_ms();
        let time = format_datetime_ms(now);
        let path = self.dir.join(format!("{}.ndjson", &time[..10]));
        let mut out = Vec::new();
        for row in rows {
            let row = String::from_utf8_lossy(row);
            let line = serde_json::json!({
                "time": time,
                "database": database,
                "table": table,
                "error": error,
                "row": row.trim_end_matches('\n'),
            });
            out.extend_from_slice(line.to_string().as_bytes());
            out.push(b'\n');
        }
        let written = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| {
                f.write_all(&out)?;
                f.sync_all()
            });
        written.map_err(|source| DeadLetterError::Write {
            path: path.clone(),
            source,
        })?;
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_appended_as_strings_with_table_and_error() {
        let dir = std::env::temp_dir().join(format!("chakal-dead-letter-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let dl = DeadLetter::open(&dir).unwrap();
        let rows: [&[u8]; 2] = [b"{\"a\":1}\n", b"not json \"quoted\"\n"];
        let path = dl
            .write("chakal", "chat", "status 400, code 27", rows)
            .unwrap();
        dl.write("other_db", "likes", "e", [&b"x"[..]]).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0]["database"], "chakal");
        assert_eq!(lines[0]["table"], "chat");
        assert_eq!(lines[0]["error"], "status 400, code 27");
        assert_eq!(lines[0]["row"], "{\"a\":1}");
        assert_eq!(lines[1]["row"], "not json \"quoted\"");
        assert_eq!(lines[2]["database"], "other_db");
        assert_eq!(lines[2]["table"], "likes");
        fs::remove_dir_all(&dir).unwrap();
    }
}
