//! Direct grants of a level on a dataset to a person, optionally scoped to a
//! version or a group and time-limited: listing them for managers, granting
//! (or inviting an e-mail nobody has yet), re-timing and revoking. Appointing
//! and removing dataset admins are grants of `admin` and go through here too.
//!
//! Rules (spec §4.9 with its bugs fixed): managing a dataset's grants needs
//! `manage` on it; nobody grants, re-times or revokes a level above their own
//! (`admin` needs `admin` on the dataset or the appointer group); a
//! group-scoped grant needs group admin and makes the grantee a member;
//! nobody but a global admin changes their own grants.

use dsg_core::Timestamp;
use dsg_store::datasets::DatasetRow;
use dsg_store::grants::{GrantListing, NewGrant};
use dsg_store::invitations::{Invited, NewInvitation};

use super::authority::Caller;
use super::input::Expiry;
use super::{Invalid, ServiceError, commit};
use crate::state::AppState;

/// A version named by the API (by name) or chosen on a form (by id, already
/// checked to belong to the dataset).
#[derive(Debug, Clone, Copy)]
pub enum VersionRef<'a> {
    /// The version's name.
    Name(&'a str),
    /// The version's id.
    Id(i64),
}

/// A grant asked for.
#[derive(Debug, Clone)]
pub struct GrantRequest<'a> {
    /// The dataset.
    pub dataset: &'a DatasetRow,
    /// The grantee's e-mail.
    pub email: &'a str,
    /// The level's name.
    pub permission: &'a str,
    /// Version scope.
    pub version: Option<VersionRef<'a>>,
    /// Group scope (by name).
    pub group: Option<&'a str>,
    /// Expiry; must lie in the future.
    pub expires_at: Option<Timestamp>,
    /// Counts only for requests naming this service (by name).
    pub service: Option<&'a str>,
    /// Counts for `/gcs_token` only on these buckets of the dataset.
    pub buckets: &'a [String],
}

/// What a grant request did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granted {
    /// A grant was created.
    Grant {
        /// Grant id.
        id: i64,
        /// Grantee.
        user_id: i64,
    },
    /// Nobody has the e-mail: an invitation was recorded.
    Invited {
        /// Invitation id.
        id: i64,
    },
}

