//! `dsg make-admin`: makes a user a global admin (creating the user if
//! needed) or, with `--remove`, revokes it, through the use case
//! `dsg_server::service::global_admins`.

use anyhow::{Result, bail};
use dsg_server::Config;
use dsg_server::service::{Operator, global_admins};
use dsg_store::users::AdminChange;
use dsg_store::write::Actor;

use super::database::open_store;

/// Runs `dsg make-admin EMAIL [--remove]`.
///
/// # Errors
/// An invalid e-mail, an unknown user (with `--remove`) or an unreachable database.
pub async fn make_admin(config: &Config, email: &str, remove: bool) -> Result<()> {
    let store = open_store(config).await?;
    let op = Operator::new(&store, Actor::cli("make-admin"));
    let outcome = global_admins::set_as_operator(&op, email, !remove).await;
    store.close().await;
    match outcome? {
        AdminChange::Created => println!("Created new admin user: {email}"),
        AdminChange::Promoted => println!("Promoted {email} to admin."),
        AdminChange::AlreadyAdmin => println!("User {email} is already an admin."),
        AdminChange::Revoked => println!("Revoked admin status from {email}."),
        AdminChange::NotAdmin => println!("User {email} is not an admin."),
        AdminChange::NotFound => bail!("User not found: {email}"),
    }
    Ok(())
}
