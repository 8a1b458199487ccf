//! Direct grants to users and service accounts, and TOS acceptances.

use dsg_core::Timestamp;
use serde_json::json;

use crate::datasets::{Bind, Binds, named_conflict};
use crate::events::CacheEvent;
use crate::{Result, WriteTx, now_micros, on_tx};

/// A new direct grant to a user.
#[derive(Debug, Clone)]
pub struct NewGrant<'a> {
    /// Grantee.
    pub user_id: i64,
    /// Dataset.
    pub dataset_id: i64,
    /// Version scope; `None` = every version.
    pub version_id: Option<i64>,
    /// Permission name.
    pub permission: &'a str,
    /// Group scope (group dashboards).
    pub group_id: Option<i64>,
    /// Who granted it.
    pub granted_by: Option<i64>,
    /// `manual` or `self_service`.
    pub source: &'a str,
    /// Stops counting at this instant.
    pub expires_at: Option<Timestamp>,
}

impl WriteTx {
    /// Creates a grant.
    ///
    /// # Errors
    /// Unknown permission; [`dsg_core::DomainError::Conflict`] for an identical grant.
    pub async fn create_grant(&mut self, g: &NewGrant<'_>) -> Result<i64> {
        if !matches!(g.source, "manual" | "self_service") {
            return Err(dsg_core::DomainError::Invalid(format!(
                "grant source must be \"manual\" or \"self_service\", not {:?}",
                g.source
            ))
            .into());
        }
        let permission_id = self.permission_id(g.permission).await?;
        const SQL: &str = "INSERT INTO dataset_grant (user_id, dataset_id, dataset_version_id, permission_id, \
             group_id, granted_by_id, source, created, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id";
        let id = self
            .insert_id(
                SQL,
                Binds(vec![
                    Bind::I(g.user_id),
                    Bind::I(g.dataset_id),
                    Bind::OI(g.version_id),
                    Bind::I(permission_id),
                    Bind::OI(g.group_id),
                    Bind::OI(g.granted_by),
                    Bind::S(g.source),
                    Bind::I(now_micros()),
                    Bind::OI(g.expires_at.map(|t| t.0)),
                ]),
            )
            .await
            .map_err(|e| named_conflict(e, "grant of", g.permission))?;
        self.invalidate(CacheEvent::User(g.user_id));
        self.audit(
            "grant_created",
            "Grant",
            id,
            None,
            Some(
                json!({"user_id": g.user_id, "dataset_id": g.dataset_id, "permission": g.permission,
                        "version_id": g.version_id, "group_id": g.group_id, "source": g.source,
                        "expires_at": g.expires_at.map(|t| t.to_rfc3339())}),
            ),
        )
        .await?;
        Ok(id)
    }

    /// Records that a user accepted a TOS document.
    ///
    /// # Errors
    /// [`dsg_core::DomainError::Conflict`] when already accepted.
    pub async fn accept_tos(&mut self, user_id: i64, tos_id: i64, ip: Option<&str>) -> Result<i64> {
        const SQL: &str = "INSERT INTO tos_acceptance (user_id, tos_document_id, accepted_at, ip_address) \
             VALUES ($1, $2, $3, $4) RETURNING id";
        const CHILDREN: &str = "SELECT id FROM dsg_user WHERE parent_id = $1";
        let id: i64 = on_tx!(&mut self.tx, conn => {
            sqlx::query_scalar(SQL).bind(user_id).bind(tos_id).bind(now_micros()).bind(ip).fetch_one(conn).await
        })
        .map_err(|e| named_conflict(crate::datasets::conflict_or(e.into()), "acceptance of TOS", &tos_id.to_string()))?;
        self.invalidate(CacheEvent::User(user_id));
        // Legacy parent-linked users inherit acceptances.
        let children: Vec<i64> = on_tx!(&mut self.tx, conn => sqlx::query_scalar(CHILDREN).bind(user_id).fetch_all(conn).await)?;
        for c in children {
            self.invalidate(CacheEvent::User(c));
        }
        self.audit(
            "tos_accepted",
            "TOSAcceptance",
            id,
            None,
            Some(json!({"user_id": user_id, "tos_id": tos_id})),
        )
        .await?;
        Ok(id)
    }
}

impl WriteTx {
    /// Sets or clears a grant's expiry; `false` when there is no such grant.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn set_grant_expiry(
        &mut self,
        grant_id: i64,
        expires_at: Option<Timestamp>,
    ) -> Result<bool> {
        const GET: &str = "SELECT user_id, expires_at FROM dataset_grant WHERE id = $1";
        let before: Option<(i64, Option<i64>)> = on_tx!(&mut self.tx, conn => sqlx::query_as(GET).bind(grant_id).fetch_optional(conn).await)?;
        let Some((user_id, old)) = before else {
            return Ok(false);
        };
        const SET: &str = "UPDATE dataset_grant SET expires_at = $1 WHERE id = $2";
        on_tx!(&mut self.tx, conn => sqlx::query(SET).bind(expires_at.map(|t| t.0)).bind(grant_id).execute(conn).await.map(|r| r.rows_affected()))?;
        self.invalidate(CacheEvent::User(user_id));
        let show = |t: Option<i64>| t.map(|t| Timestamp(t).to_rfc3339());
        self.audit(
            "grant_updated",
            "Grant",
            grant_id,
            Some(json!({"expires_at": show(old)})),
            Some(json!({"expires_at": show(expires_at.map(|t| t.0))})),
        )
        .await?;
        Ok(true)
    }
}
