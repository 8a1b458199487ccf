//! The web UI for people (spec §10): datasets, terms of service, my account
//! and tokens, dataset members and admins, service tables and public roots,
//! group dashboards, service accounts, the access-request inbox and the
//! explain-access view. Server-rendered askama pages, with vendored htmx for
//! small in-page updates; nothing is fetched from the internet.
//!
//! What every page shares lives here: the identity of the visitor (the login
//! cookie, checked for expiry and `is_active` like any token — spec §3.4's
//! bug fixed), the page chrome (nav, flash messages, CSRF token), the error
//! pages (302 to the login for anonymous visitors, 404 before 403, 403
//! "Access Denied"), form parsing with CSRF and `Origin` checks, the
//! security headers of HTML pages, pagination and dates. Authority is the
//! use-case layer's ([`crate::service::authority::Caller`]), so a page never allows
//! more than the API does. Every change is a use case of [`crate::service`]
//! (authority, audit and cache events there); the pages translate forms
//! into those calls and their outcomes into flash messages.
//!
//! Not here: the `/admin/` console, the ngauth pages, login and logout.

mod account;
mod assets;
mod audit;

mod dataset_admins;
mod datasets;
mod explain;
mod flash;
mod grants;
mod group;
pub mod markdown;
mod public_roots;
mod requests;
mod reveal;
mod service_accounts;
mod tos;
mod tos_page;

use crate::http::csrf;
use askama::Template;
use axum::Router;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use dsg_core::{DomainError, Timestamp};
use dsg_store::StoreError;
use dsg_store::tokens::PrincipalRef;

pub(crate) use self::flash::Flash;
use crate::cache::Authenticated;
use crate::error::ApiError;
use crate::idp::LoginChoice;
use crate::service::authority::Caller;
use crate::service::{Invalid, ServiceError};
use crate::state::AppState;

/// Rows per page on long lists.
pub(crate) const PAGE_SIZE: usize = 50;

/// Content-Security-Policy of every web page: no inline script or style.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

/// Registers the `/web/*` pages and `/static/*` assets.
pub fn routes(state: &AppState) -> Router<AppState> {
    let r = Router::new();
    let r = datasets::routes(r);
    let r = tos::routes(r);
    let r = tos_page::routes(r);
    let r = account::routes(r);
    let r = grants::routes(r);
    let r = dataset_admins::routes(r);
    let r = public_roots::routes(r);
    let r = group::routes(r);
    let r = service_accounts::routes(r);
    let r = requests::routes(r);
    let r = audit::routes(r);
    let r = explain::routes(r).route_layer(axum::middleware::from_fn_with_state(
        state.clone(),
        with_visitor,
    ));
    assets::routes(r)
}

/// The OpenAPI description of the pages served under the API's paths (the
/// terms-of-service page).
pub(crate) fn openapi() -> utoipa::openapi::OpenApi {
    tos_page::openapi()
}

/// The signed-in person behind a page request.
pub(crate) struct WebUser {
    /// User id.
    pub id: i64,
    /// E-mail.
    pub email: String,
    /// The caller: what the login token allows.
    pub view: Caller,
    /// The authentication (document, token).
    pub auth: Authenticated,
    /// The client's address ([`crate::http::forwarded`]), recorded with TOS acceptances.
    pub client_ip: Option<String>,
}

/// The login cookie's user: expired or revoked tokens, disabled users and
/// service accounts count as anonymous.
async fn web_user(state: &AppState, parts: &Parts) -> Option<WebUser> {
    let client = parts
        .extensions
        .get::<crate::http::forwarded::ClientIp>()
        .copied();
    let request_id = parts
        .extensions
        .get::<crate::http::request_id::RequestId>()
        .map(|r| r.0.clone());
    visitor(state, &parts.headers, client, request_id).await
}

/// [`web_user`] from the request's headers, client address and request id.
async fn visitor(
    state: &AppState,
    headers: &HeaderMap,
    client: Option<crate::http::forwarded::ClientIp>,
    request_id: Option<String>,
) -> Option<WebUser> {
    let token = state
        .config
        .auth
        .cookie_names
        .iter()
        .find_map(|n| crate::http::credentials::cookie(headers, n))?;
    let auth = state.authenticate_token(&token, None, client).await.ok()?;
    let PrincipalRef::User(id) = auth.token.principal else {
        return None;
    };
    // A key a registered web client received is never a web login (spec 9.2).
    if auth.token.scope.delegated {
        return None;
    }
    Some(WebUser {
        id,
        email: auth.document.info.email.clone(),
        view: Caller::new(auth.clone(), request_id),
        auth,
        client_ip: client.map(|c| c.0.to_string()),
    })
}

