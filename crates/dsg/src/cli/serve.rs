//! `dsg serve` and `dsg stop`: the flags, running the HTTP server in the
//! foreground (logging set up, PID file written once listening, hang-ups
//! ignored), and handing `--detach` and `stop` to the background-process
//! helpers in [`super::daemon`].

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Args;
use dsg_server::access_log;
use dsg_server::{Application, Config, Options};

use super::daemon::{self, DEFAULT_PID_FILE};

/// `dsg serve` options.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Run in the background: append output to --log-file, write --pid-file,
    /// return once the server listens. Refuses if the PID file names a running server.
    #[arg(long, visible_alias = "background")]
    pub detach: bool,
    /// PID file, written once the server listens and removed when it stops
    /// [default with --detach: serve.pid].
    #[arg(long, value_name = "FILE")]
    pub pid_file: Option<PathBuf>,
    /// Log file of a detached server (appended to) [default: serve.log].
    #[arg(long, value_name = "FILE", requires = "detach")]
    pub log_file: Option<PathBuf>,
    /// Seconds `--detach` waits for the server to listen.
    #[arg(long, value_name = "SECS", default_value_t = 120, requires = "detach")]
    pub start_timeout: u64,
}

/// `dsg stop` options.
#[derive(Debug, Clone, Args)]
pub struct StopArgs {
    /// PID file of the server to stop.
    #[arg(long, value_name = "FILE", default_value = DEFAULT_PID_FILE)]
    pub pid_file: PathBuf,
    /// Seconds to wait after SIGTERM (drain, in-flight requests finish)
    /// before SIGKILL [default: server.drain_secs + 10].
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<u64>,
}

/// Runs `dsg serve`: with `--detach`, starts a background server and
/// returns once it listens; else serves in the foreground until stopped.
///
/// # Errors
/// The server cannot start (or, detached, did not listen in time).
pub async fn serve(config: Config, config_path: Option<&Path>, args: ServeArgs) -> Result<()> {
    if args.detach {
        let bind = config.server.bind.to_string();
        return daemon::detach(
            config_path,
            args.pid_file.as_deref(),
            args.log_file.as_deref(),
            args.start_timeout,
            &bind,
        );
    }
    foreground(config, args.pid_file.as_deref()).await
}

/// Runs `dsg stop`.
///
/// # Errors
/// See [`daemon::stop`].
pub fn stop(config: &Config, args: &StopArgs) -> Result<()> {
    let timeout = args.timeout.unwrap_or(config.server.drain_secs + 10);
    daemon::stop(&args.pid_file, timeout)
}

fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&config.log.level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let json = config.log.format == "json";
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
    let format = if json {
        access_log::Format::Json
    } else {
        access_log::Format::Text
    };
    if let Err(e) = access_log::install(format) {
        tracing::warn!(error = %e, "no access log: its writer thread did not start");
    }
}

/// Serves in the foreground; with a PID file, writes it once listening,
/// ignores hang-ups (a detached server outlives its terminal) and removes
/// the file on the way out.
async fn foreground(config: Config, pid_file: Option<&Path>) -> Result<()> {
    init_logging(&config);
    if let Some(p) = pid_file {
        daemon::claim_pid_file(p)?;
    }
    let app = Application::build(config.clone(), Options::default()).await?;
    if let Some(p) = pid_file {
        daemon::write_pid_file(p)?;
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
        daemon::remove_own_pid_file(p);
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
