//! Every request gets an id and one access-log line at `info`.
//!
//! The id is the caller's `X-Request-Id` when it is short and printable, else
//! a fresh UUID; handlers read it (it reaches the audit row of any mutation
//! the request makes) and it is echoed on the response. The log line carries
//! method, path (never the query string: it may hold a token), status,
//! latency, the id and the client address ([`crate::http::forwarded`]). The same figures feed the request metrics, labelled
//! by the matched route template.

use std::net::SocketAddr;
use std::time::Instant;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

use crate::state::AppState;

/// Header carrying the request id.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The request id of the current request (a request extension).
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Middleware: settles the request id, runs the request, logs it.
pub async fn layer(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let start = Instant::now();
    let id = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
    let header = HeaderValue::from_str(&id).ok();
    if let Some(v) = &header {
        // Code that only sees the headers (logout, login, SCIM) reads it there.
        req.headers_mut().insert(REQUEST_ID, v.clone());
    }
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().copied();
    let client = crate::http::forwarded::settle(
        req.headers_mut(),
        peer.as_ref(),
        &state.trusted_proxies,
        state.config.login.trust_forwarded_headers,
    );
    if let Some(c) = client {
        req.extensions_mut().insert(c);
    }
    // Reference-counted clones: nothing is copied on the request path.
    let method = req.method().clone();
    let uri = req.uri().clone();
    let route = req.extensions().get::<MatchedPath>().cloned();
    req.extensions_mut().insert(RequestId(id));
    let mut response = next.run(req).await;
    if let Some(v) = &header {
        response.headers_mut().insert(REQUEST_ID, v.clone());
    }
    if state.is_draining() {
        // Keep-alive clients reconnect, and the balancer sends them elsewhere.
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    let elapsed = start.elapsed();
    state.metrics.request(
        route.as_ref().map_or("unmatched", MatchedPath::as_str),
        method.as_str(),
        response.status().as_u16(),
        elapsed.as_secs_f64(),
    );
    tracing::info!(
        target: "dsg::access",
        method = %method,
        path = uri.path(),
        status = response.status().as_u16(),
        latency_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
        request_id = header.as_ref().and_then(|v| v.to_str().ok()).unwrap_or(""),
        client = client.map(|c| tracing::field::display(c.0)),
        "request"
    );
    response
}

/// The request id [`layer`] settled on, read from the request headers.
pub fn request_id_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}
