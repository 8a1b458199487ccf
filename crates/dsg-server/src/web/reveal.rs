//! A new token's value across the redirect after its creation
//! (post/redirect/get): the POST answers 302 with the value sealed
//! (ChaCha20-Poly1305, a key derived from the server secret) in a short-lived
//! HttpOnly cookie limited to the account page; the GET that follows shows
//! it once and clears the cookie, so reloading shows nothing again and
//! creates nothing. Only the signed-in user it was made for can open it.
//! Nothing is kept in process memory (replicas stay stateless) and the value
//! never reaches the database.

use axum::http::{HeaderMap, HeaderValue};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::state::AppState;

const COOKIE: &str = "dsg_reveal";

/// How long the value waits for the page that shows it.
const MAX_AGE_SECS: u32 = 120;

/// A value to show once on the account page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Reveal {
    /// The token's value.
    pub value: String,
    /// Its description.
    pub description: String,
}

fn cipher(state: &AppState) -> ChaCha20Poly1305 {
    let mut key = [0u8; 32];
    hkdf::Hkdf::<Sha256>::new(None, &state.idp.login_key)
        .expand(b"dsg web reveal v1", &mut key)
        .unwrap_or_else(|_| unreachable!("32 bytes is a valid HKDF-SHA-256 length"));
    ChaCha20Poly1305::new(&key.into())
}

fn attributes(state: &AppState, path: &str) -> String {
    let secure = if state.config.secure_cookies() {
        "; Secure"
    } else {
        ""
    };
    format!("Path={path}; HttpOnly; SameSite=Strict{secure}")
}

/// `Set-Cookie` carrying `reveal` for user `user_id`, readable on `path`.
pub(crate) fn set(
    state: &AppState,
    path: &str,
    user_id: i64,
    reveal: &Reveal,
) -> Option<HeaderValue> {
    let plain = serde_json::to_vec(reveal).ok()?;
    let mut nonce = [0u8; 12];
    getrandom::fill(&mut nonce).ok()?;
    let aad = user_id.to_be_bytes();
    let sealed = cipher(state)
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: &plain,
                aad: &aad,
            },
        )
        .ok()?;
    let value = B64.encode([nonce.as_slice(), &sealed].concat());
    HeaderValue::from_str(&format!(
        "{COOKIE}={value}; Max-Age={MAX_AGE_SECS}; {}",
        attributes(state, path)
    ))
    .ok()
}

/// `Set-Cookie` that clears the value on `path`.
pub(crate) fn clear(state: &AppState, path: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "{COOKIE}=; Max-Age=0; {}",
        attributes(state, path)
    ))
    .ok()
}

/// The value waiting for user `user_id` (none when absent, tampered with,
/// or sealed for someone else).
pub(crate) fn read(state: &AppState, headers: &HeaderMap, user_id: i64) -> Option<Reveal> {
    let raw = B64
        .decode(crate::http::credentials::cookie(headers, COOKIE)?)
        .ok()?;
    if raw.len() < 12 {
        return None;
    }
    let (nonce, body) = raw.split_at(12);
    let aad = user_id.to_be_bytes();
    let plain = cipher(state)
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: body,
                aad: &aad,
            },
        )
        .ok()?;
    serde_json::from_slice(&plain).ok()
}
