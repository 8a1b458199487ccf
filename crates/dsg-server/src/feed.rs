//! The change feed and upkeep that keep this replica's permission cache
//! fresh and its tables small: the PostgreSQL `LISTEN` connection and outbox
//! poll, the Redis doorbell, and the periodic `last_used` flush and pruning.
//! Started once at start-up; each task ends when shutdown begins.

use std::time::Duration;

use dsg_store::Db;
use tokio::sync::watch;

use crate::state::AppState;

/// Starts every feed and upkeep task of `app`.
pub fn spawn(app: AppState, shutdown: &watch::Sender<bool>) {
    let state = app.clone();
    let mut stop = shutdown.subscribe();
    let every = Duration::from_secs(state.config.cache.last_used_flush_secs);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.changed() => { state.flush_last_used().await; return; }
            }
            state.flush_last_used().await;
            if let Err(e) = state.store.prune_events().await {
                tracing::warn!(error = %e, "pruning cache events failed");
            }
            if let Err(e) = state
                .store
                .prune_rate_limits(state.clock.now().as_secs())
                .await
            {
                tracing::warn!(error = %e, "pruning rate-limit counters failed");
            }
            state.limits.forget_expired();
        }
    });
    spawn_redis_bus(app.clone(), shutdown.subscribe());
    if let Db::Postgres(pool) = app.store.db().clone() {
        let state = app.clone();
        let stop = shutdown.subscribe();
        tokio::spawn(listen_for_changes(state, pool, stop));
    }
}

/// Replays the outbox whenever another replica rings, until `stop`.
/// Reconnects with a full cache flush, since rings sent meanwhile are lost.
fn spawn_redis_bus(state: AppState, mut stop: watch::Receiver<bool>) {
    let Some(redis) = state.redis.clone() else {
        return;
    };
    tokio::spawn(async move {
        let channel = redis.key(crate::redis_link::CACHE_CHANNEL);
        let mut first = true;
        loop {
            let subscribed = async {
                let mut pubsub = redis.client.get_async_pubsub().await?;
                pubsub.subscribe(&channel).await?;
                redis::RedisResult::Ok(pubsub.into_on_message())
            };
            let stream = tokio::select! {
                s = subscribed => s,
                _ = stop.changed() => return,
            };
            match stream {
                Ok(mut messages) => {
                    state.cache.set_redis_subscribed(true);
                    if !first {
                        state.cache.flush();
                    }
                    first = false;
                    if let Err(e) = state.cache.catch_up().await {
                        tracing::warn!(error = %e, "replaying cache events failed");
                    }
                    loop {
                        let next = tokio::select! {
                            m = futures::StreamExt::next(&mut messages) => m,
                            _ = stop.changed() => return,
                        };
                        if next.is_none() {
                            break;
                        }
                        if let Err(e) = state.cache.catch_up().await {
                            tracing::warn!(error = %e, "replaying cache events failed");
                        }
                    }
                    tracing::warn!("Redis subscription lost; reconnecting");
                }
                Err(e) => tracing::warn!(error = %e, "cannot subscribe to Redis; retrying"),
            }
            state.cache.set_redis_subscribed(false);
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = stop.changed() => return,
            }
        }
    });
}

/// PostgreSQL: replay the outbox when `NOTIFY dsg_cache` arrives, and on a
/// short poll as a safety net (the outbox sequence is the generation check:
/// nothing is missed even if a notification is). Without a `LISTEN`
/// connection it polls and retries the connection every few seconds; after
/// a reconnect it flushes the cache (notifications sent meanwhile are lost).
async fn listen_for_changes(state: AppState, pool: sqlx::PgPool, mut stop: watch::Receiver<bool>) {
    const RETRY: Duration = Duration::from_secs(5);
    let poll = Duration::from_millis(state.config.cache.poll_interval_ms);
    let listen = state.config.cache.postgres_listen;
    let mut listener: Option<sqlx::postgres::PgListener> = None;
    let mut next_attempt = tokio::time::Instant::now();
    loop {
        if listen && listener.is_none() && tokio::time::Instant::now() >= next_attempt {
            listener = connect_listener(&pool).await;
            state.cache.set_listening(listener.is_some());
            next_attempt = tokio::time::Instant::now() + RETRY;
        }
        // Replay first, so a starting replica is ready without waiting a poll.
        if let Err(e) = state.cache.catch_up().await {
            tracing::warn!(error = %e, "replaying cache events failed");
        }
        let cache = &state.cache;
        let woke = async {
            match listener.as_mut() {
                Some(l) => match tokio::time::timeout(poll, l.try_recv()).await {
                    // A notification, or a quiet wait on a live connection.
                    Ok(Ok(Some(_))) | Err(_) => false,
                    // Lost; it reconnects on the next call.
                    Ok(Ok(None)) => {
                        cache.set_listening(false);
                        true
                    }
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "cache listener error");
                        cache.set_listening(false);
                        tokio::time::sleep(poll).await;
                        true
                    }
                },
                None => {
                    tokio::time::sleep(poll).await;
                    false
                }
            }
        };
        let lost = tokio::select! {
            l = woke => l,
            _ = stop.changed() => return,
        };
        if lost {
            state.cache.flush();
        } else if listener.is_some() {
            state.cache.set_listening(true);
        }
    }
}

async fn connect_listener(pool: &sqlx::PgPool) -> Option<sqlx::postgres::PgListener> {
    let mut l = match sqlx::postgres::PgListener::connect_with(pool).await {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(error = %e, "no LISTEN connection; polling the outbox, retrying");
            return None;
        }
    };
    match l.listen(dsg_store::events::NOTIFY_CHANNEL).await {
        Ok(()) => Some(l),
        Err(e) => {
            tracing::warn!(error = %e, "LISTEN failed; polling the outbox, retrying");
            None
        }
    }
}
