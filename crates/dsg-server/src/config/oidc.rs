//! `[oidc_provider]`: lifetimes of what DatasetGateway issues as an OpenID
//! Connect provider (docs/oidc-provider.md).

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// `[oidc_provider]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OidcProviderConfig {
    /// Authorization codes, seconds (single use).
    pub code_secs: i64,
    /// Access and id tokens (JWTs), seconds.
    pub access_token_secs: i64,
    /// Refresh tokens (rotated on every use), seconds.
    pub refresh_token_secs: i64,
}

impl Default for OidcProviderConfig {
    fn default() -> Self {
        Self {
            code_secs: 60,
            access_token_secs: 3600,
            refresh_token_secs: 30 * 86_400,
        }
    }
}

impl OidcProviderConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        for (name, v, max) in [
            ("code_secs", self.code_secs, 600),
            ("access_token_secs", self.access_token_secs, 86_400),
            ("refresh_token_secs", self.refresh_token_secs, 365 * 86_400),
        ] {
            if !(1..=max).contains(&v) {
                return Err(ConfigError(format!(
                    "oidc_provider.{name} is {v}: use 1 to {max} seconds"
                )));
            }
        }
        Ok(())
    }
}
