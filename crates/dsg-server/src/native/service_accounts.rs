//! Service accounts (global admins only): separate principals with their own
//! tokens and grants; never admins, no groups, no TOS. The rules and writes
//! are [`crate::service::service_accounts`]'s.
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

use super::{Ctx, created, require, rfc};
use crate::error::ApiError;
use crate::http::body::{self, Instant, Required};
use crate::service::service_accounts::{self as accounts, Account, NewAccount, NewGrant};
use crate::state::AppState;

pub(super) fn routes(r: Router<AppState>) -> Router<AppState> {
    r.route("/api/v1/service-accounts", any(list_or_create))
        .route("/api/v1/service-accounts/{name}", any(detail))
        .route("/api/v1/service-accounts/{name}/{kind}", any(add))
        .route("/api/v1/service-accounts/{name}/{kind}/{id}", any(remove))
}

/// 403 unless the caller manages service accounts: asked before the method
/// and before the name is looked up, as the original.
fn admin(ctx: &Ctx) -> Result<(), ApiError> {
    ctx.human()?;
    require(ctx.view().may_manage_service_accounts())
}

/// The account named in the path (404 `Service account not found`).
async fn account(state: &AppState, ctx: &Ctx, name: &str) -> Result<Account, ApiError> {
    Ok(accounts::find(state, &ctx.caller, name).await?)
}

/// The body of `POST /api/v1/service-accounts`.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
pub struct NewServiceAccountRequest {
    /// 1–100 letters, digits, `-` or `_`; unique.
    #[schema(value_type = String, pattern = "^[A-Za-z0-9_-]{1,100}$")]
    pub name: Required,
    /// Free text.
    pub description: Option<String>,
}

#[utoipa::path(
    method(get, post), path = "/api/v1/service-accounts", tag = "native",
    request_body(content = NewServiceAccountRequest, content_type = "application/json"),
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
        let body: NewServiceAccountRequest = body::parse(&headers, &bytes)?;
        let input = NewAccount {
            name: body.name.0,
            description: body.description.unwrap_or_default(),
        };
        let id = accounts::create(&state, &ctx.caller, input.clone()).await?;
        return Ok(created(
            json!({"id": id, "name": input.name, "description": input.description, "is_active": true}),
        ));
    }
    let out: Vec<Value> = accounts::list(&state, &ctx.caller)
        .await?
        .into_iter()
        .map(|s| {
            json!({"id": s.id, "name": s.name, "description": s.description, "is_active": s.is_active,
                   "created_by": s.created_by, "created": s.created.to_rfc3339()})
        })
        .collect();
    Ok(Json(out).into_response())
}

/// The body of `PATCH /api/v1/service-accounts/{name}`.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
pub struct ServiceAccountUpdateRequest {
    /// `false` disables the account (its tokens are refused at once), `true` enables it.
    pub is_active: Option<bool>,
}

#[utoipa::path(
    method(get, patch), path = "/api/v1/service-accounts/{name}", tag = "native",
    params(("name" = String, Path, description = "Service account name")),
    request_body(content = ServiceAccountUpdateRequest, content_type = "application/json"),
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
    let account = account(&state, &ctx, &name).await?;
    if ctx.method == Method::PATCH {
        let body: ServiceAccountUpdateRequest = body::parse(&headers, &bytes)?;
        if let Some(active) = body.is_active {
            accounts::set_active(&state, &ctx.caller, &account, active).await?;
        }
    }
    let d = accounts::detail(&state, &ctx.caller, &account).await?;
    let tokens: Vec<Value> = d
        .tokens
        .into_iter()
        .map(|t| {
            json!({"id": t.id, "description": t.description, "prefix": t.prefix,
                   "created": t.created.to_rfc3339(), "last_used": rfc(t.last_used)})
        })
        .collect();
    let grants: Vec<Value> = d
        .grants
        .into_iter()
        .map(|g| {
            json!({"id": g.id, "dataset": g.dataset, "version": g.version, "permission": g.permission,
                   "expires_at": rfc(g.expires_at), "expired": g.expired})
        })
        .collect();
    let s = d.account;
    Ok(Json(json!({
        "id": s.id, "name": s.name, "description": s.description, "is_active": s.is_active,
        "email": dsg_core::permissions::service_account_email(&s.name),
        "created_by": s.created_by, "created": s.created.to_rfc3339(),
        "tokens": tokens, "grants": grants,
    }))
    .into_response())
}

