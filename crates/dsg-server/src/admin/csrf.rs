//! CSRF protection of the admin console's forms: the double-submit cookie
//! and `Origin` check of the TOS acceptance page (`native::tos`), reused.
//! Every form carries the cookie's value in a hidden `csrf` field; an htmx
//! request may send it in `X-CSRF-Token` instead.

use axum::http::{HeaderMap, HeaderValue};
use dsg_core::token::{ApiToken, secrets_equal};

use crate::native::tos::{CSRF_COOKIE, csrf_cookie, origin_ok};
use crate::state::AppState;

/// Header an htmx request may carry the token in.
pub const HEADER: &str = "x-csrf-token";

/// The token for this browser: the existing cookie's value, or a fresh one
/// with the `Set-Cookie` that stores it.
pub fn token(state: &AppState, headers: &HeaderMap) -> (String, Option<HeaderValue>) {
    if let Some(c) =
        crate::credentials::cookie(headers, CSRF_COOKIE).filter(|c| (32..=128).contains(&c.len()))
    {
        return (c, None);
    }
    let fresh = ApiToken::generate()
        .map(|t| t.expose().to_owned())
        .unwrap_or_default();
    let set = csrf_cookie(state, &fresh);
    (fresh, set)
}

/// True when a state-changing request is same-origin and carries the
/// cookie's token (form field `submitted`, or the header).
pub fn verify(state: &AppState, headers: &HeaderMap, submitted: &str) -> bool {
    let cookie = crate::credentials::cookie(headers, CSRF_COOKIE).unwrap_or_default();
    let sent = if submitted.is_empty() {
        headers
            .get(HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    } else {
        submitted
    };
    origin_ok(state, headers)
        && cookie.len() >= 32
        && secrets_equal(cookie.as_bytes(), sent.as_bytes())
}
