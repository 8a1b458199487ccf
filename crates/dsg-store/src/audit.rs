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
    /// Rows about this dataset: it is the target, or the row's state names
    /// it (`dataset_id`).
    pub dataset_id: Option<i64>,
    /// Rows about this person: they are the target, or the row's state names
    /// them (`user_id`) — what was done to them, not what they did.
    pub affected_user_id: Option<i64>,
    /// At most this many (newest first).
    pub limit: i64,
}

/// The bound values that find rows whose target is `target_type` `id` or
/// whose state carries `"key":id` (serde_json writes no spaces).
fn about(target_type: &str, key: &str, id: Option<i64>) -> [Option<String>; 4] {
    match id {
        None => [None, None, None, None],
        Some(id) => [
            Some(target_type.to_owned()),
            Some(id.to_string()),
            Some(format!("%\"{key}\":{id},%")),
            Some(format!("%\"{key}\":{id}}}%")),
        ],
    }
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
             AND ($8 IS NULL OR lower(actor) = lower($8)) \
             AND ($10 IS NULL OR (target_type = $9 AND target_id = $10) \
                  OR before_state LIKE $11 OR before_state LIKE $12 \
                  OR after_state LIKE $11 OR after_state LIKE $12) \
             AND ($14 IS NULL OR (target_type = $13 AND target_id = $14) \
                  OR before_state LIKE $15 OR before_state LIKE $16 \
                  OR after_state LIKE $15 OR after_state LIKE $16) \
             ORDER BY id DESC LIMIT $6";
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
        let [d1, d2, d3, d4] = about("Dataset", "dataset_id", filter.dataset_id);
        let [u1, u2, u3, u4] = about("User", "user_id", filter.affected_user_id);
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
                .bind(&d1)
                .bind(&d2)
                .bind(&d3)
                .bind(&d4)
                .bind(&u1)
                .bind(&u2)
                .bind(&u3)
                .bind(&u4)
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
    /// The names of what audit rows refer to by id (users by e-mail,
    /// datasets, groups and service accounts by name); ids of deleted rows
    /// are left out.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn audit_names(
        &self,
        refs: &[(dsg_core::audit_text::Ref, i64)],
    ) -> Result<dsg_core::audit_text::Names> {
        use dsg_core::audit_text::Ref;
        let mut names = dsg_core::audit_text::Names::new();
        for kind in Ref::ALL {
            let mut ids: Vec<i64> = refs
                .iter()
                .filter(|(k, _)| *k == kind)
                .map(|(_, i)| *i)
                .collect();
            ids.sort_unstable();
            ids.dedup();
            let (table, column) = match kind {
                Ref::User => ("dsg_user", "email"),
                Ref::Dataset => ("dataset", "name"),
                Ref::Group => ("dsg_group", "name"),
                Ref::ServiceAccount => ("service_account", "name"),
            };
            for chunk in ids.chunks(500) {
                // Safe: fixed table and column names and numbered placeholders only.
                let sql = format!(
                    "SELECT id, {column} FROM {table} WHERE id IN ({})",
                    crate::placeholders(1, chunk.len())
                );
                let rows: Vec<(i64, String)> = on_db!(self.db(), pool => {
                    let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()));
                    for id in chunk {
                        q = q.bind(*id);
                    }
                    q.fetch_all(pool).await
                })?;
                names.extend(rows.into_iter().map(|(id, n)| ((kind, id), n)));
            }
        }
        Ok(names)
    }

    /// Number of rows in the audit log (tests and probes).
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn audit_count(&self) -> Result<i64> {
        const SQL: &str = "SELECT COUNT(*) FROM audit_log";
        Ok(on_db!(self.db(), pool => sqlx::query_scalar(SQL).fetch_one(pool).await)?)
    }
}
