//! What a bearer JWT says about itself before any signature is checked: its
//! shape, the header's `alg` and `kid`, and the unverified `iss` (to pick the
//! issuer whose keys verify it).
//!
//! Nothing here is trusted: `dsg-server` uses these facts only to choose an
//! issuer, refuse unaccepted algorithms early and find the signing key; the
//! signature and claims are then checked by `jsonwebtoken`, which parses the
//! header again. The decoding follows JWS compact serialization exactly as
//! `jsonwebtoken` does (the last two dots split the parts, base64url without
//! padding, JSON), so both read the same `alg` and `kid`; the fuzz target
//! `jwt_header` checks that agreement.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::Value;

/// Asymmetric algorithms a configured issuer may use (RS, PS, ES). HMAC,
/// `none` and EdDSA are never accepted.
pub const ASYMMETRIC_ALGORITHMS: [&str; 8] = [
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384",
];

/// The header facts the verifier relies on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// `alg`, as written.
    pub alg: String,
    /// `kid`, if present and not `null`.
    pub kid: Option<String>,
}

#[derive(Deserialize)]
struct RawHeader {
    alg: String,
    kid: Option<String>,
    // Other members are read and ignored; flattening also makes a JSON array
    // (which a plain derived struct would accept) an error, as in jsonwebtoken.
    #[serde(flatten)]
    _other: BTreeMap<String, IgnoredAny>,
}

/// Shallow test: could this credential be a JWT (three parts, the first a
/// base64url JSON object)? Opaque tokens never are, so they never take the
/// JWT path.
pub fn looks_like_jwt(token: &str) -> bool {
    token.starts_with("eyJ") && token.bytes().filter(|b| *b == b'.').count() == 2
}

/// Splits `header.payload.signature` at its last two dots.
fn parts(token: &str) -> Option<(&str, &str)> {
    let (message, _signature) = token.rsplit_once('.')?;
    message.rsplit_once('.')
}

/// Decodes and parses the header, without verifying anything.
///
/// # Errors
/// A message for logs: not three parts, bad base64url, not a JSON object
/// with a string `alg`.
pub fn header(token: &str) -> Result<Header, String> {
    let (encoded, _) = parts(token).ok_or("not three dot-separated parts")?;
    let json = URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|e| format!("header is not base64url: {e}"))?;
    let raw: RawHeader =
        serde_json::from_slice(&json).map_err(|e| format!("header is not a JWS header: {e}"))?;
    Ok(Header {
        alg: raw.alg,
        kid: raw.kid,
    })
}

/// True for the algorithm names in [`ASYMMETRIC_ALGORITHMS`] (case-sensitive).
pub fn is_asymmetric(alg: &str) -> bool {
    ASYMMETRIC_ALGORITHMS.contains(&alg)
}

/// The claims, decoded without verification.
///
/// # Errors
/// A message for logs when the token has no decodable JSON payload.
pub fn unverified_claims(token: &str) -> Result<Value, String> {
    let (_, payload) = parts(token).ok_or("not three dot-separated parts")?;
    let json = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|e| format!("payload is not base64url: {e}"))?;
    serde_json::from_slice(&json).map_err(|e| format!("payload is not JSON: {e}"))
}

/// The `iss` claim, read without verification (to pick the issuer's keys).
pub fn unverified_issuer(token: &str) -> Option<String> {
    unverified_claims(token)
        .ok()?
        .get("iss")?
        .as_str()
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        URL_SAFE_NO_PAD.encode(s)
    }

    fn token(header: &str, claims: &str) -> String {
        format!("{}.{}.c2ln", b64(header), b64(claims))
    }

    #[test]
    fn opaque_tokens_do_not_look_like_jwts() {
        assert!(!looks_like_jwt(&"ab".repeat(32)));
        assert!(looks_like_jwt("eyJhbGciOiJSUzI1NiJ9.e30.sig"));
        assert!(!looks_like_jwt("eyJhbGciOiJSUzI1NiJ9.e30"));
    }

    #[test]
    fn header_gives_alg_and_kid() {
        let t = token(
            r#"{"alg":"RS256","kid":"k1","typ":"JWT"}"#,
            r#"{"iss":"https://idp"}"#,
        );
        assert_eq!(
            header(&t),
            Ok(Header {
                alg: "RS256".into(),
                kid: Some("k1".into())
            })
        );
        assert_eq!(unverified_issuer(&t).as_deref(), Some("https://idp"));
        let t = token(r#"{"alg":"ES256","kid":null}"#, "{}");
        assert_eq!(header(&t).map(|h| h.kid), Ok(None));
        assert_eq!(unverified_issuer(&t), None);
    }

    #[test]
    fn malformed_headers_are_errors() {
        for t in [
            String::new(),
            "a.b".into(),
            "!!.e30.sig".into(),
            token("[\"RS256\"]", "{}"),
            token(r#"{"kid":"k"}"#, "{}"),
            token(r#"{"alg":5}"#, "{}"),
            token(r#"{"alg":"RS256","alg":"HS256"}"#, "{}"),
            format!("{}=.e30.sig", b64(r#"{"alg":"RS256"}"#)),
        ] {
            assert!(header(&t).is_err(), "{t}");
        }
    }

    #[test]
    fn only_asymmetric_algorithms_are_accepted() {
        assert!(is_asymmetric("RS256") && is_asymmetric("ES384"));
        for bad in ["HS256", "none", "EdDSA", "rs256", ""] {
            assert!(!is_asymmetric(bad), "{bad}");
        }
    }
}
