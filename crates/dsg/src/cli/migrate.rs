//! `dsg migrate`: creates the database if needed, applies pending
//! migrations and reports the schema version.

use anyhow::Result;
use dsg_server::Config;

use super::database::{describe_absolute, open_store_creating};

/// Runs `dsg migrate`.
///
/// # Errors
/// The database cannot be opened or migrated.
pub async fn run(config: &Config) -> Result<()> {
    eprintln!(
        "dsg: using database {}",
        describe_absolute(&config.database_target()?)
    );
    let store = open_store_creating(config).await?;
    let (applied, expected) = store.migration_status().await?;
    println!("Database is at migration {applied} of {expected}.");
    store.close().await;
    Ok(())
}
