//! `dsg client …`: registered web clients (dsg-native-v1 §9.4), the sites
//! that may receive delegated keys through the sign-in popup, through the
//! same use cases as the native API (`dsg_server::service::clients`).

use anyhow::{Result, bail};
use clap::Subcommand;
use dsg_server::Config;
use dsg_server::service::clients::{self, ClientInput};
use dsg_server::service::{Operator, ServiceError};
use dsg_store::write::Actor;

use super::database::open_store;

/// `dsg client` subcommands.
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a web client at an exact origin.
    Add {
        /// Exact origin, e.g. `https://coda.example.org`.
        #[arg(long)]
        origin: String,
        /// Name shown on the consent page.
        #[arg(long)]
        name: String,
        /// Who runs it (free text shown on the consent page).
        #[arg(long, default_value = "")]
        owner: String,
    },
    /// List registered clients.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Let the client at this origin receive keys again.
    Enable {
        /// Its exact origin.
        origin: String,
    },
    /// Stop issuing keys to the client at this origin (its live keys keep working).
    Disable {
        /// Its exact origin.
        origin: String,
    },
}

/// Runs `dsg client …`.
///
/// # Errors
/// An invalid or taken origin, an unknown client, or an unreachable database.
pub async fn run(config: &Config, cmd: ClientCommand) -> Result<()> {
    let store = open_store(config).await?;
    let result = run_on(&store, cmd).await;
    store.close().await;
    result
}

async fn run_on(store: &dsg_store::Store, cmd: ClientCommand) -> Result<()> {
    match cmd {
        ClientCommand::Add {
            origin,
            name,
            owner,
        } => {
            let op = Operator::new(store, Actor::cli("client add"));
            let input = ClientInput {
                origin,
                name,
                owner,
                allowed_services: Vec::new(),
            };
            let c = clients::register_as_operator(&op, &input).await?;
            println!("Registered {} at {} (id {}).", c.name, c.origin, c.id);
        }
        ClientCommand::List { json } => {
            let op = Operator::new(store, Actor::cli("client list"));
            let all = clients::list_as_operator(&op).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&all)?);
            } else {
                println!(
                    "{:>4}  {:<40} {:<8} {:<24} OWNER",
                    "ID", "ORIGIN", "ENABLED", "NAME"
                );
                for c in all {
                    println!(
                        "{:>4}  {:<40} {:<8} {:<24} {}",
                        c.id,
                        c.origin,
                        if c.enabled { "yes" } else { "no" },
                        c.name,
                        c.owner
                    );
                }
            }
        }
        ClientCommand::Enable { origin } => set(store, &origin, true).await?,
        ClientCommand::Disable { origin } => set(store, &origin, false).await?,
    }
    Ok(())
}

async fn set(store: &dsg_store::Store, origin: &str, enabled: bool) -> Result<()> {
    let verb = if enabled { "enable" } else { "disable" };
    let op = Operator::new(store, Actor::cli(&format!("client {verb}")));
    match clients::set_enabled_as_operator(&op, origin, enabled).await {
        Ok(c) => {
            println!(
                "{} ({}) is {}.",
                c.origin,
                c.name,
                if enabled { "enabled" } else { "disabled" }
            );
            Ok(())
        }
        Err(ServiceError::NotFound(_)) => bail!("No client is registered at {origin}."),
        Err(e) => Err(e.into()),
    }
}
