//! Prometheus metrics at `GET /metrics` (OpenMetrics text): requests by
//! route, method and status with latency histograms, the permission cache,
//! the database pool, logins, rate-limit refusals and JWKS refreshes.
//!
//! HTTP and login families live in one registry per server (no global, so
//! servers in one test process stay apart); cache, pool and JWKS figures are
//! counted where they happen and read at scrape time.

use std::fmt::Write as _;

use prometheus_client::encoding::{EncodeLabelSet, text::encode};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::cache::PermissionCache;
use crate::idp::Registry as Issuers;

/// Labels of a served request.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: &'static str,
    method: &'static str,
    status: u16,
}

/// Labels of a latency observation.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: &'static str,
}

/// The one `'static` copy of a route template. Templates are the router's
/// (plus `unmatched`), a fixed set, so counting a request allocates nothing.
fn route_label(route: &str) -> &'static str {
    static ROUTES: std::sync::LazyLock<
        parking_lot::RwLock<std::collections::HashSet<&'static str>>,
    > = std::sync::LazyLock::new(Default::default);
    if let Some(r) = ROUTES.read().get(route) {
        return r;
    }
    let mut routes = ROUTES.write();
    if let Some(r) = routes.get(route) {
        return r;
    }
    let r: &'static str = Box::leak(route.to_owned().into_boxed_str());
    routes.insert(r);
    r
}

/// A method label: the standard methods by name, anything else `other`
/// (a client's invented method must not grow the label set).
fn method_label(method: &str) -> &'static str {
    const KNOWN: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE",
    ];
    KNOWN.into_iter().find(|m| *m == method).unwrap_or("other")
}

/// Labels of a login attempt.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

/// Labels of a rate-limit refusal.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ClassLabels {
    /// `login`, `token_creation`, `scim` or `failed_auth`.
    pub class: &'static str,
}

/// The server's metric families.
pub struct Metrics {
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    logins: Family<OutcomeLabels, Counter>,
    rate_limited: Family<ClassLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            requests: Family::default(),
            latency: Family::new_with_constructor(|| {
                // 50 µs … ~3.3 s: the cached path sits in the first buckets.
                Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
                    0.000_05, 3.0, 11,
                ))
            }),
            logins: Family::default(),
            rate_limited: Family::default(),
        }
    }
}

impl Metrics {
    /// Records one served request. `route` is the matched route template
    /// (never the raw path, so the label set stays small).
    pub fn request(&self, route: &str, method: &str, status: u16, seconds: f64) {
        let route = route_label(route);
        self.requests
            .get_or_create(&RequestLabels {
                route,
                method: method_label(method),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels { route })
            .observe(seconds);
    }

    /// Records a finished login callback: `success`, `denied` (the user may
    /// not log in), `rejected` (bad or replayed request) or `failed`
    /// (provider or server trouble).
    pub fn login(&self, outcome: &'static str) {
        self.logins.get_or_create(&OutcomeLabels { outcome }).inc();
    }

    /// The family of requests refused by a rate limit, shared with
    /// [`crate::rate_limit::RateLimiter`], which counts into it.
    pub fn rate_limited(&self) -> Family<ClassLabels, Counter> {
        self.rate_limited.clone()
    }
}

/// Labels of a JWKS fetch count.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JwksLabels {
    issuer: String,
    outcome: &'static str,
}

/// Labels of a pool gauge.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    state: &'static str,
}

/// The OpenMetrics text of everything: this registry's families and the
/// figures the cache, the database pool and the JWT issuers keep.
pub fn render(
    m: &Metrics,
    cache: &PermissionCache,
    store: &dsg_store::Store,
    issuers: &Issuers,
) -> String {
    let mut reg = Registry::with_prefix("dsg");
    reg.register(
        "http_requests",
        "HTTP requests served, by route template, method and status",
        m.requests.clone(),
    );
    reg.register(
        "http_request_duration_seconds",
        "Time from request to response headers, by route template",
        m.latency.clone(),
    );
    reg.register("logins", "Login callbacks by outcome", m.logins.clone());
    reg.register(
        "rate_limited",
        "Requests refused with 429 by a rate limit, by class",
        m.rate_limited.clone(),
    );
    let c = cache.stats();
    let counter = |v: u64| {
        let x: Counter = Counter::default();
        x.inc_by(v);
        x
    };
    reg.register(
        "cache_token_hits",
        "Token lookups answered from memory",
        counter(c.token_hits),
    );
    reg.register(
        "cache_token_misses",
        "Token lookups that went to the database",
        counter(c.token_misses),
    );
    reg.register(
        "cache_document_hits",
        "Permission documents served from memory",
        counter(c.document_hits),
    );
    reg.register(
        "cache_document_misses",
        "Permission documents built from the database",
        counter(c.document_misses),
    );
    reg.register(
        "cache_invalidations",
        "Invalidation events applied (own commits, outbox replays, NOTIFY)",
        counter(c.invalidations),
    );
    let gauge = |v: u64| {
        let g: prometheus_client::metrics::gauge::Gauge = Default::default();
        g.set(i64::try_from(v).unwrap_or(i64::MAX));
        g
    };
    reg.register("cache_tokens", "Tokens held in memory", gauge(c.tokens));
    reg.register(
        "cache_documents",
        "Permission documents held in memory",
        gauge(c.documents),
    );
    let pool: Family<PoolLabels, prometheus_client::metrics::gauge::Gauge> = Family::default();
    let (size, idle) = store.pool_stats();
    pool.get_or_create(&PoolLabels { state: "idle" })
        .set(i64::from(idle));
    pool.get_or_create(&PoolLabels { state: "in_use" })
        .set(i64::from(size.saturating_sub(idle)));
    reg.register(
        "db_pool_connections",
        "Database connections of the read pool, by state",
        pool,
    );
    let jwks: Family<JwksLabels, Counter> = Family::default();
    for (issuer, ok, failed) in issuers.jwks_fetch_counts() {
        for (outcome, n) in [("success", ok), ("failure", failed)] {
            jwks.get_or_create(&JwksLabels {
                issuer: issuer.clone(),
                outcome,
            })
            .inc_by(n);
        }
    }
    reg.register(
        "jwks_refreshes",
        "Fetches of JWT issuers' key sets, by outcome",
        jwks,
    );
    reg.register(
        "access_log_dropped_lines",
        "Access-log lines dropped because the writer's queue was full",
        counter(crate::access_log::dropped()),
    );
    let mut out = String::new();
    if encode(&mut out, &reg).is_err() {
        out.clear();
        let _ = writeln!(out, "# EOF");
    }
    out
}
