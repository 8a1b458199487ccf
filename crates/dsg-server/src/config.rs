//! Configuration: defaults → TOML file → `DSG_SECTION__KEY` environment
//! variables → the original deployment's variable names.
//!
//! Every key has a safe default, so `dsg serve` runs locally with no file at
//! all. `mode = "production"` adds checks that refuse to start with a default
//! secret or an unusable setting; the error says what to fix.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// A configuration problem, with a message that says what to fix.
#[derive(Debug, thiserror::Error)]
#[error("configuration error: {0}")]
pub struct ConfigError(pub String);

/// Local development or production.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Plain HTTP, non-`Secure` cookies, generated secret allowed.
    Local,
    /// `Secure` cookies, HSTS, a real secret and an https origin required.
    Production,
}

/// Whole configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// HTTP server.
    pub server: ServerConfig,
    /// Database.
    pub database: DatabaseConfig,
    /// Token transport and cookies.
    pub auth: AuthConfig,
    /// Permission cache.
    pub cache: CacheConfig,
    /// Who may read other people's details.
    pub privacy: PrivacyConfig,
    /// Neuroglancer origins.
    pub ngauth: NgauthConfig,
    /// Google OAuth client.
    pub google: GoogleConfig,
    /// Logging.
    pub log: LogConfig,
    /// Google Cloud Storage credentials (`/gcs_token`, bucket IAM sync).
    pub gcs: crate::gcs::GcsConfig,
    /// Browser login: identity providers, sign-up policy, redirects.
    pub login: crate::idp::config::LoginConfig,
    /// Native-API authority and terms-of-service pages.
    pub access: AccessConfig,
    /// Prometheus metrics.
    pub metrics: MetricsConfig,
    /// Swagger UI at `/docs` (its OAuth2 login).
    pub swagger: crate::openapi::SwaggerConfig,
    /// Optional Redis shared by replicas (cache invalidation, rate limits).
    pub redis: RedisConfig,
    /// Rate limits shared by replicas (login, token creation, SCIM, failed authentications).
    pub rate_limit: RateLimitConfig,
}

/// `[rate_limit]`: fixed-window limits, counted in the database (or in Redis
/// when `[redis] url` is set) so every replica sees the same counts. Over a
/// limit, requests get 429 with `Retry-After`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Apply the limits below.
    pub enabled: bool,
    /// Client addresses (IP addresses or CIDR ranges) never limited per IP,
    /// e.g. the backends of CAVE services that relay many users' tokens.
    pub exempt: Vec<String>,
    /// Login starts and callbacks, per client IP.
    pub login: LimitConfig,
    /// Minted user and service-account tokens, per acting user.
    pub token_creation: LimitConfig,
    /// Requests under `/auth/scim/v2`, per bearer token (else per client IP).
    pub scim: LimitConfig,
    /// Requests refused for an invalid or unknown token, per client IP. Over
    /// it, tokens this replica has not cached are refused without a lookup;
    /// tokens it has cached keep working.
    pub failed_auth: LimitConfig,
}

/// One limit: at most `limit` requests per `window_secs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitConfig {
    /// Requests allowed per window; 0 turns this limit off.
    pub limit: u32,
    /// Window length in seconds (1 to 86400); windows start on multiples of it.
    pub window_secs: u32,
}

impl LimitConfig {
    /// `limit` per minute.
    pub const fn per_minute(limit: u32) -> Self {
        Self {
            limit,
            window_secs: 60,
        }
    }
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            exempt: Vec::new(),
            login: LimitConfig::per_minute(30),
            token_creation: LimitConfig::per_minute(20),
            scim: LimitConfig::per_minute(1200),
            failed_auth: LimitConfig::per_minute(60),
        }
    }
}

