//! The permission engine: facts in, permission document out.
//!
//! Given the catalog (datasets, their terms of service, group permissions) and
//! one principal's facts (grants, memberships, acceptances), [`evaluate`]
//! computes the document that `GET /api/v1/user/cache` returns, plus the
//! instant at which that document stops being true on its own (a grant or
//! membership expiring, a TOS becoming effective or retired). Callers cache
//! the serialised document until then, or until the facts change.
//!
//! Rules (spec §4), with the original's bugs fixed:
//! * levels imply lower ones; `read_only` users lose `edit` (only `edit`);
//! * group permissions are dataset-wide; direct grants may name a version —
//!   a version-scoped grant does **not** grant the whole dataset, it is
//!   reported under `version_permissions` instead;
//! * a dataset whose TOS is in force and not accepted by the user (the parent,
//!   for legacy parent-linked users) is dropped from `permissions_v2`;
//!   effective and retired dates are honoured;
//! * with a service named, datasets with an unaccepted service TOS in force
//!   are dropped too;
//! * expired grants and memberships count for nothing from their expiry on;
//! * `datasets_admin` lists each dataset once, whether the `admin` level came
//!   from a grant or a group;
//! * a token scope can narrow the document to some datasets and/or read-only.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;

use crate::level::{self, Level};
use crate::time::Timestamp;

/// A dataset as the engine needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetInfo {
    /// Integer id shown by the API.
    pub id: i64,
    /// Unique name (slug).
    pub name: String,
    /// The dataset-wide TOS that gates its permissions, if any.
    pub tos_id: Option<i64>,
    /// `access_mode = public`: listed in `missing_tos` for everyone.
    pub public: bool,
}

/// A terms-of-service document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TosInfo {
    /// Integer id.
    pub id: i64,
    /// Display name.
    pub name: String,
    /// Dataset scope, if any.
    pub dataset_id: Option<i64>,
    /// Service slug for a service-specific TOS.
    pub service: Option<String>,
    /// Version name for a version-scoped TOS (gates that version's grants).
    pub version: Option<String>,
    /// In force from this instant.
    pub effective_at: Timestamp,
    /// No longer in force from this instant.
    pub retired_at: Option<Timestamp>,
}

impl TosInfo {
    /// In force at `now`: effective and not yet retired.
    pub fn in_force(&self, now: Timestamp) -> bool {
        self.effective_at <= now && self.retired_at.is_none_or(|r| now < r)
    }

    /// The next instant after `now` at which [`TosInfo::in_force`] flips.
    pub(crate) fn next_change(&self, now: Timestamp) -> Option<Timestamp> {
        [Some(self.effective_at), self.retired_at]
            .into_iter()
            .flatten()
            .filter(|t| *t > now)
            .min()
    }
}

/// A dataset-wide permission held by a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupPermission {
    /// Dataset id.
    pub dataset_id: i64,
    /// Permission name.
    pub permission: String,
    /// Counts only for requests naming this service (`None`: every request).
    pub service: Option<String>,
}

/// A registered dataset version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionInfo {
    /// Integer id.
    pub id: i64,
    /// Exact version name.
    pub name: String,
    /// Release line; ordinals compare only within one.
    pub branch: String,
    /// Position on its branch: a grant or public flag on ordinal n covers
    /// the lower ordinals of the branch.
    pub ordinal: Option<i64>,
    /// Public (`view` for everyone).
    pub public: bool,
    /// Object prefix of the version inside its buckets.
    pub prefix: String,
}

/// The order versions are listed in: by branch, then ordinal (unordered
/// versions last), then name — the order ordinals reach in.
pub fn version_order<'a>(branch: &'a str, ordinal: Option<i64>, name: &'a str) -> impl Ord + 'a {
    (branch, ordinal.is_none(), ordinal, name)
}

/// How a service evaluates versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VersionEvalMode {
    /// Versions form lines of ordinals; every answer is final.
    #[default]
    Linear,
    /// Versions form a graph the service evaluates itself (cross-branch
    /// questions answer `service_eval` with anchors).
    Dag,
}

impl VersionEvalMode {
    /// The stored / wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Linear => "linear",
            Self::Dag => "dag",
        }
    }

    /// Parses `linear` or `dag`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "linear" => Some(Self::Linear),
            "dag" => Some(Self::Dag),
            _ => None,
        }
    }
}

