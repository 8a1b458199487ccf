//! The login cookie (`dsg_token`): one place decides its attributes, for
//! setting it at login and clearing it at logout.

use axum::http::HeaderValue;

use crate::config::Config;

/// Name of the login cookie.
pub const LOGIN_COOKIE: &str = "dsg_token";

/// The attributes shared by setting and clearing: `Path=/; HttpOnly`, then
/// `SameSite=None; Secure` where cookies are secure (Neuroglancer reads the
/// cookie from a cross-site `fetch`), else `SameSite=Lax` (a browser drops a
/// `SameSite=None` cookie that is not `Secure`), then the configured `Domain`.
fn attributes(config: &Config) -> String {
    let mut v = String::from("Path=/; HttpOnly");
    if config.secure_cookies() {
        v.push_str("; SameSite=None; Secure");
    } else {
        v.push_str("; SameSite=Lax");
    }
    if !config.auth.cookie_domain.is_empty() {
        v.push_str("; Domain=");
        v.push_str(&config.auth.cookie_domain);
    }
    v
}

/// `Set-Cookie` value carrying a login key for `max_age_secs`.
pub fn login_cookie(config: &Config, token: &str, max_age_secs: i64) -> Option<HeaderValue> {
    let v = format!(
        "{LOGIN_COOKIE}={token}; Max-Age={max_age_secs}; {}",
        attributes(config)
    );
    HeaderValue::from_str(&v).ok()
}

/// `Set-Cookie` value that deletes the login cookie.
pub fn clear_login_cookie(config: &Config) -> HeaderValue {
    let v = format!(
        "{LOGIN_COOKIE}=\"\"; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; {}",
        attributes(config)
    );
    HeaderValue::from_str(&v)
        .unwrap_or_else(|_| HeaderValue::from_static("dsg_token=; Max-Age=0; Path=/"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Mode;

    #[test]
    fn production_cookie_is_cross_site_and_secure() {
        let mut c = Config::default();
        c.server.mode = Mode::Production;
        c.auth.cookie_domain = ".example.org".into();
        let v = login_cookie(&c, "abc", 60).map(|h| h.to_str().unwrap_or("").to_owned());
        assert_eq!(
            v.as_deref(),
            Some(
                "dsg_token=abc; Max-Age=60; Path=/; HttpOnly; SameSite=None; Secure; Domain=.example.org"
            )
        );
    }

    #[test]
    fn local_cookie_falls_back_to_lax() {
        let v = clear_login_cookie(&Config::default());
        let s = v.to_str().unwrap_or("");
        assert!(s.contains("SameSite=Lax") && !s.contains("Secure") && s.contains("Max-Age=0"));
    }
}
