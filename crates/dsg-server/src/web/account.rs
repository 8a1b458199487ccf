//! `/web/my-account`: profile, dataset access with its sources, API tokens
//! (create with expiry and scope — read-only and/or a dataset list — shown
//! once: only SHA-256 hashes are stored; list with last use; revoke), groups,
//! pending terms of service and past acceptances.
//! POST `action=create_token` (`description`, `expires_in` days or `never`,
//! or `expires_at` date; `read_only`; `datasets`…) answers 302 to this page,
//! which shows the new token once ([`super::reveal`]: a reload creates and
//! shows nothing); `action=revoke_token` (`token_id`) → 302.
//! The long-lived token (prefix, last use) with `action=rotate_long_lived`
//! (the new value shown once, the same way); "Sites you have signed in from" (delegated
//! keys, `action=revoke_delegated`, `token_id`) and "Remembered sites"
//! (`action=forget_client`, `client_id`), spec 9.3.

use std::collections::{BTreeMap, BTreeSet};

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, Uri, header};
use axum::response::Response;
use axum::routing::get;
use dsg_core::Timestamp;
use dsg_core::permissions::TokenScope;
use dsg_store::tokens::PrincipalRef;

use super::reveal::{self, Reveal};
use super::{
    Chrome, Flash, Form, PageError, Pager, Posted, Stamp, Web, WebUser, back, back_keeping,
    page_number, paginate, render, service_flash,
};
use crate::service::ServiceError;
use crate::service::clients;
use crate::service::tokens::{self, NewUserToken};
use crate::state::AppState;

const PATH: &str = "/web/my-account";

pub(super) fn routes(r: Router<AppState>) -> Router<AppState> {
    r.route(PATH, get(show_account).post(act))
}

struct DatasetLine {
    name: String,
    level: String,
    permissions: String,
    sources: String,
}

struct TokenLine {
    id: i64,
    description: String,
    prefix: String,
    created: Stamp,
    last_used: Option<Stamp>,
    expires: Option<Stamp>,
    expired: bool,
    scope: String,
    current: bool,
}

struct GroupLine {
    name: String,
    manage: bool,
}

struct MissingTos {
    dataset: String,
    name: String,
    path: String,
}

/// The person's long-lived token, as listed.
struct LongLivedLine {
    prefix: String,
    created: Stamp,
    last_used: Option<Stamp>,
}

/// A registered site the person signed in from (a live delegated key).
struct SiteKeyLine {
    id: i64,
    name: String,
    origin: String,
    created: Stamp,
    last_used: Option<Stamp>,
    expires: Option<Stamp>,
}

/// A remembered site.
struct RememberedLine {
    client_id: i64,
    name: String,
    origin: String,
    since: Stamp,
}

/// A token just created: its value, shown this once.
struct NewTokenShown {
    value: String,
    description: String,
}

#[derive(Template)]
#[template(path = "web/account.html")]
struct AccountPage {
    chrome: Chrome,
    email: String,
    name: String,
    admin: bool,
    read_only: bool,
    datasets: Vec<DatasetLine>,
    tokens: Vec<TokenLine>,
    pager: Pager,
    groups: Vec<GroupLine>,
    missing: Vec<MissingTos>,
    accepted: Vec<(String, Stamp)>,
    choosable: Vec<String>,
    new_token: Option<NewTokenShown>,
    long_lived: Option<LongLivedLine>,
    sites: Vec<SiteKeyLine>,
    remembered: Vec<RememberedLine>,
}

fn scope_text(s: &TokenScope) -> String {
    let mut parts = Vec::new();
    if s.read_only {
        parts.push("read-only".to_owned());
    }
    match &s.datasets {
        Some(d) if d.is_empty() => parts.push("no datasets".into()),
        Some(d) => parts.push(d.iter().cloned().collect::<Vec<_>>().join(", ")),
        None => {}
    }
    if parts.is_empty() {
        "full".into()
    } else {
        parts.join("; ")
    }
}

