//! The native API's grants and group memberships, with expiry: HTTP in,
//! [`crate::service::grants`] and [`crate::service::memberships`] calls,
//! JSON out. The rules (spec §4.9 with its bugs fixed) are the use cases'.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Json, Router};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Ctx, created, rfc};
use crate::error::ApiError;
use crate::http::body::{Instant, Required, non_empty, parse};
use crate::service::grants::{self, GrantRequest, VersionRef, Within};
use crate::service::memberships::{self, NewMember};
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

/// `POST /api/v1/datasets/{name}/grants`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(crate) struct NewGrantRequest {
    /// The grantee's e-mail (an existing user).
    email: Required,
    /// `view`, `edit`, `manage` or `admin`.
    permission: Required,
    /// Version scope (name); absent or empty for the whole dataset.
    version: Option<String>,
    /// Group scope (name): the grantee becomes a member.
    group: Option<String>,
    /// Expiry (RFC 3339 in the future); absent for none.
    expires_at: Option<Instant>,
    /// Service scope (name): the grant counts only for requests naming it
    /// (`/api/dsg/v1/authorize`, `user/cache?service=`); absent for every service.
    service: Option<String>,
    /// Bucket names of the dataset: the grant counts for `/gcs_token` only
    /// on these; absent or empty for all.
    buckets: Option<Vec<String>>,
}

/// `POST /api/v1/groups/{name}/memberships`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(crate) struct NewMembershipRequest {
    /// The member's e-mail (an existing user).
    email: Required,
    /// Make them a group admin (global admins only).
    admin: Option<bool>,
    /// Expiry (RFC 3339 in the future); absent for none.
    expires_at: Option<Instant>,
}
/// `GET /api/v1/datasets/{name}/grants` → every user grant on the dataset,
/// expired ones marked (managers). `POST` → 201 with the new grant.
#[utoipa::path(
    method(get, post), path = "/api/v1/datasets/{name}/grants", tag = "native",
    params(("name" = String, Path, description = "Dataset name")),
    request_body(content = NewGrantRequest, content_type = "application/json"),
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
    let d = crate::service::datasets::find(&state, &name).await?;
    if ctx.method == Method::GET {
        let now = state.clock.now();
        let out: Vec<Value> = grants::list(&state, &ctx.caller, &d)
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
    let body: NewGrantRequest = parse(&headers, &bytes)?;
    let version = non_empty(body.version);
    let group = non_empty(body.group);
    let service = non_empty(body.service);
    let buckets = body.buckets.unwrap_or_default();
    let expires_at = body.expires_at.map(|i| i.0);
    let (id, user_id) = grants::grant(
        &state,
        &ctx.caller,
        GrantRequest {
            dataset: &d,
            email: &body.email,
            permission: &body.permission,
            version: version.as_deref().map(VersionRef::Name),
            group: group.as_deref(),
            expires_at,
            service: service.as_deref(),
            buckets: &buckets,
        },
    )
    .await?;
    Ok(created(json!({
        "id": id, "user_id": user_id, "email": &*body.email, "dataset": d.name,
        "permission": &*body.permission, "version": version, "group": group,
        "expires_at": rfc(expires_at), "expired": false, "service": service,
        "buckets": buckets,
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
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::not_found("Grant not found"))?;
    grants::revoke(&state, &ctx.caller, id, Within::Anywhere, "revoked").await?;
    Ok(Json(json!({"status": "revoked", "id": id})).into_response())
}

/// `GET /api/v1/groups/{name}/memberships` → members with admin flag and
/// expiry, expired ones marked. `POST` → 201.
/// Group admins of that group (making someone a group admin: global admins).
#[utoipa::path(
    method(get, post), path = "/api/v1/groups/{name}/memberships", tag = "native",
    params(("name" = String, Path, description = "Group name")),
    request_body(content = NewMembershipRequest, content_type = "application/json"),
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
    if ctx.method == Method::GET {
        let now = state.clock.now();
        let out: Vec<Value> = memberships::list(&state, &ctx.caller, &name)
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
    // The group and the caller's power over it first, then the body.
    memberships::administered(&state, &ctx.caller, &name).await?;
    let body: NewMembershipRequest = parse(&headers, &bytes)?;
    let admin = body.admin.unwrap_or(false);
    let expires_at = body.expires_at.map(|i| i.0);
    let added = memberships::add(
        &state,
        &ctx.caller,
        NewMember {
            group: &name,
            email: &body.email,
            admin,
            expires_at,
        },
    )
    .await?;
    Ok(created(json!({
        "id": added.id, "user_id": added.user_id, "email": &*body.email, "group": name,
        "admin": admin, "expires_at": rfc(expires_at), "expired": false,
    })))
}

/// `DELETE /api/v1/groups/{name}/memberships/{user_id}` → removes the member
/// (group admins of that group), and the member's grants scoped to the group.
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
    memberships::administered(&state, &ctx.caller, &name).await?;
    let user_id: i64 = user_id
        .parse()
        .map_err(|_| ApiError::not_found("Member not found"))?;
    memberships::remove(&state, &ctx.caller, &name, user_id).await?;
    Ok(Json(json!({"status": "removed", "user_id": user_id, "group": name})).into_response())
}
