//! Per-entry access decisions (`POST /api/dsg/v1/authorize`, dsg-native-v1
//! §4): resolve a client's dataset reference (translations, exact names,
//! version ordinals), collect the rows that cover it, and answer `allow`,
//! `deny`, `tos_required` or `service_eval` with ordered roles.
//!
//! It reads the same [`Catalog`] and principal facts as the `user/cache`
//! engine and expands levels with the same [`super::expand`], so the two
//! cannot disagree on what a grant means (held against each other in the
//! tests).

use std::collections::BTreeSet;

use crate::level::Level;
use crate::time::Timestamp;

use super::{
    Catalog, DatasetInfo, GrantFact, ServiceAccountFacts, ServiceInfo, TokenScope, TosInfo,
    UserFacts, VersionEvalMode, VersionInfo, expand,
};

/// Who asks.
#[derive(Debug, Clone, Copy)]
pub enum Subject<'a> {
    /// No credential at all.
    Anonymous,
    /// A human user.
    User(&'a UserFacts),
    /// A service account.
    ServiceAccount(&'a ServiceAccountFacts),
}

/// The request-wide inputs.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The instant of evaluation.
    pub now: Timestamp,
    /// The service named by the request, as sent (may be unknown).
    pub service: Option<&'a str>,
    /// The presenting credential's limits.
    pub scope: &'a TokenScope,
}

/// One entry of a batch.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    /// The client's dataset name.
    pub name: &'a str,
    /// The client's version name, if any.
    pub version: Option<&'a str>,
    /// Branch for an all-digit version (default `main`).
    pub branch: Option<&'a str>,
    /// Permission asked for (default `view`).
    pub permission: &'a str,
}

/// A version a request names: registered, or an ordinal nobody registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target<'a> {
    /// The dataset as a whole (no version asked).
    Dataset,
    /// A registered version.
    Version(&'a VersionInfo),
    /// "Ordinal n on branch b" (all-digit version with no such name).
    Ordinal {
        /// Branch.
        branch: &'a str,
        /// Ordinal.
        ordinal: i64,
    },
}

impl Target<'_> {
    fn branch_ordinal(&self) -> Option<(&str, i64)> {
        match *self {
            Target::Dataset => None,
            Target::Version(v) => v.ordinal.map(|o| (v.branch.as_str(), o)),
            Target::Ordinal { branch, ordinal } => Some((branch, ordinal)),
        }
    }
}

/// A resolved entry: our dataset and what part of it.
#[derive(Debug, Clone, Copy)]
pub struct Resolved<'a> {
    /// Our dataset.
    pub dataset: &'a DatasetInfo,
    /// The part asked for.
    pub target: Target<'a>,
}

/// What an entry's answer is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Allowed with `roles`.
    Allow,
    /// Denied.
    Deny,
    /// Covered, but terms of service are pending.
    TosRequired {
        /// Canonical dataset name (for the service-check page).
        dataset: String,
        /// Canonical version name, when a version document is pending.
        version: Option<String>,
    },
    /// A DAG service must evaluate ancestry against these anchors.
    ServiceEval {
        /// Anchors.
        anchors: Vec<Anchor>,
    },
}

/// A point a DAG service compares the requested node with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchor {
    /// Branch.
    pub branch: String,
    /// Ordinal on the branch.
    pub version: i64,
    /// Roles the anchor grants.
    pub roles: Vec<String>,
}

/// Why, for the debug log (never sent to clients).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Global administrator.
    Admin,
    /// A grant or group permission covers it.
    Covered,
    /// The dataset is public.
    Public,
    /// A public version covers it.
    PublicVersion,
    /// Covered, terms pending.
    MissingTos,
    /// Handed to the service.
    ServiceEval,
    /// Nothing covers it.
    NoGrant,
    /// The entry was not understood.
    MalformedEntry,
    /// The reference does not resolve.
    UnknownTranslation,
    /// The credential is limited to other datasets.
    OutOfScope,
}

impl Reason {
    /// The log word.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Covered => "covered",
            Self::Public => "public",
            Self::PublicVersion => "public-version",
            Self::MissingTos => "missing-tos",
            Self::ServiceEval => "service-eval",
            Self::NoGrant => "no-grant",
            Self::MalformedEntry => "malformed-entry",
            Self::UnknownTranslation => "unknown-translation",
            Self::OutOfScope => "out-of-scope",
        }
    }
}

