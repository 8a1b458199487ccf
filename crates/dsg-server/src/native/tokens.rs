//! Token management for people: `GET|POST /api/v1/tokens`,
//! `DELETE /api/v1/tokens/{id}`. A token may be limited to read-only and/or
//! a set of datasets; its `user/cache` then shows only what it allows.

use std::collections::BTreeSet;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Json, Router};
use bytes::Bytes;
use dsg_core::permissions::TokenScope;
use dsg_store::tokens::NewToken;
use serde_json::{Value, json};

use super::{Ctx, commit, created, instant, object, opt_bool, opt_str, rfc};
use crate::error::ApiError;
use crate::state::AppState;

pub(super) fn routes(r: Router<AppState>) -> Router<AppState> {
    r.route("/api/v1/tokens", any(tokens))
        .route("/api/v1/tokens/{id}", any(token))
}

/// `GET` → the caller's tokens with their scopes (never values);
/// `POST {"description", "expires_at", "read_only", "datasets": [..]}` → 201
/// with the new token's value (shown once). Humans only.
#[utoipa::path(
    method(get, post), path = "/api/v1/tokens", tag = "native",
    request_body(content = super::bodies::NewToken, content_type = "application/json"),
    responses((status = 200, description = "GET: the caller's tokens with their scopes", body = Vec<Object>),
        (status = 201, description = "POST: the new token, its value shown once", body = Object),
        (status = 429, description = "POST: too many tokens minted by this user (`rate_limit.token_creation`); see `Retry-After`", body = crate::error::schema::Detail))
)]
async fn tokens(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let user_id = ctx.human()?;
    ctx.allow(&[Method::GET, Method::POST])?;
    if ctx.method != Method::POST {
        let list = state.store.list_token_scopes(user_id).await?;
        let out: Vec<Value> = list
            .into_iter()
            .map(|(t, scope)| {
                json!({
                    "id": t.id, "description": t.description, "prefix": t.prefix,
                    "created": t.created.to_rfc3339(), "last_used": rfc(t.last_used),
                    "expires_at": rfc(t.expires_at),
                    "expired": t.expires_at.is_some_and(|e| state.clock.now() >= e),
                    "read_only": scope.read_only, "datasets": scope.datasets,
                })
            })
            .collect();
        return Ok(Json(out).into_response());
    }
    let body = object(&headers, &bytes)?;
    let description = opt_str(&body, "description")?.unwrap_or("API token");
    if description.len() > 255 {
        return Err(ApiError::bad_request(
            "description is longer than 255 characters",
        ));
    }
    let expires_at = instant(&body, "expires_at")?;
    if expires_at.is_some_and(|e| e <= state.clock.now()) {
        return Err(ApiError::bad_request("expires_at must be in the future"));
    }
    let read_only = opt_bool(&body, "read_only")?.unwrap_or(false);
    let datasets = match body.get("datasets") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| ApiError::bad_request("datasets must be a list of names"))
                })
                .collect::<Result<BTreeSet<String>, _>>()?,
        ),
        Some(_) => return Err(ApiError::bad_request("datasets must be a list of names")),
    };
    let scope = TokenScope {
        read_only,
        datasets,
    };
    state.limits.token_creation(user_id).await?;
    let mut tx = state.store.begin(ctx.actor()).await?;
    let (id, token) = tx
        .create_user_token(
            user_id,
            NewToken {
                description: description.to_owned(),
                expires_at,
                scope: scope.clone(),
                literal: None,
            },
        )
        .await?;
    commit(&state, tx).await?;
    Ok(created(json!({
        "id": id, "token": token.expose(), "description": description,
        "expires_at": rfc(expires_at), "read_only": scope.read_only, "datasets": scope.datasets,
    })))
}

/// `DELETE /api/v1/tokens/{id}` → revokes one of the caller's tokens
/// (global admins: anyone's). Humans only.
#[utoipa::path(
    delete, path = "/api/v1/tokens/{id}", tag = "native",
    params(("id" = String, Path, description = "Token id")),
    responses((status = 200, description = "Revoked", body = Object))
)]
async fn token(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let user_id = ctx.human()?;
    ctx.allow(&[Method::DELETE])?;
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::not_found("Token not found"))?;
    let owner = state.store.user_token_owner(id).await?;
    match owner {
        Some(o) if o == user_id || ctx.view().is_admin() => {}
        _ => return Err(ApiError::not_found("Token not found")),
    }
    let mut tx = state.store.begin(ctx.actor()).await?;
    tx.revoke_user_token(id).await?;
    commit(&state, tx).await?;
    Ok(Json(json!({"status": "revoked", "id": id})).into_response())
}
