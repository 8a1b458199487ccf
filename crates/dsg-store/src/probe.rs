//! SQLite change probe: "has anyone committed a cache event since I last
//! looked?", answered before each cached answer is served.
//!
//! Another process (the `dsg` CLI, a seed script) can commit to the same
//! SQLite file at any moment, and the server promises such a change is
//! visible on the very next request. The exact answer is the outbox's newest
//! sequence number, read through a plain synchronous `rusqlite` connection
//! ([`crate::quick_read`]; a few microseconds, but it takes SQLite's file
//! locks).
//!
//! The fast path asks SQLite's own change detector instead: in WAL mode every
//! commit rewrites the wal-index header at the start of the `-shm` file
//! (its transaction counter, frame count, salts and checksum; the format is
//! documented at <https://www.sqlite.org/walformat.html>) before the commit
//! returns. The probe reads those 96 bytes with one `pread` of the file it
//! keeps open and compares them with the header it read **before** its last
//! exact read: unchanged, nothing was committed since, and the remembered
//! sequence number is still exact. Changed (or torn by a write in progress,
//! or unreadable), it reads exactly and remembers the new pair — so this
//! process's own writes cost one exact read each, not a busy window.
//!
//! SQLite deletes the `-shm` file only when the last connection to the
//! database closes; the probe keeps one connection of its own open for its
//! lifetime, so the file it reads is the one every writer updates.

use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering, fence};
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;
use rusqlite::Connection;

use crate::Result;
use crate::quick_read::QuickReads;

/// Bytes read from the start of the `-shm` file: the wal-index header's two
/// copies (48 bytes each).
const HEADER: usize = 96;

/// What identifies the committed state of a WAL database: the first header
/// copy's transaction counter and frame count, and its checksum (which
/// covers the salts too). `None` when the header could not be trusted.
fn fingerprint(bytes: &[u8; HEADER]) -> Option<[u64; 2]> {
    let (first, second) = bytes.split_at(HEADER / 2);
    // A writer in the middle of publishing, or a header never initialised.
    if first != second || first[12] != 1 {
        return None;
    }
    let word = |at: usize| {
        u64::from(u32::from_ne_bytes([
            first[at],
            first[at + 1],
            first[at + 2],
            first[at + 3],
        ]))
    };
    // iChange (8), mxFrame (16), aCksum (40, 44).
    Some([word(8) << 32 | word(16), word(40) << 32 | word(44)])
}

/// The header fingerprint seen before the last exact read, and that read's
/// result: a sequence lock of atomics, so requests on every core check it
/// with plain loads and no shared write.
#[derive(Default)]
struct Clean {
    /// Odd while being rewritten; 0 until the first exact read.
    version: AtomicU64,
    words: [AtomicU64; 2],
    seq: AtomicI64,
    writer: Mutex<()>,
}

impl Clean {
    /// The remembered sequence number when `seen` is the remembered fingerprint.
    fn get(&self, seen: [u64; 2]) -> Option<i64> {
        let before = self.version.load(Ordering::Acquire);
        if before == 0 || before % 2 == 1 {
            return None;
        }
        let words = [
            self.words[0].load(Ordering::Relaxed),
            self.words[1].load(Ordering::Relaxed),
        ];
        let seq = self.seq.load(Ordering::Relaxed);
        fence(Ordering::Acquire);
        (self.version.load(Ordering::Relaxed) == before && words == seen).then_some(seq)
    }

    fn set(&self, seen: [u64; 2], seq: i64) {
        let _one_writer = self.writer.lock();
        self.version.fetch_add(1, Ordering::Relaxed);
        fence(Ordering::Release);
        self.words[0].store(seen[0], Ordering::Relaxed);
        self.words[1].store(seen[1], Ordering::Relaxed);
        self.seq.store(seq, Ordering::Relaxed);
        self.version.fetch_add(1, Ordering::Release);
    }
}

/// The `-shm` file, and the connection that keeps it in place.
struct Shm {
    file: std::fs::File,
    _anchor: Mutex<Connection>,
}

/// Answers "what is the newest committed cache event?" for one SQLite file.
pub struct ChangeProbe {
    reads: Arc<QuickReads>,
    shm_path: PathBuf,
    /// Opened on first use (and retried until it opens).
    shm: OnceLock<Shm>,
    clean: Clean,
    exact_reads: AtomicU64,
}

const LATEST_SQL: &str = "SELECT seq FROM sqlite_sequence WHERE name = 'cache_event'";

impl ChangeProbe {
    /// Prepares a probe for the database file `reads` reads.
    pub fn new(reads: Arc<QuickReads>) -> Self {
        let mut shm = reads.path().as_os_str().to_owned();
        shm.push("-shm");
        Self {
            reads,
            shm_path: PathBuf::from(shm),
            shm: OnceLock::new(),
            clean: Clean::default(),
            exact_reads: AtomicU64::new(0),
        }
    }

