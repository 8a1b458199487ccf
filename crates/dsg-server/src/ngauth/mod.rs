//! Neuroglancer's ngauth protocol at the host root: `POST /token` (login
//! cookie → short-lived user token), `POST /gcs_token` (user token → a
//! Google access token that can only read one bucket), the `/login?origin=`
//! popup that posts the user token to the opener, and the small landing
//! pages (`/`, `/success`, `POST /activate`).
//!
//! Contract (see docs/ngauth.md): answers Neuroglancer must be able to read
//! carry `Access-Control-Allow-Origin: <exact origin>` and `Vary: Origin`;
//! `/token` adds `Access-Control-Allow-Credentials: true`. Errors are the
//! original's `{"error": …}` bodies with a status Neuroglancer acts on, never
//! a 500. Authorization for a bucket comes from the database on every call.

// Handlers answer early with a ready `Response` as the error value; boxing
// it would only add an allocation on every refusal.
#![allow(clippy::result_large_err)]

mod delegated;
pub mod pages;
mod popup;
pub mod token;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use bytes::Bytes;
use dsg_store::tokens::PrincipalRef;

use crate::config::origins::{self as origin, AllowedOrigins};
use crate::error::ApiError;
use crate::gcs::GcsError;
use crate::http::forwarded::ClientIp;
use crate::service::buckets;
use crate::state::AppState;
use token::Claims;

/// The ngauth and landing routes (merged into the main router).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/token", any(token_endpoint))
        .route("/gcs_token", any(gcs_token_endpoint))
        .route("/login", any(pages::login))
        .route("/", any(pages::index))
        .route("/success", any(pages::success))
        .route("/activate", any(pages::activate))
}

/// The request's `Origin`, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestOrigin {
    /// No `Origin` header (same-origin navigation, tools).
    Absent,
    /// Present and allowed.
    Allowed(String),
    /// Well-formed but not on the allow-list.
    Disallowed(String),
    /// Not `scheme://host[:port]`.
    Malformed,
}

impl RequestOrigin {
    /// Classifies the `Origin` header.
    pub fn of(headers: &HeaderMap, origins: &AllowedOrigins) -> Self {
        let Some(v) = headers.get(header::ORIGIN) else {
            return Self::Absent;
        };
        let Ok(s) = v.to_str() else {
            return Self::Malformed;
        };
        if origin::parse(s).is_err() {
            return Self::Malformed;
        }
        if origins.allows(s) {
            Self::Allowed(s.to_owned())
        } else {
            Self::Disallowed(s.to_owned())
        }
    }

    /// The origin to echo in `Access-Control-Allow-Origin`, if any.
    fn echo(&self) -> Option<&str> {
        match self {
            Self::Allowed(o) | Self::Disallowed(o) => Some(o),
            Self::Absent | Self::Malformed => None,
        }
    }
}

/// Adds the CORS and caching headers every ngauth answer carries.
fn decorate(response: &mut Response, origin: &RequestOrigin, credentials: bool, preflight: bool) {
    let h = response.headers_mut();
    h.insert(header::VARY, HeaderValue::from_static("Origin"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        HeaderName::from_static("x-frame-options"),
        HeaderValue::from_static("deny"),
    );
    let Some(o) = origin.echo().and_then(|o| HeaderValue::from_str(o).ok()) else {
        return;
    };
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o);
    if credentials {
        h.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
    }
    if preflight {
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("POST, OPTIONS"),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("Content-Type"),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("86400"),
        );
    }
}

fn error(status: StatusCode, message: &str) -> Response {
    ApiError::Error(status, message.into()).into_response()
}

/// The origin gate shared by `/token` and `/gcs_token`: 400 for a malformed
/// `Origin`, 403 for one not on the allow-list.
fn origin_gate(origin: &RequestOrigin) -> Result<(), Response> {
    match origin {
        RequestOrigin::Malformed => Err(error(StatusCode::BAD_REQUEST, "Invalid Origin")),
        RequestOrigin::Disallowed(_) => Err(error(StatusCode::FORBIDDEN, "Origin not allowed")),
        RequestOrigin::Absent | RequestOrigin::Allowed(_) => Ok(()),
    }
}

