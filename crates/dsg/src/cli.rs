//! Command-line interface. Every subcommand that changes data goes through
//! the same store functions as the API, so it is audited and invalidates
//! running servers' caches (they see the change on their next request).

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use dsg_core::Timestamp;
use dsg_server::{Application, Config, Options};
use dsg_store::tokens::NewToken;
use dsg_store::users::AdminChange;
use dsg_store::write::Actor;
use dsg_store::{DatabaseTarget, PoolSettings, Store};

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
    Serve(crate::daemon::ServeArgs),
    /// Stop a server started with `serve --detach` (or `serve --pid-file`).
    #[command(visible_alias = "stop-serve")]
    Stop(crate::daemon::StopArgs),
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
    Token(TokenCommand),
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Create everything a JSON fixture names, in one transaction; print ids and tokens as JSON.
    Seed {
        /// Fixture file (`-` for standard input).
        file: PathBuf,
    },
    /// Write a configuration file: interactive wizard, or flags with --non-interactive.
    Setup(Box<crate::setup::SetupArgs>),
    /// SCIM provisioning: bearer tokens for identity providers.
    #[command(subcommand)]
    Scim(ScimCommand),
    /// Google Cloud Storage: bucket IAM provisioning.
    #[command(subcommand)]
    Gcs(GcsCommand),
    /// Query the append-only audit log.
    Audit(crate::native_cli::AuditArgs),
    /// Manage service accounts, their tokens and grants.
    #[command(subcommand)]
    ServiceAccount(crate::native_cli::SaCommand),
    /// Bulk imports: neuPrint, Clio, CSV, a Django DatasetGateway database.
    #[command(subcommand)]
    Import(crate::imports_cli::ImportCommand),
    /// Write an integrity-checked backup bundle (optionally age-encrypted, rotated).
    Backup(crate::backup::BackupArgs),
    /// Verify a backup bundle; with --apply, replace the database with it.
    Restore(crate::backup::RestoreArgs),
}

#[derive(Debug, Subcommand)]
enum GcsCommand {
    /// Reconcile roles/storage.objectViewer on dataset buckets with who should
    /// have access: add the missing, remove what DatasetGateway added and is no
    /// longer due; print every change.
    SyncBucketIam {
        /// Only this dataset's buckets.
        #[arg(long)]
        dataset: Option<String>,
        /// Print what would change; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Subcommand)]
enum ScimCommand {
    /// Create, list or revoke SCIM bearer tokens (one per identity provider).
    #[command(subcommand)]
    Token(ScimTokenCommand),
}

#[derive(Debug, Subcommand)]
enum ScimTokenCommand {
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

#[derive(Debug, Subcommand)]
enum TokenCommand {
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

#[derive(Debug, Args)]
struct TokenCreate {
    /// Owner's e-mail.
    #[arg(long)]
    user: String,
    /// Lifetime, e.g. `30d`, `12h`, `90m`, `3600s`, or `never` (the default).
    #[arg(long, value_name = "DURATION")]
    expires_in: Option<String>,
    /// Free text shown in listings.
    #[arg(long, default_value = "CLI token")]
    description: String,
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Validate and print the effective configuration (secrets redacted).
    Check,
}

/// Parses `30d`, `12h`, `90m`, `3600s`, `3600` or `never` into seconds.
pub(crate) fn parse_duration(s: &str) -> Result<Option<i64>> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("never") {
        return Ok(None);
    }
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = num
        .parse()
        .with_context(|| format!("{s:?} is not a duration like 30d, 12h, 90m or never"))?;
    let mult = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => bail!("{s:?}: unknown unit {unit:?} (use s, m, h or d)"),
    };
    if n <= 0 {
        bail!("{s:?}: a lifetime must be positive");
    }
    Ok(Some(n.saturating_mul(mult)))
}

/// Opens the database for a one-off command, after saying on standard error
/// which one it is. A missing SQLite file at a relative path (the default
/// `data/dsg.sqlite3`) is refused, not created: a command run from another
/// folder would otherwise work on a fresh, empty database of its own. A
/// missing file at an absolute path was named on purpose: it is created, and
/// the command says so.
async fn open_store(config: &Config) -> Result<Store> {
    let target = config.database_target()?;
    if let DatabaseTarget::Sqlite(path) = &target
        && !path.exists()
    {
        let shown = std::path::absolute(path).unwrap_or_else(|_| path.clone());
        if path.is_relative() {
            bail!(
                "no database at {} (SQLite; the relative path {} is resolved from the current folder)\n\
                 hint: run this command from the folder the server runs in, or name the database \
                 with DATABASE_PATH (an absolute path), DATABASE_URL or --config; `dsg migrate` \
                 (or `dsg serve`) creates a new one",
                shown.display(),
                path.display()
            );
        }
        eprintln!("dsg: creating new database {}", shown.display());
    }
    eprintln!("dsg: using database {}", describe_absolute(&target));
    open_store_creating(config).await
}

/// Opens the database, creating and migrating it if needed (`serve`, `migrate`).
async fn open_store_creating(config: &Config) -> Result<Store> {
    let target = config.database_target()?;
    let pool = PoolSettings {
        max_connections: 2,
        ..PoolSettings::default()
    };
    Store::open(&target, &pool)
        .await
        .with_context(|| format!("opening {}", target.describe()))
}

/// The database's description with a SQLite path made absolute.
fn describe_absolute(target: &DatabaseTarget) -> String {
    match target {
        DatabaseTarget::Sqlite(p) => {
            DatabaseTarget::Sqlite(std::path::absolute(p).unwrap_or_else(|_| p.clone())).describe()
        }
        DatabaseTarget::Postgres(_) => target.describe(),
    }
}

fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&config.log.level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    if config.log.format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Serves in the foreground; with a PID file, writes it once listening,
/// ignores hang-ups (a detached server outlives its terminal) and removes
/// the file on the way out.
async fn serve(config: Config, pid_file: Option<&std::path::Path>) -> Result<()> {
    init_logging(&config);
    if let Some(p) = pid_file {
        crate::daemon::claim_pid_file(p)?;
    }
    let app = Application::build(config.clone(), Options::default()).await?;
    if let Some(p) = pid_file {
        crate::daemon::write_pid_file(p)?;
        ignore_hangups();
    }
    tracing::info!(
        port = app.port(),
        database = %config.database_target()?.describe(),
        mode = ?config.server.mode,
        pid = std::process::id(),
        "DatasetGateway listening"
    );
    let served = app.run_until_stopped().await;
    if let Some(p) = pid_file {
        crate::daemon::remove_own_pid_file(p);
    }
    tracing::info!("DatasetGateway stopped");
    Ok(served?)
}

fn ignore_hangups() {
    #[cfg(unix)]
    if let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                tracing::info!("SIGHUP ignored (stop the server with SIGTERM or `dsg stop`)");
            }
        });
    }
}

