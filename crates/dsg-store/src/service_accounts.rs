//! Service accounts: non-human principals with their own tokens and grants;
//! their writes (enable, disable, tokens, grants) and listings.

use dsg_core::token::ApiToken;
use dsg_core::token::TokenHash;
use dsg_core::{DomainError, Timestamp};
use serde_json::json;

use crate::datasets::{Bind, Binds, named_conflict};
use crate::events::CacheEvent;
use crate::{Result, Store, WriteTx, now_micros, on_db, on_tx};

/// Checks a service-account name: a slug of letters, digits, `-` and `_`.
///
/// # Errors
/// [`DomainError::Invalid`].
pub fn validate_slug(what: &str, name: &str) -> Result<(), DomainError> {
    if !name.is_empty()
        && name.len() <= 100
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        Ok(())
    } else {
        Err(DomainError::Invalid(format!(
            "{what} {name:?} must be 1-100 letters, digits, '-' or '_'"
        )))
    }
}

impl WriteTx {
    /// Creates a service account.
    ///
    /// # Errors
    /// Invalid name; [`DomainError::Conflict`] when taken.
    pub async fn create_service_account(
        &mut self,
        name: &str,
        description: &str,
        active: bool,
    ) -> Result<i64> {
        validate_slug("service-account name", name)?;
        const SQL: &str = "INSERT INTO service_account (name, description, is_active, created_by_id, created, updated) \
             VALUES ($1, $2, $3, $4, $5, $5) RETURNING id";
        let id = self
            .insert_id(
                SQL,
                Binds(vec![
                    Bind::S(name),
                    Bind::S(description),
                    Bind::B(active),
                    Bind::OI(self.actor().id),
                    Bind::I(now_micros()),
                ]),
            )
            .await
            .map_err(|e| named_conflict(e, "service account", name))?;
        self.invalidate(CacheEvent::ServiceAccount(id));
        self.audit(
            "service_account_created",
            "ServiceAccount",
            id,
            None,
            Some(json!({"name": name, "description": description})),
        )
        .await?;
        Ok(id)
    }

    /// Creates a service-account token; returns id and plaintext (shown once).
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn create_service_account_token(
        &mut self,
        sa_id: i64,
        description: &str,
    ) -> Result<(i64, ApiToken)> {
        self.create_service_account_token_with(sa_id, description, None)
            .await
    }

    /// As [`WriteTx::create_service_account_token`], keeping a literal value
    /// when given (imports of existing tokens).
    ///
    /// # Errors
    /// The database is unreachable; the value is already in use.
    pub async fn create_service_account_token_with(
        &mut self,
        sa_id: i64,
        description: &str,
        literal: Option<ApiToken>,
    ) -> Result<(i64, ApiToken)> {
        const SQL: &str = "INSERT INTO service_account_token (service_account_id, key_hash, key_prefix, description, created) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id";
        let token = match literal {
            Some(t) => t,
            None => ApiToken::generate()?,
        };
        let hash = token.hash();
        let id: i64 = crate::on_tx!(&mut self.tx, conn => {
            sqlx::query_scalar(SQL)
                .bind(sa_id)
                .bind(&hash.0[..])
                .bind(token.prefix())
                .bind(description)
                .bind(now_micros())
                .fetch_one(conn)
                .await
        })?;
        self.invalidate(CacheEvent::Token(hash));
        self.audit(
            "sa_token_created",
            "ServiceAccountToken",
            id,
            None,
            Some(json!({"service_account_id": sa_id, "description": description})),
        )
        .await?;
        Ok((id, token))
    }