/// A service clients name in their requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceInfo {
    /// Integer id.
    pub id: i64,
    /// Slug name.
    pub name: String,
    /// Version evaluation.
    pub mode: VersionEvalMode,
}

/// A service's name (and optionally version) for one of our datasets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranslationInfo {
    /// Integer id.
    pub id: i64,
    /// The client's version name (`None`: a name-level translation).
    pub client_version: Option<String>,
    /// Our dataset.
    pub dataset_id: i64,
    /// Our version (set exactly when `client_version` is).
    pub version_id: Option<i64>,
}

/// Everything shared by all principals: loaded once, reused for every document.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    /// Datasets by id.
    pub datasets: HashMap<i64, DatasetInfo>,
    /// TOS documents by id.
    pub tos: HashMap<i64, TosInfo>,
    /// Group id → its dataset permissions.
    pub group_permissions: HashMap<i64, Vec<GroupPermission>>,
    /// Dataset id → its registered versions.
    pub versions: HashMap<i64, Vec<VersionInfo>>,
    /// Services by name.
    pub services: HashMap<String, ServiceInfo>,
    /// Service name → the service's dataset name → translations.
    pub translations: HashMap<String, HashMap<String, Vec<TranslationInfo>>>,
    /// Dataset name → id.
    pub dataset_ids: HashMap<String, i64>,
}

impl Catalog {
    /// Fills the name index from `datasets` (call after loading them).
    pub fn index(&mut self) {
        self.dataset_ids = self
            .datasets
            .values()
            .map(|d| (d.name.clone(), d.id))
            .collect();
    }

    /// The dataset with exactly this name.
    pub fn dataset_named(&self, name: &str) -> Option<&DatasetInfo> {
        self.dataset_ids
            .get(name)
            .and_then(|id| self.datasets.get(id))
    }

    /// A service's translations of one of its dataset names.
    pub fn translations_of(&self, service: &str, client_name: &str) -> Option<&[TranslationInfo]> {
        self.translations
            .get(service)
            .and_then(|names| names.get(client_name))
            .map(Vec::as_slice)
    }

    /// The registered versions of a dataset.
    pub fn versions_of(&self, dataset_id: i64) -> &[VersionInfo] {
        self.versions.get(&dataset_id).map_or(&[], Vec::as_slice)
    }

    /// A dataset's version by exact name.
    pub fn version_named(&self, dataset_id: i64, name: &str) -> Option<&VersionInfo> {
        self.versions_of(dataset_id).iter().find(|v| v.name == name)
    }

    /// Version-scoped TOS documents (no service) of `dataset_id`'s `version`.
    pub fn version_tos<'a>(
        &'a self,
        dataset_id: i64,
        version: &'a str,
    ) -> impl Iterator<Item = &'a TosInfo> + 'a {
        self.tos.values().filter(move |t| {
            t.service.is_none()
                && t.dataset_id == Some(dataset_id)
                && t.version.as_deref() == Some(version)
        })
    }

    /// The dataset's gating TOS, if it has one.
    pub fn dataset_tos(&self, dataset: &DatasetInfo) -> Option<&TosInfo> {
        dataset.tos_id.and_then(|id| self.tos.get(&id))
    }

    /// Service-specific TOS documents of `service` scoped to `dataset_id`.
    pub fn service_tos<'a>(
        &'a self,
        service: &'a str,
        dataset_id: i64,
    ) -> impl Iterator<Item = &'a TosInfo> + 'a {
        self.tos.values().filter(move |t| {
            t.service.as_deref() == Some(service) && t.dataset_id == Some(dataset_id)
        })
    }
}

/// A permission held directly, by a user or a service account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantFact {
    /// Dataset id.
    pub dataset_id: i64,
    /// Version name when the grant is scoped to one version.
    pub version: Option<String>,
    /// Permission name.
    pub permission: String,
    /// Stops counting at this instant.
    pub expires_at: Option<Timestamp>,
    /// Counts only for requests naming this service (`None`: every request).
    pub service: Option<String>,
    /// Bucket rows it is restricted to for `/gcs_token` (empty: none).
    pub buckets: Vec<i64>,
}

impl GrantFact {
    /// Counts for a request naming `service` (or none).
    pub fn serves(&self, service: Option<&str>) -> bool {
        self.service.is_none() || self.service.as_deref() == service
    }
}

impl GroupPermission {
    /// Counts for a request naming `service` (or none).
    pub fn serves(&self, service: Option<&str>) -> bool {
        self.service.is_none() || self.service.as_deref() == service
    }
}

