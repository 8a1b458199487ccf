//! Opening the database a command works on: saying on standard error which
//! one it is, refusing a missing SQLite file at a relative path, and (for
//! `serve` and `migrate`) creating and migrating it. A shared helper: any
//! command module may import it; it imports no command.

use anyhow::{Context, Result, bail};
use dsg_server::Config;
use dsg_store::{DatabaseTarget, PoolSettings, Store};

/// Opens the database for a one-off command, after saying on standard error
/// which one it is. A missing SQLite file at a relative path (the default
/// `data/dsg.sqlite3`) is refused, not created: a command run from another
/// folder would otherwise work on a fresh, empty database of its own. A
/// missing file at an absolute path was named on purpose: it is created, and
/// the command says so.
pub async fn open_store(config: &Config) -> Result<Store> {
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
pub async fn open_store_creating(config: &Config) -> Result<Store> {
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
pub fn describe_absolute(target: &DatabaseTarget) -> String {
    match target {
        DatabaseTarget::Sqlite(p) => {
            DatabaseTarget::Sqlite(std::path::absolute(p).unwrap_or_else(|_| p.clone())).describe()
        }
        DatabaseTarget::Postgres(_) => target.describe(),
    }
}
