//! `POST /api/v1/check-access` (the original's decision, with the level
//! hierarchy, `read_only`, versions, expiry and TOS dates honoured) and
//! `POST /api/v1/explain-access` (the decision plus every rule considered).

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Json, Router};
use bytes::Bytes;
use dsg_core::permissions::explain::{Decision, Question, explain};
use dsg_core::permissions::{EvalContext, TokenScope};
use dsg_store::tokens::PrincipalRef;
use serde_json::{Value, json};

use super::{Ctx, opt_str, require};
use crate::error::ApiError;
use crate::state::AppState;

pub(super) fn routes(r: Router<AppState>) -> Router<AppState> {
    r.route("/api/v1/check-access", any(check_access))
        .route("/api/v1/explain-access", any(explain_access))
}

fn decision_error(status: StatusCode, reason: &str) -> Response {
    (status, Json(json!({"allowed": false, "reason": reason}))).into_response()
}

/// Parsed common input of both endpoints (and of the web explain view).
pub(crate) struct Asked {
    /// Dataset id.
    pub(crate) dataset_id: i64,
    /// Dataset name.
    pub(crate) dataset: String,
    /// Version name.
    pub(crate) version: Option<String>,
    /// Level asked about.
    pub(crate) permission: String,
    /// Service slug.
    pub(crate) service: Option<String>,
}

async fn asked(state: &AppState, body: &Value) -> Result<Result<Asked, Response>, ApiError> {
    let Some(dataset) = opt_str(body, "dataset")?.filter(|s| !s.is_empty()) else {
        return Ok(Err(decision_error(
            StatusCode::BAD_REQUEST,
            "dataset is required",
        )));
    };
    let Some(row) = state.store.dataset_by_name(dataset).await? else {
        return Ok(Err(decision_error(
            StatusCode::NOT_FOUND,
            "Dataset not found",
        )));
    };
    Ok(Ok(Asked {
        dataset_id: row.id,
        dataset: row.name,
        version: opt_str(body, "version")?
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
        permission: opt_str(body, "permission")?
            .filter(|s| !s.is_empty())
            .unwrap_or("view")
            .to_owned(),
        service: opt_str(body, "service")?
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
    }))
}

/// The decision with every rule considered, for a principal under a token scope.
pub(crate) async fn decide(
    state: &AppState,
    principal: PrincipalRef,
    scope: &TokenScope,
    a: &Asked,
) -> Result<Decision, ApiError> {
    state.cache.sync().await?;
    let catalog = state.cache.current_catalog().await?;
    let subject = state
        .store
        .load_subject(principal)
        .await?
        .ok_or_else(|| ApiError::not_found("Principal not found"))?;
    Ok(explain(
        &catalog,
        &subject,
        &Question {
            dataset_id: a.dataset_id,
            version: a.version.as_deref(),
            permission: &a.permission,
        },
        &EvalContext {
            now: state.clock.now(),
            service: a.service.as_deref(),
            scope,
        },
    ))
}

fn decision_json(d: &Decision) -> Value {
    let mut out = json!({"allowed": d.allowed, "reason": d.reason});
    if let Some(t) = &d.tos {
        out["tos_id"] = json!(t.tos_id);
        out["tos_name"] = json!(t.tos_name);
        if let Some(s) = &t.service {
            out["service"] = json!(s);
        }
        if let Some(v) = &t.version {
            out["version"] = json!(v);
        }
    }
    out
}

fn body(headers: &HeaderMap, bytes: &Bytes) -> Result<Value, ApiError> {
    match crate::http::body::json(headers, bytes)? {
        Some(v @ Value::Object(_)) => Ok(v),
        None => Ok(json!({})),
        Some(_) => Err(ApiError::bad_request("expected a JSON object")),
    }
}

/// `POST /api/v1/check-access {"dataset", "version"?, "permission"?, "service"?}`
/// → `{"allowed", "reason"[, "tos_id", "tos_name", "service"]}` for the caller
/// (the token's scope applies). Any principal.
#[utoipa::path(
    post, path = "/api/v1/check-access", tag = "native",
    request_body(content = Object, description = "JSON object", content_type = "application/json"),
    responses((status = 200, description = "`{\"allowed\", \"reason\", …}`", body = Object),
        (status = 400, description = "`{\"allowed\": false, \"reason\": …}` or `{\"detail\": …}`", body = Object),
        (status = 404, description = "`{\"allowed\": false, \"reason\": \"Dataset not found\"}`", body = Object))
)]
async fn check_access(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    ctx.allow(&[Method::POST])?;
    let body = body(&headers, &bytes)?;
    let a = match asked(&state, &body).await? {
        Ok(a) => a,
        Err(r) => return Ok(r),
    };
    let d = decide(
        &state,
        ctx.auth().token.principal,
        &ctx.auth().token.scope,
        &a,
    )
    .await?;
    Ok(Json(decision_json(&d)).into_response())
}

/// `POST /api/v1/explain-access {"dataset", "version"?, "permission"?, "service"?,
/// "user"?: e-mail, "service_account"?: name}` → the decision plus every rule.
/// About oneself: anyone. About someone else: global admins and managers of
/// the dataset.
#[utoipa::path(
    post, path = "/api/v1/explain-access", tag = "native",
    request_body(content = Object, description = "JSON object", content_type = "application/json"),
    responses((status = 200, description = "The decision plus every rule considered", body = Object),
        (status = 400, description = "`{\"allowed\": false, \"reason\": …}` or `{\"detail\": …}`", body = Object),
        (status = 404, description = "`{\"allowed\": false, \"reason\": …}`", body = Object))
)]
async fn explain_access(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    ctx.allow(&[Method::POST])?;
    let body = body(&headers, &bytes)?;
    let a = match asked(&state, &body).await? {
        Ok(a) => a,
        Err(r) => return Ok(r),
    };
    let own_scope = ctx.auth().token.scope.clone();
    let (principal, scope) = match (
        opt_str(&body, "user")?.filter(|s| !s.is_empty()),
        opt_str(&body, "service_account")?.filter(|s| !s.is_empty()),
    ) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "name either a user or a service_account, not both",
            ));
        }
        (None, None) => (ctx.auth().token.principal, own_scope),
        (Some(email), None) => {
            require(ctx.view().can_manage(&a.dataset))?;
            let id = state
                .store
                .user_id_by_email(email)
                .await?
                .ok_or_else(|| ApiError::not_found("User not found"))?;
            (PrincipalRef::User(id), TokenScope::default())
        }
        (None, Some(name)) => {
            require(ctx.view().can_manage(&a.dataset))?;
            let id = state
                .store
                .service_account_id(name)
                .await?
                .ok_or_else(|| ApiError::not_found("Service account not found"))?;
            (PrincipalRef::ServiceAccount(id), TokenScope::default())
        }
    };
    let d = decide(&state, principal, &scope, &a).await?;
    let mut out = decision_json(&d);
    out["principal"] = match principal {
        PrincipalRef::User(id) => json!({"type": "user", "id": id}),
        PrincipalRef::ServiceAccount(id) => json!({"type": "service_account", "id": id}),
    };
    out["dataset"] = json!(a.dataset);
    out["version"] = json!(a.version);
    out["permission"] = json!(a.permission);
    out["rules"] = json!(d.rules);
    Ok(Json(out).into_response())
}