/// A group membership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipFact {
    /// Group id.
    pub group_id: i64,
    /// Group name.
    pub group_name: String,
    /// Group administrator.
    pub is_admin: bool,
    /// Stops counting at this instant.
    pub expires_at: Option<Timestamp>,
}

/// What the engine knows about a human user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserFacts {
    /// User id.
    pub id: i64,
    /// Legacy parent link (reports `service_account: true`).
    pub parent_id: Option<i64>,
    /// `display_name`, else `name`, else the e-mail's local part.
    pub public_name: String,
    /// The stored name (may be empty).
    pub name: String,
    /// E-mail address.
    pub email: String,
    /// Global administrator.
    pub admin: bool,
    /// Principal investigator (informational).
    pub pi: String,
    /// Avatar URL.
    pub picture_url: String,
    /// Loses `edit` everywhere.
    pub read_only: bool,
    /// Affiliation names.
    pub affiliations: Vec<String>,
    /// Group memberships.
    pub memberships: Vec<MembershipFact>,
    /// Direct grants.
    pub grants: Vec<GrantFact>,
    /// Accepted TOS ids (the parent's, for legacy parent-linked users).
    pub accepted_tos: BTreeSet<i64>,
}

/// What the engine knows about a service account.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceAccountFacts {
    /// Service-account id.
    pub id: i64,
    /// Slug name.
    pub name: String,
    /// Synthetic e-mail `<name>@service-account.dsg.local`.
    pub email: String,
    /// Its grants.
    pub grants: Vec<GrantFact>,
}

/// A principal's facts, kept beside its cached document so per-entry
/// decisions ([`decide`]) need no database round trip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrincipalFacts {
    /// A human user.
    User(UserFacts),
    /// A service account.
    ServiceAccount(ServiceAccountFacts),
}

impl PrincipalFacts {
    /// The facts as a decision subject.
    pub fn subject(&self) -> decide::Subject<'_> {
        match self {
            Self::User(u) => decide::Subject::User(u),
            Self::ServiceAccount(s) => decide::Subject::ServiceAccount(s),
        }
    }
}

/// Limits carried by a token, narrowing what its document shows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct TokenScope {
    /// Only `view` survives; `admin` flag and `datasets_admin` are cleared.
    pub read_only: bool,
    /// Only these dataset names survive, when set.
    pub datasets: Option<BTreeSet<String>>,
    /// A key delivered to a registered web client: the owner's rights
    /// without global-admin power (dataset rights from grants remain).
    pub delegated: bool,
}

impl TokenScope {
    /// No narrowing at all.
    pub fn is_unrestricted(&self) -> bool {
        !self.read_only && self.datasets.is_none() && !self.delegated
    }

    fn allows_dataset(&self, name: &str) -> bool {
        self.datasets.as_ref().is_none_or(|d| d.contains(name))
    }
}

/// Inputs that vary per request rather than per principal.
#[derive(Debug, Clone, Copy)]
pub struct EvalContext<'a> {
    /// The instant of evaluation.
    pub now: Timestamp,
    /// `?service=` — apply that service's TOS.
    pub service: Option<&'a str>,
    /// The presenting token's scope.
    pub scope: &'a TokenScope,
}

/// One `missing_tos` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MissingTos {
    /// Dataset id.
    pub dataset_id: i64,
    /// Dataset name.
    pub dataset_name: String,
    /// TOS id.
    pub tos_id: i64,
    /// TOS name.
    pub tos_name: String,
    /// Present for service-specific TOS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// Present for version-scoped TOS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// Dataset name → sorted permission names.
pub type PermissionLists = BTreeMap<String, Vec<String>>;

/// The `GET /api/v1/user/cache` document, keys in the original's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CacheDocument {
    /// Principal id.
    pub id: i64,
    /// Legacy parent link.
    pub parent_id: Option<i64>,
    /// Service account (or legacy parent-linked user).
    pub service_account: bool,
    /// Public name.
    pub name: String,
    /// E-mail.
    pub email: String,
    /// Global administrator.
    pub admin: bool,
    /// Principal investigator.
    pub pi: String,
    /// Avatar URL.
    pub picture_url: String,
    /// Affiliation names.
    pub affiliations: Vec<String>,
    /// Names of groups the principal is in.
    pub groups: Vec<String>,
    /// Names of groups the principal administers.
    pub groups_admin: Vec<String>,
    /// Dataset → highest numeric level in `permissions_v2`.
    pub permissions: BTreeMap<String, u8>,
    /// TOS-filtered permissions.
    pub permissions_v2: PermissionLists,
    /// Permissions without TOS filtering.
    pub permissions_v2_ignore_tos: PermissionLists,
    /// TOS the principal still has to accept.
    pub missing_tos: Vec<MissingTos>,
    /// Datasets the principal administers.
    pub datasets_admin: Vec<String>,
    /// Version-scoped grants: dataset → version → TOS-filtered permissions.
    pub version_permissions: BTreeMap<String, PermissionLists>,
}

