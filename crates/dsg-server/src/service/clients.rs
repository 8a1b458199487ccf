//! Registered web clients and their delegated keys (dsg-native-v1 §9):
//! registering a client (global admins, the CLI, seeds), the sign-in popup's
//! decision (deliver a remembered site's key, or ask), the consent that mints
//! a key, and the account page's "sites you have signed in from" and
//! "remembered sites". A delegated key is the owner's token without admin
//! power and without token management (see [`Caller::person`]).

use dsg_core::Timestamp;
use dsg_store::clients::{Consent, NewClient, RegisteredClient};
use dsg_store::tokens::TokenInfo;
use dsg_store::write::Actor;

use super::authority::Caller;
use super::{Db, Invalid, Operator, ServiceError};
use crate::state::AppState;

/// Lifetime of a delegated key (the login cookie's age, spec 9.1).
pub const KEY_SECS: i64 = super::sessions::LOGIN_KEY_SECS;

/// Most characters in a client's name or owner.
const MAX_TEXT: usize = 200;

/// A client to register, as typed.
#[derive(Debug, Clone, Default)]
pub struct ClientInput {
    /// Exact origin, `scheme://host[:port]`.
    pub origin: String,
    /// Display name.
    pub name: String,
    /// Free-text contact.
    pub owner: String,
    /// Reserved: stored, not enforced.
    pub allowed_services: Vec<String>,
}

/// What the popup does for a signed-in person and an enabled client.
#[derive(Debug)]
pub enum Popup {
    /// A remembered site with a live key: hand it over again.
    Deliver(String),
    /// Ask (nothing is created by asking).
    Ask {
        /// "Don't ask again" pre-ticked: a consent exists but no live key.
        remembered: bool,
        /// When a key minted now would expire.
        expires_at: Timestamp,
    },
}

/// Checks an origin a client is registered at: an exact serialized
/// `http(s)` origin (no path, query, fragment, user-info, trailing slash,
/// default port or upper case).
///
/// # Errors
/// [`Invalid::Rule`] naming `origin`.
pub fn origin(value: &str) -> Result<String, Invalid> {
    dsg_store::clients::exact_origin(value).ok_or_else(|| Invalid::Rule {
        field: Some("origin"),
        message: format!(
            "origin {value:?} must be an exact origin such as https://app.example.org \
             (lower-case scheme and host, a port only when not the default; no path or trailing slash)"
        ),
    })
}

fn checked(input: &ClientInput) -> Result<NewClient, Invalid> {
    let origin = origin(input.origin.trim())?;
    let text = |v: &str, field: &'static str, required: bool| {
        let v = v.trim();
        if required && v.is_empty() {
            return Err(Invalid::Rule {
                field: Some(field),
                message: format!("{field} is required"),
            });
        }
        if v.chars().count() > MAX_TEXT {
            return Err(Invalid::TooLong {
                field,
                max: MAX_TEXT,
            });
        }
        Ok(v.to_owned())
    };
    Ok(NewClient {
        origin,
        name: text(&input.name, "name", true)?,
        owner: text(&input.owner, "owner", false)?,
        enabled: true,
        allowed_services: input.allowed_services.clone(),
    })
}

/// Every registered client (global admins).
///
/// # Errors
/// Forbidden for anyone else; the store's.
pub async fn list(
    state: &AppState,
    caller: &Caller,
) -> Result<Vec<RegisteredClient>, ServiceError> {
    caller.global_admin()?;
    Ok(state.store.registered_clients().await?)
}

/// Registers a client (global admins).
///
/// # Errors
/// Forbidden; an invalid origin or name; an origin already registered (409).
pub async fn register(
    state: &AppState,
    caller: &Caller,
    input: &ClientInput,
) -> Result<RegisteredClient, ServiceError> {
    caller.global_admin()?;
    register_with(Db::Server(state), caller.actor(), input).await
}

/// Registers a client (`dsg client add`).
///
/// # Errors
/// As [`register`], without the authority check.
pub async fn register_as_operator(
    op: &Operator<'_>,
    input: &ClientInput,
) -> Result<RegisteredClient, ServiceError> {
    register_with(op.db(), op.actor(), input).await
}

async fn register_with(
    db: Db<'_>,
    actor: Actor,
    input: &ClientInput,
) -> Result<RegisteredClient, ServiceError> {
    let new = checked(input)?;
    let mut tx = db.store().begin(actor).await?;
    let client = tx.add_client(&new).await?;
    db.commit(tx).await?;
    Ok(client)
}

/// Enables or disables the client at `origin` (global admins). Disabling
/// stops issuance and remembered delivery; live keys keep working.
///
/// # Errors
/// Forbidden; `Client not found`; the store's.
pub async fn set_enabled(
    state: &AppState,
    caller: &Caller,
    origin: &str,
    enabled: bool,
) -> Result<RegisteredClient, ServiceError> {
    caller.global_admin()?;
    set_enabled_with(Db::Server(state), caller.actor(), origin, enabled).await
}

/// Enables or disables a client (`dsg client enable|disable`).
///
/// # Errors
/// `Client not found`; the store's.
pub async fn set_enabled_as_operator(
    op: &Operator<'_>,
    origin: &str,
    enabled: bool,
) -> Result<RegisteredClient, ServiceError> {
    set_enabled_with(op.db(), op.actor(), origin, enabled).await
}

