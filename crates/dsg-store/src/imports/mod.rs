//! Bulk imports: neuPrint's `authorized.json`, a Clio export, a CSV of users
//! and a Django DatasetGateway database.
//!
//! Every import runs in **one** [`WriteTx`] through the ordinary store
//! operations, so each row it creates is audited and invalidates caches like
//! any other change, and ends with one `bulk_import` audit row. Imports are
//! get-or-create throughout: a second run finds everything present, changes
//! nothing, writes nothing and says so. A dry run executes exactly the same
//! code and rolls the transaction back, so its report is the report a real
//! run would print.

pub mod clio;
pub mod csv;
pub mod django;
pub mod neuprint;

use dsg_core::DomainError;
use serde_json::{Value, json};

use crate::events::CacheEvent;
use crate::grants::NewGrant;
use crate::users::NewUser;
use crate::write::Actor;
use crate::{Result, Store, WriteTx, now_micros, on_tx};

/// What an import did (or, in a dry run, would do).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportReport {
    /// The report, one line per entry, as printed.
    pub lines: Vec<String>,
    /// Number of changes made (0: the database already held everything).
    pub changes: usize,
    /// Whether this was a dry run (nothing written).
    pub dry_run: bool,
}

impl ImportReport {
    /// The report as text, ending with the line that says whether anything changed.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if self.dry_run {
            out.push_str("DRY RUN — no changes will be made\n");
        }
        for l in &self.lines {
            out.push_str(l);
            out.push('\n');
        }
        out.push('\n');
        out.push_str(&self.outcome());
        out.push('\n');
        out
    }

    /// The closing line.
    pub fn outcome(&self) -> String {
        match (self.changes, self.dry_run) {
            (0, _) => {
                "Nothing to change: the database already holds everything in this file.".to_owned()
            }
            (n, true) => format!("Dry run: {n} change(s) would be made; nothing was written."),
            (n, false) => format!("{n} change(s) committed."),
        }
    }
}

/// Collects report lines and counts changes while an import runs.
#[derive(Debug, Default)]
pub(crate) struct Log {
    lines: Vec<String>,
    changes: usize,
}

impl Log {
    pub(crate) fn line(&mut self, s: impl Into<String>) {
        self.lines.push(s.into());
    }

    pub(crate) fn changed(&mut self) {
        self.changes += 1;
    }

    /// `  Created dataset: X` (a change) or `  Exists dataset: X`.
    pub(crate) fn dataset(&mut self, name: &str, created: bool) {
        if self.count(created) {
            self.line(format!("  Created dataset: {name}"));
        } else {
            self.line(format!("  Exists dataset: {name}"));
        }
    }

    /// Counts a change when `created` is true; passes it through.
    pub(crate) fn count(&mut self, created: bool) -> bool {
        if created {
            self.changes += 1;
        }
        created
    }
}

/// Finishes an import: nothing changed → roll back (no audit row either);
/// otherwise record the `bulk_import` audit row and commit, or roll back for
/// a dry run.
pub(crate) async fn finish(
    mut tx: WriteTx,
    command: &str,
    summary: Value,
    log: Log,
    dry_run: bool,
) -> Result<ImportReport> {
    if log.changes > 0 {
        tx.audit("bulk_import", "Command", command, None, Some(summary))
            .await?;
        if !dry_run {
            tx.invalidate(CacheEvent::All);
            tx.commit().await?;
        }
    }
    // Dropping `tx` without commit rolls everything back.
    Ok(ImportReport {
        lines: log.lines,
        changes: log.changes,
        dry_run,
    })
}

impl Store {
    /// Opens the transaction of an import, acting as `cli:<command>`.
    pub(crate) async fn begin_import(&self, command: &str) -> Result<WriteTx> {
        self.begin(Actor::cli(command)).await
    }
}

/// A rule violation's message without the error kind's prefix, for reports.
pub(crate) fn why(e: &DomainError) -> String {
    match e {
        DomainError::Invalid(m) => m.clone(),
        e => e.to_string(),
    }
}