/// A document and how long it stays true without any data change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    /// The document.
    pub document: CacheDocument,
    /// First future instant at which the same facts give another document.
    pub valid_until: Option<Timestamp>,
}

/// Collects the earliest future instant that matters.
#[derive(Default)]
struct Horizon(Option<Timestamp>);

impl Horizon {
    fn note(&mut self, t: Option<Timestamp>) {
        if let Some(t) = t {
            self.0 = Some(self.0.map_or(t, |cur| cur.min(t)));
        }
    }
}

/// Is something with this expiry still counting at `now`? Records the expiry.
fn live(expires_at: Option<Timestamp>, now: Timestamp, horizon: &mut Horizon) -> bool {
    match expires_at {
        Some(t) if t <= now => false,
        other => {
            horizon.note(other);
            true
        }
    }
}

/// Raw (dataset, version, permission) facts after expiry filtering.
struct Holdings {
    /// dataset id → permission names (dataset-wide).
    wide: BTreeMap<i64, BTreeSet<String>>,
    /// dataset id → version → permission names.
    versioned: BTreeMap<i64, BTreeMap<String, BTreeSet<String>>>,
}

impl Holdings {
    fn new() -> Self {
        Self {
            wide: BTreeMap::new(),
            versioned: BTreeMap::new(),
        }
    }

    fn add(&mut self, dataset_id: i64, version: Option<&str>, permission: &str) {
        match version {
            None => {
                self.wide
                    .entry(dataset_id)
                    .or_default()
                    .insert(permission.to_owned());
            }
            Some(v) => {
                self.versioned
                    .entry(dataset_id)
                    .or_default()
                    .entry(v.to_owned())
                    .or_default()
                    .insert(permission.to_owned());
            }
        }
    }

    fn add_grants(&mut self, grants: &[GrantFact], ctx: &EvalContext<'_>, horizon: &mut Horizon) {
        for g in grants {
            if g.serves(ctx.service) && live(g.expires_at, ctx.now, horizon) {
                self.add(g.dataset_id, g.version.as_deref(), &g.permission);
            }
        }
    }

    /// Every dataset the principal holds anything on.
    fn datasets(&self) -> BTreeSet<i64> {
        self.wide
            .keys()
            .chain(self.versioned.keys())
            .copied()
            .collect()
    }
}

/// Expands names by the level hierarchy, strips per the read-only rules, sorts.
/// Unknown names are kept as they are and imply nothing.
pub(crate) fn expand(names: &BTreeSet<String>, strip_edit: bool, view_only: bool) -> Vec<String> {
    let mut out: BTreeSet<String> = BTreeSet::new();
    for name in names {
        match Level::parse(name) {
            Some(l) => out.extend(l.implied().map(|i| i.as_str().to_owned())),
            None => {
                out.insert(name.clone());
            }
        }
    }
    if view_only {
        out.retain(|n| n == "view");
    } else if strip_edit {
        out.remove("edit");
    }
    out.into_iter().collect()
}

fn max_level(names: &[String]) -> u8 {
    names.iter().map(|n| level::number_of(n)).max().unwrap_or(0)
}

/// Which datasets are gated for this principal, and which TOS are missing.
struct TosVerdict {
    /// Datasets dropped from the TOS-filtered maps.
    blocked: BTreeSet<i64>,
    /// Versions dropped from `version_permissions` (version-scoped TOS).
    blocked_versions: BTreeSet<(i64, String)>,
    missing: Vec<MissingTos>,
}

