//! Finding the credential in a request: cookie → `Authorization: Bearer` →
//! query parameter, first present wins, no fallback (spec §3.2). Cookie and
//! query names are configurable (`dsg_token`, plus `middle_auth_token` so
//! CAVE deployments switch without client changes).

use axum::http::{HeaderMap, header};
use percent_encoding::percent_decode_str;

/// What the request carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// Nothing: the request is anonymous.
    None,
    /// A value that cannot be a token (empty bearer, bad bytes, oversized).
    Malformed,
    /// A token to look up.
    Token(String),
}

/// Extracts the credential by the precedence rules.
pub fn extract(
    headers: &HeaderMap,
    query: Option<&str>,
    cookie_names: &[String],
    query_names: &[String],
) -> Credential {
    for name in cookie_names {
        if let Some(v) = cookie(headers, name) {
            return check(v);
        }
    }
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let Ok(text) = value.to_str() else {
            // Starts with "Bearer " in raw bytes but has non-visible characters.
            return if value.as_bytes().starts_with(b"Bearer ") {
                Credential::Malformed
            } else {
                Credential::None
            };
        };
        // A bare "Bearer" (HTTP trims "Bearer " to it) carries no token: it
        // counts as no credentials, so the query parameter may still supply one.
        if let Some(rest) = text.strip_prefix("Bearer ").map(str::trim)
            && !rest.is_empty()
        {
            return check(rest.to_owned());
        }
    }
    if let Some(q) = query {
        for name in query_names {
            if let Some(v) = query_param(q, name).filter(|v| !v.is_empty()) {
                return check(v);
            }
        }
    }
    Credential::None
}

/// True when the request's credential is a login cookie (a non-empty cookie
/// of one of `cookie_names`: by the precedence rules it wins over the other
/// sources). A browser attaches that cookie to cross-site requests too, so
/// changes authenticated by it must be checked for their origin.
pub fn from_cookie(headers: &HeaderMap, cookie_names: &[String]) -> bool {
    cookie_names.iter().any(|n| cookie(headers, n).is_some())
}

fn check(value: String) -> Credential {
    match dsg_core::token::presented(&value) {
        Some(_) => Credential::Token(value),
        None => Credential::Malformed,
    }
}

/// The value of the first non-empty cookie with this name.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    for h in headers.get_all(header::COOKIE) {
        let Ok(s) = h.to_str() else { continue };
        for pair in s.split(';') {
            if let Some((k, v)) = pair.trim().split_once('=')
                && k.trim() == name
            {
                let v = v.trim().trim_matches('"');
                if !v.is_empty() {
                    return Some(v.to_owned());
                }
            }
        }
    }
    None
}

/// The percent-decoded value of a query parameter.
pub fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then(|| {
            percent_decode_str(&v.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn names() -> Vec<String> {
        vec!["dsg_token".into(), "middle_auth_token".into()]
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn cookie_wins_over_bearer_and_bearer_over_query() {
        let n = names();
        let h = headers(&[
            ("cookie", "a=1; dsg_token=fromcookie"),
            ("authorization", "Bearer frombearer"),
        ]);
        assert_eq!(
            extract(&h, Some("dsg_token=q"), &n, &n),
            Credential::Token("fromcookie".into())
        );
        let h = headers(&[("authorization", "Bearer frombearer")]);
        assert_eq!(
            extract(&h, Some("dsg_token=q"), &n, &n),
            Credential::Token("frombearer".into())
        );
        assert_eq!(
            extract(&HeaderMap::new(), Some("x=1&dsg_token=q%2Bv"), &n, &n),
            Credential::Token("q+v".into())
        );
    }

    #[test]
    fn legacy_middle_auth_names_are_accepted() {
        let n = names();
        let h = headers(&[("cookie", "middle_auth_token=legacy")]);
        assert_eq!(
            extract(&h, None, &n, &n),
            Credential::Token("legacy".into())
        );
        assert_eq!(
            extract(&HeaderMap::new(), Some("middle_auth_token=m"), &n, &n),
            Credential::Token("m".into())
        );
    }

    #[test]
    fn scheme_is_case_sensitive_and_empty_bearer_is_no_credential() {
        let n = names();
        assert_eq!(
            extract(&headers(&[("authorization", "bearer x")]), None, &n, &n),
            Credential::None
        );
        for bare in ["Bearer ", "Bearer", "Bearer    "] {
            let h = HeaderMap::from_iter([(header::AUTHORIZATION, HeaderValue::from_static(bare))]);
            assert_eq!(extract(&h, None, &n, &n), Credential::None, "{bare:?}");
            assert_eq!(
                extract(&h, Some("dsg_token=q"), &n, &n),
                Credential::Token("q".into()),
                "{bare:?} then query"
            );
        }
        assert_eq!(
            extract(&headers(&[("authorization", "Bearer a b")]), None, &n, &n),
            Credential::Malformed
        );
        assert_eq!(extract(&HeaderMap::new(), None, &n, &n), Credential::None);
    }
}