impl RateLimitConfig {
    /// `exempt` parsed.
    ///
    /// # Errors
    /// An entry that is neither an IP address nor a CIDR range, as a message.
    pub fn exempt_nets(&self) -> Result<Vec<ipnet::IpNet>, String> {
        parse_nets("rate_limit.exempt", &self.exempt)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.exempt_nets().map_err(ConfigError)?;
        for (name, l) in [
            ("login", self.login),
            ("token_creation", self.token_creation),
            ("scim", self.scim),
            ("failed_auth", self.failed_auth),
        ] {
            if !(1..=86_400).contains(&l.window_secs) {
                return Err(ConfigError(format!(
                    "rate_limit.{name}.window_secs is {}: use 1 to 86400 seconds (e.g. 60)",
                    l.window_secs
                )));
            }
            if l.limit > 1_000_000 {
                return Err(ConfigError(format!(
                    "rate_limit.{name}.limit is {}: use at most 1000000 per window, or 0 to turn \
                     this limit off",
                    l.limit
                )));
            }
        }
        Ok(())
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

/// `[metrics]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// Serve `GET /metrics`.
    pub enabled: bool,
    /// When set, `/metrics` requires `Authorization: Bearer <this>`.
    pub bearer_token: String,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            bearer_token: String::new(),
        }
    }
}

/// `[access]`
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccessConfig {
    /// Members of this group may appoint dataset admins on any dataset (the
    /// original's hard-wired `sc` group). Unset: only dataset and global admins.
    pub admin_appointer_group: Option<String>,
}

/// `[server]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// `local` or `production`.
    pub mode: Mode,
    /// Listen address (`DSG_PORT` changes only the port).
    pub bind: SocketAddr,
    /// Public origin, e.g. `https://dsg.example.org` (`DSG_ORIGIN`).
    pub origin: String,
    /// Secret for signing (`DJANGO_SECRET_KEY` is honoured). Empty in local
    /// mode: one is generated and kept in the data directory.
    pub secret_key: String,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Reverse proxies (IP addresses or CIDR ranges, e.g. `127.0.0.1`,
    /// `10.0.0.0/8`) whose `X-Forwarded-For` / `-Proto` / `-Host` are
    /// believed. From any other peer those headers are dropped on arrival.
    pub trusted_proxies: Vec<String>,
    /// On SIGTERM, seconds to keep serving while `/readyz` answers 503
    /// `draining` (and responses carry `Connection: close`), so a load
    /// balancer moves traffic away before the listener closes; in-flight
    /// requests then finish. 0 closes the listener at once.
    pub drain_secs: u64,
}

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

/// `[auth]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Cookie names read for a token, first present wins.
    pub cookie_names: Vec<String>,
    /// Query parameter names read for a token, first present wins.
    pub query_names: Vec<String>,
    /// `Domain` of the `dsg_token` cookie (`AUTH_COOKIE_DOMAIN`).
    pub cookie_domain: String,
    /// JWT bearer tokens from one external issuer (the keys below); more
    /// issuers go in `[[auth.issuers]]`. Off unless `enabled = true`.
    pub enabled: bool,
    /// Issuer URL; keys are discovered from `{issuer}/.well-known/openid-configuration`.
    pub issuer: String,
    /// Required `aud` (empty: not checked).
    pub audience: String,
    /// Accepted algorithms: RS/ES/PS variants only.
    pub algorithms: Vec<String>,
    /// Clock-skew tolerance for `exp` / `nbf`, seconds.
    pub leeway_secs: u64,
    /// Background JWKS refresh interval, seconds (at least 60).
    pub jwks_refresh_secs: u64,
    /// Scopes every token must carry (`scope` or `scp` claim).
    pub read_scopes: Vec<String>,
    /// Scopes that unlock writing: a token lacking any of them acts as a
    /// read-only token (view levels only, no management). Empty: not checked.
    pub reload_scopes: Vec<String>,
    /// Accepted for compatibility with the `[auth]` block of other services;
    /// no effect here (the endpoints that need no token never ask for one).
    pub anonymous_read: bool,
    /// Accepted for compatibility; no effect (there is no `X-Admin-Token`).
    pub admin_token_fallback: bool,
    /// JSON pointer to the tenant claim, e.g. `/tid` (empty: no tenant check).
    pub tenant_claim: String,
    /// Accepted tenants (empty: any).
    pub allowed_tenants: Vec<String>,
    /// Start even when the issuer is unreachable (keys load in the background).
    pub start_degraded: bool,
    /// Claim naming the user: `email` (matched to the user's e-mail) or `sub`
    /// (matched to a login identity of this issuer).
    pub user_claim: String,
    /// Further JWT issuers, each with the keys above.
    pub issuers: Vec<crate::idp::config::JwtIssuerConfig>,
}

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

