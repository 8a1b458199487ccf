//! Invitations: a level on a dataset offered to an e-mail, redeemed as a
//! grant when its owner first logs in (at once when they already have an
//! account). Listed and created by the dataset's managers, for levels within
//! their reach; withdrawn by its managers. People only, not service accounts.

use dsg_core::Timestamp;
use dsg_store::WriteTx;
use dsg_store::datasets::DatasetRow;
use dsg_store::invitations::{InvitationRow, Invited, NewInvitation};

use super::authority::Caller;
use super::input::Expiry;
use super::{ServiceError, commit};
use crate::state::AppState;

/// May the caller see and send the dataset's invitations? People who manage
/// or administer it.
///
/// # Errors
/// Forbidden otherwise (and for service accounts).
pub fn authorize(caller: &Caller, dataset: &DatasetRow) -> Result<(), ServiceError> {
    caller.person()?;
    if caller.can_manage(&dataset.name) || caller.is_dataset_admin(&dataset.name) {
        Ok(())
    } else {
        Err(ServiceError::Forbidden(None))
    }
}

/// The dataset's invitations, redeemed and lapsed ones included.
///
/// # Errors
/// Forbidden for service accounts and for callers who neither manage nor
/// administer the dataset.
pub async fn list(
    state: &AppState,
    caller: &Caller,
    dataset: &DatasetRow,
) -> Result<Vec<InvitationRow>, ServiceError> {
    authorize(caller, dataset)?;
    Ok(state.store.dataset_invitations(dataset.id).await?)
}

/// An invitation asked for.
#[derive(Debug, Clone, Copy)]
pub struct InvitationRequest<'a> {
    /// The dataset.
    pub dataset: &'a DatasetRow,
    /// The invitee's e-mail.
    pub email: &'a str,
    /// The level's name.
    pub permission: &'a str,
    /// Version scope, by name.
    pub version: Option<&'a str>,
    /// Expiry of the grant it becomes.
    pub grant_expires_at: Option<Timestamp>,
    /// The invitation lapses at this instant if not redeemed.
    pub expires_at: Option<Timestamp>,
}

/// Invites an e-mail (a grant at once when its owner has an account).
///
/// # Errors
/// Forbidden as for [`list`] and for levels out of the caller's reach; an
/// expiry in the past; an unknown version; an invalid e-mail.
pub async fn invite(
    state: &AppState,
    caller: &Caller,
    req: InvitationRequest<'_>,
) -> Result<Invited, ServiceError> {
    let d = req.dataset;
    authorize(caller, d)?;
    if !caller.may_handle_level(&state.config.access, &d.name, req.permission) {
        return Err(ServiceError::Forbidden(None));
    }
    let now = state.clock.now();
    let (grant_expires_at, expires_at) = match (
        Expiry::future(req.grant_expires_at, now, "expiry times"),
        Expiry::future(req.expires_at, now, "expiry times"),
    ) {
        (Ok(g), Ok(e)) => (g.at(), e.at()),
        (Err(e), _) | (_, Err(e)) => return Err(e.into()),
    };
    let mut tx = state.store.begin(caller.actor()).await?;
    let version_id = match req.version {
        Some(v) => Some(tx.version_id(d.id, v).await?),
        None => None,
    };
    let outcome = record(
        &mut tx,
        &NewInvitation {
            email: req.email,
            dataset_id: d.id,
            version_id,
            permission: req.permission,
            grant_expires_at,
            expires_at,
        },
    )
    .await?;
    commit(state, tx).await?;
    Ok(outcome)
}

/// Records an invitation in the caller's transaction: the one place one is
/// written (the grant form's invitations come here too).
pub(super) async fn record(
    tx: &mut WriteTx,
    invitation: &NewInvitation<'_>,
) -> Result<Invited, ServiceError> {
    Ok(tx.create_invitation(invitation).await?)
}

/// May the caller withdraw the dataset's invitations? People who manage it.
///
/// # Errors
/// Forbidden otherwise (and for service accounts).
pub fn authorize_withdrawal(caller: &Caller, dataset: &DatasetRow) -> Result<(), ServiceError> {
    caller.person()?;
    if caller.can_manage(&dataset.name) {
        Ok(())
    } else {
        Err(ServiceError::Forbidden(None))
    }
}

/// Withdraws an invitation of the dataset; returns its e-mail.
///
/// # Errors
/// Forbidden for service accounts and non-managers; not found
/// ("Invitation not found").
pub async fn withdraw(
    state: &AppState,
    caller: &Caller,
    dataset: &DatasetRow,
    id: i64,
) -> Result<String, ServiceError> {
    authorize_withdrawal(caller, dataset)?;
    let mut tx = state.store.begin(caller.actor()).await?;
    let Some(email) = tx.delete_invitation(dataset.id, id).await? else {
        return Err(ServiceError::NotFound("Invitation not found"));
    };
    commit(state, tx).await?;
    Ok(email)
}
