//! `dsg token …`: creating, listing and revoking user tokens through the
//! same use cases as the APIs (`dsg_server::service::tokens`). A new token
//! is printed alone on standard output (shown once); listings never show
//! token values.

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use dsg_core::Timestamp;
use dsg_server::Config;
use dsg_server::service::tokens::{self, NewUserToken};
use dsg_server::service::{Operator, ServiceError};
use dsg_store::write::Actor;

use super::database::open_store;
use super::duration::parse_duration;

/// `dsg token` subcommands.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token for a user and print it alone on stdout (shown once).
    Create(TokenCreate),
    /// List tokens (never their values).
    List {
        /// Only this user's tokens.
        #[arg(long)]
        user: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token by its id (see `token list`).
    Revoke {
        /// Token id.
        id: i64,
    },
}

/// `dsg token create` options.
#[derive(Debug, Args)]
pub struct TokenCreate {
    /// Owner's e-mail.
    #[arg(long)]
    user: String,
    /// Lifetime, e.g. `30d`, `12h`, `90m`, `3600s`, or `never`; default 30
    /// days, as in the web UI.
    #[arg(long, value_name = "DURATION")]
    expires_in: Option<String>,
    /// Free text shown in listings.
    #[arg(long, default_value = "CLI token")]
    description: String,
}

/// Runs `dsg token …`.
///
/// # Errors
/// A bad lifetime, an unknown user or token, or an unreachable database.
pub async fn run(config: &Config, cmd: TokenCommand) -> Result<()> {
    match cmd {
        TokenCommand::Create(args) => {
            let expires = match &args.expires_in {
                Some(s) => parse_duration(s)?,
                None => Some(tokens::DEFAULT_LIFETIME_DAYS * 86_400),
            };
            let store = open_store(config).await?;
            let input = NewUserToken {
                description: Some(args.description),
                expires_at: expires.map(|s| Timestamp(dsg_store::now_micros()).plus_secs(s)),
                ..NewUserToken::default()
            };
            let op = Operator::new(&store, Actor::cli("token create"));
            let minted = tokens::create_as_operator(&op, &args.user, input).await;
            store.close().await;
            println!("{}", minted?.value);
        }
        TokenCommand::List { user, json } => {
            let store = open_store(config).await?;
            let user_id = match &user {
                Some(email) => Some(
                    store
                        .user_id_by_email(email)
                        .await?
                        .with_context(|| format!("User not found: {email}"))?,
                ),
                None => None,
            };
            let tokens = store.list_user_tokens(user_id).await?;
            store.close().await;
            if json {
                println!("{}", serde_json::to_string_pretty(&tokens)?);
            } else {
                println!(
                    "{:>6}  {:<28} {:<10} {:<24} {:<24} DESCRIPTION",
                    "ID", "USER", "PREFIX", "CREATED", "EXPIRES"
                );
                for t in tokens {
                    println!(
                        "{:>6}  {:<28} {:<10} {:<24} {:<24} {}",
                        t.id,
                        t.email,
                        t.prefix,
                        &t.created.to_rfc3339()[..19],
                        t.expires_at
                            .map_or("never".into(), |e| e.to_rfc3339()[..19].to_owned()),
                        t.description
                    );
                }
            }
        }
        TokenCommand::Revoke { id } => {
            let store = open_store(config).await?;
            let op = Operator::new(&store, Actor::cli("token revoke"));
            let revoked = tokens::revoke_as_operator(&op, id).await;
            store.close().await;
            match revoked {
                Ok(()) => println!("Revoked token {id}."),
                Err(ServiceError::NotFound(_)) => bail!("No token with id {id}."),
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(())
}
