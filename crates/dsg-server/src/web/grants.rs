//! `/web/grants/<dataset>`: the dataset's members and grants, with expiry
//! (managers of the dataset). The rules are the use cases'
//! ([`crate::service::grants`]): nobody grants, time-limits or revokes a
//! level above their own, and only global admins change their own grants.
//! The `?group=` filter works (it did nothing in the original). The form
//! grants or, for an e-mail nobody has yet, invites (redeemed at first
//! login) instead of creating a password-less placeholder user.
//! POST `action=grant` (`email`, `permission` name or id, `version` id or
//! name, `expires_at`), `action=set_expiry` (`grant_id`, `expires_at`; empty
//! clears), `action=revoke` (`grant_id`), `action=withdraw_invitation`
//! (`invitation_id`). The top of the page answers "who has access"
//! ([`crate::service::who_has_access`]): every person, through a grant or
//! a group, every service account, pending invitations, public audiences,
//! and counts per level and path.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use dsg_store::datasets::DatasetRow;

use super::{
    Chrome, Flash, PageError, Pager, Posted, Stamp, Web, WebUser, back_keeping, conflict, dataset,
    flash_error, page_number, paginate, permission_of, render, service_flash, version_of,
};
use crate::service::grants::{self, GrantRequest, Granted, VersionRef, Within};
use crate::service::invitations;
use crate::service::who_has_access::{self, WhoHasAccess};
use crate::service::{Invalid, ServiceError};
use crate::state::AppState;
use dsg_core::Timestamp;

pub(super) fn routes(r: Router<AppState>) -> Router<AppState> {
    r.route("/web/grants/{dataset}", get(show_grants).post(act))
        .route("/web/grants/{dataset}/export.csv", get(export))
}