/// What the layout shows around every page.
pub(crate) struct Chrome {
    /// Signed-in e-mail.
    pub email: Option<String>,
    /// Global admin (shows "Service Accounts").
    pub admin: bool,
    /// CSRF token for forms and the htmx header.
    pub csrf: String,
    /// Messages for the top of the page.
    pub flashes: Vec<Flash>,
    /// The login buttons (configured providers), for visitors not signed in.
    pub logins: Vec<LoginChoice>,
    field_errors: Vec<Flash>,
    /// Values typed into a refused form ([`Flash::kept`]).
    kept: Vec<Flash>,
    csrf_fresh: bool,
    had_flash: bool,
}

impl Chrome {
    /// The error message for a form field, shown next to it.
    pub fn field_error(&self, field: &str) -> Option<&str> {
        self.field_errors
            .iter()
            .find(|f| f.field.as_deref() == Some(field))
            .map(|f| f.text.as_str())
    }

    /// What was typed into `field` before a refused post ("" when nothing).
    pub fn kept(&self, field: &str) -> &str {
        self.kept
            .iter()
            .find(|f| f.field.as_deref() == Some(field))
            .map_or("", |f| f.text.as_str())
    }

    /// `aria-describedby` value linking a field to its error, or "".
    pub fn described(&self, field: &str) -> String {
        if self.field_error(field).is_some() {
            format!("{field}-error")
        } else {
            String::new()
        }
    }
}

/// A page request: the visitor (if signed in), the chrome, the path.
pub(crate) struct Web {
    /// Signed-in user.
    pub user: Option<WebUser>,
    /// Layout data.
    pub chrome: Chrome,
    /// Path and query (for the login `next`).
    pub path_and_query: String,
}

impl Web {
    /// The user and the chrome, or a redirect to the login that comes back here.
    pub fn split(self) -> Result<(WebUser, Chrome), PageError> {
        match self.user {
            Some(u) => Ok((u, self.chrome)),
            None => Err(PageError::Login(login_url(Some(&self.path_and_query)))),
        }
    }
}

/// `/auth/login`, with `next` when given.
pub(crate) fn login_url(next: Option<&str>) -> String {
    match next {
        Some(n) => format!(
            "/auth/login?next={}",
            url::form_urlencoded::byte_serialize(n.as_bytes()).collect::<String>()
        ),
        None => "/auth/login".into(),
    }
}

fn chrome(state: &AppState, headers: &HeaderMap, user: Option<&WebUser>) -> Chrome {
    let token = csrf::token(headers);
    let all = flash::read(state, headers);
    let had_flash = !all.is_empty();
    let (kept, all): (Vec<Flash>, Vec<Flash>) = all.into_iter().partition(|f| f.level == "kept");
    let (field_errors, flashes) = all.into_iter().partition(|f| f.field.is_some());
    Chrome {
        email: user.map(|u| u.email.clone()),
        admin: user.is_some_and(|u| u.view.is_admin()),
        csrf: token.value,
        flashes,
        logins: state.idp.login_choices(),
        field_errors,
        kept,
        csrf_fresh: token.fresh,
        had_flash,
    }
}

impl FromRequestParts<AppState> for Web {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        let user = web_user(state, parts).await;
        let chrome = chrome(state, &parts.headers, user.as_ref());
        Ok(Self {
            user,
            chrome,
            path_and_query: parts
                .uri
                .path_and_query()
                .map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned()),
        })
    }
}

/// Fields of a submitted form.
#[derive(Debug, Default)]
pub(crate) struct Form(Vec<(String, String)>);

impl Form {
    /// Parses `application/x-www-form-urlencoded`.
    pub fn parse(bytes: &[u8]) -> Self {
        Self(url::form_urlencoded::parse(bytes).into_owned().collect())
    }

    /// A field, trimmed ("" when absent).
    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.trim())
    }

    /// Every non-empty value of a repeated field.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, v)| k == name && !v.trim().is_empty())
            .map(|(_, v)| v.trim())
            .collect()
    }

    /// A numeric id field.
    pub fn id(&self, name: &str) -> Option<i64> {
        self.get(name).parse().ok()
    }

    /// An optional date or time field; `Err` with a message when malformed.
    pub fn instant(&self, name: &str) -> Result<Option<Timestamp>, String> {
        let v = self.get(name);
        if v.is_empty() {
            return Ok(None);
        }
        Timestamp::parse(v)
            .map(Some)
            .ok_or_else(|| "Enter a date such as 2026-06-01.".to_owned())
    }
}

