//! DatasetGateway persistence: one [`Store`] over embedded SQLite or PostgreSQL.
//!
//! Every query is one portable SQL string (`$n` placeholders, standard SQL)
//! run on whichever pool is live; [`dispatch`] is the only place that matches
//! on the backend. Writes go through [`WriteTx`], which records the audit row
//! and the cache events of a mutation in the same transaction as the change,
//! so a change, its audit entry and its cache invalidation cannot disagree.
//! This crate knows nothing about HTTP.

pub mod access_requests;
pub mod audit;
pub mod backup;
pub mod buckets;
pub mod catalog;
pub mod clients;
pub mod console;
pub mod datasets;
pub mod directory;
pub mod dispatch;
pub mod error;
pub mod events;
pub mod grants;
pub mod groups;
pub mod identities;
pub mod imports;
pub mod invitations;
pub mod long_lived;
pub mod members;
pub mod ngauth;
pub mod oidc;
pub mod principals;
pub mod probe;
pub mod quick_read;
pub mod rate_limits;
pub mod scim;
pub mod seed;
pub mod service_accounts;
pub mod tables;
pub mod tokens;
pub mod tos;
pub mod translations;
pub mod users;
pub mod write;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

pub use dispatch::{Backend, Db};
pub use error::StoreError;
pub use events::CacheEvent;
pub use write::WriteTx;

/// Result alias for this crate.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Where the data lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseTarget {
    /// An SQLite file (created when missing).
    Sqlite(PathBuf),
    /// A PostgreSQL URL (`postgres://…`).
    Postgres(String),
}

impl DatabaseTarget {
    /// Reads a `DATABASE_URL`-style value: `postgres://…`, `postgresql://…`,
    /// `sqlite://path` or a bare file path.
    ///
    /// # Errors
    /// [`StoreError::Config`] for other URL schemes.
    pub fn parse(value: &str) -> Result<Self> {
        if value.starts_with("postgres://") || value.starts_with("postgresql://") {
            Ok(Self::Postgres(value.to_owned()))
        } else if let Some(path) = value.strip_prefix("sqlite://") {
            Ok(Self::Sqlite(PathBuf::from(path)))
        } else if let Some(path) = value.strip_prefix("sqlite:") {
            Ok(Self::Sqlite(PathBuf::from(path)))
        } else if value.contains("://") {
            Err(StoreError::Config(format!(
                "unsupported database URL scheme in {:?}: use postgres://… or a SQLite file path",
                redact_url(value)
            )))
        } else {
            Ok(Self::Sqlite(PathBuf::from(value)))
        }
    }

    /// A description safe to log (no password).
    pub fn describe(&self) -> String {
        match self {
            Self::Sqlite(p) => format!("sqlite:{}", p.display()),
            Self::Postgres(u) => redact_url(u),
        }
    }
}