async fn set_enabled_with(
    db: Db<'_>,
    actor: Actor,
    origin: &str,
    enabled: bool,
) -> Result<RegisteredClient, ServiceError> {
    let mut tx = db.store().begin(actor).await?;
    let client = tx
        .set_client_enabled(origin, enabled)
        .await?
        .ok_or(ServiceError::NotFound("Client not found"))?;
    db.commit(tx).await?;
    Ok(client)
}

/// Every registered client (`dsg client list`).
///
/// # Errors
/// The store's.
pub async fn list_as_operator(op: &Operator<'_>) -> Result<Vec<RegisteredClient>, ServiceError> {
    Ok(op.db().store().registered_clients().await?)
}

/// The enabled client registered at exactly `origin`: the only clients the
/// popup serves and the only cross-origin pages `/api/dsg/v1` answers.
///
/// # Errors
/// The store's.
pub async fn enabled_at(
    state: &AppState,
    origin: &str,
) -> Result<Option<RegisteredClient>, ServiceError> {
    Ok(state
        .store
        .registered_client(origin)
        .await?
        .filter(|c| c.enabled))
}

/// What the popup does for `user_id` and `client`: a remembered site with a
/// live key gets that key again (marked used now; never a new one),
/// anything else is asked.
///
/// # Errors
/// The store's.
pub async fn popup(
    state: &AppState,
    user_id: i64,
    client: &RegisteredClient,
) -> Result<Popup, ServiceError> {
    let now = state.clock.now();
    let remembered = state
        .store
        .consents(user_id)
        .await?
        .iter()
        .any(|c| c.client.id == client.id);
    if remembered
        && let Some(key) = state
            .store
            .newest_delegated_key(user_id, client.id, now)
            .await?
    {
        let token = state.derivation_key.delegated(&key.salt);
        // A key derived under an earlier server key cannot be shown again.
        if token.hash() == key.hash {
            state.store.touch_token(key.id, now).await?;
            return Ok(Popup::Deliver(token.expose().to_owned()));
        }
    }
    Ok(Popup::Ask {
        remembered,
        expires_at: now.plus_secs(KEY_SECS),
    })
}

/// The person allowed `client`: mints a delegated key (evicting the oldest
/// beyond ten) and, when `remember`, records the consent, in one
/// transaction. Returns the key's value, for the popup to deliver.
///
/// # Errors
/// Forbidden for a delegated key or a service account; the store's.
pub async fn allow(
    state: &AppState,
    caller: &Caller,
    client: &RegisteredClient,
    remember: bool,
) -> Result<String, ServiceError> {
    let user_id = caller.person()?;
    let salt = dsg_core::token::ApiToken::random_bytes()
        .map_err(|e| ServiceError::Store(e.into()))?
        .to_vec();
    let expires_at = state.clock.now().plus_secs(KEY_SECS);
    let mut tx = state.store.begin(caller.actor()).await?;
    let (_, token) = tx
        .mint_delegated_key(user_id, client.id, expires_at, salt, &state.derivation_key)
        .await?;
    if remember {
        tx.remember_consent(user_id, client.id).await?;
    }
    super::commit(state, tx).await?;
    Ok(token.expose().to_owned())
}

/// The person's live delegated keys, newest first (never their values).
///
/// # Errors
/// The store's.
pub async fn signed_in_sites(
    state: &AppState,
    user_id: i64,
) -> Result<Vec<TokenInfo>, ServiceError> {
    let now = state.clock.now();
    Ok(state
        .store
        .list_user_tokens(Some(user_id))
        .await?
        .into_iter()
        .filter(|t| t.client.is_some() && t.expires_at.is_none_or(|e| e > now))
        .collect())
}

/// The person's remembered sites.
///
/// # Errors
/// The store's.
pub async fn remembered_sites(
    state: &AppState,
    user_id: i64,
) -> Result<Vec<Consent>, ServiceError> {
    Ok(state.store.consents(user_id).await?)
}

/// Revokes one of the caller's own delegated keys (the consent stays).
///
/// # Errors
/// `Key not found` for another person's key, a key that is not delegated,
/// or none; the store's.
pub async fn revoke_key(
    state: &AppState,
    caller: &Caller,
    token_id: i64,
) -> Result<(), ServiceError> {
    let user_id = caller.person()?;
    let own = signed_in_sites(state, user_id)
        .await?
        .iter()
        .any(|t| t.id == token_id);
    if !own {
        return Err(ServiceError::NotFound("Key not found"));
    }
    let mut tx = state.store.begin(caller.actor()).await?;
    if tx.revoke_user_token(token_id).await?.is_none() {
        return Err(ServiceError::NotFound("Key not found"));
    }
    super::commit(state, tx).await
}

/// Forgets the caller's consent for a client (live keys stay).
///
/// # Errors
/// `Site not found` when there is no such consent; the store's.
pub async fn forget(state: &AppState, caller: &Caller, client_id: i64) -> Result<(), ServiceError> {
    let user_id = caller.person()?;
    let mut tx = state.store.begin(caller.actor()).await?;
    if !tx.forget_consent(user_id, client_id).await? {
        return Err(ServiceError::NotFound("Site not found"));
    }
    super::commit(state, tx).await
}
