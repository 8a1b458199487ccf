//! Building and running the application: bind, open and migrate the
//! database, start the background tasks (cache-event listener, `last_used`
//! flusher, outbox and rate-limit pruning), serve until a shutdown signal.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{any, get};
use dsg_store::{PoolSettings, Store};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt;

use crate::cache::PermissionCache;
use crate::clock::Clock;
use crate::config::Config;
use crate::error::{ApiError, msg};
use crate::state::{AppState, Inner};
use crate::{cave, health};

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
        let err = crate::config::ConfigError;
        let gcs = crate::gcs::Gcs::from_config(&config.gcs).map_err(err)?;
        let ngauth_origins =
            crate::config::origins::AllowedOrigins::from_config(&config.ngauth).map_err(err)?;
        let ngauth_key = crate::keys::TokenKey::derive(&config.server.secret_key).map_err(err)?;
        let derivation_key = config.derivation_key().map_err(StartError::Config)?;
        let sealing_key = config.sealing_key().map_err(StartError::Config)?;
        let idp = Arc::new(crate::idp::Registry::build(&config).await?);
        let docs = crate::openapi::build_docs(&config).await;
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
            gcs,
            ngauth_origins,
            ngauth_key,
            derivation_key,
            sealing_key,
            oidc_keys: crate::signing::KeyRing::default(),
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
        crate::feed::spawn(self.state.clone(), &self.shutdown);
        crate::service::bucket_iam::spawn_worker(self.state.clone(), self.shutdown.subscribe());
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
    /// in-flight requests finish, stops the background tasks, writes the
    /// pending `last_used` marks and the queued access-log lines.
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
        let local = listener.local_addr()?;
        let workers = crate::workers::Workers::start(
            crate::workers::count(state.config.server.workers),
            &make_service(state.clone()),
            local,
        )?;
        let draining = state.clone();
        tokio::select! {
            () = workers.accept(&listener) => {}
            () = async move {
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
            } => {}
        }
        drop(listener);
        tracing::info!("listener closed; finishing in-flight requests");
        let served = workers.finish().await;
        let _ = shutdown.send(true);
        state.flush_last_used().await;
        let flushed =
            tokio::task::spawn_blocking(|| crate::access_log::flush(Duration::from_secs(10))).await;
        if !matches!(flushed, Ok(true)) {
            tracing::warn!("the access log could not be flushed within 10 s");
        }
        served
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
/// address (`ConnectInfo<SocketAddr>`, for [`crate::http::forwarded`]).
fn make_service(state: AppState) -> crate::workers::Service {
    axum::ServiceExt::<Request>::into_make_service_with_connect_info::<SocketAddr>(service(state))
}

/// The router wrapped in the path rewrite (dataset prefix, `/auth` alias),
/// which must run before routing.
pub fn service(state: AppState) -> crate::http::prefix::Rewritten {
    let rewrite: fn(Request) -> Request = crate::http::prefix::rewrite;
    router(state).map_request(rewrite)
}

/// The whole router (without the path rewrite, which wraps it). Every route
/// runs inside [`crate::http::pipeline`].
pub fn router(state: AppState) -> Router {
    crate::native::routes(crate::login::routes(cave::routes(Router::new())))
        .merge(crate::scim::routes(Router::new()).route_layer(
            axum::middleware::from_fn_with_state(state.clone(), crate::scim::rate_limit),
        ))
        .merge(crate::dsg_v1::routes(&state))
        .merge(crate::ngauth::routes())
        .merge(crate::oidc::routes())
        .merge(crate::web::routes(&state))
        .merge(crate::admin::routes())
        .merge(crate::openapi::routes())
        .route("/health", any(health::health))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/version", get(health::version))
        .merge(if state.config.metrics.enabled {
            Router::new().route("/metrics", get(health::metrics))
        } else {
            Router::new()
        })
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state.clone())
        .layer(crate::http::pipeline::Pipeline::new(state))
}

/// 404: a page in the site's layout for the browser's parts (`/web/`,
/// `/admin/`), the API's JSON everywhere else.
async fn not_found(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: Request,
) -> axum::response::Response {
    let path = req.uri().path();
    let browser = ["/web", "/admin"]
        .iter()
        .any(|p| path == *p || path.starts_with(&format!("{p}/")));
    if browser {
        return crate::web::not_found(&state, req).await;
    }
    ApiError::Detail(StatusCode::NOT_FOUND, msg::NOT_FOUND.into()).into_response()
}

async fn method_not_allowed(method: axum::http::Method) -> ApiError {
    ApiError::method_not_allowed(&method)
}
