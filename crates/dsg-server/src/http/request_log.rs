//! Every request gets an id and one access-log line at `info` (written off
//! the request path by [`crate::access_log`]).
//!
//! The id is the caller's `X-Request-Id` when it is short and printable, else
//! a fresh UUID (version 8: 60 random bits drawn once per process, so ids
//! stay unique across replicas and restarts, and a per-process counter that
//! each thread takes in blocks, so making one needs no system call and no
//! shared write); handlers read it (it reaches the audit row of any mutation
//! the request makes) and it is echoed on the response. The log line carries
//! method, path (never the query string: it may hold a token), status,
//! latency, the id and the client address ([`crate::http::forwarded`]). The same figures feed the request metrics, labelled
//! by the matched route template.

use std::net::SocketAddr;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

use crate::access_log;
use crate::state::AppState;

/// Header carrying the request id.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The request id of the current request (a request extension).
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Where fresh request ids come from: a random prefix drawn once per process
/// and a counter.
struct IdSource {
    prefix: u64,
    next: AtomicU64,
}

static IDS: LazyLock<IdSource> = LazyLock::new(|| {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        // No OS randomness: the start time still separates processes.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        bytes = (nanos as u64 ^ u64::from(std::process::id())).to_be_bytes();
    }
    IdSource {
        prefix: u64::from_be_bytes(bytes),
        next: AtomicU64::new(0),
    }
});

/// Counter values a thread takes from the shared counter at a time, so the
/// threads serving requests do not contend for one cache line.
const ID_BLOCK: u64 = 4096;

thread_local! {
    /// This thread's next counter value and the end of its block.
    static ID_RANGE: std::cell::Cell<(u64, u64)> = const { std::cell::Cell::new((0, 0)) };
}

/// A fresh request id: a version-8 UUID of the process prefix and the next
/// counter value.
pub fn fresh_id() -> String {
    let n = ID_RANGE.with(|r| {
        let (mut next, mut end) = r.get();
        if next == end {
            next = IDS.next.fetch_add(ID_BLOCK, Ordering::Relaxed);
            end = next + ID_BLOCK;
        }
        r.set((next + 1, end));
        next
    });
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&IDS.prefix.to_be_bytes());
    bytes[8..].copy_from_slice(&n.to_be_bytes());
    uuid::Builder::from_custom_bytes(bytes)
        .into_uuid()
        .hyphenated()
        .to_string()
}

/// Middleware: settles the request id, runs the request, logs it.
pub async fn layer(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let start = Instant::now();
    let id = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map_or_else(fresh_id, str::to_owned);
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
    if access_log::enabled() {
        access_log::record(access_log::Record {
            at: std::time::SystemTime::now(),
            method,
            uri,
            status: response.status().as_u16(),
            latency_us: u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
            request_id: header,
            client: client.map(|c| c.0),
        });
    }
    response
}

/// The request id [`layer`] settled on, read from the request headers.
pub fn request_id_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_ids_are_distinct_uuids_sharing_the_process_prefix() {
        let a = fresh_id();
        let b = fresh_id();
        assert_ne!(a, b);
        let (ua, ub) = (
            uuid::Uuid::parse_str(&a).unwrap(),
            uuid::Uuid::parse_str(&b).unwrap(),
        );
        assert_eq!(ua.get_version_num(), 8);
        assert_eq!(ua.get_variant(), uuid::Variant::RFC4122);
        assert_eq!(ua.as_bytes()[..6], ub.as_bytes()[..6]);
        let ids: std::collections::HashSet<String> = (0..10_000).map(|_| fresh_id()).collect();
        assert_eq!(ids.len(), 10_000);
        // Threads take counter blocks of their own: no two ids collide.
        let threads: Vec<_> = (0..4)
            .map(|_| std::thread::spawn(|| (0..10_000).map(|_| fresh_id()).collect::<Vec<_>>()))
            .collect();
        let mut all = ids;
        for t in threads {
            all.extend(t.join().unwrap());
        }
        assert_eq!(all.len(), 50_000);
    }
}
