//! The OpenID Connect provider's endpoints (docs/oidc-provider.md):
//! discovery, JWKS, authorization, token, userinfo, revocation and
//! end-session. The rules live in [`crate::service::oidc`]; this module
//! reads the request (the browser session, HTTP Basic, forms) and writes
//! OAuth answers (`no-store`, JSON errors, 302s).

// Handlers answer early with a ready `Response` as the error value.
#![allow(clippy::result_large_err)]

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use dsg_store::oidc::OidcClient;
use dsg_store::tokens::PrincipalRef;
use serde_json::{Value, json};

use crate::http::forwarded::ClientIp;
use crate::pages::MessagePage;
use crate::service::oidc::flow::{self, Authorize, AuthorizeRequest, TokenRequest};
use crate::service::oidc::{OAuthError, keys};
use crate::state::AppState;

/// Where each endpoint lives.
pub mod paths {
    /// Discovery.
    pub const DISCOVERY: &str = "/.well-known/openid-configuration";
    /// Authorization.
    pub const AUTHORIZE: &str = "/oidc/authorize";
    /// Token.
    pub const TOKEN: &str = "/oidc/token";
    /// Userinfo.
    pub const USERINFO: &str = "/oidc/userinfo";
    /// JWKS.
    pub const JWKS: &str = "/oidc/jwks";
    /// Revocation.
    pub const REVOKE: &str = "/oidc/revoke";
    /// End session.
    pub const LOGOUT: &str = "/oidc/logout";
}

/// The provider's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(paths::DISCOVERY, any(discovery))
        .route(paths::JWKS, any(jwks))
        .route(paths::AUTHORIZE, any(authorize))
        .route(paths::TOKEN, any(token))
        .route(paths::USERINFO, any(userinfo))
        .route(paths::REVOKE, any(revoke))
        .route(paths::LOGOUT, any(logout))
}

fn issuer(state: &AppState, headers: &HeaderMap) -> Result<String, Response> {
    crate::http::origin::public_origin(state, headers).map_err(IntoResponse::into_response)
}

fn no_store(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    r
}

fn json_answer(status: StatusCode, body: &Value) -> Response {
    no_store((status, axum::Json(body)).into_response())
}

fn oauth_error(e: &OAuthError, basic: bool) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
    let mut r = json_answer(
        status,
        &json!({"error": e.error, "error_description": e.description}),
    );
    if e.status == 401 {
        let challenge = if basic {
            "Basic realm=\"dsg\""
        } else {
            "Bearer error=\"invalid_token\""
        };
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(challenge),
        );
    }
    r
}

fn method_not_allowed(method: &Method) -> Response {
    crate::error::ApiError::method_not_allowed(method).into_response()
}

fn unavailable() -> Response {
    json_answer(
        StatusCode::SERVICE_UNAVAILABLE,
        &json!({"error": "temporarily_unavailable", "error_description": "try again"}),
    )
}

/// `GET /.well-known/openid-configuration`.
async fn discovery(State(state): State<AppState>, method: Method, headers: HeaderMap) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return method_not_allowed(&method);
    }
    let iss = match issuer(&state, &headers) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let at = |p: &str| format!("{iss}{p}");
    let body = json!({
        "issuer": iss,
        "authorization_endpoint": at(paths::AUTHORIZE),
        "token_endpoint": at(paths::TOKEN),
        "userinfo_endpoint": at(paths::USERINFO),
        "jwks_uri": at(paths::JWKS),
        "revocation_endpoint": at(paths::REVOKE),
        "end_session_endpoint": at(paths::LOGOUT),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": crate::service::oidc::SCOPES,
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nonce", "email", "email_verified",
            "name", "given_name", "family_name", "picture", "groups", "datasets"],
    });
    (StatusCode::OK, axum::Json(body)).into_response()
}