fn preflight_or_method(method: &Method) -> Option<Response> {
    if method == Method::OPTIONS {
        Some(StatusCode::NO_CONTENT.into_response())
    } else if method != Method::POST {
        Some(ApiError::method_not_allowed(method).into_response())
    } else {
        None
    }
}

/// The OpenAPI description of `/token` and `/gcs_token`.
pub(crate) fn openapi() -> utoipa::openapi::OpenApi {
    #[derive(utoipa::OpenApi)]
    #[openapi(paths(token_endpoint, gcs_token_endpoint))]
    struct Doc;
    <Doc as utoipa::OpenApi>::openapi()
}

/// `POST /token` (and its `OPTIONS` preflight).
#[utoipa::path(
    method(post, options), path = "/token", tag = "ngauth",
    security((), ("cookie" = [])),
    responses((status = 200, description = "A user token as plain text", body = String, content_type = "text/plain"),
        (status = 204, description = "OPTIONS preflight"))
)]
async fn token_endpoint(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    client: Option<ClientIp>,
) -> Response {
    let origin = RequestOrigin::of(&headers, &state.ngauth_origins);
    let preflight = method == Method::OPTIONS;
    let mut response = match origin_gate(&origin) {
        Err(r) => r,
        Ok(()) => match preflight_or_method(&method) {
            Some(r) => r,
            None => match issue_user_token(&state, &headers, client).await {
                Ok(token) => {
                    let mut r = token.into_response();
                    r.headers_mut().insert(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("text/plain; charset=utf-8"),
                    );
                    r
                }
                Err(r) => r,
            },
        },
    };
    decorate(&mut response, &origin, true, preflight);
    response
}

/// A user logged in through the `dsg_token` cookie: key and user checked
/// (expired keys, disabled users and service accounts are refused).
#[derive(Debug, Clone)]
pub struct CookieLogin {
    /// User id.
    pub user_id: i64,
    /// E-mail.
    pub email: String,
    /// Login key id.
    pub key_id: i64,
    /// Login key expiry.
    pub key_expires: Option<dsg_core::Timestamp>,
    /// The authentication itself (the login key's permission document).
    pub auth: crate::cache::Authenticated,
}

/// Resolves the login cookie; `Ok(None)` when absent or not valid (a refused
/// value counts against `client`'s failed-authentication limit).
///
/// # Errors
/// 429 over that limit; a database failure (answered as 503 by callers, never 500).
pub async fn cookie_login(
    state: &AppState,
    headers: &HeaderMap,
    client: Option<ClientIp>,
) -> Result<Option<CookieLogin>, ApiError> {
    let value = state
        .config
        .auth
        .cookie_names
        .iter()
        .find_map(|name| crate::http::credentials::cookie(headers, name));
    let Some(value) = value else {
        return Ok(None);
    };
    if dsg_core::token::presented(&value).is_none() {
        return Ok(None);
    }
    let auth = match state.authenticate_token(&value, None, client).await {
        Ok(a) => a,
        Err(e) if e.status() == StatusCode::UNAUTHORIZED => return Ok(None),
        Err(e) => return Err(e),
    };
    let PrincipalRef::User(user_id) = auth.token.principal else {
        return Ok(None);
    };
    // A delegated key is not a login: it cannot obtain another grant (spec 9.1).
    if auth.token.scope.delegated {
        return Ok(None);
    }
    Ok(Some(CookieLogin {
        user_id,
        email: auth.document.info.email.clone(),
        key_id: auth.token.token_id,
        key_expires: auth.token.expires_at,
        auth,
    }))
}

/// A [`cookie_login`] failure as a response: 429 as it is, else 503 (logged).
pub(crate) fn login_failure(e: ApiError, what: &str) -> Response {
    if e.status() == StatusCode::TOO_MANY_REQUESTS {
        return e.into_response();
    }
    tracing::error!(error = ?e, "{what}: database failure");
    unavailable()
}

/// Mints the one-hour user token for a cookie login.
pub fn mint(state: &AppState, login: &CookieLogin) -> String {
    let now = state.clock.now().as_secs();
    let mut expires = now + token::MAX_LIFETIME_SECS;
    if let Some(k) = login.key_expires {
        expires = expires.min(k.as_secs());
    }
    token::sign(
        &state.ngauth_key,
        &Claims {
            email: login.email.clone(),
            expires,
            key_id: Some(login.key_id),
        },
    )
}

