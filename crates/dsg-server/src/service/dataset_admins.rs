//! Dataset administrators: appointing is granting `admin`, removing is
//! revoking that grant (audited `dataset_admin_removed`). Who may do either
//! is the `admin` level's rule ([`Caller::may_handle_level`]); nobody but a
//! global admin removes themself.

use dsg_store::datasets::DatasetRow;
use dsg_store::grants::GrantListing;

use super::ServiceError;
use super::authority::Caller;
use super::grants::{self, GrantRequest, Within};
use crate::state::AppState;

/// Appoints an existing user as dataset admin: the grant id and the user id.
///
/// # Errors
/// As [`grants::grant`]: out of reach, unknown user, already an admin (a
/// store conflict).
pub async fn appoint(
    state: &AppState,
    caller: &Caller,
    dataset: &DatasetRow,
    email: &str,
) -> Result<(i64, i64), ServiceError> {
    grants::grant(
        state,
        caller,
        GrantRequest {
            service: None,
            buckets: &[],
            dataset,
            email,
            permission: "admin",
            version: None,
            group: None,
            expires_at: None,
        },
    )
    .await
}

/// Removes a dataset admin, by the id of their `admin` grant on `dataset`.
///
/// # Errors
/// Not found ("Dataset admin not found") for any other grant; forbidden or
/// [`ServiceError::OwnGrant`] as for revoking the grant.
pub async fn remove(
    state: &AppState,
    caller: &Caller,
    dataset: &DatasetRow,
    grant_id: i64,
) -> Result<GrantListing, ServiceError> {
    let not_found = ServiceError::NotFound("Dataset admin not found");
    let g = state.store.grant(grant_id).await?.ok_or(not_found)?;
    if g.dataset != dataset.name || g.permission != "admin" {
        return Err(ServiceError::NotFound("Dataset admin not found"));
    }
    grants::revoke(
        state,
        caller,
        g.id,
        Within::Dataset(&dataset.name),
        "dataset_admin_removed",
    )
    .await
}
