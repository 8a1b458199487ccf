//! People's API tokens: minting one (scoped read-only and/or to some
//! datasets, with an optional expiry, under `rate_limit.token_creation`),
//! the stable long-lived token and its rotation (spec 8.1–8.2), the login
//! key a browser login mints, listing one's tokens and revoking them. Every
//! user token is written here (values are shown once, except the derived
//! long-lived token; only SHA-256 hashes are stored); the CAVE API, the
//! native API, the web account page, the login and the CLI call these
//! functions. A delegated key manages no tokens (spec 9.2).

use dsg_core::Timestamp;
use dsg_core::permissions::TokenScope;
use dsg_store::WriteTx;
use dsg_store::long_lived::{Issue, Rotation};
use dsg_store::tokens::{NewToken, TokenInfo};
use dsg_store::write::Actor;

use super::authority::Caller;
use super::input::Expiry;
use super::{Db, Invalid, Operator, ServiceError};
use crate::state::AppState;

/// Description of a token minted without one.
pub const DEFAULT_DESCRIPTION: &str = "API token";

/// How long a new token lives when its maker chooses nothing (the web UI's
/// preselected choice and `dsg token create` without `--expires-in`).
pub const DEFAULT_LIFETIME_DAYS: i64 = 30;

/// Most characters in a token's description.
pub const MAX_DESCRIPTION: usize = 255;

pub use dsg_store::long_lived::LONG_LIVED_DESCRIPTION;

/// What a rotation refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RotationRefused {
    /// Not authenticated by the current long-lived token as a bearer (403).
    NotTheLongLivedToken,
    /// Another rotation with the same token committed first (409).
    Stale,
}

/// A token to mint.
#[derive(Debug, Clone, Default)]
pub struct NewUserToken {
    /// Free text; [`DEFAULT_DESCRIPTION`] when absent.
    pub description: Option<String>,
    /// Expiry; none for a token that never expires.
    pub expires_at: Option<Timestamp>,
    /// Read-only and/or limited to some datasets; the default is neither.
    pub scope: TokenScope,
}

/// A token just minted; its value is shown this once.
#[derive(Debug, Clone)]
pub struct Minted {
    /// Row id (for revoking it).
    pub id: i64,
    /// The token itself.
    pub value: String,
    /// Its description.
    pub description: String,
    /// Its expiry.
    pub expires_at: Option<Timestamp>,
    /// Its scope.
    pub scope: TokenScope,
}

/// One of a person's tokens, as its owner sees it (never the value).
#[derive(Debug, Clone)]
pub struct Listed {
    /// Id, description, prefix, times.
    pub info: TokenInfo,
    /// Its scope.
    pub scope: TokenScope,
    /// Past its expiry (refused, not yet pruned).
    pub expired: bool,
}

/// Mints a token for the calling person. A scope may name any existing
/// dataset: it only narrows what the owner holds, so naming one the owner
/// cannot see grants nothing there.
///
/// # Errors
/// Forbidden for a service account; invalid input (a description over
/// [`MAX_DESCRIPTION`] characters, an expiry not in the future); over
/// `rate_limit.token_creation`; an unknown dataset in the scope (the
/// store's not-found, and nothing is written); the store's.
pub async fn create(
    state: &AppState,
    caller: &Caller,
    input: NewUserToken,
) -> Result<Minted, ServiceError> {
    let user_id = caller.person()?;
    let new = checked(input, state.clock.now())?;
    state.limits.token_creation(user_id).await?;
    mint(Db::Server(state), caller.actor(), user_id, new).await
}

/// The calling person's long-lived token: the same value on every call
/// until it is rotated or revoked. It is derived from the server's key, so
/// the first call writes its hash (generation 0) and later calls only read;
/// a revoked one is followed by the next generation, never the old value.
/// Only a call that writes counts toward `rate_limit.token_creation`.
///
/// # Errors
/// Forbidden for a service account or a delegated key; over the rate limit
/// when a token must be written; the store's.
pub async fn long_lived(state: &AppState, caller: &Caller) -> Result<String, ServiceError> {
    let user_id = caller.person()?;
    let key = &state.derivation_key;
    if let Some((generation, hash)) = state.store.long_lived_token(user_id).await? {
        let token = key.long_lived(user_id, generation);
        if token.hash() == hash {
            return Ok(token.expose().to_owned());
        }
    }
    state.limits.token_creation(user_id).await?;
    let mut tx = state.store.begin(caller.actor()).await?;
    match tx.issue_long_lived(user_id, key).await? {
        // Another request wrote it first; this transaction wrote nothing
        // that matters (a generation taken and given back).
        Issue::Current(token) => Ok(token.expose().to_owned()),
        Issue::Issued(token) => {
            Db::Server(state).commit(tx).await?;
            Ok(token.expose().to_owned())
        }
    }
}

