//! `/web/service-accounts` and `/web/service-accounts/<name>` (global
//! admins): create, describe, enable or disable, mint tokens (shown once),
//! revoke tokens, add and revoke grants (versions only of the chosen
//! dataset), delete with name confirmation.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;

use super::{
    Chrome, Flash, PageError, Posted, Stamp, Web, WebUser, back, commit, conflict, flash_error,
    permission_of, render, version_of,
};
use crate::state::AppState;

const LIST: &str = "/web/service-accounts";

pub(super) fn routes(r: Router<AppState>) -> Router<AppState> {
    r.route(LIST, get(show_list).post(create))
        .route("/web/service-accounts/{name}", get(show_detail).post(act))
}

struct SaLine {
    name: String,
    description: String,
    active: bool,
    tokens: usize,
    grants: usize,
    created_by: String,
    created: Stamp,
}

#[derive(Template)]
#[template(path = "web/service_accounts.html")]
struct ListPage {
    chrome: Chrome,
    accounts: Vec<SaLine>,
}

struct TokenLine {
    id: i64,
    description: String,
    prefix: String,
    created: Stamp,
    last_used: Option<Stamp>,
}

struct GrantLine {
    id: i64,
    dataset: String,
    version: String,
    permission: String,
    expires: Option<Stamp>,
}

#[derive(Template)]
#[template(path = "web/service_account.html")]
struct DetailPage {
    chrome: Chrome,
    name: String,
    description: String,
    active: bool,
    created_by: String,
    created: Stamp,
    tokens: Vec<TokenLine>,
    grants: Vec<GrantLine>,
    datasets: Vec<(i64, String)>,
    new_token: Option<String>,
}

fn admin(user: &WebUser) -> Result<(), PageError> {
    if user.view.is_admin() {
        Ok(())
    } else {
        Err(PageError::Denied)
    }
}

async fn show_list(State(state): State<AppState>, web: Web) -> Result<Response, PageError> {
    let (user, chrome) = web.split()?;
    admin(&user)?;
    let mut accounts = Vec::new();
    for s in state.store.service_accounts().await? {
        accounts.push(SaLine {
            tokens: state.store.service_account_tokens(s.id).await?.len(),
            grants: state.store.service_account_grants(s.id).await?.len(),
            name: s.name,
            description: s.description,
            active: s.is_active,
            created_by: s.created_by.unwrap_or_else(|| "—".into()),
            created: Stamp::of(s.created),
        });
    }
    let page = ListPage { chrome, accounts };
    Ok(render(&state, &page.chrome, &page))
}

async fn create(State(state): State<AppState>, posted: Posted) -> Result<Response, PageError> {
    admin(&posted.user)?;
    if posted.form.get("action") != "create" {
        return Ok(back(&state, LIST, &[Flash::error("Unknown action.")]));
    }
    let name = posted.form.get("name");
    if name.is_empty() {
        return Ok(back(
            &state,
            LIST,
            &[Flash::field_error(Some("name"), "Name is required.")],
        ));
    }
    if dsg_store::service_accounts::validate_slug("name", name).is_err() {
        return Ok(back(
            &state,
            LIST,
            &[Flash::field_error(
                Some("name"),
                "Name must be a slug (letters, numbers, hyphens, underscores).",
            )],
        ));
    }
    let mut tx = state.store.begin(posted.user.actor()).await?;
    match tx
        .create_service_account(name, posted.form.get("description"), true)
        .await
    {
        Ok(_) => {
            commit(&state, tx).await?;
            Ok(back(
                &state,
                &format!("{LIST}/{name}"),
                &[Flash::success(format!("Created service account '{name}'."))],
            ))
        }
        Err(e) if conflict(&e) => Ok(back(
            &state,
            LIST,
            &[Flash::field_error(
                Some("name"),
                format!("A service account named '{name}' already exists."),
            )],
        )),
        Err(e) => Ok(back(&state, LIST, &[flash_error(e, Some("name"))?])),
    }
}

async fn sa_id(state: &AppState, name: &str) -> Result<i64, PageError> {
    state
        .store
        .service_account_id(name)
        .await?
        .ok_or(PageError::NotFound("service account"))
}

async fn detail_page(
    state: &AppState,
    chrome: Chrome,
    id: i64,
    new_token: Option<String>,
) -> Result<DetailPage, PageError> {
    let s = state
        .store
        .service_account_detail(id)
        .await?
        .ok_or(PageError::NotFound("service account"))?;
    Ok(DetailPage {
        chrome,
        tokens: state
            .store
            .service_account_tokens(id)
            .await?
            .into_iter()
            .map(|(id, description, prefix, created, last_used)| TokenLine {
                id,
                description,
                prefix,
                created: Stamp::of(created),
                last_used: Stamp::opt(last_used),
            })
            .collect(),
        grants: state
            .store
            .service_account_grants(id)
            .await?
            .into_iter()
            .map(|(id, dataset, version, permission, expires)| GrantLine {
                id,
                dataset,
                version: version.unwrap_or_else(|| "All".into()),
                permission,
                expires: Stamp::opt(expires),
            })
            .collect(),
        datasets: state
            .store
            .all_datasets()
            .await?
            .into_iter()
            .map(|d| (d.id, d.name))
            .collect(),
        name: s.name,
        description: s.description,
        active: s.is_active,
        created_by: s.created_by.unwrap_or_else(|| "—".into()),
        created: Stamp::of(s.created),
        new_token,
    })
}

