//! `dsg config …`: inspecting the configuration the other commands load
//! (validated, secrets redacted).

use anyhow::Result;
use clap::Subcommand;
use dsg_server::Config;

/// `dsg config` subcommands.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate and print the effective configuration (secrets redacted).
    Check,
}

/// Runs `dsg config …` on the configuration already loaded (and so validated).
///
/// # Errors
/// The database setting cannot be resolved.
pub fn run(config: &Config, cmd: ConfigCommand) -> Result<()> {
    match cmd {
        ConfigCommand::Check => {
            println!("# effective configuration (secrets redacted)");
            print!("{}", config.redacted_toml());
            println!("# database: {}", config.database_target()?.describe());
            println!("# configuration OK");
        }
    }
    Ok(())
}
