//! Terms of service, the JSON side (the rules and writes are
//! [`crate::service::tos`]'s; the HTML pages of these paths are the web
//! front-end's, `web::tos_page`).
//!
//! * `POST /api/v1/services {"name","display_name"?,"base_url"?}` — global admins.
//! * `POST /api/v1/tos {"name","text","dataset"?,"version"?,"service"?,
//!   "effective_at"?,"retired_at"?}` — dataset admins (global admins for
//!   service-wide documents). A dataset document without version or service
//!   becomes the dataset's gate.
//! * `GET /api/v1/tos/{id}` — the document as JSON; `POST /api/v1/tos/{id}/retire`.
//! * `POST /api/v1/tos/{id}/accept` — records the acceptance (its `GET` is
//!   the HTML page middle_auth_client sends users to). Browser posts
//!   authenticated by the login cookie must pass a double-submit CSRF token
//!   and, when an `Origin` is sent, a same-origin check; a form post is
//!   answered with a redirect to `next`, which only leads back to this
//!   server or a configured host. Bearer clients may POST without a form.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Json, Router};
use bytes::Bytes;
use dsg_store::tokens::PrincipalRef;
use dsg_store::tos::TosRow;
use serde_json::{Value, json};

use super::{Ctx, created, rfc};
use crate::error::ApiError;
use crate::http::body::{Instant, Required, non_empty, parse};
use crate::http::csrf;
use crate::http::forwarded::ClientIp;
use crate::service::authority::Caller;
use crate::service::tos::{self, NewDocument, NewService, Recorded};
use crate::state::AppState;

pub(super) fn routes(r: Router<AppState>) -> Router<AppState> {
    r.route("/api/v1/services", any(services))
        .route("/api/v1/tos", any(create_tos))
        .route("/api/v1/tos/{id}", any(get_tos))
        .route("/api/v1/tos/{id}/retire", any(retire))
        // `GET` (and `HEAD`) is the web front-end's page, merged onto this
        // path; every other method is refused here, in the API's words.
        .route(
            "/api/v1/tos/{id}/accept",
            any(method_not_allowed).post(accept),
        )
}

async fn method_not_allowed(method: Method) -> ApiError {
    ApiError::method_not_allowed(&method)
}

/// The body of `POST /api/v1/services`.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
pub struct ServiceRequest {
    /// 1–100 letters, digits, `-` or `_`; unique.
    #[schema(value_type = String, pattern = "^[A-Za-z0-9_-]{1,100}$")]
    pub name: Required,
    /// Name shown to people.
    pub display_name: Option<String>,
    /// Where the service runs.
    pub base_url: Option<String>,
    /// How the service evaluates versions: `linear` (default; ordinals on
    /// a branch) or `dag` (cross-branch questions answer `service_eval`).
    #[schema(pattern = "^(linear|dag)$")]
    pub version_eval_mode: Option<String>,
}

#[utoipa::path(
    post, path = "/api/v1/services", tag = "native",
    request_body(content = ServiceRequest, content_type = "application/json"),
    responses((status = 201, description = "Created", body = Object))
)]
async fn services(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    ctx.allow(&[Method::POST])?;
    // Refused before the body is read, as always.
    tos::authorize_create_service(ctx.view())?;
    let body: ServiceRequest = parse(&headers, &bytes)?;
    let name = body.name.0;
    let mode =
        crate::service::input::eval_mode(body.version_eval_mode.as_deref(), "version_eval_mode")
            .map_err(crate::service::ServiceError::from)?;
    let id = tos::create_service(
        &state,
        ctx.view(),
        NewService {
            name: name.clone(),
            display_name: body.display_name.unwrap_or_default(),
            base_url: body.base_url.unwrap_or_default(),
            mode,
        },
    )
    .await?;
    Ok(created(
        json!({"id": id, "name": name, "version_eval_mode": mode.as_str()}),
    ))
}

fn tos_json(t: &TosRow, now: dsg_core::Timestamp, show_invite: bool) -> Value {
    let mut v = json!({
        "id": t.id, "name": t.name, "text": t.text, "dataset": t.dataset, "version": t.version,
        "service": t.service, "effective_at": t.effective_at.to_rfc3339(),
        "retired_at": rfc(t.retired_at), "in_force": t.in_force(now),
        "accept_url": format!("/api/v1/tos/{}/accept", t.id),
    });
    if show_invite {
        v["invite_url"] = json!(format!("/api/v1/tos/invite/{}", t.invite_token));
    }
    v
}

/// The body of `POST /api/v1/tos`.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
pub struct TosRequest {
    /// Title shown to users.
    #[schema(value_type = String, min_length = 1)]
    pub name: Required,
    /// Markdown text.
    #[schema(value_type = String, min_length = 1)]
    pub text: Required,
    /// The dataset whose terms these are.
    pub dataset: Option<String>,
    /// A version of that dataset.
    pub version: Option<String>,
    /// The service whose terms these are.
    pub service: Option<String>,
    /// In force from (default: now).
    pub effective_at: Option<Instant>,
    /// Retired from (after `effective_at`).
    pub retired_at: Option<Instant>,
}

