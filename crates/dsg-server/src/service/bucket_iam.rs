//! Bucket IAM provisioning (spec §4.12): a user should be a
//! `roles/storage.objectViewer` member of a dataset's buckets iff the user is
//! active, not a global admin, and holds a dataset-wide permission on the
//! dataset that survives the TOS gate.
//!
//! Only members DatasetGateway added itself (recorded in
//! `gcs_bucket_member`) are ever removed; members someone else added are
//! reported and left alone. Every policy write is idempotent and retried on
//! a stale etag ([`Gcs::update_viewers`]).
//!
//! When `gcs.iam_sync` is on, a worker follows the change outbox (the same
//! events that keep the permission cache fresh): a user's change syncs that
//! user, a catalog change (datasets, TOS, group permissions) reconciles
//! everything. `dsg gcs sync-bucket-iam` runs the same reconciliation by hand.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use dsg_core::Timestamp;
use dsg_core::permissions::{Catalog, TokenScope};
use dsg_store::write::Actor;
use dsg_store::{CacheEvent, Store, StoreError};
use tokio::sync::watch;

use super::buckets::readable_datasets;
use crate::gcs::iam::{self, viewer_members};
use crate::gcs::{Gcs, GcsError};
use crate::state::AppState;

/// A sync failure.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// Database.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Google.
    #[error(transparent)]
    Gcs(#[from] GcsError),
}

/// `user:<lower-cased email>`.
pub fn member_of(email: &str) -> String {
    format!("user:{}", email.to_ascii_lowercase())
}

/// Datasets on which a user should be provisioned (empty for disabled users and admins).
async fn provisioned_datasets(
    store: &Store,
    catalog: &Catalog,
    user_id: i64,
    now: Timestamp,
) -> Result<Option<(String, BTreeSet<String>)>, StoreError> {
    let Some(user) = store.load_user(user_id).await? else {
        return Ok(None);
    };
    let member = member_of(&user.facts.email);
    if !user.active || user.facts.admin {
        return Ok(Some((member, BTreeSet::new())));
    }
    let (readable, _) = readable_datasets(catalog, &user, &TokenScope::default(), now);
    Ok(Some((member, readable)))
}

/// True when the user may read `bucket` (what `/activate` with a bucket checks).
///
/// # Errors
/// Database failures.
pub async fn user_may_read_bucket(
    state: &AppState,
    user_id: i64,
    bucket: &str,
) -> Result<bool, StoreError> {
    let now = state.clock.now();
    let catalog = state.store.load_catalog().await?;
    let Some((_, readable)) = provisioned_datasets(&state.store, &catalog, user_id, now).await?
    else {
        return Ok(false);
    };
    let owners = state.store.datasets_of_bucket(bucket).await?;
    Ok(owners.iter().any(|d| readable.contains(&d.name)))
}

/// One planned or applied change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Member added to the bucket.
    Add {
        /// Bucket.
        bucket: String,
        /// `user:<email>`.
        member: String,
    },
    /// Member removed from the bucket.
    Remove {
        /// Bucket.
        bucket: String,
        /// `user:<email>`.
        member: String,
    },
    /// Present without DatasetGateway having added it, and not entitled: left alone.
    KeepForeign {
        /// Bucket.
        bucket: String,
        /// `user:<email>`.
        member: String,
    },
    /// The bucket could not be reconciled.
    Failed {
        /// Bucket.
        bucket: String,
        /// Why.
        error: String,
    },
}

/// What a reconciliation did or would do.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Dataset → (number of its buckets, changes on them), in order.
    pub datasets: Vec<(String, usize, Vec<Change>)>,
    /// Members added.
    pub added: usize,
    /// Members removed.
    pub removed: usize,
    /// Buckets that could not be reconciled (Google refused or failed), with why.
    pub errors: Vec<(String, String)>,
}

