//! What a bearer JWT says before verification: shape, header `alg`/`kid`,
//! unverified claims and `iss`.
//!
//! Input: the token text, or, when it starts with `{`, a header JSON line and
//! a claims JSON line that the target encodes as `header.claims.signature`
//! (so mutations reach the JSON directly).
//!
//! Properties (differential, against jsonwebtoken, which verifies the
//! signature afterwards and parses the header again): whenever jsonwebtoken
//! reads a header, dsg-core reads one with the same `alg` and `kid`; the
//! unverified claims and `iss` are exactly jsonwebtoken's; an accepted
//! algorithm is an asymmetric one; `looks_like_jwt` means three parts.
#![no_main]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use dsg_core::jwt;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let token = if text.starts_with('{') {
        let (header, claims) = text.split_once('\n').unwrap_or((text, "{}"));
        format!(
            "{}.{}.c2lnbmF0dXJl",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims)
        )
    } else {
        text.to_owned()
    };
    let ours = jwt::header(&token);
    if let Ok(theirs) = jsonwebtoken::decode_header(&token) {
        let ours = ours
            .as_ref()
            .unwrap_or_else(|e| panic!("jsonwebtoken reads {theirs:?}, dsg-core refuses: {e}"));
        let alg = serde_json::to_value(theirs.alg).unwrap_or_default();
        assert_eq!(alg.as_str(), Some(ours.alg.as_str()), "alg differs");
        assert_eq!(ours.kid, theirs.kid, "kid differs");
    }
    if let Ok(h) = &ours {
        assert_eq!(
            jwt::is_asymmetric(&h.alg),
            jwt::ASYMMETRIC_ALGORITHMS.contains(&h.alg.as_str())
        );
        for refused in ["none", "HS256", "HS384", "HS512", "EdDSA"] {
            assert!(!jwt::is_asymmetric(refused));
        }
    }
    let claims = jwt::unverified_claims(&token).ok();
    let theirs = jsonwebtoken::dangerous::insecure_decode_claims::<Value>(&token).ok();
    assert_eq!(claims, theirs, "unverified claims differ");
    let iss = theirs
        .as_ref()
        .and_then(|c| c.get("iss"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    assert_eq!(jwt::unverified_issuer(&token), iss);
    if jwt::looks_like_jwt(&token) {
        assert_eq!(token.split('.').count(), 3);
    }
});
