//! Access requests: a person asks for a level on a dataset (or one of its
//! versions); the dataset's administrators see the pending requests and
//! approve (optionally time-limited; approving `admin` needs the right to
//! appoint admins) or deny them, with a note; the requester may withdraw a
//! pending request. Approval creates the grant in the same transaction.
//! Requests of others stay invisible to everyone but the dataset's
//! administrators ("not found").

use dsg_core::Timestamp;
use dsg_store::access_requests::AccessRequest;
use dsg_store::datasets::DatasetRow;

use super::authority::Caller;
use super::input::Expiry;
use super::{Invalid, ServiceError, commit};
use crate::state::AppState;

/// The longest message a request may carry, in bytes.
pub const MAX_MESSAGE: usize = 2000;

/// A request to file.
#[derive(Debug, Clone, Default)]
pub struct NewRequest {
    /// The level asked for (default `view`).
    pub permission: Option<String>,
    /// A version of the dataset, or the whole dataset.
    pub version: Option<String>,
    /// Why (at most [`MAX_MESSAGE`] bytes).
    pub message: String,
}

/// A person asks for access to a dataset. Returns the request as stored.
///
/// # Errors
/// Forbidden for a service account; an unknown level
/// (field `permission`); a message too long (field `message`); an unknown
/// version; the same request pending already (a store conflict).
pub async fn file(
    state: &AppState,
    caller: &Caller,
    dataset: &DatasetRow,
    input: NewRequest,
) -> Result<AccessRequest, ServiceError> {
    let user_id = caller.person()?;
    let permission = input.permission.as_deref().unwrap_or("view");
    if dsg_core::Level::parse(permission).is_none() {
        return Err(Invalid::Rule {
            field: Some("permission"),
            message: "permission must be view, edit, manage or admin".into(),
        }
        .into());
    }
    if input.message.len() > MAX_MESSAGE {
        return Err(Invalid::Rule {
            field: Some("message"),
            message: format!("message is longer than {MAX_MESSAGE} characters"),
        }
        .into());
    }
    let mut tx = state.store.begin(caller.actor()).await?;
    let version_id = match &input.version {
        Some(v) => Some(tx.version_id(dataset.id, v).await?),
        None => None,
    };
    let id = tx
        .create_access_request(user_id, dataset.id, version_id, permission, &input.message)
        .await?;
    commit(state, tx).await?;
    reread(state, id).await
}

async fn reread(state: &AppState, id: i64) -> Result<AccessRequest, ServiceError> {
    state
        .store
        .access_request(id)
        .await?
        .ok_or_else(|| super::vanished("access request"))
}

/// A request by id.
///
/// # Errors
/// "Access request not found".
pub async fn find(state: &AppState, id: i64) -> Result<AccessRequest, ServiceError> {
    state.store.access_request(id).await?.ok_or_else(not_found)
}

fn not_found() -> ServiceError {
    ServiceError::NotFound("Access request not found")
}

/// The requests on a dataset, optionally only those with `status`. Its
/// administrators.
///
/// # Errors
/// Forbidden.
pub async fn of_dataset(
    state: &AppState,
    caller: &Caller,
    dataset: &DatasetRow,
    status: Option<&str>,
) -> Result<Vec<AccessRequest>, ServiceError> {
    if !caller.may_decide_requests(&dataset.name) {
        return Err(ServiceError::Forbidden(None));
    }
    Ok(state
        .store
        .access_requests(Some(dataset.id), None, status)
        .await?)
}

/// The caller's own requests (a person's).
///
/// # Errors
/// Forbidden for a service account.
pub async fn mine(state: &AppState, caller: &Caller) -> Result<Vec<AccessRequest>, ServiceError> {
    let user_id = caller.person()?;
    Ok(state
        .store
        .access_requests(None, Some(user_id), None)
        .await?)
}

/// The pending requests the caller may decide, on every dataset.
///
/// # Errors
/// Database failures.
pub async fn inbox(state: &AppState, caller: &Caller) -> Result<Vec<AccessRequest>, ServiceError> {
    Ok(state
        .store
        .access_requests(None, None, Some("pending"))
        .await?
        .into_iter()
        .filter(|r| caller.may_decide_requests(&r.dataset))
        .collect())
}

/// The requester withdraws their pending request. Returns it as stored.
///
/// # Errors
/// Forbidden for a service account; not found (someone else's request);
/// a request that is not pending (a store conflict).
pub async fn withdraw(
    state: &AppState,
    caller: &Caller,
    request: &AccessRequest,
) -> Result<AccessRequest, ServiceError> {
    let user_id = caller.person()?;
    if request.user_id != user_id {
        return Err(not_found());
    }
    let mut tx = state.store.begin(caller.actor()).await?;
    tx.withdraw_access_request(request.id, user_id).await?;
    commit(state, tx).await?;
    reread(state, request.id).await
}

/// A decision on a request.
#[derive(Debug, Clone)]
pub struct Decision {
    /// Grant what was asked (`true`) or refuse it.
    pub approve: bool,
    /// The decider's note.
    pub note: String,
    /// When an approved grant ends; must lie in the future when given (for
    /// a denial too, as it always had to).
    pub expires_at: Option<Timestamp>,
}

/// A dataset administrator decides a pending request; approval creates the
/// grant. Returns the request as stored.
///
/// # Errors
/// Forbidden for a service account; not found for people who may not
/// decide it (forbidden when it is their own); forbidden when approving a
/// level the caller may not grant; an expiry not in the future; a request
/// that is not pending (a store conflict).
pub async fn decide(
    state: &AppState,
    caller: &Caller,
    request: &AccessRequest,
    decision: Decision,
) -> Result<AccessRequest, ServiceError> {
    let user_id = caller.person()?;
    if !caller.may_decide_requests(&request.dataset) {
        return Err(if request.user_id == user_id {
            ServiceError::Forbidden(None)
        } else {
            not_found()
        });
    }
    let Decision {
        approve,
        note,
        expires_at,
    } = decision;
    if approve
        && !caller.may_handle_level(&state.config.access, &request.dataset, &request.permission)
    {
        return Err(ServiceError::Forbidden(None));
    }
    let expiry = Expiry::future(expires_at, state.clock.now(), "expires_at")?;
    let mut tx = state.store.begin(caller.actor()).await?;
    tx.decide_access_request(request, approve, &note, expiry.at())
        .await?;
    commit(state, tx).await?;
    reread(state, request.id).await
}
