//! Terms of service: documents scoped to a dataset, a version or a service,
//! with effective and retired dates; acceptance.
//!
//! * `POST /api/v1/services {"name","display_name"?,"base_url"?}` — global admins.
//! * `POST /api/v1/tos {"name","text","dataset"?,"version"?,"service"?,
//!   "effective_at"?,"retired_at"?}` — dataset admins (global admins for
//!   service-wide documents). A dataset document without version or service
//!   becomes the dataset's gate.
//! * `GET /api/v1/tos/{id}` — the document as JSON; `POST /api/v1/tos/{id}/retire`.
//! * `GET|POST /api/v1/tos/{id}/accept` — the page middle_auth_client sends
//!   users to: GET renders the text and an "I Accept" form (HTML), POST
//!   records the acceptance. Browser posts authenticated by the login cookie
//!   must pass a double-submit CSRF token and, when an `Origin` is sent, a
//!   same-origin check; `next` only leads back to this server or a configured
//!   host. Bearer clients may POST without a form.
//! * `GET /api/v1/tos/invite/{token}` — the same page, reached by the
//!   document's invitation token (landing links sent to people).

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::any;
use axum::{Json, Router};
use bytes::Bytes;
use dsg_store::datasets::NewTos;
use dsg_store::grants::NewGrant;
use dsg_store::tokens::PrincipalRef;
use dsg_store::tos::TosRow;
use dsg_store::write::Actor;
use serde_json::{Value, json};

use super::{Ctx, commit, created, instant, object, opt_str, req_str, require, rfc};
use crate::cache::Authenticated;
use crate::error::ApiError;
use crate::http::csrf;
use crate::http::forwarded::ClientIp;
use crate::service::authority::Caller;
use crate::state::AppState;

pub(super) fn routes(r: Router<AppState>) -> Router<AppState> {
    r.route("/api/v1/services", any(services))
        .route("/api/v1/tos", any(create_tos))
        .route("/api/v1/tos/invite/{token}", any(invite_page))
        .route("/api/v1/tos/{id}", any(get_tos))
        .route("/api/v1/tos/{id}/retire", any(retire))
        .route("/api/v1/tos/{id}/accept", any(accept))
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

#[utoipa::path(
    post, path = "/api/v1/services", tag = "native",
    request_body(content = Object, description = "JSON object", content_type = "application/json"),
    responses((status = 201, description = "Created", body = Object))
)]
async fn services(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    ctx.allow(&[Method::POST])?;
    require(ctx.view().is_admin())?;
    let body = object(&headers, &bytes)?;
    let name = req_str(&body, "name")?;
    dsg_store::service_accounts::validate_slug("service name", name)
        .map_err(dsg_store::StoreError::from)?;
    let mut tx = state.store.begin(ctx.actor()).await?;
    let id = tx
        .create_service(
            name,
            opt_str(&body, "display_name")?.unwrap_or(""),
            opt_str(&body, "base_url")?.unwrap_or(""),
        )
        .await?;
    commit(&state, tx).await?;
    Ok(created(json!({"id": id, "name": name})))
}