/// A form post by a signed-in user that passed the CSRF and `Origin` checks.
pub(crate) struct Posted {
    /// The user.
    pub user: WebUser,
    /// The fields.
    pub form: Form,
    /// Layout data (for posts that answer with a page).
    pub chrome: Chrome,
}

impl FromRequest<AppState> for Posted {
    type Rejection = PageError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, PageError> {
        let (parts, body) = req.into_parts();
        // Anonymous posts go to the login first (spec §5.6), before anything is checked.
        let user = web_user(state, &parts)
            .await
            .ok_or_else(|| PageError::Login(login_url(None)))?;
        let form_type = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
        let limit = state.config.server.max_body_bytes;
        let bytes = axum::body::to_bytes(body, limit)
            .await
            .map_err(|_| PageError::Invalid("The form is too large.".into()))?;
        let form = if form_type {
            Form::parse(&bytes)
        } else {
            Form::default()
        };
        let submitted = csrf::submitted(&parts.headers, form.get(csrf::FIELD));
        if !csrf::verify(state, &parts.headers, submitted) {
            return Err(PageError::Csrf);
        }
        let chrome = chrome(state, &parts.headers, Some(&user));
        Ok(Self { user, form, chrome })
    }
}

/// Why a page could not be shown.
#[derive(Debug)]
pub(crate) enum PageError {
    /// Not signed in: 302 to this login URL.
    Login(String),
    /// 403 Access Denied.
    Denied,
    /// 404, naming what was not found.
    NotFound(&'static str),
    /// 400 with a message.
    Invalid(String),
    /// 403: the CSRF token or `Origin` did not match.
    Csrf,
    /// 429 with `Retry-After`: a rate limit ([`crate::rate_limit`]).
    TooManyRequests(u64),
    /// 500, cause logged.
    Internal(String),
}

impl From<crate::rate_limit::Limited> for PageError {
    fn from(l: crate::rate_limit::Limited) -> Self {
        Self::TooManyRequests(l.retry_after)
    }
}

impl From<StoreError> for PageError {
    fn from(e: StoreError) -> Self {
        match DomainError::from(e) {
            DomainError::NotFound { .. } => Self::NotFound("page"),
            DomainError::Conflict(m) | DomainError::Invalid(m) => Self::Invalid(m),
            DomainError::Forbidden(_) => Self::Denied,
            DomainError::Internal(e) => Self::Internal(e.to_string()),
        }
    }
}

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::Detail(s, m) | ApiError::Error(s, m) => match s {
                StatusCode::FORBIDDEN => Self::Denied,
                StatusCode::NOT_FOUND => Self::NotFound("page"),
                StatusCode::UNAUTHORIZED => Self::Login(login_url(None)),
                _ if s.is_client_error() => Self::Invalid(m),
                _ => Self::Internal(m),
            },
            ApiError::TooManyRequests { retry_after } => Self::TooManyRequests(retry_after),
            ApiError::Internal(m) => Self::Internal(m),
        }
    }
}

#[derive(Template)]
#[template(path = "web/error.html")]
struct ErrorPage<'a> {
    chrome: Chrome,
    heading: &'a str,
    message: &'a str,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, heading, message) = match &self {
            Self::Login(url) => {
                let mut r = StatusCode::FOUND.into_response();
                if let Ok(v) = HeaderValue::from_str(url) {
                    r.headers_mut().insert(header::LOCATION, v);
                }
                return r;
            }
            Self::Denied => (
                StatusCode::FORBIDDEN,
                "Access Denied",
                "You do not have permission for this. Ask a manager of the dataset (or a global admin) if you need it.".to_owned(),
            ),
            Self::NotFound(what) => (
                StatusCode::NOT_FOUND,
                "Not Found",
                format!("This {what} does not exist."),
            ),
            Self::Invalid(m) => (StatusCode::BAD_REQUEST, "Bad Request", m.clone()),
            Self::Csrf => (
                StatusCode::FORBIDDEN,
                "Request Refused",
                "CSRF verification failed. Reload the page and try again.".to_owned(),
            ),
            Self::TooManyRequests(secs) => (
                StatusCode::TOO_MANY_REQUESTS,
                "Too Many Requests",
                format!("Too many requests; try again in {secs} s."),
            ),
            Self::Internal(cause) => {
                tracing::error!(%cause, "web page failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Server Error",
                    "Something went wrong; the cause is in the server log.".to_owned(),
                )
            }
        };
        let chrome = Chrome {
            email: None,
            admin: false,
            csrf: String::new(),
            flashes: Vec::new(),
            logins: Vec::new(),
            field_errors: Vec::new(),
            kept: Vec::new(),
            csrf_fresh: false,
            had_flash: false,
        };
        let body = ErrorPage {
            chrome,
            heading,
            message: &message,
        }
        .render()
        .unwrap_or_else(|_| message.clone());
        let mut r = (status, axum::response::Html(body)).into_response();
        html_headers(&mut r);
        // [`with_visitor`] renders it again with the visitor's top bar.
        r.extensions_mut().insert(Shown { heading, message });
        if let Self::TooManyRequests(secs) = self {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        r
    }
}

