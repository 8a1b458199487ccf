//! Browser login with Google or any OpenID Connect issuer, one flow for
//! every entry point (spec §3.8): `/auth/login?next=`, `GET|POST
//! /api/v1/authorize` (CAVE), and the callbacks `/api/v1/oauth2callback` and
//! `/accounts/google/login/callback/`. Authorization code with PKCE, `state`
//! and `nonce`; the ID token is verified; the user is found by (issuer,
//! subject), linked by verified e-mail, or created if the sign-up policy
//! allows; a 7-day login key becomes the `dsg_token` cookie. Logins on other
//! devices stay valid. Also the logouts `/logout` and `/web/logout`.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use bytes::Bytes;
use dsg_core::token::TokenHash;
use dsg_store::identities::LoginIdentity;
use dsg_store::tokens::PrincipalRef;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::http::credentials::{cookie, query_param};
use crate::http::forwarded::ClientIp;
use crate::idp::oidc::ExchangeError;
use crate::idp::state::{self, LoginState};
use crate::service::{ServiceError, sessions};
use crate::state::AppState;

pub use crate::service::sessions::{LOGIN_KEY_DESCRIPTION, LOGIN_KEY_SECS};

/// Callback path of `/auth/login` (the URI Google clients are registered with).
pub const BROWSER_CALLBACK: &str = "/accounts/google/login/callback/";

/// Callback path of the CAVE flow.
pub const CAVE_CALLBACK: &str = "/api/v1/oauth2callback";

/// Registers the login and logout routes (besides `/api/v1/logout`, which
/// lives with the API).
pub fn routes(router: Router<AppState>) -> Router<AppState> {
    let login = Router::new()
        .route("/auth/login", get(browser_login))
        .route("/api/v1/authorize", any(cave_authorize))
        .route(CAVE_CALLBACK, get(callback))
        .route(BROWSER_CALLBACK, get(callback))
        .route("/logout", any(ngauth_logout))
        .route("/web/logout", any(web_logout));
    router.merge(login)
}

fn state_cookie(state: &AppState, value: &str, max_age: i64) -> Option<HeaderValue> {
    let secure = if state.config.secure_cookies() {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{}={value}; Max-Age={max_age}; Path=/; HttpOnly; SameSite=Lax{secure}",
        state::COOKIE
    ))
    .ok()
}

/// The OpenAPI description of the API-side login routes.
pub(crate) fn openapi() -> utoipa::openapi::OpenApi {
    #[derive(utoipa::OpenApi)]
    #[openapi(paths(cave_authorize, callback))]
    struct Doc;
    <Doc as utoipa::OpenApi>::openapi()
}

/// `next` when it is on this server or an allowed host, else 400.
fn allowed_next(state: &AppState, origin: &str, next: &str) -> Result<String, ApiError> {
    crate::http::redirect::validate(next, origin, &state.config.redirect_hosts()).ok_or_else(|| {
        ApiError::bad_request(
            "the redirect target must be on this server or a host listed in login.redirect_hosts (default: hosts under auth.cookie_domain)",
        )
    })
}

/// Starts a login: validates `next`, picks the provider, stores the login
/// state in its cookie and returns the provider URL plus that cookie.
async fn begin(
    state: &AppState,
    headers: &HeaderMap,
    next: Option<String>,
    provider: Option<String>,
    callback_path: &str,
) -> Result<(String, HeaderValue), ApiError> {
    let origin = crate::http::origin::public_origin(state, headers)?;
    let next = match next.filter(|n| !n.is_empty()) {
        None => state.config.login.default_next.clone(),
        Some(n) => allowed_next(state, &origin, &n)?,
    };
    let Some(p) = state.idp.provider(provider.as_deref()) else {
        return Err(ApiError::Error(
            StatusCode::NOT_FOUND,
            match provider {
                Some(n) => format!("no login provider named {n:?}"),
                None => "no login provider is configured: set GOOGLE_CLIENT_ID/GOOGLE_CLIENT_SECRET or add [[login.providers]]".into(),
            },
        ));
    };
    if !p.ready() {
        // One more try (the background task also retries).
        let _ = p.discover(&state.idp.http).await;
    }
    let rnd = || state::random().map_err(|e| ApiError::Internal(format!("random: {e}")));
    let ls = LoginState {
        state: rnd()?,
        nonce: rnd()?,
        verifier: rnd()?,
        next,
        provider: p.name.clone(),
        redirect_uri: format!("{origin}{callback_path}"),
        expires: state.clock.now().as_secs() + state::LIFETIME_SECS,
    };
    let mut url = p
        .authorization_url(
            &ls.redirect_uri,
            &ls.state,
            &ls.nonce,
            &state::challenge(&ls.verifier),
        )
        .ok_or_else(|| {
            ApiError::Error(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "login provider {} is not reachable yet; try again shortly",
                    p.name
                ),
            )
        })?;
    if let Some(email) = login_hint(state, headers).await? {
        url.push_str("&login_hint=");
        url.extend(url::form_urlencoded::byte_serialize(email.as_bytes()));
    }
    let cookie = state_cookie(
        state,
        &state::seal(&state.idp.login_key, &ls),
        state::LIFETIME_SECS,
    )
    .ok_or_else(|| ApiError::Internal("login state cookie".into()))?;
    Ok((url, cookie))
}

