//! Terms-of-service pages: the landing page of an invitation link
//! (`/web/tos/<invite_token>/`), the legacy accept-by-id page
//! (`/web/tos/<id>/accept`) and the service check
//! (`/web/tos/service-check/?service=&dataset=&next=`), which accepts every
//! pending document at once and continues to `next` — only when `next` is on
//! this server or an allowed host (the original's open redirect is closed).
//! Texts are Markdown, rendered and sanitised. Every acceptance goes through
//! [`crate::service::tos::accept`]: access check for invite-only datasets,
//! self-service `view` on public ones, audit, cache freshness.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use axum::routing::get;
use dsg_store::tos::TosRow;

use super::{Chrome, Flash, PageError, Posted, Web, back, render, render_status};
use crate::http::redirect::{safe_next, tos_return};
use crate::service::ServiceError;
use crate::service::tos::{self, Recorded};
use crate::state::AppState;

pub(super) fn routes(r: Router<AppState>) -> Router<AppState> {
    r.route(
        "/web/tos/service-check/",
        get(show_service_check).post(accept_all),
    )
    .route("/web/tos/{key}/", get(show_landing).post(accept_landing))
    .route("/web/tos/{key}/accept", get(show_by_id).post(accept_by_id))
}

/// What the page offers under the text.
enum Offer {
    NotInForce,
    Accepted,
    Form,
    Login(String),
}

#[derive(Template)]
#[template(path = "web/tos.html")]
struct TosPage {
    chrome: Chrome,
    name: String,
    dataset: Option<String>,
    public: bool,
    scope: String,
    html: String,
    state: Offer,
    action: String,
}

#[derive(Template)]
#[template(path = "web/tos_restricted.html")]
struct RestrictedPage {
    chrome: Chrome,
    dataset: String,
}

struct Pending {
    name: String,
    dataset: Option<String>,
    service: Option<String>,
    html: String,
}

#[derive(Template)]
#[template(path = "web/service_check.html")]
struct ServiceCheckPage {
    chrome: Chrome,
    pending: Vec<Pending>,
    service: String,
    dataset: String,
    version: String,
    next: String,
}

/// After acceptance, when `next` is not a place the page may return to.
#[derive(Template)]
#[template(path = "web/service_check_done.html")]
struct ServiceCheckDone {
    chrome: Chrome,
    service: String,
}

/// Continues to `next` when allowed (with `flashes`), else ends on the
/// "terms accepted" page (showing them there).
fn finish(
    state: &AppState,
    mut chrome: Chrome,
    service: String,
    next: &str,
    flashes: Vec<Flash>,
) -> Response {
    match tos_return(state, next) {
        Some(target) => back(state, &target, &flashes),
        None => {
            chrome.flashes.extend(flashes);
            let page = ServiceCheckDone { chrome, service };
            render(state, &page.chrome, &page)
        }
    }
}

fn scope(t: &TosRow) -> String {
    let mut parts = Vec::new();
    if let Some(v) = &t.version {
        parts.push(format!("version {v}"));
    }
    if let Some(s) = &t.service {
        parts.push(format!("service {s}"));
    }
    parts.join(" · ")
}

async fn by_invite(state: &AppState, key: &str) -> Result<TosRow, PageError> {
    tos::by_invite(state, key)
        .await?
        .ok_or(PageError::NotFound("terms-of-service link"))
}

async fn by_id(state: &AppState, key: &str) -> Result<TosRow, PageError> {
    tos::document(state, key).await.map_err(|e| match e {
        ServiceError::NotFound(_) => PageError::NotFound("terms-of-service document"),
        e => e.into(),
    })
}

fn restricted_page(state: &AppState, chrome: Chrome, t: TosRow) -> Response {
    let page = RestrictedPage {
        chrome,
        dataset: t.dataset.unwrap_or_default(),
    };
    render_status(state, &page.chrome, StatusCode::FORBIDDEN, &page)
}

async fn page(
    state: &AppState,
    web: Web,
    t: TosRow,
    action: String,
) -> Result<Response, PageError> {
    let st = match &web.user {
        None => Offer::Login(super::login_url(Some(&web.path_and_query))),
        Some(u) => {
            let standing = tos::standing(state, &u.view, &t).await?;
            if standing.restricted {
                return Ok(restricted_page(state, web.chrome, t));
            }
            if !standing.in_force {
                Offer::NotInForce
            } else if standing.accepted {
                Offer::Accepted
            } else {
                Offer::Form
            }
        }
    };
    let page = TosPage {
        chrome: web.chrome,
        scope: scope(&t),
        html: super::markdown::render(&t.text),
        public: t.access_mode.as_deref() == Some("public"),
        name: t.name,
        dataset: t.dataset,
        state: st,
        action,
    };
    Ok(render(state, &page.chrome, &page))
}

