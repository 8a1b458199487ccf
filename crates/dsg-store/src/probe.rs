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
//! The fast path avoids even that: every commit in WAL mode writes to the
//! `-wal` file, which moves its modification time. The probe keeps that file
//! open and `fstat`s it (no path walk); if the file was unlinked (link count
//! 0) it reopens by path and takes the exact path. After an exact read we
//! remember the WAL's (inode, size, mtime) **taken before the read**, but
//! only when that mtime is at least [`QUIET`] old. A later commit then
//! necessarily stamps a newer mtime — even with coarse, jiffy-grained file
//! timestamps, because the remembered one is far older than one tick — so an
//! unchanged signature proves nothing was committed, and the remembered
//! sequence number is still exact. While the WAL is busy (written within the
//! last [`QUIET`]), every request takes the exact path.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use std::time::{Duration, SystemTime};

use std::sync::Arc;

use parking_lot::RwLock;

use crate::Result;
use crate::quick_read::QuickReads;

/// How old the WAL's mtime must be before its signature may stand in for a read.
pub const QUIET: Duration = Duration::from_secs(1);

/// Identity of the WAL file's current contents, as far as `stat` can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct WalSignature {
    ino: u64,
    size: u64,
    mtime_ns: i128,
}

/// Answers "what is the newest committed cache event?" for one SQLite file.
pub struct ChangeProbe {
    reads: Arc<QuickReads>,
    wal: PathBuf,
    /// The open WAL file, `fstat`ed on every check.
    wal_file: RwLock<Option<std::fs::File>>,
    /// A quiet WAL signature and the sequence number read right after it.
    clean: RwLock<Option<(WalSignature, i64)>>,
}

const LATEST_SQL: &str = "SELECT seq FROM sqlite_sequence WHERE name = 'cache_event'";

fn signature_of(m: &std::fs::Metadata) -> Option<(WalSignature, SystemTime)> {
    let modified = m.modified().ok()?;
    let sig = WalSignature {
        ino: m.ino(),
        size: m.size(),
        mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
    };
    Some((sig, modified))
}

impl ChangeProbe {
    /// Prepares a probe for the database file `reads` reads.
    pub fn new(reads: Arc<QuickReads>) -> Self {
        let mut wal = reads.path().as_os_str().to_owned();
        wal.push("-wal");
        Self {
            reads,
            wal: PathBuf::from(wal),
            wal_file: RwLock::new(None),
            clean: RwLock::new(None),
        }
    }

    /// Current WAL signature via the held file; reopens when it was unlinked.
    fn signature(&self) -> Option<(WalSignature, SystemTime)> {
        if let Some(f) = self.wal_file.read().as_ref()
            && let Ok(m) = f.metadata()
            && m.nlink() > 0
        {
            return signature_of(&m);
        }
        // Missing or unlinked: reopen by path; report no signature this time,
        // so the caller reads exactly.
        *self.wal_file.write() = std::fs::File::open(&self.wal).ok();
        None
    }

    /// The newest committed cache-event sequence number (0 when none yet).
    ///
    /// # Errors
    /// The file cannot be opened or read.
    pub fn latest_seq(&self) -> Result<i64> {
        let observed = self.signature();
        if let (Some((sig, _)), Some((clean, seq))) = (observed, *self.clean.read())
            && sig == clean
        {
            return Ok(seq);
        }
        let seq = self.read_exact()?;
        let quiet = observed.is_some_and(|(_, modified)| {
            SystemTime::now()
                .duration_since(modified)
                .is_ok_and(|age| age >= QUIET)
        });
        *self.clean.write() = match observed {
            Some((sig, _)) if quiet => Some((sig, seq)),
            _ => None,
        };
        Ok(seq)
    }

    /// Reads the sequence number from the database, ignoring the fast path.
    ///
    /// # Errors
    /// The file cannot be opened or read.
    pub fn read_exact(&self) -> Result<i64> {
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
