//! Request-path rewriting before routing (spec §6):
//! * `/{dataset}/{service}/…` is served as `/…`, with the pair recorded;
//! * `/auth/api/…` is served as `/api/…` (caveclient and middle_auth
//!   deployments address the API under `/auth`);
//! * an `X-Dataset` header (set by a proxy that stripped its own prefix) is
//!   recorded the same way.
//!
//! Responses are identical to the unprefixed request: the recorded context is
//! for logs only, so a CAVE deployment sees the same permissions whatever its
//! `AUTH_URL`.

use axum::http::{Request, Uri};

/// The dataset context a request was addressed with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetContext {
    /// Dataset name from the prefix or `X-Dataset`.
    pub dataset: String,
    /// Service type from the prefix, if any.
    pub service: Option<String>,
}

const EXEMPT: &[&str] = &[
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

fn segment_ok(s: &str) -> bool {
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

/// Rewrites the request in place (see the module docs).
pub fn rewrite<B>(mut req: Request<B>) -> Request<B> {
    // Fast path: an unprefixed API or probe path with no X-Dataset header
    // needs no work (and no allocation).
    let path = req.uri().path();
    if (path.starts_with("/api/") || path.starts_with("/health"))
        && !req.headers().contains_key("x-dataset")
    {
        return req;
    }
    let uri = req.uri().clone();
    let mut path = uri.path().to_owned();
    let mut ctx = None;
    if let Some((dataset, service, rest)) = strip(&path) {
        ctx = Some(DatasetContext {
            dataset: dataset.to_owned(),
            service: Some(service.to_owned()),
        });
        path = rest.to_owned();
    }
    if let Some(rest) = path.strip_prefix("/auth/api/") {
        path = format!("/api/{rest}");
    }
    if ctx.is_none()
        && let Some(d) = req.headers().get("x-dataset").and_then(|v| v.to_str().ok())
        && segment_ok(d)
    {
        ctx = Some(DatasetContext {
            dataset: d.to_owned(),
            service: None,
        });
    }
    if path != uri.path() {
        let pq = match uri.query() {
            Some(q) => format!("{path}?{q}"),
            None => path,
        };
        if let Ok(new) = Uri::builder().path_and_query(pq).build() {
            *req.uri_mut() = new;
        }
    }
    if let Some(c) = ctx {
        req.extensions_mut().insert(c);
    }
    req
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
    }

    #[test]
    fn auth_alias_and_prefix_combine() {
        let r = rewrite(
            Request::builder()
                .uri("/fanc/cave/auth/api/v1/user/cache?x=1")
                .body(())
                .unwrap(),
        );
        assert_eq!(r.uri().to_string(), "/api/v1/user/cache?x=1");
        assert_eq!(
            r.extensions().get::<DatasetContext>().unwrap().dataset,
            "fanc"
        );
        let r = rewrite(
            Request::builder()
                .uri("/auth/api/v1/create_token")
                .body(())
                .unwrap(),
        );
        assert_eq!(r.uri().path(), "/api/v1/create_token");
    }
}
