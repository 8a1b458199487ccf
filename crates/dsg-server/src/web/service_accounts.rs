//! `/web/service-accounts` and `/web/service-accounts/<name>` (global
//! admins): create, describe, enable or disable, mint tokens (shown once),
//! revoke tokens, add and revoke grants (versions only of the chosen
//! dataset), delete with name confirmation.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::response::Response;
use axum::routing::get;

use super::reveal::{self, Reveal};
use super::{
    Chrome, Flash, PageError, Posted, Stamp, Web, WebUser, back, back_keeping, flash_error,
    permission_of, render, service_flash,
};
use crate::service::ServiceError;
use crate::service::service_accounts::{self, Account, NewAccount, NewGrant};
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

/// A use case's refusal on these pages: a missing account is a 404 page.
fn refused(e: ServiceError) -> PageError {
    match e {
        ServiceError::NotFound(_) => PageError::NotFound("service account"),
        e => e.into(),
    }
}

async fn show_list(State(state): State<AppState>, web: Web) -> Result<Response, PageError> {
    let (user, chrome) = web.split()?;
    let mut accounts = Vec::new();
    for s in service_accounts::list(&state, &user.view).await? {
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
    if !posted.user.view.may_manage_service_accounts() {
        return Err(PageError::Denied);
    }
    if posted.form.get("action") != "create" {
        return Ok(back(&state, LIST, &[Flash::error("Unknown action.")]));
    }
    let name = posted.form.get("name");
    let refused = if name.is_empty() {
        Flash::field_error(Some("name"), "Name is required.")
    } else {
        let input = NewAccount {
            name: name.to_owned(),
            description: posted.form.get("description").to_owned(),
        };
        match service_accounts::create(&state, &posted.user.view, input).await {
            Ok(_) => {
                return Ok(back(
                    &state,
                    &format!("{LIST}/{name}"),
                    &[Flash::success(format!("Created service account '{name}'."))],
                ));
            }
            Err(ServiceError::Conflict(_)) => Flash::field_error(
                Some("name"),
                format!("A service account named '{name}' already exists."),
            ),
            Err(ServiceError::Invalid(i)) if i.field() == Some("name") => Flash::field_error(
                Some("name"),
                "Name must be a slug (letters, numbers, hyphens, underscores).",
            ),
            Err(ServiceError::Store(e)) => flash_error(e, Some("name"))?,
            Err(e) => service_flash(e)?,
        }
    };
    // The refused form comes back filled in.
    Ok(back_keeping(
        &state,
        LIST,
        &[refused],
        &posted.form,
        &["name", "description"],
    ))
}

async fn detail_page(
    state: &AppState,
    user: &WebUser,
    chrome: Chrome,
    account: &Account,
    new_token: Option<String>,
) -> Result<DetailPage, PageError> {
    let d = service_accounts::detail(state, &user.view, account)
        .await
        .map_err(refused)?;
    let s = d.account;
    Ok(DetailPage {
        chrome,
        tokens: d
            .tokens
            .into_iter()
            .map(|t| TokenLine {
                id: t.id,
                description: t.description,
                prefix: t.prefix,
                created: Stamp::of(t.created),
                last_used: Stamp::opt(t.last_used),
            })
            .collect(),
        grants: d
            .grants
            .into_iter()
            .map(|g| GrantLine {
                id: g.id,
                dataset: g.dataset,
                version: g.version.unwrap_or_else(|| "All".into()),
                permission: g.permission,
                expires: Stamp::opt(g.expires_at),
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
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let (user, chrome) = web.split()?;
    let account = service_accounts::find(&state, &user.view, &name)
        .await
        .map_err(refused)?;
    let shown = reveal::read(&state, &headers, user.id).map(|r| r.value);
    let revealed = shown.is_some();
    let page = detail_page(&state, &user, chrome, &account, shown).await?;
    let mut r = render(&state, &page.chrome, &page);
    if revealed && let Some(c) = reveal::clear(&state, &format!("/web/service-accounts/{name}")) {
        r.headers_mut().append(header::SET_COOKIE, c);
    }
    Ok(r)
}

async fn act(
    State(state): State<AppState>,
    Path(name): Path<String>,
    posted: Posted,
) -> Result<Response, PageError> {
    let caller = &posted.user.view;
    let account = service_accounts::find(&state, caller, &name)
        .await
        .map_err(refused)?;
    let here = format!("{LIST}/{name}");
    let form = &posted.form;
    let outcome = match form.get("action") {
        "update_description" => {
            service_accounts::set_description(&state, caller, &account, form.get("description"))
                .await
                .map(|()| Flash::success("Description updated."))
        }
        "toggle_active" => {
            let active = service_accounts::detail(&state, caller, &account)
                .await
                .map_err(refused)?
                .account
                .is_active;
            service_accounts::set_active(&state, caller, &account, !active)
                .await
                .map(|_| {
                    Flash::success(if active {
                        "Service account disabled."
                    } else {
                        "Service account enabled."
                    })
                })
        }
        "mint_token" => {
            // The form asks for a description to recognise the token by.
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
            match service_accounts::add_token(&state, caller, &account, description).await {
                Ok(t) => {
                    // Post/redirect/get: the value crosses the redirect sealed
                    // ([`super::reveal`]), so a reload makes no second token.
                    let mut r = back(
                        &state,
                        &here,
                        &[Flash::success(
                            "Token created. Copy it now — it will not be shown again.",
                        )],
                    );
                    let shown = Reveal {
                        value: t.value,
                        description: description.to_owned(),
                    };
                    if let Some(c) = reveal::set(&state, &here, posted.user.id, &shown) {
                        r.headers_mut().append(header::SET_COOKIE, c);
                    }
                    return Ok(r);
                }
                Err(e) => Err(e),
            }
        }
        "revoke_token" => match form.id("token_id") {
            Some(t) => match service_accounts::revoke_token(&state, caller, &account, t).await {
                Err(ServiceError::NotFound(_)) => Ok(Flash::error("Token not found.")),
                r => r.map(|()| Flash::success("Token revoked.")),
            },
            None => Ok(Flash::error("Token not found.")),
        },
        "add_grant" => match add_grant(&state, &posted, &account).await? {
            Ok(f) => Ok(f),
            Err(f) => return Ok(back(&state, &here, &[f])),
        },
        "revoke_grant" => match form.id("grant_id") {
            Some(g) => match service_accounts::revoke_grant(&state, caller, &account, g).await {
                Err(ServiceError::NotFound(_)) => Ok(Flash::error("Grant not found.")),
                r => r.map(|()| Flash::success("Grant revoked.")),
            },
            None => Ok(Flash::error("Grant not found.")),
        },
        "delete_sa" => {
            // The page asks for the name again before deleting.
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
            service_accounts::delete(&state, caller, &account)
                .await
                .map_err(refused)?;
            return Ok(back(
                &state,
                LIST,
                &[Flash::success(format!("Service account '{name}' deleted."))],
            ));
        }
        _ => Ok(Flash::error("Unknown action.")),
    };
    let flash = match outcome {
        Ok(f) => f,
        Err(e) => service_flash(e)?,
    };
    Ok(back(&state, &here, &[flash]))
}

/// Reads the grant form (the dataset and version by id or name, the level
/// by name or the original's id) and asks for the grant: `Ok(flash)` once
/// granted, `Err(flash)` when the form is wrong or the grant refused.
async fn add_grant(
    state: &AppState,
    posted: &Posted,
    account: &Account,
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
    let wanted = form.get("version");
    let version = if wanted.is_empty() {
        None
    } else {
        let versions = state.store.dataset_versions(d.id).await?;
        match versions
            .into_iter()
            .find(|v| v.id.to_string() == wanted || v.version == wanted)
        {
            Some(v) => Some(v.version),
            None => {
                return Ok(Err(Flash::field_error(
                    Some("version"),
                    format!("{} has no such version.", d.name),
                )));
            }
        }
    };
    let expires_at = match form.instant("expires_at") {
        Ok(t) => t,
        Err(m) => return Ok(Err(Flash::field_error(Some("expires_at"), m))),
    };
    let grant = NewGrant {
        dataset: d.name.clone(),
        version,
        permission: permission.clone(),
        expires_at,
    };
    let name = &account.name;
    match service_accounts::add_grant(state, &posted.user.view, account, grant).await {
        Ok(_) => Ok(Ok(Flash::success(format!(
            "Granted {permission} on {} to {name}.",
            d.name
        )))),
        Err(ServiceError::Conflict(_)) => Ok(Err(Flash::info(format!(
            "{name} already has {permission} on {}.",
            d.name
        )))),
        Err(e) => Ok(Err(service_flash(e)?)),
    }
}
