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
    /// The person's long-lived token (the only credential that may rotate it).
    pub long_lived: bool,
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
    /// The person's long-lived token (`GET /api/v1/long_lived_token`).
    pub long_lived: bool,
    /// For a delegated key: the registered client it was delivered to.
    pub client: Option<ClientRef>,
}

/// The registered web client a delegated key belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClientRef {
    /// Row id.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// Its exact origin.
    pub origin: String,
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
    /// Use this literal value instead of generating one (fixtures and
    /// derived long-lived tokens).
    pub literal: Option<ApiToken>,
    /// Marks the person's long-lived token.
    pub long_lived: bool,
    /// The derivation generation of a long-lived token (one live per person).
    pub generation: Option<i64>,
    /// A delegated key for this registered client (no admin power).
    pub delegated_client: Option<i64>,
    /// What a delegated key's value is derived from (with the server's key).
    pub salt: Option<Vec<u8>>,
}

/// Which table a batched `last_used` update targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenTable {
    /// `api_key`.
    User,
    /// `service_account_token`.
    ServiceAccount,
}

/// A row of [`Store::list_user_tokens`].
#[derive(sqlx::FromRow)]
struct InfoRow {
    id: i64,
    user_id: i64,
    email: String,
    description: String,
    key_prefix: String,
    created: i64,
    last_used: Option<i64>,
    expires_at: Option<i64>,
    long_lived: bool,
    client_id: Option<i64>,
    client_name: Option<String>,
    client_origin: Option<String>,
}

impl InfoRow {
    fn into_info(self) -> TokenInfo {
        TokenInfo {
            id: self.id,
            user_id: self.user_id,
            email: self.email,
            description: self.description,
            prefix: self.key_prefix,
            created: Timestamp(self.created),
            last_used: self.last_used.map(Timestamp),
            expires_at: self.expires_at.map(Timestamp),
            long_lived: self.long_lived,
            client: match (self.client_id, self.client_name, self.client_origin) {
                (Some(id), Some(name), Some(origin)) => Some(ClientRef { id, name, origin }),
                _ => None,
            },
        }
    }
}

const LOOKUP_SQL: &str = "\
SELECT 'u' AS kind, id, user_id AS owner, expires_at, scope_read_only, scope_datasets, \
       delegated_client_id IS NOT NULL AS delegated, long_lived \
  FROM api_key WHERE key_hash = $1 \
UNION ALL \
SELECT 's', id, service_account_id, expires_at, FALSE, FALSE, FALSE, FALSE \
  FROM service_account_token WHERE key_hash = $1";

/// A token row as read: kind (`u`/`s`), id, owner, expiry, read-only,
/// dataset-limited, delegated, long-lived.
type TokenRow = (String, i64, i64, Option<i64>, bool, bool, bool, bool);

