//! `/web/group/<group>/`: a group's dashboard for its admins — members
//! (add, remove; making someone a group admin is for global admins) and the
//! grants scoped to the group, only on datasets the caller manages and never
//! above the caller's own level (the original let group admins revoke any
//! group-scoped grant). Removing a member revokes their group-scoped grants.
//! POST `action=add_member` (`email`, `expires_at`, `admin`),
//! `action=remove_member` (`member_id`), `action=grant` (`email`, `dataset`
//! name, `permission` name), `action=revoke` (`grant_id`).

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::Uri;
use axum::response::Response;
use axum::routing::get;

use super::grants::grantable;
use super::{
    Chrome, Flash, PageError, Pager, Posted, Stamp, Web, WebUser, back_keeping, conflict,
    flash_error, page_number, paginate, render, service_flash,
};
use crate::service::ServiceError;
use crate::service::grants::{self, GrantRequest, Within};
use crate::service::memberships::{self, NewMember};
use crate::state::AppState;

pub(super) fn routes(r: Router<AppState>) -> Router<AppState> {
    r.route("/web/group/{group}/", get(show_group).post(act))
}

struct Member {
    id: i64,
    email: String,
    admin: bool,
    expires: Option<Stamp>,
    expired: bool,
}

struct GroupGrant {
    id: i64,
    email: String,
    dataset: String,
    permission: String,
}

#[derive(Template)]
#[template(path = "web/group.html")]
struct GroupPage {
    chrome: Chrome,
    group: String,
    count: usize,
    members: Vec<Member>,
    pager: Pager,
    datasets: Vec<String>,
    levels: Vec<&'static str>,
    grants: Vec<GroupGrant>,
    /// The group's own dataset permissions: (dataset, permission, service).
    permissions: Vec<(String, String, Option<String>)>,
    global_admin: bool,
}

async fn group_of(state: &AppState, user: &WebUser, name: &str) -> Result<i64, PageError> {
    let gid = state
        .store
        .group_id_by_name(name)
        .await?
        .ok_or(PageError::NotFound("group"))?;
    if !user.view.is_group_admin(name) {
        return Err(PageError::Denied);
    }
    Ok(gid)
}

/// Datasets the user manages (global admins: all).
async fn managed_datasets(
    state: &AppState,
    user: &WebUser,
) -> Result<Vec<dsg_store::datasets::DatasetRow>, PageError> {
    Ok(state
        .store
        .all_datasets()
        .await?
        .into_iter()
        .filter(|d| user.view.can_manage(&d.name))
        .collect())
}

async fn show_group(
    State(state): State<AppState>,
    Path(name): Path<String>,
    web: Web,
    uri: Uri,
) -> Result<Response, PageError> {
    let (user, chrome) = web.split()?;
    let gid = group_of(&state, &user, &name).await?;
    let now = state.clock.now();
    let all: Vec<Member> = state
        .store
        .group_memberships(gid)
        .await?
        .into_iter()
        .map(|m| Member {
            id: m.id,
            email: m.email,
            admin: m.is_admin,
            expired: dsg_store::grants::expired(m.expires_at, now),
            expires: Stamp::opt(m.expires_at),
        })
        .collect();
    let count = all.len();
    let (members, pager) = paginate(
        all,
        page_number(uri.query()),
        &format!("/web/group/{name}/"),
    );
    let datasets = managed_datasets(&state, &user).await?;
    let mut grants = Vec::new();
    for d in &datasets {
        for g in state.store.dataset_grants(d.id).await? {
            if g.group.as_deref() == Some(name.as_str()) {
                grants.push(GroupGrant {
                    id: g.id,
                    email: g.email,
                    dataset: g.dataset,
                    permission: g.permission,
                });
            }
        }
    }
    let permissions = state.store.group_dataset_permissions(gid).await?;
    let page = GroupPage {
        chrome,
        permissions,
        count,
        members,
        pager,
        levels: ["view", "edit", "manage"]
            .into_iter()
            .filter(|l| {
                datasets
                    .iter()
                    .any(|d| grantable(&state, &user, &d.name).contains(l))
            })
            .collect(),
        datasets: datasets.into_iter().map(|d| d.name).collect(),
        grants,
        global_admin: user.view.is_admin(),
        group: name,
    };
    Ok(render(&state, &page.chrome, &page))
}

