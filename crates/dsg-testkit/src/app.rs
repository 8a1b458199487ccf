//! The server under test: a real DatasetGateway on a random loopback port
//! with a fresh database, and small helpers around it.

use std::time::Duration;

use anyhow::{Context, Result};
use dsg_core::Timestamp;
use dsg_server::clock::Clock;
use dsg_server::{Application, Config, Options};
use dsg_store::{DatabaseTarget, PoolSettings, Store};
use serde_json::Value;

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Temporary SQLite file.
    Sqlite,
    /// Throwaway schema in PostgreSQL.
    Postgres,
}

/// A running server.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    /// HTTP client (cookie store on, redirects off).
    pub client: reqwest::Client,
    /// Direct database access.
    pub store: Store,
    /// The server's clock (manual: tests move it).
    pub clock: Clock,
    /// `DATABASE_URL` for `dsg` subprocesses.
    pub database_url: String,
    /// Backend.
    pub backend: Backend,
    /// The server's shared state.
    pub state: dsg_server::state::AppState,
    /// `database.data_dir` (its local token key), shared with replicas.
    pub data_dir: std::path::PathBuf,
    _dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    pg_schema: Option<(String, String)>,
}

/// Base URL of the PostgreSQL used by tests.
pub fn pg_base_url() -> String {
    std::env::var("DSG_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A free loopback port (for servers that must know their port before they start).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_or(0, |a| a.port())
}

/// URL of the Redis used by tests (`DSG_TEST_REDIS_URL`, default the local one).
pub fn redis_url() -> String {
    std::env::var("DSG_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A Redis key prefix no other test uses.
pub fn unique_redis_prefix() -> String {
    format!("dsgtest{}", uuid::Uuid::new_v4().simple())
}

/// A fixed, realistic start instant for manual clocks.
pub const T0: Timestamp = Timestamp(1_780_315_200_000_000);

/// A database nobody has migrated yet: a SQLite file under `dir`, or a new
/// schema in the test PostgreSQL. Returns its `DATABASE_URL` and, on
/// PostgreSQL, `(base url, schema)` for [`drop_pg_schema`].
///
/// # Errors
/// PostgreSQL is unreachable.
pub async fn empty_database(
    backend: Backend,
    dir: &std::path::Path,
) -> Result<(String, Option<(String, String)>)> {
    Ok(match backend {
        Backend::Sqlite => (dir.join("dsg.sqlite3").display().to_string(), None),
        Backend::Postgres => {
            let base = pg_base_url();
            let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
            let admin = Store::connect(&DatabaseTarget::parse(&base)?, &PoolSettings::default())
                .await
                .with_context(|| format!("PostgreSQL for tests at {base} (set DSG_TEST_PG_URL)"))?;
            if let dsg_store::Db::Postgres(pool) = admin.db() {
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                    .execute(pool)
                    .await?;
            }
            admin.close().await;
            let sep = if base.contains('?') { '&' } else { '?' };
            (
                format!("{base}{sep}options=-c%20search_path%3D{schema}"),
                Some((base, schema)),
            )
        }
    })
}

/// Drops a schema made by [`empty_database`] (best effort).
pub async fn drop_pg_schema(base: &str, schema: &str) {
    if let Ok(target) = DatabaseTarget::parse(base)
        && let Ok(admin) = Store::connect(&target, &PoolSettings::default()).await
    {
        if let dsg_store::Db::Postgres(pool) = admin.db() {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                .execute(pool)
                .await;
        }
        admin.close().await;
    }
}

/// Starts a server on `backend`, letting `tweak` adjust the configuration.
///
/// # Errors
/// Database or bind failures.
pub async fn spawn_app_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> Result<TestApp> {
    let dir = tempfile::tempdir()?;
    let (database_url, pg_schema) = empty_database(backend, dir.path()).await?;
    let clock = Clock::manual(Timestamp(dsg_store::now_micros()));
    let data_dir = dir.path().to_path_buf();
    start(
        backend,
        database_url,
        data_dir,
        dir,
        pg_schema,
        clock,
        tweak,
    )
    .await
}

/// Builds and serves one server on `database_url`.
async fn start(
    backend: Backend,
    database_url: String,
    data_dir: std::path::PathBuf,
    dir: tempfile::TempDir,
    pg_schema: Option<(String, String)>,
    clock: Clock,
    tweak: impl FnOnce(&mut Config),
) -> Result<TestApp> {
    // reqwest is built without a default TLS provider; tests' clients need one.
    dsg_server::outbound::install_crypto_provider();
    let mut config = Config::default();
    config.database.url = database_url.clone();
    config.database.data_dir = data_dir.clone();
    config.server.bind = "127.0.0.1:0".parse()?;
    config.cache.poll_interval_ms = 100;
    tweak(&mut config);
    let app = Application::build(
        config,
        Options {
            clock: Some(clock.clone()),
        },
    )
    .await?;
    let address = format!("http://127.0.0.1:{}", app.port());
    let state = app.state();
    let store = state.store.clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let _ = app
            .run_until(async move {
                let _ = rx.await;
            })
            .await;
    });
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()?;
    Ok(TestApp {
        address,
        client,
        store,
        clock,
        database_url,
        backend,
        state,
        data_dir,
        _dir: dir,
        stop: Some(tx),
        task: Some(task),
        pg_schema,
    })
}

/// Starts a server with the default test configuration.
///
/// # Errors
/// As [`spawn_app_with`].
pub async fn spawn_app(backend: Backend) -> Result<TestApp> {
    spawn_app_with(backend, |_| {}).await
}

impl TestApp {
    /// Starts a second server on this one's database, sharing its clock: a
    /// replica, as a deployment runs several behind one load balancer. Shut
    /// it down before this one (which owns the database).
    ///
    /// # Errors
    /// As [`spawn_app_with`].
    pub async fn spawn_replica(&self, tweak: impl FnOnce(&mut Config)) -> Result<TestApp> {
        // Replicas share the data directory's local key, as replicas of a
        // deployment share `server.secret_key`.
        start(
            self.backend,
            self.database_url.clone(),
            self.data_dir.clone(),
            tempfile::tempdir()?,
            None,
            self.clock.clone(),
            tweak,
        )
        .await
    }

    /// Absolute URL of a path.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// `GET` with a bearer token.
    ///
    /// # Errors
    /// Transport failures.
    pub async fn get(&self, path: &str, token: Option<&str>) -> Result<reqwest::Response> {
        let mut r = self.client.get(self.url(path));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        Ok(r.send().await?)
    }

    /// `GET /readyz` → (status, JSON body).
    ///
    /// # Errors
    /// Transport failures or a non-JSON body.
    pub async fn readyz(&self) -> Result<(u16, Value)> {
        let r = self.get("/readyz", None).await?;
        let status = r.status().as_u16();
        Ok((status, r.json().await?))
    }

    /// `GET /api/v1/user/cache` → (status, JSON body).
    ///
    /// # Errors
    /// Transport failures or a non-JSON body.
    pub async fn user_cache(&self, token: &str) -> Result<(u16, Value)> {
        let r = self.get("/api/v1/user/cache", Some(token)).await?;
        let status = r.status().as_u16();
        Ok((status, r.json().await?))
    }

    /// Applies a fixture through the store (same code as `dsg seed`) and
    /// tells this server's cache, as the CLI's commit would via the outbox.
    ///
    /// # Errors
    /// Invalid fixture.
    pub async fn seed(&self, fixture: Value) -> Result<Value> {
        let f = dsg_store::seed::parse(&fixture.to_string())?;
        let out = self
            .store
            .seed_with(f, Some(&self.state.derivation_key))
            .await?;
        // Replay now (what the SQLite probe / PostgreSQL listener would do on their own).
        self.state.cache.catch_up().await?;
        Ok(out)
    }

    /// Stops the server and drops its database.
    pub async fn shutdown(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
        }
        self.store.close().await;
        if let Some((base, schema)) = self.pg_schema.take() {
            drop_pg_schema(&base, &schema).await;
        }
    }
}

/// A token string from a seed result: `users.<key>.tokens.<name>`.
pub fn user_token(seeded: &Value, user: &str, name: &str) -> String {
    seeded["users"][user]["tokens"][name]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Polls `check` until it returns true or `deadline` passes (no fixed sleeps).
pub async fn eventually<F, Fut>(deadline: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = std::time::Instant::now();
    loop {
        if check().await {
            return true;
        }
        if start.elapsed() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
