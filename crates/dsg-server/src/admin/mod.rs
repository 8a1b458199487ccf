//! The admin console at `/admin/` (spec §11): list (search, filters, sort,
//! paging), view, create, edit and delete for every entity of the data
//! model, all from the descriptions in [`dsg_store::console::model`] — one
//! set of handlers and templates, no page per table. The audit log is
//! read-only here.
//!
//! Access: the normal login (the `dsg_token` cookie, expiry and `is_active`
//! checked by the permission cache) plus the user's global admin flag.
//! Anonymous visitors are sent to `/auth/login?next=…`, other users get a
//! 403 page. Every form posts a CSRF token ([`csrf`]) and passes an `Origin`
//! check; every change goes through the store's write operations, so it is
//! audited and the permission cache is fresh on the next request. Pages
//! carry a CSP without inline script and `X-Frame-Options: DENY`.

mod pages;

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use bytes::Bytes;
use dsg_core::DomainError;
use dsg_store::console::{self, Entity, ListQuery};
use dsg_store::tokens::PrincipalRef;
use dsg_store::write::Actor;

use crate::http::csrf;
use crate::http::forwarded::ClientIp;
use crate::service::{self, authority::Caller};
use crate::state::AppState;

/// The console's stylesheet, served at `/admin/static/admin.css`.
const CSS: &str = include_str!("../../static/admin.css");
/// Progressive enhancement only (local time display, delete confirmation).
const JS: &str = include_str!("../../static/admin.js");

const CSP: &str = "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The admin routes, with the console's security headers.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin", get(|| async { Redirect::permanent("/admin/") }))
        .route("/admin/", get(index))
        .route("/admin/static/admin.css", get(css))
        .route("/admin/static/admin.js", get(js))
        .route("/admin/{entity}/", get(list))
        .route("/admin/{entity}/new", get(new_form).post(create))
        .route("/admin/{entity}/{id}", get(view))
        .route("/admin/{entity}/{id}/edit", get(edit_form).post(update))
        .route("/admin/{entity}/{id}/delete", get(delete_form).post(delete))
        .layer(tower::util::MapResponseLayer::new(headers))
}

fn headers(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(
        HeaderName::from_static("content-security-policy"),
        HeaderValue::from_static(CSP),
    );
    h.insert(
        HeaderName::from_static("x-frame-options"),
        HeaderValue::from_static("DENY"),
    );
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    r
}

async fn css() -> Response {
    static_file(CSS, "text/css; charset=utf-8")
}

async fn js() -> Response {
    static_file(JS, "text/javascript; charset=utf-8")
}

fn static_file(body: &'static str, ct: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, ct),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

/// A response that ends a request early (login redirect, 403, 404, …), boxed
/// so results carrying it stay small.
pub(crate) struct Reject(Box<Response>);

impl From<Response> for Reject {
    fn from(r: Response) -> Self {
        Self(Box::new(r))
    }
}

impl IntoResponse for Reject {
    fn into_response(self) -> Response {
        *self.0
    }
}

/// A signed-in global administrator.
pub(crate) struct Admin {
    user_id: i64,
    email: String,
    request_id: Option<String>,
    csrf: String,
    set_cookie: Option<HeaderValue>,
}

impl Admin {
    fn actor(&self) -> Actor {
        Actor::user(self.user_id, &self.email, self.request_id.clone())
    }

    /// Adds the CSRF cookie when it was just made.
    fn finish(&self, mut r: Response) -> Response {
        if let Some(c) = &self.set_cookie {
            r.headers_mut().append(header::SET_COOKIE, c.clone());
        }
        r
    }
}

/// The admin behind the request, or the response to send instead: a login
/// redirect for anonymous (or stale) credentials, 403 for non-admins.
async fn admin(
    state: &AppState,
    headers: &HeaderMap,
    uri: &Uri,
    client: Option<ClientIp>,
) -> Result<Admin, Reject> {
    let auth = match state.authenticate(headers, uri.query(), None, client).await {
        Ok(Some(a)) => a,
        Ok(None) | Err(crate::error::ApiError::Detail(StatusCode::UNAUTHORIZED, _)) => {
            let here = uri.path_and_query().map_or("/admin/", |p| p.as_str());
            let next: String = url::form_urlencoded::byte_serialize(here.as_bytes()).collect();
            let to = format!("/auth/login?next={next}");
            return Err((StatusCode::FOUND, [(header::LOCATION, to)])
                .into_response()
                .into());
        }
        Err(e) => return Err(e.into_response().into()),
    };
    let PrincipalRef::User(user_id) = auth.token.principal else {
        return Err(pages::denied().into());
    };
    // The document's flag, not only the user's: a read-only token drops it.
    if !service::console::may_use(&Caller::new(auth.clone(), None)) {
        return Err(pages::denied().into());
    }
    let token = csrf::token(headers);
    let set_cookie = if token.fresh {
        csrf::set_cookie(state, &token.value)
    } else {
        None
    };
    let csrf = token.value;
    Ok(Admin {
        user_id,
        email: auth.document.info.email.clone(),
        request_id: crate::http::request_id::request_id_of(headers),
        csrf,
        set_cookie,
    })
}

fn entity_or_404(slug: &str) -> Result<&'static Entity, Reject> {
    console::entity(slug).ok_or_else(|| {
        Reject::from(pages::message(
            StatusCode::NOT_FOUND,
            "Not found",
            "There is no such section in the admin console.",
        ))
    })
}

