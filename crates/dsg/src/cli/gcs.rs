//! `dsg gcs …`: Google Cloud Storage provisioning, i.e. reconciling
//! `roles/storage.objectViewer` on dataset buckets with who should have
//! access, through `dsg_server::gcs`.

use anyhow::{Result, bail};
use clap::Subcommand;
use dsg_core::Timestamp;
use dsg_server::Config;
use dsg_store::write::Actor;

use super::database::open_store;

/// `dsg gcs` subcommands.
#[derive(Debug, Subcommand)]
pub enum GcsCommand {
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

/// Runs `dsg gcs …`.
///
/// # Errors
/// GCS is not configured, the dataset is unknown, the database is
/// unreachable, or some bucket could not be reconciled.
pub async fn run(config: &Config, cmd: GcsCommand) -> Result<()> {
    match cmd {
        GcsCommand::SyncBucketIam { dataset, dry_run } => {
            sync_bucket_iam(config, dataset.as_deref(), dry_run).await
        }
    }
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
