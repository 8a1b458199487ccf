//! The DSG-native API's questions (`/api/dsg/v1`, dsg-native-v1 §3–6): who a
//! credential is, a batch of per-entry decisions, the datasets and versions a
//! principal sees (in a service's vocabulary), a group's members.
//!
//! Decisions come from `dsg_core::permissions::decide` over the cached
//! catalog and the principal's facts cached beside its document, so a warm
//! batch reads no database and is as fresh as `user/cache`.

use dsg_core::permissions::version_order;
use std::collections::BTreeSet;

use dsg_core::permissions::decide::{self, Context, Decision, Entry, Reason, Subject};
use dsg_core::permissions::{Catalog, DatasetInfo, PrincipalFacts, TokenScope};

use super::ServiceError;
use crate::cache::Authenticated;
use crate::config::Directory;
use crate::state::AppState;

/// What `GET /api/dsg/v1/user` says about a principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// User or service-account id.
    pub id: i64,
    /// E-mail (synthetic for service accounts).
    pub email: String,
    /// Stored name (the account name for service accounts).
    pub name: String,
    /// Avatar URL; `None` for service accounts.
    pub picture_url: Option<String>,
    /// Global administrator through this credential.
    pub admin: bool,
    /// A service account.
    pub service_account: bool,
    /// Groups, sorted.
    pub groups: Vec<String>,
}

/// Who an authenticated credential is.
pub fn identity(auth: &Authenticated) -> Identity {
    let doc = &auth.document;
    match &doc.facts {
        PrincipalFacts::User(u) => Identity {
            id: u.id,
            email: u.email.clone(),
            name: u.name.clone(),
            picture_url: Some(u.picture_url.clone()),
            admin: u.admin && auth.token.scope.is_unrestricted(),
            service_account: false,
            groups: doc.authority.groups.clone(),
        },
        PrincipalFacts::ServiceAccount(s) => Identity {
            id: s.id,
            email: s.email.clone(),
            name: s.name.clone(),
            picture_url: None,
            admin: false,
            service_account: true,
            groups: Vec::new(),
        },
    }
}

/// One entry of a batch as the client sent it; `None` when malformed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryInput {
    /// Dataset name in the client's vocabulary.
    pub name: String,
    /// Version name.
    pub version: Option<String>,
    /// Branch for all-digit versions.
    pub branch: Option<String>,
    /// Permission asked for.
    pub permission: String,
}

/// The most entries one batch may carry.
pub const MAX_ENTRIES: usize = 1000;

/// Decides a batch, one decision per entry in order (malformed entries are
/// denied in place). Anonymous callers pass `None`.
///
/// # Errors
/// Too many entries; the database is unreachable (cold catalog only).
pub async fn authorize(
    state: &AppState,
    auth: Option<&Authenticated>,
    service: Option<&str>,
    entries: &[Option<EntryInput>],
) -> Result<Vec<Decision>, ServiceError> {
    if entries.len() > MAX_ENTRIES {
        return Err(super::Invalid::Rule {
            field: Some("entries"),
            message: format!("at most {MAX_ENTRIES} entries per request"),
        }
        .into());
    }
    if auth.is_none() {
        state.cache.sync().await?;
    }
    let catalog = state.cache.current_catalog().await?;
    let unrestricted = TokenScope::default();
    let (subject, scope) = match auth {
        None => (Subject::Anonymous, &unrestricted),
        Some(a) => (a.document.facts.subject(), &a.token.scope),
    };
    // The principal's label is built only when entries are logged.
    let label = tracing::enabled!(tracing::Level::DEBUG).then(|| match auth {
        None => "anonymous".to_owned(),
        Some(a) => match &a.document.facts {
            PrincipalFacts::User(u) => u.email.clone(),
            PrincipalFacts::ServiceAccount(s) => format!("sa:{}", s.name),
        },
    });
    let ctx = Context {
        now: state.clock.now(),
        service: service.filter(|s| !s.is_empty()),
        scope,
    };
    let decisions = entries
        .iter()
        .map(|entry| {
            let decision = match entry {
                None => Decision::deny(Reason::MalformedEntry),
                Some(e) => decide::decide(
                    &catalog,
                    subject,
                    &ctx,
                    &Entry {
                        name: &e.name,
                        version: e.version.as_deref(),
                        branch: e.branch.as_deref(),
                        permission: &e.permission,
                    },
                ),
            };
            tracing::debug!(
                principal = label.as_deref().unwrap_or(""), service = ctx.service.unwrap_or(""),
                entry = ?entry, decision = ?decision.outcome, reason = decision.reason.as_str(),
                "authorize"
            );
            decision
        })
        .collect();
    Ok(decisions)
}

/// A dataset as `GET /api/dsg/v1/datasets` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetListing {
    /// Name in the service's vocabulary (else ours).
    pub name: String,
    /// `closed` or `public`.
    pub access_mode: &'static str,
    /// Some version is public.
    pub has_public_versions: bool,
}

/// A version as `GET /api/dsg/v1/datasets/{name}/versions` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionListing {
    /// Name in the service's vocabulary (else ours).
    pub version: String,
    /// Branch.
    pub branch: String,
    /// Ordinal on the branch.
    pub ordinal: Option<i64>,
    /// Public.
    pub is_public: bool,
}