fn id_or_404(raw: &str) -> Result<i64, Reject> {
    raw.parse::<i64>()
        .ok()
        .filter(|i| *i > 0)
        .ok_or_else(|| Reject::from(pages::no_row()))
}

/// A store failure as an early response.
fn reject(e: dsg_store::StoreError) -> Reject {
    store_error(e).into()
}

fn store_error(e: dsg_store::StoreError) -> Response {
    match DomainError::from(e) {
        DomainError::Internal(cause) => {
            tracing::error!(%cause, "admin console request failed");
            pages::message(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "The cause is in the server log.",
            )
        }
        DomainError::NotFound { kind, id } => pages::message(
            StatusCode::NOT_FOUND,
            "Not found",
            &format!("{kind} not found: {id}"),
        ),
        other => pages::message(
            StatusCode::BAD_REQUEST,
            "Cannot do that",
            &user_message(&other),
        ),
    }
}

/// A domain error in words for the page.
fn user_message(e: &DomainError) -> String {
    match e {
        DomainError::Invalid(m) | DomainError::Conflict(m) | DomainError::Forbidden(m) => {
            let mut m = m.clone();
            if let Some(c) = m.get_mut(0..1) {
                c.make_ascii_uppercase();
            }
            if !m.ends_with('.') {
                m.push('.');
            }
            m
        }
        other => other.to_string(),
    }
}

fn form_map(body: &Bytes) -> BTreeMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