/// `[privacy]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PrivacyConfig {
    /// Who may list other users' e-mails and groups (`/user?id=`, `/user/{id}`,
    /// group members): `authenticated` (the original) or `privileged`
    /// (global admins and service accounts).
    pub user_directory: Directory,
}

/// Audience of the user directory endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Directory {
    /// Any authenticated principal.
    Authenticated,
    /// Global admins and service accounts.
    Privileged,
}

/// `[ngauth]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NgauthConfig {
    /// Exact allowed Neuroglancer origins (preferred).
    pub allowed_origins: Vec<String>,
    /// Regex of allowed origins (`NGAUTH_ALLOWED_ORIGINS`).
    pub allowed_origins_regex: String,
}

/// `[google]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GoogleConfig {
    /// OAuth client id (`GOOGLE_CLIENT_ID`).
    pub client_id: String,
    /// OAuth client secret (`GOOGLE_CLIENT_SECRET`).
    pub client_secret: String,
    /// Client JSON file of the original's format (`CLIENT_CREDENTIALS_PATH`).
    pub credentials_path: String,
    /// Google's issuer (built in; changed only for tests).
    pub issuer: String,
    /// Google's authorization endpoint.
    pub authorization_endpoint: String,
    /// Google's token endpoint.
    pub token_endpoint: String,
    /// Google's signing keys.
    pub jwks_uri: String,
}

/// `[log]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// Filter, e.g. `info` or `dsg_server=debug` (`LOG_LEVEL`).
    pub level: String,
    /// `pretty` or `json`.
    pub format: String,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            mode: Mode::Local,
            bind: SocketAddr::from(([127, 0, 0, 1], 8200)),
            origin: String::new(),
            secret_key: String::new(),
            max_body_bytes: 1024 * 1024,
            trusted_proxies: Vec::new(),
            drain_secs: 0,
        }
    }
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

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            cookie_names: vec!["dsg_token".into(), "middle_auth_token".into()],
            query_names: vec!["dsg_token".into(), "middle_auth_token".into()],
            cookie_domain: String::new(),
            enabled: false,
            issuer: String::new(),
            audience: String::new(),
            algorithms: vec!["RS256".into()],
            leeway_secs: 60,
            jwks_refresh_secs: 3600,
            read_scopes: Vec::new(),
            reload_scopes: Vec::new(),
            anonymous_read: false,
            admin_token_fallback: true,
            tenant_claim: String::new(),
            allowed_tenants: Vec::new(),
            start_degraded: true,
            user_claim: "email".into(),
            issuers: Vec::new(),
        }
    }
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

impl Default for PrivacyConfig {
    fn default() -> Self {
        Self {
            user_directory: Directory::Authenticated,
        }
    }
}

impl Default for NgauthConfig {
    fn default() -> Self {
        Self {
            allowed_origins: Vec::new(),
            allowed_origins_regex: r"^https?://.*\.neuroglancer\.org$".into(),
        }
    }
}

impl Default for GoogleConfig {
    fn default() -> Self {
        Self {
            client_id: String::new(),
            client_secret: String::new(),
            credentials_path: "secrets/client_credentials.json".into(),
            issuer: "https://accounts.google.com".into(),
            authorization_endpoint: "https://accounts.google.com/o/oauth2/v2/auth".into(),
            token_endpoint: "https://oauth2.googleapis.com/token".into(),
            jwks_uri: "https://www.googleapis.com/oauth2/v3/certs".into(),
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".into(),
            format: "pretty".into(),
        }
    }
}

/// Where a value may come from besides the file: a lookup of environment variables.
pub trait EnvSource {
    /// The variable's value, if set and non-empty.
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
pub struct ProcessEnv;

impl EnvSource for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }
}

/// The original deployment's variable names and what they set.
pub const LEGACY_VARS: &[(&str, &str)] = &[
    ("DSG_ORIGIN", "server.origin"),
    ("DSG_PORT", "server.bind (port)"),
    ("DJANGO_SECRET_KEY", "server.secret_key"),
    ("DJANGO_DEBUG", "server.mode (False = production)"),
    ("DATABASE_URL", "database.url"),
    ("DATABASE_PATH", "database.path"),
    ("AUTH_COOKIE_DOMAIN", "auth.cookie_domain"),
    ("NGAUTH_ALLOWED_ORIGINS", "ngauth.allowed_origins_regex"),
    ("GOOGLE_CLIENT_ID", "google.client_id"),
    ("GOOGLE_CLIENT_SECRET", "google.client_secret"),
    ("CLIENT_CREDENTIALS_PATH", "google.credentials_path"),
    ("LOG_LEVEL", "log.level"),
    ("GOOGLE_APPLICATION_CREDENTIALS", "gcs.credentials_file"),
];

