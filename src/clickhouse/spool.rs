//! The disk spool: batches ClickHouse could not take yet, kept in `SPOOL_DIR` until it can.
//!
//! One process at a time: `open` takes an exclusive `flock` on `SPOOL_DIR/chakal-ingest.lock`
//! before it looks at a file, and the `Spool` holds it until dropped (the kernel drops it when
//! the process dies, even by `kill -9`). A second process on the same directory is refused
//! (`Locked`) instead of numbering files from the same sequence and overwriting, replaying or
//! deleting the first one's batches.
//!
//! One file per batch, named by a sequence number so replay keeps the order batches were
//! spooled in. A file is a header (magic, time spooled, rows, table, deduplication token,
//! database, body length), the NDJSON body, and a trailer (CRC-32 of everything before it, end
//! magic). The database is the one the batch was meant for, so it is replayed there whatever
//! database the process that replays it writes to; files of the first format (`CHKSPL01`) have
//! none and are read with `database: None`.
//!
//! A file is written to a temp file, fsynced, renamed into place, and the directory fsynced:
//! only then is the batch counted as safe. On open, a leftover temp file that is complete is
//! adopted (the crash came between fsync and rename); a file that is short, long or fails its
//! checksum is moved to `SPOOL_DIR/corrupt/` and reported to the caller — never replayed as
//! garbage.
//!
//! A batch is removed only after the caller says it is stored. Removal is not fsynced: if it is
//! lost in a crash the batch is replayed once more and ClickHouse drops it by its token.
//! `SPOOL_MAX_BYTES` caps the total size; one batch is always accepted into an empty spool, so
//! a batch larger than the cap still has somewhere to go.
//!
//! Must not touch: HTTP, the channel, metrics, logging (the caller reports what this returns).

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use super::batch::Sealed;

/// The format written: with the database.
const MAGIC: &[u8; 8] = b"CHKSPL02";
/// The first format, without the database: still read.
const MAGIC_V1: &[u8; 8] = b"CHKSPL01";
const END: &[u8; 8] = b"CHKSPEND";
/// magic 8, created_ms 8, rows 8, table length 2, token length 2, database length 2, body
/// length 8.
const HEADER_LEN: usize = 38;
/// The first format's header: no database length.
const HEADER_LEN_V1: usize = 36;
/// CRC-32 4, end magic 8.
const TRAILER_LEN: usize = 12;
const BATCH_EXT: &str = "batch";
const TEMP_EXT: &str = "tmp";
/// Where corrupt files are moved, inside the spool directory.
pub const CORRUPT_DIR: &str = "corrupt";
/// The file locked while a process uses the spool directory; it holds that process's id.
pub const LOCK_FILE: &str = "chakal-ingest.lock";

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("cannot use spool directory {dir} (SPOOL_DIR): {source}; create it or point SPOOL_DIR at a writable directory")]
    Dir {
        dir: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot write spool file {path}: {source}; free disk space or check SPOOL_DIR")]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("spool directory {dir} (SPOOL_DIR) is in use by another chakal-ingest{}; two processes must not share one: give each its own SPOOL_DIR (or its own working directory), or stop the other one first", .holder.map(|pid| format!(" (pid {pid})")).unwrap_or_default())]
    Locked { dir: PathBuf, holder: Option<u32> },
    #[error("spool is full: {used} bytes used and a batch of {needed} bytes does not fit under SPOOL_MAX_BYTES={max}; the writer waits for ClickHouse")]
    Full { used: u64, needed: u64, max: u64 },
    #[error("cannot read spool file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot remove stored spool file {path}: {source}; remove it by hand (a replay would be deduplicated)")]
    Remove {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("spool file {path} is corrupt ({what}); {}", .moved_to.as_ref().map_or("it could not be moved aside".to_string(), |p| format!("moved to {}", p.display())))]
    Corrupt {
        path: PathBuf,
        what: String,
        moved_to: Option<PathBuf>,
    },
}

