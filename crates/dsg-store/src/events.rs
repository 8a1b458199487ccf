//! Cache events: the outbox that keeps every server's permission cache fresh.
//!
//! Each write transaction appends the events it causes to `cache_event`. A
//! server replays rows newer than the last one it saw: on SQLite before
//! serving any request whose change probe moved (so a change made by another
//! process shows on the very next request), on PostgreSQL when `NOTIFY
//! dsg_cache` wakes it and on a short poll as a safety net.
//!
//! The `NOTIFY` is sent after the write commits, by [`Doorbell`], not inside
//! the write transaction: PostgreSQL serializes the commits of transactions
//! that notify (one WAL flush each), which capped writes at the disk's fsync
//! rate. Concurrent commits share one doorbell, and the doorbell's own
//! transaction does not wait for its WAL flush; a doorbell lost to a crash
//! costs a listener only the poll interval, because the outbox rows it
//! points at are part of the write itself.

use std::sync::atomic::{AtomicU64, Ordering};

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
    Ok(())
}

/// Rings `NOTIFY dsg_cache` after commits, one ring for all the commits that
/// finished while the previous ring was in flight (group commit).
#[derive(Debug)]
pub(crate) struct Doorbell {
    pool: sqlx::PgPool,
    /// Commits that asked for a ring so far.
    asked: AtomicU64,
    /// The `asked` count the last completed ring covers. The lock keeps one
    /// ring in flight at a time.
    rung: tokio::sync::Mutex<u64>,
}

impl Doorbell {
    /// A doorbell that rings through `pool`.
    pub(crate) fn new(pool: sqlx::PgPool) -> Self {
        Self {
            pool,
            asked: AtomicU64::new(0),
            rung: tokio::sync::Mutex::new(0),
        }
    }

    /// Wakes the listeners for a commit that has finished. Returns once a
    /// ring sent after that commit has completed (so a CLI command that
    /// exits right after still wakes the servers). A failure is logged, not
    /// returned: the write is committed, and listeners catch up on their poll.
    pub(crate) async fn ring(&self) {
        // `synchronous_commit` off for this statement's own transaction only:
        // the notification is delivered at commit, without waiting for a flush.
        const SQL: &str = "SELECT set_config('synchronous_commit', 'off', true), pg_notify($1, '')";
        self.ring_with(|| async {
            sqlx::query(SQL)
                .bind(NOTIFY_CHANNEL)
                .execute(&self.pool)
                .await
                .map(drop)
        })
        .await;
    }

    /// [`Doorbell::ring`] with the sending step given (tests count it).
    async fn ring_with<F, Fut, E>(&self, send: F)
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = std::result::Result<(), E>>,
        E: std::fmt::Display,
    {
        // Counted after the commit: any ring that starts later covers it.
        let mine = self.asked.fetch_add(1, Ordering::SeqCst) + 1;
        let mut rung = self.rung.lock().await;
        if *rung >= mine {
            return;
        }
        let covers = self.asked.load(Ordering::SeqCst);
        match send().await {
            Ok(()) => *rung = covers,
            Err(e) => tracing::warn!(
                error = %e,
                "cache doorbell (NOTIFY) failed; listeners catch up on their poll"
            ),
        }
    }
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

    /// A doorbell whose pool never connects (the tests give the send step).
    fn idle_doorbell() -> std::sync::Arc<Doorbell> {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .connect_lazy("postgres://127.0.0.1:1/unused")
            .unwrap();
        std::sync::Arc::new(Doorbell::new(pool))
    }

    /// Rings `bell` from `n` tasks while `bell`'s lock is held, then releases
    /// it; returns how many times the send step ran.
    async fn ring_while_busy(bell: &std::sync::Arc<Doorbell>, n: u64, fail: bool) -> usize {
        use std::sync::atomic::AtomicUsize;
        let sends = std::sync::Arc::new(AtomicUsize::new(0));
        let busy = bell.rung.lock().await;
        let before = bell.asked.load(Ordering::SeqCst);
        let tasks: Vec<_> = (0..n)
            .map(|_| {
                let (bell, sends) = (bell.clone(), sends.clone());
                tokio::spawn(async move {
                    bell.ring_with(|| async {
                        sends.fetch_add(1, Ordering::SeqCst);
                        if fail { Err("refused") } else { Ok(()) }
                    })
                    .await;
                })
            })
            .collect();
        while bell.asked.load(Ordering::SeqCst) < before + n {
            tokio::task::yield_now().await;
        }
        drop(busy);
        for t in tasks {
            t.await.unwrap();
        }
        sends.load(Ordering::SeqCst)
    }

    #[tokio::test]
    async fn commits_that_finish_during_a_ring_share_the_next_one() {
        let bell = idle_doorbell();
        assert_eq!(ring_while_busy(&bell, 10, false).await, 1);
        assert_eq!(
            *bell.rung.lock().await,
            10,
            "the one ring covers all ten commits"
        );
        // A later commit is not covered by an earlier ring.
        assert_eq!(ring_while_busy(&bell, 1, false).await, 1);
        assert_eq!(*bell.rung.lock().await, 11);
    }

    #[tokio::test]
    async fn a_failed_ring_covers_nothing_so_the_next_commit_rings_again() {
        let bell = idle_doorbell();
        // Every waiter retries in turn, since no ring got through.
        assert_eq!(ring_while_busy(&bell, 3, true).await, 3);
        assert_eq!(*bell.rung.lock().await, 0);
        assert_eq!(ring_while_busy(&bell, 1, false).await, 1);
        assert_eq!(*bell.rung.lock().await, 4);
    }
}
