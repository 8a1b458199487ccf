//! Building and running the application: bind, open and migrate the
//! database, start the background tasks (cache-event listener, `last_used`
//! flusher, outbox and rate-limit pruning), serve until a shutdown signal.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::routing::{any, get};
use dsg_store::{Db, PoolSettings, Store};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt;

use crate::cache::PermissionCache;
use crate::clock::Clock;
use crate::config::Config;
use crate::error::{ApiError, msg};
use crate::state::{AppState, Inner};
use crate::{api, health};

/// Startup failure, with what to fix.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Configuration.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// Database.
    #[error(transparent)]
    Store(#[from] dsg_store::StoreError),
    /// Redis (`[redis] url`) unreachable.
    #[error("{0}")]
    Redis(String),
    /// Binding the listener.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// Address.
        addr: SocketAddr,
        /// Cause.
        source: std::io::Error,
    },
}

/// A built, bound, not yet serving application.
pub struct Application {
    listener: TcpListener,
    state: AppState,
    shutdown: watch::Sender<bool>,
}

/// Knobs tests use; production passes `Default`.
#[derive(Clone, Default)]
pub struct Options {
    /// Time source (system clock when `None`).
    pub clock: Option<Clock>,
}

impl Application {
    /// Opens the database (migrating it), builds the cache and binds the listener.
    ///
    /// # Errors
    /// Configuration, database or bind failures, each saying what to fix.
    pub async fn build(config: Config, options: Options) -> Result<Self, StartError> {
        config.validate()?;
        let target = config.database_target()?;
        let pool = PoolSettings {
            max_connections: config.database.max_connections,
            ..PoolSettings::default()
        };
        let store = Store::open(&target, &pool).await?;
        let addr = config.server.bind;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Bind { addr, source })?;
        Self::from_parts(config, store, listener, options).await
    }

    /// Builds around an already open store and listener.
    ///
    /// # Errors
    /// Database failures.
    pub async fn from_parts(
        config: Config,
        store: Store,
        listener: TcpListener,
        options: Options,
    ) -> Result<Self, StartError> {
        let trusted_proxies = config
            .trusted_proxy_nets()
            .map_err(|e| StartError::Config(crate::config::ConfigError(e)))?;
        let cache = PermissionCache::new(store.clone(), &config.cache).await?;
        let ngauth = crate::ngauth::Ngauth::from_config(&config)?;
        let idp = Arc::new(crate::idp::Registry::build(&config).await?);
        let docs = crate::openapi::Docs::build(&config).await;
        let redis = crate::redis_link::Redis::connect(&config.redis)
            .await
            .map_err(StartError::Redis)?;
        let clock = options.clock.unwrap_or_else(Clock::system);
        let metrics = crate::metrics::Metrics::default();
        let limits = crate::rate_limit::RateLimiter::new(
            &config.rate_limit,
            store.clone(),
            redis.clone(),
            clock.clone(),
            metrics.rate_limited(),
        )
        .map_err(|e| StartError::Config(crate::config::ConfigError(e)))?;
        let state = AppState(Arc::new(Inner {
            redis,
            draining: std::sync::atomic::AtomicBool::new(false),
            ngauth,
            config,
            store,
            cache,
            clock,
            idp,
            metrics,
            trusted_proxies,
            docs,
            limits,
        }));
        let (shutdown, _) = watch::channel(false);
        state.idp.spawn_background(shutdown.subscribe());
        let app = Self {
            listener,
            state,
            shutdown,
        };
        app.spawn_background();
        Ok(app)
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.listener.local_addr().map_or(0, |a| a.port())
    }

    /// Shared state (tests reach the store and clock through it).
    pub fn state(&self) -> AppState {
        self.state.clone()
    }

    fn spawn_background(&self) {
        let state = self.state.clone();
        let mut stop = self.shutdown.subscribe();
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
        crate::gcs::sync::spawn_worker(self.state.clone(), self.shutdown.subscribe());
        crate::redis_link::spawn_bus(self.state.clone(), self.shutdown.subscribe());
        if let Db::Postgres(pool) = self.state.store.db().clone() {
            let state = self.state.clone();
            let stop = self.shutdown.subscribe();
            tokio::spawn(listen_for_changes(state, pool, stop));
        }
    }

    /// Serves until Ctrl-C / SIGTERM, then drains and flushes.
    ///
    /// # Errors
    /// I/O errors of the server.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves until `stop` resolves; then answers `/readyz` with 503 for
    /// `server.drain_secs` while still serving, closes the listener, lets
    /// in-flight requests finish, stops the background tasks and writes the
    /// pending `last_used` marks.
    ///
    /// # Errors
    /// I/O errors of the server.
    pub async fn run_until(
        self,
        stop: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let Self {
            listener,
            state,
            shutdown,
        } = self;
        let draining = state.clone();
        let served = axum::serve(nodelay(listener), make_service(state.clone()))
            .with_graceful_shutdown(async move {
                stop.await;
                draining
                    .draining
                    .store(true, std::sync::atomic::Ordering::Release);
                let secs = draining.config.server.drain_secs;
                if secs > 0 {
                    tracing::info!(
                        secs,
                        "draining: /readyz answers 503, then the listener closes"
                    );
                    tokio::time::sleep(Duration::from_secs(secs)).await;
                }
                tracing::info!("listener closed; finishing in-flight requests");
            })
            .await;
        let _ = shutdown.send(true);
        state.flush_last_used().await;
        served
    }
}

