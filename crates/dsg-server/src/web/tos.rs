//! Terms-of-service pages: the landing page of an invitation link
//! (`/web/tos/<invite_token>/`), the legacy accept-by-id page
//! (`/web/tos/<id>/accept`) and the service check
//! (`/web/tos/service-check/?service=&dataset=&next=`), which accepts every
//! pending document at once and continues to `next` — only when `next` is on
//! this server or an allowed host (the original's open redirect is closed).
//! Texts are Markdown, rendered and sanitised. Every acceptance goes through
//! `native::tos::record_acceptance`: access check for invite-only datasets,
//! self-service `view` on public ones, audit, cache freshness.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use axum::routing::get;
use dsg_store::tos::TosRow;

use super::{Chrome, Flash, PageError, Posted, Web, WebUser, back, render, render_status};
use crate::native::tos::{Recorded, record_acceptance, safe_next};
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
    next: String,
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
    state
        .store
        .tos_by_invite(key)
        .await?
        .ok_or(PageError::NotFound("terms-of-service link"))
}

async fn by_id(state: &AppState, key: &str) -> Result<TosRow, PageError> {
    let id: i64 = key
        .parse()
        .map_err(|_| PageError::NotFound("terms-of-service document"))?;
    state
        .store
        .tos_document(id)
        .await?
        .ok_or(PageError::NotFound("terms-of-service document"))
}

/// The user cannot accept (or read) documents of an invite-only dataset they have no access to.
async fn restricted(state: &AppState, user: &WebUser, t: &TosRow) -> Result<bool, PageError> {
    Ok(match (t.dataset.as_deref(), t.dataset_id) {
        (Some(d), Some(id)) if t.access_mode.as_deref() != Some("public") => {
            !user.view.sees(d) && !state.store.has_grant_on(user.id, id).await?
        }
        _ => false,
    })
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
            if restricted(state, u, &t).await? {
                let page = RestrictedPage {
                    chrome: web.chrome,
                    dataset: t.dataset.unwrap_or_default(),
                };
                return Ok(render_status(
                    state,
                    &page.chrome,
                    StatusCode::FORBIDDEN,
                    &page,
                ));
            }
            if !t.in_force(state.clock.now()) {
                Offer::NotInForce
            } else if state.store.has_accepted(u.id, t.id).await? {
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

/// Accepts one document and says so; `None` when access is restricted.
async fn accept_one(
    state: &AppState,
    posted: &Posted,
    t: &TosRow,
) -> Result<Option<Flash>, PageError> {
    let u = &posted.user;
    Ok(
        match record_acceptance(state, u.actor(), u.id, &u.view, t, u.client_ip.as_deref()).await? {
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
        },
    )
}

async fn accept_and_go(
    state: &AppState,
    posted: Posted,
    t: TosRow,
    default_target: &str,
) -> Result<Response, PageError> {
    let Some(flash) = accept_one(state, &posted, &t).await? else {
        let page = RestrictedPage {
            chrome: posted.chrome,
            dataset: t.dataset.unwrap_or_default(),
        };
        return Ok(render_status(
            state,
            &page.chrome,
            StatusCode::FORBIDDEN,
            &page,
        ));
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

/// Documents the user still has to accept for (service, dataset): the
/// dataset's gate and the service's documents in force for it.
async fn pending(
    state: &AppState,
    user: &WebUser,
    service: &str,
    dataset: &str,
) -> Result<Vec<TosRow>, PageError> {
    let Some(d) = state.store.dataset_by_name(dataset).await? else {
        return Ok(Vec::new());
    };
    let now = state.clock.now();
    let mut out = Vec::new();
    for (t, gate) in state.store.dataset_tos_documents(d.id).await? {
        let wanted = gate
            || (!service.is_empty()
                && t.service.as_deref() == Some(service)
                && t.version.is_none()
                && t.in_force(now));
        if wanted && !state.store.has_accepted(user.id, t.id).await? {
            out.push(t);
        }
    }
    Ok(out)
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
    let user = &user;
    let (service, dataset, next) = (
        query(&uri, "service"),
        query(&uri, "dataset"),
        query(&uri, "next"),
    );
    let docs = pending(&state, user, &service, &dataset).await?;
    if docs.is_empty() {
        let target = safe_next(&state, &next).unwrap_or_else(|| "/".into());
        return Ok(back(&state, &target, &[]));
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
        next: safe_next(&state, &next).unwrap_or_default(),
    };
    Ok(render(&state, &page.chrome, &page))
}

async fn accept_all(State(state): State<AppState>, posted: Posted) -> Result<Response, PageError> {
    let (service, dataset) = (posted.form.get("service"), posted.form.get("dataset"));
    let docs = pending(&state, &posted.user, service, dataset).await?;
    let mut flashes = Vec::new();
    for t in &docs {
        match accept_one(&state, &posted, t).await? {
            Some(f) => flashes.push(f),
            None => flashes.push(Flash::error(format!(
                "{} is invite-only: ask its administrator for access.",
                t.dataset.as_deref().unwrap_or_default()
            ))),
        }
    }
    let target = safe_next(&state, posted.form.get("next")).unwrap_or_else(|| "/".into());
    Ok(back(&state, &target, &flashes))
}