/// One batch file on disk.
#[derive(Debug)]
struct Entry {
    path: PathBuf,
    bytes: u64,
    created_ms: i64,
}

/// A batch read back from the spool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spooled {
    /// The database the batch was spooled for; `None` in a file of the first format, which did
    /// not record it.
    pub database: Option<String>,
    pub batch: Sealed,
}

pub struct Spool {
    /// Holds the directory's lock: closing it releases the lock.
    _lock: File,
    dir: PathBuf,
    max_bytes: u64,
    entries: VecDeque<Entry>,
    bytes: u64,
    next_seq: u64,
}

impl Spool {
    /// Opens (creating) the spool directory, locks it (`Locked` if another process has it) and
    /// indexes the batches left by an earlier run. Corrupt files found are moved aside and
    /// returned, for the caller to log and count.
    pub fn open(dir: &Path, max_bytes: u64) -> Result<(Spool, Vec<SpoolError>), SpoolError> {
        let dir_error = |source| SpoolError::Dir {
            dir: dir.to_path_buf(),
            source,
        };
        fs::create_dir_all(dir).map_err(dir_error)?;
        let lock = lock_dir(dir)?;
        let mut found: Vec<(u64, PathBuf, bool)> = Vec::new();
        for item in fs::read_dir(dir).map_err(dir_error)? {
            let path = item.map_err(dir_error)?.path();
            let (Some(stem), Some(ext)) = (
                path.file_stem().and_then(|s| s.to_str()),
                path.extension().and_then(|s| s.to_str()),
            ) else {
                continue;
            };
            let Ok(seq) = stem.parse::<u64>() else {
                continue;
            };
            match ext {
                BATCH_EXT => found.push((seq, path, false)),
                TEMP_EXT => found.push((seq, path, true)),
                _ => {}
            }
        }
        found.sort();
        let mut spool = Spool {
            _lock: lock,
            dir: dir.to_path_buf(),
            max_bytes,
            entries: VecDeque::new(),
            bytes: 0,
            next_seq: found.last().map_or(0, |(seq, _, _)| seq + 1),
        };
        let mut problems = Vec::new();
        let mut adopted = false;
        for (_, path, temp) in found {
            let checked = if temp {
                // A temp file was never counted as safe; adopt it only if it is whole.
                let target = path.with_extension(BATCH_EXT);
                read_file(&path)
                    .and_then(|bytes| decode(&bytes).map(|(_, created)| (bytes.len(), created)))
                    .and_then(|(len, created)| {
                        if target.exists() {
                            return Err(format!(
                                "a batch file {} already has its number",
                                target.display()
                            ));
                        }
                        fs::rename(&path, &target)
                            .map_err(|e| format!("cannot adopt: {e}"))
                            .map(|()| (target, len as u64, created))
                    })
                    .inspect(|_| adopted = true)
            } else {
                check_header(&path).map(|(len, created)| (path.clone(), len, created))
            };
            match checked {
                Ok((path, bytes, created_ms)) => {
                    spool.bytes += bytes;
                    spool.entries.push_back(Entry {
                        path,
                        bytes,
                        created_ms,
                    });
                }
                Err(what) => problems.push(quarantine(dir, &path, what)),
            }
        }
        if adopted {
            sync_dir(dir).map_err(dir_error)?;
        }
        Ok((spool, problems))
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Batches waiting.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Bytes of the files waiting.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// When the oldest waiting batch was spooled (ms since the epoch).
    pub fn oldest_created_ms(&self) -> Option<i64> {
        self.entries.front().map(|e| e.created_ms)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes `batch`, meant for `database`, durably after the others. `Full` when it does not
    /// fit under the cap.
    pub fn push(
        &mut self,
        database: &str,
        batch: &Sealed,
        created_ms: i64,
    ) -> Result<(), SpoolError> {
        let bytes = encode(database, batch, created_ms);
        let needed = bytes.len() as u64;
        if !self.entries.is_empty() && self.bytes + needed > self.max_bytes {
            return Err(SpoolError::Full {
                used: self.bytes,
                needed,
                max: self.max_bytes,
            });
        }
        let seq = self.next_seq;
        let temp = self.dir.join(format!("{seq:020}.{TEMP_EXT}"));
        let path = temp.with_extension(BATCH_EXT);
        let written = write_durably(&temp, &path, &self.dir, &bytes);
        if let Err(source) = written {
            let _ = fs::remove_file(&temp);
            return Err(SpoolError::Write { path, source });
        }
        self.next_seq += 1;
        self.bytes += needed;
        self.entries.push_back(Entry {
            path,
            bytes: needed,
            created_ms,
        });
        Ok(())
    }

    /// The oldest waiting batch, read back and checked. A corrupt or unreadable file is moved
    /// aside, dropped from the index and returned as the error; call again for the next one.
    pub fn front(&mut self) -> Result<Option<Spooled>, SpoolError> {
        let Some(entry) = self.entries.front() else {
            return Ok(None);
        };
        let path = entry.path.clone();
        let decoded = read_file(&path).and_then(|bytes| decode(&bytes));
        match decoded {
            Ok((spooled, _)) => Ok(Some(spooled)),
            Err(what) => {
                self.forget_front();
                Err(quarantine(&self.dir, &path, what))
            }
        }
    }

    /// Removes the oldest batch once it is stored.
    pub fn pop_front(&mut self) -> Result<(), SpoolError> {
        let Some(entry) = self.forget_front() else {
            return Ok(());
        };
        match fs::remove_file(&entry.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(SpoolError::Remove {
                path: entry.path,
                source,
            }),
        }
    }

    fn forget_front(&mut self) -> Option<Entry> {
        let entry = self.entries.pop_front()?;
        self.bytes -= entry.bytes;
        Some(entry)
    }
}

/// Creates (or reuses) the lock file in `dir` and locks it, writing this process's id into it.
fn lock_dir(dir: &Path) -> Result<File, SpoolError> {
    let path = dir.join(LOCK_FILE);
    let dir_error = |source| SpoolError::Dir {
        dir: dir.to_path_buf(),
        source,
    };
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(dir_error)?;
    match try_lock_exclusive(&file) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
            let holder = fs::read_to_string(&path)
                .ok()
                .and_then(|s| s.trim().parse().ok());
            return Err(SpoolError::Locked {
                dir: dir.to_path_buf(),
                holder,
            });
        }
        Err(source) => return Err(dir_error(source)),
    }
    // Only for the message of a process refused: the lock itself is what counts.
    file.set_len(0)
        .and_then(|()| writeln!(file, "{}", std::process::id()))
        .map_err(dir_error)?;
    Ok(file)
}