async fn show_detail(
    State(state): State<AppState>,
    Path(name): Path<String>,
    web: Web,
) -> Result<Response, PageError> {
    let (user, chrome) = web.split()?;
    admin(&user)?;
    let id = sa_id(&state, &name).await?;
    let page = detail_page(&state, chrome, id, None).await?;
    Ok(render(&state, &page.chrome, &page))
}

async fn act(
    State(state): State<AppState>,
    Path(name): Path<String>,
    posted: Posted,
) -> Result<Response, PageError> {
    admin(&posted.user)?;
    let id = sa_id(&state, &name).await?;
    let here = format!("{LIST}/{name}");
    let form = &posted.form;
    let mut tx = state.store.begin(posted.user.actor()).await?;
    let flash = match form.get("action") {
        "update_description" => {
            tx.set_service_account_description(id, form.get("description"))
                .await?;
            Flash::success("Description updated.")
        }
        "toggle_active" => {
            let active = state
                .store
                .service_account_detail(id)
                .await?
                .is_some_and(|s| s.is_active);
            tx.set_service_account_active(id, !active).await?;
            Flash::success(if active {
                "Service account disabled."
            } else {
                "Service account enabled."
            })
        }
        "mint_token" => {
            let description = form.get("description");
            if description.is_empty() {
                return Ok(back(
                    &state,
                    &here,
                    &[Flash::field_error(
                        Some("token_description"),
                        "Token description is required.",
                    )],
                ));
            }
            let (_, token) = tx.create_service_account_token(id, description).await?;
            commit(&state, tx).await?;
            let mut chrome = posted.chrome;
            chrome.flashes.push(Flash::success(
                "Token created. Copy it now — it will not be shown again.",
            ));
            let page = detail_page(&state, chrome, id, Some(token.expose().to_owned())).await?;
            return Ok(render(&state, &page.chrome, &page));
        }
        "revoke_token" => match form.id("token_id") {
            Some(t) if tx.revoke_service_account_token(id, t).await? => {
                Flash::success("Token revoked.")
            }
            _ => Flash::error("Token not found."),
        },
        "add_grant" => match add_grant(&state, &mut tx, &posted, id, &name).await? {
            Ok(f) => f,
            Err(f) => return Ok(back(&state, &here, &[f])),
        },
        "revoke_grant" => match form.id("grant_id") {
            Some(g) if tx.revoke_service_account_grant(id, g).await? => {
                Flash::success("Grant revoked.")
            }
            _ => Flash::error("Grant not found."),
        },
        "delete_sa" => {
            if form.get("confirm_name") != name {
                return Ok(back(
                    &state,
                    &here,
                    &[Flash::field_error(
                        Some("confirm_name"),
                        "Confirmation name did not match. Service account NOT deleted.",
                    )],
                ));
            }
            tx.delete_service_account(id).await?;
            commit(&state, tx).await?;
            return Ok(back(
                &state,
                LIST,
                &[Flash::success(format!("Service account '{name}' deleted."))],
            ));
        }
        _ => Flash::error("Unknown action."),
    };
    commit(&state, tx).await?;
    Ok(back(&state, &here, &[flash]))
}

/// `Ok(flash)` to commit, `Err(flash)` when nothing may be written.
async fn add_grant(
    state: &AppState,
    tx: &mut dsg_store::WriteTx,
    posted: &Posted,
    id: i64,
    name: &str,
) -> Result<Result<Flash, Flash>, PageError> {
    let form = &posted.form;
    let value = form.get("dataset_id");
    let d = state
        .store
        .all_datasets()
        .await?
        .into_iter()
        .find(|d| d.id.to_string() == value || d.name == value);
    let Some(d) = d else {
        return Ok(Err(Flash::field_error(
            Some("dataset_id"),
            "Choose a dataset.",
        )));
    };
    let Some(permission) = permission_of(state, form.get("permission")).await? else {
        return Ok(Err(Flash::field_error(
            Some("permission"),
            "Choose a permission.",
        )));
    };
    let Ok(version_id) = version_of(state, d.id, form.get("version")).await? else {
        return Ok(Err(Flash::field_error(
            Some("version"),
            format!("{} has no such version.", d.name),
        )));
    };
    let expires_at = match form.instant("expires_at") {
        Ok(t) => t,
        Err(m) => return Ok(Err(Flash::field_error(Some("expires_at"), m))),
    };
    match tx
        .create_service_account_grant(id, d.id, version_id, &permission, expires_at)
        .await
    {
        Ok(_) => Ok(Ok(Flash::success(format!(
            "Granted {permission} on {} to {name}.",
            d.name
        )))),
        Err(e) if conflict(&e) => Ok(Err(Flash::info(format!(
            "{name} already has {permission} on {}.",
            d.name
        )))),
        Err(e) => Ok(Err(flash_error(e, None)?)),
    }
}
