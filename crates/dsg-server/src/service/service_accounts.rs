//! Service accounts: non-human principals with their own tokens and dataset
//! grants, never admins, in no group, bound by no terms of service. Only
//! global admins manage them ([`Caller::may_manage_service_accounts`]);
//! the native API, the web pages and `dsg service-account` call these
//! functions, which hold every service-account write.

use dsg_core::{DomainError, Timestamp};
use dsg_store::service_accounts::ServiceAccountListing;
use dsg_store::write::Actor;
use dsg_store::{StoreError, WriteTx};

use super::authority::Caller;
use super::input::Expiry;
use super::{Db, Invalid, Operator, ServiceError};
use crate::state::AppState;

/// What a missing service account is called in refusals.
const NOT_FOUND: &str = "Service account not found";

/// What a missing token or grant of a service account is called in refusals.
const PART_NOT_FOUND: &str = "Not found.";

/// A service account found by a caller who may manage it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
}

/// A new service account.
#[derive(Debug, Clone)]
pub struct NewAccount {
    /// 1–100 letters, digits, `-` or `_`; unique.
    pub name: String,
    /// Free text.
    pub description: String,
}

/// A grant to give a service account.
#[derive(Debug, Clone)]
pub struct NewGrant {
    /// Dataset name.
    pub dataset: String,
    /// One version of it, or the whole dataset.
    pub version: Option<String>,
    /// `view`, `edit`, `manage` or `admin`.
    pub permission: String,
    /// Expiry; none for a grant that never expires.
    pub expires_at: Option<Timestamp>,
}

/// A token just minted for a service account; its value is shown this once.
#[derive(Debug, Clone)]
pub struct MintedToken {
    /// Row id (for revoking it).
    pub id: i64,
    /// The token itself.
    pub value: String,
    /// Its description.
    pub description: String,
}

/// A service account's token as admins see it (never the value).
#[derive(Debug, Clone)]
pub struct AccountToken {
    /// Row id.
    pub id: i64,
    /// Free text.
    pub description: String,
    /// First characters of the token.
    pub prefix: String,
    /// Created.
    pub created: Timestamp,
    /// Last authentication.
    pub last_used: Option<Timestamp>,
}

/// A service account's grant.
#[derive(Debug, Clone)]
pub struct AccountGrant {
    /// Row id.
    pub id: i64,
    /// Dataset name.
    pub dataset: String,
    /// Version, when the grant is limited to one.
    pub version: Option<String>,
    /// Level.
    pub permission: String,
    /// Expiry.
    pub expires_at: Option<Timestamp>,
    /// Past its expiry (no longer counted).
    pub expired: bool,
}

/// A service account with its tokens and grants.
#[derive(Debug, Clone)]
pub struct Detail {
    /// The account.
    pub account: ServiceAccountListing,
    /// Its tokens, newest first.
    pub tokens: Vec<AccountToken>,
    /// Its grants, oldest first.
    pub grants: Vec<AccountGrant>,
}

fn authorize(caller: &Caller) -> Result<(), ServiceError> {
    caller.global_admin()
}

/// Every service account, by name.
///
/// # Errors
/// Forbidden unless the caller manages service accounts; the store's.
pub async fn list(
    state: &AppState,
    caller: &Caller,
) -> Result<Vec<ServiceAccountListing>, ServiceError> {
    authorize(caller)?;
    Ok(state.store.service_accounts().await?)
}

/// The service account named `name`.
///
/// # Errors
/// Forbidden unless the caller manages service accounts (asked first, so
/// names reveal nothing); `Service account not found`; the store's.
pub async fn find(state: &AppState, caller: &Caller, name: &str) -> Result<Account, ServiceError> {
    authorize(caller)?;
    let id = state
        .store
        .service_account_id(name)
        .await?
        .ok_or(ServiceError::NotFound(NOT_FOUND))?;
    Ok(Account {
        id,
        name: name.to_owned(),
    })
}

/// The account with its tokens and grants.
///
/// # Errors
/// Forbidden unless the caller manages service accounts; `Service account
/// not found` when it vanished; the store's.
pub async fn detail(
    state: &AppState,
    caller: &Caller,
    account: &Account,
) -> Result<Detail, ServiceError> {
    authorize(caller)?;
    let store = &state.store;
    let listing = store
        .service_account_detail(account.id)
        .await?
        .ok_or(ServiceError::NotFound(NOT_FOUND))?;
    let now = state.clock.now();
    let tokens = store
        .service_account_tokens(account.id)
        .await?
        .into_iter()
        .map(
            |(id, description, prefix, created, last_used)| AccountToken {
                id,
                description,
                prefix,
                created,
                last_used,
            },
        )
        .collect();
    let grants = store
        .service_account_grants(account.id)
        .await?
        .into_iter()
        .map(
            |(id, dataset, version, permission, expires_at)| AccountGrant {
                id,
                dataset,
                version,
                permission,
                expires_at,
                expired: dsg_store::grants::expired(expires_at, now),
            },
        )
        .collect();
    Ok(Detail {
        account: listing,
        tokens,
        grants,
    })
}

