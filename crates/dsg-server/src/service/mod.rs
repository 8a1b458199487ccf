//! The use cases: every rule about who may do what, and every write, lives
//! here once. Each function checks the caller's authority
//! ([`authority`]), validates its input into typed values, runs the store's
//! write transaction (change, audit row and cache events together) and
//! returns a typed result. The front-ends (the CAVE API, the native API,
//! SCIM, ngauth, the web UI, the admin console, the CLI) translate HTTP or
//! arguments into these calls and their results back; none of them holds an
//! authority rule or a write sequence.

pub mod authority;
pub mod bucket_iam;
pub mod buckets;
pub mod console;
pub mod dataset_admins;
mod error;
pub mod grants;
pub mod input;
pub mod invitations;
pub mod memberships;
pub mod provisioning;
pub mod sessions;

pub use error::{Invalid, ServiceError};

use crate::state::AppState;

/// Commits a write transaction and applies its cache events on this server
/// at once (other replicas replay them from the outbox).
///
/// # Errors
/// The commit failed; nothing was written.
pub(crate) async fn commit(state: &AppState, tx: dsg_store::WriteTx) -> Result<(), ServiceError> {
    let events = tx.commit().await?;
    state.committed(&events);
    Ok(())
}
