//! Probes: `/health` (the original's), `/healthz` (alive), `/readyz`
//! (every dependency, see [`readyz`]), `/version`, unauthenticated; and
//! `/metrics` (Prometheus text, optionally behind a bearer token).

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::cache::Link;
use crate::error::ApiError;
use crate::gcs::Reachability;
use crate::state::AppState;

/// The OpenAPI description of the probes.
pub(crate) fn openapi() -> utoipa::openapi::OpenApi {
    #[derive(utoipa::OpenApi)]
    #[openapi(paths(health, healthz, readyz, version))]
    struct Doc;
    <Doc as utoipa::OpenApi>::openapi()
}

/// `GET /health` → `{"status": "ok"}` (other methods 405).
#[utoipa::path(
    get, path = "/health", tag = "probes", security(()),
    responses((status = 200, description = "`{\"status\": \"ok\"}`", body = Object))
)]
pub async fn health(method: Method) -> Result<Response, ApiError> {
    if method != Method::GET && method != Method::HEAD {
        return Err(ApiError::method_not_allowed(&method));
    }
    Ok(Json(json!({"status": "ok"})).into_response())
}

/// `GET /healthz` → 200 while the process serves requests; no I/O.
#[utoipa::path(
    get, path = "/healthz", tag = "probes", security(()),
    responses((status = 200, description = "The process serves requests", body = Object))
)]
pub async fn healthz() -> Response {
    Json(json!({"status": "ok"})).into_response()
}

