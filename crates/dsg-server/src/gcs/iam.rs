//! Bucket IAM policies (Cloud Storage JSON API `b/{bucket}/iam`): read,
//! edit the unconditional `roles/storage.objectViewer` binding, write back
//! with the etag read. A stale etag (412, or 409) repeats the whole
//! read-modify-write; writes to one bucket are serialised in-process.
//!
//! Edits never append a second binding for the role, never touch
//! conditional bindings, and drop bindings left without members.

use std::collections::BTreeSet;
use std::time::Duration;

use dsg_core::Timestamp;
use serde_json::{Value, json};

use super::{Gcs, GcsError, OBJECT_VIEWER};

/// Read-modify-write attempts before giving up on a contended bucket.
const ATTEMPTS: u32 = 5;

/// `user:<email>` members of the unconditional objectViewer binding(s), lower-cased.
pub fn viewer_members(policy: &Value) -> BTreeSet<String> {
    unconditional_viewer_bindings(policy)
        .flat_map(|b| b["members"].as_array().into_iter().flatten())
        .filter_map(Value::as_str)
        .filter(|m| m.starts_with("user:"))
        .map(str::to_ascii_lowercase)
        .collect()
}

fn unconditional_viewer_bindings(policy: &Value) -> impl Iterator<Item = &Value> {
    policy["bindings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|b| b["role"] == OBJECT_VIEWER && b.get("condition").is_none_or(Value::is_null))
}

/// What an edit changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Edit {
    /// Members added.
    pub added: Vec<String>,
    /// Members removed.
    pub removed: Vec<String>,
}

impl Edit {
    /// Nothing changed.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty()
    }
}

/// Adds and removes `user:` members in place; returns what actually changed.
pub fn edit_policy(policy: &mut Value, add: &[String], remove: &[String]) -> Edit {
    let present = viewer_members(policy);
    let mut edit = Edit::default();
    let remove: BTreeSet<String> = remove.iter().map(|m| m.to_ascii_lowercase()).collect();
    if !policy["bindings"].is_array() {
        policy["bindings"] = json!([]);
    }
    let Some(bindings) = policy["bindings"].as_array_mut() else {
        return edit;
    };
    // Removals: from every unconditional viewer binding (duplicates included).
    for b in bindings.iter_mut() {
        let unconditional = b.get("condition").is_none_or(Value::is_null);
        if b["role"] != OBJECT_VIEWER || !unconditional {
            continue;
        }
        if let Some(members) = b["members"].as_array_mut() {
            members.retain(|m| {
                let drop = m
                    .as_str()
                    .is_some_and(|s| remove.contains(&s.to_ascii_lowercase()));
                if drop && let Some(s) = m.as_str() {
                    let s = s.to_ascii_lowercase();
                    if !edit.removed.contains(&s) {
                        edit.removed.push(s);
                    }
                }
                !drop
            });
        }
    }
    // Additions: into the first unconditional viewer binding, or a new one.
    let to_add: Vec<String> = add
        .iter()
        .map(|m| m.to_ascii_lowercase())
        .filter(|m| !present.contains(m) && !remove.contains(m))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if !to_add.is_empty() {
        let slot = bindings
            .iter_mut()
            .find(|b| b["role"] == OBJECT_VIEWER && b.get("condition").is_none_or(Value::is_null));
        match slot {
            Some(b) => {
                if !b["members"].is_array() {
                    b["members"] = json!([]);
                }
                if let Some(members) = b["members"].as_array_mut() {
                    members.extend(to_add.iter().cloned().map(Value::String));
                }
            }
            None => bindings.push(json!({"role": OBJECT_VIEWER, "members": to_add})),
        }
        edit.added = to_add;
    }
    bindings.retain(|b| b["members"].as_array().is_some_and(|m| !m.is_empty()));
    if bindings
        .iter()
        .any(|b| b.get("condition").is_some_and(|c| !c.is_null()))
    {
        policy["version"] = json!(3);
    }
    edit
}

impl Gcs {
    fn iam_url(&self, bucket: &str) -> Result<String, GcsError> {
        let c = self.configured()?;
        Ok(format!("{}/storage/v1/b/{bucket}/iam", c.storage_url))
    }

