//! OpenID Connect clients of DSG as a provider (global admins only,
//! docs/oidc-provider.md). The rules and writes are
//! [`crate::service::oidc::clients`]'s.
//!
//! `GET|POST /api/v1/oidc-clients`, `PATCH|DELETE /api/v1/oidc-clients/{client_id}`
//! (`{"enabled": false}`), `POST /api/v1/oidc-clients/{client_id}/secret`
//! (a new secret, shown once).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Json, Router};
use bytes::Bytes;
use dsg_store::oidc::OidcClient;
use serde_json::{Value, json};

use super::{Ctx, created};
use crate::error::ApiError;
use crate::http::body::{self, Required};
use crate::service::oidc::clients::{self, Change, ClientInput};
use crate::state::AppState;

pub(super) fn routes(r: Router<AppState>) -> Router<AppState> {
    r.route("/api/v1/oidc-clients", any(oidc_clients))
        .route("/api/v1/oidc-clients/{client_id}", any(oidc_client))
        .route(
            "/api/v1/oidc-clients/{client_id}/secret",
            any(oidc_client_secret),
        )
}

fn shown(c: &OidcClient) -> Value {
    json!({"client_id": c.client_id, "name": c.name, "public": c.public,
           "redirect_uris": c.redirect_uris, "post_logout_redirect_uris": c.post_logout_redirect_uris,
           "scopes": c.scopes, "datasets": c.datasets, "enabled": c.enabled,
           "created": c.created.to_rfc3339()})
}

/// The body of `POST /api/v1/oidc-clients`.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOidcClientRequest {
    /// Display name.
    #[schema(value_type = String)]
    pub name: Required,
    /// Exact redirect URIs (at least one).
    pub redirect_uris: Vec<String>,
    /// Exact URIs end-session may return to.
    pub post_logout_redirect_uris: Option<Vec<String>>,
    /// A public client (no secret; PKCE S256 required).
    pub public: Option<bool>,
    /// Allowed scopes (default: openid, email, profile, groups, datasets).
    pub scopes: Option<Vec<String>>,
    /// Datasets the client serves (its `datasets` claim names only these).
    pub datasets: Option<Vec<String>>,
    /// A chosen client_id (default: generated).
    pub client_id: Option<String>,
}

#[utoipa::path(
    method(get, post), path = "/api/v1/oidc-clients", tag = "native",
    request_body(content = NewOidcClientRequest, content_type = "application/json"),
    responses((status = 200, description = "GET: every client (never a secret)", body = Vec<Object>),
        (status = 201, description = "POST: registered; `client_secret` shown once (confidential clients)", body = Object),
        (status = 403, description = "Not a global admin", body = crate::error::schema::Detail),
        (status = 409, description = "The client_id is taken", body = crate::error::schema::ErrorMessage))
)]
async fn oidc_clients(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    ctx.human()?;
    ctx.allow(&[Method::GET, Method::POST])?;
    if ctx.method == Method::POST {
        let b: NewOidcClientRequest = body::parse(&headers, &bytes)?;
        let input = ClientInput {
            name: b.name.0,
            redirect_uris: b.redirect_uris,
            post_logout_redirect_uris: b.post_logout_redirect_uris.unwrap_or_default(),
            public: b.public.unwrap_or(false),
            scopes: b.scopes.unwrap_or_default(),
            datasets: b.datasets.unwrap_or_default(),
            client_id: b.client_id.unwrap_or_default(),
        };
        let r = clients::register(&state, &ctx.caller, &input).await?;
        let mut out = shown(&r.client);
        if let Some(s) = r.secret {
            out["client_secret"] = s.into();
        }
        return Ok(created(out));
    }
    let all: Vec<Value> = clients::list(&state, &ctx.caller)
        .await?
        .iter()
        .map(shown)
        .collect();
    Ok(Json(all).into_response())
}

/// The body of `PATCH /api/v1/oidc-clients/{client_id}`.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
pub struct OidcClientUpdateRequest {
    /// `false` refuses the client everywhere (its refresh tokens stop).
    pub enabled: bool,
}

#[utoipa::path(
    method(patch, delete), path = "/api/v1/oidc-clients/{client_id}", tag = "native",
    params(("client_id" = String, Path, description = "The client_id")),
    request_body(content = OidcClientUpdateRequest, content_type = "application/json"),
    responses((status = 200, description = "Changed (PATCH) or deleted (DELETE)", body = Object),
        (status = 404, description = "No such client", body = crate::error::schema::ErrorMessage))
)]
async fn oidc_client(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(client_id): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    ctx.human()?;
    ctx.allow(&[Method::PATCH, Method::DELETE])?;
    let change = if ctx.method == Method::DELETE {
        Change::Delete
    } else {
        let b: OidcClientUpdateRequest = body::parse(&headers, &bytes)?;
        if b.enabled {
            Change::Enable
        } else {
            Change::Disable
        }
    };
    clients::change(&state, &ctx.caller, &client_id, change).await?;
    Ok(Json(json!({"client_id": client_id, "status": "ok"})).into_response())
}

#[utoipa::path(
    post, path = "/api/v1/oidc-clients/{client_id}/secret", tag = "native",
    params(("client_id" = String, Path, description = "The client_id")),
    responses((status = 200, description = "`{\"client_secret\": …}`, shown once; the old secret and the client's refresh tokens stop", body = Object),
        (status = 404, description = "No such confidential client", body = crate::error::schema::ErrorMessage))
)]
async fn oidc_client_secret(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(client_id): Path<String>,
) -> Result<Response, ApiError> {
    ctx.human()?;
    ctx.allow(&[Method::POST])?;
    let secret = clients::change(&state, &ctx.caller, &client_id, Change::RotateSecret).await?;
    Ok(Json(json!({"client_id": client_id, "client_secret": secret})).into_response())
}