impl Config {
    /// Loads from the process: `path` (or `DSG_CONFIG`), then the environment.
    ///
    /// # Errors
    /// Unreadable file, unknown keys, wrong types, failed validation.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let path = path
            .map(Path::to_path_buf)
            .or_else(|| ProcessEnv.var("DSG_CONFIG").map(PathBuf::from));
        let env = Env::prefixed("DSG_")
            .filter(|k| k.as_str().contains("__"))
            .split("__");
        Self::load_from(path.as_deref(), env, &ProcessEnv)
    }

    /// Loads with an explicit environment (tests).
    ///
    /// # Errors
    /// As [`Config::load`].
    pub fn load_from(
        path: Option<&Path>,
        env: Env,
        legacy: &dyn EnvSource,
    ) -> Result<Self, ConfigError> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(p) = path {
            if !p.exists() {
                return Err(ConfigError(format!(
                    "config file {} does not exist (given by --config or DSG_CONFIG)",
                    p.display()
                )));
            }
            fig = fig.merge(Toml::file(p));
        }
        let mut config: Config = fig
            .merge(env)
            .extract()
            .map_err(|e| ConfigError(format!("{e}")))?;
        config.apply_legacy(legacy)?;
        config.validate()?;
        Ok(config)
    }

    fn apply_legacy(&mut self, env: &dyn EnvSource) -> Result<(), ConfigError> {
        if let Some(v) = env.var("DSG_ORIGIN") {
            self.server.origin = v;
        }
        if let Some(v) = env.var("DSG_PORT") {
            let port: u16 = v
                .trim()
                .parse()
                .map_err(|_| ConfigError(format!("DSG_PORT={v:?} is not a port number")))?;
            self.server.bind.set_port(port);
        }
        if let Some(v) = env.var("DJANGO_SECRET_KEY") {
            self.server.secret_key = v;
        }
        if let Some(v) = env.var("DJANGO_DEBUG")
            && matches!(v.trim().to_ascii_lowercase().as_str(), "false" | "0" | "no")
        {
            self.server.mode = Mode::Production;
        }
        if let Some(v) = env.var("DATABASE_URL") {
            self.database.url = v;
        }
        if let Some(v) = env.var("DATABASE_PATH") {
            self.database.path = v;
        }
        if let Some(v) = env.var("AUTH_COOKIE_DOMAIN") {
            self.auth.cookie_domain = v;
        }
        if let Some(v) = env.var("NGAUTH_ALLOWED_ORIGINS") {
            self.ngauth.allowed_origins_regex = v;
        }
        if let Some(v) = env.var("GOOGLE_CLIENT_ID") {
            self.google.client_id = v;
        }
        if let Some(v) = env.var("GOOGLE_CLIENT_SECRET") {
            self.google.client_secret = v;
        }
        if let Some(v) = env.var("CLIENT_CREDENTIALS_PATH") {
            self.google.credentials_path = v;
        }
        if let Some(v) = env.var("LOG_LEVEL") {
            self.log.level = v;
        }
        if let Some(v) = env.var("GOOGLE_APPLICATION_CREDENTIALS") {
            self.gcs.credentials_file = v;
        }
        Ok(())
    }

    /// Checks every setting; production mode adds stricter rules.
    ///
    /// # Errors
    /// The first problem found, phrased as what to fix.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let fail = |m: String| Err(ConfigError(m));
        self.database_target()?;
        if !self.redis.url.is_empty() {
            let ok = url::Url::parse(&self.redis.url)
                .is_ok_and(|u| u.scheme() == "redis" && u.host_str().is_some());
            if !ok {
                return fail(format!(
                    "redis.url {:?} must be redis://host:port[/db] (rediss:// is not supported; \
                     leave it empty to share everything through the database)",
                    dsg_store::redact_url(&self.redis.url)
                ));
            }
        }
        if self.server.drain_secs > 300 {
            return fail(format!(
                "server.drain_secs = {} is too long: at most 300 (a few seconds more than the \
                 load balancer's health-check interval is enough)",
                self.server.drain_secs
            ));
        }
        if self.database.max_connections == 0 {
            return fail("database.max_connections must be at least 1".into());
        }
        if self.auth.cookie_names.is_empty() {
            return fail(
                "auth.cookie_names must name at least one cookie (e.g. \"dsg_token\")".into(),
            );
        }
        for n in self.auth.cookie_names.iter().chain(&self.auth.query_names) {
            if n.is_empty()
                || !n
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            {
                return fail(format!(
                    "token cookie/query name {n:?} must be letters, digits, '_' or '-'"
                ));
            }
        }
        if !self.ngauth.allowed_origins_regex.is_empty()
            && let Err(e) = regex::Regex::new(&self.ngauth.allowed_origins_regex)
        {
            return fail(format!(
                "ngauth.allowed_origins_regex (NGAUTH_ALLOWED_ORIGINS) is not a valid regex: {e}"
            ));
        }
        if let Err(e) = self.trusted_proxy_nets() {
            return fail(e);
        }
        self.rate_limit.validate()?;
        if !log_level_ok(&self.log.level) {
            return fail(format!(
                "log.level (LOG_LEVEL) {:?} must be one of trace, debug, info, warn, error, off, \
                 or directives such as \"info,dsg_store=debug\"",
                self.log.level
            ));
        }
        if !matches!(self.log.format.as_str(), "pretty" | "json") {
            return fail(format!(
                "log.format must be \"pretty\" or \"json\", not {:?}",
                self.log.format
            ));
        }
        if self.cache.max_tokens == 0 || self.cache.max_documents == 0 {
            return fail("cache.max_tokens and cache.max_documents must be at least 1".into());
        }
        if self.cache.last_used_flush_secs == 0 || self.cache.poll_interval_ms == 0 {
            return fail(
                "cache.last_used_flush_secs and cache.poll_interval_ms must be positive".into(),
            );
        }
        if !self.server.origin.is_empty() {
            match url::Url::parse(&self.server.origin) {
                Ok(u)
                    if matches!(u.scheme(), "http" | "https")
                        && u.host().is_some()
                        && u.path() == "/" => {}
                _ => {
                    return fail(format!(
                        "server.origin (DSG_ORIGIN) {:?} must be a scheme and host only, e.g. https://dsg.example.org",
                        self.server.origin
                    ));
                }
            }
        }
        crate::ngauth::origin::AllowedOrigins::from_config(&self.ngauth).map_err(ConfigError)?;
        self.gcs.validate().map_err(ConfigError)?;
        crate::idp::config::validate(self)?;
        self.swagger
            .validate(self.server.mode == Mode::Production)
            .map_err(ConfigError)?;
        if self.server.mode == Mode::Production {
            if self.server.secret_key.len() < 32
                || self.server.secret_key.starts_with("django-insecure")
            {
                return fail(
                    "production mode needs server.secret_key (or DJANGO_SECRET_KEY): at least 32 random characters, \
                     e.g. from `openssl rand -base64 48`"
                        .into(),
                );
            }
            if !self.server.origin.starts_with("https://") {
                return fail(
                    "production mode needs server.origin (or DSG_ORIGIN) set to the public https:// origin".into(),
                );
            }
        }
        Ok(())
    }

    /// The database to open.
    ///
    /// # Errors
    /// An unsupported URL scheme.
    pub fn database_target(&self) -> Result<dsg_store::DatabaseTarget, ConfigError> {
        if !self.database.url.is_empty() {
            return dsg_store::DatabaseTarget::parse(&self.database.url)
                .map_err(|e| ConfigError(format!("database.url (DATABASE_URL): {e}")));
        }
        let path = if self.database.path.is_empty() {
            self.database.data_dir.join("dsg.sqlite3")
        } else {
            PathBuf::from(&self.database.path)
        };
        Ok(dsg_store::DatabaseTarget::Sqlite(path))
    }

    /// The effective configuration as TOML with secrets redacted.
    pub fn redacted_toml(&self) -> String {
        let mut c = self.clone();
        let redact = |s: &mut String| {
            if !s.is_empty() {
                *s = "<redacted>".into();
            }
        };
        redact(&mut c.server.secret_key);
        redact(&mut c.google.client_secret);
        redact(&mut c.metrics.bearer_token);
        for p in &mut c.login.providers {
            redact(&mut p.client_secret);
        }
        c.database.url = dsg_store::redact_url(&c.database.url);
        c.redis.url = dsg_store::redact_url(&c.redis.url);
        toml::to_string_pretty(&c).unwrap_or_else(|e| format!("# cannot render: {e}"))
    }

    /// `server.trusted_proxies` parsed.
    ///
    /// # Errors
    /// An entry that is neither an IP address nor a CIDR range, as a message.
    pub fn trusted_proxy_nets(&self) -> Result<Vec<ipnet::IpNet>, String> {
        parse_nets("server.trusted_proxies", &self.server.trusted_proxies)
    }

    /// `Secure` on cookies: everywhere but local mode.
    pub fn secure_cookies(&self) -> bool {
        self.server.mode == Mode::Production
    }

    /// The hosts a login or TOS page may send the browser to besides this
    /// server: `login.redirect_hosts`, or, when that is empty and
    /// `auth.cookie_domain` is set, every host under the cookie's domain
    /// (the sibling services that receive the cookie anyway).
    pub fn redirect_hosts(&self) -> std::borrow::Cow<'_, [String]> {
        let domain = self.auth.cookie_domain.trim().trim_start_matches('.');
        if self.login.redirect_hosts.is_empty() && !domain.is_empty() {
            std::borrow::Cow::Owned(vec![format!(".{domain}")])
        } else {
            std::borrow::Cow::Borrowed(&self.login.redirect_hosts)
        }
    }
}