/// `GET /oidc/jwks`.
async fn jwks(State(state): State<AppState>, method: Method) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return method_not_allowed(&method);
    }
    match keys::jwks(&state).await {
        Ok(body) => {
            let mut r = (StatusCode::OK, axum::Json(body)).into_response();
            r.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("max-age=60"),
            );
            r
        }
        Err(e) => {
            tracing::error!(error = %e, "JWKS");
            unavailable()
        }
    }
}

/// The signed-in person of the browser session (never a delegated key,
/// never a service account).
async fn session_user(
    state: &AppState,
    headers: &HeaderMap,
    client: Option<ClientIp>,
) -> Option<i64> {
    let token = state
        .config
        .auth
        .cookie_names
        .iter()
        .find_map(|n| crate::http::credentials::cookie(headers, n))?;
    let auth = state.authenticate_token(&token, None, client).await.ok()?;
    match auth.token.principal {
        PrincipalRef::User(id) if !auth.token.scope.delegated => Some(id),
        _ => None,
    }
}

fn page(status: u16, message: &str) -> Response {
    let page = MessagePage {
        title: "Sign-in request refused",
        message,
    };
    let mut r = match askama::Template::render(&page) {
        Ok(body) => ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response(),
        Err(_) => message.to_owned().into_response(),
    };
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    no_store(r)
}

fn found(location: &str) -> Response {
    let mut r = StatusCode::FOUND.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    no_store(r)
}

/// `GET|POST /oidc/authorize`.
async fn authorize(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    client: Option<ClientIp>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let raw = match method {
        Method::GET | Method::HEAD => query.unwrap_or_default(),
        Method::POST => String::from_utf8_lossy(&body).into_owned(),
        _ => return method_not_allowed(&method),
    };
    let Ok(req) = serde_urlencoded::from_str::<AuthorizeRequest>(&raw) else {
        return page(400, "The sign-in request is malformed.");
    };
    let user = session_user(&state, &headers, client).await;
    // A visitor without a session starts a login: that counts toward
    // `rate_limit.login` like `/auth/login` itself.
    if user.is_none()
        && let Err(l) = state.limits.login(client.map(|c| c.0)).await
    {
        return crate::error::ApiError::from(crate::service::ServiceError::Limited(l))
            .into_response();
    }
    match flow::authorize(&state, &req, user).await {
        Ok(Authorize::Page { status, message }) => page(status, &message),
        Ok(Authorize::Redirect(to)) => found(&to),
        Ok(Authorize::Login) => {
            let back = format!("{}?{raw}", paths::AUTHORIZE);
            let next: String = url::form_urlencoded::byte_serialize(back.as_bytes()).collect();
            found(&format!("/auth/login?next={next}"))
        }
        Err(e) => {
            tracing::error!(error = %e, "OpenID authorization");
            page(503, "The sign-in service is unavailable; try again.")
        }
    }
}

/// HTTP Basic credentials (RFC 6749 §2.3.1: each part form-urlencoded).
fn basic(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(rest.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let unescape = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
    };
    Some((unescape(id)?, unescape(secret)?))
}

fn form(headers: &HeaderMap, body: &[u8]) -> Result<TokenRequest, OAuthError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct.starts_with("application/x-www-form-urlencoded") {
        return Err(OAuthError::bad(
            "invalid_request",
            "send the parameters as application/x-www-form-urlencoded",
        ));
    }
    serde_urlencoded::from_bytes(body)
        .map_err(|e| OAuthError::bad("invalid_request", format!("malformed form: {e}")))
}

