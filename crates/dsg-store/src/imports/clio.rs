//! `dsg import clio-auth FILE`: a clio-store export
//! (`{"datasets": {ds: {"public": bool}}, "users": {email: {"name", "global_roles",
//! "disabled", "datasets": {ds: [roles]}, "groups": [..]}}}`).
//!
//! Global `clio_general` → `view` and `clio_write` → `edit` on every dataset
//! of the export's `datasets` section; per-dataset `clio_read`/`clio_general`
//! → `view`, `clio_write` → `edit`, `dataset_admin` → `admin`; `admin` in the
//! global roles → global admin (never removed); `disabled` → inactive. Public
//! datasets give the `user` group `view`. Unlike the original, `--dry-run`
//! writes nothing.

use std::collections::BTreeMap;

use dsg_core::DomainError;
use serde::Deserialize;
use serde_json::json;

use super::{ImportReport, Log, finish, repr, why};
use crate::users::validate_email;
use crate::{Result, Store};

/// The export document.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ClioExport {
    #[serde(default)]
    datasets: BTreeMap<String, ClioDataset>,
    #[serde(default)]
    users: BTreeMap<String, ClioUser>,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct ClioDataset {
    #[serde(default)]
    public: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct ClioUser {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    global_roles: Vec<String>,
    #[serde(default)]
    disabled: bool,
    #[serde(default)]
    datasets: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    groups: Vec<String>,
}

/// Parses an export.
///
/// # Errors
/// [`DomainError::Invalid`] naming the place of a malformed document.
pub fn parse(text: &str) -> Result<ClioExport, DomainError> {
    serde_json::from_str(text).map_err(|e| DomainError::Invalid(format!("Clio export: {e}")))
}

fn yes_no(b: bool) -> &'static str {
    if b { "True" } else { "False" }
}

impl Store {
    /// Imports a Clio export.
    ///
    /// # Errors
    /// The database is unreachable; nothing is written then.
    pub async fn import_clio(
        &self,
        export: &ClioExport,
        source: &str,
        dry_run: bool,
    ) -> Result<ImportReport> {
        let mut tx = self.begin_import("import clio-auth").await?;
        let mut log = Log::default();
        for p in ["view", "edit", "admin"] {
            tx.ensure_permission(p).await?;
        }
        let (user_group, created) = tx.ensure_group("user").await?;
        if log.count(created) {
            log.line("  Created group: user");
        }
        let mut dataset_ids = BTreeMap::new();
        for (name, d) in &export.datasets {
            let (id, created) = tx.ensure_dataset(name).await?;
            log.dataset(name, created);
            if d.public
                && log.count(
                    tx.ensure_group_permission(user_group, id, "view", None)
                        .await?,
                )
            {
                log.line(format!(
                    "    Granted view on {name} to 'user' group (public)"
                ));
            }
            dataset_ids.insert(name.clone(), id);
        }
        let (mut users, mut skipped) = (0usize, Vec::new());
        for (email, u) in &export.users {
            if let Err(e) = validate_email(email) {
                skipped.push(format!("{email} ({})", why(&e)));
                continue;
            }
            users += 1;
            let name = u.name.clone().unwrap_or_default();
            let admin = u.global_roles.iter().any(|r| r == "admin");
            let (user_id, created) = tx.ensure_user(email, &name).await?;
            let mut profile = tx.user_profile(user_id).await?;
            profile.admin |= admin;
            profile.active = !u.disabled;
            if profile.name.is_empty() {
                profile.name.clone_from(&name);
            }
            let updated = tx.update_user_profile(user_id, &profile).await?;
            let mut detail = Vec::new();
            let mut changed = updated;
            changed |= tx.ensure_member(user_id, user_group, false).await?;
            for (role, perm) in [("clio_general", "view"), ("clio_write", "edit")] {
                if u.global_roles.iter().any(|r| r == role) {
                    let mut any = false;
                    for id in dataset_ids.values() {
                        any |= tx.ensure_grant(user_id, *id, perm).await?;
                    }
                    changed |= any;
                    detail.push(format!("    Global {role} → {perm} on all datasets"));
                }
            }
            for (ds, roles) in &u.datasets {
                let id = match dataset_ids.get(ds) {
                    Some(id) => *id,
                    None => {
                        let (id, created) = tx.ensure_dataset(ds).await?;
                        if log.count(created) {
                            log.line(format!("  Created dataset (from user ref): {ds}"));
                        }
                        dataset_ids.insert(ds.clone(), id);
                        id
                    }
                };
                for role in roles {
                    let (perm, label) = match role.as_str() {
                        "clio_read" | "clio_general" => ("view", "view"),
                        "clio_write" => ("edit", "edit"),
                        "dataset_admin" => ("admin", "admin grant"),
                        other => {
                            detail.push(format!("    {ds}: unknown role {} skipped", repr(other)));
                            continue;
                        }
                    };
                    changed |= tx.ensure_grant(user_id, id, perm).await?;
                    detail.push(format!("    {ds}: {label}"));
                }
            }
            for g in &u.groups {
                if g.trim().is_empty() {
                    detail.push("    Group: (empty name) skipped".into());
                    continue;
                }
                let (gid, created) = tx.ensure_group(g).await?;
                changed |= created;
                changed |= tx.ensure_member(user_id, gid, false).await?;
                detail.push(format!("    Group: {g}"));
            }
            let label = if created {
                "Created user"
            } else if changed {
                "Updated user"
            } else {
                "Unchanged user"
            };
            log.count(created || changed);
            log.line(format!(
                "  {label}: {email} (admin={})",
                yes_no(profile.admin)
            ));
            for d in detail {
                log.line(d);
            }
        }
        if !skipped.is_empty() {
            log.line("");
            log.line(format!("Skipped: {}", skipped.join(", ")));
        }
        log.line("");
        log.line(format!(
            "Imported {users} users and {} datasets.",
            dataset_ids.len()
        ));
        let summary = json!({"source": source, "users": users, "datasets": dataset_ids.len(),
                             "skipped": skipped.len()});
        finish(tx, "import_clio_auth", summary, log, dry_run).await
    }
}
