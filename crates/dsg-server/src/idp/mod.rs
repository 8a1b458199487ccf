//! Identity providers: login providers (Google built in, generic OpenID
//! Connect issuers by discovery) and JWT bearer issuers. Built at start;
//! unreachable issuers are retried in the background and reported by `/readyz`.

pub mod jwks;
pub mod jwt;
pub mod oidc;
pub mod state;

use std::sync::Arc;
use std::time::Duration;

use dsg_core::permissions::TokenScope;
use dsg_store::Store;
use dsg_store::tokens::PrincipalRef;
use jsonwebtoken::Algorithm;
use serde_json::Value;
use tokio::sync::watch;

use self::jwks::JwksCache;
use self::oidc::OidcProvider;
use crate::config::JwtIssuerConfig;
use crate::config::{Config, ConfigError};

/// How often undiscovered issuers are retried.
const RETRY: Duration = Duration::from_secs(15);

/// A JWT bearer issuer.
pub struct JwtIssuer {
    /// Its configuration.
    pub config: JwtIssuerConfig,
    algorithms: Vec<Algorithm>,
    issuers: Vec<String>,
    /// Signing keys.
    pub jwks: JwksCache,
    discovered: parking_lot::RwLock<bool>,
}

impl JwtIssuer {
    fn new(config: JwtIssuerConfig) -> Self {
        let algorithms = config
            .algorithms
            .iter()
            .filter_map(|a| jwt::parse_algorithm(a))
            .collect();
        Self {
            issuers: vec![config.issuer.clone()],
            algorithms,
            config,
            jwks: JwksCache::new(None),
            discovered: parking_lot::RwLock::new(false),
        }
    }

    async fn discover(&self, http: &reqwest::Client) -> Result<(), String> {
        if !*self.discovered.read() {
            let d = oidc::discover(http, &self.config.issuer).await?;
            self.jwks.set_uri(d.jwks_uri);
            *self.discovered.write() = true;
        }
        self.jwks.refresh(http).await
    }
}

/// A login button: the provider's `?provider=` name and the label people read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginChoice {
    /// `google` or the configured name.
    pub name: String,
    /// "Google", or the configured name with a capital first letter.
    pub label: String,
}

/// The label of a provider named `name`.
fn provider_label(name: &str) -> String {
    if name == "google" {
        return "Google".into();
    }
    let mut chars = name.chars();
    chars.next().map_or_else(String::new, |c| {
        c.to_uppercase().chain(chars).collect::<String>()
    })
}

/// Everything about identity providers a server needs.
pub struct Registry {
    /// Login providers, Google first when configured.
    pub providers: Vec<Arc<OidcProvider>>,
    /// JWT bearer issuers.
    pub jwt: Vec<Arc<JwtIssuer>>,
    /// Outbound HTTP.
    pub http: reqwest::Client,
    /// Key signing the login-state cookie (derived from `server.secret_key`).
    pub login_key: Vec<u8>,
    default_provider: String,
}

