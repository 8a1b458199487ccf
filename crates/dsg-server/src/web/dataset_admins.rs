//! `/web/dataset-admins/<dataset>`: who administers a dataset. Appointing
//! and removing needs the right to hand out `admin` there (dataset or global
//! admins, or members of `access.admin_appointer_group` — the original's
//! hard-wired `sc` group had this power on every dataset).
//! POST `action=add` (`email`, an existing user), `action=remove` (`grant_id`).

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;
use dsg_store::datasets::DatasetRow;

use super::{
    Chrome, Flash, PageError, Posted, Web, WebUser, back, conflict, dataset, flash_error, render,
    service_flash,
};
use crate::service::ServiceError;
use crate::service::dataset_admins;
use crate::state::AppState;

pub(super) fn routes(r: Router<AppState>) -> Router<AppState> {
    r.route("/web/dataset-admins/{dataset}", get(show_admins).post(act))
}

#[derive(Template)]
#[template(path = "web/dataset_admins.html")]
struct AdminsPage {
    chrome: Chrome,
    dataset: String,
    admins: Vec<(i64, String, String)>,
}

async fn appointable(
    state: &AppState,
    user: &WebUser,
    name: &str,
) -> Result<DatasetRow, PageError> {
    let d = dataset(state, name).await?;
    if !user
        .view
        .may_handle_level(&state.config.access, &d.name, "admin")
    {
        return Err(PageError::Denied);
    }
    Ok(d)
}

async fn show_admins(
    State(state): State<AppState>,
    Path(name): Path<String>,
    web: Web,
) -> Result<Response, PageError> {
    let (user, chrome) = web.split()?;
    let d = appointable(&state, &user, &name).await?;
    let grants = state.store.dataset_grants(d.id).await?;
    let mut admins = Vec::new();
    for g in grants.into_iter().filter(|g| g.permission == "admin") {
        let name = state
            .store
            .users_by_ids(&[g.user_id])
            .await?
            .into_iter()
            .next()
            .map(|u| u.name)
            .unwrap_or_default();
        admins.push((g.id, g.email, name));
    }
    let page = AdminsPage {
        chrome,
        dataset: d.name,
        admins,
    };
    Ok(render(&state, &page.chrome, &page))
}

async fn act(
    State(state): State<AppState>,
    Path(name): Path<String>,
    posted: Posted,
) -> Result<Response, PageError> {
    let d = appointable(&state, &posted.user, &name).await?;
    let flash = match posted.form.get("action") {
        "add" => add(&state, &posted, &d).await?,
        "remove" => remove(&state, &posted, &d).await?,
        _ => Flash::error("Unknown action."),
    };
    Ok(back(
        &state,
        &format!("/web/dataset-admins/{}", d.name),
        &[flash],
    ))
}

async fn add(state: &AppState, posted: &Posted, d: &DatasetRow) -> Result<Flash, PageError> {
    let email = posted.form.get("email");
    match dataset_admins::appoint(state, &posted.user.view, d, email).await {
        Ok(_) => Ok(Flash::success(format!("Added {email} as dataset admin"))),
        Err(ServiceError::Store(e)) if conflict(&e) => {
            Ok(Flash::info(format!("{email} is already a dataset admin")))
        }
        Err(ServiceError::Store(e)) => flash_error(e, Some("email")),
        Err(e) => service_flash(e),
    }
}

async fn remove(state: &AppState, posted: &Posted, d: &DatasetRow) -> Result<Flash, PageError> {
    let Some(id) = posted.form.id("grant_id") else {
        return Ok(Flash::error("Dataset admin not found"));
    };
    match dataset_admins::remove(state, &posted.user.view, d, id).await {
        Ok(g) => Ok(Flash::success(format!("Removed dataset admin {}", g.email))),
        Err(ServiceError::OwnGrant) => Ok(Flash::error("You cannot remove yourself")),
        Err(ServiceError::Forbidden(None)) => Ok(Flash::error("Dataset admin not found")),
        Err(e) => service_flash(e),
    }
}
