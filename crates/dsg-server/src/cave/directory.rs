//! Users and groups as CAVE services look them up.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use dsg_store::tokens::PrincipalRef;
use serde_json::json;

use crate::config::Directory;
use crate::error::ApiError;
use crate::http::credentials::query_param;
use crate::http::extract::ApiRequest;
use crate::state::AppState;

/// Parses `?id=1,2,3` (whitespace trimmed, empty items skipped).
fn parse_ids(query: Option<&str>) -> Result<Vec<i64>, ApiError> {
    let Some(raw) = query.and_then(|q| query_param(q, "id")) else {
        return Ok(Vec::new());
    };
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<i64>()
                .map_err(|_| ApiError::bad_request("Invalid user IDs"))
        })
        .collect()
}

/// A path id that is not all digits does not match the route: 404.
fn path_id(raw: &str) -> Result<i64, ApiError> {
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::Detail(
            axum::http::StatusCode::NOT_FOUND,
            crate::error::msg::NOT_FOUND.into(),
        ));
    }
    raw.parse().map_err(|_| {
        ApiError::Detail(
            axum::http::StatusCode::NOT_FOUND,
            crate::error::msg::NOT_FOUND.into(),
        )
    })
}

/// May this principal read other users' e-mails and groups?
fn directory_allowed(state: &AppState, req: &ApiRequest) -> Result<(), ApiError> {
    let a = req.principal()?;
    let privileged =
        a.document.info.admin || matches!(a.token.principal, PrincipalRef::ServiceAccount(_));
    match state.config.privacy.user_directory {
        Directory::Authenticated => Ok(()),
        Directory::Privileged if privileged => Ok(()),
        Directory::Privileged => Err(ApiError::forbidden()),
    }
}

/// `GET /api/v1/username?id=…` → `[{"id","name"}]` in id order. Any principal.
#[utoipa::path(
    get, path = "/api/v1/username", tag = "cave",
    params(("id" = Option<String>, Query, description = "Comma-separated user ids")),
    responses((status = 200, description = "`[{\"id\",\"name\"}]` in id order", body = Vec<Object>))
)]
pub async fn list_usernames(
    State(state): State<AppState>,
    req: ApiRequest,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    req.principal()?;
    req.allow(&[Method::GET])?;
    let ids = parse_ids(q.as_deref())?;
    let users = state.store.users_by_ids(&ids).await?;
    let out: Vec<_> = users
        .iter()
        .map(|u| json!({"id": u.id, "name": u.name}))
        .collect();
    Ok(Json(out).into_response())
}

/// `GET /api/v1/user?id=…` → user summaries in id order. Per `privacy.user_directory`.
#[utoipa::path(
    get, path = "/api/v1/user", tag = "cave",
    params(("id" = Option<String>, Query, description = "Comma-separated user ids")),
    responses((status = 200, description = "User summaries in id order", body = Vec<Object>))
)]
pub async fn list_users(
    State(state): State<AppState>,
    req: ApiRequest,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    directory_allowed(&state, &req)?;
    req.allow(&[Method::GET])?;
    let ids = parse_ids(q.as_deref())?;
    Ok(Json(state.store.users_by_ids(&ids).await?).into_response())
}

/// `GET /api/v1/user/{id}` → the user's summary with group names. Per `privacy.user_directory`.
#[utoipa::path(
    get, path = "/api/v1/user/{id}", tag = "cave",
    params(("id" = String, Path, description = "User id")),
    responses((status = 200, description = "The user's summary with group names", body = Object))
)]
pub async fn get_user(
    State(state): State<AppState>,
    req: ApiRequest,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    directory_allowed(&state, &req)?;
    req.allow(&[Method::GET])?;
    let id = path_id(&id)?;
    let Some(user) = state.store.users_by_ids(&[id]).await?.into_iter().next() else {
        return Err(ApiError::not_found("User not found"));
    };
    let groups = state
        .store
        .user_group_names(id, state.clock.now().0)
        .await?;
    let mut v = serde_json::to_value(user).map_err(|e| ApiError::Internal(e.to_string()))?;
    if let Some(o) = v.as_object_mut() {
        o.insert("groups".into(), json!(groups));
    }
    Ok(Json(v).into_response())
}

/// `GET /api/v1/user/{id}/permissions` → that user's full permission document.
/// The user themself, global admins and service accounts only (the original
/// showed anyone's to anyone).
#[utoipa::path(
    get, path = "/api/v1/user/{id}/permissions", tag = "cave",
    params(("id" = String, Path, description = "User id")),
    responses((status = 200, description = "That user's permission document", body = dsg_core::permissions::CacheDocument))
)]
pub async fn get_user_permissions(
    State(state): State<AppState>,
    req: ApiRequest,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let a = req.principal()?;
    let id = path_id(&id)?;
    let allowed = a.document.info.admin
        || matches!(a.token.principal, PrincipalRef::ServiceAccount(_))
        || a.token.principal == PrincipalRef::User(id);
    if !allowed {
        return Err(ApiError::forbidden());
    }
    req.allow(&[Method::GET])?;
    match state
        .cache
        .document_for(PrincipalRef::User(id), state.clock.now())
        .await?
    {
        Some(doc) => Ok((
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            doc.body.clone(),
        )
            .into_response()),
        None => Err(ApiError::not_found("User not found")),
    }
}

/// `GET /api/v1/groups/{name}/members` → member e-mails. Per `privacy.user_directory`.
#[utoipa::path(
    get, path = "/api/v1/groups/{name}/members", tag = "cave",
    params(("name" = String, Path, description = "Group name")),
    responses((status = 200, description = "Member e-mails", body = Vec<String>))
)]
pub async fn list_group_member_emails(
    State(state): State<AppState>,
    req: ApiRequest,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    directory_allowed(&state, &req)?;
    req.allow(&[Method::GET])?;
    match state
        .store
        .group_member_emails(&name, state.clock.now().0)
        .await?
    {
        Some(emails) => Ok(Json(emails).into_response()),
        None => Err(ApiError::not_found("Group not found")),
    }
}

/// `GET /api/v1/group/{id}/user` (caveclient's `get_group_users`) → members
/// as `[{"id","name","email",…}]`; `[]` for an unknown group, as caveclient expects.
#[utoipa::path(
    get, path = "/api/v1/group/{id}/user", tag = "cave",
    params(("id" = String, Path, description = "Group id")),
    responses((status = 200, description = "Members; `[]` for an unknown group", body = Vec<Object>))
)]
pub async fn list_group_users(
    State(state): State<AppState>,
    req: ApiRequest,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    directory_allowed(&state, &req)?;
    req.allow(&[Method::GET])?;
    let id = path_id(&id)?;
    let members = state
        .store
        .group_members(id, state.clock.now().0)
        .await?
        .unwrap_or_default();
    Ok(Json(members).into_response())
}
