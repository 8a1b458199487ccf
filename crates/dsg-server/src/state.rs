//! Application state shared by every handler; no globals anywhere.

use std::sync::Arc;

use dsg_store::{CacheEvent, Store};

use crate::cache::PermissionCache;
use crate::clock::Clock;
use crate::config::Config;

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
    /// Google Cloud Storage credentials (`/gcs_token`, bucket IAM sync).
    pub gcs: crate::gcs::Gcs,
    /// Web origins allowed to use the Neuroglancer endpoints.
    pub ngauth_origins: crate::config::origins::AllowedOrigins,
    /// HMAC key of the Neuroglancer user token.
    pub ngauth_key: crate::keys::TokenKey,
    /// The key long-lived tokens and delegated keys are derived from.
    pub derivation_key: crate::keys::DerivationKey,
    /// The key sealing the OpenID provider's signing keys in the database.
    pub sealing_key: crate::signing::SealingKey,
    /// The OpenID provider's published keys, cached.
    pub oidc_keys: crate::signing::KeyRing,
    /// Identity providers (login, JWT bearer issuers).
    pub idp: Arc<crate::idp::Registry>,
    /// Prometheus metric families.
    pub metrics: crate::metrics::Metrics,
    /// `server.trusted_proxies`, parsed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The OpenAPI document and Swagger UI settings.
    pub docs: ApiDocs,
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
}

/// The OpenAPI document and the Swagger UI settings, built once at start-up
/// (by the OpenAPI module, which knows every front-end) and served from memory.
pub struct ApiDocs {
    /// `/openapi.json`.
    pub document: bytes::Bytes,
    /// Swagger UI configuration.
    pub ui: Arc<utoipa_swagger_ui::Config<'static>>,
    /// The UI's Content-Security-Policy.
    pub csp: axum::http::HeaderValue,
}