/// The body of `POST /api/v1/service-accounts/{name}/tokens`.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
pub struct NewServiceAccountTokenRequest {
    /// Free text shown in listings.
    pub description: Required,
}

/// The body of `POST /api/v1/service-accounts/{name}/grants`.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
pub struct NewServiceAccountGrantRequest {
    /// Dataset name.
    pub dataset: Required,
    /// `view`, `edit`, `manage` or `admin`.
    pub permission: Required,
    /// One version of the dataset; none (or "") for the whole dataset.
    pub version: Option<String>,
    /// An instant in the future (RFC 3339, a date or Unix seconds); none for no expiry.
    pub expires_at: Option<Instant>,
}

/// The body of `POST /api/v1/service-accounts/{name}/{kind}`: a token's
/// for `tokens`, a grant's for `grants`.
#[derive(Debug, utoipa::ToSchema)]
#[serde(untagged)]
pub enum NewServiceAccountPartRequest {
    /// `kind` = `tokens`.
    Token(NewServiceAccountTokenRequest),
    /// `kind` = `grants`.
    Grant(NewServiceAccountGrantRequest),
}

impl NewServiceAccountPartRequest {
    /// Reads the body `kind` calls for; `None` for an unknown kind.
    fn parse(kind: &str, headers: &HeaderMap, bytes: &Bytes) -> Result<Option<Self>, ApiError> {
        Ok(match kind {
            "tokens" => Some(Self::Token(body::parse(headers, bytes)?)),
            "grants" => Some(Self::Grant(body::parse(headers, bytes)?)),
            _ => {
                // A body that is no JSON object is refused first, as before.
                body::parse::<serde::de::IgnoredAny>(headers, bytes)?;
                None
            }
        })
    }
}

#[utoipa::path(
    post, path = "/api/v1/service-accounts/{name}/{kind}", tag = "native",
    params(("name" = String, Path, description = "Service account name"), ("kind" = String, Path, description = "`tokens` or `grants`")),
    request_body(content = NewServiceAccountPartRequest, content_type = "application/json"),
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
    let account = account(&state, &ctx, &name).await?;
    let out = match NewServiceAccountPartRequest::parse(&kind, &headers, &bytes)? {
        Some(NewServiceAccountPartRequest::Token(body)) => {
            let t = accounts::add_token(&state, &ctx.caller, &account, &body.description).await?;
            json!({"id": t.id, "token": t.value, "description": t.description})
        }
        Some(NewServiceAccountPartRequest::Grant(body)) => {
            let grant = NewGrant {
                dataset: body.dataset.0,
                version: body::non_empty(body.version),
                permission: body.permission.0,
                expires_at: body.expires_at.map(|i| i.0),
            };
            let id = accounts::add_grant(&state, &ctx.caller, &account, grant.clone()).await?;
            json!({"id": id, "dataset": grant.dataset, "version": grant.version,
                   "permission": grant.permission, "expires_at": rfc(grant.expires_at)})
        }
        None => return Err(ApiError::not_found("Not found.")),
    };
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
    let account = account(&state, &ctx, &name).await?;
    let item: i64 = item
        .parse()
        .map_err(|_| ApiError::not_found("Not found."))?;
    match kind.as_str() {
        "tokens" => accounts::revoke_token(&state, &ctx.caller, &account, item).await?,
        "grants" => accounts::revoke_grant(&state, &ctx.caller, &account, item).await?,
        _ => return Err(ApiError::not_found("Not found.")),
    }
    Ok(Json(json!({"status": "revoked", "id": item})).into_response())
}
