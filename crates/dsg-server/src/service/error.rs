//! Why a use case refused or failed, typed so each front-end can answer in
//! its own shape and words (a JSON envelope, a SCIM error, a flash message
//! next to a form field).

use dsg_store::StoreError;

use crate::rate_limit::Limited;

/// A use case's failure.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The caller may not do this; `Some` carries the message clients see
    /// instead of the generic one.
    #[error("forbidden")]
    Forbidden(Option<String>),
    /// The caller may not grant, change or revoke this level on this dataset.
    #[error("cannot grant {level} on {dataset}")]
    LevelOutOfReach {
        /// The level asked for.
        level: String,
        /// The dataset.
        dataset: String,
    },
    /// Nobody but a global admin changes their own grants.
    #[error("own grant")]
    OwnGrant,
    /// Nothing of this kind with that key (e.g. "Grant not found").
    #[error("{0}")]
    NotFound(&'static str),
    /// Input that fails a rule.
    #[error("{0}")]
    Invalid(Invalid),
    /// The change would collide with what exists.
    #[error("{0}")]
    Conflict(String),
    /// Over a rate limit (e.g. `rate_limit.token_creation`).
    #[error("too many requests; retry in {} s", .0.retry_after)]
    Limited(Limited),
    /// The store failed or refused (its own not-found and conflict cases included).
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<Limited> for ServiceError {
    fn from(l: Limited) -> Self {
        Self::Limited(l)
    }
}

/// Input that fails a rule, with the field it concerns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    /// An expiry at or before now.
    #[error("{field} must be in the future")]
    NotInFuture {
        /// The field (`expires_at`).
        field: &'static str,
    },
    /// Text longer than allowed, in characters.
    #[error("{field} is longer than {max} characters")]
    TooLong {
        /// The field (`description`).
        field: &'static str,
        /// The most characters allowed.
        max: usize,
    },
    /// Any other rule, in words.
    #[error("{message}")]
    Rule {
        /// The field, when one is to blame.
        field: Option<&'static str>,
        /// What is wrong.
        message: String,
    },
}

impl Invalid {
    /// The field the problem concerns, if any.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            Self::NotInFuture { field } | Self::TooLong { field, .. } => Some(field),
            Self::Rule { field, .. } => *field,
        }
    }
}

impl From<Invalid> for ServiceError {
    fn from(i: Invalid) -> Self {
        Self::Invalid(i)
    }
}