async fn account_page(
    state: &AppState,
    user: &WebUser,
    chrome: Chrome,
    page: usize,
    new_token: Option<NewTokenShown>,
) -> Result<AccountPage, PageError> {
    let doc: serde_json::Value =
        serde_json::from_slice(&user.auth.document.body).unwrap_or_default();
    let now = state.clock.now();
    // Sources of each dataset: direct grants (with their group scope) from the
    // explain-access facts; anything else in the document comes from a group.
    let ids: BTreeMap<i64, String> = state
        .store
        .all_datasets()
        .await?
        .into_iter()
        .map(|d| (d.id, d.name))
        .collect();
    let subject = state
        .store
        .load_subject(PrincipalRef::User(user.id))
        .await?;
    let mut sources: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for g in subject.iter().flat_map(|s| &s.grants) {
        if g.fact.expires_at.is_some_and(|e| e <= now) {
            continue;
        }
        if let Some(name) = ids.get(&g.fact.dataset_id) {
            let label = match (&g.group, &g.fact.version) {
                (Some(group), _) => format!("Grant via group {group}"),
                (None, Some(v)) => format!("Direct ({v})"),
                (None, None) => "Direct".to_owned(),
            };
            sources.entry(name.clone()).or_default().insert(label);
        }
    }
    let datasets = user
        .view
        .authority()
        .levels
        .iter()
        .map(|(name, levels)| DatasetLine {
            level: levels
                .iter()
                .last()
                .map_or_else(String::new, |l| l.as_str().to_owned()),
            permissions: {
                let mut names: Vec<&str> = levels.iter().map(dsg_core::Level::as_str).collect();
                names.sort_unstable();
                names.join(", ")
            },
            sources: sources.get(name).map_or_else(
                || "Group permission".to_owned(),
                |s| s.iter().cloned().collect::<Vec<_>>().join(", "),
            ),
            name: name.clone(),
        })
        .collect();
    let current = user.auth.token.token_id;
    let listed = tokens::list(state, &user.view).await?;
    let long_lived = listed
        .iter()
        .filter(|t| t.info.long_lived)
        .max_by_key(|t| (t.info.created, t.info.id))
        .map(|t| LongLivedLine {
            prefix: t.info.prefix.clone(),
            created: Stamp::of(t.info.created),
            last_used: Stamp::opt(t.info.last_used),
        });
    let sites = clients::signed_in_sites(state, user.id)
        .await?
        .into_iter()
        .filter_map(|t| {
            let c = t.client?;
            Some(SiteKeyLine {
                id: t.id,
                name: c.name,
                origin: c.origin,
                created: Stamp::of(t.created),
                last_used: Stamp::opt(t.last_used),
                expires: Stamp::opt(t.expires_at),
            })
        })
        .collect();
    let remembered = clients::remembered_sites(state, user.id)
        .await?
        .into_iter()
        .map(|c| RememberedLine {
            client_id: c.client.id,
            name: c.client.name,
            origin: c.client.origin,
            since: Stamp::of(c.created),
        })
        .collect();
    let all_tokens: Vec<TokenLine> = listed
        .into_iter()
        .filter(|t| t.info.client.is_none())
        .map(|t| TokenLine {
            id: t.info.id,
            description: if t.info.description.is_empty() {
                "(no description)".into()
            } else {
                t.info.description
            },
            prefix: t.info.prefix,
            created: Stamp::of(t.info.created),
            last_used: Stamp::opt(t.info.last_used),
            expired: t.expired,
            expires: Stamp::opt(t.info.expires_at),
            scope: scope_text(&t.scope),
            current: t.info.id == current,
        })
        .collect();
    let (tokens, pager) = paginate(all_tokens, page, PATH);
    let groups = if user.view.is_admin() {
        state
            .store
            .group_names()
            .await?
            .into_iter()
            .map(|name| GroupLine { name, manage: true })
            .collect()
    } else {
        user.view
            .authority()
            .groups
            .iter()
            .map(|g| GroupLine {
                manage: user.view.is_group_admin(g),
                name: g.clone(),
            })
            .collect()
    };
    let mut missing = Vec::new();
    for m in doc["missing_tos"].as_array().into_iter().flatten() {
        if let Some(t) = match m["tos_id"].as_i64() {
            Some(id) => state.store.tos_document(id).await?,
            None => None,
        } {
            missing.push(MissingTos {
                dataset: m["dataset_name"].as_str().unwrap_or_default().to_owned(),
                path: format!("/web/tos/{}/", t.invite_token),
                name: t.name,
            });
        }
    }
    let accepted = state
        .store
        .tos_acceptances(user.id)
        .await?
        .into_iter()
        .map(|(_, name, at)| (name, Stamp::of(at)))
        .collect();
    Ok(AccountPage {
        chrome,
        email: user.email.clone(),
        name: doc["name"].as_str().unwrap_or_default().to_owned(),
        admin: user.view.is_admin(),
        read_only: doc["read_only"].as_bool().unwrap_or(false),
        choosable: user
            .view
            .authority()
            .levels
            .iter()
            .map(|(d, _)| d.clone())
            .collect(),
        datasets,
        tokens,
        pager,
        groups,
        missing,
        accepted,
        new_token,
        long_lived,
        sites,
        remembered,
    })
}

