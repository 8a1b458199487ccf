//! `dsg service-account …`: service accounts from the command line (create,
//! disable, enable, list), their tokens and their dataset grants, through
//! the same audited store functions as the native API, so running servers
//! see the change on their next request.

use anyhow::{Context, Result};
use dsg_core::Timestamp;
use dsg_server::Config;
use dsg_store::Store;

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
    use dsg_store::write::Actor;
    match cmd {
        SaCommand::Create { name, description } => {
            let mut tx = store.begin(Actor::cli("service-account create")).await?;
            let id = tx.create_service_account(&name, &description, true).await?;
            tx.commit().await?;
            println!("Created service account {name} (id {id}).");
        }
        SaCommand::Token { name, description } => {
            let mut tx = store.begin(Actor::cli("service-account token")).await?;
            let id = tx.require_service_account(&name).await?;
            let (_, token) = tx.create_service_account_token(id, &description).await?;
            tx.commit().await?;
            println!("{}", token.expose());
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
            let mut tx = store.begin(Actor::cli("service-account grant")).await?;
            let id = tx.require_service_account(&name).await?;
            let dataset_id = tx.dataset_id(&dataset).await?;
            let version_id = match &version {
                Some(v) => Some(tx.version_id(dataset_id, v).await?),
                None => None,
            };
            tx.create_service_account_grant(id, dataset_id, version_id, &permission, expires_at)
                .await?;
            tx.commit().await?;
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

async fn set_active(store: &Store, name: &str, active: bool) -> Result<()> {
    let verb = if active { "enable" } else { "disable" };
    let mut tx = store
        .begin(dsg_store::write::Actor::cli(&format!(
            "service-account {verb}"
        )))
        .await?;
    let id = tx.require_service_account(name).await?;
    let changed = tx
        .set_service_account_active(id, active)
        .await?
        .context("service account vanished")?;
    tx.commit().await?;
    println!(
        "Service account {name} {}{}.",
        if changed { "" } else { "was already " },
        if active { "enabled" } else { "disabled" }
    );
    Ok(())
}
