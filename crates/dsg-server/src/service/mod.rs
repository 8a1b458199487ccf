//! The use cases: every rule about who may do what, and every write, lives
//! here once. Each function checks the caller's authority
//! ([`authority`]), validates its input into typed values, runs the store's
//! write transaction (change, audit row and cache events together) and
//! returns a typed result. The front-ends (the CAVE API, the native API,
//! SCIM, ngauth, the web UI, the admin console, the CLI) translate HTTP or
//! arguments into these calls and their results back; none of them holds an
//! authority rule or a write sequence.

pub mod access;
pub mod access_requests;
pub mod audit_log;
pub mod authority;
pub mod bucket_iam;
pub mod buckets;
pub mod clients;
pub mod console;
pub mod dataset_admins;
pub mod datasets;
pub mod decisions;
mod error;
pub mod global_admins;
pub mod grants;
pub mod input;
pub mod invitations;
pub mod memberships;
pub mod oidc;
pub mod provisioning;
pub mod scim_tokens;
pub mod service_accounts;
pub mod sessions;
pub mod tables;
pub mod tokens;
pub mod tos;
pub mod translations;
pub mod who_has_access;

pub use error::{Invalid, ServiceError};

use dsg_core::Timestamp;
use dsg_store::Store;
use dsg_store::write::Actor;

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

/// Where a use case's writes go: a running server, whose cache applies each
/// commit's events at once, or the bare store a one-off command opened
/// (running servers then replay the change from the outbox).
#[derive(Clone, Copy)]
pub(crate) enum Db<'a> {
    /// A running server.
    Server(&'a AppState),
    /// A one-off command (the CLI).
    Command(&'a Store),
}

impl<'a> Db<'a> {
    /// The store written to.
    pub(crate) fn store(self) -> &'a Store {
        match self {
            Self::Server(state) => &state.store,
            Self::Command(store) => store,
        }
    }

    /// Now, by the server's clock (the test clock in tests) or the system's.
    pub(crate) fn now(self) -> Timestamp {
        match self {
            Self::Server(state) => state.clock.now(),
            Self::Command(_) => Timestamp(dsg_store::now_micros()),
        }
    }

    /// Commits `tx`; on a server, also applies its cache events there at once.
    ///
    /// # Errors
    /// The commit failed; nothing was written.
    pub(crate) async fn commit(self, tx: dsg_store::WriteTx) -> Result<(), ServiceError> {
        match self {
            Self::Server(state) => commit(state, tx).await,
            Self::Command(_) => {
                tx.commit().await?;
                Ok(())
            }
        }
    }
}

/// Whoever runs a one-off command (the CLI) on the database it opened:
/// holding the database, they hold every right over it, so the use cases'
/// `*_as_operator` entry points check input but no authority. Their changes
/// are audited under `actor` (`cli:<command>`).
pub struct Operator<'a> {
    store: &'a Store,
    actor: Actor,
}

impl<'a> Operator<'a> {
    /// The operator of `store`, recorded in the audit log as `actor`.
    pub fn new(store: &'a Store, actor: Actor) -> Self {
        Self { store, actor }
    }

    /// Where the operator's changes go.
    pub(crate) fn db(&self) -> Db<'a> {
        Db::Command(self.store)
    }

    /// The audit actor.
    pub(crate) fn actor(&self) -> Actor {
        self.actor.clone()
    }
}

/// A row this use case has just written could not be read back (a server
/// error: the cause is logged, never shown).
pub(crate) fn vanished(what: &str) -> ServiceError {
    ServiceError::Store(dsg_store::StoreError::Domain(
        dsg_core::DomainError::Internal(format!("{what} vanished").into()),
    ))
}
