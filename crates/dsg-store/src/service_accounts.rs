//! Service accounts: non-human principals with their own tokens and grants.

use dsg_core::DomainError;
use dsg_core::token::ApiToken;
use serde_json::json;

use crate::datasets::{Bind, Binds, named_conflict};
use crate::events::CacheEvent;
use crate::{Result, WriteTx, now_micros};

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
    ) -> Result<i64> {
        let permission_id = self.permission_id(permission).await?;
        const SQL: &str = "INSERT INTO service_account_grant (service_account_id, dataset_id, dataset_version_id, \
             permission_id, granted_by_id, created, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id";
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
                        "version_id": version_id, "expires_at": expires_at.map(|t| t.to_rfc3339())})),
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
