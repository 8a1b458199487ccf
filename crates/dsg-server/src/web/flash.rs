//! Flash messages across the redirect that ends every form post: a short-lived
//! cookie signed with a key derived from the server secret (nothing kept in
//! process memory, so replicas stay stateless). Read and cleared by the next
//! page; messages tied to a form field are shown next to that field.

use axum::http::{HeaderMap, HeaderValue};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::state::AppState;

const COOKIE: &str = "dsg_flash";

/// One message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Flash {
    /// `success`, `info` or `error` (the CSS class `alert-<level>`).
    pub level: String,
    /// Text (HTML-escaped when shown).
    pub text: String,
    /// The form field it belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl Flash {
    /// A success message.
    pub fn success(text: impl Into<String>) -> Self {
        Self::new("success", text, None)
    }

    /// An informational message.
    pub fn info(text: impl Into<String>) -> Self {
        Self::new("info", text, None)
    }

    /// An error message for the top of the page.
    pub fn error(text: impl Into<String>) -> Self {
        Self::new("error", text, None)
    }

    /// What was typed into `field`, to fill it in again after a refused post.
    pub fn kept(field: &str, value: &str) -> Self {
        Self::new("kept", value, Some(field.to_owned()))
    }

    /// An error shown next to `field` (top of the page when `None`).
    pub fn field_error(field: Option<&str>, text: impl Into<String>) -> Self {
        Self::new("error", text, field.map(str::to_owned))
    }

    fn new(level: &str, text: impl Into<String>, field: Option<String>) -> Self {
        Self {
            level: level.to_owned(),
            text: text.into(),
            field,
        }
    }
}

fn mac(state: &AppState, payload: &str) -> Hmac<Sha256> {
    // HMAC accepts keys of any length, so the fallback is never taken.
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&state.idp.login_key)
        .unwrap_or_else(|_| <Hmac<Sha256> as hmac::digest::KeyInit>::new(&Default::default()));
    m.update(b"dsg web flash v1\0");
    m.update(payload.as_bytes());
    m
}

fn attributes(state: &AppState) -> &'static str {
    if state.config.secure_cookies() {
        "Path=/; HttpOnly; SameSite=Lax; Secure"
    } else {
        "Path=/; HttpOnly; SameSite=Lax"
    }
}

/// `Set-Cookie` carrying `flashes` (none when empty).
pub(crate) fn set(state: &AppState, flashes: &[Flash]) -> Option<HeaderValue> {
    if flashes.is_empty() {
        return None;
    }
    let payload = B64.encode(serde_json::to_vec(flashes).ok()?);
    let sig = B64.encode(mac(state, &payload).finalize().into_bytes());
    HeaderValue::from_str(&format!(
        "{COOKIE}={payload}.{sig}; Max-Age=300; {}",
        attributes(state)
    ))
    .ok()
}

/// `Set-Cookie` that clears the messages.
pub(crate) fn clear(state: &AppState) -> HeaderValue {
    HeaderValue::from_str(&format!("{COOKIE}=; Max-Age=0; {}", attributes(state)))
        .unwrap_or_else(|_| HeaderValue::from_static("dsg_flash=; Max-Age=0; Path=/"))
}

/// The messages of a request (none when absent or tampered with).
pub(crate) fn read(state: &AppState, headers: &HeaderMap) -> Vec<Flash> {
    let Some(v) = crate::http::credentials::cookie(headers, COOKIE) else {
        return Vec::new();
    };
    let Some((payload, sig)) = v.split_once('.') else {
        return Vec::new();
    };
    let Ok(sig) = B64.decode(sig) else {
        return Vec::new();
    };
    if mac(state, payload).verify_slice(&sig).is_err() {
        return Vec::new();
    }
    B64.decode(payload)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}
