//! Provisioning by identity providers (SCIM 2.0): creating, replacing and
//! deleting users, groups and datasets as a SCIM client asks, each in one
//! write transaction with its audit rows (actor: the SCIM token) and cache
//! events. The SCIM front-end parses and answers; the bearer token is the
//! only authority (checked before a call reaches here).

use dsg_core::scim::fields::{DatasetFields, GroupFields, UserFields};
use dsg_core::scim::schema::Kind;
use dsg_store::write::Actor;

use super::{ServiceError, commit};
use crate::state::AppState;

/// The attributes of one resource, by kind.
#[derive(Debug, Clone)]
pub enum Resource {
    /// A user.
    User(UserFields),
    /// A group.
    Group(GroupFields),
    /// A dataset.
    Dataset(DatasetFields),
}

/// Creates a resource; its internal id.
///
/// # Errors
/// A uniqueness conflict or an invalid value (from the store).
pub async fn create(state: &AppState, actor: Actor, r: &Resource) -> Result<i64, ServiceError> {
    let mut tx = state.store.begin(actor).await?;
    let id = match r {
        Resource::User(f) => tx.scim_create_user(f).await?,
        Resource::Group(f) => tx.scim_create_group(f).await?,
        Resource::Dataset(f) => tx.scim_create_dataset(f).await?,
    };
    commit(state, tx).await?;
    Ok(id)
}

/// What a replacement did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replaced {
    /// Written; the resource's internal id.
    Applied(i64),
    /// Another writer changed the resource since `seen`: nothing written.
    Stale,
}

/// Replaces the resource `scim_id` of `kind` with `r`, if its last change is
/// still `seen` (optimistic concurrency: the caller re-reads and retries, or
/// answers 412 under `If-Match`).
///
/// # Errors
/// Not found (the kind's name), a uniqueness conflict or an invalid value.
pub async fn replace(
    state: &AppState,
    actor: Actor,
    kind: Kind,
    scim_id: &str,
    seen: i64,
    r: &Resource,
) -> Result<Replaced, ServiceError> {
    let mut tx = state.store.begin(actor).await?;
    let internal = tx
        .scim_internal_id(kind, scim_id)
        .await?
        .ok_or(ServiceError::NotFound(kind.name()))?;
    let applied = match r {
        Resource::User(f) => tx.scim_replace_user(internal, seen, f).await?,
        Resource::Group(f) => tx.scim_replace_group(internal, seen, f).await?,
        Resource::Dataset(f) => tx.scim_replace_dataset(internal, seen, f).await?,
    };
    if !applied {
        return Ok(Replaced::Stale);
    }
    commit(state, tx).await?;
    Ok(Replaced::Applied(internal))
}

/// Deletes the resource `scim_id` of `kind`.
///
/// # Errors
/// Not found (the kind's name).
pub async fn delete(
    state: &AppState,
    actor: Actor,
    kind: Kind,
    scim_id: &str,
) -> Result<(), ServiceError> {
    let mut tx = state.store.begin(actor).await?;
    let internal = tx
        .scim_internal_id(kind, scim_id)
        .await?
        .ok_or(ServiceError::NotFound(kind.name()))?;
    match kind {
        Kind::User => tx.scim_delete_user(internal).await?,
        Kind::Group => tx.scim_delete_group(internal).await?,
        Kind::Dataset => tx.scim_delete_dataset(internal).await?,
    }
    commit(state, tx).await
}
