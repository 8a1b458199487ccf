//! The domain's one error type. Storage and HTTP errors are converted into it
//! at their own layer; nothing here wraps a driver or framework type.

use std::fmt;

/// What kind of thing was not found, named in messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntityKind {
    /// A human user.
    User,
    /// A service account.
    ServiceAccount,
    /// A dataset.
    Dataset,
    /// A dataset version.
    Version,
    /// A group.
    Group,
    /// A permission name.
    Permission,
    /// A terms-of-service document.
    Tos,
    /// A user or service-account token.
    Token,
    /// A service (TOS scope).
    Service,
    /// A service table.
    ServiceTable,
}

impl fmt::Display for EntityKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::User => "user",
            Self::ServiceAccount => "service account",
            Self::Dataset => "dataset",
            Self::Version => "version",
            Self::Group => "group",
            Self::Permission => "permission",
            Self::Tos => "terms of service",
            Self::Token => "token",
            Self::Service => "service",
            Self::ServiceTable => "service table",
        })
    }
}

/// Errors shared by every layer above the domain.
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// The named entity does not exist.
    #[error("{kind} not found: {id}")]
    NotFound {
        /// What was looked up.
        kind: EntityKind,
        /// How it was named (id, name or e-mail).
        id: String,
    },
    /// A uniqueness rule would be broken.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The input is invalid; the message says what to fix.
    #[error("invalid input: {0}")]
    Invalid(String),
    /// The principal may not do this.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// Something failed that the caller cannot fix.
    #[error("internal error: {0}")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl DomainError {
    /// Shorthand for [`DomainError::NotFound`].
    pub fn not_found(kind: EntityKind, id: impl fmt::Display) -> Self {
        Self::NotFound {
            kind,
            id: id.to_string(),
        }
    }
}