/// The e-mail of the user whose key the login cookie holds (even an expired
/// one), sent as `login_hint` so the provider preselects the account.
async fn login_hint(state: &AppState, headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    for name in &state.config.auth.cookie_names {
        let Some(value) = cookie(headers, name) else {
            continue;
        };
        if dsg_core::token::presented(&value).is_none() {
            continue;
        }
        if let Some(rec) = state.store.lookup_token(&TokenHash::of(&value)).await?
            && let PrincipalRef::User(id) = rec.principal
            && let Some(user) = state.store.load_user(id).await?
        {
            return Ok(Some(user.facts.email));
        }
        return Ok(None);
    }
    Ok(None)
}

fn found(location: &str) -> Response {
    let mut r = StatusCode::FOUND.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// `GET /auth/login[?next=…][&provider=…]` → 302 to the provider.
pub async fn browser_login(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    client: Option<ClientIp>,
) -> Result<Response, ApiError> {
    let html = crate::pages::wants_html(&headers);
    let started = async {
        state.limits.login(client.map(|c| c.0)).await?;
        let q = uri.query().unwrap_or_default();
        let (url, cookie) = begin(
            &state,
            &headers,
            query_param(q, "next"),
            query_param(q, "provider"),
            BROWSER_CALLBACK,
        )
        .await?;
        let mut r = found(&url);
        r.headers_mut().append(header::SET_COOKIE, cookie);
        Ok(r)
    }
    .await;
    for_browser(html, "Login is not available", started)
}

/// A failed browser login as a page with a way forward when the client
/// asked for HTML; the JSON error envelope otherwise (scripts, CAVE clients).
fn for_browser(
    html: bool,
    title: &str,
    result: Result<Response, ApiError>,
) -> Result<Response, ApiError> {
    let e = match result {
        Err(e) if html => e,
        other => return other,
    };
    let status = e.status();
    let message = match &e {
        ApiError::Detail(_, m) | ApiError::Error(_, m) => m.clone(),
        ApiError::TooManyRequests { retry_after } => {
            format!("Too many login attempts from this address; try again in {retry_after} s.")
        }
        ApiError::Internal(cause) => {
            tracing::error!(%cause, "login failed");
            "Something went wrong on the server; the cause is in its log.".into()
        }
    };
    let mut r = crate::pages::ErrorPage {
        title,
        message: &message,
        links: &[
            ("Try to log in again", "/auth/login"),
            ("Back to the start page", "/"),
        ],
    }
    .respond(status);
    if let ApiError::TooManyRequests { retry_after } = e {
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
    }
    Ok(r)
}

/// `GET|POST /api/v1/authorize[?redirect=…]` (POST may carry `{"redirect": …}`)
/// → 302 to the provider, or `{"authorization_url": …}` when the request has
/// an `X-Requested-With` header.
#[utoipa::path(
    method(get, post), path = "/api/v1/authorize", tag = "login",
    params(("redirect" = Option<String>, Query, description = "Where to return after login"),
        ("service" = Option<String>, Query, description = "With `dataset`: pass the service-check page for pending terms"),
        ("dataset" = Option<String>, Query, description = "With `service`: the dataset the login is for")),
    request_body(content = Option<Object>, description = "Optional JSON object", content_type = "application/json"),
    security(()),
    responses((status = 302, description = "To the identity provider"),
        (status = 200, description = "`{\"authorization_url\": …}` when `X-Requested-With` is sent", body = Object),
        (status = 429, description = "Too many logins from this address (`rate_limit.login`); see `Retry-After`", body = crate::error::schema::Detail))
)]
pub async fn cave_authorize(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    uri: axum::http::Uri,
    client: Option<ClientIp>,
    body: Bytes,
) -> Result<Response, ApiError> {
    if method != Method::GET && method != Method::POST && method != Method::HEAD {
        return Err(ApiError::method_not_allowed(&method));
    }
    state.limits.login(client.map(|c| c.0)).await?;
    let q = uri.query().unwrap_or_default();
    let mut next = query_param(q, "redirect");
    if next.is_none() && method == Method::POST && !body.is_empty() {
        let v: Value = serde_json::from_slice(&body).map_err(|e| {
            ApiError::Detail(StatusCode::BAD_REQUEST, format!("JSON parse error - {e}"))
        })?;
        next = v.get("redirect").and_then(Value::as_str).map(str::to_owned);
    }
    let next = next.unwrap_or_else(|| "/".into());
    // CAVE names the service and dataset the login is for: the browser then
    // passes the service-check page, which asks for any terms still pending
    // and continues to `redirect` (spec §3.8(b)).
    let (service, dataset) = (
        query_param(q, "service").unwrap_or_default(),
        query_param(q, "dataset").unwrap_or_default(),
    );
    let next = if service.is_empty() || dataset.is_empty() {
        next
    } else {
        let inner = allowed_next(
            &state,
            &crate::http::origin::public_origin(&state, &headers)?,
            &next,
        )?;
        let enc = |v: &str| {
            percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC).to_string()
        };
        format!(
            "/web/tos/service-check/?service={}&dataset={}&next={}",
            enc(&service),
            enc(&dataset),
            enc(&inner)
        )
    };
    let (url, cookie) = begin(
        &state,
        &headers,
        Some(next),
        query_param(q, "provider"),
        CAVE_CALLBACK,
    )
    .await?;
    let mut r = if headers.contains_key("x-requested-with") {
        axum::Json(json!({ "authorization_url": url })).into_response()
    } else {
        found(&url)
    };
    r.headers_mut().append(header::SET_COOKIE, cookie);
    Ok(r)
}

