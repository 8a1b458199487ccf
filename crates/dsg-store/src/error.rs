//! Storage errors, converted into the domain's error in one place.

use dsg_core::DomainError;

/// What can go wrong below the domain.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A configuration problem the operator must fix (bad URL, unwritable directory).
    #[error("{0}")]
    Config(String),
    /// The database could not be reached.
    #[error("cannot connect to {target}: {source}")]
    Connect {
        /// Which database (password redacted).
        target: String,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// A migration failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A query failed.
    #[error("database error: {0}")]
    Sqlx(#[from] sqlx::Error),
    /// A domain rule was violated while writing.
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// The SQLite change probe failed.
    #[error("sqlite probe: {0}")]
    Probe(#[from] rusqlite::Error),
}

impl StoreError {
    pub(crate) fn connect(target: &str, source: sqlx::Error) -> Self {
        Self::Connect {
            target: target.to_owned(),
            source,
        }
    }

    /// True when a unique constraint was violated.
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, Self::Sqlx(sqlx::Error::Database(db)) if db.is_unique_violation())
    }
}

impl From<StoreError> for DomainError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Domain(d) => d,
            e if e.is_unique_violation() => DomainError::Conflict(e.to_string()),
            e => DomainError::Internal(Box::new(e)),
        }
    }
}
