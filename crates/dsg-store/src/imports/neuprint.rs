//! `dsg import neuprint-auth FILE --datasets D…`: neuPrint's `authorized.json`
//! (`{email: "readonly" | "readwrite" | "admin"}`). `readonly` → `view` and
//! `readwrite` → `edit` on every named dataset; `admin` → global admin (never
//! downgraded, no grants). Every valid user joins the `user` group.

use dsg_core::DomainError;
use serde_json::{Value, json};

use super::{ImportReport, Log, finish, repr, why};
use crate::users::{AdminChange, validate_email};
use crate::{Result, Store};

/// One entry of the file, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NeuprintEntry {
    /// A grant level.
    Grant {
        /// E-mail.
        email: String,
        /// `view` or `edit`.
        permission: &'static str,
    },
    /// Global admin.
    Admin {
        /// E-mail.
        email: String,
    },
    /// Unusable: unknown level, non-string level or bad e-mail.
    Skip {
        /// The key as written.
        email: String,
        /// Why.
        reason: String,
    },
}

/// Parses `authorized.json`.
///
/// # Errors
/// [`DomainError::Invalid`] when the file is not a JSON object.
pub fn parse(text: &str) -> Result<Vec<NeuprintEntry>, DomainError> {
    let doc: Value = serde_json::from_str(text)
        .map_err(|e| DomainError::Invalid(format!("not valid JSON: {e}")))?;
    let Value::Object(map) = doc else {
        return Err(DomainError::Invalid(
            "expected a JSON object mapping e-mail to level".into(),
        ));
    };
    Ok(map
        .into_iter()
        .map(|(email, level)| {
            let email_trimmed = email.trim().to_owned();
            if let Err(e) = validate_email(&email_trimmed) {
                return NeuprintEntry::Skip {
                    email,
                    reason: why(&e),
                };
            }
            let Value::String(level) = level else {
                return NeuprintEntry::Skip {
                    email,
                    reason: format!("level {level} is not a string"),
                };
            };
            match level.trim().to_lowercase().as_str() {
                "readonly" => NeuprintEntry::Grant {
                    email: email_trimmed,
                    permission: "view",
                },
                "readwrite" => NeuprintEntry::Grant {
                    email: email_trimmed,
                    permission: "edit",
                },
                "admin" => NeuprintEntry::Admin {
                    email: email_trimmed,
                },
                _ => NeuprintEntry::Skip {
                    email,
                    reason: format!("unknown level {}", repr(&level)),
                },
            }
        })
        .collect())
}

impl Store {
    /// Imports parsed entries onto `datasets`.
    ///
    /// # Errors
    /// No dataset named; the database is unreachable (nothing is written then).
    pub async fn import_neuprint(
        &self,
        entries: &[NeuprintEntry],
        source: &str,
        datasets: &[String],
        dry_run: bool,
    ) -> Result<ImportReport> {
        if datasets.is_empty() || datasets.iter().any(|d| d.trim().is_empty()) {
            return Err(
                DomainError::Invalid("--datasets needs at least one dataset name".into()).into(),
            );
        }
        let mut tx = self.begin_import("import neuprint-auth").await?;
        let mut log = Log::default();
        for p in ["view", "edit", "admin"] {
            tx.ensure_permission(p).await?;
        }
        let (user_group, created) = tx.ensure_group("user").await?;
        if log.count(created) {
            log.line("  Created group: user");
        }
        let mut ids = Vec::new();
        for d in datasets {
            let (id, created) = tx.ensure_dataset(d).await?;
            log.dataset(d, created);
            ids.push(id);
        }
        let mut added: Vec<Vec<String>> = vec![Vec::new(); datasets.len()];
        let mut existed: Vec<Vec<String>> = vec![Vec::new(); datasets.len()];
        let (mut set_admin, mut already_admin, mut skipped) = (Vec::new(), Vec::new(), Vec::new());
        let (mut new_users, mut valid) = (Vec::new(), 0usize);
        for e in entries {
            let email = match e {
                NeuprintEntry::Skip { email, reason } => {
                    skipped.push(format!("{email} ({reason})"));
                    continue;
                }
                NeuprintEntry::Grant { email, .. } | NeuprintEntry::Admin { email } => email,
            };
            valid += 1;
            let local = email.split('@').next().unwrap_or_default();
            let (user_id, created) = tx.ensure_user(email, local).await?;
            if log.count(created) {
                new_users.push(email.clone());
            }
            log.count(tx.ensure_member(user_id, user_group, false).await?);
            match e {
                NeuprintEntry::Admin { .. } => match tx.set_admin(email, true).await? {
                    AdminChange::AlreadyAdmin => already_admin.push(email.clone()),
                    _ => {
                        log.changed();
                        set_admin.push(email.clone());
                    }
                },
                NeuprintEntry::Grant { permission, .. } => {
                    for (i, dataset_id) in ids.iter().enumerate() {
                        let entry = format!("{email} ({permission})");
                        if log.count(tx.ensure_grant(user_id, *dataset_id, permission).await?) {
                            added[i].push(entry);
                        } else {
                            existed[i].push(entry);
                        }
                    }
                }
                NeuprintEntry::Skip { .. } => {}
            }
        }
        for (i, d) in datasets.iter().enumerate() {
            log.line("");
            log.line(format!("Dataset: {d}"));
            log.line(if added[i].is_empty() {
                "  Added: (none)".to_owned()
            } else {
                format!("  Added: {}", added[i].join(", "))
            });
            if !existed[i].is_empty() {
                log.line(format!("  Already existed: {}", existed[i].join(", ")));
            }
        }
        if !set_admin.is_empty() || !already_admin.is_empty() {
            log.line("");
            log.line("Global admins");
            if !set_admin.is_empty() {
                log.line(format!("  Set admin=True: {}", set_admin.join(", ")));
            }
            if !already_admin.is_empty() {
                log.line(format!("  Already admin: {}", already_admin.join(", ")));
            }
        }
        if !new_users.is_empty() {
            log.line("");
            log.line(format!("New users: {}", new_users.join(", ")));
        }
        if !skipped.is_empty() {
            log.line("");
            log.line(format!("Skipped: {}", skipped.join(", ")));
        }
        log.line("");
        log.line(format!(
            "Imported {valid} users across {} datasets.",
            datasets.len()
        ));
        let summary = json!({"source": source, "users": valid, "datasets": datasets,
                             "admins_added": set_admin.len(), "skipped": skipped.len()});
        finish(tx, "import_neuprint_auth", summary, log, dry_run).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_trimmed_and_case_folded() {
        let e = parse(
            r#"{"a@x.org": " ReadOnly ", "b@x.org": "READWRITE", "c@x.org": "admin",
                         "d@x.org": "superuser", "e@x.org": 3, "nope": "readonly"}"#,
        )
        .unwrap();
        assert_eq!(
            e[0],
            NeuprintEntry::Grant {
                email: "a@x.org".into(),
                permission: "view"
            }
        );
        assert_eq!(
            e[1],
            NeuprintEntry::Grant {
                email: "b@x.org".into(),
                permission: "edit"
            }
        );
        assert_eq!(
            e[2],
            NeuprintEntry::Admin {
                email: "c@x.org".into()
            }
        );
        assert!(
            matches!(&e[3], NeuprintEntry::Skip { reason, .. } if reason == "unknown level 'superuser'")
        );
        assert!(
            matches!(&e[4], NeuprintEntry::Skip { reason, .. } if reason.contains("not a string"))
        );
        assert!(matches!(&e[5], NeuprintEntry::Skip { .. }));
        assert!(parse("[]").is_err());
    }
}