fn login_error(status: StatusCode, msg: &str) -> ApiError {
    ApiError::Error(status, msg.into())
}

/// `GET /api/v1/oauth2callback` and `/accounts/google/login/callback/`:
/// finishes the login and redirects to the validated `next`.
#[utoipa::path(
    get, path = "/api/v1/oauth2callback", tag = "login",
    params(("code" = Option<String>, Query, description = "Authorization code"), ("state" = Option<String>, Query, description = "Login state")),
    security(()),
    responses((status = 302, description = "Logged in; to the validated `next`"),
        (status = 429, description = "Too many logins from this address (`rate_limit.login`); see `Retry-After`", body = crate::error::schema::Detail))
)]
pub async fn callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    client: Option<ClientIp>,
) -> Result<Response, ApiError> {
    let html = crate::pages::wants_html(&headers);
    // Throttled before the code exchange: not a login outcome.
    if let Err(limited) = state.limits.login(client.map(|c| c.0)).await {
        return for_browser(html, "Login failed", Err(limited.into()));
    }
    let result = complete(&state, &headers, &uri).await;
    state.metrics.login(match &result {
        Ok(_) => "success",
        Err(e) => match e.status().as_u16() {
            403 => "denied",
            400..=499 => "rejected",
            _ => "failed",
        },
    });
    for_browser(html, "Login failed", result)
}