/// `flock(LOCK_EX | LOCK_NB)`: `WouldBlock` when another open file holds the lock. (std's
/// `File::try_lock` needs Rust 1.89; the crate supports 1.85.)
fn try_lock_exclusive(file: &File) -> io::Result<()> {
    use std::os::raw::c_int;
    extern "C" {
        fn flock(fd: c_int, operation: c_int) -> c_int;
    }
    const LOCK_EX: c_int = 2;
    const LOCK_NB: c_int = 4;
    // SAFETY: flock takes a descriptor, open while `file` is borrowed, and no pointer.
    if unsafe { flock(file.as_raw_fd(), LOCK_EX | LOCK_NB) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn write_durably(temp: &Path, path: &Path, dir: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = File::create(temp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    fs::rename(temp, path)?;
    sync_dir(dir)
}

/// Makes a rename in `dir` durable.
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn read_file(path: &Path) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(|e| format!("cannot read: {e}"))?;
    Ok(bytes)
}

/// Moves a bad file into `corrupt/` and describes it.
fn quarantine(dir: &Path, path: &Path, what: String) -> SpoolError {
    let corrupt = dir.join(CORRUPT_DIR);
    let moved_to = path
        .file_name()
        .map(|name| corrupt.join(name))
        .filter(|to| fs::create_dir_all(&corrupt).is_ok() && fs::rename(path, to).is_ok());
    SpoolError::Corrupt {
        path: path.to_path_buf(),
        what,
        moved_to,
    }
}

/// The bytes of one spool file.
fn encode(database: &str, batch: &Sealed, created_ms: i64) -> Vec<u8> {
    let (table, token, database) = (
        batch.table.as_bytes(),
        batch.dedup_token.as_bytes(),
        database.as_bytes(),
    );
    let mut out = Vec::with_capacity(
        HEADER_LEN + table.len() + token.len() + database.len() + batch.body.len() + TRAILER_LEN,
    );
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&created_ms.to_le_bytes());
    out.extend_from_slice(&(batch.rows as u64).to_le_bytes());
    out.extend_from_slice(&(table.len() as u16).to_le_bytes());
    out.extend_from_slice(&(token.len() as u16).to_le_bytes());
    out.extend_from_slice(&(database.len() as u16).to_le_bytes());
    out.extend_from_slice(&(batch.body.len() as u64).to_le_bytes());
    out.extend_from_slice(table);
    out.extend_from_slice(token);
    out.extend_from_slice(database);
    out.extend_from_slice(&batch.body);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(END);
    out
}

struct Header {
    /// `HEADER_LEN`, or `HEADER_LEN_V1` for the first format.
    len: usize,
    created_ms: i64,
    rows: u64,
    table_len: usize,
    token_len: usize,
    /// `None` in the first format.
    database_len: Option<usize>,
    body_len: u64,
}

impl Header {
    fn parse(bytes: &[u8]) -> Result<Header, String> {
        let short = || format!("{} bytes, shorter than a header", bytes.len());
        let len = match bytes.get(..8) {
            None => return Err(short()),
            Some(magic) if magic == MAGIC => HEADER_LEN,
            Some(magic) if magic == MAGIC_V1 => HEADER_LEN_V1,
            Some(_) => return Err("no spool magic at the start".into()),
        };
        if bytes.len() < len {
            return Err(short());
        }
        let u64_at = |i: usize| u64::from_le_bytes(bytes[i..i + 8].try_into().expect("8 bytes"));
        let u16_at = |i: usize| {
            usize::from(u16::from_le_bytes(
                bytes[i..i + 2].try_into().expect("2 bytes"),
            ))
        };
        Ok(Header {
            len,
            created_ms: u64_at(8) as i64,
            rows: u64_at(16),
            table_len: u16_at(24),
            token_len: u16_at(26),
            database_len: (len == HEADER_LEN).then(|| u16_at(28)),
            body_len: u64_at(len - 8),
        })
    }

    /// The length the whole file must have; `None` when the header announces more than a u64
    /// can count (a corrupt header).
    fn file_len(&self) -> Option<u64> {
        let fields = self.table_len + self.token_len + self.database_len.unwrap_or(0);
        ((self.len + fields + TRAILER_LEN) as u64).checked_add(self.body_len)
    }
}

/// Cheap check at open: the header is sound and the file has the length it announces.
fn check_header(path: &Path) -> Result<(u64, i64), String> {
    let file = File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let len = file
        .metadata()
        .map_err(|e| format!("cannot stat: {e}"))?
        .len();
    let mut head = Vec::with_capacity(HEADER_LEN);
    file.take(HEADER_LEN as u64)
        .read_to_end(&mut head)
        .map_err(|e| format!("cannot read: {e}"))?;
    let header = Header::parse(&head)?;
    check_len(&header, len)?;
    Ok((len, header.created_ms))
}

/// The file is as long as its header says.
fn check_len(header: &Header, len: u64) -> Result<(), String> {
    match header.file_len() {
        Some(announced) if announced == len => Ok(()),
        Some(announced) => Err(format!("{len} bytes, but its header announces {announced}")),
        None => Err(format!(
            "{len} bytes, but its header announces more than 2^64"
        )),
    }
}

/// A whole file → the batch and when it was spooled; every field is checked.
fn decode(bytes: &[u8]) -> Result<(Spooled, i64), String> {
    let header = Header::parse(bytes)?;
    check_len(&header, bytes.len() as u64)?;
    let (content, trailer) = bytes.split_at(bytes.len() - TRAILER_LEN);
    if &trailer[4..] != END {
        return Err("no end magic".into());
    }
    let crc = u32::from_le_bytes(trailer[..4].try_into().expect("4 bytes"));
    if crc32fast::hash(content) != crc {
        return Err("checksum mismatch".into());
    }
    let rest = &content[header.len..];
    let (table, rest) = rest.split_at(header.table_len);
    let (token, rest) = rest.split_at(header.token_len);
    let (database, body) = rest.split_at(header.database_len.unwrap_or(0));
    let table = std::str::from_utf8(table)
        .ok()
        .filter(|t| valid_identifier(t))
        .ok_or("table name is not an identifier")?;
    let token = std::str::from_utf8(token)
        .ok()
        .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or("deduplication token is not printable ASCII")?;
    let database = match header.database_len {
        None => None,
        Some(_) => Some(
            std::str::from_utf8(database)
                .ok()
                .filter(|d| valid_identifier(d))
                .ok_or("database name is not an identifier")?
                .to_string(),
        ),
    };
    Ok((
        Spooled {
            database,
            batch: Sealed {
                table: table.to_string(),
                body: body.to_vec(),
                rows: usize::try_from(header.rows).map_err(|_| "row count too large")?,
                dedup_token: token.to_string(),
            },
        },
        header.created_ms,
    ))
}

/// A table or database name that is safe between backquotes in a query.
fn valid_identifier(t: &str) -> bool {
    !t.is_empty() && t.len() <= 64 && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// A file of the first format (`CHKSPL01`, no database), as that code wrote it for a batch
/// of two chat rows spooled at 1 717 000 000 000 ms.
#[cfg(test)]
pub(super) const V1_FILE: &[u8] = b"CHKSPL01\x00\xd2,\xc5\x8f\x01\x00\x00\x02\x00\x00\x00\x00\x00\x00\x00\x04\x00(\x00\x1a\x00\x00\x00\x00\x00\x00\x00chatchat-874e691e196395d8a547c237ca774d3e-26{\"msg_id\":1}\n{\"msg_id\":2}\n:\xe4\x5ceCHKSPEND";

#[cfg(test)]
mod tests {
    use super::super::fake::TempDir;
    use super::*;

    fn batch(table: &str, n: usize) -> Sealed {
        let body: String = (0..n).map(|i| format!("{{\"msg_id\":{i}}}\n")).collect();
        Sealed::from_ndjson(table, body.into_bytes())
    }

    fn spooled(database: &str, batch: Sealed) -> Option<Spooled> {
        Some(Spooled {
            database: Some(database.to_string()),
            batch,
        })
    }

    /// The files in `dir`, but the lock file.
    fn files(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|name| name != LOCK_FILE)
            .collect();
        names.sort();
        names
    }

    #[test]
    fn batches_come_back_in_order_across_reopen() {
        let tmp = TempDir::new("order");
        let (mut spool, problems) = Spool::open(&tmp.0, 1 << 20).unwrap();
        assert!(problems.is_empty() && spool.is_empty());
        let (a, b) = (batch("chat", 3), batch("gifts", 1));
        spool.push("chakal", &a, 1000).unwrap();
        spool.push("other_db", &b, 2000).unwrap();
        assert_eq!(spool.len(), 2);
        assert_eq!(spool.oldest_created_ms(), Some(1000));
        drop(spool);

        let (mut spool, problems) = Spool::open(&tmp.0, 1 << 20).unwrap();
        assert!(problems.is_empty());
        assert_eq!((spool.len(), spool.oldest_created_ms()), (2, Some(1000)));
        assert_eq!(spool.front().unwrap(), spooled("chakal", a.clone()));
        assert_eq!(
            spool.front().unwrap(),
            spooled("chakal", a),
            "front does not consume"
        );
        spool.pop_front().unwrap();
        assert_eq!(spool.front().unwrap(), spooled("other_db", b));
        spool.pop_front().unwrap();
        assert_eq!(spool.front().unwrap(), None);
        assert_eq!(spool.bytes(), 0);
        assert!(files(&tmp.0).is_empty());
    }

    #[test]
    fn the_cap_refuses_a_batch_that_does_not_fit_but_never_an_empty_spool() {
        let tmp = TempDir::new("cap");
        let (mut spool, _) = Spool::open(&tmp.0, 100).unwrap();
        spool.push("chakal", &batch("chat", 10), 0).unwrap(); // larger than the cap, but the spool was empty
        assert!(spool.bytes() > 100);
        assert!(matches!(
            spool.push("chakal", &batch("chat", 1), 0),
            Err(SpoolError::Full { max: 100, .. })
        ));
        spool.pop_front().unwrap();
        spool.push("chakal", &batch("chat", 1), 0).unwrap();
    }

    #[test]
    fn torn_and_garbled_files_are_moved_aside_not_replayed() {
        let tmp = TempDir::new("torn");
        let (mut spool, _) = Spool::open(&tmp.0, 1 << 20).unwrap();
        for i in 0..4 {
            spool.push("chakal", &batch("chat", i + 1), 0).unwrap();
        }
        drop(spool);
        let names = files(&tmp.0);
        // 0: cut short (a torn write); 1: a flipped byte in the body; 2: intact; 3: garbage.
        let path = |i: usize| tmp.0.join(&names[i]);
        let bytes = fs::read(path(0)).unwrap();
        fs::write(path(0), &bytes[..bytes.len() - 5]).unwrap();
        let mut bytes = fs::read(path(1)).unwrap();
        bytes[HEADER_LEN + 10] ^= 0x20;
        fs::write(path(1), bytes).unwrap();
        fs::write(path(3), b"not a spool file at all").unwrap();

        let (mut spool, problems) = Spool::open(&tmp.0, 1 << 20).unwrap();
        assert_eq!(problems.len(), 2, "{problems:?}"); // the length check catches 0 and 3 at open
        assert!(problems.iter().all(|p| matches!(
            p,
            SpoolError::Corrupt {
                moved_to: Some(_),
                ..
            }
        )));
        let err = spool.front().unwrap_err(); // the checksum catches 1 when it is read
        assert!(err.to_string().contains("checksum mismatch"), "{err}");
        assert_eq!(spool.front().unwrap(), spooled("chakal", batch("chat", 3)));
        spool.pop_front().unwrap();
        assert!(spool.is_empty());
        assert_eq!(files(&tmp.0.join(CORRUPT_DIR)).len(), 3);
    }

    #[test]
    fn a_whole_temp_file_is_adopted_and_a_partial_one_is_not() {
        let tmp = TempDir::new("temp");
        fs::create_dir_all(&tmp.0).unwrap();
        let whole = encode("chakal", &batch("likes", 2), 5);
        fs::write(tmp.0.join(format!("{:020}.tmp", 7)), &whole).unwrap();
        fs::write(
            tmp.0.join(format!("{:020}.tmp", 8)),
            &whole[..whole.len() / 2],
        )
        .unwrap();
        let (mut spool, problems) = Spool::open(&tmp.0, 1 << 20).unwrap();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(spool.front().unwrap(), spooled("chakal", batch("likes", 2)));
        spool.pop_front().unwrap();
        spool.push("chakal", &batch("likes", 1), 0).unwrap();
        assert!(
            files(&tmp.0).contains(&format!("{:020}.batch", 9)),
            "numbering goes on after the highest seen"
        );
    }

    /// A header announcing a body near 2^64 bytes is a corrupt file, not an overflow.
    #[test]
    fn a_header_announcing_an_impossible_length_is_corrupt() {
        let mut bytes = encode("chakal", &batch("likes", 2), 5);
        bytes[HEADER_LEN - 8..HEADER_LEN].copy_from_slice(&(u64::MAX - 3).to_le_bytes());
        let error = decode(&bytes).expect_err("impossible length");
        assert!(error.contains("more than 2^64"), "{error}");
    }

    #[test]
    fn a_hostile_table_or_database_name_is_refused() {
        let mut evil = batch("chat", 1);
        evil.table = "chat` FORMAT CSV --".into();
        let bytes = encode("chakal", &evil, 0);
        assert!(decode(&bytes).unwrap_err().contains("table name"));
        let bytes = encode("chakal`.`chat` FORMAT CSV --", &batch("chat", 1), 0);
        assert!(decode(&bytes).unwrap_err().contains("database name"));
    }

    #[test]
    fn decode_survives_every_truncation() {
        let bytes = encode("chakal", &batch("chat", 3), 0);
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        assert!(decode(&bytes).is_ok());
    }

    /// Issue "two instances sharing one SPOOL_DIR lose and duplicate rows": both numbered their
    /// files from the same sequence and replayed, overwrote and deleted each other's batches.
    #[test]
    fn a_second_spool_on_the_same_dir_is_refused_and_touches_nothing() {
        let tmp = TempDir::new("lock");
        let (mut first, _) = Spool::open(&tmp.0, 1 << 20).unwrap();
        first.push("chakal", &batch("chat", 2), 0).unwrap();
        // A write of the first one caught between its fsync and its rename.
        let in_flight = encode("chakal", &batch("chat", 3), 0);
        fs::write(tmp.0.join(format!("{:020}.tmp", 1)), &in_flight).unwrap();
        let before = files(&tmp.0);

        let err = Spool::open(&tmp.0, 1 << 20).err().expect("refused");
        assert!(
            matches!(&err, SpoolError::Locked { holder: Some(pid), .. } if *pid == std::process::id()),
            "{err:?}"
        );
        let shown = err.to_string();
        assert!(
            shown.contains(&tmp.0.display().to_string()) && shown.contains("SPOOL_DIR"),
            "{shown}"
        );
        assert_eq!(
            files(&tmp.0),
            before,
            "the refused one adopted or moved nothing"
        );

        drop(first);
        let (mut second, problems) = Spool::open(&tmp.0, 1 << 20).unwrap();
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(second.len(), 2, "the lock goes with the first spool");
        assert_eq!(second.front().unwrap(), spooled("chakal", batch("chat", 2)));
    }

    #[test]
    fn a_file_of_the_first_format_is_replayed_without_a_database() {
        let old = Sealed::from_ndjson("chat", b"{\"msg_id\":1}\n{\"msg_id\":2}\n".to_vec());
        let (read, created_ms) = decode(V1_FILE).unwrap();
        assert_eq!(created_ms, 1_717_000_000_000);
        assert_eq!(
            read,
            Spooled {
                database: None,
                batch: old.clone()
            },
            "same body, same token: it still lands once"
        );

        let tmp = TempDir::new("v1");
        fs::create_dir_all(&tmp.0).unwrap();
        fs::write(tmp.0.join(format!("{:020}.batch", 4)), V1_FILE).unwrap();
        let (mut spool, problems) = Spool::open(&tmp.0, 1 << 20).unwrap();
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(spool.oldest_created_ms(), Some(1_717_000_000_000));
        spool.push("chakal", &batch("chat", 1), 0).unwrap();
        assert_eq!(spool.front().unwrap().unwrap().database, None);
        spool.pop_front().unwrap();
        assert_eq!(spool.front().unwrap(), spooled("chakal", batch("chat", 1)));
        let new = fs::read(tmp.0.join(format!("{:020}.batch", 5))).unwrap();
        assert_eq!(
            &new[..8],
            MAGIC,
            "new files are written in the current format"
        );
    }
}