/// Python-`repr`-like quoting for report values (`'x'`, with `'` escaped).
pub(crate) fn repr(s: &str) -> String {
    let mut out = String::from("'");
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

impl WriteTx {
    /// Id of a dataset by exact name, creating it (closed, no TOS) when missing.
    /// Returns `(id, created)`.
    ///
    /// # Errors
    /// An empty name; the database is unreachable.
    pub async fn ensure_dataset(&mut self, name: &str) -> Result<(i64, bool)> {
        const SQL: &str = "SELECT id FROM dataset WHERE name = $1";
        let id: Option<i64> = on_tx!(&mut self.tx, conn => sqlx::query_scalar(SQL).bind(name).fetch_optional(conn).await)?;
        match id {
            Some(id) => Ok((id, false)),
            None => Ok((self.create_dataset(name, "", "closed").await?, true)),
        }
    }

    /// Id of a group by exact name, creating it when missing. Returns `(id, created)`.
    ///
    /// # Errors
    /// An empty name; the database is unreachable.
    pub async fn ensure_group(&mut self, name: &str) -> Result<(i64, bool)> {
        const SQL: &str = "SELECT id FROM dsg_group WHERE name = $1";
        let id: Option<i64> = on_tx!(&mut self.tx, conn => sqlx::query_scalar(SQL).bind(name).fetch_optional(conn).await)?;
        match id {
            Some(id) => Ok((id, false)),
            None => Ok((self.create_group(name).await?, true)),
        }
    }

    /// Id of the user with this e-mail (case-insensitive), creating an active
    /// user named `name` when missing. Returns `(id, created)`.
    ///
    /// # Errors
    /// An invalid e-mail; the database is unreachable.
    pub async fn ensure_user(&mut self, email: &str, name: &str) -> Result<(i64, bool)> {
        match self.user_id_by_email(email).await? {
            Some(id) => Ok((id, false)),
            None => Ok((
                self.create_user(&NewUser {
                    email: email.to_owned(),
                    name: name.to_owned(),
                    active: true,
                    ..NewUser::default()
                })
                .await?,
                true,
            )),
        }
    }

    /// Makes the user a member of the group unless already one. Returns whether it was added.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn ensure_member(
        &mut self,
        user_id: i64,
        group_id: i64,
        is_admin: bool,
    ) -> Result<bool> {
        const SQL: &str = "SELECT COUNT(*) FROM user_group WHERE user_id = $1 AND group_id = $2";
        let n: i64 = on_tx!(&mut self.tx, conn => sqlx::query_scalar(SQL).bind(user_id).bind(group_id).fetch_one(conn).await)?;
        if n > 0 {
            return Ok(false);
        }
        self.add_member(user_id, group_id, is_admin, None).await?;
        Ok(true)
    }

    /// Creates a dataset-wide manual grant unless the user already holds this
    /// permission on the dataset in any form (any version, any group scope).
    /// Returns whether it was created.
    ///
    /// # Errors
    /// Unknown permission; the database is unreachable.
    pub async fn ensure_grant(
        &mut self,
        user_id: i64,
        dataset_id: i64,
        permission: &str,
    ) -> Result<bool> {
        const SQL: &str = "SELECT COUNT(*) FROM dataset_grant g JOIN permission p ON p.id = g.permission_id \
             WHERE g.user_id = $1 AND g.dataset_id = $2 AND p.name = $3";
        let n: i64 = on_tx!(&mut self.tx, conn => sqlx::query_scalar(SQL).bind(user_id).bind(dataset_id).bind(permission).fetch_one(conn).await)?;
        if n > 0 {
            return Ok(false);
        }
        self.create_grant(&NewGrant {
            service_id: None,
            bucket_ids: &[],
            user_id,
            dataset_id,
            version_id: None,
            permission,
            group_id: None,
            granted_by: None,
            source: "manual",
            expires_at: None,
        })
        .await?;
        Ok(true)
    }

    /// Gives a group a dataset-wide permission unless it has it. Returns whether it was added.
    ///
    /// # Errors
    /// Unknown permission; the database is unreachable.
    pub async fn ensure_group_permission(
        &mut self,
        group_id: i64,
        dataset_id: i64,
        permission: &str,
        service_id: Option<i64>,
    ) -> Result<bool> {
        const SQL: &str = "SELECT COUNT(*) FROM group_dataset_permission g JOIN permission p ON p.id = g.permission_id \
             WHERE g.group_id = $1 AND g.dataset_id = $2 AND p.name = $3 AND COALESCE(g.service_id, 0) = $4";
        let n: i64 = on_tx!(&mut self.tx, conn => sqlx::query_scalar(SQL).bind(group_id).bind(dataset_id)
            .bind(permission).bind(service_id.unwrap_or(0)).fetch_one(conn).await)?;
        if n > 0 {
            return Ok(false);
        }
        self.add_group_permission(group_id, dataset_id, permission, service_id)
            .await?;
        Ok(true)
    }

    /// The profile fields imports may fill in: `(name, notes, admin, is_active)`.
    ///
    /// # Errors
    /// [`DomainError::NotFound`] for an unknown id.
    pub async fn user_profile(&mut self, user_id: i64) -> Result<UserProfile> {
        const SQL: &str = "SELECT name, notes, admin, is_active FROM dsg_user WHERE id = $1";
        let row: Option<(String, String, bool, bool)> = on_tx!(&mut self.tx, conn => sqlx::query_as(SQL).bind(user_id).fetch_optional(conn).await)?;
        let (name, notes, admin, active) =
            row.ok_or_else(|| DomainError::not_found(dsg_core::error::EntityKind::User, user_id))?;
        Ok(UserProfile {
            name,
            notes,
            admin,
            active,
        })
    }

    /// Writes changed profile fields (only those that differ), audited as
    /// `user_updated` with before and after. Returns whether anything changed.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn update_user_profile(&mut self, user_id: i64, new: &UserProfile) -> Result<bool> {
        let old = self.user_profile(user_id).await?;
        if old == *new {
            return Ok(false);
        }
        const SQL: &str = "UPDATE dsg_user SET name = $1, notes = $2, admin = $3, is_active = $4, updated = $5 WHERE id = $6";
        on_tx!(&mut self.tx, conn => sqlx::query(SQL).bind(&new.name).bind(&new.notes).bind(new.admin)
            .bind(new.active).bind(now_micros()).bind(user_id).execute(conn).await.map(|r| r.rows_affected()))?;
        let (mut before, mut after) = (serde_json::Map::new(), serde_json::Map::new());
        let mut diff = |k: &str, o: Value, n: Value| {
            if o != n {
                before.insert(k.to_owned(), o);
                after.insert(k.to_owned(), n);
            }
        };
        diff("name", json!(old.name), json!(new.name));
        diff("notes", json!(old.notes), json!(new.notes));
        diff("admin", json!(old.admin), json!(new.admin));
        diff("is_active", json!(old.active), json!(new.active));
        self.user_changed(user_id, Some(Value::Object(before)), Value::Object(after))
            .await?;
        Ok(true)
    }
}

/// The user fields imports read and fill in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserProfile {
    /// Name.
    pub name: String,
    /// Free-text notes.
    pub notes: String,
    /// Global admin.
    pub admin: bool,
    /// May authenticate.
    pub active: bool,
}