async fn complete(
    state: &AppState,
    headers: &HeaderMap,
    uri: &axum::http::Uri,
) -> Result<Response, ApiError> {
    let q = uri.query().unwrap_or_default();
    if let Some(e) = query_param(q, "error") {
        return Err(login_error(StatusCode::BAD_REQUEST, &e));
    }
    let Some(code) = query_param(q, "code").filter(|c| !c.is_empty()) else {
        return Err(login_error(
            StatusCode::BAD_REQUEST,
            "Missing authorization code",
        ));
    };
    let invalid_state = || login_error(StatusCode::BAD_REQUEST, "Invalid state parameter");
    let now = state.clock.now();
    let ls = cookie(headers, state::COOKIE)
        .and_then(|v| state::open(&state.idp.login_key, &v, now.as_secs()))
        .ok_or_else(invalid_state)?;
    let given = query_param(q, "state").unwrap_or_default();
    if !bool::from(subtle::ConstantTimeEq::ct_eq(
        given.as_bytes(),
        ls.state.as_bytes(),
    )) {
        return Err(invalid_state());
    }
    let provider = state
        .idp
        .provider(Some(&ls.provider))
        .ok_or_else(invalid_state)?;
    // RFC 9207: a provider that names itself must be the one we sent the user to.
    if let Some(iss) = query_param(q, "iss")
        && iss.trim_end_matches('/') != provider.issuer.trim_end_matches('/')
    {
        return Err(invalid_state());
    }
    let claims = provider
        .exchange(
            &state.idp.http,
            &code,
            &ls.redirect_uri,
            &ls.verifier,
            &ls.nonce,
            now.as_secs(),
        )
        .await
        .map_err(|e| match e {
            ExchangeError::Refused(m) => {
                tracing::info!(provider = %provider.name, reason = %m, "code exchange refused");
                login_error(StatusCode::BAD_REQUEST, "Token exchange failed")
            }
            ExchangeError::Unreachable(m) => {
                tracing::warn!(provider = %provider.name, reason = %m, "code exchange failed");
                login_error(StatusCode::BAD_GATEWAY, "Token exchange failed")
            }
            ExchangeError::BadIdToken(m) => {
                tracing::info!(provider = %provider.name, reason = %m, "ID token refused");
                login_error(StatusCode::BAD_REQUEST, "ID token verification failed")
            }
        })?;
    let identity = LoginIdentity {
        issuer: claims.issuer,
        subject: claims.subject,
        email: claims.email,
        email_verified: claims.email_verified,
        name: claims.name,
        picture: claims.picture,
    };
    let request_id = crate::http::request_id::request_id_of(headers);
    let token = sessions::sign_in(state, &identity, now, request_id)
        .await
        .map_err(refused)?;
    let mut r = found(&ls.next);
    if let Some(c) = crate::http::cookie::login_cookie(&state.config, &token, LOGIN_KEY_SECS) {
        r.headers_mut().append(header::SET_COOKIE, c);
    }
    if let Some(c) = state_cookie(state, "\"\"", 0) {
        r.headers_mut().append(header::SET_COOKIE, c);
    }
    Ok(r)
}

/// A refused login in the login's envelope (`{"error": …}` with the status).
fn refused(e: ServiceError) -> ApiError {
    match e {
        ServiceError::Forbidden(Some(m)) => login_error(StatusCode::FORBIDDEN, &m),
        ServiceError::Invalid(i) => login_error(StatusCode::BAD_REQUEST, &i.to_string()),
        ServiceError::Conflict(m) => login_error(StatusCode::CONFLICT, &m),
        other => other.into(),
    }
}

fn cleared(state: &AppState, mut r: Response) -> Response {
    r.headers_mut().append(
        header::SET_COOKIE,
        crate::http::cookie::clear_login_cookie(&state.config),
    );
    r
}

/// `POST /logout` (ngauth) → `{"status": "logged out"}`; key revoked, cookie cleared.
pub async fn ngauth_logout(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if method != Method::POST {
        return Err(ApiError::method_not_allowed(&method));
    }
    crate::http::cookie::sign_out(&state, &headers).await?;
    Ok(cleared(
        &state,
        axum::Json(json!({"status": "logged out"})).into_response(),
    ))
}

/// `POST /web/logout` → 302 to `/`; key revoked, cookie cleared.
pub async fn web_logout(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if method != Method::POST {
        return Err(ApiError::method_not_allowed(&method));
    }
    // Another site must not log people out (the web pages' same-origin rule).
    if !crate::http::csrf::origin_ok(&state, &headers) {
        return Err(ApiError::forbidden());
    }
    crate::http::cookie::sign_out(&state, &headers).await?;
    Ok(cleared(&state, found("/")))
}
