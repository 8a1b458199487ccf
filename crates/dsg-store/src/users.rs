//! Creating and changing users.

use dsg_core::DomainError;
use dsg_core::error::EntityKind;
use serde_json::{Value, json};

use crate::events::CacheEvent;
use crate::{Result, Store, WriteTx, now_micros, on_db, on_tx};

/// Fields of a new user.
#[derive(Debug, Clone, Default)]
pub struct NewUser {
    /// E-mail (unique, case-insensitively).
    pub email: String,
    /// Name.
    pub name: String,
    /// Display name.
    pub display_name: String,
    /// Global admin.
    pub admin: bool,
    /// May authenticate.
    pub active: bool,
    /// Loses `edit`.
    pub read_only: bool,
    /// Principal investigator.
    pub pi: String,
    /// Avatar URL.
    pub picture_url: String,
    /// Legacy parent link.
    pub parent_id: Option<i64>,
    /// Family name (SCIM `name.familyName`).
    pub family_name: String,
    /// Formatted full name (SCIM `name.formatted`).
    pub formatted_name: String,
    /// GDPR consent given.
    pub gdpr_consent: bool,
    /// Identifier in the provisioning identity provider (SCIM `externalId`).
    pub external_id: Option<String>,
    /// Provisioned by an identity provider (SCIM): its `userName` is taken
    /// as given (not checked as an e-mail address), and a user deleted
    /// through SCIM with this name comes back (under a new SCIM id) instead
    /// of the name being refused as taken.
    pub provisioned: bool,
    /// The door the user came in through, for the audit row (`scim`, …).
    pub via: Option<&'static str>,
}

/// Outcome of `make-admin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminChange {
    /// A new user was created as admin.
    Created,
    /// An existing user became admin.
    Promoted,
    /// Nothing to do.
    AlreadyAdmin,
    /// Admin flag cleared.
    Revoked,
    /// `--remove` on a non-admin.
    NotAdmin,
    /// `--remove` on an unknown e-mail.
    NotFound,
}

/// The domain of service accounts' synthetic e-mails; no user may have it.
pub const SERVICE_ACCOUNT_DOMAIN: &str = "@service-account.dsg.local";

/// Refuses a user e-mail in the service accounts' reserved domain.
///
/// # Errors
/// [`DomainError::Invalid`] naming the domain.
pub fn check_not_reserved(email: &str) -> Result<(), DomainError> {
    let lower = email.to_ascii_lowercase();
    if lower.ends_with(SERVICE_ACCOUNT_DOMAIN) {
        return Err(DomainError::Invalid(format!(
            "{email:?}: e-mail addresses ending in {SERVICE_ACCOUNT_DOMAIN} belong to service accounts"
        )));
    }
    Ok(())
}

/// Checks an e-mail address's shape (one `@`, non-empty parts, no spaces).
///
/// # Errors
/// [`DomainError::Invalid`] saying what is wrong.
pub fn validate_email(email: &str) -> Result<(), DomainError> {
    let ok = email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && matches!(email.split_once('@'), Some((l, d)) if !l.is_empty() && !d.is_empty() && !d.contains('@'));
    if ok {
        Ok(())
    } else {
        Err(DomainError::Invalid(format!(
            "{email:?} is not a valid e-mail address"
        )))
    }
}

impl Store {
    /// Id of the user with this e-mail (case-insensitive).
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn user_id_by_email(&self, email: &str) -> Result<Option<i64>> {
        const SQL: &str = "SELECT id FROM dsg_user WHERE lower(email) = lower($1)";
        Ok(on_db!(self.db(), pool => {
            sqlx::query_scalar(SQL).bind(email).fetch_optional(pool).await
        })?)
    }
}

