//! The login cookie (`dsg_token`): one place decides its attributes, for
//! setting it at login and clearing it at logout.

use axum::http::HeaderValue;

use crate::config::Config;

/// Name of the login cookie.
pub const LOGIN_COOKIE: &str = "dsg_token";

/// True when the login cookie can be `SameSite=None; Secure`: always in
/// production; in local mode when browsers reach the server over https or on
/// loopback (which they treat as a secure context), judged by the public
/// origin, else by the listen address.
fn cross_site(config: &Config) -> bool {
    if config.secure_cookies() {
        return true;
    }
    if config.server.origin.is_empty() {
        return config.server.bind.ip().is_loopback();
    }
    match url::Url::parse(&config.server.origin) {
        Ok(u) if u.scheme() == "https" => true,
        Ok(u) => match u.host() {
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        },
        Err(_) => false,
    }
}

/// The attributes shared by setting and clearing: `Path=/; HttpOnly`, then
/// `SameSite=None; Secure` where the browser allows it (Neuroglancer reads the
/// cookie from a cross-site `fetch`), else `SameSite=Lax` (plain http off
/// loopback in local mode: a browser drops a `SameSite=None` cookie that is
/// not `Secure`), then the configured `Domain`.
fn attributes(config: &Config) -> String {
    let mut v = String::from("Path=/; HttpOnly");
    if cross_site(config) {
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

/// Signs the browser out: revokes the user token its login cookie(s) carry
/// (stale or unknown values are ignored). Shared by every logout path.
///
/// # Errors
/// Database failures.
pub async fn sign_out(
    state: &crate::state::AppState,
    headers: &axum::http::HeaderMap,
) -> Result<(), crate::error::ApiError> {
    let mut values: Vec<String> = state
        .config
        .auth
        .cookie_names
        .iter()
        .filter_map(|name| crate::http::credentials::cookie(headers, name))
        .collect();
    // A server-side logout (clio-store) presents the login token as a bearer.
    if let Some(b) = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|v| !v.is_empty())
    {
        values.push(b.to_owned());
    }
    let request_id = crate::http::request_id::request_id_of(headers);
    crate::service::sessions::revoke_login_tokens(state, values, request_id).await?;
    Ok(())
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
    fn local_mode_on_loopback_or_https_is_cross_site() {
        let mut c = Config::default(); // binds 127.0.0.1, no origin
        let s = |c: &Config| clear_login_cookie(c).to_str().unwrap_or("").to_owned();
        assert!(s(&c).contains("SameSite=None; Secure") && s(&c).contains("Max-Age=0"));
        c.server.origin = "http://localhost:8200".into();
        assert!(s(&c).contains("SameSite=None; Secure"));
        c.server.origin = "https://dsg.lab.example".into();
        assert!(s(&c).contains("SameSite=None; Secure"));
    }

    #[test]
    fn local_mode_over_plain_http_off_loopback_falls_back_to_lax() {
        let mut c = Config::default();
        c.server.origin = "http://dsg.lab.example:8200".into();
        let v = clear_login_cookie(&c);
        let s = v.to_str().unwrap_or("");
        assert!(s.contains("SameSite=Lax") && !s.contains("Secure"), "{s}");
        let mut c = Config::default();
        c.server.bind = "0.0.0.0:8200".parse().unwrap_or(c.server.bind);
        let v = clear_login_cookie(&c);
        assert!(v.to_str().unwrap_or("").contains("SameSite=Lax"));
    }
}