    /// Reads a bucket's policy (version 3, so conditional bindings come back).
    ///
    /// # Errors
    /// Transport failures or a non-success answer.
    pub async fn get_policy(&self, bucket: &str, now: Timestamp) -> Result<Value, GcsError> {
        let c = self.configured()?;
        let token = self.source_token(now).await?;
        let resp = c
            .http
            .get(self.iam_url(bucket)?)
            .query(&[("optionsRequestedPolicyVersion", "3")])
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| GcsError::Unavailable(format!("getIamPolicy {bucket}: {e}")))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(GcsError::Rejected(format!(
                "getIamPolicy {bucket} answered {status}"
            )));
        }
        resp.json()
            .await
            .map_err(|e| GcsError::Rejected(format!("getIamPolicy {bucket}: bad answer: {e}")))
    }

    /// Writes a policy read earlier (its etag included).
    ///
    /// # Errors
    /// [`GcsError::Conflict`] on a stale etag (412 or 409); others as `get_policy`.
    pub async fn set_policy(
        &self,
        bucket: &str,
        policy: &Value,
        now: Timestamp,
    ) -> Result<Value, GcsError> {
        let c = self.configured()?;
        let token = self.source_token(now).await?;
        let resp = c
            .http
            .put(self.iam_url(bucket)?)
            .bearer_auth(token)
            .json(policy)
            .send()
            .await
            .map_err(|e| GcsError::Unavailable(format!("setIamPolicy {bucket}: {e}")))?;
        let status = resp.status().as_u16();
        if status == 412 || status == 409 {
            return Err(GcsError::Conflict);
        }
        if !(200..300).contains(&status) {
            return Err(GcsError::Rejected(format!(
                "setIamPolicy {bucket} answered {status}"
            )));
        }
        resp.json()
            .await
            .map_err(|e| GcsError::Rejected(format!("setIamPolicy {bucket}: bad answer: {e}")))
    }

    /// Adds and removes objectViewer members of a bucket, idempotently:
    /// nothing is written when the policy already says so. A stale etag
    /// repeats the read-modify-write (with a short backoff).
    ///
    /// # Errors
    /// Google failures, or still conflicting after several attempts.
    pub async fn update_viewers(
        &self,
        bucket: &str,
        add: &[String],
        remove: &[String],
        now: Timestamp,
    ) -> Result<Edit, GcsError> {
        let lock = self.bucket_lock(bucket)?;
        let _guard = lock.lock().await;
        let mut last = GcsError::Conflict;
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
            }
            let mut policy = self.get_policy(bucket, now).await?;
            let edit = edit_policy(&mut policy, add, remove);
            if edit.is_empty() {
                return Ok(edit);
            }
            match self.set_policy(bucket, &policy, now).await {
                Ok(_) => return Ok(edit),
                Err(GcsError::Conflict) => {
                    tracing::info!(bucket, attempt, "bucket IAM etag conflict; retrying");
                    last = GcsError::Conflict;
                }
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adding_merges_into_the_existing_binding_and_is_idempotent() {
        let mut p = json!({"etag": "E1", "version": 1, "bindings": [
            {"role": OBJECT_VIEWER, "members": ["user:a@x.org"]},
            {"role": "roles/storage.admin", "members": ["serviceAccount:gw@p.iam"]}
        ]});
        let e = edit_policy(&mut p, &["user:B@x.org".into()], &[]);
        assert_eq!(e.added, vec!["user:b@x.org".to_string()]);
        assert_eq!(
            p["bindings"][0]["members"],
            json!(["user:a@x.org", "user:b@x.org"])
        );
        assert_eq!(p["bindings"].as_array().unwrap().len(), 2);
        assert!(edit_policy(&mut p, &["user:b@x.org".into()], &[]).is_empty());
        assert_eq!(p["etag"], "E1");
    }

    #[test]
    fn conditional_bindings_are_left_alone_and_force_version_3() {
        let cond = json!({"title": "t", "expression": "true"});
        let mut p = json!({"version": 1, "bindings": [
            {"role": OBJECT_VIEWER, "members": ["user:a@x.org"], "condition": cond}
        ]});
        let e = edit_policy(&mut p, &["user:a@x.org".into()], &["user:a@x.org".into()]);
        assert!(e.is_empty(), "{e:?}");
        let e = edit_policy(&mut p, &["user:b@x.org".into()], &[]);
        assert_eq!(e.added.len(), 1);
        assert_eq!(p["bindings"][0]["condition"], cond);
        assert_eq!(p["bindings"][0]["members"], json!(["user:a@x.org"]));
        assert_eq!(
            p["bindings"][1],
            json!({"role": OBJECT_VIEWER, "members": ["user:b@x.org"]})
        );
        assert_eq!(p["version"], 3);
    }

    #[test]
    fn removing_drops_duplicates_and_empty_bindings() {
        let mut p = json!({"bindings": [
            {"role": OBJECT_VIEWER, "members": ["user:a@x.org"]},
            {"role": OBJECT_VIEWER, "members": ["user:A@x.org", "user:c@x.org"]}
        ]});
        let e = edit_policy(&mut p, &[], &["user:a@x.org".into()]);
        assert_eq!(e.removed, vec!["user:a@x.org".to_string()]);
        assert_eq!(
            p["bindings"],
            json!([{"role": OBJECT_VIEWER, "members": ["user:c@x.org"]}])
        );
        assert!(edit_policy(&mut p, &[], &["user:a@x.org".into()]).is_empty());
    }
}