/// Who may create or retire a document with this scope.
fn may_edit(view: &Caller, dataset: Option<&str>) -> bool {
    match dataset {
        Some(d) => view.is_dataset_admin(d),
        None => view.is_admin(),
    }
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

#[utoipa::path(
    post, path = "/api/v1/tos", tag = "native",
    request_body(content = super::bodies::NewTos, content_type = "application/json"),
    responses((status = 201, description = "Created", body = Object))
)]
async fn create_tos(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    ctx.allow(&[Method::POST])?;
    let body = object(&headers, &bytes)?;
    let dataset = opt_str(&body, "dataset")?.filter(|s| !s.is_empty());
    require(may_edit(ctx.view(), dataset))?;
    let version = opt_str(&body, "version")?.filter(|s| !s.is_empty());
    let service = opt_str(&body, "service")?.filter(|s| !s.is_empty());
    let now = state.clock.now();
    let effective_at = instant(&body, "effective_at")?.unwrap_or(now);
    let retired_at = instant(&body, "retired_at")?;
    if retired_at.is_some_and(|r| r <= effective_at) {
        return Err(ApiError::bad_request(
            "retired_at must be after effective_at",
        ));
    }
    let mut tx = state.store.begin(ctx.actor()).await?;
    let dataset_id = match dataset {
        Some(d) => Some(tx.dataset_id(d).await?),
        None => None,
    };
    let version_id = match (version, dataset_id) {
        (Some(v), Some(d)) => Some(tx.version_id(d, v).await?),
        (Some(_), None) => return Err(ApiError::bad_request("a version needs a dataset")),
        (None, _) => None,
    };
    let service_id = match service {
        Some(s) => Some(tx.service_id(s).await?),
        None => None,
    };
    let (id, _) = tx
        .create_tos(&NewTos {
            name: req_str(&body, "name")?.to_owned(),
            text: req_str(&body, "text")?.to_owned(),
            dataset_id,
            version_id,
            service_id,
            effective_at,
            retired_at,
        })
        .await?;
    if let (Some(d), None, None) = (dataset_id, version_id, service_id) {
        tx.set_dataset_tos(d, Some(id)).await?;
    }
    commit(&state, tx).await?;
    let t = state
        .store
        .tos_document(id)
        .await?
        .ok_or_else(|| ApiError::Internal("TOS vanished".into()))?;
    Ok(created(tos_json(&t, now, true)))
}

async fn tos(state: &AppState, id: &str) -> Result<TosRow, ApiError> {
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::not_found("TOS not found"))?;
    state
        .store
        .tos_document(id)
        .await?
        .ok_or_else(|| ApiError::not_found("TOS not found"))
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
    let t = tos(&state, &id).await?;
    let view = ctx.view();
    let show_invite = t
        .dataset
        .as_deref()
        .map_or(view.is_admin(), |d| view.can_manage(d));
    let mut v = tos_json(&t, state.clock.now(), show_invite);
    if let PrincipalRef::User(uid) = ctx.auth().token.principal {
        v["accepted"] = json!(state.store.has_accepted(uid, t.id).await?);
    }
    Ok(Json(v).into_response())
}

#[utoipa::path(
    post, path = "/api/v1/tos/{id}/retire", tag = "native",
    params(("id" = String, Path, description = "TOS id")), request_body(content = Option<Object>, description = "Optional JSON object", content_type = "application/json"),
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
    let t = tos(&state, &id).await?;
    require(may_edit(ctx.view(), t.dataset.as_deref()))?;
    let body = object(&headers, &bytes)?;
    let at = instant(&body, "retired_at")?.unwrap_or_else(|| state.clock.now());
    if at <= t.effective_at {
        return Err(ApiError::bad_request(
            "retired_at must be after effective_at",
        ));
    }
    let mut tx = state.store.begin(ctx.actor()).await?;
    tx.retire_tos(t.id, Some(at)).await?;
    commit(&state, tx).await?;
    Ok(Json(json!({"id": t.id, "retired_at": at.to_rfc3339()})).into_response())
}

/// `next` when it leads back to this server or an allowed host, else `None`.
pub(crate) fn safe_next(state: &AppState, next: &str) -> Option<String> {
    if next.is_empty() {
        return None;
    }
    crate::http::redirect::validate(
        next,
        &state.config.server.origin,
        &state.config.redirect_hosts(),
    )
}

/// The human user behind the request, if any (stale credentials count as anonymous here).
async fn browser_user(
    state: &AppState,
    headers: &HeaderMap,
    uri: &Uri,
    client: Option<ClientIp>,
) -> Option<Authenticated> {
    match state.authenticate(headers, uri.query(), None, client).await {
        Ok(Some(a)) if matches!(a.token.principal, PrincipalRef::User(_)) => Some(a),
        _ => None,
    }
}

