//! `[cache]` and `[redis]`: the permission cache and the optional Redis shared by replicas.

use serde::{Deserialize, Serialize};

/// `[cache]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheConfig {
    /// Most tokens remembered.
    pub max_tokens: u64,
    /// Most permission documents remembered.
    pub max_documents: u64,
    /// Seconds between batched `last_used` writes.
    pub last_used_flush_secs: u64,
    /// `last_used` resolution in seconds (a token is re-marked at most this often).
    pub last_used_resolution_secs: i64,
    /// PostgreSQL: safety poll of the change outbox, in milliseconds.
    pub poll_interval_ms: u64,
    /// PostgreSQL: wake on `NOTIFY` through a `LISTEN` connection. Turn it
    /// off behind a pooler that cannot hold one (PgBouncer in transaction
    /// mode); then Redis, if configured, and the poll carry changes.
    pub postgres_listen: bool,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            max_tokens: 200_000,
            max_documents: 100_000,
            last_used_flush_secs: 10,
            last_used_resolution_secs: 60,
            poll_interval_ms: 500,
            postgres_listen: true,
        }
    }
}

/// `[redis]`: optional. Without it, replicas share everything through the
/// database (PostgreSQL `LISTEN/NOTIFY`, rate-limit counters in a table).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedisConfig {
    /// `redis://[user:password@]host:port[/db]`; empty = no Redis.
    pub url: String,
    /// Prefix of every channel and key, so several deployments can share one Redis.
    pub key_prefix: String,
}

impl RedisConfig {
    /// The prefix, `dsg` when unset.
    pub fn prefix(&self) -> &str {
        if self.key_prefix.is_empty() {
            "dsg"
        } else {
            &self.key_prefix
        }
    }
}
