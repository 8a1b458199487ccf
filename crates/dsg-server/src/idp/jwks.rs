//! A cached JSON Web Key Set: loaded at start (or lazily), refreshed in the
//! background, and re-fetched on an unknown `kid` — at most once per `kid`
//! per minute and a few times a minute overall, so a stream of forged `kid`s
//! cannot turn the server into a load generator against the issuer.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{Jwk, JwkSet};
use parking_lot::{Mutex, RwLock};

const PER_KID_INTERVAL: Duration = Duration::from_secs(60);
const GLOBAL_WINDOW: Duration = Duration::from_secs(60);
const GLOBAL_MAX: usize = 6;

/// Keys of one issuer.
pub struct JwksCache {
    uri: RwLock<Option<String>>,
    keys: RwLock<Option<Arc<JwkSet>>>,
    last_error: RwLock<Option<String>>,
    refetches: Mutex<(VecDeque<Instant>, HashMap<String, Instant>)>,
    fetch_lock: tokio::sync::Mutex<()>,
    /// Completed fetches: (succeeded, failed), for `/metrics`.
    fetches: (AtomicU64, AtomicU64),
}

impl JwksCache {
    /// An empty cache; `uri` may be set later (after discovery).
    pub fn new(uri: Option<String>) -> Self {
        Self {
            uri: RwLock::new(uri),
            keys: RwLock::new(None),
            last_error: RwLock::new(None),
            refetches: Mutex::new((VecDeque::new(), HashMap::new())),
            fetch_lock: tokio::sync::Mutex::new(()),
            fetches: (AtomicU64::new(0), AtomicU64::new(0)),
        }
    }

    /// Sets the JWKS URL (from discovery).
    pub fn set_uri(&self, uri: String) {
        *self.uri.write() = Some(uri);
    }

    /// True once a key set has been loaded.
    pub fn loaded(&self) -> bool {
        self.keys.read().is_some()
    }

    /// How many fetches of the key set succeeded and failed so far.
    pub fn fetch_counts(&self) -> (u64, u64) {
        (
            self.fetches.0.load(Ordering::Relaxed),
            self.fetches.1.load(Ordering::Relaxed),
        )
    }

    /// Why the last fetch failed, if it did.
    pub fn last_error(&self) -> Option<String> {
        self.last_error.read().clone()
    }

    /// Fetches the key set now.
    ///
    /// # Errors
    /// No URL yet, transport failure, or a body that is not a JWKS.
    pub async fn refresh(&self, http: &reqwest::Client) -> Result<(), String> {
        let _one_at_a_time = self.fetch_lock.lock().await;
        let Some(uri) = self.uri.read().clone() else {
            return Err("issuer not discovered yet".into());
        };
        let result = async {
            let r = http
                .get(&uri)
                .send()
                .await
                .map_err(|e| format!("GET {uri}: {e}"))?;
            if !r.status().is_success() {
                return Err(format!("GET {uri}: HTTP {}", r.status()));
            }
            r.json::<JwkSet>()
                .await
                .map_err(|e| format!("{uri}: not a JSON Web Key Set: {e}"))
        }
        .await;
        match result {
            Ok(set) => {
                *self.keys.write() = Some(Arc::new(set));
                *self.last_error.write() = None;
                self.fetches.0.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => {
                *self.last_error.write() = Some(e.clone());
                self.fetches.1.fetch_add(1, Ordering::Relaxed);
                Err(e)
            }
        }
    }

    fn find(&self, kid: Option<&str>) -> Option<Jwk> {
        let keys = self.keys.read();
        let set = keys.as_ref()?;
        match kid {
            Some(k) => set.find(k).cloned(),
            // No kid: acceptable only when the set has exactly one key.
            None if set.keys.len() == 1 => set.keys.first().cloned(),
            None => None,
        }
    }

    fn may_refetch(&self, kid: &str) -> bool {
        let now = Instant::now();
        let mut g = self.refetches.lock();
        let (recent, per_kid) = &mut *g;
        while recent
            .front()
            .is_some_and(|t| now.duration_since(*t) > GLOBAL_WINDOW)
        {
            recent.pop_front();
        }
        per_kid.retain(|_, t| now.duration_since(*t) < PER_KID_INTERVAL);
        if recent.len() >= GLOBAL_MAX || per_kid.contains_key(kid) {
            return false;
        }
        recent.push_back(now);
        per_kid.insert(kid.to_owned(), now);
        true
    }

    /// The key for `kid`, re-fetching the set once when it is unknown (rate-limited).
    pub async fn key(&self, http: &reqwest::Client, kid: Option<&str>) -> Option<Jwk> {
        if let Some(k) = self.find(kid) {
            return Some(k);
        }
        let label = kid.unwrap_or("");
        if !self.may_refetch(label) {
            return None;
        }
        if let Err(e) = self.refresh(http).await {
            tracing::warn!(error = %e, "re-fetching signing keys failed");
        }
        self.find(kid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forged_kids_cause_at_most_six_refetches_a_minute_and_one_per_kid() {
        let c = JwksCache::new(None);
        assert!(c.may_refetch("a"));
        assert!(!c.may_refetch("a"), "the same kid again within a minute");
        for k in ["b", "c", "d", "e", "f"] {
            assert!(c.may_refetch(k), "{k}");
        }
        assert!(!c.may_refetch("g"), "a seventh kid within a minute");
    }
}
