//! `dsg import …`: bulk imports from neuPrint, Clio, CSV and a Django
//! DatasetGateway database. Each runs in one transaction through the store's
//! import functions; `--dry-run` runs the same code and rolls back.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Subcommand;
use dsg_server::Config;
use dsg_store::Store;
use dsg_store::imports::{self, ImportReport};

use super::database::open_store;

/// `dsg import` subcommands.
#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// neuPrint's authorized.json ({email: "readonly" | "readwrite" | "admin"}).
    NeuprintAuth {
        /// The JSON file.
        file: PathBuf,
        /// Datasets to grant on (at least one).
        #[arg(long, required = true, num_args = 1..)]
        datasets: Vec<String>,
        /// Print what would change; write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// A clio-store export of datasets and users.
    ClioAuth {
        /// The JSON file.
        file: PathBuf,
        /// Print what would change; write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// A CSV of users (email, name, affiliation, notes) who get view on a dataset.
    Csv {
        /// The CSV file.
        file: PathBuf,
        /// The dataset (created when missing).
        #[arg(long)]
        dataset: String,
        /// Print what would change; write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Everything in a Django DatasetGateway SQLite database, tokens included.
    DjangoDsg {
        /// The Django database file (opened read-only).
        path: PathBuf,
        /// Print what would change; write nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

fn text(path: &Path) -> Result<String> {
    String::from_utf8(read(path)?).with_context(|| format!("{} is not UTF-8 text", path.display()))
}

/// Runs `dsg import …` on the configured database.
///
/// # Errors
/// Unreadable or malformed input; an unreachable database.
pub async fn run(config: &Config, cmd: ImportCommand) -> Result<()> {
    let store = open_store(config).await?;
    let out = import(&store, cmd).await;
    store.close().await;
    out
}

/// Parses the input (before touching the database), then imports.
///
/// # Errors
/// Unreadable or malformed input; an unreachable database.
async fn import(store: &Store, cmd: ImportCommand) -> Result<()> {
    let report: ImportReport = match cmd {
        ImportCommand::NeuprintAuth {
            file,
            datasets,
            dry_run,
        } => {
            let entries = imports::neuprint::parse(&text(&file)?)
                .with_context(|| format!("{}", file.display()))?;
            store
                .import_neuprint(&entries, &file.display().to_string(), &datasets, dry_run)
                .await?
        }
        ImportCommand::ClioAuth { file, dry_run } => {
            let export = imports::clio::parse(&text(&file)?)
                .with_context(|| format!("{}", file.display()))?;
            store
                .import_clio(&export, &file.display().to_string(), dry_run)
                .await?
        }
        ImportCommand::Csv {
            file,
            dataset,
            dry_run,
        } => {
            let name = file.display().to_string();
            let parsed = imports::csv::parse(&read(&file)?, &name)?;
            store.import_csv(&parsed, &name, &dataset, dry_run).await?
        }
        ImportCommand::DjangoDsg { path, dry_run } => {
            let src = imports::django::read(&path)?;
            store
                .import_django(&src, &path.display().to_string(), dry_run)
                .await?
        }
    };
    print!("{}", report.render());
    Ok(())
}