async fn show_account(
    State(state): State<AppState>,
    web: Web,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let (user, chrome) = web.split()?;
    // A token made by the post just before: shown once, then forgotten.
    let shown = reveal::read(&state, &headers, user.id).map(|r| NewTokenShown {
        value: r.value,
        description: r.description,
    });
    let revealed = shown.is_some();
    let page = account_page(&state, &user, chrome, page_number(uri.query()), shown).await?;
    let mut r = render(&state, &page.chrome, &page);
    if revealed && let Some(c) = reveal::clear(&state, PATH) {
        r.headers_mut().append(header::SET_COOKIE, c);
    }
    Ok(r)
}

async fn act(State(state): State<AppState>, posted: Posted) -> Result<Response, PageError> {
    match posted.form.get("action") {
        "create_token" => create_token(&state, posted).await,
        "revoke_token" => {
            let flash = revoke_token(&state, &posted.user, &posted.form).await?;
            Ok(back(&state, PATH, &[flash]))
        }
        "rotate_long_lived" => rotate_long_lived(&state, posted).await,
        "revoke_delegated" => {
            let flash = match posted.form.id("token_id") {
                Some(id) => match clients::revoke_key(&state, &posted.user.view, id).await {
                    Ok(()) => Flash::success("Key revoked: that site can no longer act for you."),
                    Err(ServiceError::NotFound(_)) => Flash::error("Key not found."),
                    Err(e) => service_flash(e)?,
                },
                None => Flash::error("Key not found."),
            };
            Ok(back(&state, PATH, &[flash]))
        }
        "forget_client" => {
            let flash = match posted.form.id("client_id") {
                Some(id) => match clients::forget(&state, &posted.user.view, id).await {
                    Ok(()) => Flash::success("Site forgotten: it will ask again next time."),
                    Err(ServiceError::NotFound(_)) => Flash::error("Site not found."),
                    Err(e) => service_flash(e)?,
                },
                None => Flash::error("Site not found."),
            };
            Ok(back(&state, PATH, &[flash]))
        }
        _ => Ok(back(&state, PATH, &[Flash::error("Unknown action.")])),
    }
}

/// The requested expiry: `expires_at` (a date) wins over `expires_in` (days
/// or `never`; 30 days when not chosen). Whether it lies in the future is
/// the use case's rule.
fn expiry(form: &Form, now: Timestamp) -> Result<Option<Timestamp>, Flash> {
    let bad = |field: &str, m: &str| Flash::field_error(Some(field), m);
    if let Some(at) = form
        .instant("expires_at")
        .map_err(|m| bad("expires_at", &m))?
    {
        return Ok(Some(at));
    }
    match form.get("expires_in") {
        "never" => Ok(None),
        "" => Ok(Some(now.plus_secs(tokens::DEFAULT_LIFETIME_DAYS * 86_400))),
        d => match d.parse::<i64>() {
            Ok(days) if (1..=3650).contains(&days) => Ok(Some(now.plus_secs(days * 86_400))),
            _ => Err(bad("expires_in", "Choose how long the token stays valid.")),
        },
    }
}