/// One entry's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The answer.
    pub outcome: Outcome,
    /// Roles, ordered `view, edit, manage, admin`, then other names sorted.
    pub roles: Vec<String>,
    /// Why.
    pub reason: Reason,
}

impl Decision {
    /// A denial.
    pub fn deny(reason: Reason) -> Self {
        Self {
            outcome: Outcome::Deny,
            roles: Vec::new(),
            reason,
        }
    }
}

/// The service the request names, when it exists.
pub fn service<'a>(catalog: &'a Catalog, name: Option<&str>) -> Option<&'a ServiceInfo> {
    name.filter(|n| !n.is_empty())
        .and_then(|n| catalog.services.get(n))
}

/// Resolves a client's (name, version, branch) to our dataset and target
/// (spec §4.2); `None` when it does not resolve.
pub fn resolve<'a>(
    catalog: &'a Catalog,
    service: Option<&ServiceInfo>,
    name: &str,
    version: Option<&'a str>,
    branch: Option<&'a str>,
) -> Option<Resolved<'a>> {
    let translations = service.and_then(|s| catalog.translations_of(&s.name, name));
    if let (Some(list), Some(v)) = (translations, version)
        && let Some(t) = list.iter().find(|t| t.client_version.as_deref() == Some(v))
    {
        let dataset = catalog.datasets.get(&t.dataset_id)?;
        let version = catalog
            .versions_of(t.dataset_id)
            .iter()
            .find(|x| Some(x.id) == t.version_id)?;
        return Some(Resolved {
            dataset,
            target: Target::Version(version),
        });
    }
    let name_level = translations.and_then(|l| l.iter().find(|t| t.client_version.is_none()));
    let dataset = match name_level {
        Some(t) => catalog.datasets.get(&t.dataset_id)?,
        None => catalog.dataset_named(name)?,
    };
    let target = match version {
        None => Target::Dataset,
        Some(v) => match catalog.version_named(dataset.id, v) {
            Some(found) => Target::Version(found),
            None if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) => Target::Ordinal {
                branch: branch.unwrap_or("main"),
                ordinal: v.parse().ok()?,
            },
            None => return None,
        },
    };
    Some(Resolved { dataset, target })
}

/// Does a row attached to `row_version` (`None`: dataset-wide) cover `target`
/// (spec §2.2 ordinal reach)?
pub fn covers(row_version: Option<&VersionInfo>, target: Target<'_>) -> bool {
    let Some(v) = row_version else {
        return true;
    };
    match target {
        Target::Dataset => false,
        Target::Version(t) if t.id == v.id => true,
        _ => match (v.ordinal, target.branch_ordinal()) {
            (Some(reach), Some((branch, ordinal))) => branch == v.branch && ordinal <= reach,
            _ => false,
        },
    }
}

/// Roles in wire order: the four levels first, then other names sorted.
pub fn ordered_roles(names: BTreeSet<String>) -> Vec<String> {
    let mut out: Vec<String> = Level::ALL
        .iter()
        .map(|l| l.as_str())
        .filter(|l| names.contains(*l))
        .map(str::to_owned)
        .collect();
    out.extend(names.into_iter().filter(|n| Level::parse(n).is_none()));
    out
}

/// A candidate row: its version (if scoped) and its expanded permissions.
struct Row<'a> {
    version: Option<&'a VersionInfo>,
    roles: Vec<String>,
}

fn expanded(permission: &str, strip_edit: bool, view_only: bool) -> Vec<String> {
    expand(
        &BTreeSet::from([permission.to_owned()]),
        strip_edit,
        view_only,
    )
}

fn grant_rows<'a>(
    out: &mut Vec<Row<'a>>,
    catalog: &'a Catalog,
    grants: &[GrantFact],
    dataset: &DatasetInfo,
    ctx: &Context<'_>,
    strip_edit: bool,
) {
    for g in grants.iter().filter(|g| {
        g.dataset_id == dataset.id
            && g.expires_at.is_none_or(|t| ctx.now < t)
            && g.serves(ctx.service)
    }) {
        let version = match &g.version {
            None => None,
            Some(name) => match catalog.version_named(dataset.id, name) {
                Some(v) => Some(v),
                // A grant on a version that is gone covers nothing.
                None => continue,
            },
        };
        out.push(Row {
            version,
            roles: expanded(&g.permission, strip_edit, ctx.scope.read_only),
        });
    }
}

