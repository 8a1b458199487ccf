//! Bearer tokens for identity providers' SCIM clients: created (the value
//! shown once, stored as SHA-256) and revoked by the operator, each audited.

use dsg_core::token::ApiToken;

use super::{Operator, ServiceError};

/// Creates a SCIM token named `name`; the value, to show once.
///
/// # Errors
/// An invalid or taken name.
pub async fn create_as_operator(op: &Operator<'_>, name: &str) -> Result<ApiToken, ServiceError> {
    let db = op.db();
    let mut tx = db.store().begin(op.actor()).await?;
    let (_, token) = tx.create_scim_token(name).await?;
    db.commit(tx).await?;
    Ok(token)
}

/// Revokes the active SCIM token named `name`; `false` when there is none.
///
/// # Errors
/// The database failed.
pub async fn revoke_as_operator(op: &Operator<'_>, name: &str) -> Result<bool, ServiceError> {
    let db = op.db();
    let mut tx = db.store().begin(op.actor()).await?;
    let revoked = tx.revoke_scim_token(name).await?;
    db.commit(tx).await?;
    Ok(revoked)
}