#[utoipa::path(
    post, path = "/api/v1/tos", tag = "native",
    request_body(content = TosRequest, content_type = "application/json"),
    responses((status = 201, description = "Created", body = Object))
)]
async fn create_tos(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    ctx.allow(&[Method::POST])?;
    let body: TosRequest = parse(&headers, &bytes)?;
    let t = tos::create(
        &state,
        ctx.view(),
        NewDocument {
            name: body.name.0,
            text: body.text.0,
            dataset: non_empty(body.dataset),
            version: non_empty(body.version),
            service: non_empty(body.service),
            effective_at: body.effective_at.map(|i| i.0),
            retired_at: body.retired_at.map(|i| i.0),
        },
    )
    .await?;
    Ok(created(tos_json(&t, state.clock.now(), true)))
}

#[utoipa::path(
    get, path = "/api/v1/tos/{id}", tag = "native",
    params(("id" = String, Path, description = "TOS id")),
    responses((status = 200, description = "The document", body = Object))
)]
async fn get_tos(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    ctx.allow(&[Method::GET])?;
    let shown = tos::show(&state, ctx.view(), &id).await?;
    let mut v = tos_json(&shown.doc, state.clock.now(), shown.shows_invite);
    if let Some(accepted) = shown.accepted {
        v["accepted"] = json!(accepted);
    }
    Ok(Json(v).into_response())
}

/// The body of `POST /api/v1/tos/{id}/retire` (optional).
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
pub struct RetireRequest {
    /// Retired from (default: now; after the document took effect).
    pub retired_at: Option<Instant>,
}

#[utoipa::path(
    post, path = "/api/v1/tos/{id}/retire", tag = "native",
    params(("id" = String, Path, description = "TOS id")),
    request_body(content = Option<RetireRequest>, description = "Optional", content_type = "application/json"),
    responses((status = 200, description = "Retired", body = Object))
)]
async fn retire(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    ctx.allow(&[Method::POST])?;
    let t = tos::document(&state, &id).await?;
    // Refused before the body is read, as always.
    tos::authorize_retire(ctx.view(), &t)?;
    let body: RetireRequest = parse(&headers, &bytes)?;
    let at = tos::retire(&state, ctx.view(), &t, body.retired_at.map(|i| i.0)).await?;
    Ok(Json(json!({"id": t.id, "retired_at": at.to_rfc3339()})).into_response())
}

/// The JSON body of `POST /api/v1/tos/{id}/accept` (optional; the HTML
/// form posts `csrf` and `next` form-encoded instead).
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
pub struct AcceptRequest {
    /// Where a form post is sent afterwards (this server or a configured host).
    pub next: Option<String>,
}

/// Records the caller's acceptance of the document.
#[utoipa::path(
    post, path = "/api/v1/tos/{id}/accept", tag = "native",
    params(("id" = String, Path, description = "TOS id")),
    request_body(content = Option<AcceptRequest>, description = "Optional", content_type = "application/json"),
    responses((status = 200, description = "Accepted", body = Object),
        (status = 303, description = "From the HTML form: back to `next`"))
)]
async fn accept(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    client: Option<ClientIp>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let t = tos::document(&state, &id).await?;
    let auth = state
        .authenticate(&headers, uri.query(), None, client)
        .await?
        .ok_or_else(ApiError::not_provided)?;
    if !matches!(auth.token.principal, PrincipalRef::User(_)) {
        return Err(ApiError::forbidden());
    }
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    let (csrf, next) = if form {
        let mut csrf = String::new();
        let mut next = String::new();
        for (k, v) in url::form_urlencoded::parse(&bytes) {
            match k.as_ref() {
                "csrf" => csrf = v.into_owned(),
                "next" => next = v.into_owned(),
                _ => {}
            }
        }
        (csrf, next)
    } else {
        let body: AcceptRequest = parse(&headers, &bytes)?;
        (String::new(), body.next.unwrap_or_default())
    };
    if crate::http::credentials::from_cookie(&headers, &state.config.auth.cookie_names)
        && !csrf::verify(&state, &headers, &csrf)
    {
        return Err(ApiError::Detail(
            StatusCode::FORBIDDEN,
            "CSRF verification failed. Reload the page and try again.".into(),
        ));
    }
    let caller = Caller::new(auth, super::request_id_of(&headers));
    let ip = client.map(|c| c.0.to_string());
    let already = match tos::accept(&state, &caller, &t, ip.as_deref()).await? {
        Recorded::NotInForce => {
            return Err(ApiError::bad_request("These terms are not in force."));
        }
        Recorded::Restricted(d) => {
            return Err(ApiError::Detail(
                StatusCode::FORBIDDEN,
                format!("{d} is invite-only: ask its administrator for access."),
            ));
        }
        Recorded::Accepted => false,
        Recorded::Already => true,
    };
    if form {
        let target = crate::http::redirect::safe_next(&state, &next)
            .unwrap_or_else(|| uri.path().to_owned());
        let mut r = StatusCode::SEE_OTHER.into_response();
        if let Ok(v) = HeaderValue::from_str(&target) {
            r.headers_mut().insert(header::LOCATION, v);
        }
        return Ok(r);
    }
    Ok(
        Json(json!({"status": "accepted", "tos_id": t.id, "already_accepted": already}))
            .into_response(),
    )
}
