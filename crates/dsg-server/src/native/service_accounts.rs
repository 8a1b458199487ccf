//! Service accounts (global admins only): separate principals with their own
//! tokens and grants; never admins, no groups, no TOS.
//!
//! `GET|POST /api/v1/service-accounts`, `GET|PATCH /api/v1/service-accounts/{name}`
//! (`{"is_active": false}` disables), `POST …/{name}/tokens`,
//! `DELETE …/{name}/tokens/{id}`, `POST …/{name}/grants`, `DELETE …/{name}/grants/{id}`.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Json, Router};
use bytes::Bytes;
use serde_json::{Value, json};

use super::{Ctx, commit, created, instant, object, opt_bool, opt_str, req_str, require, rfc};
use crate::error::ApiError;
use crate::state::AppState;

pub(super) fn routes(r: Router<AppState>) -> Router<AppState> {
    r.route("/api/v1/service-accounts", any(list_or_create))
        .route("/api/v1/service-accounts/{name}", any(detail))
        .route("/api/v1/service-accounts/{name}/{kind}", any(add))
        .route("/api/v1/service-accounts/{name}/{kind}/{id}", any(remove))
}

fn admin(ctx: &Ctx) -> Result<(), ApiError> {
    ctx.human()?;
    require(ctx.view().is_admin())
}

#[utoipa::path(
    method(get, post), path = "/api/v1/service-accounts", tag = "native",
    request_body(content = super::bodies::NewServiceAccount, content_type = "application/json"),
    responses((status = 200, description = "GET: every service account", body = Vec<Object>),
        (status = 201, description = "POST: created, with its first token", body = Object))
)]
async fn list_or_create(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    admin(&ctx)?;
    ctx.allow(&[Method::GET, Method::POST])?;
    if ctx.method == Method::POST {
        let body = object(&headers, &bytes)?;
        let name = req_str(&body, "name")?;
        let description = opt_str(&body, "description")?.unwrap_or("");
        let mut tx = state.store.begin(ctx.actor()).await?;
        let id = tx.create_service_account(name, description, true).await?;
        commit(&state, tx).await?;
        return Ok(created(
            json!({"id": id, "name": name, "description": description, "is_active": true}),
        ));
    }
    let out: Vec<Value> = state
        .store
        .service_accounts()
        .await?
        .into_iter()
        .map(|s| {
            json!({"id": s.id, "name": s.name, "description": s.description, "is_active": s.is_active,
                   "created_by": s.created_by, "created": s.created.to_rfc3339()})
        })
        .collect();
    Ok(Json(out).into_response())
}

async fn sa_id(state: &AppState, name: &str) -> Result<i64, ApiError> {
    state
        .store
        .service_account_id(name)
        .await?
        .ok_or_else(|| ApiError::not_found("Service account not found"))
}

#[utoipa::path(
    method(get, patch), path = "/api/v1/service-accounts/{name}", tag = "native",
    params(("name" = String, Path, description = "Service account name")), request_body(content = Object, description = "JSON object", content_type = "application/json"),
    responses((status = 200, description = "The service account with its tokens and grants", body = Object))
)]
async fn detail(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(name): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    admin(&ctx)?;
    ctx.allow(&[Method::GET, Method::PATCH])?;
    let id = sa_id(&state, &name).await?;
    if ctx.method == Method::PATCH {
        let body = object(&headers, &bytes)?;
        if let Some(active) = opt_bool(&body, "is_active")? {
            let mut tx = state.store.begin(ctx.actor()).await?;
            tx.set_service_account_active(id, active).await?;
            commit(&state, tx).await?;
        }
    }
    let s = state
        .store
        .service_account_detail(id)
        .await?
        .ok_or_else(|| ApiError::not_found("Service account not found"))?;
    let now = state.clock.now();
    let tokens: Vec<Value> = state
        .store
        .service_account_tokens(id)
        .await?
        .into_iter()
        .map(|(id, description, prefix, created, last_used)| {
            json!({"id": id, "description": description, "prefix": prefix,
                   "created": created.to_rfc3339(), "last_used": rfc(last_used)})
        })
        .collect();
    let grants: Vec<Value> = state
        .store
        .service_account_grants(id)
        .await?
        .into_iter()
        .map(|(id, dataset, version, permission, expires_at)| {
            json!({"id": id, "dataset": dataset, "version": version, "permission": permission,
                   "expires_at": rfc(expires_at),
                   "expired": dsg_store::grants::expired(expires_at, now)})
        })
        .collect();
    Ok(Json(json!({
        "id": s.id, "name": s.name, "description": s.description, "is_active": s.is_active,
        "email": dsg_core::permissions::service_account_email(&s.name),
        "created_by": s.created_by, "created": s.created.to_rfc3339(),
        "tokens": tokens, "grants": grants,
    }))
    .into_response())
}

