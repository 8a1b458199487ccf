//! The short-lived login state (`state`, `nonce`, PKCE verifier, `next`,
//! provider, redirect URI) carried in an HMAC-signed, HttpOnly cookie, so any
//! replica can finish a login another one started. The cookie is cleared by
//! the callback; the provider's code is single-use, so a replayed callback
//! fails at the exchange.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// Name of the cookie.
pub const COOKIE: &str = "dsg_login";

/// Seconds a login may take.
pub const LIFETIME_SECS: i64 = 600;

/// What the callback needs to finish the login.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginState {
    /// `state` sent to the provider.
    pub state: String,
    /// `nonce` expected in the ID token.
    pub nonce: String,
    /// PKCE verifier.
    pub verifier: String,
    /// Validated target after login.
    pub next: String,
    /// Provider name.
    pub provider: String,
    /// Redirect URI used in the authorization request.
    pub redirect_uri: String,
    /// Expiry, seconds since the epoch.
    pub expires: i64,
}

fn mac(key: &[u8], payload: &str) -> Hmac<Sha256> {
    // HMAC accepts keys of any length, so the fallback is never taken.
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| <Hmac<Sha256> as hmac::digest::KeyInit>::new(&Default::default()));
    m.update(payload.as_bytes());
    m
}

/// `payload.signature`, both base64url.
pub fn seal(key: &[u8], s: &LoginState) -> String {
    let payload = B64.encode(serde_json::to_vec(s).unwrap_or_default());
    let sig = B64.encode(mac(key, &payload).finalize().into_bytes());
    format!("{payload}.{sig}")
}

/// Verifies the signature (constant time) and the expiry.
pub fn open(key: &[u8], value: &str, now_secs: i64) -> Option<LoginState> {
    let (payload, sig) = value.split_once('.')?;
    let sig = B64.decode(sig).ok()?;
    mac(key, payload).verify_slice(&sig).ok()?;
    let s: LoginState = serde_json::from_slice(&B64.decode(payload).ok()?).ok()?;
    (now_secs < s.expires).then_some(s)
}

/// 32 random bytes, base64url.
///
/// # Errors
/// The OS random source failed.
pub fn random() -> Result<String, getrandom::Error> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b)?;
    Ok(B64.encode(b))
}

/// PKCE S256 challenge of a verifier.
pub fn challenge(verifier: &str) -> String {
    use sha2::Digest;
    B64.encode(Sha256::digest(verifier.as_bytes()))
}

/// The signing key for login state, derived from the server secret.
pub fn derive_key(secret: &str) -> Vec<u8> {
    mac(secret.as_bytes(), "dsg login state v1")
        .finalize()
        .into_bytes()
        .to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> LoginState {
        LoginState {
            state: "s".into(),
            nonce: "n".into(),
            verifier: "v".into(),
            next: "/".into(),
            provider: "google".into(),
            redirect_uri: "http://x/cb".into(),
            expires: 100,
        }
    }

    #[test]
    fn round_trip_and_tamper() {
        let k = derive_key("secret");
        let v = seal(&k, &sample());
        assert_eq!(open(&k, &v, 99), Some(sample()));
        assert_eq!(open(&k, &v, 100), None, "expired");
        assert_eq!(open(&derive_key("other"), &v, 99), None);
        let mut t = v.clone().into_bytes();
        t[3] ^= 1;
        assert_eq!(open(&k, &String::from_utf8(t).unwrap(), 99), None);
    }
}
