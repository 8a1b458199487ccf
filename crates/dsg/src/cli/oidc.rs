//! `dsg oidc-client …` and `dsg oidc-key rotate`: the OpenID Connect
//! provider's clients and signing keys (docs/oidc-provider.md), through the
//! same use cases as the native API (`dsg_server::service::oidc`). A new or
//! rotated secret is printed once.

use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use dsg_server::Config;
use dsg_server::service::oidc::clients::{self, Change, ClientInput};
use dsg_server::service::{Operator, ServiceError};
use dsg_store::write::Actor;

use super::database::open_store;
use super::duration::parse_duration;

/// `dsg oidc-client` subcommands.
#[derive(Debug, Subcommand)]
pub enum OidcClientCommand {
    /// Register a client; prints its client_id and (confidential) secret once.
    Create(CreateArgs),
    /// List clients (never their secrets).
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Replace a confidential client's secret (printed once); its refresh tokens stop.
    RotateSecret {
        /// The client_id.
        client_id: String,
    },
    /// Refuse the client everywhere (its refresh tokens stop).
    Disable {
        /// The client_id.
        client_id: String,
    },
    /// Allow a disabled client again.
    Enable {
        /// The client_id.
        client_id: String,
    },
    /// Delete the client with its codes and refresh tokens.
    Delete {
        /// The client_id.
        client_id: String,
    },
}

/// `dsg oidc-client create` options.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Display name.
    #[arg(long)]
    name: String,
    /// An exact redirect URI (repeat for more).
    #[arg(long = "redirect-uri", required = true)]
    redirect_uris: Vec<String>,
    /// An exact URI end-session may return to (repeat for more).
    #[arg(long = "post-logout-uri")]
    post_logout_uris: Vec<String>,
    /// A public client: no secret, PKCE S256 required.
    #[arg(long)]
    public: bool,
    /// An allowed scope (repeat; default: openid, email, profile, groups, datasets).
    #[arg(long = "scope")]
    scopes: Vec<String>,
    /// A dataset the client serves (repeat): the only ones its `datasets` claim names.
    #[arg(long = "dataset")]
    datasets: Vec<String>,
    /// A chosen client_id (default: generated).
    #[arg(long)]
    client_id: Option<String>,
}

/// `dsg oidc-key` subcommands.
#[derive(Debug, Subcommand)]
pub enum OidcKeyCommand {
    /// Make a new signing key, published now and signing after the overlap;
    /// the current key stops signing then and leaves the JWKS once the
    /// tokens it signed have expired.
    Rotate {
        /// How long the new key is published before it signs (e.g. `1h`).
        #[arg(long, default_value = "1h")]
        overlap: String,
    },
}

/// Runs `dsg oidc-client …`.
///
/// # Errors
/// Invalid input, an unknown client, or an unreachable database.
pub async fn run_client(config: &Config, cmd: OidcClientCommand) -> Result<()> {
    let store = open_store(config).await?;
    let result = client_on(&store, cmd).await;
    store.close().await;
    result
}

async fn client_on(store: &dsg_store::Store, cmd: OidcClientCommand) -> Result<()> {
    let change = |what: &str, client_id: String, change: Change| {
        let what = what.to_owned();
        async move {
            let op = Operator::new(store, Actor::cli(&format!("oidc-client {what}")));
            match clients::change_as_operator(&op, &client_id, change).await {
                Ok(Some(secret)) => {
                    println!("{secret}");
                    Ok(())
                }
                Ok(None) => {
                    eprintln!("{client_id}: {what} done.");
                    Ok(())
                }
                Err(ServiceError::NotFound(m)) => bail!("{m}: {client_id}"),
                Err(e) => Err(e.into()),
            }
        }
    };
    match cmd {
        OidcClientCommand::Create(a) => {
            let op = Operator::new(store, Actor::cli("oidc-client create"));
            let input = ClientInput {
                name: a.name,
                redirect_uris: a.redirect_uris,
                post_logout_redirect_uris: a.post_logout_uris,
                public: a.public,
                scopes: a.scopes,
                datasets: a.datasets,
                client_id: a.client_id.unwrap_or_default(),
            };
            let r = clients::register_as_operator(&op, &input).await?;
            let mut out = serde_json::json!({"client_id": r.client.client_id});
            if let Some(s) = r.secret {
                out["client_secret"] = s.into();
            }
            println!("{out}");
        }
        OidcClientCommand::List { json } => {
            let op = Operator::new(store, Actor::cli("oidc-client list"));
            let all = clients::list_as_operator(&op).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&all)?);
            } else {
                println!(
                    "{:<26} {:<8} {:<8} {:<24} REDIRECT URIS",
                    "CLIENT_ID", "TYPE", "ENABLED", "NAME"
                );
                for c in all {
                    println!(
                        "{:<26} {:<8} {:<8} {:<24} {}",
                        c.client_id,
                        if c.public { "public" } else { "secret" },
                        if c.enabled { "yes" } else { "no" },
                        c.name,
                        c.redirect_uris.join(" ")
                    );
                }
            }
        }
        OidcClientCommand::RotateSecret { client_id } => {
            change("rotate-secret", client_id, Change::RotateSecret).await?
        }
        OidcClientCommand::Disable { client_id } => {
            change("disable", client_id, Change::Disable).await?
        }
        OidcClientCommand::Enable { client_id } => {
            change("enable", client_id, Change::Enable).await?
        }
        OidcClientCommand::Delete { client_id } => {
            change("delete", client_id, Change::Delete).await?
        }
    }
    Ok(())
}

/// Runs `dsg oidc-key …`.
///
/// # Errors
/// A bad duration, an unreadable key, or an unreachable database.
pub async fn run_key(config: &Config, cmd: OidcKeyCommand) -> Result<()> {
    let OidcKeyCommand::Rotate { overlap } = cmd;
    let overlap = parse_duration(&overlap)?.unwrap_or(0);
    let sealing = config.sealing_key()?;
    let store = open_store(config).await?;
    let op = Operator::new(&store, Actor::cli("oidc-key rotate"));
    let kid = dsg_server::service::oidc::keys::rotate_as_operator(
        &op,
        &sealing,
        overlap,
        config.oidc_provider.access_token_secs,
    )
    .await;
    store.close().await;
    println!("{}", kid?);
    Ok(())
}
