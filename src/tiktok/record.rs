//! `RECORD_DIR`: every frame one connection receives, appended to its own capture file
//! (`HOST_ROOMID_CONNECTMS.bin`, in the `replay` format) so a session can be replayed later with
//! `chakal-ingest replay`. A file that cannot be created or written is logged at error level,
//! counted, and recording stops for that connection; ingestion never depends on it.
//!
//! Must not touch: decoding, the socket, events.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::metrics::Metrics;
use crate::replay::write_record;

pub struct Recorder {
    file: Option<(PathBuf, BufWriter<File>)>,
}

/// `someone_7140000000000000001_1717000000123.bin`
pub fn file_name(host: &str, room_id: u64, connected_ms: i64) -> String {
    format!("{host}_{room_id}_{connected_ms}.bin")
}

impl Recorder {
    /// A recorder writing to `dir` (creating it), or one that does nothing.
    pub fn open(
        dir: Option<&Path>,
        host: &str,
        room_id: u64,
        connected_ms: i64,
        metrics: &Metrics,
    ) -> Recorder {
        let Some(dir) = dir else {
            return Recorder { file: None };
        };
        let path = dir.join(file_name(host, room_id, connected_ms));
        let opened = std::fs::create_dir_all(dir)
            .and_then(|()| OpenOptions::new().create(true).append(true).open(&path));
        match opened {
            Ok(f) => {
                log::info!("recording frames file={}", path.display());
                Recorder {
                    file: Some((path, BufWriter::new(f))),
                }
            }
            Err(e) => {
                metrics.capture_errors.inc();
                log::error!(
                    "cannot create capture file {} (RECORD_DIR), not recording this connection: {e}",
                    path.display()
                );
                Recorder { file: None }
            }
        }
    }

    /// Appends one frame; on failure, stops recording.
    pub fn record(&mut self, frame: &[u8], metrics: &Metrics) {
        let Some((path, out)) = &mut self.file else {
            return;
        };
        if let Err(e) = write_record(out, frame).and_then(|()| out.flush()) {
            metrics.capture_errors.inc();
            log::error!(
                "cannot write capture file {} (RECORD_DIR), recording stopped: {e}",
                path.display()
            );
            self.file = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replay::CaptureReader;

    #[test]
    fn frames_are_appended_in_the_replay_format() {
        let dir = std::env::temp_dir().join(format!("chakal-record-{}", std::process::id()));
        let metrics = Metrics::new();
        let mut r = Recorder::open(Some(&dir), "someone", 42, 1000, &metrics);
        r.record(b"one", &metrics);
        r.record(b"two!", &metrics);
        drop(r);
        let path = dir.join("someone_42_1000.bin");
        let mut reader = CaptureReader::open(&path).unwrap();
        assert_eq!(reader.next_frame().unwrap().unwrap(), b"one");
        assert_eq!(reader.next_frame().unwrap().unwrap(), b"two!");
        assert!(reader.next_frame().unwrap().is_none());
        std::fs::remove_dir_all(&dir).unwrap();

        let blocked =
            std::env::temp_dir().join(format!("chakal-record-file-{}", std::process::id()));
        std::fs::write(&blocked, b"a file, not a directory").unwrap();
        let mut r = Recorder::open(Some(&blocked), "someone", 42, 1000, &metrics);
        r.record(b"lost", &metrics);
        assert_eq!(metrics.capture_errors.get(), 1);
        std::fs::remove_file(&blocked).unwrap();
    }
}
