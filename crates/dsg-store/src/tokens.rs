//! User and service-account tokens, stored as SHA-256 only, and the
//! listings of a user's tokens with their scopes.

use std::collections::BTreeSet;

use dsg_core::permissions::TokenScope;
use dsg_core::token::{ApiToken, TokenHash};
use dsg_core::{DomainError, Timestamp};
use serde::Serialize;

use crate::events::CacheEvent;
use crate::{Result, Store, WriteTx, now_micros, on_db, on_tx};

/// Whose token it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PrincipalRef {
    /// A human user (`api_key`).
    User(i64),
    /// A service account (`service_account_token`).
    ServiceAccount(i64),
}

/// A token found by its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    /// Row id in its table.
    pub token_id: i64,
    /// Owner.
    pub principal: PrincipalRef,
    /// Expiry, if any.
    pub expires_at: Option<Timestamp>,
    /// Narrowing carried by the token.
    pub scope: TokenScope,
}

/// A user token as listed to its owner (never the secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenInfo {
    /// Row id.
    pub id: i64,
    /// Owner's user id.
    pub user_id: i64,
    /// Owner's e-mail.
    pub email: String,
    /// Free text.
    pub description: String,
    /// First characters of the token.
    pub prefix: String,
    /// Creation time.
    pub created: Timestamp,
    /// Last authentication (batched, minute resolution).
    pub last_used: Option<Timestamp>,
    /// Expiry.
    pub expires_at: Option<Timestamp>,
}

/// Options for a new user token.
#[derive(Debug, Clone, Default)]
pub struct NewToken {
    /// Free text.
    pub description: String,
    /// Expiry; `None` = never.
    pub expires_at: Option<Timestamp>,
    /// Narrowing.
    pub scope: TokenScope,
    /// Use this literal value instead of generating one (fixtures only).
    pub literal: Option<ApiToken>,
}

/// Which table a batched `last_used` update targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenTable {
    /// `api_key`.
    User,
    /// `service_account_token`.
    ServiceAccount,
}

const LOOKUP_SQL: &str = "\
SELECT 'u' AS kind, id, user_id AS owner, expires_at, scope_read_only, scope_datasets \
  FROM api_key WHERE key_hash = $1 \
UNION ALL \
SELECT 's', id, service_account_id, expires_at, FALSE, FALSE \
  FROM service_account_token WHERE key_hash = $1";

