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
            for w in warnings(config)? {
                eprintln!("warning: {w}");
            }
            println!("# configuration OK");
        }
    }
    Ok(())
}

/// What a valid configuration may still get wrong for the people using it.
///
/// # Errors
/// The Google credentials file cannot be read.
fn warnings(config: &Config) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let google = dsg_server::config::login::google_credentials(config)?.is_some();
    if !google && config.login.providers.is_empty() {
        out.push(
            "no login provider is configured: nobody can log in to the web UI or Neuroglancer. \
             Set GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET, or add a [[login.providers]] entry."
                .to_owned(),
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warns_when_nobody_can_log_in() {
        let mut c = Config::default();
        let w = warnings(&c).unwrap_or_default();
        assert!(w.iter().any(|w| w.contains("no login provider")), "{w:?}");
        c.login.providers.push(dsg_server::config::ProviderConfig {
            name: "keycloak".into(),
            ..Default::default()
        });
        assert!(warnings(&c).unwrap_or_default().is_empty());
    }
}
