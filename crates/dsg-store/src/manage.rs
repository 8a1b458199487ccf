//! Read queries behind the native management API (listings with ids,
//! expiry and scope), kept apart from the hot-path loaders.

use std::collections::BTreeSet;

use dsg_core::Timestamp;
use dsg_core::permissions::TokenScope;

use crate::tokens::TokenInfo;
use crate::{Result, Store, on_db};

impl Store {
    /// The caller's tokens with their scopes, newest first.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn list_token_scopes(&self, user_id: i64) -> Result<Vec<(TokenInfo, TokenScope)>> {
        const SQL: &str =
            "SELECT k.id, k.scope_read_only, k.scope_datasets FROM api_key k WHERE k.user_id = $1";
        const NAMES: &str = "SELECT kd.api_key_id, d.name FROM api_key_dataset kd \
             JOIN api_key k ON k.id = kd.api_key_id JOIN dataset d ON d.id = kd.dataset_id \
             WHERE k.user_id = $1";
        let tokens = self.list_user_tokens(Some(user_id)).await?;
        let flags: Vec<(i64, bool, bool)> =
            on_db!(self.db(), pool => sqlx::query_as(SQL).bind(user_id).fetch_all(pool).await)?;
        let names: Vec<(i64, String)> =
            on_db!(self.db(), pool => sqlx::query_as(NAMES).bind(user_id).fetch_all(pool).await)?;
        Ok(tokens
            .into_iter()
            .map(|t| {
                let (ro, scoped) = flags
                    .iter()
                    .find(|f| f.0 == t.id)
                    .map_or((false, false), |f| (f.1, f.2));
                let datasets = scoped.then(|| {
                    names
                        .iter()
                        .filter(|n| n.0 == t.id)
                        .map(|n| n.1.clone())
                        .collect::<BTreeSet<_>>()
                });
                (
                    t,
                    TokenScope {
                        read_only: ro,
                        datasets,
                    },
                )
            })
            .collect())
    }

    /// Owner of a user token.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn user_token_owner(&self, token_id: i64) -> Result<Option<i64>> {
        const SQL: &str = "SELECT user_id FROM api_key WHERE id = $1";
        Ok(
            on_db!(self.db(), pool => sqlx::query_scalar(SQL).bind(token_id).fetch_optional(pool).await)?,
        )
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

/// `true` when something with this expiry no longer counts at `now`.
pub fn expired(expires_at: Option<Timestamp>, now: Timestamp) -> bool {
    expires_at.is_some_and(|e| e <= now)
}
