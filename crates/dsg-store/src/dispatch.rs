//! The one place that picks SQLite or PostgreSQL.
//!
//! [`on_db!`] and [`on_tx!`] expand the same expression once per backend, so a
//! query is written once (portable SQL, `$n` placeholders) and runs on
//! whichever pool is live, with rows decoded by one `FromRow` struct.

/// Which database engine is behind a [`Db`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite (single node).
    Sqlite,
    /// PostgreSQL (several replicas).
    Postgres,
}

impl Backend {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

/// A connection pool of either kind.
#[derive(Clone, Debug)]
pub enum Db {
    /// SQLite pool (readers).
    Sqlite(sqlx::SqlitePool),
    /// PostgreSQL pool.
    Postgres(sqlx::PgPool),
}

impl Db {
    /// Which backend this is.
    pub fn backend(&self) -> Backend {
        match self {
            Self::Sqlite(_) => Backend::Sqlite,
            Self::Postgres(_) => Backend::Postgres,
        }
    }
}

/// An open transaction of either kind.
pub enum Tx {
    /// SQLite transaction (BEGIN IMMEDIATE).
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    /// PostgreSQL transaction.
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

/// Runs `$body` with `$pool` bound to the live pool.
#[macro_export]
macro_rules! on_db {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::dispatch::Db::Sqlite($pool) => $body,
            $crate::dispatch::Db::Postgres($pool) => $body,
        }
    };
}

/// Runs `$body` with `$conn` bound to the transaction's connection.
#[macro_export]
macro_rules! on_tx {
    ($tx:expr, $conn:ident => $body:expr) => {
        match $tx {
            $crate::dispatch::Tx::Sqlite(t) => {
                let $conn = &mut **t;
                $body
            }
            $crate::dispatch::Tx::Postgres(t) => {
                let $conn = &mut **t;
                $body
            }
        }
    };
}