async fn show_landing(
    State(state): State<AppState>,
    Path(key): Path<String>,
    web: Web,
) -> Result<Response, PageError> {
    let t = by_invite(&state, &key).await?;
    page(&state, web, t, format!("/web/tos/{key}/")).await
}

async fn show_by_id(
    State(state): State<AppState>,
    Path(key): Path<String>,
    web: Web,
) -> Result<Response, PageError> {
    let t = by_id(&state, &key).await?;
    let action = format!("/web/tos/{}/accept", t.id);
    page(&state, web, t, action).await
}

/// What an acceptance says; `None` when access is restricted.
fn said(t: &TosRow, r: &Recorded) -> Option<Flash> {
    match r {
        Recorded::Accepted => Some(Flash::success(format!("Accepted: {}", t.name))),
        Recorded::Already => Some(Flash::info(format!(
            "You have already accepted: {}",
            t.name
        ))),
        Recorded::NotInForce => Some(Flash::error(format!(
            "{} is not in force and cannot be accepted.",
            t.name
        ))),
        Recorded::Restricted(_) => None,
    }
}

async fn accept_and_go(
    state: &AppState,
    posted: Posted,
    t: TosRow,
    default_target: &str,
) -> Result<Response, PageError> {
    let u = &posted.user;
    let r = tos::accept(state, &u.view, &t, u.client_ip.as_deref()).await?;
    let Some(flash) = said(&t, &r) else {
        return Ok(restricted_page(state, posted.chrome, t));
    };
    let target =
        safe_next(state, posted.form.get("next")).unwrap_or_else(|| default_target.to_owned());
    Ok(back(state, &target, &[flash]))
}

async fn accept_landing(
    State(state): State<AppState>,
    Path(key): Path<String>,
    posted: Posted,
) -> Result<Response, PageError> {
    let t = by_invite(&state, &key).await?;
    accept_and_go(&state, posted, t, "/web/my-account").await
}

async fn accept_by_id(
    State(state): State<AppState>,
    Path(key): Path<String>,
    posted: Posted,
) -> Result<Response, PageError> {
    let t = by_id(&state, &key).await?;
    accept_and_go(&state, posted, t, "/web/datasets").await
}

fn query(uri: &Uri, name: &str) -> String {
    uri.query()
        .and_then(|q| crate::http::credentials::query_param(q, name))
        .unwrap_or_default()
}

async fn show_service_check(
    State(state): State<AppState>,
    web: Web,
    uri: Uri,
) -> Result<Response, PageError> {
    let (user, chrome) = web.split()?;
    let (service, dataset, version, next) = (
        query(&uri, "service"),
        query(&uri, "dataset"),
        query(&uri, "version"),
        query(&uri, "next"),
    );
    let docs = tos::pending(&state, &user.view, &service, &dataset, &version).await?;
    if docs.is_empty() {
        return Ok(finish(&state, chrome, service, &next, Vec::new()));
    }
    let page = ServiceCheckPage {
        pending: docs
            .into_iter()
            .map(|t| Pending {
                html: super::markdown::render(&t.text),
                name: t.name,
                dataset: t.dataset,
                service: t.service,
            })
            .collect(),
        chrome,
        service,
        dataset,
        version,
        next: tos_return(&state, &next).unwrap_or_default(),
    };
    Ok(render(&state, &page.chrome, &page))
}

async fn accept_all(
    State(state): State<AppState>,
    web: Web,
    posted: Posted,
) -> Result<Response, PageError> {
    let (service, dataset, version) = (
        posted.form.get("service"),
        posted.form.get("dataset"),
        posted.form.get("version"),
    );
    let u = &posted.user;
    let done = tos::accept_pending(
        &state,
        &u.view,
        service,
        dataset,
        version,
        u.client_ip.as_deref(),
    )
    .await?;
    let flashes: Vec<Flash> = done
        .iter()
        .map(|(t, r)| {
            said(t, r).unwrap_or_else(|| {
                Flash::error(format!(
                    "{} is invite-only: ask its administrator for access.",
                    t.dataset.as_deref().unwrap_or_default()
                ))
            })
        })
        .collect();
    let (_, chrome) = web.split()?;
    Ok(finish(
        &state,
        chrome,
        service.to_owned(),
        posted.form.get("next"),
        flashes,
    ))
}
