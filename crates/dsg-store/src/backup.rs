//! What backups and restores need from the database: an online SQLite
//! snapshot, the table inventory with row counts, and resuming the cache
//! outbox after the data was replaced underneath running servers.

use std::collections::BTreeMap;
use std::path::Path;

use crate::{Result, Store, StoreError, now_micros, on_db};

impl Store {
    /// Writes a consistent copy of the live SQLite database to `dest`
    /// (`VACUUM INTO`: online, readers and writers keep going).
    ///
    /// # Errors
    /// Not on SQLite; `dest` exists or is unwritable.
    pub async fn sqlite_snapshot(&self, dest: &Path) -> Result<()> {
        let crate::Db::Sqlite(pool) = self.db() else {
            return Err(StoreError::Config("VACUUM INTO needs SQLite".into()));
        };
        let dest = dest
            .to_str()
            .ok_or_else(|| StoreError::Config(format!("{} is not a UTF-8 path", dest.display())))?;
        sqlx::query("VACUUM INTO $1")
            .bind(dest)
            .execute(pool)
            .await?;
        Ok(())
    }

    /// The PostgreSQL schema the tables live in (`current_schema()`).
    ///
    /// # Errors
    /// Not on PostgreSQL; the database is unreachable.
    pub async fn current_schema(&self) -> Result<String> {
        let crate::Db::Postgres(pool) = self.db() else {
            return Err(StoreError::Config("schemas are a PostgreSQL notion".into()));
        };
        Ok(sqlx::query_scalar("SELECT current_schema()")
            .fetch_one(pool)
            .await?)
    }

    /// Every table with its number of rows.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn table_counts(&self) -> Result<BTreeMap<String, i64>> {
        const SQLITE: &str =
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'";
        const PG: &str = "SELECT table_name::text FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'";
        let names: Vec<String> = match self.db() {
            crate::Db::Sqlite(pool) => sqlx::query_scalar(SQLITE).fetch_all(pool).await?,
            crate::Db::Postgres(pool) => sqlx::query_scalar(PG).fetch_all(pool).await?,
        };
        let mut out = BTreeMap::new();
        for name in names {
            let sql = format!("SELECT COUNT(*) FROM \"{}\"", name.replace('"', "\"\""));
            let n: i64 = on_db!(self.db(), pool => sqlx::query_scalar(sqlx::AssertSqlSafe(sql.clone())).fetch_one(pool).await)?;
            out.insert(name, n);
        }
        Ok(out)
    }

    /// After a restore replaced the data: makes the outbox continue above
    /// `seen` (the newest event before the restore), so servers that already
    /// replayed up to it still see the events that follow, and appends an
    /// event that drops every cached answer.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn resume_events_after(&self, seen: i64) -> Result<()> {
        let next = self.latest_event_seq().await?.max(seen) + 1;
        const SQL: &str =
            "INSERT INTO cache_event (seq, kind, target, created) VALUES ($1, 'all', '', $2)";
        on_db!(&self.write_db, pool => sqlx::query(SQL).bind(next).bind(now_micros()).execute(pool).await.map(|r| r.rows_affected()))?;
        if let crate::Db::Postgres(pool) = &self.write_db {
            sqlx::query("SELECT setval(pg_get_serial_sequence('cache_event', 'seq'), $1)")
                .bind(next)
                .execute(pool)
                .await?;
        }
        self.ring_doorbell().await;
        Ok(())
    }
}