async fn act(
    State(state): State<AppState>,
    Path(name): Path<String>,
    posted: Posted,
) -> Result<Response, PageError> {
    let gid = group_of(&state, &posted.user, &name).await?;
    let flash = match posted.form.get("action") {
        "add_member" => add_member(&state, &posted, gid, &name).await?,
        "remove_member" => remove_member(&state, &posted, gid, &name).await?,
        "grant" => grant(&state, &posted, &name).await?,
        "revoke" => revoke(&state, &posted, &name).await?,
        _ => Flash::error("Unknown action."),
    };
    // A refused form comes back with the e-mail that was typed.
    let kept: &[&str] = match posted.form.get("action") {
        "add_member" => &["email"],
        _ => &[],
    };
    Ok(back_keeping(
        &state,
        &format!("/web/group/{name}/"),
        &[flash],
        &posted.form,
        kept,
    ))
}

async fn add_member(
    state: &AppState,
    posted: &Posted,
    _gid: i64,
    group: &str,
) -> Result<Flash, PageError> {
    let email = posted.form.get("email");
    let expires_at = match posted.form.instant("expires_at") {
        Ok(t) => t,
        Err(m) => return Ok(Flash::field_error(Some("expires_at"), m)),
    };
    let added = memberships::add(
        state,
        &posted.user.view,
        NewMember {
            group,
            email,
            admin: !posted.form.get("admin").is_empty(),
            expires_at,
        },
    )
    .await;
    match added {
        Ok(_) => Ok(Flash::success(format!("Added {email} to {group}"))),
        Err(ServiceError::Forbidden(None)) => {
            Ok(Flash::error("Only global admins can make group admins."))
        }
        Err(ServiceError::Store(e)) if conflict(&e) => Ok(Flash::info(format!(
            "{email} is already a member of {group}"
        ))),
        Err(ServiceError::Store(e)) => flash_error(e, Some("email")),
        Err(e) => service_flash(e),
    }
}

async fn remove_member(
    state: &AppState,
    posted: &Posted,
    gid: i64,
    group: &str,
) -> Result<Flash, PageError> {
    let member = match posted.form.id("member_id") {
        Some(id) => state
            .store
            .group_memberships(gid)
            .await?
            .into_iter()
            .find(|m| m.id == id),
        None => None,
    };
    let Some(m) = member else {
        return Ok(Flash::error("Member not found"));
    };
    match memberships::remove(state, &posted.user.view, group, m.user_id).await {
        Ok(()) => Ok(Flash::success(format!("Removed {} from {group}", m.email))),
        Err(e) => service_flash(e),
    }
}

async fn grant(state: &AppState, posted: &Posted, group: &str) -> Result<Flash, PageError> {
    let form = &posted.form;
    let Some(d) = state.store.dataset_by_name(form.get("dataset")).await? else {
        return Ok(Flash::field_error(Some("dataset"), "Choose a dataset."));
    };
    let permission = form.get("permission");
    if !matches!(permission, "view" | "edit" | "manage") {
        return Ok(Flash::field_error(
            Some("permission"),
            "Choose view, edit or manage.",
        ));
    }
    let granted = grants::grant_or_invite(
        state,
        &posted.user.view,
        GrantRequest {
            service: None,
            buckets: &[],
            dataset: &d,
            email: form.get("email"),
            permission,
            version: None,
            group: Some(group),
            expires_at: None,
        },
    )
    .await;
    match granted {
        Ok(_) => Ok(Flash::success(format!(
            "Granted {permission} on {} to {}",
            d.name,
            form.get("email")
        ))),
        Err(ServiceError::LevelOutOfReach { .. }) if !posted.user.view.can_manage(&d.name) => {
            Ok(Flash::field_error(
                Some("dataset"),
                "You do not have manage permission on this dataset",
            ))
        }
        Err(ServiceError::LevelOutOfReach { .. }) => Ok(Flash::field_error(
            Some("permission"),
            "Cannot grant a permission level higher than your own",
        )),
        Err(ServiceError::Store(e)) if conflict(&e) => Ok(Flash::info(format!(
            "{} already has {permission} on {}",
            form.get("email"),
            d.name
        ))),
        Err(ServiceError::Store(e)) => flash_error(e, Some("email")),
        Err(e) => service_flash(e),
    }
}

async fn revoke(state: &AppState, posted: &Posted, group: &str) -> Result<Flash, PageError> {
    let Some(id) = posted.form.id("grant_id") else {
        return Ok(Flash::error("Grant not found"));
    };
    match grants::revoke(
        state,
        &posted.user.view,
        id,
        Within::Group(group),
        "revoked",
    )
    .await
    {
        Ok(_) => Ok(Flash::success("Grant revoked")),
        Err(ServiceError::Forbidden(None) | ServiceError::NotFound(_)) => {
            Ok(Flash::error("Grant not found"))
        }
        Err(e) => service_flash(e),
    }
}
