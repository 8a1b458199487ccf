//! Browser sessions: signing in turns a verified identity into a user (found,
//! linked or created under the sign-up policy) and a 7-day login key, in one
//! transaction; signing out revokes the login token a browser carries.

use dsg_core::token::TokenHash;
use dsg_core::{DomainError, Timestamp};
use dsg_store::identities::{LoginIdentity, LoginUser, SignupPolicy};
use dsg_store::tokens::PrincipalRef;
use dsg_store::write::Actor;
use dsg_store::{StoreError, WriteTx};

use super::{Invalid, ServiceError, commit};
use crate::config::Signup;
use crate::state::AppState;

/// Lifetime of a login key and its cookie (7 days, as the original).
pub const LOGIN_KEY_SECS: i64 = 7 * 24 * 3600;

/// Description of login keys (shown in token listings).
pub const LOGIN_KEY_DESCRIPTION: &str = "OAuth login token";

/// What a disabled user is told when signing in.
pub const USER_DISABLED: &str = "User account is disabled.";

/// Signs a person in: finds the user by (issuer, subject), links a verified
/// e-mail or creates the user as `login.signup` allows (pending invitations
/// become grants), and mints a login key; returns its value.
///
/// # Errors
/// The store's refusals in its words: `Invalid` (e.g. no e-mail),
/// `Forbidden(Some(…))` (sign-up not allowed, [`USER_DISABLED`]), `Conflict`;
/// database failures.
pub async fn sign_in(
    state: &AppState,
    identity: &LoginIdentity,
    now: Timestamp,
    request_id: Option<String>,
) -> Result<String, ServiceError> {
    let actor = Actor {
        id: None,
        label: format!("login:{}", identity.issuer),
        request_id,
    };
    let mut tx = state.store.begin(actor).await?;
    let user = tx
        .login_user(identity, &policy(state))
        .await
        .map_err(refusal)?;
    if let LoginUser::Created(id) = user {
        on_user_created(&mut tx, id, &identity.email).await?;
    }
    if !tx.user_is_active(user.id()).await? {
        return Err(ServiceError::Forbidden(Some(USER_DISABLED.into())));
    }
    let key = super::tokens::mint_login_key(
        &mut tx,
        user.id(),
        LOGIN_KEY_DESCRIPTION,
        now,
        LOGIN_KEY_SECS,
    )
    .await?;
    commit(state, tx).await?;
    Ok(key)
}

/// Called in the login transaction right after a user is created at first
/// login. Pending invitations for `email` are turned into grants here.
///
/// # Errors
/// Database failures (the whole login is then rolled back).
async fn on_user_created(tx: &mut WriteTx, user_id: i64, email: &str) -> Result<(), StoreError> {
    dsg_store::invitations::redeem_for_user(tx, user_id, email).await?;
    Ok(())
}

/// `login.signup` as the store applies it.
fn policy(state: &AppState) -> SignupPolicy {
    let l = &state.config.login;
    match l.signup {
        Signup::Anyone => SignupPolicy::Anyone,
        Signup::Existing => SignupPolicy::Existing,
        Signup::Domains => SignupPolicy::Domains(l.signup_domains.clone()),
    }
}

/// A refused login in the store's own words.
fn refusal(e: StoreError) -> ServiceError {
    match DomainError::from(e) {
        DomainError::Invalid(message) => Invalid::Rule {
            field: None,
            message,
        }
        .into(),
        DomainError::Forbidden(m) => ServiceError::Forbidden(Some(m)),
        DomainError::Conflict(m) => ServiceError::Conflict(m),
        other => ServiceError::Store(other.into()),
    }
}

/// Revokes each of these values that is a user's *login* token (the browser
/// session's); API and long-lived tokens survive a logout, and values that
/// are malformed, unknown or already revoked are ignored.
///
/// # Errors
/// Database failures.
pub async fn revoke_login_tokens(
    state: &AppState,
    values: impl IntoIterator<Item = String>,
    request_id: Option<String>,
) -> Result<(), ServiceError> {
    for value in values {
        if dsg_core::token::presented(&value).is_none() {
            continue;
        }
        let hash = TokenHash::of(&value);
        if let Some(rec) = state.store.lookup_token(&hash).await?
            && let PrincipalRef::User(user_id) = rec.principal
        {
            let mut tx = state
                .store
                .begin(Actor::user(user_id, "", request_id.clone()))
                .await?;
            if tx
                .revoke_user_token_described(&hash, LOGIN_KEY_DESCRIPTION)
                .await?
                .is_some()
            {
                commit(state, tx).await?;
            }
        }
    }
    Ok(())
}
