//! `dsg seed FILE`: reads a seed document (`-` for standard input), parses
//! it before touching the database, applies it in one transaction and
//! prints the created ids and tokens as JSON.

use std::path::Path;

use anyhow::{Context, Result};
use dsg_server::Config;

use super::database::open_store;

/// Runs `dsg seed FILE`.
///
/// # Errors
/// An unreadable or invalid document, a failed transaction (nothing is
/// written then) or an unreachable database.
pub async fn run(config: &Config, file: &Path) -> Result<()> {
    let text = if file.as_os_str() == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)?;
        s
    } else {
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?
    };
    let fixture = dsg_store::seed::parse(&text)?;
    let key = config.derivation_key()?;
    let store = open_store(config).await?;
    let result = store.seed_with(fixture, Some(&key)).await;
    store.close().await;
    println!("{}", serde_json::to_string(&result?)?);
    Ok(())
}
