//! `dsg service-account …`: service accounts from the command line (create,
//! disable, enable, list), their tokens and their dataset grants, through
//! the same use cases as the native API (`dsg_server::service::service_accounts`),
//! so running servers see the change on their next request.

use anyhow::{Result, anyhow};
use dsg_core::Timestamp;
use dsg_server::Config;
use dsg_server::service::service_accounts::{self as accounts, NewAccount, NewGrant};
use dsg_server::service::{Operator, ServiceError};
use dsg_store::Store;
use dsg_store::write::Actor;

use super::database::open_store;
use super::duration::parse_duration;

/// `dsg service-account …`: service accounts, their tokens and grants.
#[derive(Debug, clap::Subcommand)]
pub enum SaCommand {
    /// Create a service account.
    Create {
        /// Slug name (letters, digits, `-`, `_`).
        name: String,
        /// Free text.
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Mint a token for a service account and print it alone on stdout (shown once).
    Token {
        /// Service-account name.
        name: String,
        /// Free text shown in listings.
        #[arg(long, default_value = "CLI token")]
        description: String,
    },
    /// Grant a service account a permission on a dataset.
    Grant {
        /// Service-account name.
        name: String,
        /// Dataset name.
        #[arg(long)]
        dataset: String,
        /// `view`, `edit`, `manage` or `admin`.
        #[arg(long, default_value = "view")]
        permission: String,
        /// Limit to one version of the dataset.
        #[arg(long)]
        version: Option<String>,
        /// Lifetime of the grant, e.g. `30d` (default: no expiry).
        #[arg(long, value_name = "DURATION")]
        expires_in: Option<String>,
    },
    /// Disable a service account (its tokens stop working at once).
    Disable {
        /// Service-account name.
        name: String,
    },
    /// Enable a disabled service account.
    Enable {
        /// Service-account name.
        name: String,
    },
    /// List service accounts.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs `dsg service-account …` on the configured database.
///
/// # Errors
/// Unknown names, invalid input or an unreachable database, with a message.
pub async fn run(config: &Config, cmd: SaCommand) -> Result<()> {
    let store = open_store(config).await?;
    let out = service_account(&store, cmd).await;
    store.close().await;
    out
}

/// Runs one service-account subcommand on `store`.
///
/// # Errors
/// Unknown names, invalid input or an unreachable database, with a message.
async fn service_account(store: &Store, cmd: SaCommand) -> Result<()> {
    let op = |command: &str| Operator::new(store, Actor::cli(command));
    match cmd {
        SaCommand::Create { name, description } => {
            let op = op("service-account create");
            let input = NewAccount {
                name: name.clone(),
                description,
            };
            let id = accounts::create_as_operator(&op, input).await?;
            println!("Created service account {name} (id {id}).");
        }
        SaCommand::Token { name, description } => {
            let op = op("service-account token");
            let token = accounts::add_token_as_operator(&op, &name, &description)
                .await
                .map_err(|e| named(e, &name))?;
            println!("{}", token.value);
        }
        SaCommand::Grant {
            name,
            dataset,
            permission,
            version,
            expires_in,
        } => {
            let expires_at = match expires_in.as_deref() {
                Some(d) => {
                    parse_duration(d)?.map(|s| Timestamp(dsg_store::now_micros()).plus_secs(s))
                }
                None => None,
            };
            let op = op("service-account grant");
            let grant = NewGrant {
                dataset: dataset.clone(),
                version,
                permission: permission.clone(),
                expires_at,
            };
            accounts::add_grant_as_operator(&op, &name, grant)
                .await
                .map_err(|e| named(e, &name))?;
            println!("Granted {permission} on {dataset} to {name}.");
        }
        SaCommand::Disable { name } => set_active(store, &name, false).await?,
        SaCommand::Enable { name } => set_active(store, &name, true).await?,
        SaCommand::List { json } => {
            let list = store.service_accounts().await?;
            if json {
                let out: Vec<_> = list
                    .iter()
                    .map(|s| serde_json::json!({"id": s.id, "name": s.name, "description": s.description, "is_active": s.is_active}))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                for s in list {
                    let state = if s.is_active { "active" } else { "disabled" };
                    println!("{:>6}  {:<30} {:<9} {}", s.id, s.name, state, s.description);
                }
            }
        }
    }
    Ok(())
}

/// A use case's refusal, naming the service account when it is the one missing.
fn named(e: ServiceError, name: &str) -> anyhow::Error {
    match e {
        ServiceError::NotFound(_) => anyhow!("service account not found: {name}"),
        e => e.into(),
    }
}

async fn set_active(store: &Store, name: &str, active: bool) -> Result<()> {
    let verb = if active { "enable" } else { "disable" };
    let op = Operator::new(store, Actor::cli(&format!("service-account {verb}")));
    let changed = accounts::set_active_as_operator(&op, name, active)
        .await
        .map_err(|e| named(e, name))?;
    println!(
        "Service account {name} {}{}.",
        if changed { "" } else { "was already " },
        if active { "enabled" } else { "disabled" }
    );
    Ok(())
}