/// Replaces the calling person's long-lived token by the next generation
/// (spec 8.2). `bearer` is the hash of the token the caller authenticated
/// with, present only when it came in the `Authorization: Bearer` header
/// and no login cookie rode along; it must be the current long-lived token.
/// Counts toward `rate_limit.token_creation`.
///
/// # Errors
/// Forbidden (`Ok(Err(NotTheLongLivedToken))`) for any other credential;
/// `Ok(Err(Stale))` when a concurrent rotation won; over the rate limit;
/// the store's.
pub async fn rotate_long_lived(
    state: &AppState,
    caller: &Caller,
    bearer: Option<&dsg_core::token::TokenHash>,
) -> Result<Result<String, RotationRefused>, ServiceError> {
    let user_id = caller.person()?;
    let Some(presented) = bearer.filter(|_| caller.authenticated().token.long_lived) else {
        return Ok(Err(RotationRefused::NotTheLongLivedToken));
    };
    state.limits.token_creation(user_id).await?;
    let key = &state.derivation_key;
    let mut tx = state.store.begin(caller.actor()).await?;
    match tx.rotate_long_lived(user_id, Some(presented), key).await? {
        Rotation::Rotated { token, .. } => {
            Db::Server(state).commit(tx).await?;
            Ok(Ok(token.expose().to_owned()))
        }
        Rotation::Stale => Ok(Err(RotationRefused::Stale)),
        Rotation::NotCurrent => Ok(Err(RotationRefused::NotTheLongLivedToken)),
    }
}

/// Replaces the calling person's long-lived token from the account page
/// (the browser session stands for the owner): the next generation, shown
/// once. Counts toward `rate_limit.token_creation`.
///
/// # Errors
/// Forbidden for a service account or a delegated key; over the rate
/// limit; the store's.
pub async fn rotate_long_lived_from_account(
    state: &AppState,
    caller: &Caller,
) -> Result<String, ServiceError> {
    let user_id = caller.person()?;
    state.limits.token_creation(user_id).await?;
    let key = &state.derivation_key;
    let mut tx = state.store.begin(caller.actor()).await?;
    match tx.rotate_long_lived(user_id, None, key).await? {
        Rotation::Rotated { token, .. } => {
            super::commit(state, tx).await?;
            Ok(token.expose().to_owned())
        }
        Rotation::Stale | Rotation::NotCurrent => Err(super::vanished("long-lived token")),
    }
}

/// Mints a token for the person with this e-mail (`dsg token create`); no
/// rate limit and no scope.
///
/// # Errors
/// An unknown e-mail (`user not found: …`); invalid input as for
/// [`create`]; the store's.
pub async fn create_as_operator(
    op: &Operator<'_>,
    email: &str,
    input: NewUserToken,
) -> Result<Minted, ServiceError> {
    let db = op.db();
    let new = checked(input, db.now())?;
    let user_id = db.store().user_id_by_email(email).await?.ok_or_else(|| {
        dsg_store::StoreError::from(dsg_core::DomainError::not_found(
            dsg_core::error::EntityKind::User,
            email,
        ))
    })?;
    mint(db, op.actor(), user_id, new).await
}

/// The calling person's tokens, newest first, with their scopes.
///
/// # Errors
/// Forbidden for a service account; the store's.
pub async fn list(state: &AppState, caller: &Caller) -> Result<Vec<Listed>, ServiceError> {
    let user_id = caller.person()?;
    let now = state.clock.now();
    Ok(state
        .store
        .list_token_scopes(user_id)
        .await?
        .into_iter()
        .map(|(info, scope)| Listed {
            expired: info.expires_at.is_some_and(|e| e <= now),
            info,
            scope,
        })
        .collect())
}

