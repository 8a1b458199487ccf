//! Synchronous point reads of an SQLite file, for the request path.
//!
//! sqlx runs each SQLite connection on a thread of its own, so every query
//! costs two thread hand-offs — more than the indexed read itself. The few
//! reads a request may make before it can be answered from memory (is the
//! outbox newer, which token is this, is this client blocked) go through
//! plain `rusqlite` connections kept here instead: a few microseconds each.
//! In WAL mode a reader never waits for a writer; the short busy timeout
//! only covers WAL recovery, and a read that fails for any reason is
//! retried by the caller through sqlx.

use std::path::{Path, PathBuf};
use std::time::Duration;

use parking_lot::Mutex;
use rusqlite::{Connection, OpenFlags};

use crate::Result;

/// Connections kept idle between reads.
const IDLE: usize = 8;

/// A small pool of synchronous read connections to one SQLite file.
pub struct QuickReads {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl QuickReads {
    /// Prepares reads of the file at `path` (connections open lazily).
    pub fn new(path: &Path) -> Self {
        Self {
            path: path.to_owned(),
            idle: Mutex::new(Vec::new()),
        }
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A new connection to the file, outside the pool.
    ///
    /// # Errors
    /// The file cannot be opened.
    pub fn open_connection(&self) -> Result<Connection> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(Duration::from_millis(250))?;
        // Point reads only; the OS page cache holds the file anyway.
        conn.pragma_update(None, "cache_size", -256)?;
        Ok(conn)
    }

    /// Runs `read` on an idle connection (opening one when none is idle).
    ///
    /// # Errors
    /// The file cannot be opened, or `read` failed.
    pub fn with<T>(&self, read: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        let conn = match self.idle.lock().pop() {
            Some(c) => c,
            None => self.open_connection()?,
        };
        let out = read(&conn)?;
        let mut idle = self.idle.lock();
        if idle.len() < IDLE {
            idle.push(conn);
        }
        Ok(out)
    }
}

impl crate::Store {
    /// Runs `read` synchronously when this store is an SQLite file; `None`
    /// for PostgreSQL or when the read failed (the caller then asks sqlx,
    /// which reports the failure if it persists).
    pub(crate) fn quick<T>(
        &self,
        read: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Option<T> {
        self.quick.as_ref().and_then(|q| q.with(read).ok())
    }
}
