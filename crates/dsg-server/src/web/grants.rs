//! `/web/grants/<dataset>`: the dataset's members and grants, with expiry
//! (managers of the dataset). Nobody grants, time-limits or revokes a level
//! above their own, and only global admins revoke their own grants — the
//! native API's rules. The `?group=` filter works (it did nothing in the
//! original). An e-mail nobody has yet becomes an invitation, redeemed at
//! first login, instead of a password-less placeholder user.
//! POST `action=grant` (`email`, `permission` name or id, `version` id or
//! name, `expires_at`), `action=set_expiry` (`grant_id`, `expires_at`; empty
//! clears), `action=revoke` (`grant_id`).

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::Uri;
use axum::response::Response;
use axum::routing::get;
use dsg_store::datasets::DatasetRow;
use dsg_store::grants::NewGrant;
use dsg_store::invitations::{Invited, NewInvitation};

use super::{
    Chrome, Flash, PageError, Pager, Posted, Stamp, Web, WebUser, back, commit, conflict, dataset,
    flash_error, page_number, paginate, permission_of, render, version_of,
};
use crate::state::AppState;

pub(super) fn routes(r: Router<AppState>) -> Router<AppState> {
    r.route("/web/grants/{dataset}", get(show_grants).post(act))
}

struct GrantLine {
    id: i64,
    email: String,
    permission: String,
    version: String,
    group: String,
    granted_by: String,
    source: String,
    expires: Option<Stamp>,
    expired: bool,
    changeable: bool,
}

#[derive(Template)]
#[template(path = "web/grants.html")]
struct GrantsPage {
    chrome: Chrome,
    dataset: String,
    tos_link: Option<String>,
    levels: Vec<&'static str>,
    versions: Vec<(i64, String)>,
    groups: Vec<String>,
    group: String,
    grants: Vec<GrantLine>,
    pager: Pager,
}

/// The levels this user may hand out on the dataset.
pub(super) fn grantable(state: &AppState, user: &WebUser, dataset: &str) -> Vec<&'static str> {
    dsg_core::Level::ALL
        .iter()
        .map(|l| l.as_str())
        .filter(|l| user.view.may_handle_level(&state.config.access, dataset, l))
        .collect()
}

async fn managed(state: &AppState, user: &WebUser, name: &str) -> Result<DatasetRow, PageError> {
    let d = dataset(state, name).await?;
    if !user.view.can_manage(&d.name) {
        return Err(PageError::Denied);
    }
    Ok(d)
}

async fn show_grants(
    State(state): State<AppState>,
    Path(name): Path<String>,
    web: Web,
    uri: Uri,
) -> Result<Response, PageError> {
    let (user, chrome) = web.split()?;
    let d = managed(&state, &user, &name).await?;
    let group = uri
        .query()
        .and_then(|q| crate::http::credentials::query_param(q, "group"))
        .unwrap_or_default();
    let now = state.clock.now();
    let all = state.store.dataset_grants(d.id).await?;
    let mut groups: Vec<String> = all.iter().filter_map(|g| g.group.clone()).collect();
    groups.sort();
    groups.dedup();
    let lines: Vec<GrantLine> = all
        .into_iter()
        .filter(|g| group.is_empty() || g.group.as_deref() == Some(group.as_str()))
        .map(|g| GrantLine {
            changeable: user
                .view
                .may_handle_level(&state.config.access, &d.name, &g.permission)
                && (g.user_id != user.id || user.view.is_admin()),
            id: g.id,
            email: g.email,
            permission: g.permission,
            version: g.version.unwrap_or_else(|| "All".into()),
            group: g.group.unwrap_or_else(|| "-".into()),
            granted_by: g.granted_by.unwrap_or_else(|| "-".into()),
            source: g.source,
            expired: dsg_store::grants::expired(g.expires_at, now),
            expires: Stamp::opt(g.expires_at),
        })
        .collect();
    let base = if group.is_empty() {
        format!("/web/grants/{}", d.name)
    } else {
        format!(
            "/web/grants/{}?group={}",
            d.name,
            url::form_urlencoded::byte_serialize(group.as_bytes()).collect::<String>()
        )
    };
    let (grants, pager) = paginate(lines, page_number(uri.query()), &base);
    let tos_link = match d.has_tos {
        true => state
            .store
            .dataset_tos_documents(d.id)
            .await?
            .into_iter()
            .find(|(_, gate)| *gate)
            .map(|(t, _)| format!("/web/tos/{}/", t.invite_token)),
        false => None,
    };
    let page = GrantsPage {
        chrome,
        levels: grantable(&state, &user, &d.name),
        versions: state
            .store
            .dataset_versions(d.id)
            .await?
            .into_iter()
            .map(|v| (v.id, v.version))
            .collect(),
        dataset: d.name,
        tos_link,
        groups,
        group,
        grants,
        pager,
    };
    Ok(render(&state, &page.chrome, &page))
}

