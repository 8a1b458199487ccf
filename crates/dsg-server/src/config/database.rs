//! `[database]`: SQLite file or PostgreSQL URL, pool size.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// `[database]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `postgres://…` for PostgreSQL, or a SQLite path (`DATABASE_URL`).
    /// Empty: SQLite at `path`, else `<data_dir>/dsg.sqlite3`.
    pub url: String,
    /// SQLite file (`DATABASE_PATH`).
    pub path: String,
    /// Directory for the SQLite file and the generated local secret.
    pub data_dir: PathBuf,
    /// Connection pool size.
    pub max_connections: u32,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            path: String::new(),
            data_dir: PathBuf::from("data"),
            max_connections: 8,
        }
    }
}