    /// Grants a service account a permission.
    ///
    /// # Errors
    /// Unknown permission; [`DomainError::Conflict`] for a duplicate.
    pub async fn create_service_account_grant(
        &mut self,
        sa_id: i64,
        dataset_id: i64,
        version_id: Option<i64>,
        permission: &str,
        expires_at: Option<dsg_core::Timestamp>,
        service_id: Option<i64>,
    ) -> Result<i64> {
        let permission_id = self.permission_id(permission).await?;
        const SQL: &str = "INSERT INTO service_account_grant (service_account_id, dataset_id, dataset_version_id, \
             permission_id, granted_by_id, created, expires_at, service_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id";
        let id = self
            .insert_id(
                SQL,
                Binds(vec![
                    Bind::I(sa_id),
                    Bind::I(dataset_id),
                    Bind::OI(version_id),
                    Bind::I(permission_id),
                    Bind::OI(self.actor().id),
                    Bind::I(now_micros()),
                    Bind::OI(expires_at.map(|t| t.0)),
                    Bind::OI(service_id),
                ]),
            )
            .await
            .map_err(|e| named_conflict(e, "service-account grant of", permission))?;
        self.invalidate(CacheEvent::ServiceAccount(sa_id));
        self.audit(
            "sa_grant_created",
            "ServiceAccountGrant",
            id,
            None,
            Some(json!({"service_account_id": sa_id, "dataset_id": dataset_id, "permission": permission,
                        "version_id": version_id, "expires_at": expires_at.map(|t| t.to_rfc3339()),
                        "service_id": service_id})),
        )
        .await?;
        Ok(id)
    }
}

impl WriteTx {
    /// Changes a service account's description; `false` when it does not exist.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn set_service_account_description(
        &mut self,
        sa_id: i64,
        description: &str,
    ) -> Result<bool> {
        const GET: &str = "SELECT description FROM service_account WHERE id = $1";
        const SET: &str = "UPDATE service_account SET description = $1, updated = $2 WHERE id = $3";
        let old: Option<String> = crate::on_tx!(&mut self.tx, conn => sqlx::query_scalar(GET).bind(sa_id).fetch_optional(conn).await)?;
        let Some(old) = old else { return Ok(false) };
        crate::on_tx!(&mut self.tx, conn => sqlx::query(SET).bind(description).bind(now_micros()).bind(sa_id).execute(conn).await.map(|r| r.rows_affected()))?;
        self.audit(
            "service_account_updated",
            "ServiceAccount",
            sa_id,
            Some(json!({"description": old})),
            Some(json!({"description": description})),
        )
        .await?;
        Ok(true)
    }

    /// Deletes a service account with its tokens and grants; `false` when it
    /// does not exist. Its tokens stop working at once.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn delete_service_account(&mut self, sa_id: i64) -> Result<bool> {
        const HASHES: &str =
            "SELECT key_hash FROM service_account_token WHERE service_account_id = $1";
        const DEL_TOKENS: &str = "DELETE FROM service_account_token WHERE service_account_id = $1";
        const DEL_GRANTS: &str = "DELETE FROM service_account_grant WHERE service_account_id = $1";
        const DEL: &str = "DELETE FROM service_account WHERE id = $1 RETURNING name, description";
        let hashes: Vec<Vec<u8>> = crate::on_tx!(&mut self.tx, conn => sqlx::query_scalar(HASHES).bind(sa_id).fetch_all(conn).await)?;
        crate::on_tx!(&mut self.tx, conn => sqlx::query(DEL_TOKENS).bind(sa_id).execute(conn).await.map(|r| r.rows_affected()))?;
        crate::on_tx!(&mut self.tx, conn => sqlx::query(DEL_GRANTS).bind(sa_id).execute(conn).await.map(|r| r.rows_affected()))?;
        let row: Option<(String, String)> = crate::on_tx!(&mut self.tx, conn => sqlx::query_as(DEL).bind(sa_id).fetch_optional(conn).await)?;
        let Some((name, description)) = row else {
            return Ok(false);
        };
        for h in hashes
            .iter()
            .filter_map(|h| dsg_core::token::TokenHash::from_slice(h))
        {
            self.invalidate(CacheEvent::Token(h));
        }
        self.invalidate(CacheEvent::ServiceAccount(sa_id));
        self.audit(
            "service_account_deleted",
            "ServiceAccount",
            sa_id,
            Some(json!({"name": name, "description": description})),
            None,
        )
        .await?;
        Ok(true)
    }
}