async fn act(
    State(state): State<AppState>,
    Path(name): Path<String>,
    posted: Posted,
) -> Result<Response, PageError> {
    let d = managed(&state, &posted.user, &name).await?;
    let flash = match posted.form.get("action") {
        "grant" => grant(&state, &posted, &d).await?,
        "set_expiry" => set_expiry(&state, &posted, &d).await?,
        "revoke" => revoke(&state, &posted, &d).await?,
        _ => Flash::error("Unknown action."),
    };
    Ok(back(&state, &format!("/web/grants/{}", d.name), &[flash]))
}

/// A grant asked for on a form.
pub(super) struct Wanted<'a> {
    /// The grantee's e-mail.
    pub email: &'a str,
    /// Level.
    pub permission: &'a str,
    /// Version scope.
    pub version_id: Option<i64>,
    /// Group scope.
    pub group_id: Option<i64>,
    /// Expiry.
    pub expires_at: Option<dsg_core::Timestamp>,
}

/// Grants `permission` on `d` to the person with this e-mail (an invitation
/// when nobody has it yet), optionally scoped to a version or a group.
pub(super) async fn grant_to(
    state: &AppState,
    user: &WebUser,
    d: &DatasetRow,
    w: Wanted<'_>,
) -> Result<Flash, PageError> {
    let Wanted {
        email,
        permission,
        version_id,
        group_id,
        expires_at,
    } = w;
    if let Err(e) = dsg_store::users::validate_email(email) {
        return Ok(Flash::field_error(Some("email"), e.to_string()));
    }
    let mut tx = state.store.begin(user.actor()).await?;
    let Some(user_id) = tx.user_id_by_email(email).await? else {
        if group_id.is_some() {
            return Ok(Flash::field_error(
                Some("email"),
                format!("User not found: {email}"),
            ));
        }
        let invited = tx
            .create_invitation(&NewInvitation {
                email,
                dataset_id: d.id,
                version_id,
                permission,
                grant_expires_at: expires_at,
                expires_at: None,
            })
            .await;
        return match invited {
            Ok(Invited::Pending(_)) | Ok(Invited::Granted { .. }) => {
                commit(state, tx).await?;
                Ok(Flash::success(format!(
                    "Invited {email}: they get {permission} on {} when they first log in.",
                    d.name
                )))
            }
            Err(e) => flash_error(e, Some("email")),
        };
    };
    if let Some(gid) = group_id
        && !state
            .store
            .group_memberships(gid)
            .await?
            .iter()
            .any(|m| m.user_id == user_id)
    {
        tx.add_member(user_id, gid, false, None).await?;
    }
    let created = tx
        .create_grant(&NewGrant {
            user_id,
            dataset_id: d.id,
            version_id,
            permission,
            group_id,
            granted_by: Some(user.id),
            source: "manual",
            expires_at,
        })
        .await;
    match created {
        Ok(_) => {
            commit(state, tx).await?;
            Ok(Flash::success(format!(
                "Granted {permission} on {} to {email}",
                d.name
            )))
        }
        Err(e) if conflict(&e) => Ok(Flash::info(format!(
            "{email} already has {permission} on {}",
            d.name
        ))),
        Err(e) => flash_error(e, None),
    }
}

