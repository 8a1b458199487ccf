//! Grants and group memberships, with expiry, under the authority rules of
//! spec §4.9 with its bugs fixed:
//! * managing a dataset's grants needs `manage` on it (or global admin), and
//!   nobody grants or revokes a level above their own;
//! * appointing or removing dataset admins needs `admin` on the dataset, or
//!   membership of the configured `access.admin_appointer_group` (the
//!   original's literal `sc` group has no power unless configured);
//! * group admins manage only their own group's members, and group-scoped
//!   grants only on datasets they manage themselves.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Json, Router};
use bytes::Bytes;
use dsg_store::grants::NewGrant;
use serde_json::{Value, json};

use super::{Ctx, commit, created, instant, object, opt_bool, opt_str, req_str, require, rfc};
use crate::error::ApiError;
use crate::state::AppState;

pub(super) fn routes(r: Router<AppState>) -> Router<AppState> {
    r.route("/api/v1/datasets/{name}/grants", any(dataset_grants))
        .route("/api/v1/grants/{id}", any(grant))
        .route("/api/v1/groups/{name}/memberships", any(memberships))
        .route(
            "/api/v1/groups/{name}/memberships/{user_id}",
            any(membership),
        )
}

/// `GET /api/v1/datasets/{name}/grants` → every user grant on the dataset,
/// expired ones marked (managers). `POST {"email", "permission", "version"?,
/// "group"?, "expires_at"?}` → 201 with the new grant.
#[utoipa::path(
    method(get, post), path = "/api/v1/datasets/{name}/grants", tag = "native",
    params(("name" = String, Path, description = "Dataset name")), request_body(content = Object, description = "JSON object", content_type = "application/json"),
    responses((status = 200, description = "GET: every user grant on the dataset", body = Vec<Object>),
        (status = 201, description = "POST: the new grant", body = Object))
)]
async fn dataset_grants(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(name): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    ctx.allow(&[Method::GET, Method::POST])?;
    let view = ctx.view();
    let d = state
        .store
        .dataset_by_name(&name)
        .await?
        .ok_or_else(|| ApiError::not_found("Dataset not found"))?;
    if ctx.method == Method::GET {
        require(view.can_manage(&d.name))?;
        let now = state.clock.now();
        let out: Vec<Value> = state
            .store
            .dataset_grants(d.id)
            .await?
            .into_iter()
            .map(|g| {
                json!({
                    "id": g.id, "user_id": g.user_id, "email": g.email, "permission": g.permission,
                    "version": g.version, "group": g.group, "granted_by": g.granted_by,
                    "source": g.source, "created": g.created.to_rfc3339(),
                    "expires_at": rfc(g.expires_at),
                    "expired": dsg_store::grants::expired(g.expires_at, now),
                })
            })
            .collect();
        return Ok(Json(out).into_response());
    }
    let body = object(&headers, &bytes)?;
    let email = req_str(&body, "email")?;
    let permission = req_str(&body, "permission")?;
    let group = opt_str(&body, "group")?.filter(|s| !s.is_empty());
    let version = opt_str(&body, "version")?.filter(|s| !s.is_empty());
    let expires_at = instant(&body, "expires_at")?;
    if expires_at.is_some_and(|e| e <= state.clock.now()) {
        return Err(ApiError::bad_request("expires_at must be in the future"));
    }
    if !view.may_handle_level(&state.config.access, &d.name, permission) {
        return Err(ApiError::Detail(
            axum::http::StatusCode::FORBIDDEN,
            format!("You cannot grant {permission} on {}.", d.name),
        ));
    }
    if let Some(g) = group {
        require(view.is_group_admin(g))?;
    }
    let mut tx = state.store.begin(ctx.actor()).await?;
    let user_id = tx.require_user(email).await?;
    let version_id = match version {
        Some(v) => Some(tx.version_id(d.id, v).await?),
        None => None,
    };
    let group_id = match group {
        Some(g) => {
            let gid = tx.group_id(g).await?;
            // A group-scoped grant goes to a member of the group.
            if !state
                .store
                .group_memberships(gid)
                .await?
                .iter()
                .any(|m| m.user_id == user_id)
            {
                tx.add_member(user_id, gid, false, None).await?;
            }
            Some(gid)
        }
        None => None,
    };
    let id = tx
        .create_grant(&NewGrant {
            user_id,
            dataset_id: d.id,
            version_id,
            permission,
            group_id,
            granted_by: ctx.actor().id,
            source: "manual",
            expires_at,
        })
        .await?;
    commit(&state, tx).await?;
    Ok(created(json!({
        "id": id, "user_id": user_id, "email": email, "dataset": d.name, "permission": permission,
        "version": version, "group": group, "expires_at": rfc(expires_at), "expired": false,
    })))
}