/// A service account as listed to admins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAccountListing {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Enabled.
    pub is_active: bool,
    /// Creator's e-mail.
    pub created_by: Option<String>,
    /// Created.
    pub created: Timestamp,
}

impl Store {
    /// Id of a service account by name.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn service_account_id(&self, name: &str) -> Result<Option<i64>> {
        const SQL: &str = "SELECT id FROM service_account WHERE name = $1";
        Ok(
            on_db!(self.db(), pool => sqlx::query_scalar(SQL).bind(name).fetch_optional(pool).await)?,
        )
    }

    /// Every service account, by name.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn service_accounts(&self) -> Result<Vec<ServiceAccountListing>> {
        const SQL: &str = "SELECT s.id, s.name, s.description, s.is_active, u.email, s.created \
             FROM service_account s LEFT JOIN dsg_user u ON u.id = s.created_by_id ORDER BY s.name";
        let rows: Vec<(i64, String, String, bool, Option<String>, i64)> =
            on_db!(self.db(), pool => sqlx::query_as(SQL).fetch_all(pool).await)?;
        Ok(rows
            .into_iter()
            .map(
                |(id, name, description, is_active, created_by, created)| ServiceAccountListing {
                    id,
                    name,
                    description,
                    is_active,
                    created_by,
                    created: Timestamp(created),
                },
            )
            .collect())
    }

    /// One service account.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn service_account_detail(&self, id: i64) -> Result<Option<ServiceAccountListing>> {
        const SQL: &str = "SELECT s.id, s.name, s.description, s.is_active, u.email, s.created \
             FROM service_account s LEFT JOIN dsg_user u ON u.id = s.created_by_id WHERE s.id = $1";
        let row: Option<(i64, String, String, bool, Option<String>, i64)> =
            on_db!(self.db(), pool => sqlx::query_as(SQL).bind(id).fetch_optional(pool).await)?;
        Ok(
            row.map(|(id, name, description, is_active, created_by, created)| {
                ServiceAccountListing {
                    id,
                    name,
                    description,
                    is_active,
                    created_by,
                    created: Timestamp(created),
                }
            }),
        )
    }

    /// A service account's tokens: `(id, description, prefix, created, last_used)`.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn service_account_tokens(
        &self,
        sa_id: i64,
    ) -> Result<Vec<(i64, String, String, Timestamp, Option<Timestamp>)>> {
        const SQL: &str = "SELECT id, description, key_prefix, created, last_used FROM service_account_token \
             WHERE service_account_id = $1 ORDER BY id DESC";
        let rows: Vec<(i64, String, String, i64, Option<i64>)> =
            on_db!(self.db(), pool => sqlx::query_as(SQL).bind(sa_id).fetch_all(pool).await)?;
        Ok(rows
            .into_iter()
            .map(|(a, b, c, d, e)| (a, b, c, Timestamp(d), e.map(Timestamp)))
            .collect())
    }

    /// A service account's grants: `(id, dataset, version, permission, expires_at)`.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn service_account_grants(
        &self,
        sa_id: i64,
    ) -> Result<Vec<(i64, String, Option<String>, String, Option<Timestamp>)>> {
        const SQL: &str = "SELECT g.id, d.name, v.version, p.name, g.expires_at FROM service_account_grant g \
             JOIN dataset d ON d.id = g.dataset_id JOIN permission p ON p.id = g.permission_id \
             LEFT JOIN dataset_version v ON v.id = g.dataset_version_id \
             WHERE g.service_account_id = $1 ORDER BY g.id";
        type Row = (i64, String, Option<String>, String, Option<i64>);
        let rows: Vec<Row> =
            on_db!(self.db(), pool => sqlx::query_as(SQL).bind(sa_id).fetch_all(pool).await)?;
        Ok(rows
            .into_iter()
            .map(|(a, b, c, d, e)| (a, b, c, d, e.map(Timestamp)))
            .collect())
    }
}

