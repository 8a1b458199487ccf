//! Token management for people (caveclient's `create_token`, `user/token`)
//! and logout.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, Method, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::http::body;
use crate::http::extract::ApiRequest;
use crate::service::authority::Caller;
use crate::service::tokens::{self, NewUserToken};
use crate::state::AppState;

/// The person asking (401 anonymous, 403 for a service account or a
/// delegated key: the original answers before looking at the method).
fn person(req: &ApiRequest) -> Result<Caller, ApiError> {
    let (_, auth) = req.human()?;
    let caller = Caller::new(auth.clone(), req.request_id.clone());
    caller.person()?;
    Ok(caller)
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
    let caller = person(&req)?;
    req.allow(&[Method::GET])?;
    let out: Vec<Value> = tokens::list(&state, &caller)
        .await?
        .into_iter()
        .map(|t| {
            json!({
                "id": t.info.id,
                "description": t.info.description,
                "created": t.info.created.to_rfc3339(),
                "last_used": t.info.last_used.map(|x| x.to_rfc3339()),
            })
        })
        .collect();
    Ok(Json(out).into_response())
}

/// The body of `POST /api/v1/create_token` (optional; an empty body is `{}`).
#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
pub struct CreateTokenRequest {
    /// At most 255 characters; default "API token".
    #[schema(max_length = 255)]
    pub description: Option<String>,
}

/// `POST /api/v1/create_token` (optional JSON `{"description": …}`) → a new
/// never-expiring token as a JSON string. Humans only.
#[utoipa::path(
    post, path = "/api/v1/create_token", tag = "cave",
    request_body(content = Option<CreateTokenRequest>, description = "Optional JSON object", content_type = "application/json"),
    responses((status = 200, description = "The new token's value", body = String),
        (status = 429, description = "Too many tokens minted by this user (`rate_limit.token_creation`); see `Retry-After`", body = crate::error::schema::Detail))
)]
pub async fn create_token(
    State(state): State<AppState>,
    req: ApiRequest,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let caller = person(&req)?;
    req.allow(&[Method::POST])?;
    let body: CreateTokenRequest = body::parse(&headers, &bytes)?;
    let input = NewUserToken {
        description: body.description,
        ..NewUserToken::default()
    };
    let minted = tokens::create(&state, &caller, input).await?;
    Ok(Json(minted.value).into_response())
}

/// `GET /api/v1/long_lived_token` → `{"token": …}`: the caller's
/// never-expiring long-lived token, the same value on every call until it is
/// rotated or revoked (spec 8.1). Humans only, never a delegated key.
#[utoipa::path(
    get, path = "/api/v1/long_lived_token", tag = "cave",
    responses((status = 200, description = "`{\"token\": …}`: the caller's long-lived token (the same on every call until rotated)", body = Object),
        (status = 403, description = "A service account or a delegated key", body = crate::error::schema::Detail),
        (status = 429, description = "Too many tokens minted by this user (`rate_limit.token_creation`); only a call that must write one counts", body = crate::error::schema::Detail))
)]
pub async fn long_lived_token(
    State(state): State<AppState>,
    req: ApiRequest,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let caller = person(&req)?;
    req.allow(&[Method::GET])?;
    // A GET that may write (the first call, or the one after a revocation):
    // another site's image or script must not trigger it.
    if crate::http::credentials::from_cookie(&headers, &state.config.auth.cookie_names)
        && crate::http::csrf::cross_site_subresource(&headers)
    {
        return Err(ApiError::Detail(
            axum::http::StatusCode::FORBIDDEN,
            crate::error::msg::CROSS_SITE.into(),
        ));
    }
    let token = tokens::long_lived(&state, &caller).await?;
    let mut r = Json(json!({ "token": token })).into_response();
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    Ok(r)
}