fn query_map(q: Option<&str>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(q.unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

fn csrf_failed() -> Response {
    pages::message(
        StatusCode::FORBIDDEN,
        "Form expired",
        "CSRF verification failed: reload the page and try again.",
    )
}

async fn index(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    client: Option<ClientIp>,
) -> Result<Response, Reject> {
    let a = admin(&state, &headers, &uri, client).await?;
    Ok(a.finish(pages::index(&a.email)))
}

async fn list(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    uri: Uri,
    client: Option<ClientIp>,
) -> Result<Response, Reject> {
    let a = admin(&state, &headers, &uri, client).await?;
    let e = entity_or_404(&slug)?;
    let params = query_map(q.as_deref());
    let mut lq = ListQuery {
        page: 1,
        per_page: 25,
        ..ListQuery::default()
    };
    let mut flash = None;
    for (k, v) in &params {
        match k.as_str() {
            "q" => lq.search = v.clone(),
            "sort" => lq.sort = Some(v.clone()),
            "desc" => lq.desc = v == "1",
            "page" => lq.page = v.parse().unwrap_or(1),
            "per_page" => lq.per_page = v.parse().unwrap_or(25),
            "done" => flash = pages::flash(v),
            k => lq.filters.push((k.to_owned(), v.clone())),
        }
    }
    let page = state.store.console_list(e, &lq).await.map_err(reject)?;
    let mut filter_options = Vec::new();
    for f in e.fields.iter().filter(|f| f.filter) {
        let opts = match f.kind {
            console::Kind::Ref(r) => match console::entity(r) {
                Some(other) => state
                    .store
                    .console_options(other)
                    .await
                    .map(|o| o.into_iter().map(|(i, l)| (i.to_string(), l)).collect()),
                None => Ok(Vec::new()),
            },
            console::Kind::Bool => Ok(vec![
                ("true".into(), "Yes".into()),
                ("false".into(), "No".into()),
            ]),
            console::Kind::Choice(c) => {
                Ok(c.iter().map(|s| (s.to_string(), s.to_string())).collect())
            }
            _ => state
                .store
                .console_distinct(e, f)
                .await
                .map(|v| v.into_iter().map(|s| (s.clone(), s)).collect()),
        };
        filter_options.push((f, opts.map_err(reject)?));
    }
    Ok(a.finish(pages::list(&a.email, e, &lq, &page, &filter_options, flash)))
}

async fn view(
    State(state): State<AppState>,
    Path((slug, id)): Path<(String, String)>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    uri: Uri,
    client: Option<ClientIp>,
) -> Result<Response, Reject> {
    let a = admin(&state, &headers, &uri, client).await?;
    let (e, id) = (entity_or_404(&slug)?, id_or_404(&id)?);
    let row = state
        .store
        .console_get(e, id)
        .await
        .map_err(reject)?
        .ok_or_else(|| Reject::from(pages::no_row()))?;
    let deps = state
        .store
        .console_dependents(e, id)
        .await
        .map_err(reject)?;
    let flash = query_map(q.as_deref())
        .into_iter()
        .find(|(k, _)| k == "done")
        .and_then(|(_, v)| pages::flash(&v));
    Ok(a.finish(pages::view(&a.email, e, &row, &deps, flash)))
}

/// Options of every reference field of the form.
async fn form_options(
    state: &AppState,
    e: &Entity,
) -> Result<BTreeMap<&'static str, Vec<(i64, String)>>, Reject> {
    let mut out = BTreeMap::new();
    for f in e.fields {
        if let console::Kind::Ref(r) = f.kind
            && let Some(other) = console::entity(r)
        {
            out.insert(
                f.name,
                state
                    .store
                    .console_options(other)
                    .await
                    .map_err(|e| Reject::from(store_error(e)))?,
            );
        }
    }
    Ok(out)
}

async fn new_form(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    uri: Uri,
    client: Option<ClientIp>,
) -> Result<Response, Reject> {
    let a = admin(&state, &headers, &uri, client).await?;
    let e = entity_or_404(&slug)?;
    if !e.create {
        return Ok(pages::read_only(e));
    }
    let opts = form_options(&state, e).await?;
    // Prefill from the query (links like "add a membership for this user").
    let mut values: BTreeMap<String, String> = query_map(q.as_deref()).into_iter().collect();
    values
        .entry("is_active".into())
        .or_insert_with(|| "on".into());
    if e.slug == "grants" {
        values
            .entry("source".into())
            .or_insert_with(|| "manual".into());
    }
    if e.slug == "datasets" {
        values
            .entry("access_mode".into())
            .or_insert_with(|| "closed".into());
    }
    let form = pages::FormInput {
        values,
        errors: BTreeMap::new(),
        error: None,
    };
    Ok(a.finish(pages::form(
        &a.email,
        &a.csrf,
        e,
        None,
        &form,
        &opts,
        StatusCode::OK,
    )))
}

async fn create(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    client: Option<ClientIp>,
    body: Bytes,
) -> Result<Response, Reject> {
    let a = admin(&state, &headers, &uri, client).await?;
    let e = entity_or_404(&slug)?;
    if !e.create {
        return Ok(pages::read_only(e));
    }
    let raw = form_map(&body);
    if !csrf::verify(
        &state,
        &headers,
        csrf::submitted(&headers, raw.get(csrf::FIELD).map_or("", String::as_str)),
    ) {
        return Ok(csrf_failed());
    }
    let values = match console::parse_form(e, true, &raw) {
        Ok(v) => v,
        Err(errors) => return render_form(&state, &a, e, None, raw, errors, None).await,
    };
    let result = service::console::create(&state, a.actor(), e, &values).await;
    Ok(match result {
        Ok(c) => match c.secret {
            Some(secret) => a.finish(pages::secret(&a.email, e, c.id, &secret)),
            None => {
                Redirect::to(&format!("/admin/{}/{}?done=created", e.slug, c.id)).into_response()
            }
        },
        Err(err) => match DomainError::from(err) {
            DomainError::Internal(cause) => store_error(DomainError::Internal(cause).into()),
            other => {
                let msg = user_message(&other);
                render_form(&state, &a, e, None, raw, BTreeMap::new(), Some(msg)).await?
            }
        },
    })
}

/// Re-renders a rejected form (422) with the submitted values and the errors.
async fn render_form(
    state: &AppState,
    a: &Admin,
    e: &'static Entity,
    row: Option<&console::ConsoleRow>,
    values: BTreeMap<String, String>,
    errors: console::FieldErrors,
    error: Option<String>,
) -> Result<Response, Reject> {
    let opts = form_options(state, e).await?;
    let form = pages::FormInput {
        values,
        errors,
        error,
    };
    Ok(a.finish(pages::form(
        &a.email,
        &a.csrf,
        e,
        row,
        &form,
        &opts,
        StatusCode::UNPROCESSABLE_ENTITY,
    )))
}

async fn edit_form(
    State(state): State<AppState>,
    Path((slug, id)): Path<(String, String)>,
    headers: HeaderMap,
    uri: Uri,
    client: Option<ClientIp>,
) -> Result<Response, Reject> {
    let a = admin(&state, &headers, &uri, client).await?;
    let (e, id) = (entity_or_404(&slug)?, id_or_404(&id)?);
    if !e.editable() {
        return Ok(pages::read_only(e));
    }
    let row = state
        .store
        .console_get(e, id)
        .await
        .map_err(reject)?
        .ok_or_else(|| Reject::from(pages::no_row()))?;
    let opts = form_options(&state, e).await?;
    let form = pages::FormInput {
        values: pages::row_values(e, &row),
        errors: BTreeMap::new(),
        error: None,
    };
    Ok(a.finish(pages::form(
        &a.email,
        &a.csrf,
        e,
        Some(&row),
        &form,
        &opts,
        StatusCode::OK,
    )))
}

async fn update(
    State(state): State<AppState>,
    Path((slug, id)): Path<(String, String)>,
    headers: HeaderMap,
    uri: Uri,
    client: Option<ClientIp>,
    body: Bytes,
) -> Result<Response, Reject> {
    let a = admin(&state, &headers, &uri, client).await?;
    let (e, id) = (entity_or_404(&slug)?, id_or_404(&id)?);
    if !e.editable() {
        return Ok(pages::read_only(e));
    }
    let raw = form_map(&body);
    if !csrf::verify(
        &state,
        &headers,
        csrf::submitted(&headers, raw.get(csrf::FIELD).map_or("", String::as_str)),
    ) {
        return Ok(csrf_failed());
    }
    let row = state
        .store
        .console_get(e, id)
        .await
        .map_err(reject)?
        .ok_or_else(|| Reject::from(pages::no_row()))?;
    let values = match console::parse_form(e, false, &raw) {
        Ok(v) => v,
        Err(errors) => return render_form(&state, &a, e, Some(&row), raw, errors, None).await,
    };
    let result = service::console::update(&state, a.actor(), e, id, &values).await;
    Ok(match result {
        Ok(changed) => {
            let done = if changed { "saved" } else { "unchanged" };
            Redirect::to(&format!("/admin/{}/{id}?done={done}", e.slug)).into_response()
        }
        Err(err) => match DomainError::from(err) {
            DomainError::Internal(cause) => store_error(DomainError::Internal(cause).into()),
            other => {
                let msg = user_message(&other);
                render_form(&state, &a, e, Some(&row), raw, BTreeMap::new(), Some(msg)).await?
            }
        },
    })
}

async fn delete_form(
    State(state): State<AppState>,
    Path((slug, id)): Path<(String, String)>,
    headers: HeaderMap,
    uri: Uri,
    client: Option<ClientIp>,
) -> Result<Response, Reject> {
    let a = admin(&state, &headers, &uri, client).await?;
    let (e, id) = (entity_or_404(&slug)?, id_or_404(&id)?);
    if !e.delete {
        return Ok(pages::read_only(e));
    }
    let row = state
        .store
        .console_get(e, id)
        .await
        .map_err(reject)?
        .ok_or_else(|| Reject::from(pages::no_row()))?;
    let deps = state
        .store
        .console_dependents(e, id)
        .await
        .map_err(reject)?;
    Ok(a.finish(pages::confirm_delete(&a.email, &a.csrf, e, &row, &deps)))
}

async fn delete(
    State(state): State<AppState>,
    Path((slug, id)): Path<(String, String)>,
    headers: HeaderMap,
    uri: Uri,
    client: Option<ClientIp>,
    body: Bytes,
) -> Result<Response, Reject> {
    let a = admin(&state, &headers, &uri, client).await?;
    let (e, id) = (entity_or_404(&slug)?, id_or_404(&id)?);
    if !e.delete {
        return Ok(pages::read_only(e));
    }
    let raw = form_map(&body);
    if !csrf::verify(
        &state,
        &headers,
        csrf::submitted(&headers, raw.get(csrf::FIELD).map_or("", String::as_str)),
    ) {
        return Ok(csrf_failed());
    }
    let result = service::console::delete(&state, a.actor(), e, id).await;
    Ok(match result {
        Ok(true) => Redirect::to(&format!("/admin/{}/?done=deleted", e.slug)).into_response(),
        Ok(false) => pages::no_row(),
        Err(err) => store_error(err),
    })
}
