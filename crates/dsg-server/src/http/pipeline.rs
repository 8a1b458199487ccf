//! What every route runs inside, as one layer: the request id, client
//! address and body limit on the way in ([`crate::http::request_log`]); a
//! handler's panic turned into a 500; the security headers, the echoed id,
//! the metrics and the access-log line on the way out.
//!
//! One hand-written layer instead of a stack of middleware: each layer the
//! router applies wraps every route in a boxed service that is cloned per
//! request, so four layers cost eight allocations and as many indirect
//! calls per request (`bench/results-hot-path.md`).

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderName, HeaderValue};
use axum::response::Response;

use crate::error::ApiError;
use crate::http::request_log::{self, Started};
use crate::state::AppState;

/// The layer (see the module docs).
#[derive(Clone)]
pub struct Pipeline {
    state: AppState,
    body_limit: DefaultBodyLimit,
    hsts: bool,
}

impl Pipeline {
    /// The pipeline of `state`'s server (body limit and HSTS from its
    /// configuration).
    pub fn new(state: AppState) -> Self {
        let body_limit = DefaultBodyLimit::max(state.config.server.max_body_bytes);
        let hsts = state.config.secure_cookies();
        Self {
            state,
            body_limit,
            hsts,
        }
    }
}

impl<S> tower::Layer<S> for Pipeline {
    type Service = PipelineService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        PipelineService {
            inner,
            pipeline: self.clone(),
        }
    }
}

/// A route inside the [`Pipeline`].
#[derive(Clone)]
pub struct PipelineService<S> {
    inner: S,
    pipeline: Pipeline,
}

impl<S> tower::Service<Request> for PipelineService<S>
where
    S: tower::Service<Request, Response = Response, Error = std::convert::Infallible>,
{
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = PipelineFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let started = request_log::begin(&self.pipeline.state, &mut req);
        self.pipeline.body_limit.apply(&mut req);
        PipelineFuture {
            inner: self.inner.call(req),
            after: Some((self.pipeline.clone(), started)),
        }
    }
}

pin_project_lite::pin_project! {
    /// The response of a route inside the [`Pipeline`].
    pub struct PipelineFuture<F> {
        #[pin]
        inner: F,
        after: Option<(Pipeline, Started)>,
    }
}

impl<F> Future for PipelineFuture<F>
where
    F: Future<Output = Result<Response, std::convert::Infallible>>,
{
    type Output = Result<Response, std::convert::Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let polled = std::panic::catch_unwind(AssertUnwindSafe(|| this.inner.poll(cx)));
        let mut response = match polled {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(Ok(r))) => r,
            Ok(Poll::Ready(Err(never))) => match never {},
            // The panic hook has printed the message; the client gets a 500.
            Err(_) => ApiError::Internal("handler panicked".into()).into_response_pub(),
        };
        if let Some((pipeline, started)) = this.after.take() {
            security_headers(&mut response, pipeline.hsts);
            request_log::finish(&pipeline.state, started, &mut response);
        }
        Poll::Ready(Ok(response))
    }
}

/// Security headers on every response (a handler's own win).
fn security_headers(response: &mut Response, hsts: bool) {
    let h = response.headers_mut();
    for (name, value) in [
        ("x-frame-options", "DENY"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "same-origin"),
        ("cross-origin-opener-policy", "same-origin"),
    ] {
        h.entry(HeaderName::from_static(name))
            .or_insert(HeaderValue::from_static(value));
    }
    if hsts {
        h.entry(HeaderName::from_static("strict-transport-security"))
            .or_insert(HeaderValue::from_static(
                "max-age=31536000; includeSubDomains",
            ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use tower::ServiceExt;

    async fn state(dir: &std::path::Path) -> AppState {
        let mut config = crate::config::Config::default();
        config.database.url = format!("sqlite:{}", dir.join("p.sqlite3").display());
        config.database.data_dir = dir.to_path_buf();
        config.server.bind = "127.0.0.1:0".parse().unwrap();
        crate::startup::Application::build(config, crate::startup::Options::default())
            .await
            .unwrap()
            .state()
    }

    /// A panicking handler is a 500 with the same headers, id and count as
    /// any other answer; the server goes on answering.
    #[tokio::test]
    async fn a_panic_is_a_500_that_is_counted_and_carries_the_headers() {
        let dir = tempfile::tempdir().unwrap();
        let state = state(dir.path()).await;
        let router = axum::Router::new()
            .route(
                "/boom",
                axum::routing::get(|| async {
                    if true {
                        panic!("boom");
                    }
                    "unreachable"
                }),
            )
            .route("/ok", axum::routing::get(|| async { "ok" }))
            .layer(Pipeline::new(state.clone()));
        let get = |path: &str| Request::get(path).body(Body::empty()).unwrap();
        let r = router.clone().oneshot(get("/boom")).await.unwrap();
        assert_eq!(r.status(), 500);
        assert_eq!(r.headers()["x-content-type-options"], "nosniff");
        assert_eq!(r.headers()["x-frame-options"], "DENY");
        let id = r.headers()["x-request-id"].to_str().unwrap();
        assert_eq!(uuid::Uuid::parse_str(id).unwrap().get_version_num(), 8);
        let mut req = get("/ok");
        req.headers_mut()
            .insert("x-request-id", HeaderValue::from_static("caller-1"));
        let r = router.oneshot(req).await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["x-request-id"], "caller-1");
        let text = crate::metrics::render(&state.metrics, &state.cache, &state.store, &state.idp);
        assert!(
            text.contains(r#"dsg_http_requests_total{route="/boom",method="GET",status="500"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"dsg_http_requests_total{route="/ok",method="GET",status="200"} 1"#)
        );
    }
}