impl Store {
    /// Finds a token by hash in either token table.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn lookup_token(&self, hash: &TokenHash) -> Result<Option<TokenRecord>> {
        const SCOPE_SQL: &str = "SELECT d.name FROM api_key_dataset k \
             JOIN dataset d ON d.id = k.dataset_id WHERE k.api_key_id = $1";
        let row: Option<(String, i64, i64, Option<i64>, bool, bool)> = on_db!(self.db(), pool => {
            sqlx::query_as(LOOKUP_SQL).bind(&hash.0[..]).fetch_optional(pool).await
        })?;
        let Some((kind, token_id, owner, expires_at, read_only, scoped)) = row else {
            return Ok(None);
        };
        let datasets = if scoped {
            let names: Vec<String> = on_db!(self.db(), pool => {
                sqlx::query_scalar(SCOPE_SQL).bind(token_id).fetch_all(pool).await
            })?;
            Some(names.into_iter().collect::<BTreeSet<_>>())
        } else {
            None
        };
        Ok(Some(TokenRecord {
            token_id,
            principal: if kind == "u" {
                PrincipalRef::User(owner)
            } else {
                PrincipalRef::ServiceAccount(owner)
            },
            expires_at: expires_at.map(Timestamp),
            scope: TokenScope {
                read_only,
                datasets,
            },
        }))
    }

    /// Lists user tokens, newest first; all users' when `user_id` is `None`.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn list_user_tokens(&self, user_id: Option<i64>) -> Result<Vec<TokenInfo>> {
        const SQL: &str = "SELECT k.id, k.user_id, u.email, k.description, k.key_prefix, k.created, \
             k.last_used, k.expires_at FROM api_key k JOIN dsg_user u ON u.id = k.user_id \
             WHERE ($1 IS NULL OR k.user_id = $1) ORDER BY k.created DESC, k.id DESC";
        type Row = (
            i64,
            i64,
            String,
            String,
            String,
            i64,
            Option<i64>,
            Option<i64>,
        );
        let rows: Vec<Row> = on_db!(self.db(), pool => {
            sqlx::query_as(SQL).bind(user_id).fetch_all(pool).await
        })?;
        Ok(rows
            .into_iter()
            .map(
                |(id, user_id, email, description, prefix, created, last_used, expires_at)| {
                    TokenInfo {
                        id,
                        user_id,
                        email,
                        description,
                        prefix,
                        created: Timestamp(created),
                        last_used: last_used.map(Timestamp),
                        expires_at: expires_at.map(Timestamp),
                    }
                },
            )
            .collect())
    }

    /// Writes batched `last_used` times in one transaction, grouped into
    /// `UPDATE … WHERE id IN (…)` statements (no audit: not a change of access).
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn flush_last_used(&self, batch: &[(TokenTable, i64, Timestamp)]) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        // Group by (table, time): marks made in the same second share a statement.
        let mut groups: std::collections::BTreeMap<(u8, i64), Vec<i64>> = Default::default();
        for (table, id, at) in batch {
            let t = match table {
                TokenTable::User => 0u8,
                TokenTable::ServiceAccount => 1u8,
            };
            groups.entry((t, at.0)).or_default().push(*id);
        }
        on_db!(&self.write_db, pool => {
            let mut tx = pool.begin().await?;
            for ((table, at), ids) in &groups {
                let name = if *table == 0 { "api_key" } else { "service_account_token" };
                for chunk in ids.chunks(500) {
                    // Safe: the table name is one of two constants; values are bound.
                    let sql = format!(
                        "UPDATE {name} SET last_used = $1 WHERE id IN ({})",
                        crate::placeholders(2, chunk.len())
                    );
                    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(*at);
                    for id in chunk {
                        q = q.bind(*id);
                    }
                    q.execute(&mut *tx).await?;
                }
            }
            tx.commit().await?;
        });
        Ok(())
    }
}

impl WriteTx {
    /// Creates a user token and returns its id and plaintext (shown once).
    ///
    /// # Errors
    /// Unknown user or dataset in the scope; a literal value already in use.
    pub async fn create_user_token(
        &mut self,
        user_id: i64,
        new: NewToken,
    ) -> Result<(i64, ApiToken)> {
        const SQL: &str = "INSERT INTO api_key (user_id, key_hash, key_prefix, description, created, \
             expires_at, scope_read_only, scope_datasets) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id";
        const SCOPE: &str = "INSERT INTO api_key_dataset (api_key_id, dataset_id) \
             SELECT $1, id FROM dataset WHERE name = $2";
        let token = match new.literal {
            Some(t) => t,
            None => ApiToken::generate()?,
        };
        let hash = token.hash();
        let id: i64 = on_tx!(&mut self.tx, conn => {
            sqlx::query_scalar(SQL)
                .bind(user_id)
                .bind(&hash.0[..])
                .bind(token.prefix())
                .bind(&new.description)
                .bind(now_micros())
                .bind(new.expires_at.map(|t| t.0))
                .bind(new.scope.read_only)
                .bind(new.scope.datasets.is_some())
                .fetch_one(conn)
                .await
        })?;
        for name in new.scope.datasets.iter().flatten() {
            let n = on_tx!(&mut self.tx, conn => {
                sqlx::query(SCOPE).bind(id).bind(name).execute(conn).await.map(|r| r.rows_affected())
            })?;
            if n == 0 {
                return Err(
                    DomainError::not_found(dsg_core::error::EntityKind::Dataset, name).into(),
                );
            }
        }
        self.invalidate(CacheEvent::Token(hash));
        self.audit(
            "api_token_created",
            "APIKey",
            id,
            None,
            Some(serde_json::json!({
                "user_id": user_id,
                "description": new.description,
                "expires_at": new.expires_at.map(|t| t.to_rfc3339()),
                "read_only": new.scope.read_only,
                "datasets": new.scope.datasets,
            })),
        )
        .await?;
        Ok((id, token))
    }

