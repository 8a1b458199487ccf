//! CSRF protection for every browser form and htmx request: a double-submit
//! token (an `HttpOnly; SameSite=Strict` cookie whose value each form carries
//! in its `csrf` field, or htmx in the `X-CSRF-Token` header), compared in
//! constant time, plus a same-origin check of `Origin` and `Sec-Fetch-Site`.
//! Stateless, so any replica can check a form another one rendered.

use axum::http::{HeaderMap, HeaderValue, header};
use dsg_core::token::{ApiToken, secrets_equal};

use crate::state::AppState;

/// Name of the cookie.
pub const COOKIE: &str = "dsg_csrf";
/// Name of the form field.
pub const FIELD: &str = "csrf";
/// Name of the header htmx sends.
pub const HEADER: &str = "x-csrf-token";

/// The token for a page: the visitor's cookie, or a new one to set.
#[derive(Debug, Clone)]
pub struct CsrfToken {
    /// Value for forms.
    pub value: String,
    /// True when the cookie must be set with the page.
    pub fresh: bool,
}

/// The visitor's token, or a fresh random one.
pub fn token(headers: &HeaderMap) -> CsrfToken {
    if let Some(c) = crate::http::credentials::cookie(headers, COOKIE)
        .filter(|c| (32..=128).contains(&c.len()) && c.bytes().all(|b| b.is_ascii_graphic()))
    {
        return CsrfToken {
            value: c,
            fresh: false,
        };
    }
    let value = ApiToken::generate()
        .map(|t| t.expose().to_owned())
        .unwrap_or_default();
    CsrfToken { value, fresh: true }
}

/// `Set-Cookie` for the token.
pub fn set_cookie(state: &AppState, value: &str) -> Option<HeaderValue> {
    let secure = if state.config.secure_cookies() {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict{secure}"
    ))
    .ok()
}

/// Same-origin check for a browser post: a cross-site `Sec-Fetch-Site`, or
/// an `Origin` that is not this server's, is refused.
pub fn origin_ok(state: &AppState, headers: &HeaderMap) -> bool {
    if headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|s| s == "cross-site" || s == "same-site")
    {
        return false;
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let configured = state.config.server.origin.trim_end_matches('/');
    if !configured.is_empty() {
        return origin.eq_ignore_ascii_case(configured);
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    origin
        .split_once("://")
        .is_some_and(|(_, h)| !host.is_empty() && h.eq_ignore_ascii_case(host))
}

/// True for a request another site's page made without navigating to us
/// (an image, script, `fetch` or hidden frame): `Sec-Fetch-Site` says
/// cross-site or same-site and `Sec-Fetch-Mode` is not `navigate`. A link
/// the user follows is a navigation and passes.
pub fn cross_site_subresource(headers: &HeaderMap) -> bool {
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("");
    matches!(h("sec-fetch-site"), "cross-site" | "same-site") && h("sec-fetch-mode") != "navigate"
}

/// The token a request sent: the `X-CSRF-Token` header (htmx), else the
/// form's field value.
pub fn submitted<'a>(headers: &'a HeaderMap, field: &'a str) -> &'a str {
    headers
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or(field)
}

/// True when the post is same-origin and carries the cookie's token.
pub fn verify(state: &AppState, headers: &HeaderMap, submitted: &str) -> bool {
    let cookie = crate::http::credentials::cookie(headers, COOKIE).unwrap_or_default();
    origin_ok(state, headers)
        && !submitted.is_empty()
        && !cookie.is_empty()
        && secrets_equal(cookie.as_bytes(), submitted.as_bytes())
}
