//! `GET /api/v1/user/cache` — the hot path. Every CAVE service request lands
//! here through middle_auth_client, so it answers from the permission cache's
//! pre-serialised bytes: extract, hash, two map lookups, a refcount bump.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::http::credentials::{self, Credential};
use crate::http::extract::accepts_json;
use crate::http::forwarded::ClientIp;
use crate::state::AppState;

/// The caller's permission document (`?service=` applies that service's TOS).
/// Any authenticated principal.
#[utoipa::path(
    get, path = "/api/v1/user/cache", tag = "cave",
    params(("service" = Option<String>, Query, description = "Apply this service's terms of service")),
    responses((status = 200, description = "The caller's permission document", body = dsg_core::permissions::CacheDocument),
        (status = 429, description = "Too many refused tokens from this address; a token this server has cached still answers", body = crate::error::schema::Detail))
)]
pub async fn get_user_cache(
    State(state): State<AppState>,
    request: Request,
) -> Result<Response, ApiError> {
    // Borrow the request's parts instead of extracting copies of them.
    let (method, uri, headers) = (request.method(), request.uri(), request.headers());
    if !accepts_json(headers) {
        return Err(ApiError::Detail(
            axum::http::StatusCode::NOT_ACCEPTABLE,
            "Could not satisfy the request Accept header.".into(),
        ));
    }
    // An extension read, no I/O: the failed-auth limit is consulted only
    // when the token is refused or not in the cache.
    let client = request.extensions().get::<ClientIp>().copied();
    let query = uri.query();
    let service = query
        .and_then(|q| credentials::query_param(q, "service"))
        .filter(|s| !s.is_empty());
    let auth = &state.config.auth;
    let token = match credentials::extract(headers, query, &auth.cookie_names, &auth.query_names) {
        Credential::None => return Err(ApiError::not_provided()),
        Credential::Malformed => return Err(state.refused(client).await),
        Credential::Token(t) => t,
    };
    let authed = state
        .authenticate_token(&token, service.as_deref(), client)
        .await?;
    if method != Method::GET && method != Method::HEAD {
        return Err(ApiError::method_not_allowed(method));
    }
    let mut response = authed.document.body.clone().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(response)
}
