//! What every page of the sign-in popups shares (the Neuroglancer popup and
//! the registered-client popup): rendering, headers, the CSP nonce, the
//! page that posts a message to its opener and closes, and the visitor's
//! cookie login.

use askama::Template;
use askama_web::WebTemplate;
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

use super::{CookieLogin, cookie_login, login_failure};
use crate::error::ApiError;
use crate::http::forwarded::ClientIp;
use crate::state::AppState;

#[derive(Template, WebTemplate)]
#[template(path = "ngauth/popup.html")]
struct PopupPage<'a> {
    title: &'a str,
    text: &'a str,
    origin: &'a str,
    /// JSON text of the message (HTML-escaped by the template).
    message: &'a str,
    nonce: &'a str,
}

/// Renders a page as HTML (a 500 when the template fails).
pub(super) fn html(page: impl Template) -> Response {
    match page.render() {
        Ok(body) => ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response(),
        Err(e) => ApiError::Internal(format!("rendering a page: {e}")).into_response(),
    }
}

/// Sets a header when the value is valid.
pub(super) fn set(response: &mut Response, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        response
            .headers_mut()
            .insert(HeaderName::from_static(name), v);
    }
}

/// Headers of every page on the popup path: keep `window.opener`, no caching.
pub(super) fn popup_headers(response: &mut Response) {
    set(response, "cross-origin-opener-policy", "unsafe-none");
    set(response, "cache-control", "no-store");
    set(response, "referrer-policy", "no-referrer");
}

/// A fresh CSP nonce.
pub(super) fn nonce() -> String {
    let mut b = [0u8; 16];
    match getrandom::fill(&mut b) {
        Ok(()) => hex::encode(b),
        // Without randomness the script is simply blocked by the CSP below.
        Err(_) => String::from("unavailable"),
    }
}

/// The page that posts `message` to `target` and closes.
pub(super) fn post_message_page(
    title: &str,
    text: &str,
    target: &str,
    message: &serde_json::Value,
) -> Response {
    let nonce = nonce();
    let message = message.to_string();
    let mut r = html(PopupPage {
        title,
        text,
        origin: target,
        message: &message,
        nonce: &nonce,
    });
    popup_headers(&mut r);
    script_csp(&mut r, &nonce);
    r
}

/// The CSP of a popup page whose only script is the one with `nonce`.
pub(super) fn script_csp(r: &mut Response, nonce: &str) {
    set(
        r,
        "content-security-policy",
        &format!(
            "default-src 'none'; script-src 'nonce-{nonce}'; style-src 'unsafe-inline'; \
             base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        ),
    );
}

/// Percent-encodes a query value.
pub(super) fn encode(s: &str) -> String {
    utf8_percent_encode(s, NON_ALPHANUMERIC).to_string()
}

/// Where the login issue's entry point sends the browser back to (a
/// relative path: never an open redirect).
pub fn login_url(next: &str) -> String {
    format!("/auth/login?next={}", encode(next))
}

/// The cookie login, or the answer to send instead (429, 503).
pub(super) async fn current_login(
    state: &AppState,
    headers: &HeaderMap,
    client: Option<ClientIp>,
) -> Result<Option<CookieLogin>, Response> {
    cookie_login(state, headers, client)
        .await
        .map_err(|e| login_failure(e, "ngauth page"))
}