impl WriteTx {
    /// Enables or disables a service account; `None` when it does not exist,
    /// else whether anything changed.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn set_service_account_active(
        &mut self,
        sa_id: i64,
        active: bool,
    ) -> Result<Option<bool>> {
        const GET: &str = "SELECT is_active FROM service_account WHERE id = $1";
        const SET: &str = "UPDATE service_account SET is_active = $1, updated = $2 WHERE id = $3";
        let cur: Option<bool> = on_tx!(&mut self.tx, conn => sqlx::query_scalar(GET).bind(sa_id).fetch_optional(conn).await)?;
        let Some(cur) = cur else { return Ok(None) };
        if cur == active {
            return Ok(Some(false));
        }
        on_tx!(&mut self.tx, conn => sqlx::query(SET).bind(active).bind(now_micros()).bind(sa_id).execute(conn).await.map(|r| r.rows_affected()))?;
        self.invalidate(CacheEvent::ServiceAccount(sa_id));
        self.audit(
            if active {
                "service_account_enabled"
            } else {
                "service_account_disabled"
            },
            "ServiceAccount",
            sa_id,
            Some(json!({"is_active": cur})),
            Some(json!({"is_active": active})),
        )
        .await?;
        Ok(Some(true))
    }

    /// Deletes a service-account token; `false` when it is not that account's.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn revoke_service_account_token(
        &mut self,
        sa_id: i64,
        token_id: i64,
    ) -> Result<bool> {
        const SQL: &str = "DELETE FROM service_account_token WHERE id = $1 AND service_account_id = $2 \
             RETURNING key_hash, description";
        let row: Option<(Vec<u8>, String)> = on_tx!(&mut self.tx, conn => sqlx::query_as(SQL).bind(token_id).bind(sa_id).fetch_optional(conn).await)?;
        let Some((hash, description)) = row else {
            return Ok(false);
        };
        if let Some(h) = TokenHash::from_slice(&hash) {
            self.invalidate(CacheEvent::Token(h));
        }
        self.audit(
            "sa_token_revoked",
            "ServiceAccountToken",
            token_id,
            Some(json!({"service_account_id": sa_id, "description": description})),
            None,
        )
        .await?;
        Ok(true)
    }

    /// Deletes a service-account grant; `false` when it is not that account's.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn revoke_service_account_grant(
        &mut self,
        sa_id: i64,
        grant_id: i64,
    ) -> Result<bool> {
        const SQL: &str = "DELETE FROM service_account_grant WHERE id = $1 AND service_account_id = $2 \
             RETURNING dataset_id, permission_id, dataset_version_id";
        let row: Option<(i64, i64, Option<i64>)> = on_tx!(&mut self.tx, conn => sqlx::query_as(SQL).bind(grant_id).bind(sa_id).fetch_optional(conn).await)?;
        let Some((dataset_id, permission_id, version_id)) = row else {
            return Ok(false);
        };
        self.invalidate(CacheEvent::ServiceAccount(sa_id));
        self.audit(
            "sa_grant_revoked",
            "ServiceAccountGrant",
            grant_id,
            Some(
                json!({"service_account_id": sa_id, "dataset_id": dataset_id,
                        "permission_id": permission_id, "version_id": version_id}),
            ),
            None,
        )
        .await?;
        Ok(true)
    }

    /// Id of a service account by name, inside the transaction.
    ///
    /// # Errors
    /// [`dsg_core::DomainError::NotFound`].
    pub async fn require_service_account(&mut self, name: &str) -> Result<i64> {
        const SQL: &str = "SELECT id FROM service_account WHERE name = $1";
        let id: Option<i64> = on_tx!(&mut self.tx, conn => sqlx::query_scalar(SQL).bind(name).fetch_optional(conn).await)?;
        id.ok_or_else(|| {
            dsg_core::DomainError::not_found(dsg_core::error::EntityKind::ServiceAccount, name)
                .into()
        })
    }
}