/// Runs one command.
///
/// # Errors
/// Whatever the command hit, with context.
pub async fn run(cli: Cli) -> Result<()> {
    if let Command::Setup(args) = cli.command {
        return crate::setup::run(*args, cli.config.as_deref()).await;
    }
    let config = Config::load(cli.config.as_deref())?;
    match cli.command {
        Command::Serve(args) => {
            if args.detach {
                let bind = config.server.bind.to_string();
                return crate::daemon::detach(cli.config.as_deref(), &args, &bind);
            }
            serve(config, args.pid_file.as_deref()).await?;
        }
        Command::Stop(args) => {
            let timeout = args.timeout.unwrap_or(config.server.drain_secs + 10);
            crate::daemon::stop(&args, timeout)?;
        }
        Command::Migrate => {
            eprintln!(
                "dsg: using database {}",
                describe_absolute(&config.database_target()?)
            );
            let store = open_store_creating(&config).await?;
            let (applied, expected) = store.migration_status().await?;
            println!("Database is at migration {applied} of {expected}.");
            store.close().await;
        }
        Command::MakeAdmin { email, remove } => {
            dsg_store::users::validate_email(&email)?;
            let store = open_store(&config).await?;
            let mut tx = store.begin(Actor::cli("make-admin")).await?;
            let outcome = tx.set_admin(&email, !remove).await?;
            tx.commit().await?;
            store.close().await;
            match outcome {
                AdminChange::Created => println!("Created new admin user: {email}"),
                AdminChange::Promoted => println!("Promoted {email} to admin."),
                AdminChange::AlreadyAdmin => println!("User {email} is already an admin."),
                AdminChange::Revoked => println!("Revoked admin status from {email}."),
                AdminChange::NotAdmin => println!("User {email} is not an admin."),
                AdminChange::NotFound => bail!("User not found: {email}"),
            }
        }
        Command::Token(TokenCommand::Create(args)) => {
            let expires = match &args.expires_in {
                Some(s) => parse_duration(s)?,
                None => None,
            };
            let store = open_store(&config).await?;
            let mut tx = store.begin(Actor::cli("token create")).await?;
            let user_id = tx.require_user(&args.user).await?;
            let (_, token) = tx
                .create_user_token(
                    user_id,
                    NewToken {
                        description: args.description,
                        expires_at: expires
                            .map(|s| Timestamp(dsg_store::now_micros()).plus_secs(s)),
                        ..NewToken::default()
                    },
                )
                .await?;
            tx.commit().await?;
            store.close().await;
            println!("{}", token.expose());
        }
        Command::Token(TokenCommand::List { user, json }) => {
            let store = open_store(&config).await?;
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
        Command::Token(TokenCommand::Revoke { id }) => {
            let store = open_store(&config).await?;
            let mut tx = store.begin(Actor::cli("token revoke")).await?;
            let owner = tx.revoke_user_token(id).await?;
            tx.commit().await?;
            store.close().await;
            match owner {
                Some(_) => println!("Revoked token {id}."),
                None => bail!("No token with id {id}."),
            }
        }
        Command::Config(ConfigCommand::Check) => {
            println!("# effective configuration (secrets redacted)");
            print!("{}", config.redacted_toml());
            println!("# database: {}", config.database_target()?.describe());
            println!("# configuration OK");
        }
        Command::Seed { file } => {
            let text = if file.as_os_str() == "-" {
                let mut s = String::new();
                std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)?;
                s
            } else {
                std::fs::read_to_string(&file)
                    .with_context(|| format!("reading {}", file.display()))?
            };
            let fixture = dsg_store::seed::parse(&text)?;
            let store = open_store(&config).await?;
            let result = store.seed(fixture).await;
            store.close().await;
            println!("{}", serde_json::to_string(&result?)?);
        }
        Command::Audit(args) => {
            let store = open_store(&config).await?;
            let out = crate::native_cli::audit(&store, args).await;
            store.close().await;
            out?;
        }
        Command::ServiceAccount(cmd) => {
            let store = open_store(&config).await?;
            let out = crate::native_cli::service_account(&store, cmd).await;
            store.close().await;
            out?;
        }
        Command::Import(cmd) => {
            let store = open_store(&config).await?;
            let out = crate::imports_cli::run(&store, cmd).await;
            store.close().await;
            out?;
        }
        Command::Backup(args) => {
            let store = open_store(&config).await?;
            let out = crate::backup::backup(&config, &store, args).await;
            store.close().await;
            out?;
        }
        Command::Restore(args) => {
            let store = open_store(&config).await?;
            let out = crate::backup::restore(&config, &store, args).await;
            store.close().await;
            out?;
        }
        Command::Setup(_) => {} // handled before the configuration is loaded
        Command::Scim(ScimCommand::Token(cmd)) => scim_token(&config, cmd).await?,
        Command::Gcs(GcsCommand::SyncBucketIam { dataset, dry_run }) => {
            sync_bucket_iam(&config, dataset.as_deref(), dry_run).await?;
        }
    }
    Ok(())
}

