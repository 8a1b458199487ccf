//! Token management for people (caveclient's `create_token`, `user/token`)
//! and logout.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, Method, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use dsg_store::tokens::NewToken;
use dsg_store::write::Actor;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::http::body;
use crate::http::extract::ApiRequest;
use crate::state::AppState;

fn actor(req: &ApiRequest, a: &crate::cache::Authenticated, user_id: i64) -> Actor {
    Actor::user(user_id, &a.document.info.email, req.request_id.clone())
}

/// `GET /api/v1/user/token` → the caller's tokens (never their values). Humans only.
#[utoipa::path(
    get, path = "/api/v1/user/token", tag = "cave",
    responses((status = 200, description = "The caller's tokens (never their values)", body = Vec<Object>))
)]
pub async fn list_tokens(
    State(state): State<AppState>,
    req: ApiRequest,
) -> Result<Response, ApiError> {
    let (user_id, _) = req.human()?;
    req.allow(&[Method::GET])?;
    let tokens = state.store.list_user_tokens(Some(user_id)).await?;
    let out: Vec<Value> = tokens
        .into_iter()
        .map(|t| {
            json!({
                "id": t.id,
                "description": t.description,
                "created": t.created.to_rfc3339(),
                "last_used": t.last_used.map(|x| x.to_rfc3339()),
            })
        })
        .collect();
    Ok(Json(out).into_response())
}

/// Description of the tokens `long_lived_token` mints.
const LONG_LIVED_DESCRIPTION: &str = "Default long-lived API token";

/// How many `long_lived_token` tokens a user keeps: each call mints one (an
/// earlier one cannot be shown again, it is stored hashed) and revokes the
/// oldest beyond this many, so repeated calls never pile up tokens.
pub const LONG_LIVED_KEEP: usize = 5;

/// Mints a never-expiring token; with `keep`, revokes the caller's oldest
/// tokens of the same description beyond that many, in the same transaction.
async fn mint(
    state: &AppState,
    req: &ApiRequest,
    description: String,
    keep: Option<usize>,
) -> Result<String, ApiError> {
    let (user_id, a) = req.human()?;
    state.limits.token_creation(user_id).await?;
    let mut tx = state.store.begin(actor(req, a, user_id)).await?;
    let (_, token) = tx
        .create_user_token(
            user_id,
            NewToken {
                description: description.clone(),
                ..NewToken::default()
            },
        )
        .await?;
    if let Some(keep) = keep {
        tx.prune_user_tokens(user_id, &description, keep, "long_lived_token_limit")
            .await?;
    }
    let events = tx.commit().await?;
    state.committed(&events);
    Ok(token.expose().to_owned())
}

/// `POST /api/v1/create_token` (optional JSON `{"description": …}`) → a new
/// never-expiring token as a JSON string. Humans only.
#[utoipa::path(
    post, path = "/api/v1/create_token", tag = "cave",
    request_body(content = Option<Object>, description = "Optional JSON object", content_type = "application/json"),
    responses((status = 200, description = "The new token's value", body = String),
        (status = 429, description = "Too many tokens minted by this user (`rate_limit.token_creation`); see `Retry-After`", body = crate::error::schema::Detail))
)]
pub async fn create_token(
    State(state): State<AppState>,
    req: ApiRequest,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    req.human()?;
    req.allow(&[Method::POST])?;
    let description = match body::json(&headers, &bytes)? {
        Some(Value::Object(o)) => match o.get("description") {
            Some(Value::String(s)) if s.len() <= 255 => s.clone(),
            Some(Value::String(_)) => {
                return Err(ApiError::bad_request(
                    "description is longer than 255 characters",
                ));
            }
            None | Some(Value::Null) => "API token".into(),
            Some(_) => return Err(ApiError::bad_request("description must be a string")),
        },
        None => "API token".into(),
        Some(_) => return Err(ApiError::bad_request("expected a JSON object")),
    };
    Ok(Json(mint(&state, &req, description, None).await?).into_response())
}

/// `GET /api/v1/long_lived_token` → `{"token": …}`: a new never-expiring token.
/// Tokens are stored hashed, so an earlier one cannot be shown again; each
/// call mints one and keeps only the [`LONG_LIVED_KEEP`] newest. Humans only.
#[utoipa::path(
    get, path = "/api/v1/long_lived_token", tag = "cave",
    responses((status = 200, description = "`{\"token\": …}`: a new never-expiring token", body = Object),
        (status = 429, description = "Too many tokens minted by this user (`rate_limit.token_creation`); see `Retry-After`", body = crate::error::schema::Detail))
)]
pub async fn long_lived_token(
    State(state): State<AppState>,
    req: ApiRequest,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    req.human()?;
    req.allow(&[Method::GET])?;
    // A GET that mints (the original's API): another site's image or script
    // must not make it mint tokens and retire the caller's oldest ones.
    if crate::http::credentials::from_cookie(&headers, &state.config.auth.cookie_names)
        && crate::http::csrf::cross_site_subresource(&headers)
    {
        return Err(ApiError::Detail(
            axum::http::StatusCode::FORBIDDEN,
            crate::error::msg::CROSS_SITE.into(),
        ));
    }
    let token = mint(
        &state,
        &req,
        LONG_LIVED_DESCRIPTION.into(),
        Some(LONG_LIVED_KEEP),
    )
    .await?;
    Ok(Json(json!({ "token": token })).into_response())
}

/// `GET /api/v1/refresh_token` → the deprecation notice. Humans only.
#[utoipa::path(
    get, path = "/api/v1/refresh_token", tag = "cave",
    responses((status = 200, description = "Deprecation notice", body = Object))
)]
pub async fn refresh_token(req: ApiRequest) -> Result<Response, ApiError> {
    req.human()?;
    req.allow(&[Method::GET])?;
    Ok(
        Json(json!({"status": "deprecated", "message": "Use /api/v1/create_token instead"}))
            .into_response(),
    )
}

/// `GET|POST /api/v1/logout` → `{"status":"logged out"}`: revokes the login
/// cookie's token (when it is a live user token) and always clears the
/// cookie, even when it is stale. Bearer-only callers keep their tokens.
#[utoipa::path(
    method(get, post), path = "/api/v1/logout", tag = "cave",
    security((), ("cookie" = [])),
    responses((status = 200, description = "`{\"status\": \"logged out\"}`; the login cookie is cleared", body = Object))
)]
pub async fn logout(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if method != Method::GET && method != Method::POST {
        return Err(ApiError::method_not_allowed(&method));
    }
    crate::http::cookie::sign_out(&state, &headers).await?;
    let mut r = Json(json!({"status": "logged out"})).into_response();
    r.headers_mut().append(
        header::SET_COOKIE,
        crate::http::cookie::clear_login_cookie(&state.config),
    );
    Ok(r)
}