/// Replaces the password of a URL with `***`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// Connection-pool settings.
#[derive(Debug, Clone)]
pub struct PoolSettings {
    /// Largest number of connections.
    pub max_connections: u32,
    /// How long to wait for a connection or a lock.
    pub acquire_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_connections: 8,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

/// The database handle shared by the server, the CLI and the tests.
#[derive(Clone)]
pub struct Store {
    db: Db,
    /// Pool for write transactions. On SQLite a separate one-connection pool,
    /// so writers queue in-process instead of failing with "database is
    /// locked"; on PostgreSQL the same pool as `db`.
    write_db: Db,
    sqlite_path: Option<PathBuf>,
    /// Synchronous point reads for the request path (SQLite only).
    quick: Option<std::sync::Arc<quick_read::QuickReads>>,
    /// Wakes other replicas after commits (PostgreSQL only).
    doorbell: Option<std::sync::Arc<events::Doorbell>>,
}

impl Store {
    /// Opens (creating an SQLite file if needed) without migrating.
    ///
    /// # Errors
    /// Connection failures, with the target named.
    pub async fn connect(target: &DatabaseTarget, pool: &PoolSettings) -> Result<Self> {
        match target {
            DatabaseTarget::Sqlite(path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|e| {
                        StoreError::Config(format!(
                            "cannot create the data directory {}: {e}",
                            dir.display()
                        ))
                    })?;
                }
                let opts = SqliteConnectOptions::new()
                    .filename(path)
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .foreign_keys(true)
                    .busy_timeout(pool.acquire_timeout)
                    // 1 MiB of page cache per connection (SQLite's default is ~2 MB
                    // each): the OS page cache holds the file anyway, and this keeps
                    // the pool's memory small.
                    .pragma("cache_size", "-1024");
                // SQLite serves one writer and a few readers well; each sqlx SQLite
                // connection is a thread with its own page cache, so more readers
                // than this only cost memory.
                let readers = SqlitePoolOptions::new()
                    .max_connections(pool.max_connections.clamp(2, 4))
                    .acquire_timeout(pool.acquire_timeout)
                    .connect_with(opts.clone())
                    .await
                    .map_err(|e| StoreError::connect(&target.describe(), e))?;
                let writer = SqlitePoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(pool.acquire_timeout.max(Duration::from_secs(30)))
                    .connect_with(opts)
                    .await
                    .map_err(|e| StoreError::connect(&target.describe(), e))?;
                Ok(Self {
                    db: Db::Sqlite(readers),
                    write_db: Db::Sqlite(writer),
                    sqlite_path: Some(path.clone()),
                    quick: Some(std::sync::Arc::new(quick_read::QuickReads::new(path))),
                    doorbell: None,
                })
            }
            DatabaseTarget::Postgres(url) => {
                let opts = PgConnectOptions::from_str(url)
                    .map_err(|e| StoreError::connect(&target.describe(), e))?;
                let pg = PgPoolOptions::new()
                    .max_connections(pool.max_connections)
                    .acquire_timeout(pool.acquire_timeout)
                    .connect_with(opts)
                    .await
                    .map_err(|e| StoreError::connect(&target.describe(), e))?;
                Ok(Self {
                    doorbell: Some(std::sync::Arc::new(events::Doorbell::new(pg.clone()))),
                    db: Db::Postgres(pg.clone()),
                    write_db: Db::Postgres(pg),
                    sqlite_path: None,
                    quick: None,
                })
            }
        }
    }

    /// Opens and applies pending migrations.
    ///
    /// # Errors
    /// Connection or migration failures.
    pub async fn open(target: &DatabaseTarget, pool: &PoolSettings) -> Result<Self> {
        let store = Self::connect(target, pool).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Wakes the listeners of other replicas after a commit (PostgreSQL;
    /// nothing on SQLite, whose servers probe the file instead).
    pub(crate) async fn ring_doorbell(&self) {
        if let Some(bell) = &self.doorbell {
            bell.ring().await;
        }
    }

    /// Which backend is live.
    pub fn backend(&self) -> Backend {
        self.db.backend()
    }

    /// Connections of the read pool: (open, idle).
    pub fn pool_stats(&self) -> (u32, u32) {
        match &self.db {
            Db::Sqlite(p) => (p.size(), u32::try_from(p.num_idle()).unwrap_or(u32::MAX)),
            Db::Postgres(p) => (p.size(), u32::try_from(p.num_idle()).unwrap_or(u32::MAX)),
        }
    }

    /// The read pool.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Synchronous point reads of the SQLite file, when on SQLite.
    pub fn quick_reads(&self) -> Option<std::sync::Arc<quick_read::QuickReads>> {
        self.quick.clone()
    }

    /// The SQLite file, when on SQLite.
    pub fn sqlite_path(&self) -> Option<&Path> {
        self.sqlite_path.as_deref()
    }

    /// Applies every pending migration. Idempotent, and safe when several
    /// replicas start at once: on PostgreSQL the migrator holds an advisory
    /// lock, so a second replica waits and then finds nothing to do.
    ///
    /// Migrations are expand-only (new tables, columns with defaults,
    /// triggers), so a database migrated by a newer release still serves an
    /// older one during a rolling upgrade: migrations this binary does not
    /// know are tolerated with a warning instead of refusing to start.
    ///
    /// # Errors
    /// A failed or modified migration.
    pub async fn migrate(&self) -> Result<()> {
        match &self.write_db {
            Db::Sqlite(pool) => Self::migrator(Backend::Sqlite).run(pool).await?,
            Db::Postgres(pool) => Self::migrator(Backend::Postgres).run(pool).await?,
        }
        if let Ok((applied, expected)) = self.migration_status().await
            && applied > expected
        {
            tracing::warn!(
                applied,
                known = expected,
                "the database was migrated by a newer release; serving with this one's schema subset"
            );
        }
        Ok(())
    }

    /// This release's migrations for `backend`, tolerant of newer ones.
    #[doc(hidden)]
    pub fn migrator(backend: Backend) -> sqlx::migrate::Migrator {
        let mut m = match backend {
            Backend::Sqlite => sqlx::migrate!("./migrations/sqlite"),
            Backend::Postgres => sqlx::migrate!("./migrations/postgres"),
        };
        m.set_ignore_missing(true);
        m
    }

    /// Applies the migrations up to and including `version` only: for tests
    /// that check an upgrade from an older schema.
    ///
    /// # Errors
    /// A failed or modified migration.
    #[doc(hidden)]
    pub async fn migrate_to(&self, version: i64) -> Result<()> {
        match &self.write_db {
            Db::Sqlite(pool) => {
                Self::migrator(Backend::Sqlite)
                    .run_to(version, pool)
                    .await?
            }
            Db::Postgres(pool) => {
                Self::migrator(Backend::Postgres)
                    .run_to(version, pool)
                    .await?
            }
        }
        Ok(())
    }

    /// `(applied, expected)` migration counts, for readiness probes.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn migration_status(&self) -> Result<(usize, usize)> {
        let expected = Self::migrator(self.backend()).iter().count();
        const SQL: &str = "SELECT COUNT(*) FROM _sqlx_migrations WHERE success = TRUE";
        let applied: i64 = on_db!(&self.db, pool => {
            match sqlx::query_scalar::<_, i64>(SQL).fetch_one(pool).await {
                Ok(n) => n,
                Err(sqlx::Error::Database(_)) => 0, // table missing: nothing applied
                Err(e) => return Err(e.into()),
            }
        });
        Ok((usize::try_from(applied).unwrap_or(0), expected))
    }

    /// A trivial round trip, for readiness probes.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn ping(&self) -> Result<()> {
        on_db!(&self.db, pool => sqlx::query("SELECT 1").execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Closes every connection (lets SQLite checkpoint its WAL).
    pub async fn close(&self) {
        on_db!(&self.write_db, pool => pool.close().await);
        on_db!(&self.db, pool => pool.close().await);
    }
}

/// Current time in Unix microseconds.
pub fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// `$start, $start+1, …` placeholders for an `IN (…)` list of `n` values.
pub(crate) fn placeholders(start: usize, n: usize) -> String {
    (start..start + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_targets_parse_and_redact() {
        assert_eq!(
            DatabaseTarget::parse("data/dsg.sqlite3").unwrap(),
            DatabaseTarget::Sqlite("data/dsg.sqlite3".into())
        );
        assert!(matches!(
            DatabaseTarget::parse("postgres://u:secret@h/db").unwrap(),
            DatabaseTarget::Postgres(_)
        ));
        assert!(DatabaseTarget::parse("mysql://x").is_err());
        assert_eq!(
            redact_url("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(placeholders(2, 3), "$2, $3, $4");
    }
}