/// `GET /web/grants/{dataset}/export.csv`: who can get in, as CSV (spec §10).
async fn export(
    State(state): State<AppState>,
    Path(name): Path<String>,
    web: Web,
) -> Result<Response, PageError> {
    let Some(user) = web.user else {
        let next = format!("/web/grants/{name}");
        return Err(PageError::Login(super::login_url(Some(&next))));
    };
    let d = dataset(&state, &name).await?;
    let export = match grants::export_members(&state, &user.view, &d).await {
        Ok(e) => e,
        Err(ServiceError::Forbidden(_)) => return Err(PageError::Denied),
        Err(e) => return Err(e.into()),
    };
    let disposition = format!("attachment; filename=\"{}\"", export.filename);
    Ok((
        [
            (
                axum::http::header::CONTENT_TYPE,
                "text/csv; charset=utf-8".to_owned(),
            ),
            (axum::http::header::CONTENT_DISPOSITION, disposition),
            (axum::http::header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        export.csv,
    )
        .into_response())
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
    /// The "Export CSV" link is shown (global admins and direct managers).
    can_export: bool,
    /// Public audiences, in words (the public dataset, versions, roots).
    public: Vec<String>,
    /// Everyone who can get in, and how.
    who: WhoHasAccess,
    /// The largest count in `who.per_level` (the bars' scale).
    scale: usize,
}

impl GrantsPage {
    fn stamp(t: &Option<Timestamp>) -> Option<Stamp> {
        Stamp::opt(*t)
    }
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
            changeable: user.view.may_change_grant(
                &state.config.access,
                &d.name,
                &g.permission,
                g.user_id,
            ),
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
    let versions = state.store.dataset_versions(d.id).await?;
    let mut public = Vec::new();
    if d.access_mode == "public" {
        public.push("Everyone can view this dataset (it is public).".to_owned());
    }
    let open: Vec<&str> = versions
        .iter()
        .filter(|v| v.is_public)
        .map(|v| v.version.as_str())
        .collect();
    if !open.is_empty() {
        public.push(format!(
            "Public versions, open to everyone: {}.",
            open.join(", ")
        ));
    }
    for t in state.store.dataset_service_tables(d.id).await? {
        if !t.roots.is_empty() {
            public.push(format!(
                "{} public root(s) in {} table {}, open to everyone.",
                t.roots.len(),
                t.service_name,
                t.table_name
            ));
        }
    }
    let can_export = match user.view.user_id() {
        Some(id) => user.view.is_admin() || state.store.manages_directly(id, d.id, now).await?,
        None => false,
    };
    let who = who_has_access::list(&state, &user.view, &d).await?;
    let scale = who
        .per_level
        .iter()
        .map(|c| c.direct + c.group + c.service_accounts + c.invited)
        .max()
        .unwrap_or(0)
        .max(1);
    let page = GrantsPage {
        can_export,
        public,
        who,
        scale,
        chrome,
        levels: grantable(&state, &user, &d.name),
        versions: versions.into_iter().map(|v| (v.id, v.version)).collect(),
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
        "withdraw_invitation" => withdraw_invitation(&state, &posted, &d).await?,
        _ => Flash::error("Unknown action."),
    };
    // A refused grant comes back with what was typed.
    let kept: &[&str] = match posted.form.get("action") {
        "grant" => &["email", "expires_at"],
        _ => &[],
    };
    Ok(back_keeping(
        &state,
        &format!("/web/grants/{}", d.name),
        &[flash],
        &posted.form,
        kept,
    ))
}

/// Grants `permission` on `d` to the person with this e-mail (an invitation
/// when nobody has it yet, unless group-scoped), and says so.
pub(super) async fn grant_to(
    state: &AppState,
    user: &WebUser,
    req: GrantRequest<'_>,
) -> Result<Flash, PageError> {
    let (email, permission, dataset) = (req.email, req.permission, req.dataset.name.clone());
    match grants::grant_or_invite(state, &user.view, req).await {
        Ok(Granted::Grant { .. }) => Ok(Flash::success(format!(
            "Granted {permission} on {dataset} to {email}"
        ))),
        Ok(Granted::Invited { .. }) => Ok(Flash::success(format!(
            "Invited {email}: they get {permission} on {dataset} when they first log in."
        ))),
        Err(ServiceError::Store(e)) if conflict(&e) => Ok(Flash::info(format!(
            "{email} already has {permission} on {dataset}"
        ))),
        Err(ServiceError::Store(e)) => flash_error(e, Some("email")),
        Err(e) => service_flash(e),
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
    let Ok(version_id) = version_of(state, d.id, form.get("version")).await? else {
        return Ok(Flash::field_error(
            Some("version"),
            format!("{} has no such version.", d.name),
        ));
    };
    let expires_at = match form.instant("expires_at") {
        Ok(t) => t,
        Err(m) => return Ok(Flash::field_error(Some("expires_at"), m)),
    };
    grant_to(
        state,
        &posted.user,
        GrantRequest {
            service: None,
            buckets: &[],
            dataset: d,
            email: form.get("email"),
            permission: &permission,
            version: version_id.map(VersionRef::Id),
            group: None,
            expires_at,
        },
    )
    .await
}

/// A grant change refused, in the page's words: grants the visitor may not
/// change are "not found" here (the page lists only what they manage).
fn refused(e: ServiceError) -> Result<Flash, PageError> {
    match e {
        ServiceError::Forbidden(None) | ServiceError::NotFound(_) => {
            Ok(Flash::error("Grant not found"))
        }
        e => service_flash(e),
    }
}

async fn set_expiry(state: &AppState, posted: &Posted, d: &DatasetRow) -> Result<Flash, PageError> {
    let Some(id) = posted.form.id("grant_id") else {
        return Ok(Flash::error("Grant not found"));
    };
    let expires_at = match posted.form.instant("expires_at") {
        Ok(t) => t,
        Err(m) => return Ok(Flash::error(m)),
    };
    let changed = grants::set_expiry(
        state,
        &posted.user.view,
        id,
        Within::Dataset(&d.name),
        expires_at,
    );
    let g = match changed.await {
        Ok(g) => g,
        Err(ServiceError::Invalid(Invalid::NotInFuture { .. })) => {
            return Ok(Flash::error("The expiry date must be in the future."));
        }
        Err(e) => return refused(e),
    };
    Ok(Flash::success(match g.expires_at {
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
    let Some(id) = posted.form.id("grant_id") else {
        return Ok(Flash::error("Grant not found"));
    };
    match grants::revoke(
        state,
        &posted.user.view,
        id,
        Within::Dataset(&d.name),
        "revoked",
    )
    .await
    {
        Ok(g) => Ok(Flash::success(format!(
            "Grant revoked: {} no longer has {} on {} through it.",
            g.email, g.permission, d.name
        ))),
        Err(e) => refused(e),
    }
}

async fn withdraw_invitation(
    state: &AppState,
    posted: &Posted,
    d: &DatasetRow,
) -> Result<Flash, PageError> {
    let Some(id) = posted.form.id("invitation_id") else {
        return Ok(Flash::error("Invitation not found."));
    };
    match invitations::withdraw(state, &posted.user.view, d, id).await {
        Ok(email) => Ok(Flash::success(format!("Invitation for {email} withdrawn."))),
        Err(ServiceError::NotFound(_)) => Ok(Flash::error("Invitation not found.")),
        Err(e) => service_flash(e),
    }
}