    /// The `-shm` file, opened (with its anchoring connection) on first use.
    fn shm(&self) -> Option<&Shm> {
        if let Some(s) = self.shm.get() {
            return Some(s);
        }
        // A read opens the WAL and its index, creating `-shm` if needed.
        let anchor = self.reads.open_connection().ok()?;
        anchor.query_row(LATEST_SQL, [], |_| Ok(())).ok();
        let file = std::fs::File::open(&self.shm_path).ok()?;
        let _ = self.shm.set(Shm {
            file,
            _anchor: Mutex::new(anchor),
        });
        self.shm.get()
    }

    /// The current header fingerprint, if it can be read and trusted.
    fn observe(&self) -> Option<[u64; 2]> {
        let shm = self.shm()?;
        let mut bytes = [0u8; HEADER];
        shm.file.read_exact_at(&mut bytes, 0).ok()?;
        fingerprint(&bytes)
    }

    /// The newest committed cache-event sequence number (0 when none yet).
    ///
    /// # Errors
    /// The file cannot be opened or read.
    pub fn latest_seq(&self) -> Result<i64> {
        let observed = self.observe();
        if let Some(seen) = observed
            && let Some(seq) = self.clean.get(seen)
        {
            return Ok(seq);
        }
        let seq = self.read_exact()?;
        if let Some(seen) = observed {
            self.clean.set(seen, seq);
        }
        Ok(seq)
    }

    /// How many times the database was read (the header had moved, or
    /// could not be read).
    pub fn exact_reads(&self) -> u64 {
        self.exact_reads.load(Ordering::Relaxed)
    }

    /// Reads the sequence number from the database, ignoring the fast path.
    ///
    /// # Errors
    /// The file cannot be opened or read.
    pub fn read_exact(&self) -> Result<i64> {
        self.exact_reads.fetch_add(1, Ordering::Relaxed);
        self.reads.with(|conn| {
            let mut stmt = conn.prepare_cached(LATEST_SQL)?;
            let mut rows = stmt.query([])?;
            match rows.next()? {
                Some(row) => row.get::<_, i64>(0),
                None => Ok(0),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A WAL database with the outbox table, and a writer connection of its
    /// own (another process, as far as the probe can tell).
    fn outbox() -> (tempfile::TempDir, Connection, ChangeProbe) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.sqlite3");
        let writer = Connection::open(&path).unwrap();
        writer
            .execute_batch(
                "PRAGMA journal_mode = WAL;
                 CREATE TABLE cache_event (seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT);",
            )
            .unwrap();
        let probe = ChangeProbe::new(Arc::new(QuickReads::new(&path)));
        (dir, writer, probe)
    }

    fn commit(writer: &Connection) {
        writer
            .execute("INSERT INTO cache_event (kind) VALUES ('all')", [])
            .unwrap();
    }

    #[test]
    fn every_commit_is_seen_at_once_and_a_quiet_file_is_not_read() {
        let (_dir, writer, probe) = outbox();
        assert_eq!(probe.latest_seq().unwrap(), 0);
        assert_eq!(probe.exact_reads(), 1);
        for _ in 0..100 {
            assert_eq!(probe.latest_seq().unwrap(), 0);
        }
        assert_eq!(probe.exact_reads(), 1, "an unchanged header needs no read");
        for n in 1..=50 {
            commit(&writer);
            assert_eq!(probe.latest_seq().unwrap(), n, "commit {n} seen at once");
        }
        assert_eq!(probe.exact_reads(), 51, "one read per commit, no more");
        // A checkpoint that restarts the WAL moves the header too.
        commit(&writer);
        writer
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
            .unwrap();
        assert_eq!(probe.latest_seq().unwrap(), 51);
        commit(&writer);
        assert_eq!(probe.latest_seq().unwrap(), 52);
        assert_eq!(probe.latest_seq().unwrap(), 52);
    }

    #[test]
    fn a_header_being_written_or_never_initialised_is_not_trusted() {
        let mut bytes = [0u8; HEADER];
        bytes[12] = 1;
        bytes[48 + 12] = 1;
        bytes[8] = 7;
        bytes[48 + 8] = 7;
        assert_eq!(fingerprint(&bytes), Some([7 << 32, 0]));
        bytes[8] = 8;
        assert_eq!(
            fingerprint(&bytes),
            None,
            "copies differ: a write in progress"
        );
        bytes[48 + 8] = 8;
        bytes[12] = 0;
        bytes[48 + 12] = 0;
        assert_eq!(fingerprint(&bytes), None, "not initialised");
    }

    #[test]
    fn without_a_shm_file_every_check_reads_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.sqlite3");
        let writer = Connection::open(&path).unwrap();
        // Rollback-journal mode: no wal-index to read.
        writer
            .execute_batch(
                "CREATE TABLE cache_event (seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT);",
            )
            .unwrap();
        let probe = ChangeProbe::new(Arc::new(QuickReads::new(&path)));
        assert_eq!(probe.latest_seq().unwrap(), 0);
        commit(&writer);
        assert_eq!(probe.latest_seq().unwrap(), 1);
        assert_eq!(probe.exact_reads(), 2);
    }
}