/// What an error page said, kept on its response so that [`with_visitor`]
/// can render it again inside the visitor's own top bar (signed in or not,
/// with the configured login buttons).
#[derive(Debug, Clone)]
struct Shown {
    heading: &'static str,
    message: String,
}

/// Middleware of the web pages: an error page (from [`PageError`]) is
/// rendered again with the visitor's chrome; nothing else is touched.
pub(crate) async fn with_visitor(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: Request,
    next: axum::middleware::Next,
) -> Response {
    let headers = req.headers().clone();
    let client = req
        .extensions()
        .get::<crate::http::forwarded::ClientIp>()
        .copied();
    let mut r = next.run(req).await;
    let Some(shown) = r.extensions_mut().remove::<Shown>() else {
        return r;
    };
    let retry_after = r.headers().get(header::RETRY_AFTER).cloned();
    if headers.contains_key("hx-request") {
        return refusal_fragment(r.status(), &shown, retry_after);
    }
    error_page(&state, &headers, client, r.status(), shown, retry_after).await
}

#[derive(Template)]
#[template(
    source = r#"<div class="alert alert-error" role="alert"><strong>{{ heading }}.</strong> {{ message }}</div>"#,
    ext = "html"
)]
struct RefusalFragment<'a> {
    heading: &'a str,
    message: &'a str,
}

/// An error for an htmx request: a short alert that replaces the content of
/// the request's target (`HX-Reswap`/`HX-Reselect`; `static/dsg.js` lets
/// htmx swap error statuses), so a refused request never leaves the
/// previous answer standing.
fn refusal_fragment(
    status: StatusCode,
    shown: &Shown,
    retry_after: Option<HeaderValue>,
) -> Response {
    let body = RefusalFragment {
        heading: shown.heading,
        message: &shown.message,
    }
    .render()
    .unwrap_or_default();
    let mut r = (status, axum::response::Html(body)).into_response();
    html_headers(&mut r);
    let h = r.headers_mut();
    h.insert("hx-reswap", HeaderValue::from_static("innerHTML"));
    h.insert("hx-reselect", HeaderValue::from_static(".alert"));
    if let Some(v) = retry_after {
        h.insert(header::RETRY_AFTER, v);
    }
    r
}

