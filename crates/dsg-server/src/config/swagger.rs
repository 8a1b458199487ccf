//! `[swagger]`: the Swagger UI at `/docs`, and its optional OAuth2 PKCE login.

use serde::{Deserialize, Serialize};

/// `[swagger]`
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SwaggerConfig {
    /// `[swagger.oauth2]`: when set, the Authorize button runs an
    /// authorization-code flow with PKCE against this issuer and "Try it out"
    /// sends the resulting access token as `Authorization: Bearer`.
    pub oauth2: Option<SwaggerOauth2>,
}

/// `[swagger.oauth2]`
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SwaggerOauth2 {
    /// Issuer URL; endpoints come from `{issuer}/.well-known/openid-configuration`
    /// unless both endpoints below are set.
    pub issuer: String,
    /// Public (SPA) client id registered with the issuer; redirect URI
    /// `{origin}/docs/oauth2-redirect.html`.
    pub client_id: String,
    /// Scopes offered (and preselected) in the Authorize dialog.
    pub scopes: Vec<String>,
    /// Authorization endpoint (skips discovery together with `token_endpoint`).
    pub authorization_endpoint: String,
    /// Token endpoint.
    pub token_endpoint: String,
}

fn http_url(key: &str, value: &str, https_only: bool) -> Result<url::Url, String> {
    let u = url::Url::parse(value).map_err(|e| {
        format!("swagger.oauth2.{key} {value:?} is not a URL ({e}); e.g. https://login.example.org")
    })?;
    let scheme_ok = u.scheme() == "https" || (!https_only && u.scheme() == "http");
    if !scheme_ok || u.host().is_none() {
        let want = if https_only {
            "https://"
        } else {
            "http:// or https://"
        };
        return Err(format!(
            "swagger.oauth2.{key} {value:?} must be an absolute {want} URL"
        ));
    }
    Ok(u)
}

impl SwaggerConfig {
    /// Checks the block; `production` requires https URLs.
    ///
    /// # Errors
    /// What to fix.
    pub fn validate(&self, production: bool) -> Result<(), String> {
        let Some(o) = &self.oauth2 else {
            return Ok(());
        };
        if o.issuer.trim().is_empty() {
            return Err("swagger.oauth2.issuer is required (the OpenID Connect issuer URL)".into());
        }
        http_url("issuer", &o.issuer, production)?;
        if o.client_id.trim().is_empty() {
            return Err(
                "swagger.oauth2.client_id is required (a public SPA client of the issuer)".into(),
            );
        }
        for s in &o.scopes {
            if s.is_empty() || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(format!(
                    "swagger.oauth2.scopes: {s:?} is not a scope (no spaces, not empty)"
                ));
            }
        }
        match (
            o.authorization_endpoint.is_empty(),
            o.token_endpoint.is_empty(),
        ) {
            (true, true) => {}
            (false, false) => {
                http_url(
                    "authorization_endpoint",
                    &o.authorization_endpoint,
                    production,
                )?;
                http_url("token_endpoint", &o.token_endpoint, production)?;
            }
            _ => {
                return Err(
                    "swagger.oauth2: set both authorization_endpoint and token_endpoint, \
                     or neither (to discover them from the issuer)"
                        .into(),
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(f: impl FnOnce(&mut SwaggerOauth2)) -> SwaggerConfig {
        let mut o = SwaggerOauth2 {
            issuer: "https://login.example.org/tenant/v2.0".into(),
            client_id: "spa".into(),
            scopes: vec!["openid".into(), "datasets:read".into()],
            ..SwaggerOauth2::default()
        };
        f(&mut o);
        SwaggerConfig { oauth2: Some(o) }
    }

    #[test]
    fn absent_or_complete_blocks_pass() {
        assert!(SwaggerConfig::default().validate(true).is_ok());
        assert!(block(|_| {}).validate(true).is_ok());
    }

    #[test]
    fn bad_values_say_what_to_fix() {
        let e = block(|o| o.issuer = "login.example.org".into()).validate(false);
        assert!(e.unwrap_err().contains("swagger.oauth2.issuer"));
        let e = block(|o| o.issuer = "http://login.example.org".into()).validate(true);
        assert!(e.unwrap_err().contains("https://"));
        assert!(
            block(|o| o.issuer = "http://127.0.0.1:9000".into())
                .validate(false)
                .is_ok()
        );
        let e = block(|o| o.client_id = String::new()).validate(false);
        assert!(e.unwrap_err().contains("client_id"));
        let e = block(|o| o.scopes = vec!["a b".into()]).validate(false);
        assert!(e.unwrap_err().contains("scopes"));
        let e = block(|o| o.token_endpoint = "https://x.example/token".into()).validate(false);
        assert!(e.unwrap_err().contains("both"));
    }
}
