//! `POST /api/v1/check-access` (the original's decision, with the level
//! hierarchy, `read_only`, versions, expiry and TOS dates honoured) and
//! `POST /api/v1/explain-access` (the decision plus every rule considered).
//! Parsing and answering only: the decision and who may ask about whom are
//! [`crate::service::access`]'s.

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Json, Router};
use bytes::Bytes;
use dsg_core::permissions::explain::Decision;
use dsg_store::tokens::PrincipalRef;
use serde_json::{Value, json};

use super::Ctx;
use crate::error::ApiError;
use crate::http::body::{non_empty, parse};
use crate::service::ServiceError;
use crate::service::access::{self, Asked, Named};
use crate::state::AppState;

pub(super) fn routes(r: Router<AppState>) -> Router<AppState> {
    r.route("/api/v1/check-access", any(check_access))
        .route("/api/v1/explain-access", any(explain_access))
}

fn decision_error(status: StatusCode, reason: &str) -> Response {
    (status, Json(json!({"allowed": false, "reason": reason}))).into_response()
}

/// The body of `POST /api/v1/check-access`.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
pub struct CheckRequest {
    /// The dataset (required).
    pub dataset: Option<String>,
    /// A version of it; none for the dataset.
    pub version: Option<String>,
    /// The level asked about (default `view`).
    pub permission: Option<String>,
    /// The service asking (its terms of service count).
    pub service: Option<String>,
}

/// The body of `POST /api/v1/explain-access`: the question, and whom it
/// is about (default: the caller).
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
pub struct ExplainRequest {
    /// The dataset (required).
    pub dataset: Option<String>,
    /// A version of it; none for the dataset.
    pub version: Option<String>,
    /// The level asked about (default `view`).
    pub permission: Option<String>,
    /// The service asking (its terms of service count).
    pub service: Option<String>,
    /// A person, by e-mail.
    pub user: Option<String>,
    /// A service account, by name.
    pub service_account: Option<String>,
}

/// The question, or the answer to a question about no known dataset
/// (`{"allowed": false, "reason": …}`, as the original answers).
async fn asked(
    state: &AppState,
    dataset: Option<String>,
    version: Option<String>,
    permission: Option<String>,
    service: Option<String>,
) -> Result<Result<Asked, Response>, ApiError> {
    let Some(dataset) = non_empty(dataset) else {
        return Ok(Err(decision_error(
            StatusCode::BAD_REQUEST,
            "dataset is required",
        )));
    };
    match access::ask(
        state,
        &dataset,
        non_empty(version),
        non_empty(permission),
        non_empty(service),
    )
    .await
    {
        Ok(a) => Ok(Ok(a)),
        Err(ServiceError::NotFound(what)) => Ok(Err(decision_error(StatusCode::NOT_FOUND, what))),
        Err(e) => Err(e.into()),
    }
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

/// `POST /api/v1/check-access {"dataset", "version"?, "permission"?, "service"?}`
/// → `{"allowed", "reason"[, "tos_id", "tos_name", "service"]}` for the caller
/// (the token's scope applies). Any principal.
#[utoipa::path(
    post, path = "/api/v1/check-access", tag = "native",
    request_body(content = CheckRequest, content_type = "application/json"),
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
    let body: CheckRequest = parse(&headers, &bytes)?;
    let a = match asked(
        &state,
        body.dataset,
        body.version,
        body.permission,
        body.service,
    )
    .await?
    {
        Ok(a) => a,
        Err(r) => return Ok(r),
    };
    let subject = access::subject(&state, ctx.view(), &a, Named::Caller).await?;
    let d = access::decide(&state, &subject, &a).await?;
    Ok(Json(decision_json(&d)).into_response())
}

/// `POST /api/v1/explain-access {"dataset", "version"?, "permission"?, "service"?,
/// "user"?: e-mail, "service_account"?: name}` → the decision plus every rule.
/// About oneself: anyone. About someone else: global admins and managers of
/// the dataset.
#[utoipa::path(
    post, path = "/api/v1/explain-access", tag = "native",
    request_body(content = ExplainRequest, content_type = "application/json"),
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
    let body: ExplainRequest = parse(&headers, &bytes)?;
    let a = match asked(
        &state,
        body.dataset,
        body.version,
        body.permission,
        body.service,
    )
    .await?
    {
        Ok(a) => a,
        Err(r) => return Ok(r),
    };
    let (user, service_account) = (non_empty(body.user), non_empty(body.service_account));
    let named = match (user.as_deref(), service_account.as_deref()) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "name either a user or a service_account, not both",
            ));
        }
        (None, None) => Named::Caller,
        (Some(email), None) => Named::User(email),
        (None, Some(name)) => Named::ServiceAccount(name),
    };
    let subject = access::subject(&state, ctx.view(), &a, named).await?;
    let d = access::decide(&state, &subject, &a).await?;
    let mut out = decision_json(&d);
    out["principal"] = match subject.principal() {
        PrincipalRef::User(id) => json!({"type": "user", "id": id}),
        PrincipalRef::ServiceAccount(id) => json!({"type": "service_account", "id": id}),
    };
    out["dataset"] = json!(a.dataset);
    out["version"] = json!(a.version);
    out["permission"] = json!(a.permission);
    out["rules"] = json!(d.rules);
    Ok(Json(out).into_response())
}