async fn grant(state: &AppState, posted: &Posted, d: &DatasetRow) -> Result<Flash, PageError> {
    let form = &posted.form;
    let Some(permission) = permission_of(state, form.get("permission")).await? else {
        return Ok(Flash::field_error(
            Some("permission"),
            "Choose a permission.",
        ));
    };
    if !posted
        .user
        .view
        .may_handle_level(&state.config.access, &d.name, &permission)
    {
        return Ok(Flash::field_error(
            Some("permission"),
            format!("You cannot grant {permission} permission"),
        ));
    }
    let Ok(version_id) = version_of(state, d.id, form.get("version")).await? else {
        return Ok(Flash::field_error(
            Some("version"),
            format!("{} has no such version.", d.name),
        ));
    };
    let expires_at = match form.instant("expires_at") {
        Ok(Some(t)) if t <= state.clock.now() => {
            return Ok(Flash::field_error(
                Some("expires_at"),
                "The expiry date must be in the future.",
            ));
        }
        Ok(t) => t,
        Err(m) => return Ok(Flash::field_error(Some("expires_at"), m)),
    };
    grant_to(
        state,
        &posted.user,
        d,
        Wanted {
            email: form.get("email"),
            permission: &permission,
            version_id,
            group_id: None,
            expires_at,
        },
    )
    .await
}

/// The grant named by `grant_id` when it is on `d` and the user may change it.
async fn changeable(
    state: &AppState,
    posted: &Posted,
    d: &DatasetRow,
) -> Result<Result<dsg_store::grants::GrantListing, Flash>, PageError> {
    let not_found = || Ok(Err(Flash::error("Grant not found")));
    let Some(id) = posted.form.id("grant_id") else {
        return not_found();
    };
    let Some(g) = state.store.grant(id).await? else {
        return not_found();
    };
    let user = &posted.user;
    if g.dataset != d.name
        || !user
            .view
            .may_handle_level(&state.config.access, &d.name, &g.permission)
    {
        return not_found();
    }
    if g.user_id == user.id && !user.view.is_admin() {
        return Ok(Err(Flash::error("You cannot change your own grants")));
    }
    Ok(Ok(g))
}

async fn set_expiry(state: &AppState, posted: &Posted, d: &DatasetRow) -> Result<Flash, PageError> {
    let g = match changeable(state, posted, d).await? {
        Ok(g) => g,
        Err(f) => return Ok(f),
    };
    let expires_at = match posted.form.instant("expires_at") {
        Ok(Some(t)) if t <= state.clock.now() => {
            return Ok(Flash::error("The expiry date must be in the future."));
        }
        Ok(t) => t,
        Err(m) => return Ok(Flash::error(m)),
    };
    let mut tx = state.store.begin(posted.user.actor()).await?;
    tx.set_grant_expiry(g.id, expires_at).await?;
    commit(state, tx).await?;
    Ok(Flash::success(match expires_at {
        Some(t) => format!(
            "{}'s {} grant now expires at {}",
            g.email,
            g.permission,
            Stamp::of(t).text
        ),
        None => format!("{}'s {} grant no longer expires", g.email, g.permission),
    }))
}

async fn revoke(state: &AppState, posted: &Posted, d: &DatasetRow) -> Result<Flash, PageError> {
    let g = match changeable(state, posted, d).await? {
        Ok(g) => g,
        Err(f) => return Ok(f),
    };
    let mut tx = state.store.begin(posted.user.actor()).await?;
    tx.revoke_grant(g.id, "revoked").await?;
    commit(state, tx).await?;
    Ok(Flash::success("Grant revoked"))
}
