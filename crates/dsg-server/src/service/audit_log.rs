//! The audit log as people read it: one sentence per row with the names of
//! what it refers to, filtered by actor, affected person, dataset, action
//! and date range. Global admins see every row; a dataset's managers see
//! the rows about a dataset they manage.

use dsg_core::Timestamp;
use dsg_core::audit_text::{self, Ref, Row};
use dsg_store::audit::{AuditEntry, AuditFilter};

use super::ServiceError;
use super::authority::Caller;
use crate::state::AppState;

/// What to look for.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Who acted (their e-mail, or `cli:…`).
    pub actor: Option<String>,
    /// Whom it was done to (e-mail).
    pub affected: Option<String>,
    /// Which dataset it concerns (name). Required for people who are not
    /// global admins.
    pub dataset: Option<String>,
    /// Exact action name (`grant_created`, …).
    pub action: Option<String>,
    /// Not before.
    pub since: Option<Timestamp>,
    /// Before.
    pub until: Option<Timestamp>,
    /// At most this many rows (newest first).
    pub limit: i64,
}

/// A row's state after (creations, changes) or before (removals).
fn state_of(e: &AuditEntry) -> Option<&serde_json::Value> {
    e.after_state.as_ref().or(e.before_state.as_ref())
}

/// One row with its sentence.
#[derive(Debug, Clone)]
pub struct ReadableEntry {
    /// The row.
    pub entry: AuditEntry,
    /// The row in words.
    pub sentence: String,
    /// The dataset it concerns, by name (for a link).
    pub dataset: Option<String>,
    /// The person it concerns, by e-mail (for a link).
    pub affected: Option<String>,
}

/// Reads the log.
///
/// # Errors
/// Forbidden for service accounts, and for people who are not global admins
/// unless they name a dataset they manage; not found for an unknown dataset.
pub async fn read(
    state: &AppState,
    caller: &Caller,
    q: AuditQuery,
) -> Result<Vec<ReadableEntry>, ServiceError> {
    caller.person()?;
    let dataset_id = match q.dataset.as_deref() {
        Some(name) => {
            let d = state
                .store
                .dataset_by_name(name)
                .await?
                .ok_or(ServiceError::NotFound("Dataset not found"))?;
            if !caller.can_manage(&d.name) {
                return Err(ServiceError::Forbidden(None));
            }
            Some(d.id)
        }
        None if caller.is_admin() => None,
        None => {
            return Err(ServiceError::Forbidden(Some(
                "Choose a dataset you manage to see its history.".into(),
            )));
        }
    };
    let affected_user_id = match q.affected.as_deref() {
        Some(email) => match state.store.user_id_by_email(email).await? {
            Some(id) => Some(id),
            // Nobody by that address: nothing was done to them.
            None => return Ok(Vec::new()),
        },
        None => None,
    };
    let entries = state
        .store
        .audit_entries(&AuditFilter {
            action: q.action,
            actor: q.actor,
            since: q.since,
            until: q.until,
            dataset_id,
            affected_user_id,
            limit: q.limit,
            ..AuditFilter::default()
        })
        .await?;
    let refs: Vec<(Ref, i64)> = entries
        .iter()
        .flat_map(|e| audit_text::references(state_of(e)))
        .collect();
    let names = state.store.audit_names(&refs).await?;
    Ok(entries
        .into_iter()
        .map(|entry| {
            let st = state_of(&entry);
            let lookup = |kind: Ref| {
                st.and_then(|v| v.get(kind.key()))
                    .and_then(serde_json::Value::as_i64)
                    .and_then(|id| names.get(&(kind, id)).cloned())
            };
            let sentence = audit_text::sentence(
                Row {
                    action: &entry.action,
                    actor: &entry.actor,
                    target_type: &entry.target_type,
                    target_id: &entry.target_id,
                    state: st,
                },
                &names,
            );
            let (dataset, affected) = (lookup(Ref::Dataset), lookup(Ref::User));
            ReadableEntry {
                dataset,
                affected,
                sentence,
                entry,
            }
        })
        .collect())
}
