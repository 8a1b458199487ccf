//! Invitations: access promised to an e-mail address. A pending invitation
//! becomes a grant when a user with that address exists — at once if they
//! already do, else when they are created at first login
//! ([`redeem_for_user`], called by the login flow on user creation).

use dsg_core::Timestamp;
use serde_json::json;

use crate::grants::NewGrant;
use crate::{Result, Store, WriteTx, now_micros, on_db, on_tx};

/// A new invitation.
#[derive(Debug, Clone)]
pub struct NewInvitation<'a> {
    /// Invitee's e-mail (matched case-insensitively).
    pub email: &'a str,
    /// Dataset.
    pub dataset_id: i64,
    /// Version scope.
    pub version_id: Option<i64>,
    /// Permission to grant.
    pub permission: &'a str,
    /// Expiry of the grant it becomes.
    pub grant_expires_at: Option<Timestamp>,
    /// The invitation lapses at this instant if not redeemed.
    pub expires_at: Option<Timestamp>,
}

/// What creating an invitation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invited {
    /// Pending until the user first logs in.
    Pending(i64),
    /// The user exists: it became this grant at once.
    Granted {
        /// Invitation id.
        invitation: i64,
        /// Grant id.
        grant: i64,
    },
}

/// An invitation as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvitationRow {
    /// Id.
    pub id: i64,
    /// E-mail.
    pub email: String,
    /// Permission.
    pub permission: String,
    /// Version name.
    pub version: Option<String>,
    /// Grant expiry.
    pub grant_expires_at: Option<Timestamp>,
    /// Invitation expiry.
    pub expires_at: Option<Timestamp>,
    /// When redeemed.
    pub accepted_at: Option<Timestamp>,
}

type PendingRow = (i64, i64, Option<i64>, i64, Option<i64>, Option<i64>);

/// Turns every pending, unexpired invitation for `email` into a grant for
/// `user_id`, in the caller's transaction (audited). Returns the new grant ids.
/// An identical existing grant just marks the invitation redeemed.
///
/// # Errors
/// The database is unreachable.
pub async fn redeem_for_user(tx: &mut WriteTx, user_id: i64, email: &str) -> Result<Vec<i64>> {
    const PENDING: &str = "SELECT id, dataset_id, dataset_version_id, permission_id, grant_expires_at, invited_by_id \
         FROM invitation WHERE lower(email) = lower($1) AND accepted_at IS NULL \
         AND (expires_at IS NULL OR expires_at > $2) ORDER BY id";
    const PERM: &str = "SELECT name FROM permission WHERE id = $1";
    const EXISTS: &str = "SELECT id FROM dataset_grant WHERE user_id = $1 AND dataset_id = $2 \
         AND COALESCE(dataset_version_id, 0) = COALESCE($3, 0) AND permission_id = $4 AND group_id IS NULL";
    const DONE: &str =
        "UPDATE invitation SET accepted_at = $1, accepted_user_id = $2 WHERE id = $3";
    let now = now_micros();
    let rows: Vec<PendingRow> = on_tx!(&mut tx.tx, conn => sqlx::query_as(PENDING).bind(email).bind(now).fetch_all(conn).await)?;
    let mut grants = Vec::new();
    for (id, dataset_id, version_id, permission_id, grant_expires_at, invited_by) in rows {
        let permission: String = on_tx!(&mut tx.tx, conn => sqlx::query_scalar(PERM).bind(permission_id).fetch_one(conn).await)?;
        let existing: Option<i64> = on_tx!(&mut tx.tx, conn => sqlx::query_scalar(EXISTS)
            .bind(user_id).bind(dataset_id).bind(version_id).bind(permission_id).fetch_optional(conn).await)?;
        if existing.is_none() {
            let gid = tx
                .create_grant(&NewGrant {
                    service_id: None,
                    bucket_ids: &[],
                    user_id,
                    dataset_id,
                    version_id,
                    permission: &permission,
                    group_id: None,
                    granted_by: invited_by,
                    source: "manual",
                    expires_at: grant_expires_at.map(Timestamp),
                })
                .await?;
            grants.push(gid);
        }
        on_tx!(&mut tx.tx, conn => sqlx::query(DONE).bind(now).bind(user_id).bind(id).execute(conn).await.map(|r| r.rows_affected()))?;
        tx.audit(
            "invitation_redeemed",
            "Invitation",
            id,
            None,
            Some(json!({"user_id": user_id, "email": email, "dataset_id": dataset_id, "permission": permission})),
        )
        .await?;
    }
    Ok(grants)
}

