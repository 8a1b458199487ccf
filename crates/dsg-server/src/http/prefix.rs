//! Request-path rewriting before routing (spec §6); the path rules themselves
//! are [`dsg_core::prefix`]:
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
use dsg_core::prefix::{rewrite_path, segment_ok};

/// A router with [`rewrite`] in front of it.
pub type Rewritten =
    tower::util::MapRequest<axum::Router, fn(axum::extract::Request) -> axum::extract::Request>;

/// The dataset context a request was addressed with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetContext {
    /// Dataset name from the prefix or `X-Dataset`.
    pub dataset: String,
    /// Service type from the prefix, if any.
    pub service: Option<String>,
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
    let rewritten = rewrite_path(uri.path());
    let mut ctx = rewritten.prefix.map(|(dataset, service)| DatasetContext {
        dataset: dataset.to_owned(),
        service: Some(service.to_owned()),
    });
    let path = rewritten.path;
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
            None => path.into_owned(),
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
