//! `dsg audit` and `dsg service-account …`: the native API's operations from
//! the command line, through the same store functions (so they are audited
//! and running servers see them on their next request).

use anyhow::{Context, Result, bail};
use clap::Args;
use dsg_core::Timestamp;
use dsg_store::Store;
use dsg_store::audit::AuditFilter;

/// `dsg audit`: query the append-only audit log.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Actor: an e-mail / label (`cli:seed`, `sa:…`) or a user id.
    #[arg(long)]
    actor: Option<String>,
    /// Exact action name, e.g. `grant_created`.
    #[arg(long)]
    action: Option<String>,
    /// Target as `Type:id` (e.g. `Grant:12`) or a bare type (`Grant`).
    #[arg(long)]
    target: Option<String>,
    /// Not before this instant (RFC 3339, date, or Unix seconds).
    #[arg(long)]
    since: Option<String>,
    /// Before this instant.
    #[arg(long)]
    until: Option<String>,
    /// At most this many rows (newest first).
    #[arg(long, default_value_t = 100)]
    limit: i64,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

fn instant(flag: &str, v: Option<&str>) -> Result<Option<Timestamp>> {
    v.map(|s| {
        Timestamp::parse(s)
            .with_context(|| format!("--{flag} {s:?}: use RFC 3339, a date or Unix seconds"))
    })
    .transpose()
}

/// Runs `dsg audit`.
///
/// # Errors
/// Bad flags or an unreachable database.
pub async fn audit(store: &Store, args: AuditArgs) -> Result<()> {
    if !(1..=10_000).contains(&args.limit) {
        bail!("--limit must be from 1 to 10000");
    }
    let (target_type, target_id) = match args.target.as_deref() {
        Some(t) => match t.split_once(':') {
            Some((ty, id)) => (Some(ty.to_owned()), Some(id.to_owned())),
            None => (Some(t.to_owned()), None),
        },
        None => (None, None),
    };
    let (actor_id, actor) = match args.actor {
        Some(a) => match a.parse::<i64>() {
            Ok(id) => (Some(id), None),
            Err(_) => (None, Some(a)),
        },
        None => (None, None),
    };
    let filter = AuditFilter {
        action: args.action,
        target_type,
        target_id,
        actor_id,
        actor,
        since: instant("since", args.since.as_deref())?,
        until: instant("until", args.until.as_deref())?,
        limit: args.limit,
    };
    let rows = store.audit_entries(&filter).await?;
    if args.json {
        let out: Vec<_> = rows
            .iter()
            .map(|e| {
                serde_json::json!({
                    "id": e.id, "timestamp": e.timestamp.to_rfc3339(), "actor_id": e.actor_id,
                    "actor": e.actor, "action": e.action, "target_type": e.target_type,
                    "target_id": e.target_id, "before": e.before_state, "after": e.after_state,
                    "request_id": e.request_id,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "{:>6}  {:<20} {:<28} {:<26} TARGET",
            "ID", "TIME", "ACTOR", "ACTION"
        );
        for e in rows {
            println!(
                "{:>6}  {:<20} {:<28} {:<26} {}:{}",
                e.id,
                &e.timestamp.to_rfc3339()[..19],
                e.actor,
                e.action,
                e.target_type,
                e.target_id
            );
        }
    }
    Ok(())
}

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

/// Runs `dsg service-account …`.
///
/// # Errors
/// Unknown names, invalid input or an unreachable database, with a message.
pub async fn service_account(store: &Store, cmd: SaCommand) -> Result<()> {
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
                Some(d) => crate::cli::parse_duration(d)?
                    .map(|s| Timestamp(dsg_store::now_micros()).plus_secs(s)),
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
