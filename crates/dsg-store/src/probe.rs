//! SQLite change probe: a synchronous, microsecond-cheap check of the newest
//! cache-event sequence number, run before serving each cached answer.
//!
//! Another process (the `dsg` CLI, a seed script) can commit to the same
//! SQLite file at any moment. Reading `cache_event`'s last sequence number
//! through a plain `rusqlite` connection costs a few microseconds with no
//! async hop, which is what lets the server promise that such a change is
//! visible on the very next request rather than after a TTL.

use std::path::Path;

use parking_lot::Mutex;
use rusqlite::{Connection, OpenFlags};

use crate::Result;

/// A small pool of read-only connections answering "what is the newest event?".
pub struct ChangeProbe {
    path: std::path::PathBuf,
    idle: Mutex<Vec<Connection>>,
}

const LATEST_SQL: &str = "SELECT seq FROM sqlite_sequence WHERE name = 'cache_event'";

impl ChangeProbe {
    /// Prepares a probe for the database file at `path` (connections open lazily).
    pub fn new(path: &Path) -> Self {
        Self {
            path: path.to_owned(),
            idle: Mutex::new(Vec::new()),
        }
    }

    fn open(&self) -> Result<Connection> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(std::time::Duration::from_secs(2))?;
        Ok(conn)
    }

    /// The newest committed cache-event sequence number (0 when none yet).
    ///
    /// # Errors
    /// The file cannot be opened or read.
    pub fn latest_seq(&self) -> Result<i64> {
        let conn = match self.idle.lock().pop() {
            Some(c) => c,
            None => self.open()?,
        };
        let seq = {
            let mut stmt = conn.prepare_cached(LATEST_SQL)?;
            let mut rows = stmt.query([])?;
            match rows.next()? {
                Some(row) => row.get::<_, i64>(0)?,
                None => 0,
            }
        };
        let mut idle = self.idle.lock();
        if idle.len() < 8 {
            idle.push(conn);
        }
        Ok(seq)
    }
}
