//! `[rate_limit]`: the fixed-window limits shared by replicas.

use serde::{Deserialize, Serialize};

use super::{ConfigError, parse_nets};

/// `[rate_limit]`: fixed-window limits, counted in the database (or in Redis
/// when `[redis] url` is set) so every replica sees the same counts. Over a
/// limit, requests get 429 with `Retry-After`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Apply the limits below.
    pub enabled: bool,
    /// Client addresses (IP addresses or CIDR ranges) never limited per IP,
    /// e.g. the backends of CAVE services that relay many users' tokens.
    pub exempt: Vec<String>,
    /// Login starts and callbacks, per client IP.
    pub login: LimitConfig,
    /// Minted user and service-account tokens, per acting user.
    pub token_creation: LimitConfig,
    /// Requests under `/auth/scim/v2`, per bearer token (else per client IP).
    pub scim: LimitConfig,
    /// Requests refused for an invalid or unknown token, per client IP. Over
    /// it, tokens this replica has not cached are refused without a lookup;
    /// tokens it has cached keep working.
    pub failed_auth: LimitConfig,
    /// Requests to the OpenID provider's token endpoint, per client.
    pub oidc_token: LimitConfig,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            exempt: Vec::new(),
            login: LimitConfig::per_minute(30),
            token_creation: LimitConfig::per_minute(20),
            scim: LimitConfig::per_minute(1200),
            failed_auth: LimitConfig::per_minute(60),
            oidc_token: LimitConfig::per_minute(600),
        }
    }
}

impl RateLimitConfig {
    /// `exempt` parsed.
    ///
    /// # Errors
    /// An entry that is neither an IP address nor a CIDR range, as a message.
    pub fn exempt_nets(&self) -> Result<Vec<ipnet::IpNet>, String> {
        parse_nets("rate_limit.exempt", &self.exempt)
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        self.exempt_nets().map_err(ConfigError)?;
        for (name, l) in [
            ("login", self.login),
            ("token_creation", self.token_creation),
            ("scim", self.scim),
            ("failed_auth", self.failed_auth),
            ("oidc_token", self.oidc_token),
        ] {
            if !(1..=86_400).contains(&l.window_secs) {
                return Err(ConfigError(format!(
                    "rate_limit.{name}.window_secs is {}: use 1 to 86400 seconds (e.g. 60)",
                    l.window_secs
                )));
            }
            if l.limit > 1_000_000 {
                return Err(ConfigError(format!(
                    "rate_limit.{name}.limit is {}: use at most 1000000 per window, or 0 to turn \
                     this limit off",
                    l.limit
                )));
            }
        }
        Ok(())
    }
}

/// One limit: at most `limit` requests per `window_secs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitConfig {
    /// Requests allowed per window; 0 turns this limit off.
    pub limit: u32,
    /// Window length in seconds (1 to 86400); windows start on multiples of it.
    pub window_secs: u32,
}

impl LimitConfig {
    /// `limit` per minute.
    pub const fn per_minute(limit: u32) -> Self {
        Self {
            limit,
            window_secs: 60,
        }
    }
}
