//! Global administrators: making a person one (creating the user when the
//! e-mail is new) or taking it away. Today only the operator does this
//! (`dsg make-admin`); the admin console edits the flag as a plain field.

use dsg_store::users::AdminChange;

use super::{Operator, ServiceError, input};

/// Makes the person with `email` a global admin (`admin`), creating the
/// user if needed, or revokes it (`!admin`); says what changed.
///
/// # Errors
/// An invalid e-mail; the store's.
pub async fn set_as_operator(
    op: &Operator<'_>,
    email: &str,
    admin: bool,
) -> Result<AdminChange, ServiceError> {
    input::email(email, "email")?;
    let db = op.db();
    let mut tx = db.store().begin(op.actor()).await?;
    let change = tx.set_admin(email, admin).await?;
    db.commit(tx).await?;
    Ok(change)
}