/// Small JSON answers must not wait on Nagle's algorithm.
fn nodelay(
    listener: TcpListener,
) -> axum::serve::TapIo<TcpListener, fn(&mut tokio::net::TcpStream)> {
    use axum::serve::ListenerExt;
    fn set(tcp: &mut tokio::net::TcpStream) {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
    }
    listener.tap_io(set as fn(&mut tokio::net::TcpStream))
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

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

/// One service per connection, each request carrying the TCP peer's
/// address (`ConnectInfo<SocketAddr>`, for [`crate::forwarded`]).
fn make_service(
    state: AppState,
) -> axum::extract::connect_info::IntoMakeServiceWithConnectInfo<Router, SocketAddr> {
    Router::new()
        .fallback_service(service(state))
        .into_make_service_with_connect_info::<SocketAddr>()
}

/// The router wrapped in the path rewrite (dataset prefix, `/auth` alias),
/// which must run before routing.
pub fn service(state: AppState) -> tower::util::MapRequest<Router, fn(Request) -> Request> {
    let rewrite: fn(Request) -> Request = crate::prefix::rewrite;
    router(state).map_request(rewrite)
}

/// The whole router (without the path rewrite, which wraps it).
pub fn router(state: AppState) -> Router {
    let max_body = state.config.server.max_body_bytes;
    let hsts = state.config.secure_cookies();
    crate::native::routes(crate::login::routes(api::routes(Router::new())))
        .merge(crate::scim::routes(Router::new()).route_layer(
            axum::middleware::from_fn_with_state(state.clone(), crate::scim::rate_limit),
        ))
        .merge(crate::ngauth::routes())
        .merge(crate::web::routes())
        .merge(crate::admin::routes())
        .merge(crate::openapi::routes())
        .route("/health", any(health::health))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/version", get(health::version))
        .merge(if state.config.metrics.enabled {
            Router::new().route("/metrics", get(crate::metrics::handler))
        } else {
            Router::new()
        })
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state.clone())
        .layer(tower::util::MapResponseLayer::new(move |r| {
            security_headers(r, hsts)
        }))
        .layer(axum::extract::DefaultBodyLimit::max(max_body))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_| {
            ApiError::Internal("handler panicked".into()).into_response_pub()
        }))
        .layer(axum::middleware::from_fn_with_state(
            state,
            crate::request_log::layer,
        ))
}

/// Security headers on every response, in one synchronous pass.
fn security_headers(
    mut response: axum::response::Response,
    hsts: bool,
) -> axum::response::Response {
    let h = response.headers_mut();
    for (name, value) in [
        ("x-frame-options", "DENY"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "same-origin"),
        ("cross-origin-opener-policy", "same-origin"),
    ] {
        h.entry(HeaderName::from_static(name))
            .or_insert(HeaderValue::from_static(value));
    }
    if hsts {
        h.entry(HeaderName::from_static("strict-transport-security"))
            .or_insert(HeaderValue::from_static(
                "max-age=31536000; includeSubDomains",
            ));
    }
    response
}

async fn not_found() -> ApiError {
    ApiError::Detail(StatusCode::NOT_FOUND, msg::NOT_FOUND.into())
}

async fn method_not_allowed(method: axum::http::Method) -> ApiError {
    ApiError::method_not_allowed(&method)
}
