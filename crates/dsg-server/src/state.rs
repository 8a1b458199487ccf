//! Application state shared by every handler; no globals anywhere.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use dsg_store::{CacheEvent, Store};

use crate::cache::{Authenticated, PermissionCache, Rejection};
use crate::clock::Clock;
use crate::config::Config;
use crate::credentials::{self, Credential};
use crate::error::ApiError;
use crate::forwarded::ClientIp;

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
    /// Rate limits shared by replicas (`[rate_limit]`).
    pub limits: crate::rate_limit::RateLimiter,
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
    /// presented credential is bad (429 once `client` is over the
    /// failed-authentication limit).
    ///
    /// # Errors
    /// 401 and 429 variants; 500 on database failure.
    pub async fn authenticate(
        &self,
        headers: &HeaderMap,
        query: Option<&str>,
        service: Option<&str>,
        client: Option<ClientIp>,
    ) -> Result<Option<Authenticated>, ApiError> {
        let auth = &self.config.auth;
        match credentials::extract(headers, query, &auth.cookie_names, &auth.query_names) {
            Credential::None => Ok(None),
            Credential::Malformed => Err(self.refused(client).await),
            Credential::Token(t) => self.authenticate_token(&t, service, client).await.map(Some),
        }
    }
}

impl AppState {
    /// A presented token: a JWT from a configured issuer when it looks like
    /// one, else an opaque token looked up by hash in the cache.
    ///
    /// Failed authentications are counted per `client` only when the token
    /// is refused, and a client over that limit is refused (429) before a
    /// token-table lookup only: a token in the cache answers as always.
    ///
    /// # Errors
    /// 401 and 429 variants; 500 on database failure.
    pub async fn authenticate_token(
        &self,
        token: &str,
        service: Option<&str>,
        client: Option<ClientIp>,
    ) -> Result<Authenticated, ApiError> {
        let outcome = if self.idp.accepts_jwt() && crate::idp::jwt::looks_like_jwt(token) {
            self.authenticate_jwt(token, service).await?
        } else {
            self.cache.sync().await?;
            let limits = &self.limits;
            self.cache
                .authenticate_gated(token, service, self.clock.now(), || async move {
                    limits
                        .failed_auth_blocked(client)
                        .await
                        .map_err(ApiError::from)
                })
                .await?
        };
        match outcome {
            Ok(a) => Ok(a),
            Err(Rejection::InvalidToken) => Err(self.refused(client).await),
            Err(r) => Err(r.into()),
        }
    }

    /// The answer to an invalid token: 401, or 429 once `client` is over
    /// the failed-authentication limit.
    pub async fn refused(&self, client: Option<ClientIp>) -> ApiError {
        match self.limits.failed_auth(client).await {
            Ok(()) => Rejection::InvalidToken.into(),
            Err(l) => l.into(),
        }
    }

    /// A bearer JWT from a configured external issuer: verified, mapped to a
    /// user, and given that user's document.
    async fn authenticate_jwt(
        &self,
        token: &str,
        service: Option<&str>,
    ) -> Result<Result<Authenticated, Rejection>, ApiError> {
        let now = self.clock.now();
        let Some((principal, scope)) = self
            .idp
            .authenticate_jwt(&self.store, token, now.as_secs())
            .await?
        else {
            return Ok(Err(Rejection::InvalidToken));
        };
        self.cache.sync().await?;
        Ok(self
            .cache
            .authenticate_principal(principal, scope, token, service, now)
            .await?)
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
        // The login cookie rides along on requests other sites' pages make
        // (it is `SameSite=None` for Neuroglancer), and a bodiless form post
        // needs no CORS preflight: a change it authenticates must come from
        // this server's own pages. Bearer and query tokens are not sent by
        // browsers on their own, so they are not checked.
        if !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS)
            && credentials::from_cookie(&parts.headers, &state.config.auth.cookie_names)
            && !crate::web::csrf::origin_ok(state, &parts.headers)
        {
            return Err(ApiError::Detail(
                axum::http::StatusCode::FORBIDDEN,
                crate::error::msg::CROSS_SITE.into(),
            ));
        }
        let client = parts.extensions.get::<ClientIp>().copied();
        let auth = state
            .authenticate(&parts.headers, parts.uri.query(), None, client)
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
