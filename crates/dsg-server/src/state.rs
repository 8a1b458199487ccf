//! Application state shared by every handler; no globals anywhere.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use dsg_store::{CacheEvent, Store};

use crate::cache::{Authenticated, PermissionCache};
use crate::clock::Clock;
use crate::config::Config;
use crate::credentials::{self, Credential};
use crate::error::ApiError;

/// Cheap-to-clone handle on everything a request needs.
#[derive(Clone)]
pub struct AppState(pub Arc<Inner>);

/// The shared parts.
pub struct Inner {
    /// Effective configuration.
    pub config: Config,
    /// Database.
    pub store: Store,
    /// Permission cache.
    pub cache: PermissionCache,
    /// Time.
    pub clock: Clock,
    /// Neuroglancer ngauth: origins, token key, Google credentials.
    pub ngauth: crate::ngauth::Ngauth,
    /// Identity providers (login, JWT bearer issuers).
    pub idp: Arc<crate::idp::Registry>,
    /// Prometheus metric families.
    pub metrics: crate::metrics::Metrics,
    /// `server.trusted_proxies`, parsed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The OpenAPI document and Swagger UI configuration.
    pub docs: crate::openapi::Docs,
    /// The shared Redis, when `[redis] url` is set.
    pub redis: Option<crate::redis_link::Redis>,
    /// Set once shutdown began: `/readyz` answers 503 and connections close.
    pub draining: std::sync::atomic::AtomicBool,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// True once shutdown began.
    pub fn is_draining(&self) -> bool {
        self.draining.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Applies the events a committed transaction returned to this server's cache.
    /// Other replicas hear of it through Redis when configured (PostgreSQL's
    /// `NOTIFY` and the outbox poll carry it regardless).
    pub fn committed(&self, events: &[CacheEvent]) {
        self.cache.apply(events);
        if let Some(r) = &self.redis
            && !events.is_empty()
        {
            r.announce_change();
        }
    }

    /// Writes the pending `last_used` marks (run every few seconds and at shutdown).
    pub async fn flush_last_used(&self) {
        let batch = self.cache.drain_last_used();
        if let Err(e) = self.store.flush_last_used(&batch).await {
            tracing::warn!(error = %e, count = batch.len(), "writing last_used failed");
        }
    }

    /// Authenticates a request eagerly: `Ok(None)` when anonymous, 401 when a
    /// presented credential is bad.
    ///
    /// # Errors
    /// 401 variants; 500 on database failure.
    pub async fn authenticate(
        &self,
        headers: &HeaderMap,
        query: Option<&str>,
        service: Option<&str>,
    ) -> Result<Option<Authenticated>, ApiError> {
        let auth = &self.config.auth;
        match credentials::extract(headers, query, &auth.cookie_names, &auth.query_names) {
            Credential::None => Ok(None),
            Credential::Malformed => Err(crate::cache::Rejection::InvalidToken.into()),
            Credential::Token(t) => self.authenticate_token(&t, service).await.map(Some),
        }
    }
}

impl AppState {
    /// A presented token: a JWT from a configured issuer when it looks like
    /// one, else an opaque token looked up by hash in the cache.
    ///
    /// # Errors
    /// 401 variants; 500 on database failure.
    pub async fn authenticate_token(
        &self,
        token: &str,
        service: Option<&str>,
    ) -> Result<Authenticated, ApiError> {
        if self.idp.accepts_jwt() && crate::idp::jwt::looks_like_jwt(token) {
            return self.authenticate_jwt(token, service).await;
        }
        self.cache.sync().await?;
        Ok(self
            .cache
            .authenticate(token, service, self.clock.now())
            .await??)
    }

    /// A bearer JWT from a configured external issuer: verified, mapped to a
    /// user, and given that user's document.
    ///
    /// # Errors
    /// 401 when refused; 500 on database failure.
    pub async fn authenticate_jwt(
        &self,
        token: &str,
        service: Option<&str>,
    ) -> Result<Authenticated, ApiError> {
        let now = self.clock.now();
        let Some((principal, scope)) = self
            .idp
            .authenticate_jwt(&self.store, token, now.as_secs())
            .await?
        else {
            return Err(crate::cache::Rejection::InvalidToken.into());
        };
        self.cache.sync().await?;
        match self
            .cache
            .authenticate_principal(principal, scope, token, service, now)
            .await?
        {
            Ok(a) => Ok(a),
            Err(r) => Err(r.into()),
        }
    }
}

/// True when the `Accept` header admits JSON (absent counts as yes).
pub fn accepts_json(headers: &HeaderMap) -> bool {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    accept.split(',').any(|part| {
        let media = part.split(';').next().unwrap_or_default().trim();
        matches!(media, "" | "*/*" | "application/*" | "application/json")
    })
}

/// Every API request: content negotiation, then eager authentication.
/// Handlers check the method afterwards, as the original does.
pub struct ApiRequest {
    /// The principal, if a credential was presented.
    pub auth: Option<Authenticated>,
    /// HTTP method.
    pub method: Method,
    /// The request id, on routes behind the request-id layer (for audit rows).
    pub request_id: Option<String>,
}

impl ApiRequest {
    /// The principal, or 401 "not provided".
    ///
    /// # Errors
    /// 401 when anonymous.
    pub fn principal(&self) -> Result<&Authenticated, ApiError> {
        self.auth.as_ref().ok_or_else(ApiError::not_provided)
    }

    /// A human user's id, 403 for service accounts.
    ///
    /// # Errors
    /// 401 when anonymous, 403 for a service account.
    pub fn human(&self) -> Result<(i64, &Authenticated), ApiError> {
        let a = self.principal()?;
        match a.token.principal {
            dsg_store::tokens::PrincipalRef::User(id) => Ok((id, a)),
            dsg_store::tokens::PrincipalRef::ServiceAccount(_) => Err(ApiError::forbidden()),
        }
    }

    /// 405 unless the method is one of `allowed` (HEAD counts as GET).
    ///
    /// # Errors
    /// 405 in the original's words.
    pub fn allow(&self, allowed: &[Method]) -> Result<(), ApiError> {
        let m = if self.method == Method::HEAD {
            &Method::GET
        } else {
            &self.method
        };
        if allowed.contains(m) {
            Ok(())
        } else {
            Err(ApiError::method_not_allowed(&self.method))
        }
    }
}

impl FromRequestParts<AppState> for ApiRequest {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if !accepts_json(&parts.headers) {
            return Err(ApiError::Detail(
                axum::http::StatusCode::NOT_ACCEPTABLE,
                "Could not satisfy the request Accept header.".into(),
            ));
        }
        let auth = state
            .authenticate(&parts.headers, parts.uri.query(), None)
            .await?;
        Ok(Self {
            auth,
            method: parts.method.clone(),
            request_id: parts
                .extensions
                .get::<crate::native::RequestId>()
                .map(|r| r.0.clone()),
        })
    }
}