/// Creates an active service account; returns its id.
///
/// # Errors
/// Forbidden unless the caller manages service accounts; a name that is no
/// slug (`Invalid` naming the field `name`); `Conflict` when the name is
/// taken; the store's.
pub async fn create(
    state: &AppState,
    caller: &Caller,
    input: NewAccount,
) -> Result<i64, ServiceError> {
    authorize(caller)?;
    create_with(Db::Server(state), caller.actor(), &input).await
}

/// [`create`] for the operator (`dsg service-account create`).
///
/// # Errors
/// As [`create`], bar authority.
pub async fn create_as_operator(op: &Operator<'_>, input: NewAccount) -> Result<i64, ServiceError> {
    create_with(op.db(), op.actor(), &input).await
}

/// Changes the account's description.
///
/// # Errors
/// Forbidden unless the caller manages service accounts; the store's.
pub async fn set_description(
    state: &AppState,
    caller: &Caller,
    account: &Account,
    description: &str,
) -> Result<(), ServiceError> {
    authorize(caller)?;
    let db = Db::Server(state);
    let mut tx = db.store().begin(caller.actor()).await?;
    if !tx
        .set_service_account_description(account.id, description)
        .await?
    {
        return Err(ServiceError::NotFound(NOT_FOUND));
    }
    db.commit(tx).await
}

/// Enables or disables the account (a disabled account's tokens are refused
/// at once); returns whether anything changed.
///
/// # Errors
/// Forbidden unless the caller manages service accounts; the store's.
pub async fn set_active(
    state: &AppState,
    caller: &Caller,
    account: &Account,
    active: bool,
) -> Result<bool, ServiceError> {
    authorize(caller)?;
    set_active_with(Db::Server(state), caller.actor(), account.id, active).await
}

/// [`set_active`] for the operator (`dsg service-account enable|disable`).
///
/// # Errors
/// `Service account not found`; the store's.
pub async fn set_active_as_operator(
    op: &Operator<'_>,
    name: &str,
    active: bool,
) -> Result<bool, ServiceError> {
    let id = operator_find(op, name).await?;
    set_active_with(op.db(), op.actor(), id, active).await
}

/// Deletes the account with its tokens and grants; its tokens stop working at once.
///
/// # Errors
/// Forbidden unless the caller manages service accounts; the store's.
pub async fn delete(
    state: &AppState,
    caller: &Caller,
    account: &Account,
) -> Result<(), ServiceError> {
    authorize(caller)?;
    let db = Db::Server(state);
    let mut tx = db.store().begin(caller.actor()).await?;
    if !tx.delete_service_account(account.id).await? {
        return Err(ServiceError::NotFound(NOT_FOUND));
    }
    db.commit(tx).await
}

/// Mints a token for the account.
///
/// # Errors
/// Forbidden unless the caller manages service accounts; the store's.
pub async fn add_token(
    state: &AppState,
    caller: &Caller,
    account: &Account,
    description: &str,
) -> Result<MintedToken, ServiceError> {
    authorize(caller)?;
    add_token_with(Db::Server(state), caller.actor(), account.id, description).await
}

/// [`add_token`] for the operator (`dsg service-account token`).
///
/// # Errors
/// `Service account not found`; the store's.
pub async fn add_token_as_operator(
    op: &Operator<'_>,
    name: &str,
    description: &str,
) -> Result<MintedToken, ServiceError> {
    let id = operator_find(op, name).await?;
    add_token_with(op.db(), op.actor(), id, description).await
}

/// Revokes one of the account's tokens.
///
/// # Errors
/// Forbidden unless the caller manages service accounts; `Not found.` when
/// the token is not the account's; the store's.
pub async fn revoke_token(
    state: &AppState,
    caller: &Caller,
    account: &Account,
    token_id: i64,
) -> Result<(), ServiceError> {
    authorize(caller)?;
    let db = Db::Server(state);
    let mut tx = db.store().begin(caller.actor()).await?;
    if !tx
        .revoke_service_account_token(account.id, token_id)
        .await?
    {
        return Err(ServiceError::NotFound(PART_NOT_FOUND));
    }
    db.commit(tx).await
}