/// Revokes a user token: the caller's own, or anyone's for a global admin.
///
/// # Errors
/// Forbidden for a service account; `Token not found` when there is no such
/// token or it is someone else's (the same answer, so ids reveal nothing);
/// the store's.
pub async fn revoke(state: &AppState, caller: &Caller, id: i64) -> Result<(), ServiceError> {
    caller.person()?;
    match state.store.user_token_owner(id).await? {
        Some(owner) if caller.may_revoke_token(owner) => {}
        _ => return Err(ServiceError::NotFound("Token not found")),
    }
    revoke_with(Db::Server(state), caller.actor(), id).await
}

/// Revokes any user token (`dsg token revoke`).
///
/// # Errors
/// `Token not found`; the store's.
pub async fn revoke_as_operator(op: &Operator<'_>, id: i64) -> Result<(), ServiceError> {
    revoke_with(op.db(), op.actor(), id).await
}

/// Mints a browser login key inside the login's transaction: the user's
/// expired login keys (`description`) are deleted first, so they do not
/// pile up. Returns the key's value.
///
/// # Errors
/// The store's.
pub(crate) async fn mint_login_key(
    tx: &mut WriteTx,
    user_id: i64,
    description: &str,
    now: Timestamp,
    lifetime_secs: i64,
) -> Result<String, ServiceError> {
    tx.prune_expired_tokens(user_id, description, now).await?;
    let (_, token) = tx
        .create_user_token(
            user_id,
            NewToken {
                description: description.into(),
                expires_at: Some(now.plus_secs(lifetime_secs)),
                ..NewToken::default()
            },
        )
        .await?;
    Ok(token.expose().to_owned())
}

/// The rules every new token obeys: a description of at most
/// [`MAX_DESCRIPTION`] characters (the default when absent) and an expiry,
/// if any, after `now`.
fn checked(input: NewUserToken, now: Timestamp) -> Result<NewToken, Invalid> {
    let description = input
        .description
        .unwrap_or_else(|| DEFAULT_DESCRIPTION.to_owned());
    if description.chars().count() > MAX_DESCRIPTION {
        return Err(Invalid::TooLong {
            field: "description",
            max: MAX_DESCRIPTION,
        });
    }
    let expires_at = Expiry::future(input.expires_at, now, "expires_at")?.at();
    Ok(NewToken {
        description,
        expires_at,
        scope: input.scope,
        ..NewToken::default()
    })
}

/// Writes a token.
async fn mint(
    db: Db<'_>,
    actor: Actor,
    user_id: i64,
    new: NewToken,
) -> Result<Minted, ServiceError> {
    let mut tx = db.store().begin(actor).await?;
    let (id, token) = tx.create_user_token(user_id, new.clone()).await?;
    db.commit(tx).await?;
    Ok(Minted {
        id,
        value: token.expose().to_owned(),
        description: new.description,
        expires_at: new.expires_at,
        scope: new.scope,
    })
}

/// Deletes a user token; `Token not found` when there is none.
async fn revoke_with(db: Db<'_>, actor: Actor, id: i64) -> Result<(), ServiceError> {
    let mut tx = db.store().begin(actor).await?;
    if tx.revoke_user_token(id).await?.is_none() {
        return Err(ServiceError::NotFound("Token not found"));
    }
    db.commit(tx).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_default_and_count_characters() {
        let now = Timestamp::from_secs(100);
        let new = checked(NewUserToken::default(), now).unwrap();
        assert_eq!(new.description, DEFAULT_DESCRIPTION);
        // 255 characters of two bytes each are fine; 256 are not.
        let long = |n: usize| NewUserToken {
            description: Some("é".repeat(n)),
            ..NewUserToken::default()
        };
        assert!(checked(long(255), now).is_ok());
        assert_eq!(
            checked(long(256), now).unwrap_err().to_string(),
            "description is longer than 255 characters"
        );
        let past = NewUserToken {
            expires_at: Some(now),
            ..NewUserToken::default()
        };
        assert_eq!(
            checked(past, now).unwrap_err(),
            Invalid::NotInFuture {
                field: "expires_at"
            }
        );
    }
}