/// The candidate rows of a subject on one dataset (spec §4.4).
fn rows<'a>(
    catalog: &'a Catalog,
    subject: Subject<'a>,
    dataset: &DatasetInfo,
    ctx: &Context<'_>,
) -> Vec<Row<'a>> {
    let mut out: Vec<Row<'a>> = Vec::new();
    match subject {
        Subject::Anonymous => out,
        Subject::ServiceAccount(sa) => {
            grant_rows(&mut out, catalog, &sa.grants, dataset, ctx, false);
            out
        }
        Subject::User(u) => {
            grant_rows(&mut out, catalog, &u.grants, dataset, ctx, u.read_only);
            for m in u
                .memberships
                .iter()
                .filter(|m| m.expires_at.is_none_or(|t| ctx.now < t))
            {
                for p in catalog
                    .group_permissions
                    .get(&m.group_id)
                    .into_iter()
                    .flatten()
                    .filter(|p| p.dataset_id == dataset.id && p.serves(ctx.service))
                {
                    out.push(Row {
                        version: None,
                        roles: expanded(&p.permission, u.read_only, ctx.scope.read_only),
                    });
                }
            }
            out
        }
    }
}

/// The terms of service still pending for (subject, dataset, service,
/// target), in the spec's order (§5.1). Service accounts never have any;
/// anonymous callers have every document in force.
pub fn pending_tos<'a>(
    catalog: &'a Catalog,
    subject: Subject<'_>,
    resolved: &Resolved<'_>,
    service: Option<&str>,
    now: Timestamp,
) -> Vec<&'a TosInfo> {
    let accepted = match subject {
        Subject::ServiceAccount(_) => return Vec::new(),
        Subject::User(u) => Some(&u.accepted_tos),
        Subject::Anonymous => None,
    };
    let d = resolved.dataset;
    let mut out: Vec<&TosInfo> = Vec::new();
    let mut push = |t: &'a TosInfo| {
        if t.in_force(now)
            && accepted.is_none_or(|a| !a.contains(&t.id))
            && !out.iter().any(|o| o.id == t.id)
        {
            out.push(t);
        }
    };
    if let Some(t) = catalog.dataset_tos(d) {
        push(t);
    }
    let mut scoped: Vec<&TosInfo> = catalog
        .tos
        .values()
        .filter(|t| t.dataset_id == Some(d.id))
        .collect();
    scoped.sort_by_key(|t| t.id);
    if let Some(s) = service {
        for t in scoped
            .iter()
            .filter(|t| t.service.as_deref() == Some(s) && t.version.is_none())
        {
            push(t);
        }
    }
    if let Target::Version(v) = resolved.target {
        for t in scoped.iter().filter(|t| {
            t.version.as_deref() == Some(v.name.as_str())
                && (t.service.is_none() || t.service.as_deref() == service)
        }) {
            push(t);
        }
    }
    out
}

/// Is `subject` a global administrator through this credential?
fn is_admin(subject: Subject<'_>, scope: &TokenScope) -> bool {
    matches!(subject, Subject::User(u) if u.admin) && scope.is_unrestricted()
}