impl WriteTx {
    /// Id of the user with this e-mail (case-insensitive), inside the transaction.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn user_id_by_email(&mut self, email: &str) -> Result<Option<i64>> {
        const SQL: &str = "SELECT id FROM dsg_user WHERE lower(email) = lower($1)";
        Ok(on_tx!(&mut self.tx, conn => {
            sqlx::query_scalar(SQL).bind(email).fetch_optional(conn).await
        })?)
    }

    /// Creates a user and returns the id: the one writer of `user_created`.
    /// With [`NewUser::provisioned`], a user deleted through SCIM with this e-mail
    /// comes back (same internal id, new SCIM id) instead.
    ///
    /// # Errors
    /// Invalid e-mail; [`DomainError::Conflict`] when the e-mail is taken.
    pub async fn create_user(&mut self, user: &NewUser) -> Result<i64> {
        const FIND: &str =
            "SELECT id, scim_deleted_at IS NOT NULL FROM dsg_user WHERE lower(email) = lower($1)";
        const INSERT: &str = "INSERT INTO dsg_user (email, name, display_name, admin, is_active, read_only, \
             pi, picture_url, parent_id, family_name, formatted_name, gdpr_consent, external_id, \
             scim_id, created, updated) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15) RETURNING id";
        const REVIVE: &str = "UPDATE dsg_user SET email = $1, name = $2, display_name = $3, admin = $4, \
             is_active = $5, read_only = $6, pi = $7, picture_url = $8, parent_id = $9, family_name = $10, \
             formatted_name = $11, gdpr_consent = $12, external_id = $13, scim_id = $14, updated = $15, \
             scim_deleted_at = NULL WHERE id = $16 RETURNING id";
        if !user.provisioned {
            validate_email(&user.email)?;
        }
        check_not_reserved(&user.email)?;
        let taken = || -> crate::StoreError {
            DomainError::Conflict(format!("a user with e-mail {} already exists", user.email))
                .into()
        };
        let existing: Option<(i64, bool)> = on_tx!(&mut self.tx, conn => {
            sqlx::query_as(FIND).bind(&user.email).fetch_optional(conn).await
        })?;
        let revived = match existing {
            Some((id, true)) if user.provisioned => Some(id),
            Some(_) => return Err(taken()),
            None => None,
        };
        let scim_id = uuid::Uuid::new_v4().to_string();
        let id: i64 = on_tx!(&mut self.tx, conn => {
            let q = sqlx::query_scalar(if revived.is_some() { REVIVE } else { INSERT })
                .bind(&user.email)
                .bind(&user.name)
                .bind(&user.display_name)
                .bind(user.admin)
                .bind(user.active)
                .bind(user.read_only)
                .bind(&user.pi)
                .bind(&user.picture_url)
                .bind(user.parent_id)
                .bind(&user.family_name)
                .bind(&user.formatted_name)
                .bind(user.gdpr_consent)
                .bind(&user.external_id)
                .bind(&scim_id)
                .bind(now_micros());
            match revived {
                Some(r) => q.bind(r).fetch_one(conn).await,
                None => q.fetch_one(conn).await,
            }
        })
        .map_err(|e| {
            let e = crate::StoreError::from(e);
            if e.is_unique_violation() { taken() } else { e }
        })?;
        self.invalidate(CacheEvent::User(id));
        let mut after = json!({"email": user.email, "name": user.name,
            "admin": user.admin, "active": user.active});
        if let Some(via) = user.via {
            after["via"] = json!(via);
        }
        if revived.is_some() {
            after["revived"] = json!(true);
        }
        self.audit("user_created", "User", id, None, Some(after))
            .await?;
        Ok(id)
    }

    /// Records a change to user `id`: drops its cached answers and audits
    /// `user_updated`. Every write that changes a user row ends here.
    ///
    /// # Errors
    /// The audit insert failed.
    pub(crate) async fn user_changed(
        &mut self,
        id: i64,
        before: Option<Value>,
        after: Value,
    ) -> Result<()> {
        self.invalidate(CacheEvent::User(id));
        self.audit("user_updated", "User", id, before, Some(after))
            .await
    }

    /// Adds an affiliation (ignored when already present).
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn add_affiliation(&mut self, user_id: i64, name: &str) -> Result<()> {
        const SQL: &str = "INSERT INTO affiliation (user_id, name) VALUES ($1, $2) \
             ON CONFLICT (user_id, name) DO NOTHING";
        let added = on_tx!(&mut self.tx, conn => sqlx::query(SQL).bind(user_id).bind(name).execute(conn).await.map(|r| r.rows_affected()))?;
        if added > 0 {
            self.invalidate(CacheEvent::User(user_id));
            self.audit(
                "affiliation_added",
                "User",
                user_id,
                None,
                Some(json!({"affiliation": name})),
            )
            .await?;
        }
        Ok(())
    }

    /// Sets or clears the global admin flag, creating the user when promoting an unknown e-mail.
    ///
    /// # Errors
    /// Invalid e-mail; the database is unreachable.
    pub async fn set_admin(&mut self, email: &str, admin: bool) -> Result<AdminChange> {
        const GET: &str = "SELECT id, admin FROM dsg_user WHERE lower(email) = lower($1)";
        const SET: &str = "UPDATE dsg_user SET admin = $1, updated = $2 WHERE id = $3";
        let row: Option<(i64, bool)> = on_tx!(&mut self.tx, conn => {
            sqlx::query_as(GET).bind(email).fetch_optional(conn).await
        })?;
        let change = match (row, admin) {
            (None, false) => return Ok(AdminChange::NotFound),
            (None, true) => {
                let name = email.split('@').next().unwrap_or_default().to_owned();
                self.create_user(&NewUser {
                    email: email.to_owned(),
                    name,
                    admin: true,
                    active: true,
                    ..NewUser::default()
                })
                .await?;
                return Ok(AdminChange::Created);
            }
            (Some((_, true)), true) => return Ok(AdminChange::AlreadyAdmin),
            (Some((_, false)), false) => return Ok(AdminChange::NotAdmin),
            (Some((id, _)), true) => (id, AdminChange::Promoted),
            (Some((id, _)), false) => (id, AdminChange::Revoked),
        };
        let (id, outcome) = change;
        on_tx!(&mut self.tx, conn => sqlx::query(SET).bind(admin).bind(now_micros()).bind(id).execute(conn).await.map(|r| r.rows_affected()))?;
        self.user_changed(id, Some(json!({"admin": !admin})), json!({"admin": admin}))
            .await?;
        Ok(outcome)
    }

    /// Links a legacy "user as service account" to its parent.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn set_parent(&mut self, user_id: i64, parent_id: i64) -> Result<()> {
        const SQL: &str = "UPDATE dsg_user SET parent_id = $1, updated = $2 WHERE id = $3";
        on_tx!(&mut self.tx, conn => sqlx::query(SQL).bind(parent_id).bind(now_micros()).bind(user_id).execute(conn).await.map(|r| r.rows_affected()))?;
        self.user_changed(user_id, None, json!({"parent_id": parent_id}))
            .await?;
        Ok(())
    }

    /// Resolves an e-mail to a user id or fails with a clear message.
    ///
    /// # Errors
    /// [`DomainError::NotFound`] when no user has this e-mail.
    pub async fn require_user(&mut self, email: &str) -> Result<i64> {
        self.user_id_by_email(email)
            .await?
            .ok_or_else(|| DomainError::not_found(EntityKind::User, email).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_shapes() {
        assert!(validate_email("a@b.org").is_ok());
        for bad in ["", "ab", "@b", "a@", "a b@c", "a@b@c"] {
            assert!(validate_email(bad).is_err(), "{bad}");
        }
    }
}
