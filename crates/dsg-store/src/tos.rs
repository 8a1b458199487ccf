//! Terms of service: the documents, their acceptances and retirement.

use dsg_core::Timestamp;
use serde_json::json;

use crate::events::CacheEvent;

use crate::{Result, Store, WriteTx, on_db, on_tx};

/// A TOS document with its scope, as the native API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TosRow {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Text (Markdown source; shown escaped).
    pub text: String,
    /// Dataset id.
    pub dataset_id: Option<i64>,
    /// Dataset name.
    pub dataset: Option<String>,
    /// Dataset access mode.
    pub access_mode: Option<String>,
    /// Version name.
    pub version: Option<String>,
    /// Service slug.
    pub service: Option<String>,
    /// In force from.
    pub effective_at: Timestamp,
    /// Retired from.
    pub retired_at: Option<Timestamp>,
    /// Landing-page token.
    pub invite_token: String,
}

impl TosRow {
    /// In force at `now`.
    pub fn in_force(&self, now: Timestamp) -> bool {
        self.effective_at <= now && self.retired_at.is_none_or(|r| now < r)
    }
}

impl Store {
    /// A TOS document by id.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn tos_document(&self, id: i64) -> Result<Option<TosRow>> {
        let sql = format!("{TOS_ROW} WHERE t.id = $1");
        let r: Option<TosDbRow> = on_db!(self.db(), pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone())).bind(id).fetch_optional(pool).await)?;
        Ok(r.map(tos_row))
    }

    /// A TOS document by its landing-page token.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn tos_by_invite(&self, token: &str) -> Result<Option<TosRow>> {
        let sql = format!("{TOS_ROW} WHERE t.invite_token = $1");
        let r: Option<TosDbRow> = on_db!(self.db(), pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone())).bind(token).fetch_optional(pool).await)?;
        Ok(r.map(tos_row))
    }

    /// Whether the user (the parent, for legacy parent-linked users) accepted the TOS.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn has_accepted(&self, user_id: i64, tos_id: i64) -> Result<bool> {
        const SQL: &str = "SELECT COUNT(*) FROM tos_acceptance a JOIN dsg_user u ON a.user_id = COALESCE(u.parent_id, u.id) \
             WHERE u.id = $1 AND a.tos_document_id = $2";
        let n: i64 = on_db!(self.db(), pool => sqlx::query_scalar(SQL).bind(user_id).bind(tos_id).fetch_one(pool).await)?;
        Ok(n > 0)
    }

    /// Every TOS document of a dataset (any version or service), with whether
    /// it is the dataset's gate; by service then name.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn dataset_tos_documents(&self, dataset_id: i64) -> Result<Vec<(TosRow, bool)>> {
        const GATE: &str = "SELECT tos_id FROM dataset WHERE id = $1";
        let sql = format!(
            "{TOS_ROW} WHERE t.dataset_id = $1 OR t.id = (SELECT tos_id FROM dataset WHERE id = $1) \
             ORDER BY COALESCE(s.name, ''), t.name, t.id"
        );
        let gate: Option<Option<i64>> = on_db!(self.db(), pool => sqlx::query_scalar(GATE).bind(dataset_id).fetch_optional(pool).await)?;
        let gate = gate.flatten();
        let rows: Vec<TosDbRow> = on_db!(self.db(), pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone())).bind(dataset_id).fetch_all(pool).await)?;
        Ok(rows
            .into_iter()
            .map(tos_row)
            .map(|t| {
                let g = Some(t.id) == gate;
                (t, g)
            })
            .collect())
    }

    /// The TOS documents a user accepted: `(tos id, name, accepted at)`, newest first.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn tos_acceptances(&self, user_id: i64) -> Result<Vec<(i64, String, Timestamp)>> {
        const SQL: &str = "SELECT t.id, t.name, a.accepted_at FROM tos_acceptance a \
             JOIN tos_document t ON t.id = a.tos_document_id WHERE a.user_id = $1 \
             ORDER BY a.accepted_at DESC, a.id DESC";
        let rows: Vec<(i64, String, i64)> =
            on_db!(self.db(), pool => sqlx::query_as(SQL).bind(user_id).fetch_all(pool).await)?;
        Ok(rows
            .into_iter()
            .map(|(id, name, at)| (id, name, Timestamp(at)))
            .collect())
    }
}

impl WriteTx {
    /// Sets a TOS document's retirement instant (`None` un-retires it).
    ///
    /// # Errors
    /// [`dsg_core::DomainError::NotFound`] for an unknown id.
    pub async fn retire_tos(&mut self, tos_id: i64, at: Option<dsg_core::Timestamp>) -> Result<()> {
        const SQL: &str = "UPDATE tos_document SET retired_date = $1 WHERE id = $2";
        let n = on_tx!(&mut self.tx, conn => sqlx::query(SQL).bind(at.map(|t| t.0)).bind(tos_id).execute(conn).await.map(|r| r.rows_affected()))?;
        if n == 0 {
            return Err(
                dsg_core::DomainError::not_found(dsg_core::error::EntityKind::Tos, tos_id).into(),
            );
        }
        self.invalidate(CacheEvent::All);
        self.audit(
            "tos_document_updated",
            "TOSDocument",
            tos_id,
            None,
            Some(json!({"retired_date": at.map(|t| t.to_rfc3339())})),
        )
        .await
    }
}

const TOS_ROW: &str = "SELECT t.id, t.name, t.text, t.dataset_id, d.name, d.access_mode, v.version, s.name, \
     t.effective_date, t.retired_date, t.invite_token FROM tos_document t \
     LEFT JOIN dataset d ON d.id = t.dataset_id LEFT JOIN dataset_version v ON v.id = t.dataset_version_id \
     LEFT JOIN service s ON s.id = t.service_id";

type TosDbRow = (
    i64,
    String,
    String,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    i64,
    Option<i64>,
    String,
);

fn tos_row(r: TosDbRow) -> TosRow {
    TosRow {
        id: r.0,
        name: r.1,
        text: r.2,
        dataset_id: r.3,
        dataset: r.4,
        access_mode: r.5,
        version: r.6,
        service: r.7,
        effective_at: Timestamp(r.8),
        retired_at: r.9.map(Timestamp),
        invite_token: r.10,
    }
}
