//! Service tables and public roots, as CAVE services ask about them (the
//! reads are [`crate::service::tables`]'s).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::Value;

use crate::error::ApiError;
use crate::http::body;
use crate::http::extract::ApiRequest;
use crate::service::tables;
use crate::state::AppState;

/// `GET /api/v1/service/{namespace}/table/{table}/dataset` → the dataset name
/// as a JSON string. Any principal.
#[utoipa::path(
    get, path = "/api/v1/service/{namespace}/table/{table}/dataset", tag = "cave",
    params(("namespace" = String, Path, description = "Service namespace"), ("table" = String, Path, description = "Table name")),
    responses((status = 200, description = "The dataset's name", body = String))
)]
pub async fn get_table_dataset(
    State(state): State<AppState>,
    req: ApiRequest,
    Path((namespace, table)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    req.principal()?;
    req.allow(&[Method::GET])?;
    let name = tables::dataset_of_table(&state, &namespace, &table).await?;
    Ok(Json(name).into_response())
}

/// `GET /api/v1/table/{table}/has_public` → `true`/`false`. Anonymous allowed.
#[utoipa::path(
    get, path = "/api/v1/table/{table}/has_public", tag = "cave",
    params(("table" = String, Path, description = "Table name")),
    security((), ("bearer" = []), ("cookie" = []), ("query" = [])),
    responses((status = 200, description = "Whether the table has public roots", body = bool))
)]
pub async fn get_has_public(
    State(state): State<AppState>,
    req: ApiRequest,
    Path(table): Path<String>,
) -> Result<Response, ApiError> {
    req.allow(&[Method::GET])?;
    Ok(Json(tables::has_public(&state, &table).await?).into_response())
}

/// `GET /api/v1/table/{table}/root/{root}/is_public` → `true`/`false`. Anonymous allowed.
#[utoipa::path(
    get, path = "/api/v1/table/{table}/root/{root}/is_public", tag = "cave",
    params(("table" = String, Path, description = "Table name"), ("root" = String, Path, description = "Root id")),
    security((), ("bearer" = []), ("cookie" = []), ("query" = [])),
    responses((status = 200, description = "Whether the root is public", body = bool))
)]
pub async fn get_root_is_public(
    State(state): State<AppState>,
    req: ApiRequest,
    Path((table, root)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    if root.is_empty() || !root.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::Detail(
            axum::http::StatusCode::NOT_FOUND,
            crate::error::msg::NOT_FOUND.into(),
        ));
    }
    req.allow(&[Method::GET])?;
    let Ok(root) = root.parse::<i64>() else {
        return Ok(Json(false).into_response());
    };
    let v = tables::roots_public(&state, &table, &[Some(root)]).await?;
    Ok(Json(v.first().copied().unwrap_or(false)).into_response())
}

/// `POST /api/v1/table/{table}/root_all_public` with a JSON array of root ids
/// → one boolean per element, in order. Anything but an integer (strings
/// included, as in the original) answers `false`.
/// Anonymous allowed.
#[utoipa::path(
    post, path = "/api/v1/table/{table}/root_all_public", tag = "cave",
    params(("table" = String, Path, description = "Table name")),
    request_body(content = Vec<serde_json::Value>, description = "Root ids", content_type = "application/json"),
    security((), ("bearer" = []), ("cookie" = []), ("query" = [])),
    responses((status = 200, description = "One boolean per root id, in order", body = Vec<bool>))
)]
pub async fn post_roots_all_public(
    State(state): State<AppState>,
    req: ApiRequest,
    Path(table): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    req.allow(&[Method::POST])?;
    let Some(Value::Array(items)) = body::json(&headers, &bytes)? else {
        return Err(ApiError::bad_request("Expected JSON array of root IDs"));
    };
    let parsed: Vec<Option<i64>> = items
        .iter()
        .map(|v| match v {
            Value::Number(n) => n.as_i64(),
            _ => None,
        })
        .collect();
    Ok(Json(tables::roots_public(&state, &table, &parsed).await?).into_response())
}
