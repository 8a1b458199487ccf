//! Registered web clients (global admins only, dsg-native-v1 §9.4): the
//! sites at an exact origin that may receive delegated keys through the
//! sign-in popup. The rules and writes are [`crate::service::clients`]'s.
//!
//! `GET|POST /api/v1/registered-clients`, `PATCH /api/v1/registered-clients/{id}`
//! (`{"enabled": false}` stops issuance; live keys keep working).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Json, Router};
use bytes::Bytes;
use dsg_store::clients::RegisteredClient;
use serde_json::{Value, json};

use super::{Ctx, created};
use crate::error::ApiError;
use crate::http::body::{self, Required};
use crate::service::clients::{self, ClientInput};
use crate::state::AppState;

pub(super) fn routes(r: Router<AppState>) -> Router<AppState> {
    r.route("/api/v1/registered-clients", any(registered_clients))
        .route("/api/v1/registered-clients/{id}", any(registered_client))
}

fn shown(c: &RegisteredClient) -> Value {
    json!({"id": c.id, "origin": c.origin, "name": c.name, "owner": c.owner,
           "enabled": c.enabled, "allowed_services": c.allowed_services,
           "created": c.created.to_rfc3339()})
}

/// The body of `POST /api/v1/registered-clients`.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
pub struct NewClientRequest {
    /// Exact origin, e.g. `https://coda.example.org` (no path, no trailing slash).
    #[schema(value_type = String)]
    pub origin: Required,
    /// Name shown on the consent page.
    #[schema(value_type = String)]
    pub name: Required,
    /// Who runs it (free text).
    pub owner: Option<String>,
    /// Reserved: stored, not enforced.
    pub allowed_services: Option<Vec<String>>,
}

#[utoipa::path(
    method(get, post), path = "/api/v1/registered-clients", tag = "native",
    request_body(content = NewClientRequest, content_type = "application/json"),
    responses((status = 200, description = "GET: every registered client", body = Vec<Object>),
        (status = 201, description = "POST: registered", body = Object),
        (status = 403, description = "Not a global admin (or a delegated key)", body = crate::error::schema::Detail),
        (status = 409, description = "A client is already registered at that origin", body = crate::error::schema::ErrorMessage))
)]
async fn registered_clients(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    ctx.human()?;
    ctx.allow(&[Method::GET, Method::POST])?;
    if ctx.method == Method::POST {
        let body: NewClientRequest = body::parse(&headers, &bytes)?;
        let input = ClientInput {
            origin: body.origin.0,
            name: body.name.0,
            owner: body.owner.unwrap_or_default(),
            allowed_services: body.allowed_services.unwrap_or_default(),
        };
        let c = clients::register(&state, &ctx.caller, &input).await?;
        return Ok(created(shown(&c)));
    }
    let all: Vec<Value> = clients::list(&state, &ctx.caller)
        .await?
        .iter()
        .map(shown)
        .collect();
    Ok(Json(all).into_response())
}

/// The body of `PATCH /api/v1/registered-clients/{id}`.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
pub struct ClientUpdateRequest {
    /// `false` stops issuing keys (and remembered delivery); `true` resumes.
    pub enabled: bool,
}

#[utoipa::path(
    patch, path = "/api/v1/registered-clients/{id}", tag = "native",
    params(("id" = i64, Path, description = "Client id")),
    request_body(content = ClientUpdateRequest, content_type = "application/json"),
    responses((status = 200, description = "The client", body = Object),
        (status = 404, description = "No such client", body = crate::error::schema::ErrorMessage))
)]
async fn registered_client(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    ctx.human()?;
    ctx.allow(&[Method::PATCH])?;
    let body: ClientUpdateRequest = body::parse(&headers, &bytes)?;
    let origin = clients::list(&state, &ctx.caller)
        .await?
        .into_iter()
        .find(|c| id.parse() == Ok(c.id))
        .map(|c| c.origin)
        .ok_or_else(|| ApiError::not_found("Client not found"))?;
    let c = clients::set_enabled(&state, &ctx.caller, &origin, body.enabled).await?;
    Ok(Json(shown(&c)).into_response())
}
