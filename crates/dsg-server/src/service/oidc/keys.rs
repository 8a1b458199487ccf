//! The provider's signing keys: made on first use, kept sealed in the
//! database (every replica signs with the same key), rotated with an overlap
//! (a new key is published before it signs; an old one stays published until
//! the tokens it signed have expired).

use std::sync::Arc;

use dsg_core::Timestamp;
use dsg_store::oidc::StoredSigningKey;

use super::super::{Operator, ServiceError};
use crate::signing::{PublishedKey, SealingKey, SigningKey};
use crate::state::AppState;

fn failed(e: String) -> ServiceError {
    ServiceError::Store(dsg_store::StoreError::Domain(
        dsg_core::DomainError::Internal(e.into()),
    ))
}

async fn load(
    store: &dsg_store::Store,
    sealing: &SealingKey,
    now: Timestamp,
) -> Result<Vec<PublishedKey>, ServiceError> {
    let mut out = Vec::new();
    for k in store.oidc_signing_keys(now).await? {
        match SigningKey::open(sealing, &k.sealed) {
            Ok(key) => out.push(PublishedKey {
                key,
                signs_from: k.signs_from,
            }),
            // A key sealed under an earlier secret cannot sign; say why once.
            Err(e) => tracing::warn!(kid = %k.kid, "OpenID signing key skipped: {e}"),
        }
    }
    Ok(out)
}

/// The published keys, the signing one first.
///
/// # Errors
/// The store's.
pub async fn published(state: &AppState) -> Result<Arc<Vec<PublishedKey>>, ServiceError> {
    let now = state.clock.now();
    if let Some(keys) = state.oidc_keys.fresh()
        && signer_of(&keys, now).is_some()
    {
        return Ok(keys);
    }
    let mut keys = load(&state.store, &state.sealing_key, now).await?;
    if signer_of(&keys, now).is_none() {
        // First use (or every key unusable): make one that signs at once.
        let made = SigningKey::generate(&state.sealing_key).map_err(failed)?;
        let stored = StoredSigningKey {
            kid: made.key.kid.clone(),
            sealed: made.sealed,
            public_jwk: made.key.jwk.to_string(),
            signs_from: now,
            retired_at: None,
            unpublish_at: None,
        };
        let mut tx = state
            .store
            .begin(dsg_store::write::Actor::system("oidc"))
            .await?;
        tx.add_oidc_signing_key(&stored, false, 0).await?;
        super::super::commit(state, tx).await?;
        keys = load(&state.store, &state.sealing_key, now).await?;
    }
    keys.sort_by_key(|k| {
        (
            std::cmp::Reverse(signs(k, now)),
            std::cmp::Reverse(k.signs_from),
        )
    });
    Ok(state.oidc_keys.set(keys))
}

fn signs(k: &PublishedKey, now: Timestamp) -> bool {
    k.signs_from <= now
}

fn signer_of(keys: &[PublishedKey], now: Timestamp) -> Option<&PublishedKey> {
    keys.iter()
        .filter(|k| signs(k, now))
        .max_by_key(|k| k.signs_from)
}

/// The key that signs now.
///
/// # Errors
/// The store's; a key cannot be made.
pub async fn signer(state: &AppState) -> Result<SigningKey, ServiceError> {
    let keys = published(state).await?;
    signer_of(&keys, state.clock.now())
        .map(|k| k.key.clone())
        .ok_or_else(|| failed("no OpenID signing key".into()))
}

/// The published key named `kid`, reloading once when unknown.
///
/// # Errors
/// The store's.
pub async fn by_kid(state: &AppState, kid: &str) -> Result<Option<SigningKey>, ServiceError> {
    let find = |keys: &[PublishedKey]| {
        keys.iter()
            .find(|k| k.key.kid == kid)
            .map(|k| k.key.clone())
    };
    if let Some(k) = find(&published(state).await?) {
        return Ok(Some(k));
    }
    state.oidc_keys.clear();
    Ok(find(&published(state).await?))
}

/// The JWKS document: public keys only, the signing key first.
///
/// # Errors
/// The store's.
pub async fn jwks(state: &AppState) -> Result<serde_json::Value, ServiceError> {
    let keys = published(state).await?;
    let list: Vec<&serde_json::Value> = keys.iter().map(|k| &k.key.jwk).collect();
    Ok(serde_json::json!({ "keys": list }))
}

/// Makes a new key that starts signing `overlap_secs` from now; the keys
/// signing until then stop at that instant and leave the JWKS once the
/// tokens they signed have expired (`dsg oidc-key rotate`). Returns its `kid`.
///
/// # Errors
/// The store's; the sealing key cannot be read.
pub async fn rotate_as_operator(
    op: &Operator<'_>,
    sealing: &SealingKey,
    overlap_secs: i64,
    token_secs: i64,
) -> Result<String, ServiceError> {
    let db = op.db();
    let made = SigningKey::generate(sealing).map_err(failed)?;
    let stored = StoredSigningKey {
        kid: made.key.kid.clone(),
        sealed: made.sealed,
        public_jwk: made.key.jwk.to_string(),
        signs_from: db.now().plus_secs(overlap_secs.max(0)),
        retired_at: None,
        unpublish_at: None,
    };
    let mut tx = db.store().begin(op.actor()).await?;
    tx.add_oidc_signing_key(&stored, true, token_secs).await?;
    db.commit(tx).await?;
    Ok(stored.kid)
}