async fn render(
    state: &AppState,
    t: &TosRow,
    who: Option<&Authenticated>,
    headers: &HeaderMap,
    page_path: &str,
    next: &str,
) -> Result<Response, ApiError> {
    let accepted = match who.map(|a| a.token.principal) {
        Some(PrincipalRef::User(uid)) => state.store.has_accepted(uid, t.id).await?,
        _ => false,
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
        email: who.map(|a| a.document.info.email.as_str()),
        action: format!("/api/v1/tos/{}/accept", t.id),
        csrf: csrf.value.clone(),
        next: safe_next(state, next).unwrap_or_default(),
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
    let Some(t) = state.store.tos_by_invite(&token).await? else {
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

/// Does this request carry a login cookie (an ambient, CSRF-able credential)?
#[utoipa::path(
    method(get, post), path = "/api/v1/tos/{id}/accept", tag = "native",
    params(("id" = String, Path, description = "TOS id")),
    responses((status = 200, description = "GET: HTML acceptance page; POST: accepted", body = Object),
        (status = 303, description = "POST from the HTML form: back to `next`"))
)]
async fn accept(
    State(state): State<AppState>,
    method: Method,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    client: Option<ClientIp>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    if ![Method::GET, Method::HEAD, Method::POST].contains(&method) {
        return Err(ApiError::method_not_allowed(&method));
    }
    let t = tos(&state, &id).await?;
    if method == Method::GET || method == Method::HEAD {
        let who = browser_user(&state, &headers, &uri, client).await;
        return render(
            &state,
            &t,
            who.as_ref(),
            &headers,
            uri.path(),
            &query_next(&uri),
        )
        .await;
    }
    let auth = state
        .authenticate(&headers, uri.query(), None, client)
        .await?
        .ok_or_else(ApiError::not_provided)?;
    let PrincipalRef::User(user_id) = auth.token.principal else {
        return Err(ApiError::forbidden());
    };
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
        let body = object(&headers, &bytes)?;
        (
            String::new(),
            opt_str(&body, "next")?.unwrap_or("").to_owned(),
        )
    };
    if crate::http::credentials::from_cookie(&headers, &state.config.auth.cookie_names)
        && !csrf::verify(&state, &headers, &csrf)
    {
        return Err(ApiError::Detail(
            StatusCode::FORBIDDEN,
            "CSRF verification failed. Reload the page and try again.".into(),
        ));
    }
    let view = Caller::new(auth.clone(), super::request_id_of(&headers));
    let actor = view.actor();
    let already = match record_acceptance(&state, actor, user_id, &view, &t, None).await? {
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
        let target = safe_next(&state, &next).unwrap_or_else(|| uri.path().to_owned());
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

/// What [`record_acceptance`] did.
pub(crate) enum Recorded {
    /// Newly accepted.
    Accepted,
    /// Accepted before.
    Already,
    /// The document is not in force now.
    NotInForce,
    /// The dataset is invite-only and the user has no access to it.
    Restricted(String),
}

/// Records that a user accepts a document (one rule for the API page and
/// the web pages): documents of invite-only datasets only for people with
/// access to them (a grant or a group permission); accepting a public
/// dataset's own terms grants `view` (self-service). Audited, cache events
/// committed.
pub(crate) async fn record_acceptance(
    state: &AppState,
    actor: Actor,
    user_id: i64,
    view: &Caller,
    t: &TosRow,
    ip: Option<&str>,
) -> Result<Recorded, ApiError> {
    if !t.in_force(state.clock.now()) {
        return Ok(Recorded::NotInForce);
    }
    let public = t.access_mode.as_deref() == Some("public");
    if let (Some(d), Some(dataset_id)) = (t.dataset.as_deref(), t.dataset_id)
        && !public
        && !view.sees(d)
        && !state.store.has_grant_on(user_id, dataset_id).await?
    {
        return Ok(Recorded::Restricted(d.to_owned()));
    }
    let already = state.store.has_accepted(user_id, t.id).await?;
    let mut tx = state.store.begin(actor).await?;
    // Public datasets are self-service: accepting their gate grants `view`.
    if let (true, Some(dataset_id), None, None) = (public, t.dataset_id, &t.version, &t.service)
        && !state.store.has_grant_on(user_id, dataset_id).await?
    {
        tx.create_grant(&NewGrant {
            user_id,
            dataset_id,
            version_id: None,
            permission: "view",
            group_id: None,
            granted_by: None,
            source: "self_service",
            expires_at: None,
        })
        .await?;
    }
    if !already {
        tx.accept_tos(user_id, t.id, ip).await?;
    }
    commit(state, tx).await?;
    Ok(if already {
        Recorded::Already
    } else {
        Recorded::Accepted
    })
}
