//! Rate-limit counters in the database: one row per (class, subject, fixed
//! window), shared by every replica on the same database. Used when no Redis
//! is configured, and as the fallback when Redis fails.
//!
//! The counters are not user data: they are written straight to the pool
//! (no [`crate::WriteTx`], no audit row, no cache event) and pruned once
//! their window has ended. Times are Unix seconds.

use crate::{Result, Store, on_db};

impl Store {
    /// Counts one event of `class` by `subject` in the window starting at
    /// `window_start` (ending at `window_end`) and returns the window's count
    /// so far, this event included. One atomic upsert: concurrent replicas
    /// never lose a hit.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn rate_limit_hit(
        &self,
        class: &str,
        subject: &str,
        window_start: i64,
        window_end: i64,
    ) -> Result<i64> {
        const SQL: &str = "INSERT INTO rate_limit (class, subject, window_start, window_end, hits) \
             VALUES ($1, $2, $3, $4, 1) \
             ON CONFLICT (class, subject, window_start) DO UPDATE SET hits = rate_limit.hits + 1 \
             RETURNING hits";
        let hits: i64 = on_db!(&self.write_db, pool => sqlx::query_scalar(SQL)
            .bind(class)
            .bind(subject)
            .bind(window_start)
            .bind(window_end)
            .fetch_one(pool)
            .await)?;
        Ok(hits)
    }

    /// The count of `class` by `subject` in the window starting at
    /// `window_start`, without counting (0 when none).
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn rate_limit_count(
        &self,
        class: &str,
        subject: &str,
        window_start: i64,
    ) -> Result<i64> {
        const SQL: &str = "SELECT hits FROM rate_limit \
             WHERE class = $1 AND subject = $2 AND window_start = $3";
        // SQLite: a synchronous read (crate::quick_read); sqlx if it fails.
        if let Some(hits) = self.quick(|c| {
            use rusqlite::OptionalExtension;
            c.prepare_cached(SQL)?
                .query_row(rusqlite::params![class, subject, window_start], |r| {
                    r.get::<_, i64>(0)
                })
                .optional()
        }) {
            return Ok(hits.unwrap_or(0));
        }
        let hits: Option<i64> = on_db!(&self.db, pool => sqlx::query_scalar(SQL)
            .bind(class)
            .bind(subject)
            .bind(window_start)
            .fetch_optional(pool)
            .await)?;
        Ok(hits.unwrap_or(0))
    }

    /// Deletes the counters of windows that ended at or before `now` (seconds).
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn prune_rate_limits(&self, now: i64) -> Result<u64> {
        const SQL: &str = "DELETE FROM rate_limit WHERE window_end <= $1";
        let n = on_db!(&self.write_db, pool => sqlx::query(SQL).bind(now).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(n)
    }
}
