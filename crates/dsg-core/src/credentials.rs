//! Finding the credential in a request: cookie → `Authorization: Bearer` →
//! query parameter, first present wins, no fallback (spec §3.2).
//!
//! This is the parsing half only, on raw header bytes and the query string,
//! so it can be tested and fuzzed without an HTTP stack; `dsg-server` hands
//! it the request's headers. Cookie and query names are the caller's
//! (configurable: `dsg_token`, plus `middle_auth_token` so CAVE deployments
//! switch without client changes).

use percent_encoding::percent_decode_str;

use crate::token::presented;

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

/// A header value as text, by the rule HTTP libraries use for
/// `HeaderValue::to_str`: only visible ASCII, space and tab; `None` otherwise.
pub fn header_text(bytes: &[u8]) -> Option<&str> {
    if bytes
        .iter()
        .all(|&b| (b' '..0x7f).contains(&b) || b == b'\t')
    {
        std::str::from_utf8(bytes).ok()
    } else {
        None
    }
}

/// Extracts the credential by the precedence rules from every `Cookie`
/// header value, the `Authorization` header value and the query string.
pub fn extract<'a, C, V>(
    cookie_headers: C,
    authorization: Option<&[u8]>,
    query: Option<&str>,
    cookie_names: &[String],
    query_names: &[String],
) -> Credential
where
    C: IntoIterator<Item = &'a V> + Copy,
    V: AsRef<[u8]> + ?Sized + 'a,
{
    for name in cookie_names {
        if let Some(v) = cookie(cookie_headers, name) {
            return check(v);
        }
    }
    if let Some(value) = authorization {
        let Some(text) = header_text(value) else {
            // Starts with "Bearer " in raw bytes but has non-visible characters.
            return if value.starts_with(b"Bearer ") {
                Credential::Malformed
            } else {
                Credential::None
            };
        };
        // A bare "Bearer" (HTTP trims "Bearer " to it) carries no token: it
        // counts as no credentials, so the query parameter may still supply one.
        if let Some(rest) = bearer_token(text) {
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

/// The token of `Bearer <token>` (the scheme exactly so, spec §3.2).
fn bearer_token(text: &str) -> Option<&str> {
    let rest = text.strip_prefix("Bearer ")?.trim();
    (!rest.is_empty()).then_some(rest)
}

/// True when an `Authorization` header is present but carries no usable
/// bearer token (another scheme such as `Basic`, a lower-case `bearer`, or
/// `Bearer` with nothing after it): the DSG-native API answers that with
/// 401, never as anonymous.
pub fn unusable_authorization(value: Option<&[u8]>) -> bool {
    value.is_some_and(|v| header_text(v).and_then(bearer_token).is_none())
}

fn check(value: String) -> Credential {
    match presented(&value) {
        Some(_) => Credential::Token(value),
        None => Credential::Malformed,
    }
}

/// The value of the first non-empty cookie with this name, searching every
/// `Cookie` header value in order (values that are not text are skipped).
pub fn cookie<'a, C, V>(cookie_headers: C, name: &str) -> Option<String>
where
    C: IntoIterator<Item = &'a V>,
    V: AsRef<[u8]> + ?Sized + 'a,
{
    for h in cookie_headers {
        let Some(s) = header_text(h.as_ref()) else {
            continue;
        };
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

/// The percent-decoded value of a query parameter (`+` is a space; invalid
/// UTF-8 is replaced, never an error).
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

    fn names() -> Vec<String> {
        vec!["dsg_token".into(), "middle_auth_token".into()]
    }

    fn run(cookies: &[&str], auth: Option<&str>, query: Option<&str>) -> Credential {
        let n = names();
        extract(cookies, auth.map(str::as_bytes), query, &n, &n)
    }

    #[test]
    fn cookie_wins_over_bearer_and_bearer_over_query() {
        assert_eq!(
            run(
                &["a=1; dsg_token=fromcookie"],
                Some("Bearer frombearer"),
                Some("dsg_token=q")
            ),
            Credential::Token("fromcookie".into())
        );
        assert_eq!(
            run(&[], Some("Bearer frombearer"), Some("dsg_token=q")),
            Credential::Token("frombearer".into())
        );
        assert_eq!(
            run(&[], None, Some("x=1&dsg_token=q%2Bv")),
            Credential::Token("q+v".into())
        );
    }

    #[test]
    fn cookies_are_searched_across_headers_and_quotes_are_dropped() {
        assert_eq!(
            run(&["a=1", "middle_auth_token=\"legacy\""], None, None),
            Credential::Token("legacy".into())
        );
        // An empty cookie does not hide a later non-empty one.
        assert_eq!(
            cookie(&["dsg_token=; dsg_token=two"], "dsg_token"),
            Some("two".into())
        );
        // A cookie header that is not text is skipped, not an error.
        let raw: [&[u8]; 2] = [b"dsg_token=\xff", b"dsg_token=ok"];
        assert_eq!(cookie(raw, "dsg_token"), Some("ok".into()));
    }

    #[test]
    fn an_authorization_header_without_a_bearer_token_is_unusable() {
        for v in ["Basic YTpi", "Bearer", "Bearer ", "bearer x", "Token x"] {
            assert!(unusable_authorization(Some(v.as_bytes())), "{v:?}");
        }
        assert!(!unusable_authorization(Some(b"Bearer x")));
        assert!(!unusable_authorization(None));
    }

    #[test]
    fn scheme_is_case_sensitive_and_empty_bearer_is_no_credential() {
        assert_eq!(run(&[], Some("bearer x"), None), Credential::None);
        for bare in ["Bearer ", "Bearer", "Bearer    "] {
            assert_eq!(run(&[], Some(bare), None), Credential::None, "{bare:?}");
            assert_eq!(
                run(&[], Some(bare), Some("dsg_token=q")),
                Credential::Token("q".into()),
                "{bare:?} then query"
            );
        }
        assert_eq!(run(&[], Some("Bearer a b"), None), Credential::Malformed);
        let n = names();
        let raw: &[&str] = &[];
        assert_eq!(
            extract(raw, Some(b"Bearer \x01x"), None, &n, &n),
            Credential::Malformed
        );
        assert_eq!(
            extract(raw, Some(b"Basic \xffx"), None, &n, &n),
            Credential::None
        );
        assert_eq!(run(&[], None, None), Credential::None);
    }

    #[test]
    fn header_text_accepts_visible_ascii_space_and_tab_only() {
        assert_eq!(header_text(b"a b\tc~"), Some("a b\tc~"));
        for bad in [&b"\x7f"[..], b"\x00", b"\n", b"\xc3\xa9"] {
            assert_eq!(header_text(bad), None, "{bad:?}");
        }
    }
}
