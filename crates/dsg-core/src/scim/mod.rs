//! SCIM 2.0 (RFC 7643 / RFC 7644) without I/O: the schemas served, filter
//! parsing and typing, in-memory evaluation, PATCH application and the
//! mapping between resource JSON and the fields the store writes.

pub mod cond;
pub mod fields;
pub mod filter;
pub mod patch;
pub mod schema;

/// A client error in SCIM terms: always HTTP 400 with this `scimType`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// `invalidFilter`, `invalidPath`, `invalidValue`, `invalidSyntax`,
    /// `noTarget`, `mutability`, …
    pub scim_type: &'static str,
    /// What is wrong.
    pub detail: String,
}

impl Invalid {
    /// Builds one.
    pub fn new(scim_type: &'static str, detail: impl Into<String>) -> Self {
        Self {
            scim_type,
            detail: detail.into(),
        }
    }

    /// `invalidValue`.
    pub fn value(detail: impl Into<String>) -> Self {
        Self::new("invalidValue", detail)
    }
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.scim_type, self.detail)
    }
}

impl std::error::Error for Invalid {}