impl Store {
    /// Finds a token by hash in either token table.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn lookup_token(&self, hash: &TokenHash) -> Result<Option<TokenRecord>> {
        // SQLite: a synchronous read (crate::quick_read); sqlx if it fails.
        let quick = self.quick(|c| {
            use rusqlite::OptionalExtension;
            c.prepare_cached(LOOKUP_SQL)?
                .query_row([&hash.0[..]], |r| r.try_into())
                .optional()
        });
        let row: Option<TokenRow> = match quick {
            Some(row) => row,
            None => on_db!(self.db(), pool => {
                sqlx::query_as(LOOKUP_SQL).bind(&hash.0[..]).fetch_optional(pool).await
            })?,
        };
        match row {
            Some(row) => self.token_record(row).await.map(Some),
            None => Ok(None),
        }
    }

    /// A user token (`api_key`) by row id, with its scope.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn user_token_by_id(&self, id: i64) -> Result<Option<TokenRecord>> {
        const SQL: &str = "SELECT 'u', id, user_id, expires_at, scope_read_only, scope_datasets, \
             delegated_client_id IS NOT NULL, long_lived FROM api_key WHERE id = $1";
        let row: Option<TokenRow> = on_db!(self.db(), pool => {
            sqlx::query_as(SQL).bind(id).fetch_optional(pool).await
        })?;
        match row {
            Some(row) => self.token_record(row).await.map(Some),
            None => Ok(None),
        }
    }

    /// Completes a token row with the names of a dataset-limited token.
    async fn token_record(&self, row: TokenRow) -> Result<TokenRecord> {
        const SCOPE_SQL: &str = "SELECT d.name FROM api_key_dataset k \
             JOIN dataset d ON d.id = k.dataset_id WHERE k.api_key_id = $1";
        let (kind, token_id, owner, expires_at, read_only, scoped, delegated, long_lived) = row;
        let datasets = if scoped {
            let names: Vec<String> = on_db!(self.db(), pool => {
                sqlx::query_scalar(SCOPE_SQL).bind(token_id).fetch_all(pool).await
            })?;
            Some(names.into_iter().collect::<BTreeSet<_>>())
        } else {
            None
        };
        Ok(TokenRecord {
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
                delegated,
            },
            long_lived,
        })
    }

    /// Lists user tokens, newest first; all users' when `user_id` is `None`.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn list_user_tokens(&self, user_id: Option<i64>) -> Result<Vec<TokenInfo>> {
        const SQL: &str = "SELECT k.id, k.user_id, u.email, k.description, k.key_prefix, k.created, \
             k.last_used, k.expires_at, k.long_lived, c.id AS client_id, c.name AS client_name, \
             c.origin AS client_origin \
             FROM api_key k JOIN dsg_user u ON u.id = k.user_id \
             LEFT JOIN registered_client c ON c.id = k.delegated_client_id \
             WHERE ($1 IS NULL OR k.user_id = $1) ORDER BY k.created DESC, k.id DESC";
        let rows: Vec<InfoRow> = on_db!(self.db(), pool => {
            sqlx::query_as(SQL).bind(user_id).fetch_all(pool).await
        })?;
        Ok(rows.into_iter().map(InfoRow::into_info).collect())
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
        let (id, token) = self.insert_user_token(user_id, &new).await?;
        let client_origin = match new.delegated_client {
            Some(c) => self.client_origin(c).await?,
            None => None,
        };
        let mut after = serde_json::json!({
            "user_id": user_id,
            "description": new.description,
            "expires_at": new.expires_at.map(|t| t.to_rfc3339()),
            "read_only": new.scope.read_only,
            "datasets": new.scope.datasets,
        });
        if new.long_lived {
            after["long_lived"] = true.into();
            after["generation"] = new.generation.into();
        }
        if let Some(origin) = client_origin {
            after["client_origin"] = origin.into();
        }
        self.audit("api_token_created", "APIKey", id, None, Some(after))
            .await?;
        Ok((id, token))
    }

    /// Writes a user token row (and its dataset scope) without an audit row:
    /// the callers write the one that names the whole change.
    pub(crate) async fn insert_user_token(
        &mut self,
        user_id: i64,
        new: &NewToken,
    ) -> Result<(i64, ApiToken)> {
        const SQL: &str = "INSERT INTO api_key (user_id, key_hash, key_prefix, description, created, \
             expires_at, scope_read_only, scope_datasets, long_lived, generation, delegated_client_id, \
             derivation_salt) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id";
        const SCOPE: &str = "INSERT INTO api_key_dataset (api_key_id, dataset_id) \
             SELECT $1, id FROM dataset WHERE name = $2";
        let token = match &new.literal {
            Some(t) => t.clone(),
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
                .bind(new.long_lived)
                .bind(new.generation)
                .bind(new.delegated_client)
                .bind(new.salt.as_deref())
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
        Ok((id, token))
    }

    /// Deletes a user token by id; returns the owner's id, or `None` if no such token.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn revoke_user_token(&mut self, token_id: i64) -> Result<Option<i64>> {
        self.revoke_user_token_for(token_id, None).await
    }

    pub(crate) async fn revoke_user_token_for(
        &mut self,
        token_id: i64,
        reason: Option<&str>,
    ) -> Result<Option<i64>> {
        const SQL: &str = "DELETE FROM api_key WHERE id = $1 \
             RETURNING user_id, key_hash, description, delegated_client_id";
        let row: Option<(i64, Vec<u8>, String, Option<i64>)> = on_tx!(&mut self.tx, conn => {
            sqlx::query_as(SQL).bind(token_id).fetch_optional(conn).await
        })?;
        let Some((user_id, hash, description, client)) = row else {
            return Ok(None);
        };
        if let Some(h) = TokenHash::from_slice(&hash) {
            self.invalidate(CacheEvent::Token(h));
        }
        let mut before = serde_json::json!({"user_id": user_id, "description": description});
        if let Some(r) = reason {
            before["reason"] = r.into();
        }
        if let Some(c) = client
            && let Some(origin) = self.client_origin(c).await?
        {
            before["client_origin"] = origin.into();
        }
        self.audit("api_token_revoked", "APIKey", token_id, Some(before), None)
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
                let delegated = t.client.is_some();
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
                        delegated,
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
