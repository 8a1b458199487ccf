//! Request paths with a dataset prefix (spec §6), as text:
//! * `/{dataset}/{service}/…` is served as `/…`, with the pair recorded;
//! * `/auth/api/…` is served as `/api/…` (caveclient and middle_auth
//!   deployments address the API under `/auth`).
//!
//! `dsg-server` applies [`rewrite_path`] to each request's URI before routing
//! and records the pair for logs; this module knows nothing about requests.

use std::borrow::Cow;

/// Paths of the server's own that are never read as `/{dataset}/{service}/…`.
pub const EXEMPT: &[&str] = &[
    "/accounts/",
    "/admin/",
    "/api/",
    "/auth/",
    "/web/",
    "/static/",
    "/health",
    "/login",
    "/logout",
    "/activate",
    "/success",
    "/token",
    "/gcs_token",
    "/readyz",
    "/version",
    "/metrics",
    "/docs",
    "/openapi.json",
];

/// True for a dataset or service name in a prefix (or an `X-Dataset`
/// header): ASCII letters, digits, `_` and `-`, not empty.
pub fn segment_ok(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Splits `/{a}/{b}/rest` into the pair and `/rest` when the path is prefixed.
pub fn strip(path: &str) -> Option<(&str, &str, &str)> {
    if EXEMPT.iter().any(|p| path.starts_with(p)) {
        return None;
    }
    let rest = path.strip_prefix('/')?;
    let (a, rest) = rest.split_once('/')?;
    let (b, rest) = rest.split_once('/')?;
    if !segment_ok(a) || !segment_ok(b) {
        return None;
    }
    let start = path.len() - rest.len() - 1;
    Some((a, b, &path[start..]))
}

/// A path after [`rewrite_path`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewritten<'a> {
    /// `(dataset, service)` when the path was prefixed.
    pub prefix: Option<(&'a str, &'a str)>,
    /// The path to route.
    pub path: Cow<'a, str>,
}

/// Strips a dataset prefix, then maps `/auth/api/…` to `/api/…`.
pub fn rewrite_path(path: &str) -> Rewritten<'_> {
    let (prefix, rest) = match strip(path) {
        Some((a, b, rest)) => (Some((a, b)), rest),
        None => (None, path),
    };
    let path = match rest.strip_prefix("/auth/api/") {
        Some(tail) => Cow::Owned(format!("/api/{tail}")),
        None => Cow::Borrowed(rest),
    };
    Rewritten { prefix, path }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_stripped_and_exempt_paths_kept() {
        assert_eq!(
            strip("/fish2/cave/api/v1/user/cache"),
            Some(("fish2", "cave", "/api/v1/user/cache"))
        );
        assert_eq!(strip("/fish2/cave/"), Some(("fish2", "cave", "/")));
        assert_eq!(strip("/api/v1/user/cache"), None);
        assert_eq!(strip("/auth/scim/v2/Users"), None);
        assert_eq!(strip("/fish2/cave"), None);
        assert_eq!(strip("/fi.sh/cave/x"), None);
        assert_eq!(strip("//cave/x"), None);
        assert_eq!(strip("fish2/cave/x"), None);
    }

    #[test]
    fn auth_alias_and_prefix_combine() {
        let r = rewrite_path("/fanc/cave/auth/api/v1/user/cache");
        assert_eq!(r.prefix, Some(("fanc", "cave")));
        assert_eq!(r.path, "/api/v1/user/cache");
        let r = rewrite_path("/auth/api/v1/create_token");
        assert_eq!((r.prefix, r.path.as_ref()), (None, "/api/v1/create_token"));
        let r = rewrite_path("/web/datasets");
        assert!(matches!(r.path, Cow::Borrowed("/web/datasets")) && r.prefix.is_none());
    }
}