/// `GET /readyz` → 200 `ready` (or `degraded`: login, JWT bearer tokens or
/// `/gcs_token` are impaired, opaque tokens work) or 503 `unavailable` when
/// this replica must not take traffic: the database is unreachable or not
/// fully migrated, or (PostgreSQL) the change feed has stalled so that
/// permission changes made elsewhere might not show here. `checks` has one
/// entry per dependency.
#[utoipa::path(
    get, path = "/readyz", tag = "probes", security(()),
    responses((status = 200, description = "Ready (or degraded)", body = Object),
        (status = 503, description = "Not ready, with reasons", body = Object))
)]
pub async fn readyz(State(state): State<AppState>) -> Response {
    if state.is_draining() {
        let body = json!({"status": "draining", "reasons": ["shutting down: finishing in-flight requests"]});
        return (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
    }
    let mut reasons = Vec::new();
    let mut degraded = Vec::new();
    let database = database_check(&state, &mut reasons).await;
    let cache_feed = cache_feed_check(&state, &mut reasons, &mut degraded);
    let gcs = gcs_check(&state, &mut degraded);
    // Identity providers that are not ready degrade login / JWT bearer
    // tokens only; opaque tokens keep working, so the replica stays ready.
    let idp = state.idp.not_ready();
    degraded.extend(idp.iter().cloned());
    let backend = state.store.backend().as_str();
    let mut checks = json!({"database": database, "cache_feed": cache_feed, "gcs": gcs});
    let mut body = json!({"database": backend});
    if let Some(s) = state.idp.status() {
        checks["identity_providers"] = s.clone();
        body["identity_providers"] = s;
    }
    body["checks"] = checks;
    let status = if !reasons.is_empty() {
        body["reasons"] = reasons.into();
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    body["status"] = match (status, degraded.is_empty()) {
        (StatusCode::OK, true) => "ready",
        (StatusCode::OK, false) => "degraded",
        _ => "unavailable",
    }
    .into();
    if !degraded.is_empty() {
        body["degraded"] = degraded.into();
    }
    if !idp.is_empty() {
        body["identity_providers_not_ready"] = idp.into();
    }
    (status, Json(body)).into_response()
}

async fn database_check(state: &AppState, reasons: &mut Vec<String>) -> Value {
    let ping = tokio::time::timeout(Duration::from_secs(2), state.store.ping()).await;
    let reason = match ping {
        Ok(Ok(())) => match state.store.migration_status().await {
            Ok((applied, expected)) if applied >= expected => {
                return json!({"ok": true, "migrations": format!("{applied}/{expected}")});
            }
            Ok((applied, expected)) => {
                format!("database migrated to {applied} of {expected}: run `dsg migrate`")
            }
            Err(e) => format!("cannot read migration state: {e}"),
        },
        Ok(Err(e)) => format!("database unreachable: {e}"),
        Err(_) => "database did not answer within 2 s".into(),
    };
    reasons.push(reason.clone());
    json!({"ok": false, "error": reason})
}

/// How long the PostgreSQL change feed may go without a complete replay
/// before decisions here count as possibly stale.
pub fn feed_deadline(poll_interval_ms: u64) -> Duration {
    Duration::from_millis(poll_interval_ms.saturating_mul(10)).max(Duration::from_secs(5))
}

/// The change feed: 503 while starting (no replay yet, or a configured
/// doorbell never connected) or when replays stalled; degraded when a
/// doorbell dropped (the outbox poll keeps decisions correct, only slower).
fn cache_feed_check(
    state: &AppState,
    reasons: &mut Vec<String>,
    degraded: &mut Vec<String>,
) -> Value {
    let feed = state.cache.feed_status();
    let mut problems = Vec::new();
    let mut v = json!({});
    if state.store.sqlite_path().is_some() {
        // Every request compares the outbox's newest sequence number first.
        v["mode"] = "outbox checked on every request".into();
    } else {
        v["postgres_listen"] = if state.config.cache.postgres_listen {
            doorbell(feed.pg_listen, "PostgreSQL LISTEN", &mut problems, degraded)
        } else {
            "disabled".into()
        };
        let deadline = feed_deadline(state.config.cache.poll_interval_ms);
        match feed.caught_up_ago {
            None => problems.push("starting: the change outbox has not been replayed yet".into()),
            Some(ago) => {
                v["caught_up_ms_ago"] = u64::try_from(ago.as_millis()).unwrap_or(u64::MAX).into();
                if ago > deadline {
                    problems.push(format!(
                        "permission changes not replayed for {} s (limit {} s): decisions here may be stale",
                        ago.as_secs(),
                        deadline.as_secs()
                    ));
                }
            }
        }
    }
    if state.redis.is_some() {
        v["redis_subscription"] = doorbell(
            feed.redis_sub,
            "Redis subscription",
            &mut problems,
            degraded,
        );
    }
    v["ok"] = problems.is_empty().into();
    reasons.extend(problems);
    v
}

/// One doorbell's state: never connected is "starting" (not ready), lost
/// after connecting is degraded.
fn doorbell(
    link: Link,
    what: &str,
    problems: &mut Vec<String>,
    degraded: &mut Vec<String>,
) -> Value {
    match link {
        Link::Up => "connected",
        Link::Never => {
            problems.push(format!("starting: {what} not connected yet"));
            "connecting"
        }
        Link::Lost => {
            degraded.push(format!(
                "{what} lost: other replicas' changes show within cache.poll_interval_ms"
            ));
            "reconnecting"
        }
    }
    .into()
}

fn gcs_check(state: &AppState, degraded: &mut Vec<String>) -> Value {
    match state.gcs.reachability() {
        Reachability::NotConfigured => json!({"ok": true, "state": "not configured"}),
        Reachability::NotContacted => json!({"ok": true, "state": "not contacted yet"}),
        Reachability::Contacted(c) => match c.unavailable {
            None => json!({"ok": true, "state": "reachable", "at": c.at.to_rfc3339()}),
            Some(why) => {
                degraded.push(format!("Google credentials (/gcs_token): {why}"));
                json!({"ok": false, "state": "unavailable", "at": c.at.to_rfc3339(), "error": why})
            }
        },
    }
}

/// `GET /version` → name and version.
#[utoipa::path(
    get, path = "/version", tag = "probes", security(()),
    responses((status = 200, description = "Name and version", body = Object))
)]
pub async fn version() -> Response {
    Json(json!({"name": "dsg", "version": env!("CARGO_PKG_VERSION")})).into_response()
}
/// `GET /metrics`: open unless `metrics.bearer_token` is set, then that
/// bearer token is required (compared in constant time).
pub async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let want = &state.config.metrics.bearer_token;
    if !want.is_empty() {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        if !bool::from(subtle::ConstantTimeEq::ct_eq(
            given.as_bytes(),
            want.as_bytes(),
        )) {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                axum::Json(serde_json::json!({"detail": "Invalid or missing metrics token."})),
            )
                .into_response();
        }
    }
    // A browser opening /metrics gets the same text as plain text (shown,
    // not downloaded); scrapers get OpenMetrics.
    let content_type = if crate::pages::wants_html(&headers) {
        "text/plain; charset=utf-8"
    } else {
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    };
    (
        [(header::CONTENT_TYPE, content_type)],
        crate::metrics::render(&state.metrics, &state.cache, &state.store, &state.idp),
    )
        .into_response()
}
