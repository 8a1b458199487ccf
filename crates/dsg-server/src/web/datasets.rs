//! `/web/datasets`: what I can see (from grants *and* groups — the
//! original's direct-grant-only list is a bug), public datasets I can serve
//! myself (through their TOS landing page, or at once when they have no
//! TOS), and invite-only datasets I can ask for with an access request.
//! POST `action=request_access` (`dataset`, `permission`, `message`) or
//! `action=self_serve` (`dataset`).

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use dsg_core::permissions::version_order;

use super::{Chrome, Flash, PageError, Posted, Web, WebUser, back, render, service_flash};
use crate::service::ServiceError;
use crate::service::access_requests::{self, NewRequest};
use crate::service::datasets::{self, SelfServe};
use crate::state::AppState;

const PATH: &str = "/web/datasets";

pub(super) fn routes(r: Router<AppState>) -> Router<AppState> {
    r.route(PATH, get(show_datasets).post(act))
}

/// One TOS line of a card.
struct TosLine {
    name: String,
    service: Option<String>,
    accepted: bool,
    path: String,
    absolute: String,
}

struct VersionLine {
    version: String,
    branch: String,
    ordinal: String,
    buckets: String,
    public: bool,
}

/// A service's name for the dataset or one of its versions.
struct TranslationLine {
    service: String,
    client: String,
    version: String,
}

struct Card {
    name: String,
    description: String,
    level: String,
    public: bool,
    tos: Vec<TosLine>,
    versions: Vec<VersionLine>,
    /// Shown to those who manage the dataset.
    translations: Vec<TranslationLine>,
    can_manage: bool,
    may_appoint: bool,
    /// A public dataset without a TOS: one button gives view access.
    self_serve: bool,
}

struct Requestable {
    name: String,
    description: String,
    pending: Vec<String>,
}

#[derive(Template)]
#[template(path = "web/datasets.html")]
struct DatasetsPage {
    chrome: Chrome,
    mine: Vec<Card>,
    public: Vec<Card>,
    closed: Vec<Requestable>,
}

async fn card(
    state: &AppState,
    user: &WebUser,
    origin: &str,
    d: &dsg_store::datasets::DatasetRow,
) -> Result<Card, PageError> {
    let mut tos = Vec::new();
    for (t, _) in state.store.dataset_tos_documents(d.id).await? {
        if !t.in_force(state.clock.now()) {
            continue;
        }
        let path = format!("/web/tos/{}/", t.invite_token);
        tos.push(TosLine {
            accepted: state.store.has_accepted(user.id, t.id).await?,
            absolute: format!("{origin}{path}"),
            path,
            name: t.name,
            service: t.service,
        });
    }
    let mut rows = state.store.dataset_versions(d.id).await?;
    // By branch, then ordinal (unordered last), then name: the order
    // ordinals reach in.
    rows.sort_by(|a, b| {
        version_order(&a.branch, a.ordinal, &a.version)
            .cmp(&version_order(&b.branch, b.ordinal, &b.version))
    });
    let versions = rows
        .into_iter()
        .map(|v| VersionLine {
            version: v.version,
            branch: v.branch,
            ordinal: v.ordinal.map(|o| o.to_string()).unwrap_or_default(),
            buckets: v.buckets.join(", "),
            public: v.is_public,
        })
        .collect();
    let v = &user.view;
    let translations = if v.can_manage(&d.name) {
        state
            .store
            .dataset_translations(d.id)
            .await?
            .into_iter()
            .map(|t| TranslationLine {
                service: t.service,
                client: match &t.client_version {
                    Some(cv) => format!("{} : {cv}", t.client_name),
                    None => t.client_name,
                },
                version: t.version.unwrap_or_else(|| "(the dataset)".into()),
            })
            .collect()
    } else {
        Vec::new()
    };
    let level = dsg_core::Level::ALL
        .iter()
        .rev()
        .find(|l| l.number() <= v.level(&d.name) && l.number() > 0)
        .map_or_else(
            || {
                if v.sees(&d.name) {
                    "some versions".to_owned()
                } else {
                    String::new()
                }
            },
            |l| l.as_str().to_owned(),
        );
    let public = d.access_mode == "public";
    Ok(Card {
        self_serve: public && !d.has_tos && !v.sees(&d.name),
        can_manage: v.can_manage(&d.name),
        may_appoint: v.may_handle_level(&state.config.access, &d.name, "admin"),
        name: d.name.clone(),
        description: d.description.clone(),
        level,
        public,
        tos,
        versions,
        translations,
    })
}

