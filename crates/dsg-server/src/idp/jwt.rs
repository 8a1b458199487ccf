//! JSON Web Token verification shared by ID tokens (login) and bearer
//! tokens from external issuers: asymmetric algorithms only, key from the
//! issuer's JWKS by `kid`, then `iss`, `aud`, `exp` and `nbf` checked against
//! the server's clock with the configured leeway.

pub use crate::config::login::parse_algorithm;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

use super::jwks::JwksCache;

pub use dsg_core::jwt::{looks_like_jwt, unverified_issuer};

/// What a token must satisfy.
pub struct Expect<'a> {
    /// Accepted `iss` values.
    pub issuers: &'a [String],
    /// Required audience, if any.
    pub audience: Option<&'a str>,
    /// Accepted algorithms.
    pub algorithms: &'a [Algorithm],
    /// Clock-skew tolerance, seconds.
    pub leeway_secs: i64,
    /// Now, seconds since the epoch.
    pub now_secs: i64,
}

/// Verifies `token` and returns its claims; the error says what failed (for logs).
///
/// # Errors
/// Any failed check.
pub async fn verify(
    jwks: &JwksCache,
    http: &reqwest::Client,
    token: &str,
    expect: &Expect<'_>,
) -> Result<Value, String> {
    // The header facts come from dsg-core (fuzzed against jsonwebtoken's
    // reading); `decode` below parses the header again and insists on `alg`.
    let header = dsg_core::jwt::header(token).map_err(|e| format!("bad header: {e}"))?;
    let alg = parse_algorithm(&header.alg)
        .filter(|a| expect.algorithms.contains(a))
        .ok_or_else(|| format!("algorithm {:?} not accepted", header.alg))?;
    let jwk = jwks
        .key(http, header.kid.as_deref())
        .await
        .ok_or_else(|| format!("no signing key with kid {:?}", header.kid))?;
    let key = DecodingKey::from_jwk(&jwk).map_err(|e| format!("unusable key: {e}"))?;
    let mut v = Validation::new(alg);
    v.required_spec_claims.clear();
    v.validate_exp = false;
    v.validate_nbf = false;
    v.validate_aud = false;
    let data =
        jsonwebtoken::decode::<Value>(token, &key, &v).map_err(|e| format!("signature: {e}"))?;
    let claims = data.claims;
    let iss = claims.get("iss").and_then(Value::as_str).unwrap_or("");
    if !expect.issuers.iter().any(|i| i == iss) {
        return Err(format!("issuer {iss:?} not accepted"));
    }
    let exp = claims
        .get("exp")
        .and_then(Value::as_i64)
        .ok_or("no exp claim")?;
    if expect.now_secs > exp.saturating_add(expect.leeway_secs) {
        return Err("expired".into());
    }
    if let Some(nbf) = claims.get("nbf").and_then(Value::as_i64)
        && expect.now_secs.saturating_add(expect.leeway_secs) < nbf
    {
        return Err("not valid yet (nbf)".into());
    }
    if let Some(aud) = expect.audience {
        let ok = match claims.get("aud") {
            Some(Value::String(s)) => s == aud,
            Some(Value::Array(a)) => a.iter().any(|x| x.as_str() == Some(aud)),
            _ => false,
        };
        if !ok {
            return Err("audience not accepted".into());
        }
    }
    Ok(claims)
}

/// Scopes a token carries: `scope` (space-separated) and/or `scp` (string or array).
pub fn scopes(claims: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for k in ["scope", "scp"] {
        match claims.get(k) {
            Some(Value::String(s)) => out.extend(s.split_whitespace().map(str::to_owned)),
            Some(Value::Array(a)) => {
                out.extend(a.iter().filter_map(Value::as_str).map(str::to_owned));
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_asymmetric_algorithms_parse() {
        assert!(parse_algorithm("RS256").is_some());
        assert!(parse_algorithm("ES256").is_some());
        for bad in ["HS256", "none", "EdDSA", "rs256"] {
            assert!(parse_algorithm(bad).is_none(), "{bad}");
        }
        for name in dsg_core::jwt::ASYMMETRIC_ALGORITHMS {
            assert!(parse_algorithm(name).is_some(), "{name}");
        }
    }

    #[test]
    fn scopes_from_scope_and_scp() {
        let c = serde_json::json!({"scope": "a b", "scp": ["c"]});
        assert_eq!(scopes(&c), vec!["a", "b", "c"]);
    }
}