/// Decides one entry (spec §4.5).
pub fn decide(
    catalog: &Catalog,
    subject: Subject<'_>,
    ctx: &Context<'_>,
    entry: &Entry<'_>,
) -> Decision {
    let service = service(catalog, ctx.service);
    let Some(resolved) = resolve(catalog, service, entry.name, entry.version, entry.branch) else {
        return Decision::deny(Reason::UnknownTranslation);
    };
    let dataset = resolved.dataset;
    if ctx
        .scope
        .datasets
        .as_ref()
        .is_some_and(|d| !d.contains(&dataset.name))
    {
        return Decision::deny(Reason::OutOfScope);
    }
    if is_admin(subject, ctx.scope) {
        return Decision {
            outcome: Outcome::Allow,
            roles: Level::ALL.iter().map(|l| l.as_str().to_owned()).collect(),
            reason: Reason::Admin,
        };
    }
    let target = resolved.target;
    // TOS documents scoped to an unknown service cannot exist; the name
    // still selects none, so passing it through is harmless.
    let gated = |roles: BTreeSet<String>, reason: Reason| {
        let pending = pending_tos(catalog, subject, &resolved, ctx.service, ctx.now);
        if pending.is_empty() {
            Decision {
                outcome: Outcome::Allow,
                roles: ordered_roles(roles),
                reason,
            }
        } else {
            let version = match target {
                Target::Version(v) if pending.iter().any(|t| t.version.is_some()) => {
                    Some(v.name.clone())
                }
                _ => None,
            };
            Decision {
                outcome: Outcome::TosRequired {
                    dataset: dataset.name.clone(),
                    version,
                },
                roles: ordered_roles(roles),
                reason: Reason::MissingTos,
            }
        }
    };

    let candidates = rows(catalog, subject, dataset, ctx);
    let matching: Vec<&Row<'_>> = candidates
        .iter()
        .filter(|r| r.roles.iter().any(|n| n == entry.permission))
        .collect();
    let covered: BTreeSet<String> = matching
        .iter()
        .filter(|r| covers(r.version, target))
        .flat_map(|r| r.roles.iter().cloned())
        .collect();
    if !covered.is_empty() {
        return gated(covered, Reason::Covered);
    }
    let view = entry.permission == Level::View.as_str();
    if view && dataset.public {
        return gated(BTreeSet::from(["view".to_owned()]), Reason::Public);
    }
    let public_versions = catalog.versions_of(dataset.id).iter().filter(|v| v.public);
    if view && target != Target::Dataset && public_versions.clone().any(|v| covers(Some(v), target))
    {
        return gated(BTreeSet::from(["view".to_owned()]), Reason::PublicVersion);
    }
    if service.is_some_and(|s| s.mode == VersionEvalMode::Dag) && target != Target::Dataset {
        let target_branch = target.branch_ordinal().map(|(b, _)| b);
        // Rows on the target's own branch are decided linearly above.
        let mut anchors: Vec<Anchor> = matching
            .iter()
            .filter_map(|r| {
                let v = r
                    .version
                    .filter(|v| Some(v.branch.as_str()) != target_branch)?;
                Some(Anchor {
                    branch: v.branch.clone(),
                    version: v.ordinal?,
                    roles: ordered_roles(r.roles.iter().cloned().collect()),
                })
            })
            .collect();
        if view {
            anchors.extend(public_versions.filter_map(|v| {
                Some(Anchor {
                    branch: v.branch.clone(),
                    version: v.ordinal?,
                    roles: vec!["view".to_owned()],
                })
            }));
        }
        if anchors.is_empty() {
            return Decision::deny(Reason::NoGrant);
        }
        let roles: BTreeSet<String> = anchors.iter().flat_map(|a| a.roles.clone()).collect();
        let decision = gated(roles, Reason::ServiceEval);
        return match decision.outcome {
            Outcome::Allow => Decision {
                outcome: Outcome::ServiceEval { anchors },
                roles: decision.roles,
                reason: Reason::ServiceEval,
            },
            _ => decision,
        };
    }
    Decision::deny(Reason::NoGrant)
}

/// One `dataset_bucket` row with the requested name: an authorization
/// domain of `/gcs_token` (bucket names are not unique).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketRow {
    /// The bucket row.
    pub bucket_id: i64,
    /// Its dataset.
    pub dataset_id: i64,
    /// The dataset's versions attached to it, in id order.
    pub version_ids: Vec<i64>,
}

/// What `/gcs_token` answers for one bucket (spec §7.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BucketDecision {
    /// Issue a token: for the whole bucket (`None`), or only under these
    /// object prefixes when nothing but version-scoped rows or public
    /// versions with a prefix cover it.
    Issue {
        /// `covered`, `public` or `public-version` (first match).
        reason: Reason,
        /// Object prefixes, when limited.
        prefixes: Option<Vec<String>>,
    },
    /// Covered, but terms are pending (the first such anchor).
    TosRequired {
        /// Canonical dataset name.
        dataset: String,
        /// Canonical version name, when a version document is pending.
        version: Option<String>,
    },
    /// Nothing covers it: `unknown_bucket` or `no_coverage`.
    Denied {
        /// Log word.
        reason: &'static str,
    },
}