fn tos_verdict(
    catalog: &Catalog,
    holdings: &Holdings,
    held: &BTreeSet<i64>,
    accepted: &BTreeSet<i64>,
    ctx: &EvalContext<'_>,
    horizon: &mut Horizon,
) -> TosVerdict {
    let now = ctx.now;
    let mut blocked = BTreeSet::new();
    let mut missing = Vec::new();
    // Datasets whose TOS matter: those held, plus public ones (self-service).
    let mut relevant: Vec<&DatasetInfo> = catalog
        .datasets
        .values()
        .filter(|d| held.contains(&d.id) || d.public)
        .collect();
    relevant.sort_by(|a, b| a.name.cmp(&b.name));

    for d in &relevant {
        if let Some(tos) = catalog.dataset_tos(d) {
            horizon.note(tos.next_change(now));
            if tos.in_force(now) && !accepted.contains(&tos.id) {
                blocked.insert(d.id);
                missing.push(MissingTos {
                    dataset_id: d.id,
                    dataset_name: d.name.clone(),
                    tos_id: tos.id,
                    tos_name: tos.name.clone(),
                    service: None,
                    version: None,
                });
            }
        }
    }
    if let Some(service) = ctx.service {
        for d in &relevant {
            let mut docs: Vec<&TosInfo> = catalog.service_tos(service, d.id).collect();
            docs.sort_by_key(|t| t.id);
            for tos in docs {
                horizon.note(tos.next_change(now));
                if tos.in_force(now) && !accepted.contains(&tos.id) {
                    blocked.insert(d.id);
                    missing.push(MissingTos {
                        dataset_id: d.id,
                        dataset_name: d.name.clone(),
                        tos_id: tos.id,
                        tos_name: tos.name.clone(),
                        service: Some(service.to_owned()),
                        version: None,
                    });
                }
            }
        }
    }
    // Version-scoped TOS gate the version grants of that version.
    let mut blocked_versions = BTreeSet::new();
    for (dataset_id, versions) in &holdings.versioned {
        let Some(d) = catalog.datasets.get(dataset_id) else {
            continue;
        };
        for version in versions.keys() {
            let mut docs: Vec<&TosInfo> = catalog.version_tos(*dataset_id, version).collect();
            docs.sort_by_key(|t| t.id);
            for tos in docs {
                horizon.note(tos.next_change(now));
                if tos.in_force(now) && !accepted.contains(&tos.id) {
                    blocked_versions.insert((*dataset_id, version.clone()));
                    missing.push(MissingTos {
                        dataset_id: d.id,
                        dataset_name: d.name.clone(),
                        tos_id: tos.id,
                        tos_name: tos.name.clone(),
                        service: None,
                        version: Some(version.clone()),
                    });
                }
            }
        }
    }
    TosVerdict {
        blocked,
        blocked_versions,
        missing,
    }
}

/// Shared tail of user and service-account evaluation.
struct Maps {
    permissions: BTreeMap<String, u8>,
    v2: PermissionLists,
    ignore_tos: PermissionLists,
    versions: BTreeMap<String, PermissionLists>,
    datasets_admin: Vec<String>,
}

fn build_maps(
    catalog: &Catalog,
    holdings: &Holdings,
    blocked: &BTreeSet<i64>,
    blocked_versions: &BTreeSet<(i64, String)>,
    strip_edit: bool,
    scope: &TokenScope,
) -> Maps {
    let view_only = scope.read_only;
    let mut maps = Maps {
        permissions: BTreeMap::new(),
        v2: BTreeMap::new(),
        ignore_tos: BTreeMap::new(),
        versions: BTreeMap::new(),
        datasets_admin: Vec::new(),
    };
    for (dataset_id, names) in &holdings.wide {
        let Some(d) = catalog.datasets.get(dataset_id) else {
            continue;
        };
        if !scope.allows_dataset(&d.name) {
            continue;
        }
        let list = expand(names, strip_edit, view_only);
        if list.is_empty() {
            continue;
        }
        if list.iter().any(|n| n == "admin") {
            maps.datasets_admin.push(d.name.clone());
        }
        if !blocked.contains(dataset_id) {
            maps.permissions.insert(d.name.clone(), max_level(&list));
            maps.v2.insert(d.name.clone(), list.clone());
        }
        maps.ignore_tos.insert(d.name.clone(), list);
    }
    for (dataset_id, versions) in &holdings.versioned {
        let Some(d) = catalog.datasets.get(dataset_id) else {
            continue;
        };
        if blocked.contains(dataset_id) || !scope.allows_dataset(&d.name) {
            continue;
        }
        let per_version: PermissionLists = versions
            .iter()
            .filter(|(v, _)| !blocked_versions.contains(&(*dataset_id, (*v).clone())))
            .map(|(v, names)| (v.clone(), expand(names, strip_edit, view_only)))
            .filter(|(_, l)| !l.is_empty())
            .collect();
        if !per_version.is_empty() {
            maps.versions.insert(d.name.clone(), per_version);
        }
    }
    maps.datasets_admin.sort();
    maps
}

