//! The optional Redis shared by replicas (`[redis] url`): a doorbell for
//! cache invalidation (pub/sub) and shared rate-limit counters. Redis holds
//! nothing that matters for correctness: the database's change outbox stays
//! the source of truth, so a lost message or an outage only delays a change
//! until the next outbox poll.

use std::time::Duration;

use redis::aio::ConnectionManager;

use crate::config::RedisConfig;

/// A connected Redis (cheap to clone).
#[derive(Clone)]
pub struct Redis {
    /// For dedicated connections (pub/sub).
    pub client: redis::Client,
    /// Shared, reconnecting connection for commands.
    pub manager: ConnectionManager,
    prefix: String,
}

impl Redis {
    /// Connects when `[redis] url` is set; `Ok(None)` when it is not.
    ///
    /// # Errors
    /// Redis is unreachable at start (named, with what to fix).
    pub async fn connect(config: &RedisConfig) -> Result<Option<Self>, String> {
        if config.url.is_empty() {
            return Ok(None);
        }
        let shown = dsg_store::redact_url(&config.url);
        let client = redis::Client::open(config.url.as_str())
            .map_err(|e| format!("redis.url {shown}: {e}"))?;
        let settings = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(5)))
            .set_response_timeout(Some(Duration::from_secs(2)));
        let manager = tokio::time::timeout(
            Duration::from_secs(10),
            ConnectionManager::new_with_config(client.clone(), settings),
        )
        .await
        .map_err(|_| format!("redis.url {shown}: no answer within 10 s"))?
        .map_err(|e| {
            format!("redis.url {shown}: cannot connect: {e} (start Redis or leave redis.url empty)")
        })?;
        Ok(Some(Self {
            client,
            manager,
            prefix: config.prefix().to_owned(),
        }))
    }

    /// `prefix:name`, for channels and keys.
    pub fn key(&self, name: &str) -> String {
        format!("{}:{name}", self.prefix)
    }
}

/// Channel that carries "the outbox has new rows" doorbells.
pub(crate) const CACHE_CHANNEL: &str = "cache";

impl Redis {
    /// Rings the doorbell after a commit, without delaying the response: a
    /// lost ring costs at most one outbox poll interval.
    pub fn announce_change(&self) {
        let mut conn = self.manager.clone();
        let channel = self.key(CACHE_CHANNEL);
        tokio::spawn(async move {
            let sent: redis::RedisResult<usize> =
                redis::AsyncCommands::publish(&mut conn, channel, "outbox").await;
            if let Err(e) = sent {
                tracing::warn!(error = %e, "publishing a cache invalidation to Redis failed");
            }
        });
    }
}