impl Report {
    /// The command's output, in the original's shape.
    pub fn render(&self, dry_run: bool) -> String {
        let mut out = String::new();
        let prefix = if dry_run { "[DRY RUN] " } else { "" };
        let email = |m: &str| m.strip_prefix("user:").unwrap_or(m).to_owned();
        for (name, n, changes) in &self.datasets {
            out.push_str(&format!("\nDataset: {name} ({n} bucket(s))\n"));
            for c in changes {
                let line = match c {
                    Change::Add { bucket, member } => {
                        format!("  {prefix}ADD {} -> {bucket}", email(member))
                    }
                    Change::Remove { bucket, member } => {
                        format!("  {prefix}REMOVE {} -> {bucket}", email(member))
                    }
                    Change::KeepForeign { bucket, member } => format!(
                        "  KEEP {} -> {bucket} (not added by DatasetGateway)",
                        email(member)
                    ),
                    Change::Failed { bucket, error } => format!("  ERROR {bucket}: {error}"),
                };
                out.push_str(&line);
                out.push('\n');
            }
        }
        out.push_str(&format!(
            "\nDone. Added: {}, Removed: {}{}\n",
            self.added,
            self.removed,
            if dry_run { " (dry run)" } else { "" }
        ));
        out
    }
}

/// What every sync step needs.
struct Ctx<'a> {
    store: &'a Store,
    gcs: &'a Gcs,
    now: Timestamp,
    actor: &'a Actor,
}

/// Applies one bucket's changes and the ownership records that follow.
async fn apply(
    ctx: &Ctx<'_>,
    bucket: &str,
    add: &[(String, Option<i64>)],
    remove: &[String],
    forget: &[String],
) -> Result<iam::Edit, SyncError> {
    let Ctx {
        store,
        gcs,
        now,
        actor,
    } = *ctx;
    let add_members: Vec<String> = add.iter().map(|(m, _)| m.clone()).collect();
    let edit = if add_members.is_empty() && remove.is_empty() {
        iam::Edit::default()
    } else {
        gcs.update_viewers(bucket, &add_members, remove, now)
            .await?
    };
    if edit.added.is_empty() && edit.removed.is_empty() && forget.is_empty() {
        return Ok(edit);
    }
    let mut tx = store.begin(actor.clone()).await?;
    for (member, user_id) in add {
        if edit.added.contains(member) {
            tx.record_bucket_member(bucket, member, *user_id).await?;
        }
    }
    for member in remove.iter().chain(forget) {
        tx.forget_bucket_member(bucket, member).await?;
    }
    tx.commit().await?;
    Ok(edit)
}