fn unavailable() -> Response {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "Service temporarily unavailable",
    )
}

async fn issue_user_token(
    state: &AppState,
    headers: &HeaderMap,
    client: Option<ClientIp>,
) -> Result<String, Response> {
    match cookie_login(state, headers, client).await {
        Ok(Some(login)) => Ok(mint(state, &login)),
        Ok(None) => Err(error(StatusCode::UNAUTHORIZED, "Not logged in")),
        Err(e) => Err(login_failure(e, "ngauth /token")),
    }
}

/// `POST /gcs_token` (and its `OPTIONS` preflight). The body is JSON
/// whatever the `Content-Type` (Neuroglancer sends `text/plain`).
#[utoipa::path(
    method(post, options), path = "/gcs_token", tag = "ngauth",
    request_body(content = Object, description = "`{\"token\": …}`; JSON whatever the content type", content_type = "application/json"),
    security(()),
    responses((status = 200, description = "`{\"token\": …}`: a Google access token", body = Object),
        (status = 204, description = "OPTIONS preflight"))
)]
async fn gcs_token_endpoint(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let origin = RequestOrigin::of(&headers, &state.ngauth_origins);
    let preflight = method == Method::OPTIONS;
    let mut response = match origin_gate(&origin) {
        Err(r) => r,
        Ok(()) => match preflight_or_method(&method) {
            Some(r) => r,
            None => match gcs_token(&state, &body).await {
                Ok(token) => axum::Json(serde_json::json!({ "token": token })).into_response(),
                Err(r) => r,
            },
        },
    };
    decorate(&mut response, &origin, false, preflight);
    response
}

async fn gcs_token(state: &AppState, body: &Bytes) -> Result<String, Response> {
    let v: serde_json::Value = serde_json::from_slice(body)
        .ok()
        .filter(serde_json::Value::is_object)
        .ok_or_else(|| error(StatusCode::BAD_REQUEST, "Invalid request body"))?;
    let field = |k: &str| v.get(k).and_then(|x| x.as_str()).filter(|s| !s.is_empty());
    let (Some(user_token), Some(bucket)) = (field("token"), field("bucket")) else {
        return Err(error(StatusCode::BAD_REQUEST, "Missing token or bucket"));
    };
    let now = state.clock.now();
    let invalid = || error(StatusCode::UNAUTHORIZED, "Invalid authentication token");
    let claims =
        token::verify(&state.ngauth_key, user_token, now.as_secs()).map_err(|_| invalid())?;
    let db_down = |e: dsg_store::StoreError| {
        tracing::error!(error = %e, "ngauth /gcs_token: database failure");
        unavailable()
    };
    let decision = buckets::decide(state, &claims.email, claims.key_id, bucket, now)
        .await
        .map_err(db_down)?;
    let prefixes = match decision {
        buckets::Decision::InvalidToken => return Err(invalid()),
        buckets::Decision::Denied => return Err(error(StatusCode::FORBIDDEN, "Access denied")),
        buckets::Decision::TosRequired { tos_url, dataset } => {
            let mut r = (
                StatusCode::FORBIDDEN,
                axum::Json(serde_json::json!({
                    "error": "tos_required",
                    "message": format!(
                        "Accept the terms of service of dataset {dataset} first: {tos_url}"
                    ),
                    "tos_url": tos_url,
                })),
            )
                .into_response();
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            return Err(r);
        }
        buckets::Decision::Granted(prefixes) => prefixes,
    };
    match state
        .gcs
        .downscoped_token(bucket, prefixes.as_deref(), now)
        .await
    {
        Ok(t) => Ok(t),
        Err(e @ GcsError::Rejected(_)) => {
            tracing::warn!(error = %e, bucket, "downscoping failed");
            Err(error(StatusCode::BAD_GATEWAY, "Credential exchange failed"))
        }
        Err(e) => {
            tracing::warn!(error = %e, bucket, "downscoping unavailable");
            Err(error(
                StatusCode::SERVICE_UNAVAILABLE,
                "Credential service unavailable",
            ))
        }
    }
}