impl WriteTx {
    /// Creates an invitation; redeems it at once when the user exists.
    ///
    /// # Errors
    /// Invalid e-mail or unknown permission.
    pub async fn create_invitation(&mut self, inv: &NewInvitation<'_>) -> Result<Invited> {
        crate::users::validate_email(inv.email)?;
        let permission_id = self.permission_id(inv.permission).await?;
        const SQL: &str = "INSERT INTO invitation (email, dataset_id, dataset_version_id, permission_id, \
             grant_expires_at, invited_by_id, created, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id";
        let invited_by = self.actor().id;
        let id: i64 = on_tx!(&mut self.tx, conn => sqlx::query_scalar(SQL)
            .bind(inv.email).bind(inv.dataset_id).bind(inv.version_id).bind(permission_id)
            .bind(inv.grant_expires_at.map(|t| t.0)).bind(invited_by).bind(now_micros())
            .bind(inv.expires_at.map(|t| t.0)).fetch_one(conn).await)?;
        self.audit(
            "invitation_created",
            "Invitation",
            id,
            None,
            Some(json!({"email": inv.email, "dataset_id": inv.dataset_id, "version_id": inv.version_id,
                        "permission": inv.permission,
                        "grant_expires_at": inv.grant_expires_at.map(|t| t.to_rfc3339()),
                        "expires_at": inv.expires_at.map(|t| t.to_rfc3339())})),
        )
        .await?;
        if let Some(user_id) = self.user_id_by_email(inv.email).await? {
            let grants = redeem_for_user(self, user_id, inv.email).await?;
            if let Some(grant) = grants.first() {
                return Ok(Invited::Granted {
                    invitation: id,
                    grant: *grant,
                });
            }
        }
        Ok(Invited::Pending(id))
    }

    /// Withdraws a pending invitation of `dataset_id`; its e-mail, `None`
    /// when there is none.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn delete_invitation(&mut self, dataset_id: i64, id: i64) -> Result<Option<String>> {
        const SQL: &str = "DELETE FROM invitation WHERE id = $1 AND dataset_id = $2 AND accepted_at IS NULL RETURNING email";
        let email: Option<String> = on_tx!(&mut self.tx, conn => sqlx::query_scalar(SQL).bind(id).bind(dataset_id).fetch_optional(conn).await)?;
        let Some(email) = email else {
            return Ok(None);
        };
        self.audit(
            "invitation_deleted",
            "Invitation",
            id,
            Some(json!({"email": email, "dataset_id": dataset_id})),
            None,
        )
        .await?;
        Ok(Some(email))
    }
}

impl Store {
    /// A dataset's invitations, newest first.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn dataset_invitations(&self, dataset_id: i64) -> Result<Vec<InvitationRow>> {
        const SQL: &str = "SELECT i.id, i.email, p.name, v.version, i.grant_expires_at, i.expires_at, i.accepted_at \
             FROM invitation i JOIN permission p ON p.id = i.permission_id \
             LEFT JOIN dataset_version v ON v.id = i.dataset_version_id WHERE i.dataset_id = $1 ORDER BY i.id DESC";
        type Row = (
            i64,
            String,
            String,
            Option<String>,
            Option<i64>,
            Option<i64>,
            Option<i64>,
        );
        let rows: Vec<Row> =
            on_db!(self.db(), pool => sqlx::query_as(SQL).bind(dataset_id).fetch_all(pool).await)?;
        Ok(rows
            .into_iter()
            .map(|r| InvitationRow {
                id: r.0,
                email: r.1,
                permission: r.2,
                version: r.3,
                grant_expires_at: r.4.map(Timestamp),
                expires_at: r.5.map(Timestamp),
                accepted_at: r.6.map(Timestamp),
            })
            .collect())
    }
}
