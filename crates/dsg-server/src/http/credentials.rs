//! Finding the credential in a request (spec §3.2): the request-facing side
//! of [`dsg_core::credentials`], which owns the parsing and its tests. This
//! module only hands it the `Cookie` and `Authorization` headers.

use axum::http::{HeaderMap, header};

pub use dsg_core::credentials::{Credential, query_param};

/// True when the `Authorization` header is present but holds no usable
/// bearer token (see [`dsg_core::credentials::unusable_authorization`]).
pub fn unusable_authorization(headers: &HeaderMap) -> bool {
    dsg_core::credentials::unusable_authorization(
        headers.get(header::AUTHORIZATION).map(|v| v.as_bytes()),
    )
}

/// Extracts the credential by the precedence rules (cookie → bearer → query).
pub fn extract(
    headers: &HeaderMap,
    query: Option<&str>,
    cookie_names: &[String],
    query_names: &[String],
) -> Credential {
    dsg_core::credentials::extract(
        &headers.get_all(header::COOKIE),
        headers.get(header::AUTHORIZATION).map(|v| v.as_bytes()),
        query,
        cookie_names,
        query_names,
    )
}

/// True when the request's credential is a login cookie (a non-empty cookie
/// of one of `cookie_names`: by the precedence rules it wins over the other
/// sources). A browser attaches that cookie to cross-site requests too, so
/// changes authenticated by it must be checked for their origin.
pub fn from_cookie(headers: &HeaderMap, cookie_names: &[String]) -> bool {
    cookie_names.iter().any(|n| cookie(headers, n).is_some())
}

/// The value of the first non-empty cookie with this name.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    dsg_core::credentials::cookie(headers.get_all(header::COOKIE), name)
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
    fn every_cookie_header_is_searched_and_non_text_ones_skipped() {
        let mut h = headers(&[("cookie", "a=1")]);
        h.append(
            header::COOKIE,
            HeaderValue::from_bytes(b"dsg_token=\xff").unwrap(),
        );
        h.append(header::COOKIE, HeaderValue::from_static("dsg_token=second"));
        assert_eq!(cookie(&h, "dsg_token"), Some("second".into()));
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
        let h = HeaderMap::from_iter([(
            header::AUTHORIZATION,
            HeaderValue::from_bytes(b"Bearer \xe9t\xe9").unwrap(),
        )]);
        assert_eq!(extract(&h, None, &n, &n), Credential::Malformed);
        assert_eq!(extract(&HeaderMap::new(), None, &n, &n), Credential::None);
    }
}
