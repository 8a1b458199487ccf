//! DatasetGateway as an OpenID Connect provider (docs/oidc-provider.md):
//! registered clients, the signing keys, the authorization-code flow with
//! PKCE, refresh-token rotation, the claims, userinfo, revocation and
//! end-session. The front-end (`crate::oidc`) only translates HTTP.

pub mod claims;
pub mod clients;
pub mod flow;
pub mod keys;

pub use dsg_core::oidc::SCOPES;

/// An OAuth error answer: `{"error": code, "error_description": …}` with
/// this status (400 or 401; never a 5xx for a client's mistake).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    /// HTTP status.
    pub status: u16,
    /// `invalid_request`, `invalid_client`, `invalid_grant`, …
    pub error: &'static str,
    /// For people.
    pub description: String,
}

impl OAuthError {
    /// 400 with `error`.
    pub fn bad(error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status: 400,
            error,
            description: description.into(),
        }
    }

    /// 400 `temporarily_unavailable`: the store failed (never a 5xx to a client).
    pub fn unavailable() -> Self {
        Self::bad("temporarily_unavailable", "try again")
    }

    /// 401 `invalid_client`.
    pub fn client(description: impl Into<String>) -> Self {
        Self {
            status: 401,
            error: "invalid_client",
            description: description.into(),
        }
    }
}
