//! The ngauth user token handed to Neuroglancer by `/token` and the login
//! popup, and presented back in `/gcs_token` bodies.
//!
//! Wire format (the one Neuroglancer's Go `ngauth_server` and the original
//! use): `base64std(HMAC-SHA256(key, J) || J)` where `J` is the JSON text
//! `{"u": "<email>", "e": <unix seconds>}` written with Python's separators.
//! Tokens issued here add `"k": <login key id>`, so `/gcs_token` can refuse a
//! token whose login key was revoked or expired since; tokens without `k`
//! are refused.
//!
//! The token is stateless (any replica verifies it with the shared secret)
//! and short-lived: at most one hour, never beyond the login key's expiry.
//! The HMAC key is [`crate::keys::TokenKey`].

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::Mac;

pub use crate::keys::TokenKey;

/// Longest lifetime of a token handed to a browser, in seconds.
pub const MAX_LIFETIME_SECS: i64 = 3600;

/// Longest token accepted (a few hundred bytes in practice).
const MAX_TOKEN_LEN: usize = 4096;

/// What a token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    /// The user's e-mail.
    pub email: String,
    /// Expiry, Unix seconds (valid up to and including this second).
    pub expires: i64,
    /// Id of the login key the token was minted from.
    pub key_id: Option<i64>,
}

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not base64, too short, bad MAC or bad JSON.
    #[error("invalid token")]
    Invalid,
    /// Past its expiry.
    #[error("expired token")]
    Expired,
}

/// The payload text, with Python's default separators (`", "`, `": "`).
fn payload(claims: &Claims) -> String {
    let email = serde_json::Value::String(claims.email.clone()).to_string();
    match claims.key_id {
        Some(k) => format!(r#"{{"u": {email}, "e": {}, "k": {k}}}"#, claims.expires),
        None => format!(r#"{{"u": {email}, "e": {}}}"#, claims.expires),
    }
}

/// Signs claims into a token.
pub fn sign(key: &TokenKey, claims: &Claims) -> String {
    let json = payload(claims);
    let mut mac = key.mac();
    mac.update(json.as_bytes());
    let mut bytes = mac.finalize().into_bytes().to_vec();
    bytes.extend_from_slice(json.as_bytes());
    STANDARD.encode(bytes)
}

/// Verifies a token at `now` (Unix seconds).
///
/// # Errors
/// [`TokenError`] for a forged, malformed or expired token.
pub fn verify(key: &TokenKey, token: &str, now: i64) -> Result<Claims, TokenError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(TokenError::Invalid);
    }
    let bytes = STANDARD
        .decode(token.trim())
        .map_err(|_| TokenError::Invalid)?;
    if bytes.len() <= 32 {
        return Err(TokenError::Invalid);
    }
    let (tag, json) = bytes.split_at(32);
    let mut mac = key.mac();
    mac.update(json);
    // Constant-time comparison.
    mac.verify_slice(tag).map_err(|_| TokenError::Invalid)?;
    let v: serde_json::Value = serde_json::from_slice(json).map_err(|_| TokenError::Invalid)?;
    let email = v
        .get("u")
        .and_then(|u| u.as_str())
        .ok_or(TokenError::Invalid)?;
    let expires = v
        .get("e")
        .and_then(|e| e.as_i64())
        .ok_or(TokenError::Invalid)?;
    let key_id = match v.get("k") {
        None => None,
        Some(k) => Some(k.as_i64().ok_or(TokenError::Invalid)?),
    };
    if expires < now {
        return Err(TokenError::Expired);
    }
    Ok(Claims {
        email: email.to_owned(),
        expires,
        key_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_key() -> TokenKey {
        TokenKey::from_bytes(&b"django-insecure-dev-key-change-in-production"[..32]).unwrap()
    }

    #[test]
    fn matches_the_original_test_vector() {
        let claims = Claims {
            email: "alice@example.org".into(),
            expires: 2_000_000_000,
            key_id: None,
        };
        let t = sign(&spec_key(), &claims);
        assert_eq!(
            t,
            "JQwTWq8gunUwE7aqW2392Ot3WYZ5eAmXhDkMMQpIA+F7InUiOiAiYWxpY2VAZXhhbXBsZS5vcmciLCAiZSI6IDIwMDAwMDAwMDB9"
        );
        assert_eq!(verify(&spec_key(), &t, 1_999_999_999), Ok(claims.clone()));
        assert_eq!(verify(&spec_key(), &t, 2_000_000_000), Ok(claims));
        assert_eq!(
            verify(&spec_key(), &t, 2_000_000_001),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn key_id_round_trips_and_tampering_is_caught() {
        let key = TokenKey::derive("some long secret value for tests only").unwrap();
        let claims = Claims {
            email: "b@x.org".into(),
            expires: 100,
            key_id: Some(7),
        };
        let t = sign(&key, &claims);
        assert_eq!(verify(&key, &t, 50), Ok(claims));
        let mut raw = STANDARD.decode(&t).unwrap();
        let last = raw.len() - 2;
        raw[last] ^= 1;
        assert_eq!(
            verify(&key, &STANDARD.encode(&raw), 50),
            Err(TokenError::Invalid)
        );
        assert_eq!(verify(&spec_key(), &t, 50), Err(TokenError::Invalid));
        assert_eq!(verify(&key, "not base64!", 50), Err(TokenError::Invalid));
        assert_eq!(
            verify(&key, &STANDARD.encode([0u8; 32]), 50),
            Err(TokenError::Invalid)
        );
    }
}
