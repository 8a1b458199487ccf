//! Every request gets an id ([`crate::http::request_id`]), is counted in the
//! request metrics (labelled by the matched route template) and gets one
//! access-log line at `info`, written off the request path by
//! [`crate::access_log`].
//!
//! Handlers read the id (it reaches the audit row of any mutation the
//! request makes) and it is echoed on the response. The log line carries
//! method, path (never the query string: it may hold a token), status,
//! latency, the id and the client address ([`crate::http::forwarded`]).
//! What the log keeps of a request is copied out of it ([`Started`]), so no
//! part of the request's buffers outlives the request.

use std::net::SocketAddr;
use std::time::Instant;

use axum::extract::{ConnectInfo, MatchedPath, Request};
use axum::http::{HeaderValue, Method, header};
use axum::response::Response;

use crate::access_log::{self, LoggedId, LoggedPath};
use crate::http::forwarded::ClientIp;
use crate::http::request_id::{FreshId, REQUEST_ID, RequestId, given};
use crate::state::AppState;

/// What the log needs of a request once its response is ready.
pub struct Started {
    start: Instant,
    header: Option<HeaderValue>,
    logged_id: LoggedId,
    method: Method,
    /// Only when the access log is on.
    path: Option<LoggedPath>,
    route: Option<MatchedPath>,
    client: Option<ClientIp>,
}

/// Settles the request id and the client address (both become request
/// extensions; the id also a request header) and notes what the log needs.
pub fn begin(state: &AppState, req: &mut Request) -> Started {
    let start = Instant::now();
    let (id, logged_id) = match given(req.headers()) {
        Some(v) => (v.to_owned(), None),
        None => {
            let fresh = FreshId::next();
            (fresh.to_string(), Some(fresh))
        }
    };
    let header = HeaderValue::from_str(&id).ok();
    let logged_id = match (logged_id, &header) {
        (Some(fresh), _) => LoggedId::Fresh(fresh.uuid()),
        (None, Some(v)) => LoggedId::Given(v.clone()),
        (None, None) => LoggedId::None,
    };
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
    let route = req.extensions().get::<MatchedPath>().cloned();
    let path = access_log::enabled().then(|| LoggedPath::of(req.uri().path()));
    let method = req.method().clone();
    req.extensions_mut().insert(RequestId(id));
    Started {
        start,
        header,
        logged_id,
        method,
        path,
        route,
        client,
    }
}

/// Echoes the id, asks keep-alive clients to go when the server is
/// draining, counts the request and queues its log line.
pub fn finish(state: &AppState, started: Started, response: &mut Response) {
    if let Some(v) = started.header {
        response.headers_mut().insert(REQUEST_ID, v);
    }
    if state.is_draining() {
        // Keep-alive clients reconnect, and the balancer sends them elsewhere.
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    let elapsed = started.start.elapsed();
    let status = response.status().as_u16();
    state.metrics.request(
        started
            .route
            .as_ref()
            .map_or("unmatched", MatchedPath::as_str),
        started.method.as_str(),
        status,
        elapsed.as_secs_f64(),
    );
    if let Some(path) = started.path {
        access_log::record(access_log::Record {
            at: std::time::SystemTime::now(),
            method: started.method,
            path,
            status,
            latency_us: u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
            request_id: started.logged_id,
            client: started.client.map(|c| c.0),
        });
    }
}