/// `POST /api/v1/long_lived_token/rotate` → `{"token": …}`: replaces the
/// caller's long-lived token by a new one (spec 8.2). Only the current
/// long-lived token, sent as `Authorization: Bearer`, may ask: any other
/// credential (a cookie, even one holding it; a query parameter; another
/// token) gets 403 and changes nothing. A second rotation with the same old
/// token gets 409 `{"error": "stale rotation"}` (or 401 once the first one
/// has committed).
#[utoipa::path(
    post, path = "/api/v1/long_lived_token/rotate", tag = "cave",
    responses((status = 200, description = "`{\"token\": …}`: the new long-lived token; the old one answers 401 from now on", body = Object),
        (status = 401, description = "No credential, or an unknown (e.g. already rotated) token", body = crate::error::schema::Detail),
        (status = 403, description = "Not the caller's current long-lived token as a bearer", body = crate::error::schema::Detail),
        (status = 409, description = "`{\"error\": \"stale rotation\"}`: a concurrent rotation with the same token won", body = Object),
        (status = 429, description = "Too many tokens minted by this user (`rate_limit.token_creation`)", body = crate::error::schema::Detail))
)]
pub async fn rotate_long_lived_token(
    State(state): State<AppState>,
    req: ApiRequest,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let caller = person(&req)?;
    req.allow(&[Method::POST])?;
    let bearer = bearer_only(&state, &headers, &caller);
    match tokens::rotate_long_lived(&state, &caller, bearer.as_ref()).await? {
        Ok(token) => {
            let mut r = Json(json!({ "token": token })).into_response();
            r.headers_mut().insert(
                header::CACHE_CONTROL,
                axum::http::HeaderValue::from_static("no-store"),
            );
            Ok(r)
        }
        Err(tokens::RotationRefused::NotTheLongLivedToken) => Err(ApiError::forbidden()),
        Err(tokens::RotationRefused::Stale) => Err(ApiError::Error(
            axum::http::StatusCode::CONFLICT,
            "stale rotation".into(),
        )),
    }
}

/// The hash of the caller's credential when it came only as
/// `Authorization: Bearer` (no login cookie in the request).
fn bearer_only(
    state: &AppState,
    headers: &HeaderMap,
    caller: &Caller,
) -> Option<dsg_core::token::TokenHash> {
    if crate::http::credentials::from_cookie(headers, &state.config.auth.cookie_names) {
        return None;
    }
    match crate::http::credentials::extract(headers, None, &[], &[]) {
        crate::http::credentials::Credential::Token(t)
            if dsg_core::token::TokenHash::of(&t) == caller.authenticated().hash =>
        {
            Some(caller.authenticated().hash)
        }
        _ => None,
    }
}

/// `GET /api/v1/refresh_token` → the deprecation notice. Humans only.
#[utoipa::path(
    get, path = "/api/v1/refresh_token", tag = "cave",
    responses((status = 200, description = "Deprecation notice", body = Object))
)]
pub async fn refresh_token(req: ApiRequest) -> Result<Response, ApiError> {
    person(&req)?;
    req.allow(&[Method::GET])?;
    Ok(
        Json(json!({"status": "deprecated", "message": "Use /api/v1/create_token instead"}))
            .into_response(),
    )
}

/// `GET|POST /api/v1/logout[?redirect=URL]`: revokes the login token of
/// the cookie (or of a bearer: a server-side logout), never an API or
/// long-lived token, and always clears the cookie, even a stale one. Without
/// `redirect`: `{"status":"logged out"}`; with it: 302 to the URL when it is
/// an absolute URL on this server or a `login.redirect_hosts` host, else to
/// `/` (spec 8.3).
#[utoipa::path(
    method(get, post), path = "/api/v1/logout", tag = "cave",
    security((), ("cookie" = [])),
    params(("redirect" = Option<String>, Query, description = "Where the browser goes afterwards (allowed hosts only; else `/`)")),
    responses((status = 200, description = "`{\"status\": \"logged out\"}`; the login cookie is cleared", body = Object),
        (status = 302, description = "With `redirect`: to it when allowed, else to `/`"))
)]
pub async fn logout(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Result<Response, ApiError> {
    if method != Method::GET && method != Method::POST {
        return Err(ApiError::method_not_allowed(&method));
    }
    crate::http::cookie::sign_out(&state, &headers).await?;
    let redirect = uri
        .query()
        .and_then(|q| crate::http::credentials::query_param(q, "redirect"));
    let mut r = match redirect {
        None => Json(json!({"status": "logged out"})).into_response(),
        Some(next) => {
            let target = crate::http::redirect::logout_target(&state, &headers, &next);
            let mut r = axum::http::StatusCode::FOUND.into_response();
            if let Ok(v) = axum::http::HeaderValue::from_str(&target) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            r
        }
    };
    r.headers_mut().append(
        header::SET_COOKIE,
        crate::http::cookie::clear_login_cookie(&state.config),
    );
    Ok(r)
}
