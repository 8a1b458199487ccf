//! `[auth]`, `[privacy]` and `[access]`: where tokens are read, who may list whom, who may appoint dataset admins.

use serde::{Deserialize, Serialize};

/// `[auth]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Cookie names read for a token, first present wins.
    pub cookie_names: Vec<String>,
    /// Query parameter names read for a token, first present wins.
    pub query_names: Vec<String>,
    /// `Domain` of the `dsg_token` cookie (`AUTH_COOKIE_DOMAIN`).
    pub cookie_domain: String,
    /// JWT bearer tokens from one external issuer (the keys below); more
    /// issuers go in `[[auth.issuers]]`. Off unless `enabled = true`.
    pub enabled: bool,
    /// Issuer URL; keys are discovered from `{issuer}/.well-known/openid-configuration`.
    pub issuer: String,
    /// Required `aud` (empty: not checked).
    pub audience: String,
    /// Accepted algorithms: RS/ES/PS variants only.
    pub algorithms: Vec<String>,
    /// Clock-skew tolerance for `exp` / `nbf`, seconds.
    pub leeway_secs: u64,
    /// Background JWKS refresh interval, seconds (at least 60).
    pub jwks_refresh_secs: u64,
    /// Scopes every token must carry (`scope` or `scp` claim).
    pub read_scopes: Vec<String>,
    /// Scopes that unlock writing: a token lacking any of them acts as a
    /// read-only token (view levels only, no management). Empty: not checked.
    pub reload_scopes: Vec<String>,
    /// Accepted for compatibility with the `[auth]` block of other services;
    /// no effect here (the endpoints that need no token never ask for one).
    pub anonymous_read: bool,
    /// Accepted for compatibility; no effect (there is no `X-Admin-Token`).
    pub admin_token_fallback: bool,
    /// JSON pointer to the tenant claim, e.g. `/tid` (empty: no tenant check).
    pub tenant_claim: String,
    /// Accepted tenants (empty: any).
    pub allowed_tenants: Vec<String>,
    /// Start even when the issuer is unreachable (keys load in the background).
    pub start_degraded: bool,
    /// Claim naming the user: `email` (matched to the user's e-mail) or `sub`
    /// (matched to a login identity of this issuer).
    pub user_claim: String,
    /// Further JWT issuers, each with the keys above.
    pub issuers: Vec<super::JwtIssuerConfig>,
    /// Key the stable long-lived tokens and delegated keys are derived from
    /// (at least 32 characters); empty: derived from `server.secret_key`.
    /// Changing it (or the secret it falls back to) changes every such token.
    pub long_lived_token_key: String,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            cookie_names: vec!["dsg_token".into(), "middle_auth_token".into()],
            query_names: vec!["dsg_token".into(), "middle_auth_token".into()],
            cookie_domain: String::new(),
            enabled: false,
            issuer: String::new(),
            audience: String::new(),
            algorithms: vec!["RS256".into()],
            leeway_secs: 60,
            jwks_refresh_secs: 3600,
            read_scopes: Vec::new(),
            reload_scopes: Vec::new(),
            anonymous_read: false,
            admin_token_fallback: true,
            tenant_claim: String::new(),
            allowed_tenants: Vec::new(),
            start_degraded: true,
            user_claim: "email".into(),
            issuers: Vec::new(),
            long_lived_token_key: String::new(),
        }
    }
}

/// `[privacy]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PrivacyConfig {
    /// Who may list other users' e-mails and groups (`/user?id=`, `/user/{id}`,
    /// group members): `authenticated` (the original) or `privileged`
    /// (global admins and service accounts).
    pub user_directory: Directory,
}

impl Default for PrivacyConfig {
    fn default() -> Self {
        Self {
            user_directory: Directory::Authenticated,
        }
    }
}

/// Audience of the user directory endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Directory {
    /// Any authenticated principal.
    Authenticated,
    /// Global admins and service accounts.
    Privileged,
}

/// `[access]`
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccessConfig {
    /// Members of this group may appoint dataset admins on any dataset (the
    /// original's hard-wired `sc` group). Unset: only dataset and global admins.
    pub admin_appointer_group: Option<String>,
}