async fn show_datasets(
    State(state): State<AppState>,
    web: Web,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let (user, chrome) = web.split()?;
    let user = &user;
    let origin = crate::http::origin::public_origin(&state, &headers).unwrap_or_default();
    let pending = state
        .store
        .access_requests(None, Some(user.id), Some("pending"))
        .await?;
    let (mut mine, mut public, mut closed) = (Vec::new(), Vec::new(), Vec::new());
    for d in state.store.all_datasets().await? {
        if user.view.sees(&d.name) {
            mine.push(card(&state, user, &origin, &d).await?);
        } else if d.access_mode == "public" {
            public.push(card(&state, user, &origin, &d).await?);
        } else {
            closed.push(Requestable {
                pending: pending
                    .iter()
                    .filter(|r| r.dataset_id == d.id)
                    .map(|r| r.permission.clone())
                    .collect(),
                name: d.name,
                description: d.description,
            });
        }
    }
    let page = DatasetsPage {
        chrome,
        mine,
        public,
        closed,
    };
    Ok(render(&state, &page.chrome, &page))
}

async fn act(State(state): State<AppState>, posted: Posted) -> Result<Response, PageError> {
    let Posted { user, form, .. } = posted;
    let flash = match form.get("action") {
        "request_access" => request_access(&state, &user, &form).await?,
        "self_serve" => self_serve(&state, &user, &form).await?,
        _ => Flash::error("Unknown action."),
    };
    Ok(back(&state, PATH, &[flash]))
}

async fn request_access(
    state: &AppState,
    user: &WebUser,
    form: &super::Form,
) -> Result<Flash, PageError> {
    let d = match datasets::find(state, form.get("dataset")).await {
        Ok(d) => d,
        Err(ServiceError::NotFound(_)) => return Ok(Flash::error("Unknown dataset.")),
        Err(e) => return Err(e.into()),
    };
    let permission = match form.get("permission") {
        "" => "view",
        p => p,
    };
    let input = NewRequest {
        permission: Some(permission.to_owned()),
        version: None,
        message: form.get("message").to_owned(),
    };
    match access_requests::file(state, &user.view, &d, input).await {
        Ok(_) => Ok(Flash::success(format!(
            "Requested {permission} access to {}. Its administrators will decide.",
            d.name
        ))),
        Err(ServiceError::Invalid(i)) if i.field() == Some("permission") => Ok(Flash::field_error(
            Some("permission"),
            "Choose view, edit, manage or admin.",
        )),
        Err(ServiceError::Invalid(i)) if i.field() == Some("message") => Ok(Flash::field_error(
            Some("message"),
            format!(
                "The message is longer than {} characters.",
                access_requests::MAX_MESSAGE
            ),
        )),
        Err(ServiceError::Store(e)) if super::conflict(&e) => Ok(Flash::info(format!(
            "You already asked for {permission} on {}.",
            d.name
        ))),
        Err(e) => service_flash(e),
    }
}

async fn self_serve(
    state: &AppState,
    user: &WebUser,
    form: &super::Form,
) -> Result<Flash, PageError> {
    let d = match datasets::find(state, form.get("dataset")).await {
        Ok(d) => d,
        Err(ServiceError::NotFound(_)) => return Ok(Flash::error("Unknown dataset.")),
        Err(e) => return Err(e.into()),
    };
    Ok(match datasets::self_serve(state, &user.view, &d).await? {
        SelfServe::InviteOnly => Flash::error(format!(
            "{} is invite-only: ask for access instead.",
            d.name
        )),
        SelfServe::TermsFirst => {
            Flash::error(format!("Accept the terms of {} to get access.", d.name))
        }
        SelfServe::Already => Flash::info(format!("You already have access to {}.", d.name)),
        SelfServe::Granted => Flash::success(format!("You now have view access to {}.", d.name)),
    })
}
