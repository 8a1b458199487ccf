//! OpenID Connect clients, registered by global administrators (native
//! API, CLI, seeds): exact redirect URIs, allowed scopes, the datasets each
//! serves; a confidential client's secret is shown once and stored hashed.

use dsg_core::token::TokenHash;
use dsg_store::oidc::{NewOidcClient, OidcClient};
use dsg_store::write::Actor;

use super::super::authority::Caller;
use super::super::{Db, Invalid, Operator, ServiceError};
use crate::state::AppState;

/// A client to register, as typed.
#[derive(Debug, Clone, Default)]
pub struct ClientInput {
    /// Display name.
    pub name: String,
    /// Exact redirect URIs (at least one).
    pub redirect_uris: Vec<String>,
    /// Exact post-logout URIs (may be empty).
    pub post_logout_redirect_uris: Vec<String>,
    /// Public: no secret, PKCE S256 required.
    pub public: bool,
    /// Allowed scopes; empty = all five.
    pub scopes: Vec<String>,
    /// Dataset names the client serves.
    pub datasets: Vec<String>,
    /// A chosen `client_id`; empty = generated.
    pub client_id: String,
}

/// A client just registered (or whose secret was replaced): the secret is
/// shown this once.
#[derive(Debug, Clone)]
pub struct Registered {
    /// The client.
    pub client: OidcClient,
    /// Its secret; none for a public client.
    pub secret: Option<String>,
}

fn rule(field: &'static str, message: String) -> Invalid {
    Invalid::Rule {
        field: Some(field),
        message,
    }
}

fn uri(value: &str, field: &'static str) -> Result<String, Invalid> {
    if dsg_core::oidc::is_redirect_uri(value) {
        Ok(value.to_owned())
    } else {
        Err(rule(
            field,
            format!("{value:?} must be an absolute http(s) URL without fragment"),
        ))
    }
}

fn checked(input: &ClientInput) -> Result<NewOidcClient, Invalid> {
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(rule(
            "name",
            "name is required (at most 200 characters)".into(),
        ));
    }
    if input.redirect_uris.is_empty() {
        return Err(rule(
            "redirect_uris",
            "at least one redirect URI is required".into(),
        ));
    }
    let redirect_uris = input
        .redirect_uris
        .iter()
        .map(|u| uri(u, "redirect_uris"))
        .collect::<Result<Vec<_>, _>>()?;
    let post_logout_redirect_uris = input
        .post_logout_redirect_uris
        .iter()
        .map(|u| uri(u, "post_logout_redirect_uris"))
        .collect::<Result<Vec<_>, _>>()?;
    let scopes = dsg_core::oidc::scopes(&input.scopes).map_err(|m| rule("scopes", m))?;
    let client_id = if input.client_id.is_empty() {
        dsg_store::oidc::new_client_id().map_err(|e| rule("client_id", e.to_string()))?
    } else if input.client_id.len() <= 100
        && input
            .client_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    {
        input.client_id.clone()
    } else {
        return Err(rule(
            "client_id",
            "client_id: 1–100 letters, digits, '-', '_' or '.'".into(),
        ));
    };
    Ok(NewOidcClient {
        client_id,
        name: name.to_owned(),
        secret_hash: None,
        redirect_uris,
        post_logout_redirect_uris,
        scopes,
        datasets: input.datasets.clone(),
    })
}

fn new_secret() -> Result<(String, TokenHash), ServiceError> {
    let t = dsg_store::oidc::new_secret()?;
    Ok((t.expose().to_owned(), t.hash()))
}

async fn register_with(
    db: Db<'_>,
    actor: Actor,
    input: &ClientInput,
) -> Result<Registered, ServiceError> {
    let mut new = checked(input)?;
    let secret = if input.public {
        None
    } else {
        let (secret, hash) = new_secret()?;
        new.secret_hash = Some(hash);
        Some(secret)
    };
    let mut tx = db.store().begin(actor).await?;
    tx.add_oidc_client(&new).await?;
    db.commit(tx).await?;
    let client = db
        .store()
        .oidc_client(&new.client_id)
        .await?
        .ok_or_else(|| super::super::vanished("OpenID client"))?;
    Ok(Registered { client, secret })
}

/// Registers a client (global admins).
///
/// # Errors
/// Forbidden; invalid input; a `client_id` in use (409); an unknown dataset.
pub async fn register(
    state: &AppState,
    caller: &Caller,
    input: &ClientInput,
) -> Result<Registered, ServiceError> {
    caller.global_admin()?;
    register_with(Db::Server(state), caller.actor(), input).await
}

/// Registers a client (`dsg oidc-client create`, seeds).
///
/// # Errors
/// As [`register`], without the authority check.
pub async fn register_as_operator(
    op: &Operator<'_>,
    input: &ClientInput,
) -> Result<Registered, ServiceError> {
    register_with(op.db(), op.actor(), input).await
}

/// Every client (global admins).
///
/// # Errors
/// Forbidden; the store's.
pub async fn list(state: &AppState, caller: &Caller) -> Result<Vec<OidcClient>, ServiceError> {
    caller.global_admin()?;
    Ok(state.store.oidc_clients().await?)
}

/// Every client (`dsg oidc-client list`).
///
/// # Errors
/// The store's.
pub async fn list_as_operator(op: &Operator<'_>) -> Result<Vec<OidcClient>, ServiceError> {
    Ok(op.db().store().oidc_clients().await?)
}

/// What an administrator may change about a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// A new secret (shown once); the client's refresh tokens die.
    RotateSecret,
    /// Refused everywhere; its refresh tokens die.
    Disable,
    /// Allowed again.
    Enable,
    /// Gone, with its codes and refresh tokens.
    Delete,
}

async fn change_with(
    db: Db<'_>,
    actor: Actor,
    client_id: &str,
    change: Change,
) -> Result<Option<String>, ServiceError> {
    let mut tx = db.store().begin(actor).await?;
    let (found, secret) = match change {
        Change::RotateSecret => {
            let (secret, hash) = new_secret()?;
            (tx.rotate_oidc_secret(client_id, &hash).await?, Some(secret))
        }
        Change::Disable => (tx.set_oidc_client_enabled(client_id, false).await?, None),
        Change::Enable => (tx.set_oidc_client_enabled(client_id, true).await?, None),
        Change::Delete => (tx.delete_oidc_client(client_id).await?, None),
    };
    if !found {
        return Err(ServiceError::NotFound(if change == Change::RotateSecret {
            "Confidential client not found"
        } else {
            "Client not found"
        }));
    }
    db.commit(tx).await?;
    Ok(secret)
}

/// Changes a client (global admins); returns a new secret when one was made.
///
/// # Errors
/// Forbidden; `Client not found`; the store's.
pub async fn change(
    state: &AppState,
    caller: &Caller,
    client_id: &str,
    change: Change,
) -> Result<Option<String>, ServiceError> {
    caller.global_admin()?;
    change_with(Db::Server(state), caller.actor(), client_id, change).await
}

/// Changes a client (`dsg oidc-client rotate-secret|disable|enable|delete`).
///
/// # Errors
/// `Client not found`; the store's.
pub async fn change_as_operator(
    op: &Operator<'_>,
    client_id: &str,
    change: Change,
) -> Result<Option<String>, ServiceError> {
    change_with(op.db(), op.actor(), client_id, change).await
}
