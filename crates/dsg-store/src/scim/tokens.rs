//! Dedicated SCIM bearer tokens, one per identity provider: 256 random bits
//! shown once, stored as SHA-256, revocable. Looked up on every SCIM request
//! (no cache), so a revocation takes effect at once.

use dsg_core::token::{ApiToken, TokenHash};
use dsg_core::{DomainError, Timestamp};
use serde::Serialize;
use serde_json::json;

use crate::{Result, Store, WriteTx, now_micros, on_db, on_tx};

/// A SCIM token as listed (never the secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScimTokenInfo {
    /// Row id.
    pub id: i64,
    /// Name (the identity provider it is for).
    pub name: String,
    /// First characters of the token.
    pub prefix: String,
    /// Created.
    pub created: Timestamp,
    /// Last use (minute resolution).
    pub last_used: Option<Timestamp>,
    /// Revoked.
    pub revoked_at: Option<Timestamp>,
}

impl WriteTx {
    /// Creates a SCIM token; returns its id and plaintext (shown once).
    ///
    /// # Errors
    /// [`DomainError::Conflict`] when the name is taken; invalid names.
    pub async fn create_scim_token(&mut self, name: &str) -> Result<(i64, ApiToken)> {
        let name = name.trim();
        if name.is_empty() || name.len() > 100 || name.chars().any(char::is_control) {
            return Err(DomainError::Invalid(
                "a SCIM token needs a name of 1 to 100 characters".into(),
            )
            .into());
        }
        let token = ApiToken::generate()?;
        const SQL: &str = "INSERT INTO scim_token (name, key_hash, key_prefix, created_by_id, created) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id";
        let actor = self.actor().id;
        let id: i64 = on_tx!(&mut self.tx, conn => {
            sqlx::query_scalar(SQL)
                .bind(name)
                .bind(&token.hash().0[..])
                .bind(token.prefix())
                .bind(actor)
                .bind(now_micros())
                .fetch_one(conn)
                .await
        })
        .map_err(|e| match crate::StoreError::from(e) {
            e if e.is_unique_violation() => {
                DomainError::Conflict(format!("a SCIM token named {name:?} exists already")).into()
            }
            e => e,
        })?;
        self.audit(
            "scim_token_created",
            "SCIMToken",
            id,
            None,
            Some(json!({"name": name})),
        )
        .await?;
        Ok((id, token))
    }

    /// Revokes the live token with this name (or numeric id); returns whether one was.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn revoke_scim_token(&mut self, name_or_id: &str) -> Result<bool> {
        const SQL: &str = "UPDATE scim_token SET revoked_at = $1 \
             WHERE (name = $2 OR CAST(id AS TEXT) = $2) AND revoked_at IS NULL RETURNING id";
        let id: Option<i64> = on_tx!(&mut self.tx, conn => {
            sqlx::query_scalar(SQL).bind(now_micros()).bind(name_or_id).fetch_optional(conn).await
        })?;
        let Some(id) = id else { return Ok(false) };
        self.audit(
            "scim_token_revoked",
            "SCIMToken",
            id,
            None,
            Some(json!({"name": name_or_id})),
        )
        .await?;
        Ok(true)
    }
}

impl Store {
    /// The live SCIM token with this hash: `(id, name)`. Marks it used (at most once a minute).
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn scim_token(&self, hash: &TokenHash) -> Result<Option<(i64, String)>> {
        const SQL: &str =
            "SELECT id, name FROM scim_token WHERE key_hash = $1 AND revoked_at IS NULL";
        const MARK: &str = "UPDATE scim_token SET last_used = $1 WHERE id = $2 \
             AND (last_used IS NULL OR last_used < $3)";
        let row: Option<(i64, String)> = on_db!(self.db(), pool => {
            sqlx::query_as(SQL).bind(&hash.0[..]).fetch_optional(pool).await
        })?;
        if let Some((id, _)) = &row {
            let now = now_micros();
            on_db!(&self.write_db, pool => {
                sqlx::query(MARK).bind(now).bind(*id).bind(now - 60_000_000).execute(pool).await.map(|r| r.rows_affected())
            })?;
        }
        Ok(row)
    }

    /// Every SCIM token, newest first.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn list_scim_tokens(&self) -> Result<Vec<ScimTokenInfo>> {
        const SQL: &str = "SELECT id, name, key_prefix, created, last_used, revoked_at FROM scim_token \
             ORDER BY created DESC, id DESC";
        type Row = (i64, String, String, i64, Option<i64>, Option<i64>);
        let rows: Vec<Row> = on_db!(self.db(), pool => sqlx::query_as(SQL).fetch_all(pool).await)?;
        Ok(rows
            .into_iter()
            .map(
                |(id, name, prefix, created, last_used, revoked_at)| ScimTokenInfo {
                    id,
                    name,
                    prefix,
                    created: Timestamp(created),
                    last_used: last_used.map(Timestamp),
                    revoked_at: revoked_at.map(Timestamp),
                },
            )
            .collect())
    }
}