/// An error page inside the visitor's top bar.
async fn error_page(
    state: &AppState,
    headers: &HeaderMap,
    client: Option<crate::http::forwarded::ClientIp>,
    status: StatusCode,
    shown: Shown,
    retry_after: Option<HeaderValue>,
) -> Response {
    let user = visitor(state, headers, client, None).await;
    let mut chrome = chrome(state, headers, user.as_ref());
    // Messages wait for the next real page.
    chrome.flashes.clear();
    chrome.had_flash = false;
    let page = ErrorPage {
        heading: shown.heading,
        message: &shown.message,
        chrome,
    };
    let mut r = render_status(state, &page.chrome, status, &page);
    if let Some(v) = retry_after {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

/// The 404 page for a path under `/web/` or `/admin/` that does not exist.
pub(crate) async fn not_found(state: &AppState, req: Request) -> Response {
    let client = req
        .extensions()
        .get::<crate::http::forwarded::ClientIp>()
        .copied();
    let shown = Shown {
        heading: "Not Found",
        message: "There is no page at this address.".into(),
    };
    error_page(
        state,
        req.headers(),
        client,
        StatusCode::NOT_FOUND,
        shown,
        None,
    )
    .await
}

/// Headers of every HTML page of the web UI.
fn html_headers(r: &mut Response) {
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
}

/// Renders a page (200) with its chrome's cookies and the security headers.
pub(crate) fn render(state: &AppState, chrome: &Chrome, page: &impl Template) -> Response {
    render_status(state, chrome, StatusCode::OK, page)
}

/// Renders a page with a status.
pub(crate) fn render_status(
    state: &AppState,
    chrome: &Chrome,
    status: StatusCode,
    page: &impl Template,
) -> Response {
    let body = match page.render() {
        Ok(b) => b,
        Err(e) => return PageError::Internal(format!("rendering a page: {e}")).into_response(),
    };
    let mut r = (status, axum::response::Html(body)).into_response();
    html_headers(&mut r);
    if chrome.csrf_fresh
        && let Some(c) = csrf::set_cookie(state, &chrome.csrf)
    {
        r.headers_mut().append(header::SET_COOKIE, c);
    }
    if chrome.had_flash {
        r.headers_mut()
            .append(header::SET_COOKIE, flash::clear(state));
    }
    r
}

/// As [`back`]; when a message is an error, the listed fields' values go
/// along ([`Flash::kept`]) so the refused form comes back filled in.
pub(crate) fn back_keeping(
    state: &AppState,
    path: &str,
    flashes: &[Flash],
    form: &Form,
    fields: &[&str],
) -> Response {
    let mut all = flashes.to_vec();
    if flashes.iter().any(|f| f.level == "error") {
        all.extend(fields.iter().map(|f| Flash::kept(f, form.get(f))));
    }
    back(state, path, &all)
}

/// 302 to `path` carrying flash messages (the end of every form post).
pub(crate) fn back(state: &AppState, path: &str, flashes: &[Flash]) -> Response {
    let mut r = StatusCode::FOUND.into_response();
    if let Ok(v) = HeaderValue::from_str(path) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    if let Some(c) = flash::set(state, flashes) {
        r.headers_mut().append(header::SET_COOKIE, c);
    }
    r
}

/// A time for `<time datetime=…>`: machine form and the UTC text people
/// read ([`Timestamp::utc_text`]; `static/dsg.js` adds the reader's local
/// time as a tooltip, never in place of it).
#[derive(Debug, Clone)]
pub(crate) struct Stamp {
    /// RFC 3339.
    pub iso: String,
    /// `2026-06-01 12:00 UTC`.
    pub text: String,
}

impl Stamp {
    /// From a timestamp.
    pub fn of(t: Timestamp) -> Self {
        Self {
            iso: t.to_rfc3339(),
            text: t.utc_text(),
        }
    }

    /// Optional timestamp.
    pub fn opt(t: Option<Timestamp>) -> Option<Self> {
        t.map(Self::of)
    }
}

/// One page of a long list, with links to its neighbours.
#[derive(Debug, Clone)]
pub(crate) struct Pager {
    /// 1-based page number.
    pub page: usize,
    /// Number of pages.
    pub pages: usize,
    /// Link to the previous page.
    pub prev: Option<String>,
    /// Link to the next page.
    pub next: Option<String>,
}

/// The requested page number (`?page=`), 1 when absent or bad.
pub(crate) fn page_number(query: Option<&str>) -> usize {
    query
        .and_then(|q| crate::http::credentials::query_param(q, "page"))
        .and_then(|p| p.parse().ok())
        .filter(|p| *p >= 1)
        .unwrap_or(1)
}

/// Cuts `items` to page `page`; `base` is the page's path (with a `?` query or not).
pub(crate) fn paginate<T>(items: Vec<T>, page: usize, base: &str) -> (Vec<T>, Pager) {
    let pages = items.len().div_ceil(PAGE_SIZE).max(1);
    let page = page.min(pages);
    let sep = if base.contains('?') { '&' } else { '?' };
    let link = |p: usize| format!("{base}{sep}page={p}");
    let items = items
        .into_iter()
        .skip((page - 1) * PAGE_SIZE)
        .take(PAGE_SIZE)
        .collect();
    (
        items,
        Pager {
            page,
            pages,
            prev: (page > 1).then(|| link(page - 1)),
            next: (page < pages).then(|| link(page + 1)),
        },
    )
}

/// Looks a dataset up by name; 404 page when unknown (before any authority check).
pub(crate) async fn dataset(
    state: &AppState,
    name: &str,
) -> Result<dsg_store::datasets::DatasetRow, PageError> {
    state
        .store
        .dataset_by_name(name)
        .await?
        .ok_or(PageError::NotFound("dataset"))
}

/// The permission a form names, by name or by the original's numeric id.
pub(crate) async fn permission_of(
    state: &AppState,
    value: &str,
) -> Result<Option<String>, PageError> {
    if let Ok(id) = value.parse::<i64>() {
        return Ok(state.store.permission_name(id).await?);
    }
    Ok(dsg_core::Level::parse(value).map(|_| value.to_owned()))
}

/// A version of this dataset named by id or by name (versions of other
/// datasets are refused — spec §18).
pub(crate) async fn version_of(
    state: &AppState,
    dataset_id: i64,
    value: &str,
) -> Result<Result<Option<i64>, ()>, PageError> {
    if value.is_empty() {
        return Ok(Ok(None));
    }
    let versions = state.store.dataset_versions(dataset_id).await?;
    Ok(versions
        .iter()
        .find(|v| v.id.to_string() == value || v.version == value)
        .map(|v| Some(v.id))
        .ok_or(()))
}

/// A store error as a flash message (conflicts and bad input), or the page error.
pub(crate) fn flash_error(e: StoreError, field: Option<&str>) -> Result<Flash, PageError> {
    match DomainError::from(e) {
        DomainError::NotFound { kind, id } => Ok(Flash::field_error(
            field,
            format!("{} not found: {id}", capitalise(&kind.to_string())),
        )),
        DomainError::Conflict(m) | DomainError::Invalid(m) => Ok(Flash::field_error(field, m)),
        DomainError::Forbidden(_) => Err(PageError::Denied),
        DomainError::Internal(e) => Err(PageError::Internal(e.to_string())),
    }
}

/// A use case's refusal as a flash message a person can act on (a field
/// error next to the field it concerns), or the page error.
pub(crate) fn service_flash(e: ServiceError) -> Result<Flash, PageError> {
    match e {
        ServiceError::Forbidden(None) => Err(PageError::Denied),
        ServiceError::Forbidden(Some(m)) | ServiceError::Conflict(m) => Ok(Flash::error(m)),
        ServiceError::NotFound(what) => Ok(Flash::error(what)),
        ServiceError::LevelOutOfReach { level, .. } => Ok(Flash::field_error(
            Some("permission"),
            format!("You cannot grant {level} permission"),
        )),
        ServiceError::OwnGrant => Ok(Flash::error("You cannot change your own grants")),
        ServiceError::Invalid(Invalid::NotInFuture { field }) => Ok(Flash::field_error(
            Some(field),
            "The expiry date must be in the future.",
        )),
        ServiceError::Invalid(Invalid::TooLong { field, max }) => Ok(Flash::field_error(
            Some(field),
            format!("The {field} is longer than {max} characters."),
        )),
        ServiceError::Invalid(Invalid::Rule { field, message }) => {
            Ok(Flash::field_error(field, message))
        }
        ServiceError::Limited(l) => Err(l.into()),
        ServiceError::Store(e) => flash_error(e, None),
    }
}

impl From<ServiceError> for PageError {
    fn from(e: ServiceError) -> Self {
        match service_flash(e) {
            Ok(f) => Self::Invalid(f.text),
            Err(p) => p,
        }
    }
}

/// True for a uniqueness conflict ("already exists").
pub(crate) fn conflict(e: &StoreError) -> bool {
    e.is_unique_violation() || matches!(e, StoreError::Domain(DomainError::Conflict(_)))
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pagination_links_and_bounds() {
        let (items, p) = paginate((0..120).collect::<Vec<_>>(), 2, "/web/x?group=a");
        assert_eq!(items.len(), 50);
        assert_eq!(items[0], 50);
        assert_eq!(p.prev.as_deref(), Some("/web/x?group=a&page=1"));
        assert_eq!(p.next.as_deref(), Some("/web/x?group=a&page=3"));
        let (items, p) = paginate((0..3).collect::<Vec<_>>(), 9, "/web/x");
        assert_eq!((items.len(), p.page, p.pages), (3, 1, 1));
        assert!(p.prev.is_none() && p.next.is_none());
    }

    #[test]
    fn form_fields_are_trimmed_and_repeatable() {
        let f = Form::parse(b"email=+a%40b.org+&datasets=x&datasets=&datasets=y&n=12");
        assert_eq!(f.get("email"), "a@b.org");
        assert_eq!(f.all("datasets"), vec!["x", "y"]);
        assert_eq!(f.id("n"), Some(12));
        assert_eq!(f.get("missing"), "");
    }
}
