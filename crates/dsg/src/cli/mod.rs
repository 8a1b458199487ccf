//! Command-line interface: the clap [`Cli`] and its [`Command`] enum, and
//! [`run`], which loads the configuration and hands each command to its
//! module. Nothing else belongs here. Every subcommand that changes data
//! goes through the same store functions as the API, so it is audited and
//! invalidates running servers' caches (they see the change on their next
//! request). Command modules import only the shared helpers (`database`,
//! `duration`, `daemon`), never this module or each other.

mod admin;
mod audit;
mod backup;
mod clients;
mod config;
mod daemon;
mod database;
mod duration;
mod gcs;
mod imports;
mod migrate;
mod oidc;
mod scim;
mod seed;
mod serve;
mod service_accounts;
mod setup;
mod tokens;

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};
use dsg_server::Config;

/// DatasetGateway: one authorization service for neuroscience datasets.
#[derive(Debug, Parser)]
#[command(name = "dsg", version, about)]
pub struct Cli {
    /// Configuration file (TOML). Also `DSG_CONFIG`. Optional: defaults run locally.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP server (creates and migrates the database if needed).
    Serve(serve::ServeArgs),
    /// Stop a server started with `serve --detach` (or `serve --pid-file`).
    #[command(visible_alias = "stop-serve")]
    Stop(serve::StopArgs),
    /// Apply pending database migrations and exit.
    Migrate,
    /// Make a user a global admin (creating the user if needed), or --remove it.
    MakeAdmin {
        /// The user's e-mail.
        email: String,
        /// Revoke admin instead.
        #[arg(long)]
        remove: bool,
    },
    /// Create, list or revoke user tokens.
    #[command(subcommand)]
    Token(tokens::TokenCommand),
    /// Register, list, enable or disable web clients that receive delegated keys.
    #[command(subcommand)]
    Client(clients::ClientCommand),
    /// OpenID Connect clients of DSG as a provider (WebKnossos, JupyterHub, Grafana, …).
    #[command(subcommand)]
    OidcClient(oidc::OidcClientCommand),
    /// The OpenID provider's signing keys.
    #[command(subcommand)]
    OidcKey(oidc::OidcKeyCommand),
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(config::ConfigCommand),
    /// Create everything a JSON fixture names, in one transaction; print ids and tokens as JSON.
    Seed {
        /// Fixture file (`-` for standard input).
        file: PathBuf,
    },
    /// Write a configuration file: interactive wizard, or flags with --non-interactive.
    Setup(Box<setup::SetupArgs>),
    /// SCIM provisioning: bearer tokens for identity providers.
    #[command(subcommand)]
    Scim(scim::ScimCommand),
    /// Google Cloud Storage: bucket IAM provisioning.
    #[command(subcommand)]
    Gcs(gcs::GcsCommand),
    /// Query the append-only audit log.
    Audit(audit::AuditArgs),
    /// Manage service accounts, their tokens and grants.
    #[command(subcommand)]
    ServiceAccount(service_accounts::SaCommand),
    /// Bulk imports: neuPrint, Clio, CSV, a Django DatasetGateway database.
    #[command(subcommand)]
    Import(imports::ImportCommand),
    /// Write an integrity-checked backup bundle (optionally age-encrypted, rotated).
    Backup(backup::BackupArgs),
    /// Verify a backup bundle; with --apply, replace the database with it.
    Restore(backup::RestoreArgs),
}

/// Runs one command.
///
/// # Errors
/// Whatever the command hit, with context.
pub async fn run(cli: Cli) -> Result<()> {
    if let Command::Setup(args) = cli.command {
        return setup::run(*args, cli.config.as_deref()).await;
    }
    let config = Config::load(cli.config.as_deref())?;
    match cli.command {
        Command::Serve(args) => serve::serve(config, cli.config.as_deref(), args).await,
        Command::Stop(args) => serve::stop(&config, &args),
        Command::Migrate => migrate::run(&config).await,
        Command::MakeAdmin { email, remove } => admin::make_admin(&config, &email, remove).await,
        Command::Token(cmd) => tokens::run(&config, cmd).await,
        Command::Client(cmd) => clients::run(&config, cmd).await,
        Command::OidcClient(cmd) => oidc::run_client(&config, cmd).await,
        Command::OidcKey(cmd) => oidc::run_key(&config, cmd).await,
        Command::Config(cmd) => config::run(&config, cmd),
        Command::Seed { file } => seed::run(&config, &file).await,
        Command::Audit(args) => audit::run(&config, args).await,
        Command::ServiceAccount(cmd) => service_accounts::run(&config, cmd).await,
        Command::Import(cmd) => imports::run(&config, cmd).await,
        Command::Backup(args) => backup::backup(&config, args).await,
        Command::Restore(args) => backup::restore(&config, args).await,
        Command::Setup(_) => Ok(()), // handled before the configuration is loaded
        Command::Scim(cmd) => scim::run(&config, cmd).await,
        Command::Gcs(cmd) => gcs::run(&config, cmd).await,
    }
}