/// `DELETE /api/v1/grants/{id}` → revokes a user grant (authority as for granting;
/// nobody but a global admin revokes their own grants).
#[utoipa::path(
    delete, path = "/api/v1/grants/{id}", tag = "native",
    params(("id" = String, Path, description = "Grant id")),
    responses((status = 200, description = "Revoked", body = Object))
)]
async fn grant(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    ctx.allow(&[Method::DELETE])?;
    let view = ctx.view();
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::not_found("Grant not found"))?;
    let g = state
        .store
        .grant(id)
        .await?
        .ok_or_else(|| ApiError::not_found("Grant not found"))?;
    if !view.may_handle_level(&state.config.access, &g.dataset, &g.permission) {
        // Callers who cannot manage the dataset do not learn that the grant exists.
        return Err(if view.can_manage(&g.dataset) {
            ApiError::forbidden()
        } else {
            ApiError::not_found("Grant not found")
        });
    }
    if ctx.actor().id == Some(g.user_id) && !view.is_admin() {
        return Err(ApiError::Detail(
            axum::http::StatusCode::FORBIDDEN,
            "You cannot revoke your own grants.".into(),
        ));
    }
    let mut tx = state.store.begin(ctx.actor()).await?;
    tx.revoke_grant(id, "revoked").await?;
    commit(&state, tx).await?;
    Ok(Json(json!({"status": "revoked", "id": id})).into_response())
}

async fn group_id(state: &AppState, name: &str) -> Result<i64, ApiError> {
    state
        .store
        .group_id_by_name(name)
        .await?
        .ok_or_else(|| ApiError::not_found("Group not found"))
}

/// `GET /api/v1/groups/{name}/memberships` → members with admin flag and
/// expiry, expired ones marked. `POST {"email", "admin"?, "expires_at"?}` → 201.
/// Group admins of that group (making someone a group admin: global admins).
#[utoipa::path(
    method(get, post), path = "/api/v1/groups/{name}/memberships", tag = "native",
    params(("name" = String, Path, description = "Group name")), request_body(content = Object, description = "JSON object", content_type = "application/json"),
    responses((status = 200, description = "GET: members with admin flag and expiry", body = Vec<Object>),
        (status = 201, description = "POST: added", body = Object))
)]
async fn memberships(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(name): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    ctx.allow(&[Method::GET, Method::POST])?;
    let view = ctx.view();
    let gid = group_id(&state, &name).await?;
    require(view.is_group_admin(&name))?;
    if ctx.method == Method::GET {
        let now = state.clock.now();
        let out: Vec<Value> = state
            .store
            .group_memberships(gid)
            .await?
            .into_iter()
            .map(|m| {
                json!({
                    "id": m.id, "user_id": m.user_id, "email": m.email, "admin": m.is_admin,
                    "expires_at": rfc(m.expires_at),
                    "expired": dsg_store::grants::expired(m.expires_at, now),
                })
            })
            .collect();
        return Ok(Json(out).into_response());
    }
    let body = object(&headers, &bytes)?;
    let email = req_str(&body, "email")?;
    let admin = opt_bool(&body, "admin")?.unwrap_or(false);
    if admin {
        require(view.is_admin())?;
    }
    let expires_at = instant(&body, "expires_at")?;
    if expires_at.is_some_and(|e| e <= state.clock.now()) {
        return Err(ApiError::bad_request("expires_at must be in the future"));
    }
    let mut tx = state.store.begin(ctx.actor()).await?;
    let user_id = tx.require_user(email).await?;
    let id = tx.add_member(user_id, gid, admin, expires_at).await?;
    commit(&state, tx).await?;
    Ok(created(json!({
        "id": id, "user_id": user_id, "email": email, "group": name, "admin": admin,
        "expires_at": rfc(expires_at), "expired": false,
    })))
}

/// `DELETE /api/v1/groups/{name}/memberships/{user_id}` → removes the member
/// (group admins of that group). The member's grants are left alone.
#[utoipa::path(
    delete, path = "/api/v1/groups/{name}/memberships/{user_id}", tag = "native",
    params(("name" = String, Path, description = "Group name"), ("user_id" = String, Path, description = "User id")),
    responses((status = 200, description = "Removed", body = Object))
)]
async fn membership(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((name, user_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    ctx.allow(&[Method::DELETE])?;
    let gid = group_id(&state, &name).await?;
    require(ctx.view().is_group_admin(&name))?;
    let user_id: i64 = user_id
        .parse()
        .map_err(|_| ApiError::not_found("Member not found"))?;
    let mut tx = state.store.begin(ctx.actor()).await?;
    if !tx.remove_member(user_id, gid).await? {
        return Err(ApiError::not_found("Member not found"));
    }
    commit(&state, tx).await?;
    Ok(Json(json!({"status": "removed", "user_id": user_id, "group": name})).into_response())
}