impl Registry {
    /// Builds the providers and tries discovery once; an issuer with
    /// `start_degraded = false` that cannot be reached stops the start.
    ///
    /// # Errors
    /// Bad credentials file; an unreachable strict JWT issuer.
    pub async fn build(config: &Config) -> Result<Self, ConfigError> {
        let http = crate::outbound::client(Duration::from_secs(10))
            .map_err(|e| ConfigError(format!("cannot build the HTTP client: {e}")))?;
        let mut providers = Vec::new();
        if let Some((id, secret)) = crate::config::login::google_credentials(config)? {
            providers.push(OidcProvider::google(&config.google, id, secret));
        }
        for p in &config.login.providers {
            providers.push(OidcProvider::generic(p));
        }
        let jwt: Vec<Arc<JwtIssuer>> = crate::config::login::jwt_issuers(config)
            .into_iter()
            .map(|c| Arc::new(JwtIssuer::new(c)))
            .collect();
        let discovery = providers.iter().map(|p| {
            let http = http.clone();
            async move {
                if let Err(e) = p.discover(&http).await {
                    tracing::warn!(provider = %p.name, error = %e, "login provider not reachable; retrying in the background");
                }
            }
        });
        futures::future::join_all(discovery).await;
        for i in &jwt {
            if let Err(e) = i.discover(&http).await {
                if !i.config.start_degraded {
                    return Err(ConfigError(format!(
                        "JWT issuer {} is unreachable ({e}) and start_degraded = false: fix the issuer URL or network, or set start_degraded = true",
                        i.config.issuer
                    )));
                }
                tracing::warn!(issuer = %i.config.issuer, error = %e, "JWT issuer not reachable; retrying in the background");
            }
        }
        let secret = if config.server.secret_key.is_empty() {
            // Local mode without a configured secret: logins must finish on
            // this process (production requires server.secret_key).
            crate::idp::state::random()
                .map_err(|e| ConfigError(format!("OS random source: {e}")))?
        } else {
            config.server.secret_key.clone()
        };
        Ok(Self {
            providers,
            jwt,
            http,
            login_key: crate::idp::state::derive_key(&secret),
            default_provider: config.login.default_provider.clone(),
        })
    }

    /// The configured login providers as people see them, the default first.
    pub fn login_choices(&self) -> Vec<LoginChoice> {
        let default = self.provider(None).map(|p| p.name.clone());
        let mut out: Vec<LoginChoice> = self
            .providers
            .iter()
            .map(|p| LoginChoice {
                name: p.name.clone(),
                label: provider_label(&p.name),
            })
            .collect();
        out.sort_by_key(|c| Some(&c.name) != default.as_ref());
        out
    }

    /// The provider named `name`, or the default one.
    pub fn provider(&self, name: Option<&str>) -> Option<&Arc<OidcProvider>> {
        let name = name.filter(|n| !n.is_empty()).or_else(|| {
            (!self.default_provider.is_empty()).then_some(self.default_provider.as_str())
        });
        match name {
            Some(n) => self.providers.iter().find(|p| p.name == n),
            None => self.providers.first(),
        }
    }

    /// Human-readable reasons for every provider or issuer that is not ready.
    pub fn not_ready(&self) -> Vec<String> {
        let mut out = Vec::new();
        for p in &self.providers {
            if !p.ready() {
                out.push(format!(
                    "login provider {}: {}",
                    p.name,
                    p.error().unwrap_or_else(|| "not discovered".into())
                ));
            }
        }
        for i in &self.jwt {
            if !i.jwks.loaded() {
                out.push(format!(
                    "JWT issuer {}: keys not loaded ({})",
                    i.config.issuer,
                    i.jwks
                        .last_error()
                        .unwrap_or_else(|| "not fetched yet".into())
                ));
            }
        }
        out
    }

    /// Per JWT issuer: (issuer, successful key fetches, failed key fetches).
    pub fn jwks_fetch_counts(&self) -> Vec<(String, u64, u64)> {
        self.jwt
            .iter()
            .map(|i| {
                let (ok, failed) = i.jwks.fetch_counts();
                (i.config.issuer.clone(), ok, failed)
            })
            .collect()
    }

    /// Each provider's and issuer's state for `/readyz`; `None` when none is configured.
    pub fn status(&self) -> Option<Value> {
        if self.providers.is_empty() && self.jwt.is_empty() {
            return None;
        }
        let login: Vec<Value> = self
            .providers
            .iter()
            .map(|p| serde_json::json!({"name": p.name, "issuer": p.issuer, "ready": p.ready()}))
            .collect();
        let jwt: Vec<Value> = self
            .jwt
            .iter()
            .map(|i| serde_json::json!({"issuer": i.config.issuer, "keys_loaded": i.jwks.loaded()}))
            .collect();
        Some(serde_json::json!({"login": login, "jwt": jwt}))
    }

