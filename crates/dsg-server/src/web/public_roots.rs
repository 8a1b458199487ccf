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
use dsg_store::datasets::DatasetRow;
use dsg_store::tables::ServiceTableListing;

use super::{
    Chrome, Flash, PageError, Posted, Web, back, commit, conflict, dataset, flash_error, render,
};
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
    if !user.view.can_manage(&d.name) {
        return Err(PageError::Denied);
    }
    let page = RootsPage {
        chrome,
        dataset_admin: user.view.is_dataset_admin(&d.name),
        tables: state.store.dataset_service_tables(d.id).await?,
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
    let view = &posted.user.view;
    if !view.can_manage(&d.name) {
        return Err(PageError::Denied);
    }
    let action = posted.form.get("action");
    let flash = if matches!(action, "add_service_table" | "remove_service_table")
        && !view.is_dataset_admin(&d.name)
    {
        Flash::error("Only dataset administrators can manage service tables")
    } else {
        match action {
            "add_service_table" => add_table(&state, &posted, &d).await?,
            "remove_service_table" => remove_table(&state, &posted, &d).await?,
            "add" => add_root(&state, &posted, &d).await?,
            "remove" => remove_root(&state, &posted, &d).await?,
            _ => Flash::error("Unknown action."),
        }
    };
    Ok(back(
        &state,
        &format!("/web/public-roots/{}", d.name),
        &[flash],
    ))
}

async fn add_table(state: &AppState, posted: &Posted, d: &DatasetRow) -> Result<Flash, PageError> {
    let (service, table) = (
        posted.form.get("service_name"),
        posted.form.get("table_name"),
    );
    if service.is_empty() || table.is_empty() {
        let field = if service.is_empty() {
            "service_name"
        } else {
            "table_name"
        };
        return Ok(Flash::field_error(
            Some(field),
            "Service name and table name are required",
        ));
    }
    let mut tx = state.store.begin(posted.user.actor()).await?;
    match tx.add_service_table(d.id, service, table).await {
        Ok(_) => {
            commit(state, tx).await?;
            Ok(Flash::success(format!(
                "Added service table {service}/{table}"
            )))
        }
        Err(e) if conflict(&e) => Ok(Flash::field_error(
            Some("table_name"),
            format!("Service table {service}/{table} already exists"),
        )),
        Err(e) => flash_error(e, None),
    }
}

async fn remove_table(
    state: &AppState,
    posted: &Posted,
    d: &DatasetRow,
) -> Result<Flash, PageError> {
    let Some(id) = posted.form.id("service_table_id") else {
        return Ok(Flash::error("Service table not found"));
    };
    let mut tx = state.store.begin(posted.user.actor()).await?;
    match tx.remove_service_table(d.id, id).await? {
        Some((s, t)) => {
            commit(state, tx).await?;
            Ok(Flash::success(format!("Removed service table {s}/{t}")))
        }
        None => Ok(Flash::error("Service table not found")),
    }
}

async fn add_root(state: &AppState, posted: &Posted, d: &DatasetRow) -> Result<Flash, PageError> {
    let tables = state.store.dataset_service_tables(d.id).await?;
    let table = posted
        .form
        .id("service_table")
        .and_then(|id| tables.iter().find(|t| t.id == id));
    let root = posted.form.get("root_id").parse::<i64>().ok();
    let (Some(table), Some(root)) = (table, root) else {
        return Ok(Flash::field_error(
            Some("root_id"),
            "Invalid service table or root ID",
        ));
    };
    let mut tx = state.store.begin(posted.user.actor()).await?;
    match tx.add_public_root(table.id, root).await {
        Ok(_) => {
            commit(state, tx).await?;
            Ok(Flash::success(format!("Added public root {root}")))
        }
        Err(e) if conflict(&e) => Ok(Flash::info(format!("Root {root} is already public"))),
        Err(e) => flash_error(e, None),
    }
}

async fn remove_root(
    state: &AppState,
    posted: &Posted,
    d: &DatasetRow,
) -> Result<Flash, PageError> {
    let Some(id) = posted.form.id("public_root_id") else {
        return Ok(Flash::error("Public root not found"));
    };
    let mut tx = state.store.begin(posted.user.actor()).await?;
    match tx.remove_public_root(d.id, id).await? {
        Some(root) => {
            commit(state, tx).await?;
            Ok(Flash::success(format!("Removed public root {root}")))
        }
        None => Ok(Flash::error("Public root not found")),
    }
}