/// Does the principal see the dataset at all (spec §6.1)?
fn visible(catalog: &Catalog, auth: &Authenticated, d: &DatasetInfo) -> bool {
    let scope = &auth.token.scope;
    if scope
        .datasets
        .as_ref()
        .is_some_and(|s| !s.contains(&d.name))
    {
        return false;
    }
    let public_version = catalog.versions_of(d.id).iter().any(|v| v.public);
    if d.public || public_version {
        return true;
    }
    match &auth.document.facts {
        PrincipalFacts::User(u) => {
            (u.admin && scope.is_unrestricted())
                || u.grants.iter().any(|g| g.dataset_id == d.id)
                || u.memberships.iter().any(|m| {
                    catalog
                        .group_permissions
                        .get(&m.group_id)
                        .is_some_and(|ps| ps.iter().any(|p| p.dataset_id == d.id))
                })
        }
        PrincipalFacts::ServiceAccount(s) => s.grants.iter().any(|g| g.dataset_id == d.id),
    }
}

/// The service's name for a dataset (the lexically first name-level
/// translation), else ours.
fn client_name(catalog: &Catalog, service: Option<&str>, d: &DatasetInfo) -> String {
    service
        .and_then(|s| catalog.translations.get(s))
        .and_then(|names| {
            names
                .iter()
                .filter(|(_, list)| {
                    list.iter()
                        .any(|t| t.client_version.is_none() && t.dataset_id == d.id)
                })
                .map(|(client, _)| client)
                .min()
                .cloned()
        })
        .unwrap_or_else(|| d.name.clone())
}

/// The datasets a principal sees, sorted by the (translated) name.
///
/// # Errors
/// The database is unreachable (cold catalog only).
pub async fn datasets(
    state: &AppState,
    auth: &Authenticated,
    service: Option<&str>,
) -> Result<Vec<DatasetListing>, ServiceError> {
    let catalog = state.cache.current_catalog().await?;
    let service = decide::service(&catalog, service).map(|s| s.name.as_str());
    let mut out: Vec<DatasetListing> = catalog
        .datasets
        .values()
        .filter(|d| visible(&catalog, auth, d))
        .map(|d| DatasetListing {
            name: client_name(&catalog, service, d),
            access_mode: if d.public { "public" } else { "closed" },
            has_public_versions: catalog.versions_of(d.id).iter().any(|v| v.public),
        })
        .collect();
    out.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
    Ok(out)
}

/// The versions of a dataset the principal sees, ordered by branch, ordinal
/// (nulls last), name.
///
/// # Errors
/// "Dataset not found" when unknown or invisible; the database is unreachable.
pub async fn versions(
    state: &AppState,
    auth: &Authenticated,
    name: &str,
    service: Option<&str>,
) -> Result<Vec<VersionListing>, ServiceError> {
    const NOT_FOUND: ServiceError = ServiceError::NotFound("Dataset not found");
    let catalog = state.cache.current_catalog().await?;
    let svc = decide::service(&catalog, service);
    let resolved = decide::resolve(&catalog, svc, name, None, None).ok_or(NOT_FOUND)?;
    let d = resolved.dataset;
    if !visible(&catalog, auth, d) {
        return Err(NOT_FOUND);
    }
    let translations: Vec<(&String, &dsg_core::permissions::TranslationInfo)> = svc
        .and_then(|s| catalog.translations.get(&s.name))
        .map(|names| {
            names
                .iter()
                .flat_map(|(client, list)| list.iter().map(move |t| (client, t)))
                .filter(|(_, t)| t.dataset_id == d.id && t.client_version.is_some())
                .collect()
        })
        .unwrap_or_default();
    let mut versions: Vec<_> = catalog.versions_of(d.id).iter().collect();
    versions.sort_by(|a, b| {
        version_order(&a.branch, a.ordinal, &a.name)
            .cmp(&version_order(&b.branch, b.ordinal, &b.name))
    });
    Ok(versions
        .into_iter()
        .map(|v| {
            let mut mine: Vec<&(&String, &dsg_core::permissions::TranslationInfo)> = translations
                .iter()
                .filter(|(_, t)| t.version_id == Some(v.id))
                .collect();
            // Prefer a translation under the name the client asked with.
            mine.sort_by_key(|(client, t)| (client.as_str() != name, t.id));
            VersionListing {
                version: mine
                    .first()
                    .and_then(|(_, t)| t.client_version.clone())
                    .unwrap_or_else(|| v.name.clone()),
                branch: v.branch.clone(),
                ordinal: v.ordinal,
                is_public: v.public,
            }
        })
        .collect())
}

/// A group's active members' e-mails, sorted. Under
/// `privacy.user_directory = "privileged"`, only members of the group,
/// global admins and service accounts may ask.
///
/// # Errors
/// "Group not found"; forbidden; the database is unreachable.
pub async fn group_members(
    state: &AppState,
    auth: &Authenticated,
    group: &str,
) -> Result<Vec<String>, ServiceError> {
    if state.config.privacy.user_directory == Directory::Privileged {
        let a = &auth.document.authority;
        if !(a.admin || a.service_account || a.in_group(group)) {
            return Err(ServiceError::Forbidden(None));
        }
    }
    let mut emails = state
        .store
        .active_group_member_emails(group, state.clock.now().0)
        .await?
        .ok_or(ServiceError::NotFound("Group not found"))?;
    emails.sort();
    let unique: BTreeSet<String> = emails.into_iter().collect();
    Ok(unique.into_iter().collect())
}