async fn sync_bucket_iam(config: &Config, dataset: Option<&str>, dry_run: bool) -> Result<()> {
    let gcs = dsg_server::gcs::Gcs::from_config(&config.gcs).map_err(anyhow::Error::msg)?;
    if !gcs.is_configured() {
        bail!(
            "set gcs.credentials_file (or GOOGLE_APPLICATION_CREDENTIALS) to a service-account key file"
        );
    }
    let store = open_store(config).await?;
    if let Some(name) = dataset {
        let catalog = store.load_catalog().await?;
        if !catalog.datasets.values().any(|d| d.name == name) {
            store.close().await;
            bail!("Dataset not found: {name}");
        }
    }
    let result = dsg_server::service::bucket_iam::reconcile(
        &store,
        &gcs,
        Timestamp(dsg_store::now_micros()),
        dataset,
        dry_run,
        &Actor::cli("gcs sync-bucket-iam"),
    )
    .await;
    store.close().await;
    let report = result?;
    print!("{}", report.render(dry_run));
    if !report.errors.is_empty() {
        bail!(
            "{} bucket(s) could not be reconciled (see ERROR lines)",
            report.errors.len()
        );
    }
    Ok(())
}

async fn scim_token(config: &Config, cmd: ScimTokenCommand) -> Result<()> {
    let store = open_store(config).await?;
    let outcome = match cmd {
        ScimTokenCommand::Create { name } => {
            let mut tx = store.begin(Actor::cli("scim token create")).await?;
            let (_, token) = tx.create_scim_token(&name).await?;
            tx.commit().await?;
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
            let mut tx = store.begin(Actor::cli("scim token revoke")).await?;
            let revoked = tx.revoke_scim_token(&name).await?;
            tx.commit().await?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("never").unwrap(), None);
        assert_eq!(parse_duration("30d").unwrap(), Some(30 * 86_400));
        assert_eq!(parse_duration("90m").unwrap(), Some(5400));
        assert_eq!(parse_duration("10").unwrap(), Some(10));
        assert!(parse_duration("3w").is_err());
        assert!(parse_duration("0s").is_err());
    }
}