/// How an anchor is covered: `wide` when the coverage opens the whole
/// bucket (a dataset-wide row or a public dataset).
fn bucket_cover(
    catalog: &Catalog,
    user: &UserFacts,
    now: Timestamp,
    row: &BucketRow,
    dataset: &DatasetInfo,
    anchor: Target<'_>,
) -> Option<(Reason, bool)> {
    let viewable = |p: &str| Level::parse(p).is_some();
    let granted = user.grants.iter().find_map(|g| {
        let usable = g.dataset_id == dataset.id
            && g.service.is_none()
            && g.expires_at.is_none_or(|t| now < t)
            && (g.buckets.is_empty() || g.buckets.contains(&row.bucket_id))
            && viewable(&g.permission);
        if !usable {
            return None;
        }
        let version = match &g.version {
            None => None,
            Some(name) => Some(catalog.version_named(dataset.id, name)?),
        };
        covers(version, anchor).then_some(version.is_none())
    });
    let grouped = user
        .memberships
        .iter()
        .filter(|m| m.expires_at.is_none_or(|t| now < t))
        .flat_map(|m| {
            catalog
                .group_permissions
                .get(&m.group_id)
                .into_iter()
                .flatten()
        })
        .any(|p| p.dataset_id == dataset.id && p.service.is_none() && viewable(&p.permission));
    if grouped || granted == Some(true) {
        return Some((Reason::Covered, true));
    }
    if dataset.public {
        return Some((Reason::Public, true));
    }
    if granted == Some(false) {
        return Some((Reason::Covered, false));
    }
    let public_version = anchor != Target::Dataset
        && catalog
            .versions_of(dataset.id)
            .iter()
            .any(|v| v.public && covers(Some(v), anchor));
    public_version.then_some((Reason::PublicVersion, false))
}

/// Decides `/gcs_token` for a user and every bucket row bearing the
/// requested name: the union over the rows, each row's anchors being its
/// attached versions or else the dataset grain (spec §7.1). Rows scoped to a
/// service never count; a grant restricted to buckets counts only on those.
pub fn decide_bucket(
    catalog: &Catalog,
    user: &UserFacts,
    scope: &TokenScope,
    now: Timestamp,
    rows: &[BucketRow],
) -> BucketDecision {
    if rows.is_empty() {
        return BucketDecision::Denied {
            reason: "unknown_bucket",
        };
    }
    let mut prefixes: BTreeSet<String> = BTreeSet::new();
    let mut limited_reason = None;
    let mut block = None;
    for row in rows {
        let Some(dataset) = catalog.datasets.get(&row.dataset_id) else {
            continue;
        };
        if scope
            .datasets
            .as_ref()
            .is_some_and(|d| !d.contains(&dataset.name))
        {
            continue;
        }
        let anchors: Vec<Target<'_>> = if row.version_ids.is_empty() {
            vec![Target::Dataset]
        } else {
            catalog
                .versions_of(dataset.id)
                .iter()
                .filter(|v| row.version_ids.contains(&v.id))
                .map(Target::Version)
                .collect()
        };
        for anchor in anchors {
            let Some((reason, wide)) = bucket_cover(catalog, user, now, row, dataset, anchor)
            else {
                continue;
            };
            let resolved = Resolved {
                dataset,
                target: anchor,
            };
            let pending = pending_tos(catalog, Subject::User(user), &resolved, None, now);
            if !pending.is_empty() {
                if block.is_none() {
                    let version = match anchor {
                        Target::Version(v) if pending.iter().any(|t| t.version.is_some()) => {
                            Some(v.name.clone())
                        }
                        _ => None,
                    };
                    block = Some((dataset.name.clone(), version));
                }
                continue;
            }
            match anchor {
                Target::Version(v) if !wide && !v.prefix.is_empty() => {
                    prefixes.insert(v.prefix.clone());
                    limited_reason.get_or_insert(reason);
                }
                _ => {
                    return BucketDecision::Issue {
                        reason,
                        prefixes: None,
                    };
                }
            }
        }
    }
    if let Some(reason) = limited_reason {
        return BucketDecision::Issue {
            reason,
            prefixes: Some(prefixes.into_iter().collect()),
        };
    }
    match block {
        Some((dataset, version)) => BucketDecision::TosRequired { dataset, version },
        None => BucketDecision::Denied {
            reason: "no_coverage",
        },
    }
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;
