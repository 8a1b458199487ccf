//! Mutations behind the native management API: revoking grants, removing
//! members, enabling/disabling service accounts, revoking their tokens and
//! grants. Each writes its audit row and cache events in the same transaction.

use dsg_core::token::TokenHash;
use serde_json::json;

use crate::events::CacheEvent;
use crate::{Result, WriteTx, now_micros, on_tx};

impl WriteTx {
    /// Deletes a user grant; returns `(user_id, dataset_id, permission)` if it existed.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn revoke_grant(
        &mut self,
        grant_id: i64,
        reason: &str,
    ) -> Result<Option<(i64, i64, String)>> {
        const SQL: &str = "SELECT gr.user_id, gr.dataset_id, p.name, v.version, gr.group_id, gr.source, gr.expires_at \
             FROM dataset_grant gr JOIN permission p ON p.id = gr.permission_id \
             LEFT JOIN dataset_version v ON v.id = gr.dataset_version_id WHERE gr.id = $1";
        const DEL: &str = "DELETE FROM dataset_grant WHERE id = $1";
        type Row = (
            i64,
            i64,
            String,
            Option<String>,
            Option<i64>,
            String,
            Option<i64>,
        );
        let row: Option<Row> = on_tx!(&mut self.tx, conn => sqlx::query_as(SQL).bind(grant_id).fetch_optional(conn).await)?;
        let Some((user_id, dataset_id, permission, version, group_id, source, expires_at)) = row
        else {
            return Ok(None);
        };
        on_tx!(&mut self.tx, conn => sqlx::query(DEL).bind(grant_id).execute(conn).await.map(|r| r.rows_affected()))?;
        self.invalidate(CacheEvent::User(user_id));
        self.audit(
            "grant_revoked",
            "Grant",
            grant_id,
            Some(
                json!({"user_id": user_id, "dataset_id": dataset_id, "permission": permission,
                        "version": version, "group_id": group_id, "source": source,
                        "expires_at": expires_at.map(|t| dsg_core::Timestamp(t).to_rfc3339()),
                        "reason": reason}),
            ),
            None,
        )
        .await?;
        Ok(Some((user_id, dataset_id, permission)))
    }

    /// Revokes a user's grants scoped to a group (they came with the
    /// membership), each audited `grant_revoked` with reason `member_removed`.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn revoke_group_scoped_grants(&mut self, user_id: i64, group_id: i64) -> Result<()> {
        const SQL: &str =
            "SELECT id FROM dataset_grant WHERE user_id = $1 AND group_id = $2 ORDER BY id";
        let ids: Vec<i64> = on_tx!(&mut self.tx, conn => sqlx::query_scalar(SQL).bind(user_id).bind(group_id).fetch_all(conn).await)?;
        for id in ids {
            self.revoke_grant(id, "member_removed").await?;
        }
        Ok(())
    }

    /// Removes a membership and the grants scoped to that group; `false` when
    /// there was no membership.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn remove_member(&mut self, user_id: i64, group_id: i64) -> Result<bool> {
        const SQL: &str = "DELETE FROM user_group WHERE user_id = $1 AND group_id = $2 RETURNING id, is_admin, expires_at";
        let row: Option<(i64, bool, Option<i64>)> = on_tx!(&mut self.tx, conn => sqlx::query_as(SQL).bind(user_id).bind(group_id).fetch_optional(conn).await)?;
        let Some((id, is_admin, expires_at)) = row else {
            return Ok(false);
        };
        self.revoke_group_scoped_grants(user_id, group_id).await?;
        self.invalidate(CacheEvent::User(user_id));
        self.audit(
            "member_removed",
            "UserGroup",
            id,
            Some(
                json!({"user_id": user_id, "group_id": group_id, "is_admin": is_admin,
                        "expires_at": expires_at.map(|t| dsg_core::Timestamp(t).to_rfc3339())}),
            ),
            None,
        )
        .await?;
        Ok(true)
    }

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

impl WriteTx {
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
