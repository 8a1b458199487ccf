//! Probes: `/health` (the original's), `/healthz` (alive), `/readyz`
//! (database reachable and migrated), `/version`. Unauthenticated.

use axum::Json;
use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::error::ApiError;
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

/// `GET /readyz` → 200 when the database answers and is fully migrated,
/// else 503 with the reasons.
#[utoipa::path(
    get, path = "/readyz", tag = "probes", security(()),
    responses((status = 200, description = "Ready (or degraded)", body = Object),
        (status = 503, description = "Not ready, with reasons", body = Object))
)]
pub async fn readyz(State(state): State<AppState>) -> Response {
    let mut reasons = Vec::new();
    let ping = tokio::time::timeout(std::time::Duration::from_secs(2), state.store.ping()).await;
    match ping {
        Ok(Ok(())) => match state.store.migration_status().await {
            Ok((applied, expected)) if applied >= expected => {}
            Ok((applied, expected)) => reasons.push(format!(
                "database migrated to {applied} of {expected}: run `dsg migrate`"
            )),
            Err(e) => reasons.push(format!("cannot read migration state: {e}")),
        },
        Ok(Err(e)) => reasons.push(format!("database unreachable: {e}")),
        Err(_) => reasons.push("database did not answer within 2 s".into()),
    }
    let backend = state.store.backend().as_str();
    // Identity providers that are not ready degrade login / JWT bearer
    // tokens only; opaque tokens keep working, so the replica stays ready.
    let idp = state.idp.not_ready();
    if reasons.is_empty() {
        let mut body = json!({"status": "ready", "database": backend});
        if !idp.is_empty() {
            body["status"] = "degraded".into();
            body["identity_providers_not_ready"] = idp.into();
        }
        if let Some(s) = state.idp.status() {
            body["identity_providers"] = s;
        }
        Json(body).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "unavailable", "database": backend, "reasons": reasons})),
        )
            .into_response()
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
