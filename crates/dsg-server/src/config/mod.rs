//! Configuration: defaults → TOML file → `DSG_SECTION__KEY` environment
//! variables → the original deployment's variable names.
//!
//! Every key has a safe default, so `dsg serve` runs locally with no file at
//! all. `mode = "production"` adds checks that refuse to start with a default
//! secret or an unusable setting; the error says what to fix.

use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

mod auth;
mod cache;
mod database;
mod gcs;
mod limits;
pub mod login;
mod ngauth;
mod observability;
mod oidc;
pub mod origins;
mod server;
mod swagger;
mod tos;

pub use auth::{AccessConfig, AuthConfig, Directory, PrivacyConfig};
pub use cache::{CacheConfig, RedisConfig};
pub use database::DatabaseConfig;
pub use gcs::GcsConfig;
pub use limits::{LimitConfig, RateLimitConfig};
pub use login::{GoogleConfig, JwtIssuerConfig, LoginConfig, ProviderConfig, Signup};
pub use ngauth::NgauthConfig;
pub use observability::{LogConfig, MetricsConfig};
pub use oidc::OidcProviderConfig;
pub use server::{Mode, ServerConfig};
pub use swagger::{SwaggerConfig, SwaggerOauth2};
pub use tos::TosConfig;

/// A configuration problem, with a message that says what to fix.
#[derive(Debug, thiserror::Error)]
#[error("configuration error: {0}")]
pub struct ConfigError(pub String);

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
    pub gcs: GcsConfig,
    /// Browser login: identity providers, sign-up policy, redirects.
    pub login: LoginConfig,
    /// Native-API authority and terms-of-service pages.
    pub access: AccessConfig,
    /// Prometheus metrics.
    pub metrics: MetricsConfig,
    /// Swagger UI at `/docs` (its OAuth2 login).
    pub swagger: SwaggerConfig,
    /// Optional Redis shared by replicas (cache invalidation, rate limits).
    pub redis: RedisConfig,
    /// Rate limits shared by replicas (login, token creation, SCIM, failed authentications).
    pub rate_limit: RateLimitConfig,
    /// Terms-of-service pages: where acceptance may return to.
    pub tos: TosConfig,
    /// DatasetGateway as an OpenID Connect provider: token lifetimes.
    pub oidc_provider: OidcProviderConfig,
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
    (
        "TOS_RETURN_ALLOWED_ORIGINS",
        "tos.return_allowed_origins (comma-separated)",
    ),
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
        if let Some(v) = env.var("TOS_RETURN_ALLOWED_ORIGINS") {
            self.tos.return_allowed_origins = v
                .split(',')
                .map(str::trim)
                .filter(|o| !o.is_empty())
                .map(str::to_owned)
                .collect();
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
        for o in &self.tos.return_allowed_origins {
            if origins::parse(o).is_err() {
                return fail(format!(
                    "tos.return_allowed_origins (TOS_RETURN_ALLOWED_ORIGINS): {o:?} is not an origin \
                     such as https://neuprint.example.org (scheme and host, optional port, nothing else)"
                ));
            }
        }
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
        if self.server.workers > 1024 {
            return fail(format!(
                "server.workers = {} is too many: use 0 (one per CPU core, the default) or a \
                 number up to 1024",
                self.server.workers
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
        origins::AllowedOrigins::from_config(&self.ngauth).map_err(ConfigError)?;
        if !self.auth.long_lived_token_key.is_empty() && self.auth.long_lived_token_key.len() < 32 {
            return fail(
                "auth.long_lived_token_key must be at least 32 random characters (or empty: derived from server.secret_key)"
                    .into(),
            );
        }
        self.gcs.validate().map_err(ConfigError)?;
        self.oidc_provider.validate()?;
        login::validate(self)?;
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

    /// The key long-lived tokens and delegated keys are derived from.
    ///
    /// # Errors
    /// The local key file cannot be read or written.
    pub fn derivation_key(&self) -> Result<crate::keys::DerivationKey, ConfigError> {
        crate::keys::DerivationKey::load(
            &self.auth.long_lived_token_key,
            &self.server.secret_key,
            &self.database.data_dir,
        )
        .map_err(ConfigError)
    }

    /// The key sealing the OpenID provider's signing keys.
    ///
    /// # Errors
    /// The local key file cannot be read or written.
    pub fn sealing_key(&self) -> Result<crate::signing::SealingKey, ConfigError> {
        crate::keys::server_material(&self.server.secret_key, &self.database.data_dir)
            .map(|m| crate::signing::SealingKey::derive(&m))
            .map_err(ConfigError)
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
        redact(&mut c.auth.long_lived_token_key);
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
pub(crate) fn parse_nets(key: &str, entries: &[String]) -> Result<Vec<ipnet::IpNet>, String> {
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
