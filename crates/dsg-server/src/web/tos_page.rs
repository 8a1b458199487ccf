//! The terms-of-service page under the API's paths, the one
//! middle_auth_client sends users to: `GET /api/v1/tos/{id}/accept` and the
//! same page reached by a document's invitation token,
//! `GET /api/v1/tos/invite/{token}`. It shows the text and, to a signed-in
//! person, an "I Accept" form (with a double-submit CSRF token and a `next`
//! that only leads back to this server or a configured host) posting to the
//! native API's `POST /api/v1/tos/{id}/accept`; anonymous visitors get a
//! login link that comes back here. A standalone page (`tos_accept.html`),
//! not the web UI's layout; errors answer in the API's JSON.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{any, get};
use dsg_store::tokens::PrincipalRef;
use dsg_store::tos::TosRow;

use crate::error::ApiError;
use crate::http::csrf;
use crate::http::forwarded::ClientIp;
use crate::service::authority::Caller;
use crate::service::tos;
use crate::state::AppState;

pub(super) fn routes(r: Router<AppState>) -> Router<AppState> {
    r.route("/api/v1/tos/invite/{token}", any(invite_page))
        // Merged with the native API's `POST` (and its 405 for other methods).
        .route("/api/v1/tos/{id}/accept", get(accept_page))
}

/// The OpenAPI description of these pages.
pub(super) fn openapi() -> utoipa::openapi::OpenApi {
    #[derive(utoipa::OpenApi)]
    #[openapi(paths(invite_page, accept_page))]
    struct Doc;
    <Doc as utoipa::OpenApi>::openapi()
}

#[derive(Template)]
#[template(path = "tos_accept.html")]
struct TosPage<'a> {
    name: &'a str,
    dataset: Option<&'a str>,
    public: bool,
    version: Option<&'a str>,
    service: Option<&'a str>,
    text: &'a str,
    in_force: bool,
    accepted: bool,
    email: Option<&'a str>,
    action: String,
    csrf: String,
    next: String,
    login: String,
}

/// The person behind the request, if any (stale credentials and service
/// accounts count as anonymous here).
async fn browser_user(
    state: &AppState,
    headers: &HeaderMap,
    uri: &Uri,
    client: Option<ClientIp>,
) -> Option<Caller> {
    match state.authenticate(headers, uri.query(), None, client).await {
        Ok(Some(a)) if matches!(a.token.principal, PrincipalRef::User(_)) => {
            Some(Caller::new(a, None))
        }
        _ => None,
    }
}

async fn render(
    state: &AppState,
    t: &TosRow,
    who: Option<&Caller>,
    headers: &HeaderMap,
    page_path: &str,
    next: &str,
) -> Result<Response, ApiError> {
    let accepted = match who {
        Some(c) => tos::standing(state, c, t).await?.accepted,
        None => false,
    };
    let csrf = csrf::token(headers);
    let login = format!(
        "/auth/login?next={}",
        url::form_urlencoded::byte_serialize(page_path.as_bytes()).collect::<String>()
    );
    let html = TosPage {
        name: &t.name,
        dataset: t.dataset.as_deref(),
        public: t.access_mode.as_deref() == Some("public"),
        version: t.version.as_deref(),
        service: t.service.as_deref(),
        text: &t.text,
        in_force: t.in_force(state.clock.now()),
        accepted,
        email: who.map(Caller::email),
        action: format!("/api/v1/tos/{}/accept", t.id),
        csrf: csrf.value.clone(),
        next: crate::http::redirect::safe_next(state, next).unwrap_or_default(),
        login,
    }
    .render()
    .map_err(|e| ApiError::Internal(e.to_string()))?;
    let mut r = Html(html).into_response();
    if csrf.fresh
        && let Some(c) = csrf::set_cookie(state, &csrf.value)
    {
        r.headers_mut().append(header::SET_COOKIE, c);
    }
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(r)
}

fn query_next(uri: &Uri) -> String {
    uri.query()
        .and_then(|q| crate::http::credentials::query_param(q, "next"))
        .unwrap_or_default()
}

/// The page of a document reached by its invitation token.
#[utoipa::path(
    get, path = "/api/v1/tos/invite/{token}", tag = "native",
    params(("token" = String, Path, description = "Invitation token")),
    security((), ("cookie" = [])),
    responses((status = 200, description = "HTML page showing the document", content_type = "text/html"))
)]
async fn invite_page(
    State(state): State<AppState>,
    method: Method,
    Path(token): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    client: Option<ClientIp>,
) -> Result<Response, ApiError> {
    if method != Method::GET && method != Method::HEAD {
        return Err(ApiError::method_not_allowed(&method));
    }
    let Some(t) = tos::by_invite(&state, &token).await? else {
        return Ok((
            StatusCode::NOT_FOUND,
            Html(
                crate::pages::MessagePage {
                    title: "Not found",
                    message: "This terms-of-service link is not valid.",
                }
                .render()
                .unwrap_or_default(),
            ),
        )
            .into_response());
    };
    let who = browser_user(&state, &headers, &uri, client).await;
    render(
        &state,
        &t,
        who.as_ref(),
        &headers,
        uri.path(),
        &query_next(&uri),
    )
    .await
}

/// The acceptance page of a document: its text and, to a signed-in person,
/// the "I Accept" form.
#[utoipa::path(
    get, path = "/api/v1/tos/{id}/accept", tag = "native", operation_id = "accept",
    params(("id" = String, Path, description = "TOS id")),
    responses((status = 200, description = "HTML acceptance page", content_type = "text/html"))
)]
async fn accept_page(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    client: Option<ClientIp>,
) -> Result<Response, ApiError> {
    let t = tos::document(&state, &id).await?;
    let who = browser_user(&state, &headers, &uri, client).await;
    render(
        &state,
        &t,
        who.as_ref(),
        &headers,
        uri.path(),
        &query_next(&uri),
    )
    .await
}