/// Computes a human user's document.
pub fn evaluate_user(catalog: &Catalog, user: &UserFacts, ctx: &EvalContext<'_>) -> Evaluation {
    let now = ctx.now;
    let mut horizon = Horizon::default();
    let mut holdings = Holdings::new();
    let mut groups = BTreeSet::new();
    let mut groups_admin = BTreeSet::new();
    for m in &user.memberships {
        if !live(m.expires_at, now, &mut horizon) {
            continue;
        }
        groups.insert(m.group_name.clone());
        if m.is_admin {
            groups_admin.insert(m.group_name.clone());
        }
        for p in catalog
            .group_permissions
            .get(&m.group_id)
            .into_iter()
            .flatten()
            .filter(|p| p.serves(ctx.service))
        {
            holdings.add(p.dataset_id, None, &p.permission);
        }
    }
    holdings.add_grants(&user.grants, ctx, &mut horizon);

    let held = holdings.datasets();
    let verdict = tos_verdict(
        catalog,
        &holdings,
        &held,
        &user.accepted_tos,
        ctx,
        &mut horizon,
    );
    let maps = build_maps(
        catalog,
        &holdings,
        &verdict.blocked,
        &verdict.blocked_versions,
        user.read_only,
        ctx.scope,
    );
    let mut missing = verdict.missing;
    missing.retain(|m| ctx.scope.allows_dataset(&m.dataset_name));
    let restricted = ctx.scope.read_only;

    let mut affiliations = user.affiliations.clone();
    affiliations.sort();
    affiliations.dedup();
    Evaluation {
        document: CacheDocument {
            id: user.id,
            parent_id: user.parent_id,
            service_account: user.parent_id.is_some(),
            name: user.public_name.clone(),
            email: user.email.clone(),
            admin: user.admin && !restricted && !ctx.scope.delegated,
            pi: user.pi.clone(),
            picture_url: user.picture_url.clone(),
            affiliations,
            groups: groups.into_iter().collect(),
            groups_admin: groups_admin.into_iter().collect(),
            permissions: maps.permissions,
            permissions_v2: maps.v2,
            permissions_v2_ignore_tos: maps.ignore_tos,
            missing_tos: missing,
            datasets_admin: if restricted {
                Vec::new()
            } else {
                maps.datasets_admin
            },
            version_permissions: maps.versions,
        },
        valid_until: horizon.0,
    }
}

/// Computes a service account's document: its grants only, no TOS, no groups.
pub fn evaluate_service_account(
    catalog: &Catalog,
    sa: &ServiceAccountFacts,
    ctx: &EvalContext<'_>,
) -> Evaluation {
    let mut horizon = Horizon::default();
    let mut holdings = Holdings::new();
    holdings.add_grants(&sa.grants, ctx, &mut horizon);
    let maps = build_maps(
        catalog,
        &holdings,
        &BTreeSet::new(),
        &BTreeSet::new(),
        false,
        ctx.scope,
    );
    Evaluation {
        document: CacheDocument {
            id: sa.id,
            parent_id: None,
            service_account: true,
            name: sa.name.clone(),
            email: sa.email.clone(),
            admin: false,
            pi: String::new(),
            picture_url: String::new(),
            affiliations: Vec::new(),
            groups: Vec::new(),
            groups_admin: Vec::new(),
            permissions: maps.permissions,
            permissions_v2: maps.v2.clone(),
            permissions_v2_ignore_tos: maps.v2,
            missing_tos: Vec::new(),
            datasets_admin: Vec::new(),
            version_permissions: maps.versions,
        },
        valid_until: horizon.0,
    }
}

/// `display_name` if set, else `name`, else the e-mail's local part.
pub fn public_name(display_name: &str, name: &str, email: &str) -> String {
    if !display_name.is_empty() {
        display_name.to_owned()
    } else if !name.is_empty() {
        name.to_owned()
    } else {
        email.split('@').next().unwrap_or_default().to_owned()
    }
}

/// Synthetic e-mail of a service account.
pub fn service_account_email(name: &str) -> String {
    format!("{name}@service-account.dsg.local")
}

#[cfg(test)]
mod tests;

pub mod authority;
pub mod decide;
pub mod explain;
