//! Who may read a bucket: decided from the database on every `/gcs_token`
//! call, so revoking a grant or a TOS acceptance takes effect on the next
//! request, by `dsg_core::permissions::decide::decide_bucket` (the same
//! coverage rules as `/api/dsg/v1/authorize`): the union over every dataset
//! and version naming the bucket, public datasets and versions counted,
//! narrowed by the login key's scope. Version-scoped grants and public
//! versions open only their versions' prefixes when they have one.

use std::collections::BTreeSet;

use dsg_core::Timestamp;
use dsg_core::permissions::decide::{BucketDecision, decide_bucket};
use dsg_core::permissions::{Catalog, EvalContext, TokenScope, evaluate_user};
use dsg_store::StoreError;
use dsg_store::principals::LoadedUser;
use dsg_store::tokens::PrincipalRef;

use crate::gcs::valid_bucket_name;
use crate::state::AppState;

/// The outcome for one `(user token, bucket)` pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The token's login key or user is gone, expired or disabled (401).
    InvalidToken,
    /// No dataset-wide permission on any dataset listing the bucket, or an
    /// unknown bucket (403 "Access denied", before any Google call).
    Denied,
    /// Permission exists but a TOS in force is not accepted (403).
    TosRequired {
        /// Where to accept it.
        tos_url: String,
        /// The dataset whose terms are pending.
        dataset: String,
    },
    /// May read the whole bucket (`None`) or only objects under these
    /// prefixes (version-scoped grants on versions stored in the bucket).
    Granted(Option<Vec<String>>),
}

/// Names of the datasets on which the user holds a dataset-wide permission
/// after the TOS gate (what bucket IAM membership follows), and the same
/// ignoring the TOS gate.
pub fn readable_datasets(
    catalog: &Catalog,
    user: &LoadedUser,
    scope: &TokenScope,
    now: Timestamp,
) -> (BTreeSet<String>, BTreeSet<String>) {
    let eval = evaluate_user(
        catalog,
        &user.facts,
        &EvalContext {
            now,
            service: None,
            scope,
        },
    );
    let viewable = |m: &dsg_core::permissions::PermissionLists| -> BTreeSet<String> {
        m.iter()
            .filter(|(_, l)| l.iter().any(|p| p == "view"))
            .map(|(d, _)| d.clone())
            .collect()
    };
    (
        viewable(&eval.document.permissions_v2),
        viewable(&eval.document.permissions_v2_ignore_tos),
    )
}

/// Decides whether the holder of a Neuroglancer token minted for `email`
/// from login key `key_id` may read `bucket` at `now` (dsg-native-v1 §7:
/// the union over every dataset and version naming the bucket, public ones
/// counted). Every decision is logged at info with its reason.
///
/// # Errors
/// Database failures.
pub async fn decide(
    state: &AppState,
    email: &str,
    key_id: Option<i64>,
    bucket: &str,
    now: Timestamp,
) -> Result<Decision, StoreError> {
    let store = &state.store;
    let Some(key_id) = key_id else {
        return Ok(Decision::InvalidToken);
    };
    let Some(key) = store.user_token_by_id(key_id).await? else {
        return Ok(Decision::InvalidToken);
    };
    if key.expires_at.is_some_and(|t| now >= t) {
        return Ok(Decision::InvalidToken);
    }
    let PrincipalRef::User(user_id) = key.principal else {
        return Ok(Decision::InvalidToken);
    };
    let Some(user) = store.load_user(user_id).await? else {
        return Ok(Decision::InvalidToken);
    };
    if !user.active || !user.facts.email.eq_ignore_ascii_case(email) {
        return Ok(Decision::InvalidToken);
    }
    let rows = if valid_bucket_name(bucket) {
        store.bucket_rows(bucket).await?
    } else {
        Vec::new()
    };
    let catalog = store.load_catalog().await?;
    let decision = decide_bucket(&catalog, &user.facts, &key.scope, now, &rows);
    let (word, reason) = match &decision {
        BucketDecision::Issue { reason, .. } => ("issued", reason.as_str()),
        BucketDecision::TosRequired { .. } => ("tos_required", "missing-tos"),
        BucketDecision::Denied { reason } => ("denied", *reason),
    };
    tracing::info!(
        "GCS token decision user={} bucket={bucket} decision={word} reason={reason}",
        user.facts.email
    );
    Ok(match decision {
        BucketDecision::Issue { prefixes, .. } => {
            if prefixes
                .as_ref()
                .is_some_and(|p| p.len() > crate::gcs::MAX_BOUNDARY_RULES)
            {
                tracing::warn!(
                    bucket,
                    "more version prefixes than an access boundary can hold"
                );
                return Ok(Decision::Denied);
            }
            Decision::Granted(prefixes)
        }
        BucketDecision::TosRequired { dataset, version } => {
            let base = state.config.server.origin.trim_end_matches('/');
            let mut q = url::form_urlencoded::Serializer::new(String::new());
            q.append_pair("dataset", &dataset);
            if let Some(v) = &version {
                q.append_pair("version", v);
            }
            Decision::TosRequired {
                tos_url: format!("{base}/web/tos/service-check/?{}", q.finish()),
                dataset,
            }
        }
        BucketDecision::Denied { .. } => Decision::Denied,
    })
}
