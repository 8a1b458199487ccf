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

use super::grants::{Wanted, grant_to, grantable};
use super::{
    Chrome, Flash, PageError, Pager, Posted, Stamp, Web, WebUser, back, commit, conflict,
    flash_error, page_number, paginate, render,
};
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
    let page = GroupPage {
        chrome,
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
        "grant" => grant(&state, &posted, gid).await?,
        "revoke" => revoke(&state, &posted, &name).await?,
        _ => Flash::error("Unknown action."),
    };
    Ok(back(&state, &format!("/web/group/{name}/"), &[flash]))
}

async fn add_member(
    state: &AppState,
    posted: &Posted,
    gid: i64,
    group: &str,
) -> Result<Flash, PageError> {
    let email = posted.form.get("email");
    let Some(user_id) = state.store.user_id_by_email(email).await? else {
        return Ok(Flash::field_error(
            Some("email"),
            format!("User not found: {email}"),
        ));
    };
    let admin = !posted.form.get("admin").is_empty();
    if admin && !posted.user.view.is_admin() {
        return Ok(Flash::error("Only global admins can make group admins."));
    }
    let expires_at = match posted.form.instant("expires_at") {
        Ok(Some(t)) if t <= state.clock.now() => {
            return Ok(Flash::field_error(
                Some("expires_at"),
                "The expiry date must be in the future.",
            ));
        }
        Ok(t) => t,
        Err(m) => return Ok(Flash::field_error(Some("expires_at"), m)),
    };
    if state
        .store
        .group_memberships(gid)
        .await?
        .iter()
        .any(|m| m.user_id == user_id)
    {
        return Ok(Flash::info(format!(
            "{email} is already a member of {group}"
        )));
    }
    let mut tx = state.store.begin(posted.user.actor()).await?;
    match tx.add_member(user_id, gid, admin, expires_at).await {
        Ok(_) => {
            commit(state, tx).await?;
            Ok(Flash::success(format!("Added {email} to {group}")))
        }
        Err(e) if conflict(&e) => Ok(Flash::info(format!(
            "{email} is already a member of {group}"
        ))),
        Err(e) => flash_error(e, Some("email")),
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
    let mut tx = state.store.begin(posted.user.actor()).await?;
    tx.remove_member(m.user_id, gid).await?;
    commit(state, tx).await?;
    Ok(Flash::success(format!("Removed {} from {group}", m.email)))
}

async fn grant(state: &AppState, posted: &Posted, gid: i64) -> Result<Flash, PageError> {
    let form = &posted.form;
    let Some(d) = state.store.dataset_by_name(form.get("dataset")).await? else {
        return Ok(Flash::field_error(Some("dataset"), "Choose a dataset."));
    };
    if !posted.user.view.can_manage(&d.name) {
        return Ok(Flash::field_error(
            Some("dataset"),
            "You do not have manage permission on this dataset",
        ));
    }
    let permission = form.get("permission");
    if !matches!(permission, "view" | "edit" | "manage") {
        return Ok(Flash::field_error(
            Some("permission"),
            "Choose view, edit or manage.",
        ));
    }
    if !posted
        .user
        .view
        .may_handle_level(&state.config.access, &d.name, permission)
    {
        return Ok(Flash::field_error(
            Some("permission"),
            "Cannot grant a permission level higher than your own",
        ));
    }
    grant_to(
        state,
        &posted.user,
        &d,
        Wanted {
            email: form.get("email"),
            permission,
            version_id: None,
            group_id: Some(gid),
            expires_at: None,
        },
    )
    .await
}

async fn revoke(state: &AppState, posted: &Posted, group: &str) -> Result<Flash, PageError> {
    let grant = match posted.form.id("grant_id") {
        Some(id) => state.store.grant(id).await?,
        None => None,
    };
    let Some(g) = grant.filter(|g| {
        g.group.as_deref() == Some(group)
            && posted
                .user
                .view
                .may_handle_level(&state.config.access, &g.dataset, &g.permission)
    }) else {
        return Ok(Flash::error("Grant not found"));
    };
    let mut tx = state.store.begin(posted.user.actor()).await?;
    tx.revoke_grant(g.id, "revoked").await?;
    commit(state, tx).await?;
    Ok(Flash::success("Grant revoked"))
}
