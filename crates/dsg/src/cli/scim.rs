//! `dsg scim …`: SCIM provisioning from the command line, i.e. the bearer
//! tokens identity providers use (one per provider): create (printed once),
//! list (never the values), revoke.

use anyhow::Result;
use clap::Subcommand;
use dsg_server::Config;
use dsg_server::service::{Operator, scim_tokens};
use dsg_store::write::Actor;

use super::database::open_store;

/// `dsg scim` subcommands.
#[derive(Debug, Subcommand)]
pub enum ScimCommand {
    /// Create, list or revoke SCIM bearer tokens (one per identity provider).
    #[command(subcommand)]
    Token(ScimTokenCommand),
}

/// `dsg scim token` subcommands.
#[derive(Debug, Subcommand)]
pub enum ScimTokenCommand {
    /// Create a SCIM token and print it alone on stdout (shown once).
    Create {
        /// A name for the identity provider it is for, e.g. `okta`.
        name: String,
    },
    /// List SCIM tokens (never their values).
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a SCIM token by name or id.
    Revoke {
        /// Token name or id.
        name: String,
    },
}

/// Runs `dsg scim …`.
///
/// # Errors
/// An unknown token name or an unreachable database.
pub async fn run(config: &Config, cmd: ScimCommand) -> Result<()> {
    match cmd {
        ScimCommand::Token(cmd) => token(config, cmd).await,
    }
}

async fn token(config: &Config, cmd: ScimTokenCommand) -> Result<()> {
    let store = open_store(config).await?;
    let outcome = match cmd {
        ScimTokenCommand::Create { name } => {
            let op = Operator::new(&store, Actor::cli("scim token create"));
            let token = scim_tokens::create_as_operator(&op, &name).await?;
            println!("{}", token.expose());
            Ok(())
        }
        ScimTokenCommand::List { json } => {
            let tokens = store.list_scim_tokens().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&tokens)?);
            } else {
                println!(
                    "{:>6}  {:<24} {:<10} {:<20} {:<20} STATUS",
                    "ID", "NAME", "PREFIX", "CREATED", "LAST USED"
                );
                for t in tokens {
                    let day = |ts: dsg_core::Timestamp| ts.to_rfc3339()[..19].to_owned();
                    println!(
                        "{:>6}  {:<24} {:<10} {:<20} {:<20} {}",
                        t.id,
                        t.name,
                        t.prefix,
                        day(t.created),
                        t.last_used.map_or("never".into(), day),
                        t.revoked_at
                            .map_or("active".into(), |r| format!("revoked {}", day(r)))
                    );
                }
            }
            Ok(())
        }
        ScimTokenCommand::Revoke { name } => {
            let op = Operator::new(&store, Actor::cli("scim token revoke"));
            let revoked = scim_tokens::revoke_as_operator(&op, &name).await?;
            if revoked {
                println!("Revoked SCIM token {name}.");
                Ok(())
            } else {
                Err(anyhow::anyhow!("No active SCIM token named {name:?}."))
            }
        }
    };
    store.close().await;
    outcome
}