/// IP addresses or CIDR ranges; the error names the key and the bad entry.
fn parse_nets(key: &str, entries: &[String]) -> Result<Vec<ipnet::IpNet>, String> {
    entries
        .iter()
        .map(|e| {
            let e = e.trim();
            e.parse::<ipnet::IpNet>()
                .or_else(|_| e.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| {
                    format!(
                        "{key} entry {e:?} must be an IP address or a CIDR range, e.g. \"127.0.0.1\" or \"10.0.0.0/8\""
                    )
                })
        })
        .collect()
}

/// A level, or comma-separated `level` / `target=level` directives.
fn log_level_ok(spec: &str) -> bool {
    const LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "off"];
    let level = |l: &str| LEVELS.iter().any(|x| x.eq_ignore_ascii_case(l.trim()));
    let target = |t: &str| {
        !t.is_empty()
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b':'))
    };
    !spec.trim().is_empty()
        && spec.split(',').all(|d| match d.trim().split_once('=') {
            None => level(d),
            Some((t, l)) => target(t.trim()) && level(l),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn log_levels_are_checked() {
        for ok in [
            "info",
            "WARN",
            "off",
            "info,dsg_store=debug",
            "dsg::access=warn, debug",
        ] {
            assert!(log_level_ok(ok), "{ok}");
        }
        for bad in ["loud", "", "info,", "dsg=loud", "=info", "a b=info"] {
            assert!(!log_level_ok(bad), "{bad}");
        }
        let mut c = Config::default();
        c.server.trusted_proxies = vec!["10.0.0.0/8".into(), "::1".into()];
        assert!(c.validate().is_ok());
        c.server.trusted_proxies.push("proxy.example.org".into());
        let err = c.validate().unwrap_err().to_string();
        assert!(
            err.contains("server.trusted_proxies") && err.contains("proxy.example.org"),
            "{err}"
        );
        let mut c = Config::default();
        c.log.level = "loud".into();
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("log.level") && err.contains("loud"), "{err}");
    }

    struct Vars(HashMap<&'static str, &'static str>);
    impl EnvSource for Vars {
        fn var(&self, name: &str) -> Option<String> {
            self.0.get(name).map(|v| v.to_string())
        }
    }

    fn load(vars: &[(&'static str, &'static str)]) -> Result<Config, ConfigError> {
        let env = Env::prefixed("DSG_UNUSED_IN_TESTS_").split("__");
        Config::load_from(None, env, &Vars(vars.iter().copied().collect()))
    }

    #[test]
    fn defaults_need_no_file_and_use_sqlite_in_the_data_dir() {
        let c = load(&[]).unwrap();
        assert_eq!(
            c.database_target().unwrap(),
            dsg_store::DatabaseTarget::Sqlite(PathBuf::from("data/dsg.sqlite3"))
        );
        assert_eq!(c.server.bind.port(), 8200);
    }

    #[test]
    fn legacy_variables_are_honoured() {
        let c = load(&[
            ("DSG_PORT", "9000"),
            ("DATABASE_PATH", "/tmp/x.sqlite3"),
            ("AUTH_COOKIE_DOMAIN", ".example.org"),
            ("LOG_LEVEL", "debug"),
        ])
        .unwrap();
        assert_eq!(c.server.bind.port(), 9000);
        assert_eq!(c.database.path, "/tmp/x.sqlite3");
        assert_eq!(c.auth.cookie_domain, ".example.org");
        assert_eq!(c.log.level, "debug");
    }

    #[test]
    fn production_refuses_a_default_secret_and_says_what_to_fix() {
        let e = load(&[("DJANGO_DEBUG", "False")]).unwrap_err();
        assert!(e.0.contains("secret_key"), "{e}");
        let e = load(&[
            ("DJANGO_DEBUG", "False"),
            ("DJANGO_SECRET_KEY", "0123456789abcdef0123456789abcdef-long"),
        ])
        .unwrap_err();
        assert!(e.0.contains("https://"), "{e}");
        assert!(
            load(&[
                ("DJANGO_DEBUG", "False"),
                ("DJANGO_SECRET_KEY", "0123456789abcdef0123456789abcdef-long"),
                ("DSG_ORIGIN", "https://dsg.example.org"),
            ])
            .is_ok()
        );
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(load(&[("DSG_PORT", "eighty")]).is_err());
        assert!(load(&[("NGAUTH_ALLOWED_ORIGINS", "(")]).is_err());
        assert!(load(&[("DATABASE_URL", "mysql://x")]).is_err());
        assert!(load(&[("DSG_ORIGIN", "https://x.org/path")]).is_err());
    }

    #[test]
    fn toml_file_with_an_unknown_key_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("dsg.toml");
        std::fs::write(&p, "[server]\nbindd = \"1.2.3.4:1\"\n").unwrap();
        let env = Env::prefixed("DSG_UNUSED_IN_TESTS_").split("__");
        let e = Config::load_from(Some(&p), env, &Vars(HashMap::new())).unwrap_err();
        assert!(e.0.contains("bindd"), "{e}");
    }

    #[test]
    fn rate_limits_have_defaults_partial_overrides_and_checked_values() {
        let c = load(&[]).unwrap();
        assert!(c.rate_limit.enabled);
        assert_eq!(c.rate_limit.login, LimitConfig::per_minute(30));
        assert_eq!(c.rate_limit.failed_auth, LimitConfig::per_minute(60));
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("dsg.toml");
        std::fs::write(
            &p,
            "[rate_limit]\nexempt = [\"10.0.0.0/8\"]\n[rate_limit.login]\nlimit = 5\n",
        )
        .unwrap();
        let env = Env::prefixed("DSG_UNUSED_IN_TESTS_").split("__");
        let c = Config::load_from(Some(&p), env, &Vars(HashMap::new())).unwrap();
        assert_eq!(
            c.rate_limit.login,
            LimitConfig {
                limit: 5,
                window_secs: 60
            }
        );
        assert_eq!(c.rate_limit.scim, LimitConfig::per_minute(1200));
        let mut c = Config::default();
        c.rate_limit.scim.window_secs = 0;
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("rate_limit.scim.window_secs"), "{err}");
        let mut c = Config::default();
        c.rate_limit.exempt = vec!["services".into()];
        let err = c.validate().unwrap_err().to_string();
        assert!(
            err.contains("rate_limit.exempt") && err.contains("services"),
            "{err}"
        );
    }

    #[test]
    fn redacted_output_hides_secrets() {
        let mut c = Config::default();
        c.server.secret_key = "supersecretvalue".into();
        c.database.url = "postgres://u:pw@h/db".into();
        c.redis.url = "redis://:redispw@h:6379".into();
        let t = c.redacted_toml();
        assert!(
            !t.contains("supersecretvalue") && !t.contains(":pw@") && !t.contains("redispw"),
            "{t}"
        );
    }
}