#[utoipa::path(
    post, path = "/api/v1/service-accounts/{name}/{kind}", tag = "native",
    params(("name" = String, Path, description = "Service account name"), ("kind" = String, Path, description = "`tokens` or `grants`")), request_body(content = Object, description = "JSON object", content_type = "application/json"),
    responses((status = 201, description = "Added", body = Object))
)]
async fn add(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((name, kind)): Path<(String, String)>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    admin(&ctx)?;
    ctx.allow(&[Method::POST])?;
    let id = sa_id(&state, &name).await?;
    let body = object(&headers, &bytes)?;
    let mut tx = state.store.begin(ctx.actor()).await?;
    let out = match kind.as_str() {
        "tokens" => {
            let description = req_str(&body, "description")?;
            let (tid, token) = tx.create_service_account_token(id, description).await?;
            json!({"id": tid, "token": token.expose(), "description": description})
        }
        "grants" => {
            let dataset = req_str(&body, "dataset")?;
            let permission = req_str(&body, "permission")?;
            let expires_at = instant(&body, "expires_at")?;
            if expires_at.is_some_and(|e| e <= state.clock.now()) {
                return Err(ApiError::bad_request("expires_at must be in the future"));
            }
            let dataset_id = tx.dataset_id(dataset).await?;
            let version = opt_str(&body, "version")?.filter(|s| !s.is_empty());
            let version_id = match version {
                Some(v) => Some(tx.version_id(dataset_id, v).await?),
                None => None,
            };
            let gid = tx
                .create_service_account_grant(id, dataset_id, version_id, permission, expires_at)
                .await?;
            json!({"id": gid, "dataset": dataset, "version": version, "permission": permission,
                   "expires_at": rfc(expires_at)})
        }
        _ => return Err(ApiError::not_found("Not found.")),
    };
    commit(&state, tx).await?;
    Ok(created(out))
}

#[utoipa::path(
    delete, path = "/api/v1/service-accounts/{name}/{kind}/{id}", tag = "native",
    params(("name" = String, Path, description = "Service account name"), ("kind" = String, Path, description = "`tokens` or `grants`"), ("id" = String, Path, description = "Token or grant id")),
    responses((status = 200, description = "Removed", body = Object))
)]
async fn remove(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((name, kind, item)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    admin(&ctx)?;
    ctx.allow(&[Method::DELETE])?;
    let id = sa_id(&state, &name).await?;
    let item: i64 = item
        .parse()
        .map_err(|_| ApiError::not_found("Not found."))?;
    let mut tx = state.store.begin(ctx.actor()).await?;
    let found = match kind.as_str() {
        "tokens" => tx.revoke_service_account_token(id, item).await?,
        "grants" => tx.revoke_service_account_grant(id, item).await?,
        _ => false,
    };
    if !found {
        return Err(ApiError::not_found("Not found."));
    }
    commit(&state, tx).await?;
    Ok(Json(json!({"status": "revoked", "id": item})).into_response())
}
