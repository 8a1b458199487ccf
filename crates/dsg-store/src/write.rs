//! Write transactions: the change, its audit rows and its cache events commit
//! together or not at all.

use std::sync::Arc;

use serde_json::Value;

use crate::dispatch::{Db, Tx};
use crate::events::{CacheEvent, Doorbell};
use crate::{Result, Store, now_micros, on_tx};

/// Who performs a mutation, for the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The acting user, if a user.
    pub id: Option<i64>,
    /// Human-readable label: an e-mail, `cli`, `scim:<token name>`, `seed`.
    pub label: String,
    /// Request id of the HTTP request, if any.
    pub request_id: Option<String>,
}

impl Actor {
    /// A command-line invocation.
    pub fn cli(command: &str) -> Self {
        Self {
            id: None,
            label: format!("cli:{command}"),
            request_id: None,
        }
    }

    /// The server itself (e.g. `system:oidc` making the first signing key).
    pub fn system(part: &str) -> Self {
        Self {
            id: None,
            label: format!("system:{part}"),
            request_id: None,
        }
    }

    /// A user acting through the API.
    pub fn user(id: i64, email: &str, request_id: Option<String>) -> Self {
        Self {
            id: Some(id),
            label: email.to_owned(),
            request_id,
        }
    }
}

/// An open write transaction. Dropping it without [`WriteTx::commit`] rolls
/// everything back, audit rows and cache events included.
pub struct WriteTx {
    pub(crate) tx: Tx,
    actor: Actor,
    events: Vec<CacheEvent>,
    /// The store's doorbell, rung after a PostgreSQL commit.
    doorbell: Option<Arc<Doorbell>>,
}

impl Store {
    /// Begins a write transaction (`BEGIN IMMEDIATE` on SQLite, so writers
    /// queue on the busy timeout instead of deadlocking).
    ///
    /// # Errors
    /// The database is unreachable or stays locked past the timeout.
    pub async fn begin(&self, actor: Actor) -> Result<WriteTx> {
        let tx = match &self.write_db {
            Db::Sqlite(pool) => Tx::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?),
            Db::Postgres(pool) => Tx::Postgres(pool.begin().await?),
        };
        Ok(WriteTx {
            tx,
            actor,
            events: Vec::new(),
            doorbell: self.doorbell.clone(),
        })
    }
}

impl WriteTx {
    /// Who is acting.
    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    /// Notes that cached answers named by `event` must be dropped after commit.
    pub fn invalidate(&mut self, event: CacheEvent) {
        if !self.events.contains(&event) {
            self.events.push(event);
        }
    }

    /// Appends an audit row in this transaction.
    ///
    /// # Errors
    /// The insert failed (the whole transaction should then be dropped).
    pub async fn audit(
        &mut self,
        action: &str,
        target_type: &str,
        target_id: impl ToString,
        before: Option<Value>,
        after: Option<Value>,
    ) -> Result<()> {
        const SQL: &str = "INSERT INTO audit_log (timestamp, actor_id, actor, action, target_type, \
             target_id, before_state, after_state, request_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
        let before = before.map(|v| v.to_string());
        let after = after.map(|v| v.to_string());
        let target_id = target_id.to_string();
        on_tx!(&mut self.tx, conn => {
            sqlx::query(SQL)
                .bind(now_micros())
                .bind(self.actor.id)
                .bind(&self.actor.label)
                .bind(action)
                .bind(target_type)
                .bind(&target_id)
                .bind(&before)
                .bind(&after)
                .bind(&self.actor.request_id)
                .execute(conn).await.map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// Records the cache events, commits, and then wakes other replicas
    /// (PostgreSQL `NOTIFY`, see [`crate::events`]). Returns the events so
    /// the caller can apply them to its own cache at once.
    ///
    /// # Errors
    /// The commit failed; nothing was written.
    pub async fn commit(mut self) -> Result<Vec<CacheEvent>> {
        let events = std::mem::take(&mut self.events);
        if !events.is_empty() {
            crate::events::record(&mut self.tx, &events).await?;
        }
        match self.tx {
            Tx::Sqlite(t) => t.commit().await?,
            Tx::Postgres(t) => t.commit().await?,
        }
        if let Some(bell) = self.doorbell.filter(|_| !events.is_empty()) {
            bell.ring().await;
        }
        Ok(events)
    }
}