/// Reconciles bucket membership with the provisioning rule, for every bucket
/// of `dataset` (or of all datasets), in both directions.
///
/// # Errors
/// Unknown dataset (as [`StoreError`] not-found), database or Google failures.
pub async fn reconcile(
    store: &Store,
    gcs: &Gcs,
    now: Timestamp,
    dataset: Option<&str>,
    dry_run: bool,
    actor: &Actor,
) -> Result<Report, SyncError> {
    let rows = store.dataset_buckets(dataset).await?;
    let catalog = store.load_catalog().await?;
    let mut report = Report::default();
    let mut per_dataset: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in &rows {
        per_dataset
            .entry(r.dataset.clone())
            .or_default()
            .push(r.bucket.clone());
    }
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut desired_cache: BTreeMap<i64, Option<(String, BTreeSet<String>)>> = BTreeMap::new();
    for (name, buckets) in per_dataset {
        let mut changes = Vec::new();
        for bucket in &buckets {
            if !done.insert(bucket.clone()) {
                continue;
            }
            let owners = store.datasets_of_bucket(bucket).await?;
            let owner_ids: Vec<i64> = owners.iter().map(|d| d.id).collect();
            let owner_names: BTreeSet<&str> = owners.iter().map(|d| d.name.as_str()).collect();
            let mut desired: BTreeMap<String, Option<i64>> = BTreeMap::new();
            for user_id in store.users_with_access_to(&owner_ids).await? {
                if let std::collections::btree_map::Entry::Vacant(slot) =
                    desired_cache.entry(user_id)
                {
                    slot.insert(provisioned_datasets(store, &catalog, user_id, now).await?);
                }
                if let Some(Some((member, readable))) = desired_cache.get(&user_id)
                    && readable.iter().any(|d| owner_names.contains(d.as_str()))
                {
                    desired.insert(member.clone(), Some(user_id));
                }
            }
            let live = match gcs.get_policy(bucket, now).await {
                Ok(p) => viewer_members(&p),
                Err(e) => {
                    report.errors.push((bucket.clone(), e.to_string()));
                    changes.push(Change::Failed {
                        bucket: bucket.clone(),
                        error: e.to_string(),
                    });
                    continue;
                }
            };
            let owned: BTreeSet<String> = store
                .owned_bucket_members(Some(bucket), None)
                .await?
                .into_iter()
                .map(|o| o.member)
                .collect();
            let add: Vec<(String, Option<i64>)> = desired
                .iter()
                .filter(|(m, _)| !live.contains(*m))
                .map(|(m, u)| (m.clone(), *u))
                .collect();
            let remove: Vec<String> = owned
                .iter()
                .filter(|m| live.contains(*m) && !desired.contains_key(*m))
                .cloned()
                .collect();
            let forget: Vec<String> = owned
                .iter()
                .filter(|m| !live.contains(*m) && !desired.contains_key(*m))
                .cloned()
                .collect();
            for m in live
                .iter()
                .filter(|m| !owned.contains(*m) && !desired.contains_key(*m))
            {
                changes.push(Change::KeepForeign {
                    bucket: bucket.clone(),
                    member: m.clone(),
                });
            }
            if dry_run {
                report.added += add.len();
                report.removed += remove.len();
                changes.extend(add.iter().map(|(m, _)| Change::Add {
                    bucket: bucket.clone(),
                    member: m.clone(),
                }));
                changes.extend(remove.iter().map(|m| Change::Remove {
                    bucket: bucket.clone(),
                    member: m.clone(),
                }));
                continue;
            }
            let ctx = Ctx {
                store,
                gcs,
                now,
                actor,
            };
            let edit = match apply(&ctx, bucket, &add, &remove, &forget).await {
                Ok(edit) => edit,
                Err(SyncError::Gcs(e)) => {
                    report.errors.push((bucket.clone(), e.to_string()));
                    changes.push(Change::Failed {
                        bucket: bucket.clone(),
                        error: e.to_string(),
                    });
                    continue;
                }
                Err(e) => return Err(e),
            };
            report.added += edit.added.len();
            report.removed += edit.removed.len();
            changes.extend(edit.added.into_iter().map(|m| Change::Add {
                bucket: bucket.clone(),
                member: m,
            }));
            changes.extend(edit.removed.into_iter().map(|m| Change::Remove {
                bucket: bucket.clone(),
                member: m,
            }));
        }
        report.datasets.push((name, buckets.len(), changes));
    }
    Ok(report)
}

/// Brings one user's membership of every relevant bucket up to date.
///
/// # Errors
/// Database or Google failures (the first one; later buckets are skipped).
pub async fn sync_user(
    store: &Store,
    gcs: &Gcs,
    user_id: i64,
    now: Timestamp,
    actor: &Actor,
) -> Result<Vec<Change>, SyncError> {
    let catalog = store.load_catalog().await?;
    let Some((member, readable)) = provisioned_datasets(store, &catalog, user_id, now).await?
    else {
        // Deleted user: their rows lost the user id; clean up every orphan.
        return remove_orphans(store, gcs, now, actor).await;
    };
    let mut buckets: BTreeSet<String> = store
        .owned_bucket_members(None, Some(&member))
        .await?
        .into_iter()
        .map(|o| o.bucket)
        .collect();
    for row in store.dataset_buckets(None).await? {
        if readable.contains(&row.dataset) {
            buckets.insert(row.bucket);
        }
    }
    let ctx = Ctx {
        store,
        gcs,
        now,
        actor,
    };
    let mut changes = Vec::new();
    for bucket in buckets {
        let owners = store.datasets_of_bucket(&bucket).await?;
        let desired = owners.iter().any(|d| readable.contains(&d.name));
        let owned = !store
            .owned_bucket_members(Some(&bucket), Some(&member))
            .await?
            .is_empty();
        let edit = if desired {
            apply(&ctx, &bucket, &[(member.clone(), Some(user_id))], &[], &[]).await?
        } else if owned {
            apply(
                &ctx,
                &bucket,
                &[],
                std::slice::from_ref(&member),
                std::slice::from_ref(&member),
            )
            .await?
        } else {
            continue;
        };
        changes.extend(edit.added.into_iter().map(|m| Change::Add {
            bucket: bucket.clone(),
            member: m,
        }));
        changes.extend(edit.removed.into_iter().map(|m| Change::Remove {
            bucket: bucket.clone(),
            member: m,
        }));
    }
    Ok(changes)
}

