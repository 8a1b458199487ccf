//! Reading the append-only audit log (writing happens in [`crate::WriteTx::audit`]).

use serde::Serialize;

use crate::{Result, Store, on_db};
use dsg_core::Timestamp;

/// One audit row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    /// Id.
    pub id: i64,
    /// When.
    pub timestamp: Timestamp,
    /// Acting user id, if a user.
    pub actor_id: Option<i64>,
    /// Actor label.
    pub actor: String,
    /// Action name, e.g. `grant_created`.
    pub action: String,
    /// Target type, e.g. `Grant`.
    pub target_type: String,
    /// Target id (string).
    pub target_id: String,
    /// State before.
    pub before_state: Option<serde_json::Value>,
    /// State after.
    pub after_state: Option<serde_json::Value>,
    /// Request id.
    pub request_id: Option<String>,
}

/// Filters for [`Store::audit_entries`].
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Exact action name.
    pub action: Option<String>,
    /// Exact target type.
    pub target_type: Option<String>,
    /// Exact target id.
    pub target_id: Option<String>,
    /// Acting user id.
    pub actor_id: Option<i64>,
    /// Actor label (e-mail, `cli:…`, `sa:…`), case-insensitive.
    pub actor: Option<String>,
    /// Not before.
    pub since: Option<Timestamp>,
    /// Before this instant.
    pub until: Option<Timestamp>,
    /// At most this many (newest first).
    pub limit: i64,
}

impl Store {
    /// Audit rows matching `filter`, newest first.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn audit_entries(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>> {
        const SQL: &str = "SELECT id, timestamp, actor_id, actor, action, target_type, target_id, \
             before_state, after_state, request_id FROM audit_log \
             WHERE ($1 IS NULL OR action = $1) AND ($2 IS NULL OR target_type = $2) \
             AND ($3 IS NULL OR target_id = $3) AND ($4 IS NULL OR actor_id = $4) \
             AND ($5 IS NULL OR timestamp >= $5) AND ($7 IS NULL OR timestamp < $7) \
             AND ($8 IS NULL OR lower(actor) = lower($8)) ORDER BY id DESC LIMIT $6";
        type Row = (
            i64,
            i64,
            Option<i64>,
            String,
            String,
            String,
            String,
            Option<String>,
            Option<String>,
            Option<String>,
        );
        let limit = if filter.limit <= 0 {
            100
        } else {
            filter.limit.min(10_000)
        };
        let rows: Vec<Row> = on_db!(self.db(), pool => {
            sqlx::query_as(SQL)
                .bind(&filter.action)
                .bind(&filter.target_type)
                .bind(&filter.target_id)
                .bind(filter.actor_id)
                .bind(filter.since.map(|t| t.0))
                .bind(limit)
                .bind(filter.until.map(|t| t.0))
                .bind(&filter.actor)
                .fetch_all(pool)
                .await
        })?;
        let parse = |s: Option<String>| s.and_then(|s| serde_json::from_str(&s).ok());
        Ok(rows
            .into_iter()
            .map(|r| AuditEntry {
                id: r.0,
                timestamp: Timestamp(r.1),
                actor_id: r.2,
                actor: r.3,
                action: r.4,
                target_type: r.5,
                target_id: r.6,
                before_state: parse(r.7),
                after_state: parse(r.8),
                request_id: r.9,
            })
            .collect())
    }
}

impl Store {
    /// Number of rows in the audit log (tests and probes).
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn audit_count(&self) -> Result<i64> {
        const SQL: &str = "SELECT COUNT(*) FROM audit_log";
        Ok(on_db!(self.db(), pool => sqlx::query_scalar(SQL).fetch_one(pool).await)?)
    }
}