async fn create_token(state: &AppState, posted: Posted) -> Result<Response, PageError> {
    let Posted { user, form, chrome } = posted;
    // The form asks for a name to recognise the token by (the APIs default it).
    let description = form.get("description");
    if description.is_empty() {
        return Ok(refused_creation(
            state,
            &form,
            Flash::field_error(Some("description"), "Description is required."),
        ));
    }
    let expires_at = match expiry(&form, state.clock.now()) {
        Ok(e) => e,
        Err(f) => return Ok(refused_creation(state, &form, f)),
    };
    let chosen = form.all("datasets");
    let input = NewUserToken {
        description: Some(description.to_owned()),
        expires_at,
        scope: TokenScope {
            read_only: !form.get("read_only").is_empty(),
            datasets: (form.get("limit_datasets") == "on" || !chosen.is_empty())
                .then(|| chosen.iter().map(|d| (*d).to_owned()).collect()),
            delegated: false,
        },
    };
    let minted = match tokens::create(state, &user.view, input).await {
        Ok(m) => m,
        Err(e) => return Ok(refused_creation(state, &form, service_flash(e)?)),
    };
    let _ = chrome;
    Ok(reveal_after_redirect(
        state,
        &user,
        Reveal {
            value: minted.value,
            description: minted.description,
        },
        "Token created. Copy it now — it will not be shown again.",
    ))
}

/// A refused token creation: back to the page with the error summarised at
/// the top and what was typed filled in again.
fn refused_creation(state: &AppState, form: &Form, error: Flash) -> Response {
    back_keeping(state, PATH, &[error], form, &["description", "expires_at"])
}

/// Post/redirect/get for a new secret: 302 to the account page, which shows
/// the value once ([`reveal`]); a reload shows nothing and creates nothing.
fn reveal_after_redirect(
    state: &AppState,
    user: &WebUser,
    value: Reveal,
    message: &str,
) -> Response {
    let mut r = back(state, PATH, &[Flash::success(message)]);
    if let Some(c) = reveal::set(state, PATH, user.id, &value) {
        r.headers_mut().append(header::SET_COOKIE, c);
    }
    r
}

async fn rotate_long_lived(state: &AppState, posted: Posted) -> Result<Response, PageError> {
    let Posted { user, chrome, .. } = posted;
    let value = match tokens::rotate_long_lived_from_account(state, &user.view).await {
        Ok(v) => v,
        Err(e) => return Ok(back(state, PATH, &[service_flash(e)?])),
    };
    let _ = chrome;
    Ok(reveal_after_redirect(
        state,
        &user,
        Reveal {
            value,
            description: tokens::LONG_LIVED_DESCRIPTION.to_owned(),
        },
        "Long-lived token replaced: the old one no longer works. Copy the new one now — \
         it will not be shown here again.",
    ))
}

async fn revoke_token(state: &AppState, user: &WebUser, form: &Form) -> Result<Flash, PageError> {
    let Some(id) = form.id("token_id") else {
        return Ok(Flash::error("Token not found."));
    };
    // Named in the message, so nobody wonders which one went.
    let named = tokens::list(state, &user.view)
        .await?
        .into_iter()
        .find(|t| t.info.id == id)
        .map(|t| format!("“{}” ({}…)", t.info.description, t.info.prefix));
    match tokens::revoke(state, &user.view, id).await {
        Ok(()) => Ok(Flash::success(match named {
            Some(n) => format!("Token revoked: {n} no longer works."),
            None => "Token revoked.".into(),
        })),
        Err(ServiceError::NotFound(_)) => Ok(Flash::error("Token not found.")),
        Err(e) => service_flash(e),
    }
}