async fn remove_orphans(
    store: &Store,
    gcs: &Gcs,
    now: Timestamp,
    actor: &Actor,
) -> Result<Vec<Change>, SyncError> {
    let ctx = Ctx {
        store,
        gcs,
        now,
        actor,
    };
    let mut changes = Vec::new();
    for o in store.orphaned_bucket_members().await? {
        let m = std::slice::from_ref(&o.member);
        let edit = apply(&ctx, &o.bucket, &[], m, m).await?;
        changes.extend(edit.removed.into_iter().map(|member| Change::Remove {
            bucket: o.bucket.clone(),
            member,
        }));
    }
    Ok(changes)
}

fn worker_actor() -> Actor {
    Actor {
        id: None,
        label: "iam-sync".into(),
        request_id: None,
    }
}

/// Syncs one user at once when IAM sync is on (best effort: logged, never surfaced).
pub async fn sync_user_now(state: &AppState, user_id: i64) {
    let gcs = &state.gcs;
    if !gcs.iam_sync {
        return;
    }
    if let Err(e) = sync_user(
        &state.store,
        gcs,
        user_id,
        state.clock.now(),
        &worker_actor(),
    )
    .await
    {
        tracing::warn!(error = %e, user_id, "bucket IAM sync failed");
    }
}

/// Starts the outbox-following worker when `gcs.iam_sync` is on: one full
/// reconcile at start, then every change as it lands in the outbox.
pub fn spawn_worker(state: AppState, mut stop: watch::Receiver<bool>) {
    if !state.gcs.iam_sync {
        return;
    }
    let every = Duration::from_secs(state.config.gcs.iam_sync_interval_secs);
    tokio::spawn(async move {
        let mut seen = match state.store.latest_event_seq().await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "bucket IAM sync worker cannot start");
                return;
            }
        };
        // Changes made while no worker was watching (before this start, or
        // between start-up and reading `seen`) are caught by one full pass.
        if !process(&state, &[CacheEvent::All]).await {
            tracing::warn!("bucket IAM start-up reconcile incomplete; continuing with changes");
        }
        let mut failures = 0u32;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.changed() => return,
            }
            match state.store.events_since(seen).await {
                Ok(batch) => {
                    let Some(last) = batch.last().map(|e| e.seq) else {
                        continue;
                    };
                    let events: Vec<CacheEvent> = batch.into_iter().map(|e| e.event).collect();
                    if process(&state, &events).await {
                        seen = last;
                        failures = 0;
                    } else {
                        failures += 1;
                        // A bucket that keeps failing must not block every later change.
                        if failures >= 3 {
                            tracing::error!(
                                "bucket IAM sync gave up on a batch of changes; \
                                 run `dsg gcs sync-bucket-iam` once the cause is fixed"
                            );
                            seen = last;
                            failures = 0;
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "bucket IAM sync: reading the outbox failed"),
            }
        }
    });
}

/// Handles a batch; false when it should be retried on the next tick.
async fn process(state: &AppState, events: &[CacheEvent]) -> bool {
    let gcs = &state.gcs;
    let now = state.clock.now();
    let actor = worker_actor();
    let result = if events.contains(&CacheEvent::All) {
        match reconcile(&state.store, gcs, now, None, false, &actor).await {
            Ok(r) if r.errors.is_empty() => Ok(r.added + r.removed),
            Ok(r) => {
                for (bucket, error) in &r.errors {
                    tracing::warn!(bucket, error, "bucket IAM reconcile failed for a bucket");
                }
                return false;
            }
            Err(e) => Err(e),
        }
    } else {
        let users: BTreeSet<i64> = events
            .iter()
            .filter_map(|e| match e {
                CacheEvent::User(id) => Some(*id),
                _ => None,
            })
            .collect();
        let mut n = 0;
        let mut outcome = Ok(0);
        for id in users {
            match sync_user(&state.store, gcs, id, now, &actor).await {
                Ok(c) => n += c.len(),
                Err(e) => {
                    outcome = Err(e);
                    break;
                }
            }
        }
        outcome.map(|_: usize| n)
    };
    match result {
        Ok(n) => {
            if n > 0 {
                tracing::info!(changes = n, "bucket IAM synced");
            }
            true
        }
        Err(e) => {
            tracing::warn!(error = %e, "bucket IAM sync failed; retrying");
            false
        }
    }
}
