//! Cache events: the outbox that keeps every server's permission cache fresh.
//!
//! Each write transaction appends the events it causes to `cache_event`. A
//! server replays rows newer than the last one it saw: on SQLite before
//! serving any request whose change probe moved (so a change made by another
//! process shows on the very next request), on PostgreSQL when `NOTIFY
//! dsg_cache` wakes it and on a short poll as a safety net.

use crate::dispatch::Tx;
use crate::{Result, Store, now_micros, on_db, on_tx};
use dsg_core::token::TokenHash;

/// PostgreSQL channel woken by every committed batch of events.
pub const NOTIFY_CHANNEL: &str = "dsg_cache";

/// Rows older than this are pruned (a replica that slept longer flushes everything).
pub const RETENTION_SECS: i64 = 3600;

/// What cached answers a change invalidates.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CacheEvent {
    /// One user's facts changed (grants, groups, flags, acceptances, deletion).
    User(i64),
    /// One service account's facts changed.
    ServiceAccount(i64),
    /// One token was created, revoked or changed.
    Token(TokenHash),
    /// Shared facts changed (datasets, TOS documents, group permissions): drop everything.
    All,
}

impl CacheEvent {
    fn encode(&self) -> (&'static str, String) {
        match self {
            Self::User(id) => ("user", id.to_string()),
            Self::ServiceAccount(id) => ("sa", id.to_string()),
            Self::Token(h) => ("token", h.to_hex()),
            Self::All => ("all", String::new()),
        }
    }

    /// Decodes a stored row; unknown kinds become [`CacheEvent::All`] (safe side).
    pub fn decode(kind: &str, target: &str) -> Self {
        match kind {
            "user" => target.parse().map_or(Self::All, Self::User),
            "sa" => target.parse().map_or(Self::All, Self::ServiceAccount),
            "token" => TokenHash::from_hex(target).map_or(Self::All, Self::Token),
            _ => Self::All,
        }
    }
}

pub(crate) async fn record(tx: &mut Tx, events: &[CacheEvent]) -> Result<()> {
    const SQL: &str = "INSERT INTO cache_event (kind, target, created) VALUES ($1, $2, $3)";
    let now = now_micros();
    for ev in events {
        let (kind, target) = ev.encode();
        on_tx!(tx, conn => sqlx::query(SQL).bind(kind).bind(&target).bind(now).execute(conn).await.map(|r| r.rows_affected()))?;
    }
    if let Tx::Postgres(t) = tx {
        // Transactional: delivered to listeners only if this transaction commits.
        sqlx::query("SELECT pg_notify('dsg_cache', '')")
            .execute(&mut **t)
            .await?;
    }
    Ok(())
}

/// A replayed event and its sequence number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeqEvent {
    /// Position in the outbox.
    pub seq: i64,
    /// The event.
    pub event: CacheEvent,
}

impl Store {
    /// Events with a sequence number above `after`, oldest first.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn events_since(&self, after: i64) -> Result<Vec<SeqEvent>> {
        const SQL: &str =
            "SELECT seq, kind, target FROM cache_event WHERE seq > $1 ORDER BY seq LIMIT 10000";
        let rows: Vec<(i64, String, String)> =
            on_db!(self.db(), pool => sqlx::query_as(SQL).bind(after).fetch_all(pool).await)?;
        Ok(rows
            .into_iter()
            .map(|(seq, kind, target)| SeqEvent {
                seq,
                event: CacheEvent::decode(&kind, &target),
            })
            .collect())
    }

    /// The newest sequence number (0 when empty).
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn latest_event_seq(&self) -> Result<i64> {
        const SQL: &str = "SELECT COALESCE(MAX(seq), 0) FROM cache_event";
        let seq: i64 = on_db!(self.db(), pool => sqlx::query_scalar(SQL).fetch_one(pool).await)?;
        Ok(seq)
    }

    /// Deletes events older than [`RETENTION_SECS`], always keeping the newest.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn prune_events(&self) -> Result<u64> {
        const SQL: &str = "DELETE FROM cache_event WHERE created < $1 \
             AND seq < (SELECT MAX(seq) FROM cache_event)";
        let cutoff = now_micros() - RETENTION_SECS * 1_000_000;
        let res = on_db!(&self.write_db, pool => sqlx::query(SQL).bind(cutoff).execute(pool).await.map(|r| r.rows_affected()))?;
        Ok(res)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_through_their_stored_form() {
        for ev in [
            CacheEvent::User(5),
            CacheEvent::ServiceAccount(7),
            CacheEvent::Token(TokenHash::of("x")),
            CacheEvent::All,
        ] {
            let (k, t) = ev.encode();
            assert_eq!(CacheEvent::decode(k, &t), ev);
        }
        assert_eq!(CacheEvent::decode("mystery", "1"), CacheEvent::All);
        assert_eq!(CacheEvent::decode("user", "abc"), CacheEvent::All);
    }
}
