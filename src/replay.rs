//! Capture files: `[u32 big-endian length][PushFrame bytes]` repeated (the format of
//! `../shared/fixtures/frames.bin` and of `RECORD_DIR`). Reading them back feeds the frames
//! through the same handler and writer as live traffic (`chakal-ingest replay FILE…`).
//!
//! Must not touch: sockets, ClickHouse.

use std::fs::File;
use std::io::{BufReader, ErrorKind, Read, Write};
use std::path::{Path, PathBuf};

/// Records larger than a frame may be are not frames: the file is corrupt or not a capture.
pub const MAX_RECORD_BYTES: u32 = crate::tiktok::frame::MAX_FRAME_BYTES as u32;

#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("cannot read capture {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("capture {path} is corrupt at byte {offset}: {what}")]
    Corrupt {
        path: PathBuf,
        offset: u64,
        what: String,
    },
}

/// Iterates over the frames of one capture file.
pub struct CaptureReader {
    path: PathBuf,
    reader: BufReader<File>,
    offset: u64,
}

impl CaptureReader {
    pub fn open(path: &Path) -> Result<CaptureReader, CaptureError> {
        let file = File::open(path).map_err(|source| CaptureError::Io {
            path: path.into(),
            source,
        })?;
        Ok(CaptureReader {
            path: path.into(),
            reader: BufReader::new(file),
            offset: 0,
        })
    }

    /// The next frame, `None` at a clean end of file.
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, CaptureError> {
        let mut len = [0u8; 4];
        match self.reader.read_exact(&mut len) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Ok(None),
            Err(source) => {
                return Err(CaptureError::Io {
                    path: self.path.clone(),
                    source,
                })
            }
        }
        let len = u32::from_be_bytes(len);
        if len > MAX_RECORD_BYTES {
            return Err(self.corrupt(format!("record length {len} exceeds {MAX_RECORD_BYTES}")));
        }
        let mut frame = vec![0u8; len as usize];
        self.reader
            .read_exact(&mut frame)
            .map_err(|_| self.corrupt(format!("record of {len} bytes is cut short")))?;
        self.offset += 4 + u64::from(len);
        Ok(Some(frame))
    }

    fn corrupt(&self, what: String) -> CaptureError {
        CaptureError::Corrupt {
            path: self.path.clone(),
            offset: self.offset,
            what,
        }
    }
}

/// Appends one frame in the capture format.
pub fn write_record(out: &mut impl Write, frame: &[u8]) -> std::io::Result<()> {
    out.write_all(&(frame.len() as u32).to_be_bytes())?;
    out.write_all(frame)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_truncation() {
        let path = std::env::temp_dir().join(format!("chakal-capture-{}.bin", std::process::id()));
        let mut f = File::create(&path).unwrap();
        write_record(&mut f, b"abc").unwrap();
        write_record(&mut f, b"").unwrap();
        f.write_all(&[0, 0, 0, 9, 1]).unwrap(); // torn record
        drop(f);
        let mut r = CaptureReader::open(&path).unwrap();
        assert_eq!(r.next_frame().unwrap().unwrap(), b"abc");
        assert_eq!(r.next_frame().unwrap().unwrap(), b"");
        assert!(matches!(
            r.next_frame(),
            Err(CaptureError::Corrupt { offset: 11, .. })
        ));
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn a_huge_record_length_is_refused_without_allocating_it() {
        let path =
            std::env::temp_dir().join(format!("chakal-capture-huge-{}.bin", std::process::id()));
        let mut f = File::create(&path).unwrap();
        write_record(&mut f, b"ok").unwrap();
        f.write_all(&(MAX_RECORD_BYTES + 1).to_be_bytes()).unwrap();
        f.write_all(&[0u8; 16]).unwrap();
        f.write_all(&u32::MAX.to_be_bytes()).unwrap();
        drop(f);
        let mut r = CaptureReader::open(&path).unwrap();
        assert_eq!(r.next_frame().unwrap().unwrap(), b"ok");
        let err = r.next_frame().unwrap_err();
        assert!(
            matches!(err, CaptureError::Corrupt { offset: 6, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("exceeds"), "{err}");
        std::fs::remove_file(path).unwrap();
    }
}
