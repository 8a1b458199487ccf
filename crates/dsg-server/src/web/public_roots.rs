//! `/web/public-roots/<dataset>`: the dataset's service tables (CAVE table →
//! dataset mapping; dataset admins add and remove them) and the public root
//! ids of each table (any manager).
//! POST `action=add_service_table` (`service_name`, `table_name`),
//! `action=remove_service_table` (`service_table_id`), `action=add`
//! (`service_table` id, `root_id`), `action=remove` (`public_root_id`).

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;
use dsg_store::tables::ServiceTableListing;

use super::{
    Chrome, Flash, PageError, Posted, Web, back, conflict, dataset, render, service_flash,
};
use crate::service::{ServiceError, tables};
use crate::state::AppState;

pub(super) fn routes(r: Router<AppState>) -> Router<AppState> {
    r.route("/web/public-roots/{dataset}", get(show_roots).post(act))
}

#[derive(Template)]
#[template(path = "web/public_roots.html")]
struct RootsPage {
    chrome: Chrome,
    dataset: String,
    dataset_admin: bool,
    tables: Vec<ServiceTableListing>,
}

async fn show_roots(
    State(state): State<AppState>,
    Path(name): Path<String>,
    web: Web,
) -> Result<Response, PageError> {
    let (user, chrome) = web.split()?;
    let d = dataset(&state, &name).await?;
    let page = RootsPage {
        tables: tables::listing(&state, &user.view, &d).await?,
        chrome,
        dataset_admin: user.view.may_configure_dataset(&d.name),
        dataset: d.name,
    };
    Ok(render(&state, &page.chrome, &page))
}

async fn act(
    State(state): State<AppState>,
    Path(name): Path<String>,
    posted: Posted,
) -> Result<Response, PageError> {
    let d = dataset(&state, &name).await?;
    let caller = &posted.user.view;
    tables::authorize(caller, &d)?;
    let form = &posted.form;
    let flash = match form.get("action") {
        "add_service_table" => {
            let (service, table) = (form.get("service_name"), form.get("table_name"));
            match tables::add_table(&state, caller, &d, service, table).await {
                Ok(_) => Flash::success(format!("Added service table {service}/{table}")),
                Err(ServiceError::Store(e)) if conflict(&e) => Flash::field_error(
                    Some("table_name"),
                    format!("Service table {service}/{table} already exists"),
                ),
                Err(e) => service_flash(e)?,
            }
        }
        "remove_service_table" => {
            match tables::remove_table(&state, caller, &d, form.id("service_table_id")).await {
                Ok(r) if r.roots.is_empty() => Flash::success(format!(
                    "Removed service table {}/{} (it had no public roots).",
                    r.service, r.table
                )),
                Ok(r) => Flash::success(format!(
                    "Removed service table {}/{} and its {} public root(s): {}.",
                    r.service,
                    r.table,
                    r.roots.len(),
                    r.roots
                        .iter()
                        .map(i64::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
                Err(e) => service_flash(e)?,
            }
        }
        "add" => {
            let root = form.get("root_id").parse::<i64>().ok();
            match tables::add_root(&state, caller, &d, form.id("service_table"), root).await {
                Ok(_) => Flash::success(format!("Added public root {}", root.unwrap_or_default())),
                Err(ServiceError::Store(e)) if conflict(&e) => Flash::info(format!(
                    "Root {} is already public",
                    root.unwrap_or_default()
                )),
                Err(e) => service_flash(e)?,
            }
        }
        "remove" => {
            match tables::remove_root(&state, caller, &d, form.id("public_root_id")).await {
                Ok(root) => Flash::success(format!("Removed public root {root}")),
                Err(e) => service_flash(e)?,
            }
        }
        _ => Flash::error("Unknown action."),
    };
    Ok(back(
        &state,
        &format!("/web/public-roots/{}", d.name),
        &[flash],
    ))
}