/// The form of a client-authenticated endpoint (token, revocation) and the
/// client it authenticates; whether Basic was used (for the 401 challenge).
async fn client_form(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> (bool, Result<(TokenRequest, OidcClient), OAuthError>) {
    let basic = basic(headers);
    let uses_basic = basic.is_some();
    let answer = async {
        let f = form(headers, body)?;
        let client = flow::client_of(state, basic, &f).await?;
        Ok((f, client))
    };
    (uses_basic, answer.await)
}

/// `POST /oidc/token`.
async fn token(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if method != Method::POST {
        return method_not_allowed(&method);
    }
    let (uses_basic, authenticated) = client_form(&state, &headers, &body).await;
    let answer = async {
        let (f, client) = authenticated?;
        let iss = crate::http::origin::public_origin(&state, &headers)
            .map_err(|_| OAuthError::bad("invalid_request", "cannot tell this server's origin"))?;
        flow::token(&state, &client, &f, &iss).await
    };
    match answer.await {
        Ok(body) => json_answer(StatusCode::OK, &body),
        Err(e) => oauth_error(&e, uses_basic),
    }
}

/// `GET|POST /oidc/userinfo` with `Authorization: Bearer <access token>`.
async fn userinfo(State(state): State<AppState>, method: Method, headers: HeaderMap) -> Response {
    if method != Method::GET && method != Method::POST {
        return method_not_allowed(&method);
    }
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(s, _)| s.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim().to_owned());
    let Some(bearer) = bearer else {
        return oauth_error(
            &OAuthError {
                status: 401,
                error: "invalid_token",
                description: "an access token is required".into(),
            },
            false,
        );
    };
    let iss = match issuer(&state, &headers) {
        Ok(i) => i,
        Err(r) => return r,
    };
    match flow::userinfo(&state, &bearer, &iss).await {
        Ok(body) => json_answer(StatusCode::OK, &body),
        Err(e) => oauth_error(&e, false),
    }
}

/// `POST /oidc/revoke` (RFC 7009).
async fn revoke(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if method != Method::POST {
        return method_not_allowed(&method);
    }
    let (uses_basic, authenticated) = client_form(&state, &headers, &body).await;
    let answer = async {
        let (f, client) = authenticated?;
        let token = f
            .token
            .as_deref()
            .ok_or_else(|| OAuthError::bad("invalid_request", "token is required"))?;
        flow::revoke(&state, &client, token).await
    };
    match answer.await {
        Ok(()) => no_store(StatusCode::OK.into_response()),
        Err(e) => oauth_error(&e, uses_basic),
    }
}

/// The end-session query.
#[derive(Debug, Default, serde::Deserialize)]
struct LogoutQuery {
    id_token_hint: Option<String>,
    post_logout_redirect_uri: Option<String>,
    client_id: Option<String>,
    state: Option<String>,
}

/// `GET|POST /oidc/logout`: ends DSG's browser session (as `/api/v1/logout`)
/// and returns to `post_logout_redirect_uri` only when it is registered for
/// the client; else a "signed out" page.
async fn logout(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let raw = match method {
        Method::GET | Method::HEAD => query.unwrap_or_default(),
        Method::POST => String::from_utf8_lossy(&body).into_owned(),
        _ => return method_not_allowed(&method),
    };
    let q: LogoutQuery = serde_urlencoded::from_str(&raw).unwrap_or_default();
    if let Err(e) = crate::http::cookie::sign_out(&state, &headers).await {
        return e.into_response();
    }
    let iss = match issuer(&state, &headers) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let target = match &q.post_logout_redirect_uri {
        Some(uri) => flow::logout_target(
            &state,
            q.client_id.as_deref(),
            q.id_token_hint.as_deref(),
            uri,
            &iss,
        )
        .await
        .unwrap_or_default(),
        None => None,
    };
    let mut r = match target {
        Some(to) => {
            let to = match &q.state {
                Some(s) => {
                    let sep = if to.contains('?') { '&' } else { '?' };
                    let s: String = url::form_urlencoded::byte_serialize(s.as_bytes()).collect();
                    format!("{to}{sep}state={s}")
                }
                None => to,
            };
            found(&to)
        }
        None => page(200, "You are signed out of DatasetGateway."),
    };
    r.headers_mut().append(
        header::SET_COOKIE,
        crate::http::cookie::clear_login_cookie(&state.config),
    );
    r
}
