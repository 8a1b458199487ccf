//! `dsg audit`: querying the append-only audit log from the command line
//! (filters by actor, action, target and time; a table or JSON), through
//! the same store query as the native API.

use anyhow::{Context, Result, bail};
use clap::Args;
use dsg_core::Timestamp;
use dsg_server::Config;
use dsg_store::Store;
use dsg_store::audit::AuditFilter;

use super::database::open_store;

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

/// Runs `dsg audit` on the configured database.
///
/// # Errors
/// Bad flags or an unreachable database.
pub async fn run(config: &Config, args: AuditArgs) -> Result<()> {
    let store = open_store(config).await?;
    let out = audit(&store, args).await;
    store.close().await;
    out
}

fn instant(flag: &str, v: Option<&str>) -> Result<Option<Timestamp>> {
    v.map(|s| {
        Timestamp::parse(s)
            .with_context(|| format!("--{flag} {s:?}: use RFC 3339, a date or Unix seconds"))
    })
    .transpose()
}

/// Queries the audit log and prints the rows.
///
/// # Errors
/// Bad flags or an unreachable database.
async fn audit(store: &Store, args: AuditArgs) -> Result<()> {
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
        ..AuditFilter::default()
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