/// Grants the account a level on a dataset (or one version of it).
///
/// # Errors
/// Forbidden unless the caller manages service accounts; an expiry not in
/// the future; an unknown dataset, version or level (the store's not-found);
/// `Conflict` when the account already holds that grant; the store's.
pub async fn add_grant(
    state: &AppState,
    caller: &Caller,
    account: &Account,
    grant: NewGrant,
) -> Result<i64, ServiceError> {
    authorize(caller)?;
    add_grant_with(Db::Server(state), caller.actor(), account.id, grant).await
}

/// [`add_grant`] for the operator (`dsg service-account grant`).
///
/// # Errors
/// `Service account not found`; as [`add_grant`], bar authority.
pub async fn add_grant_as_operator(
    op: &Operator<'_>,
    name: &str,
    grant: NewGrant,
) -> Result<i64, ServiceError> {
    let id = operator_find(op, name).await?;
    add_grant_with(op.db(), op.actor(), id, grant).await
}

/// Revokes one of the account's grants.
///
/// # Errors
/// Forbidden unless the caller manages service accounts; `Not found.` when
/// the grant is not the account's; the store's.
pub async fn revoke_grant(
    state: &AppState,
    caller: &Caller,
    account: &Account,
    grant_id: i64,
) -> Result<(), ServiceError> {
    authorize(caller)?;
    let db = Db::Server(state);
    let mut tx = db.store().begin(caller.actor()).await?;
    if !tx
        .revoke_service_account_grant(account.id, grant_id)
        .await?
    {
        return Err(ServiceError::NotFound(PART_NOT_FOUND));
    }
    db.commit(tx).await
}

/// The id of the account named `name`, for the operator.
async fn operator_find(op: &Operator<'_>, name: &str) -> Result<i64, ServiceError> {
    op.db()
        .store()
        .service_account_id(name)
        .await?
        .ok_or(ServiceError::NotFound(NOT_FOUND))
}

async fn create_with(db: Db<'_>, actor: Actor, input: &NewAccount) -> Result<i64, ServiceError> {
    dsg_store::service_accounts::validate_slug("service-account name", &input.name).map_err(
        |e| Invalid::Rule {
            field: Some("name"),
            message: match e {
                DomainError::Invalid(m) => m,
                other => other.to_string(),
            },
        },
    )?;
    let mut tx = db.store().begin(actor).await?;
    let id = tx
        .create_service_account(&input.name, &input.description, true)
        .await
        .map_err(conflict)?;
    db.commit(tx).await?;
    Ok(id)
}

async fn set_active_with(
    db: Db<'_>,
    actor: Actor,
    id: i64,
    active: bool,
) -> Result<bool, ServiceError> {
    let mut tx = db.store().begin(actor).await?;
    let changed = tx
        .set_service_account_active(id, active)
        .await?
        .ok_or(ServiceError::NotFound(NOT_FOUND))?;
    db.commit(tx).await?;
    Ok(changed)
}

async fn add_token_with(
    db: Db<'_>,
    actor: Actor,
    id: i64,
    description: &str,
) -> Result<MintedToken, ServiceError> {
    let mut tx = db.store().begin(actor).await?;
    let (token_id, token) = tx.create_service_account_token(id, description).await?;
    db.commit(tx).await?;
    Ok(MintedToken {
        id: token_id,
        value: token.expose().to_owned(),
        description: description.to_owned(),
    })
}

async fn add_grant_with(
    db: Db<'_>,
    actor: Actor,
    id: i64,
    grant: NewGrant,
) -> Result<i64, ServiceError> {
    let expires_at = Expiry::future(grant.expires_at, db.now(), "expires_at")?.at();
    let mut tx = db.store().begin(actor).await?;
    let grant_id = write_grant(&mut tx, id, &grant, expires_at)
        .await
        .map_err(conflict)?;
    db.commit(tx).await?;
    Ok(grant_id)
}

async fn write_grant(
    tx: &mut WriteTx,
    id: i64,
    grant: &NewGrant,
    expires_at: Option<Timestamp>,
) -> Result<i64, StoreError> {
    let dataset_id = tx.dataset_id(&grant.dataset).await?;
    let version_id = match grant.version.as_deref().filter(|v| !v.is_empty()) {
        Some(v) => Some(tx.version_id(dataset_id, v).await?),
        None => None,
    };
    tx.create_service_account_grant(
        id,
        dataset_id,
        version_id,
        &grant.permission,
        expires_at,
        None,
    )
    .await
}

/// A uniqueness conflict as [`ServiceError::Conflict`] in the store's words.
fn conflict(e: StoreError) -> ServiceError {
    match e {
        StoreError::Domain(DomainError::Conflict(m)) => ServiceError::Conflict(m),
        e if e.is_unique_violation() => ServiceError::Conflict(e.to_string()),
        e => ServiceError::Store(e),
    }
}