    /// Deletes a user token by id; returns the owner's id, or `None` if no such token.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn revoke_user_token(&mut self, token_id: i64) -> Result<Option<i64>> {
        self.revoke_user_token_for(token_id, None).await
    }

    /// Keeps only the `keep` newest never-expiring tokens of this user with
    /// this description and revokes the rest (each audited with `reason`);
    /// returns how many were revoked.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn prune_user_tokens(
        &mut self,
        user_id: i64,
        description: &str,
        keep: usize,
        reason: &str,
    ) -> Result<usize> {
        const SQL: &str = "SELECT id FROM api_key WHERE user_id = $1 AND description = $2 \
             AND expires_at IS NULL ORDER BY created DESC, id DESC";
        let ids: Vec<i64> = on_tx!(&mut self.tx, conn => {
            sqlx::query_scalar(SQL).bind(user_id).bind(description).fetch_all(conn).await
        })?;
        let surplus = ids.get(keep..).unwrap_or_default();
        for id in surplus {
            self.revoke_user_token_for(*id, Some(reason)).await?;
        }
        Ok(surplus.len())
    }

    async fn revoke_user_token_for(
        &mut self,
        token_id: i64,
        reason: Option<&str>,
    ) -> Result<Option<i64>> {
        const SQL: &str =
            "DELETE FROM api_key WHERE id = $1 RETURNING user_id, key_hash, description";
        let row: Option<(i64, Vec<u8>, String)> = on_tx!(&mut self.tx, conn => {
            sqlx::query_as(SQL).bind(token_id).fetch_optional(conn).await
        })?;
        let Some((user_id, hash, description)) = row else {
            return Ok(None);
        };
        if let Some(h) = TokenHash::from_slice(&hash) {
            self.invalidate(CacheEvent::Token(h));
        }
        self.audit(
            "api_token_revoked",
            "APIKey",
            token_id,
            Some(match reason {
                None => serde_json::json!({"user_id": user_id, "description": description}),
                Some(r) => {
                    serde_json::json!({"user_id": user_id, "description": description, "reason": r})
                }
            }),
            None,
        )
        .await?;
        Ok(Some(user_id))
    }

    /// Deletes the user token with this hash (logout); returns its id if it existed.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn revoke_user_token_by_hash(&mut self, hash: &TokenHash) -> Result<Option<i64>> {
        self.revoke_user_token_where(hash, None).await
    }

    /// Revokes the user token with this hash only when its description is
    /// `description` (the login flow's tokens); returns its id.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn revoke_user_token_described(
        &mut self,
        hash: &TokenHash,
        description: &str,
    ) -> Result<Option<i64>> {
        self.revoke_user_token_where(hash, Some(description)).await
    }

    async fn revoke_user_token_where(
        &mut self,
        hash: &TokenHash,
        description: Option<&str>,
    ) -> Result<Option<i64>> {
        const SQL: &str = "SELECT id FROM api_key WHERE key_hash = $1 \
             AND ($2 IS NULL OR description = $2)";
        let id: Option<i64> = on_tx!(&mut self.tx, conn => {
            sqlx::query_scalar(SQL).bind(&hash.0[..]).bind(description).fetch_optional(conn).await
        })?;
        match id {
            Some(id) => self.revoke_user_token(id).await.map(|_| Some(id)),
            None => Ok(None),
        }
    }
}

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
}
