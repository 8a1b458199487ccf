//! Direct grants to users: writing, re-timing and revoking them (each with
//! its audit row and cache events), the listings managers read, and TOS
//! acceptances.

use dsg_core::Timestamp;
use serde_json::json;

use crate::datasets::{Bind, Binds, named_conflict};
use crate::events::CacheEvent;
use crate::{Result, Store, WriteTx, now_micros, on_db, on_tx};

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
    /// Counts only for requests naming this service.
    pub service_id: Option<i64>,
    /// Counts for `/gcs_token` only on these buckets of the dataset.
    pub bucket_ids: &'a [i64],
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
             group_id, granted_by_id, source, created, expires_at, service_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id";
        const BUCKET: &str = "INSERT INTO dataset_grant_bucket (grant_id, bucket_id) \
             SELECT $1, id FROM dataset_bucket WHERE id = $2 AND dataset_id = $3";
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
                    Bind::OI(g.service_id),
                ]),
            )
            .await
            .map_err(|e| named_conflict(e, "grant of", g.permission))?;
        for b in g.bucket_ids {
            let added = on_tx!(&mut self.tx, conn => {
                sqlx::query(BUCKET).bind(id).bind(*b).bind(g.dataset_id).execute(conn).await.map(|r| r.rows_affected())
            })?;
            if added == 0 {
                return Err(dsg_core::DomainError::Invalid(format!(
                    "bucket {b} is not a bucket of the grant's dataset"
                ))
                .into());
            }
        }
        self.invalidate(CacheEvent::User(g.user_id));
        self.audit(
            "grant_created",
            "Grant",
            id,
            None,
            Some(
                json!({"user_id": g.user_id, "dataset_id": g.dataset_id, "permission": g.permission,
                        "version_id": g.version_id, "group_id": g.group_id, "source": g.source,
                        "service_id": g.service_id, "bucket_ids": g.bucket_ids,
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
        const GET: &str = "SELECT g.user_id, g.expires_at, g.dataset_id, p.name FROM dataset_grant g \
             JOIN permission p ON p.id = g.permission_id WHERE g.id = $1";
        let before: Option<(i64, Option<i64>, i64, String)> = on_tx!(&mut self.tx, conn => sqlx::query_as(GET).bind(grant_id).fetch_optional(conn).await)?;
        let Some((user_id, old, dataset_id, permission)) = before else {
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
            // Whose grant, on what: the audit log names them.
            Some(
                json!({"expires_at": show(expires_at.map(|t| t.0)), "user_id": user_id,
                        "dataset_id": dataset_id, "permission": permission}),
            ),
        )
        .await?;
        Ok(true)
    }
}

/// `true` when something with this expiry no longer counts at `now`.
pub fn expired(expires_at: Option<Timestamp>, now: Timestamp) -> bool {
    expires_at.is_some_and(|e| e <= now)
}

/// A user grant as the native API lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantListing {
    /// Id.
    pub id: i64,
    /// Grantee.
    pub user_id: i64,
    /// Grantee's e-mail.
    pub email: String,
    /// Dataset name.
    pub dataset: String,
    /// Permission.
    pub permission: String,
    /// Version scope.
    pub version: Option<String>,
    /// Group scope.
    pub group: Option<String>,
    /// Granting user's e-mail.
    pub granted_by: Option<String>,
    /// `manual` / `self_service`.
    pub source: String,
    /// Created.
    pub created: Timestamp,
    /// Expiry.
    pub expires_at: Option<Timestamp>,
}

impl Store {
    /// Every user grant on a dataset, oldest first.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn dataset_grants(&self, dataset_id: i64) -> Result<Vec<GrantListing>> {
        let sql = format!("{GRANT_LISTING} WHERE gr.dataset_id = $1 ORDER BY gr.id");
        let rows: Vec<GrantListingRow> = on_db!(self.db(), pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone())).bind(dataset_id).fetch_all(pool).await)?;
        Ok(rows.into_iter().map(grant_listing).collect())
    }

    /// One user grant.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn grant(&self, grant_id: i64) -> Result<Option<GrantListing>> {
        let sql = format!("{GRANT_LISTING} WHERE gr.id = $1");
        let row: Option<GrantListingRow> = on_db!(self.db(), pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone())).bind(grant_id).fetch_optional(pool).await)?;
        Ok(row.map(grant_listing))
    }

    /// Whether the user holds any direct grant on the dataset.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn has_grant_on(&self, user_id: i64, dataset_id: i64) -> Result<bool> {
        const SQL: &str =
            "SELECT COUNT(*) FROM dataset_grant WHERE user_id = $1 AND dataset_id = $2";
        let n: i64 = on_db!(self.db(), pool => sqlx::query_scalar(SQL).bind(user_id).bind(dataset_id).fetch_one(pool).await)?;
        Ok(n > 0)
    }

    /// True when the user holds anything on the dataset, for any service:
    /// a direct grant, or a permission of a group they are a member of.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn holds_anything_on(&self, user_id: i64, dataset_id: i64) -> Result<bool> {
        const SQL: &str = "SELECT (SELECT COUNT(*) FROM dataset_grant WHERE user_id = $1 AND dataset_id = $2) \
             + (SELECT COUNT(*) FROM group_dataset_permission gp JOIN user_group ug ON ug.group_id = gp.group_id \
                WHERE ug.user_id = $1 AND gp.dataset_id = $2)";
        let n: i64 = on_db!(self.db(), pool => sqlx::query_scalar(SQL).bind(user_id).bind(dataset_id).fetch_one(pool).await)?;
        Ok(n > 0)
    }

    /// Name of the permission with this id.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn permission_name(&self, id: i64) -> Result<Option<String>> {
        const SQL: &str = "SELECT name FROM permission WHERE id = $1";
        Ok(on_db!(self.db(), pool => sqlx::query_scalar(SQL).bind(id).fetch_optional(pool).await)?)
    }
}

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
}

const GRANT_LISTING: &str = "SELECT gr.id, gr.user_id, u.email, d.name, p.name, v.version, g.name, gb.email, \
     gr.source, gr.created, gr.expires_at FROM dataset_grant gr \
     JOIN dsg_user u ON u.id = gr.user_id JOIN dataset d ON d.id = gr.dataset_id \
     JOIN permission p ON p.id = gr.permission_id \
     LEFT JOIN dataset_version v ON v.id = gr.dataset_version_id \
     LEFT JOIN dsg_group g ON g.id = gr.group_id LEFT JOIN dsg_user gb ON gb.id = gr.granted_by_id";

type GrantListingRow = (
    i64,
    i64,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
    i64,
    Option<i64>,
);

fn grant_listing(r: GrantListingRow) -> GrantListing {
    GrantListing {
        id: r.0,
        user_id: r.1,
        email: r.2,
        dataset: r.3,
        permission: r.4,
        version: r.5,
        group: r.6,
        granted_by: r.7,
        source: r.8,
        created: Timestamp(r.9),
        expires_at: r.10.map(Timestamp),
    }
}
