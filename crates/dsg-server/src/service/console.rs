//! The admin console's writes: any row of any entity, created, edited or
//! deleted by a global administrator, through the store's per-aggregate
//! operations where there are some (grants, memberships, tokens, service
//! accounts) and generically otherwise, each audited and invalidating the
//! cache in its transaction. The only rule is who may use the console.

use dsg_store::StoreError;
use dsg_store::console::{Created, Entity, Values};
use dsg_store::write::Actor;

use super::authority::Caller;
use crate::state::AppState;

/// May this caller use the console? Active global administrators, and not
/// through a read-only token (the document's flag drops then).
pub fn may_use(caller: &Caller) -> bool {
    caller.authenticated().document.info.admin && caller.is_admin()
}

/// Creates a row.
///
/// # Errors
/// The store's refusal (invalid values, conflicts).
pub async fn create(
    state: &AppState,
    actor: Actor,
    e: &Entity,
    values: &Values,
) -> Result<Created, StoreError> {
    let mut tx = state.store.begin(actor).await?;
    let created = tx.console_create(e, values, state.clock.now()).await?;
    state.committed(&tx.commit().await?);
    Ok(created)
}

/// Changes a row; `false` when there is no such row.
///
/// # Errors
/// The store's refusal (invalid values, conflicts).
pub async fn update(
    state: &AppState,
    actor: Actor,
    e: &Entity,
    id: i64,
    values: &Values,
) -> Result<bool, StoreError> {
    let mut tx = state.store.begin(actor).await?;
    let changed = tx.console_update(e, id, values).await?;
    state.committed(&tx.commit().await?);
    Ok(changed)
}

/// Deletes a row (and what cascades with it); `false` when there is no such row.
///
/// # Errors
/// Entities that cannot be deleted.
pub async fn delete(
    state: &AppState,
    actor: Actor,
    e: &Entity,
    id: i64,
) -> Result<bool, StoreError> {
    let mut tx = state.store.begin(actor).await?;
    let gone = tx.console_delete(e, id).await?;
    state.committed(&tx.commit().await?);
    Ok(gone)
}