/// Which grants a change may touch: the front-end's page decides the scope.
#[derive(Debug, Clone, Copy)]
pub enum Within<'a> {
    /// Any grant.
    Anywhere,
    /// Only grants on this dataset.
    Dataset(&'a str),
    /// Only grants scoped to this group.
    Group(&'a str),
}

/// Every grant on the dataset, expired ones included (its managers).
///
/// # Errors
/// Forbidden unless the caller manages the dataset.
pub async fn list(
    state: &AppState,
    caller: &Caller,
    dataset: &DatasetRow,
) -> Result<Vec<GrantListing>, ServiceError> {
    if !caller.can_manage(&dataset.name) {
        return Err(ServiceError::Forbidden(None));
    }
    Ok(state.store.dataset_grants(dataset.id).await?)
}

/// The checks every grant request passes before anything is written; the
/// expiry, checked.
fn check(
    state: &AppState,
    caller: &Caller,
    req: &GrantRequest<'_>,
) -> Result<Option<Timestamp>, ServiceError> {
    let expires_at = Expiry::future(req.expires_at, state.clock.now(), "expires_at")?.at();
    if !caller.may_handle_level(&state.config.access, &req.dataset.name, req.permission) {
        return Err(ServiceError::LevelOutOfReach {
            level: req.permission.to_owned(),
            dataset: req.dataset.name.clone(),
        });
    }
    if let Some(g) = req.group
        && !caller.is_group_admin(g)
    {
        return Err(ServiceError::Forbidden(None));
    }
    Ok(expires_at)
}

/// Grants a level to an existing user.
///
/// # Errors
/// An expiry in the past, a level out of the caller's reach
/// ([`ServiceError::LevelOutOfReach`]), a group the caller does not
/// administer, an unknown user, version or group, or a grant that already
/// exists (a store conflict).
pub async fn grant(
    state: &AppState,
    caller: &Caller,
    req: GrantRequest<'_>,
) -> Result<(i64, i64), ServiceError> {
    let expires_at = check(state, caller, &req)?;
    let mut tx = state.store.begin(caller.actor()).await?;
    let user_id = tx.require_user(req.email).await?;
    let id = write(state, &mut tx, caller, &req, user_id, expires_at).await?;
    commit(state, tx).await?;
    Ok((id, user_id))
}

/// Grants a level, or — for an e-mail nobody has yet, unless the grant is
/// group-scoped — records an invitation redeemed at first login.
///
/// # Errors
/// As [`grant`], and an invalid e-mail.
pub async fn grant_or_invite(
    state: &AppState,
    caller: &Caller,
    req: GrantRequest<'_>,
) -> Result<Granted, ServiceError> {
    let expires_at = check(state, caller, &req)?;
    super::input::email(req.email, "email")?;
    let mut tx = state.store.begin(caller.actor()).await?;
    let granted = match tx.user_id_by_email(req.email).await? {
        Some(user_id) => {
            let id = write(state, &mut tx, caller, &req, user_id, expires_at).await?;
            Granted::Grant { id, user_id }
        }
        None if req.group.is_some() => {
            return Err(Invalid::Rule {
                field: Some("email"),
                message: format!("User not found: {}", req.email),
            }
            .into());
        }
        None => {
            let version_id = version_id(&mut tx, req.dataset, req.version).await?;
            let invited = super::invitations::record(
                &mut tx,
                &NewInvitation {
                    email: req.email,
                    dataset_id: req.dataset.id,
                    version_id,
                    permission: req.permission,
                    grant_expires_at: expires_at,
                    expires_at: None,
                },
            )
            .await?;
            Granted::Invited {
                id: match invited {
                    Invited::Pending(id) | Invited::Granted { invitation: id, .. } => id,
                },
            }
        }
    };
    commit(state, tx).await?;
    Ok(granted)
}

/// Writes a checked grant: the one place a manual grant is created.
async fn write(
    state: &AppState,
    tx: &mut dsg_store::WriteTx,
    caller: &Caller,
    req: &GrantRequest<'_>,
    user_id: i64,
    expires_at: Option<Timestamp>,
) -> Result<i64, ServiceError> {
    let d = req.dataset;
    let version_id = version_id(tx, d, req.version).await?;
    let group_id = match req.group {
        Some(g) => {
            let gid = tx.group_id(g).await?;
            // A group-scoped grant goes to a member of the group.
            if !state
                .store
                .group_memberships(gid)
                .await?
                .iter()
                .any(|m| m.user_id == user_id)
            {
                tx.add_member(user_id, gid, false, None).await?;
            }
            Some(gid)
        }
        None => None,
    };
    let service_id = match req.service {
        Some(name) => Some(tx.service_id(name).await.map_err(|_| Invalid::Rule {
            field: Some("service"),
            message: format!("service: no service is named {name:?}"),
        })?),
        None => None,
    };
    let mut bucket_ids = Vec::with_capacity(req.buckets.len());
    for b in req.buckets {
        bucket_ids.push(tx.bucket_of(d.id, b).await?.ok_or_else(|| Invalid::Rule {
            field: Some("buckets"),
            message: format!("buckets: {b:?} is not a bucket of {}", d.name),
        })?);
    }
    Ok(tx
        .create_grant(&NewGrant {
            service_id,
            bucket_ids: &bucket_ids,
            user_id,
            dataset_id: d.id,
            version_id,
            permission: req.permission,
            group_id,
            granted_by: caller.user_id(),
            source: "manual",
            expires_at,
        })
        .await?)
}

async fn version_id(
    tx: &mut dsg_store::WriteTx,
    d: &DatasetRow,
    version: Option<VersionRef<'_>>,
) -> Result<Option<i64>, ServiceError> {
    Ok(match version {
        None => None,
        Some(VersionRef::Id(id)) => Some(id),
        Some(VersionRef::Name(v)) => Some(tx.version_id(d.id, v).await?),
    })
}

/// The grant the caller may change, within `within`: not found (or out of
/// the caller's sight), out of reach (the caller manages the dataset but
/// not that level), or the caller's own.
async fn changeable(
    state: &AppState,
    caller: &Caller,
    grant_id: i64,
    within: Within<'_>,
) -> Result<GrantListing, ServiceError> {
    let not_found = ServiceError::NotFound("Grant not found");
    let g = state.store.grant(grant_id).await?.ok_or(not_found)?;
    let inside = match within {
        Within::Anywhere => true,
        Within::Dataset(d) => g.dataset == d,
        Within::Group(group) => g.group.as_deref() == Some(group),
    };
    if !inside {
        return Err(ServiceError::NotFound("Grant not found"));
    }
    if !caller.may_handle_level(&state.config.access, &g.dataset, &g.permission) {
        // Callers who cannot manage the dataset do not learn that the grant exists.
        return Err(if caller.can_manage(&g.dataset) {
            ServiceError::Forbidden(None)
        } else {
            ServiceError::NotFound("Grant not found")
        });
    }
    if !caller.may_change_grant(&state.config.access, &g.dataset, &g.permission, g.user_id) {
        return Err(ServiceError::OwnGrant);
    }
    Ok(g)
}

/// Revokes a grant, recording `reason` in its audit row (`revoked`,
/// `dataset_admin_removed`, …).
///
/// # Errors
/// As [`changeable`]: not found, forbidden, or the caller's own grant.
pub async fn revoke(
    state: &AppState,
    caller: &Caller,
    grant_id: i64,
    within: Within<'_>,
    reason: &str,
) -> Result<GrantListing, ServiceError> {
    let g = changeable(state, caller, grant_id, within).await?;
    let mut tx = state.store.begin(caller.actor()).await?;
    tx.revoke_grant(g.id, reason).await?;
    commit(state, tx).await?;
    Ok(g)
}

/// Sets or clears a grant's expiry.
///
/// # Errors
/// As [`revoke`], and an expiry in the past.
pub async fn set_expiry(
    state: &AppState,
    caller: &Caller,
    grant_id: i64,
    within: Within<'_>,
    expires_at: Option<Timestamp>,
) -> Result<GrantListing, ServiceError> {
    let g = changeable(state, caller, grant_id, within).await?;
    let expires_at = Expiry::future(expires_at, state.clock.now(), "expires_at")?.at();
    let mut tx = state.store.begin(caller.actor()).await?;
    tx.set_grant_expiry(g.id, expires_at).await?;
    commit(state, tx).await?;
    Ok(GrantListing { expires_at, ..g })
}

/// The members export of a dataset (spec §10), ready to send.
#[derive(Debug, Clone)]
pub struct MembersExport {
    /// `{dataset}-members-{timestamp}.csv`.
    pub filename: String,
    /// The CSV text.
    pub csv: String,
}

/// Exports who can get into `dataset` as CSV, audited `grants_exported`:
/// for global admins and people with a direct `manage` or `admin` grant on
/// it (group-only managers are refused).
///
/// # Errors
/// Forbidden for anyone else; the store's.
pub async fn export_members(
    state: &AppState,
    caller: &Caller,
    dataset: &dsg_store::datasets::DatasetRow,
) -> Result<MembersExport, ServiceError> {
    let user_id = caller.person()?;
    let now = state.clock.now();
    if !caller.is_admin()
        && !state
            .store
            .manages_directly(user_id, dataset.id, now)
            .await?
    {
        return Err(ServiceError::Forbidden(None));
    }
    let members = state.store.dataset_members(dataset.id, now).await?;
    let csv = dsg_core::members::csv(&members);
    let mut tx = state.store.begin(caller.actor()).await?;
    tx.record_members_export(dataset.id, &dataset.name, members.len())
        .await?;
    super::commit(state, tx).await?;
    let stamp: String = now
        .to_rfc3339()
        .chars()
        .take(19)
        .filter(char::is_ascii_digit)
        .collect();
    Ok(MembersExport {
        filename: format!(
            "{}-members-{}T{}Z.csv",
            dataset.name,
            &stamp[..8],
            &stamp[8..]
        ),
        csv,
    })
}