    /// Retries discovery of unready providers and refreshes JWT keys until `stop`.
    pub fn spawn_background(self: &Arc<Self>, mut stop: watch::Receiver<bool>) {
        if self.providers.iter().all(|p| p.ready()) && self.jwt.is_empty() {
            return;
        }
        let me = self.clone();
        tokio::spawn(async move {
            let started = tokio::time::Instant::now();
            let mut last_refresh: Vec<tokio::time::Instant> = vec![started; me.jwt.len()];
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(RETRY) => {}
                    _ = stop.changed() => return,
                }
                for p in &me.providers {
                    if !p.ready() && p.discover(&me.http).await.is_ok() {
                        tracing::info!(provider = %p.name, "login provider discovered");
                    }
                }
                for (i, last) in me.jwt.iter().zip(last_refresh.iter_mut()) {
                    let due = Duration::from_secs(i.config.jwks_refresh_secs);
                    if !i.jwks.loaded() || last.elapsed() >= due {
                        *last = tokio::time::Instant::now();
                        if let Err(e) = i.discover(&me.http).await {
                            tracing::warn!(issuer = %i.config.issuer, error = %e, "refreshing JWT keys failed");
                        }
                    }
                }
            }
        });
    }

    /// True when JWT bearer tokens are configured.
    pub fn accepts_jwt(&self) -> bool {
        !self.jwt.is_empty()
    }

    /// Verifies a bearer JWT and maps it to a user and the narrowing it
    /// carries (read-only without the `reload_scopes`); `None` when refused
    /// (the reason is logged at debug level).
    ///
    /// # Errors
    /// Database failures only.
    pub async fn authenticate_jwt(
        &self,
        store: &Store,
        token: &str,
        now_secs: i64,
    ) -> Result<Option<(PrincipalRef, TokenScope)>, dsg_store::StoreError> {
        let Some(iss) = jwt::unverified_issuer(token) else {
            tracing::debug!("JWT without a readable iss");
            return Ok(None);
        };
        let Some(issuer) = self.jwt.iter().find(|i| i.config.issuer == iss) else {
            tracing::debug!(%iss, "JWT from an issuer that is not configured");
            return Ok(None);
        };
        let c = &issuer.config;
        let expect = jwt::Expect {
            issuers: &issuer.issuers,
            audience: (!c.audience.is_empty()).then_some(c.audience.as_str()),
            algorithms: &issuer.algorithms,
            leeway_secs: i64::try_from(c.leeway_secs).unwrap_or(i64::MAX),
            now_secs,
        };
        let claims = match jwt::verify(&issuer.jwks, &self.http, token, &expect).await {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(%iss, reason = %e, "JWT refused");
                return Ok(None);
            }
        };
        let scopes = jwt::scopes(&claims);
        if let Some(missing) = c.read_scopes.iter().find(|s| !scopes.contains(s)) {
            tracing::debug!(%iss, %missing, "JWT lacks a required scope");
            return Ok(None);
        }
        if !c.tenant_claim.is_empty() {
            let tenant = claims.pointer(&c.tenant_claim).and_then(Value::as_str);
            let ok = match tenant {
                Some(t) => c.allowed_tenants.is_empty() || c.allowed_tenants.iter().any(|a| a == t),
                None => false,
            };
            if !ok {
                tracing::debug!(%iss, ?tenant, "JWT tenant not allowed");
                return Ok(None);
            }
        }
        let value = claims
            .get(&c.user_claim)
            .and_then(Value::as_str)
            .unwrap_or_default();
        if value.is_empty() {
            return Ok(None);
        }
        let user = if c.user_claim == "sub" {
            store.user_id_by_identity(&c.issuer, value).await?
        } else {
            store.user_id_by_email(value).await?
        };
        let scope = TokenScope {
            read_only: c.reload_scopes.iter().any(|s| !scopes.contains(s)),
            ..TokenScope::default()
        };
        Ok(user.map(|u| (PrincipalRef::User(u), scope)))
    }
}
