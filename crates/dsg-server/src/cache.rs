//! The permission cache behind `GET /api/v1/user/cache`.
//!
//! Two levels, both keyed without the plaintext token:
//! * **tokens**: SHA-256(token) → owner, expiry, scope (or "unknown");
//! * **documents**: (principal, scope, service) → the pre-serialised JSON body.
//!
//! Many tokens of one user share one document, which keeps memory flat.
//!
//! Freshness is exact, not TTL-based. Every mutation commits cache events to
//! the database outbox in its own transaction. Invalidation bumps counters:
//! a per-principal generation (hashed into a fixed array of slots), a
//! per-token generation, and one global epoch for shared facts. An entry
//! records the counters it was loaded under (read *before* the load), and
//! counts as a hit only while they are unchanged, so a load that raced a
//! change is never served. On SQLite, [`PermissionCache::sync`] checks the
//! outbox's newest sequence number (a few microseconds) before each request,
//! so a change committed by another process shows on the very next request.
//! On PostgreSQL a listener (`NOTIFY dsg_cache`) and a short poll do the same
//! within well under a second on every replica.

use std::hash::{BuildHasher, Hash};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use bytes::Bytes;
use dsg_core::Timestamp;
use dsg_core::permissions::authority::Authority;
use dsg_core::permissions::{
    Catalog, EvalContext, PrincipalFacts, TokenScope, evaluate_service_account, evaluate_user,
};
use dsg_core::token::TokenHash;
use dsg_store::events::SeqEvent;
use dsg_store::probe::ChangeProbe;
use dsg_store::tokens::{PrincipalRef, TokenRecord, TokenTable};
use dsg_store::{CacheEvent, Store, StoreError};
use parking_lot::{Mutex, RwLock};

use crate::config::CacheConfig;

const SLOTS: usize = 4096;

/// Why a credential did not authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// Unknown, expired or malformed token.
    InvalidToken,
    /// The user is disabled.
    UserDisabled,
    /// The service account is disabled.
    ServiceAccountDisabled,
}

/// What a cached principal is, beyond its JSON document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrincipalInfo {
    /// Who.
    pub principal: PrincipalRef,
    /// E-mail (synthetic for service accounts).
    pub email: String,
    /// Global admin (false for service accounts and read-only tokens).
    pub admin: bool,
}

/// A cached permission document.
#[derive(Debug)]
pub struct Document {
    /// Serialised `user/cache` body.
    pub body: Bytes,
    /// What the document says about the principal's authority, typed (the
    /// use-case layer decides from this, never from the bytes).
    pub authority: Authority,
    /// Who it describes.
    pub info: PrincipalInfo,
    /// The facts it was computed from (per-entry decisions read them).
    pub facts: PrincipalFacts,
    generation: u64,
    epoch: u64,
    valid_until: Option<Timestamp>,
}

/// A cached token lookup, stored inline (no per-entry allocation beyond a
/// scoped token's dataset list).
#[derive(Debug, Clone)]
struct TokenEntry {
    record: Option<TokenRecord>,
    generation: u64,
    epoch: u64,
    /// Last `last_used` mark, in seconds (the entry is re-inserted when it moves).
    marked: i64,
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct DocKey {
    principal: PrincipalRef,
    scope: TokenScope,
    service: Option<Box<str>>,
}

/// A successful authentication.
#[derive(Debug, Clone)]
pub struct Authenticated {
    /// The document for this token (scope and service applied).
    pub document: Arc<Document>,
    /// The token as stored.
    pub token: TokenRecord,
    /// Its hash.
    pub hash: TokenHash,
}

/// Failure of the cache: a database error.
pub type CacheResult<T> = Result<T, StoreError>;

/// The cache, shared by all request handlers of one server.
pub struct PermissionCache {
    store: Store,
    probe: Option<ChangeProbe>,
    tokens: quick_cache::sync::Cache<TokenHash, TokenEntry>,
    documents: quick_cache::sync::Cache<DocKey, Arc<Document>>,
    principal_gens: Box<[AtomicU64]>,
    token_gens: Box<[AtomicU64]>,
    epoch: AtomicU64,
    catalog: RwLock<Option<(u64, Arc<Catalog>)>>,
    seen_seq: AtomicI64,
    catch_up: tokio::sync::Mutex<()>,
    hasher: std::collections::hash_map::RandomState,
    last_used: Mutex<Vec<(TokenTable, i64, Timestamp)>>,
    last_used_resolution: i64,
    stats: Stats,
    feed: Feed,
}

/// When the outbox was last replayed, and which doorbells are connected:
/// how `/readyz` judges the freshness of decisions.
#[derive(Debug)]
struct Feed {
    started: std::time::Instant,
    /// Milliseconds after `started` of the last complete replay; `u64::MAX` before the first.
    caught_up_ms: AtomicU64,
    pg_listen: std::sync::atomic::AtomicU8,
    redis_sub: std::sync::atomic::AtomicU8,
}

/// The state of one doorbell connection (PostgreSQL `LISTEN`, Redis subscription).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// The first connection attempt since start is still under way.
    Never,
    /// Connected.
    Up,
    /// Down (lost, or the first attempt failed); being retried.
    Lost,
}

impl Link {
    fn load(cell: &std::sync::atomic::AtomicU8) -> Self {
        match cell.load(Ordering::Acquire) {
            1 => Self::Up,
            2 => Self::Lost,
            _ => Self::Never,
        }
    }

    fn store(cell: &std::sync::atomic::AtomicU8, up: bool) {
        cell.store(if up { 1 } else { 2 }, Ordering::Release);
    }
}

/// The cache's view of the change feed, for `/readyz`.
#[derive(Debug, Clone, Copy)]
pub struct FeedStatus {
    /// Time since the outbox was last replayed completely; `None` before the first replay.
    pub caught_up_ago: Option<std::time::Duration>,
    /// PostgreSQL's `LISTEN` connection.
    pub pg_listen: Link,
    /// The Redis invalidation channel's subscription.
    pub redis_sub: Link,
}

/// What the cache has done since start, for `/metrics`.
#[derive(Debug, Default)]
struct Stats {
    token_hits: AtomicU64,
    token_misses: AtomicU64,
    document_hits: AtomicU64,
    document_misses: AtomicU64,
    invalidations: AtomicU64,
}

/// A snapshot of the cache's counters.
#[derive(Debug, Clone, Copy, Default)]
pub struct CacheStats {
    /// Token lookups answered from memory.
    pub token_hits: u64,
    /// Token lookups that went to the database.
    pub token_misses: u64,
    /// Permission documents served from memory.
    pub document_hits: u64,
    /// Permission documents built from the database.
    pub document_misses: u64,
    /// Invalidation events applied (own commits, outbox replays, NOTIFY).
    pub invalidations: u64,
    /// Tokens held.
    pub tokens: u64,
    /// Documents held.
    pub documents: u64,
}

fn capacity(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX).max(1)
}

fn slots() -> Box<[AtomicU64]> {
    (0..SLOTS).map(|_| AtomicU64::new(0)).collect()
}

impl PermissionCache {
    /// Builds an empty cache and remembers the outbox position to start from.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn new(store: Store, config: &CacheConfig) -> CacheResult<Self> {
        let probe = store.quick_reads().map(ChangeProbe::new);
        let seen = store.latest_event_seq().await?;
        Ok(Self {
            probe,
            tokens: quick_cache::sync::Cache::new(capacity(config.max_tokens)),
            documents: quick_cache::sync::Cache::new(capacity(config.max_documents)),
            principal_gens: slots(),
            token_gens: slots(),
            epoch: AtomicU64::new(0),
            catalog: RwLock::new(None),
            seen_seq: AtomicI64::new(seen),
            catch_up: tokio::sync::Mutex::new(()),
            hasher: std::collections::hash_map::RandomState::new(),
            last_used: Mutex::new(Vec::new()),
            last_used_resolution: config.last_used_resolution_secs.max(1),
            stats: Stats::default(),
            feed: Feed {
                started: std::time::Instant::now(),
                caught_up_ms: AtomicU64::new(u64::MAX),
                pg_listen: std::sync::atomic::AtomicU8::new(0),
                redis_sub: std::sync::atomic::AtomicU8::new(0),
            },
            store,
        })
    }

    fn slot<T: Hash>(&self, key: &T) -> usize {
        (self.hasher.hash_one(key) as usize) % SLOTS
    }

    fn principal_gen(&self, p: &PrincipalRef) -> u64 {
        self.principal_gens[self.slot(p)].load(Ordering::Acquire)
    }

    fn token_gen(&self, h: &TokenHash) -> u64 {
        self.token_gens[self.slot(h)].load(Ordering::Acquire)
    }

    /// Applies invalidation events (from this process or replayed from the outbox).
    pub fn apply(&self, events: &[CacheEvent]) {
        self.stats
            .invalidations
            .fetch_add(events.len() as u64, Ordering::Relaxed);
        for ev in events {
            match ev {
                CacheEvent::User(id) => {
                    let p = PrincipalRef::User(*id);
                    self.principal_gens[self.slot(&p)].fetch_add(1, Ordering::AcqRel);
                }
                CacheEvent::ServiceAccount(id) => {
                    let p = PrincipalRef::ServiceAccount(*id);
                    self.principal_gens[self.slot(&p)].fetch_add(1, Ordering::AcqRel);
                }
                CacheEvent::Token(h) => {
                    self.token_gens[self.slot(h)].fetch_add(1, Ordering::AcqRel);
                    self.tokens.remove(h);
                }
                CacheEvent::All => {
                    self.epoch.fetch_add(1, Ordering::AcqRel);
                }
            }
        }
    }

    /// Drops everything (e.g. after losing the PostgreSQL listener).
    pub fn flush(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.tokens.clear();
        self.documents.clear();
    }

    /// SQLite: replays outbox rows committed by anyone since the last look,
    /// before a request is answered. A no-op on PostgreSQL (the listener does it).
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn sync(&self) -> CacheResult<()> {
        let Some(probe) = &self.probe else {
            return Ok(());
        };
        let latest = probe.latest_seq()?;
        if latest > self.seen_seq.load(Ordering::Acquire) {
            self.catch_up().await?;
        }
        Ok(())
    }

    /// Records whether the PostgreSQL listener is connected.
    pub fn set_listening(&self, up: bool) {
        Link::store(&self.feed.pg_listen, up);
    }

    /// Records whether the Redis invalidation channel is subscribed.
    pub fn set_redis_subscribed(&self, up: bool) {
        Link::store(&self.feed.redis_sub, up);
    }

    /// How fresh this cache's knowledge of other processes' changes is.
    pub fn feed_status(&self) -> FeedStatus {
        let ms = self.feed.caught_up_ms.load(Ordering::Acquire);
        FeedStatus {
            caught_up_ago: (ms != u64::MAX).then(|| {
                self.feed
                    .started
                    .elapsed()
                    .saturating_sub(std::time::Duration::from_millis(ms))
            }),
            pg_listen: Link::load(&self.feed.pg_listen),
            redis_sub: Link::load(&self.feed.redis_sub),
        }
    }

    /// Replays every outbox row newer than the last one seen.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn catch_up(&self) -> CacheResult<()> {
        let _guard = self.catch_up.lock().await;
        loop {
            let seen = self.seen_seq.load(Ordering::Acquire);
            let batch: Vec<SeqEvent> = self.store.events_since(seen).await?;
            let Some(last) = batch.last().map(|e| e.seq) else {
                let ms = u64::try_from(self.feed.started.elapsed().as_millis()).unwrap_or(u64::MAX);
                self.feed.caught_up_ms.store(ms, Ordering::Release);
                return Ok(());
            };
            let events: Vec<CacheEvent> = batch.into_iter().map(|e| e.event).collect();
            self.apply(&events);
            self.seen_seq.store(last, Ordering::Release);
        }
    }

    async fn catalog(&self, epoch: u64) -> CacheResult<Arc<Catalog>> {
        if let Some((e, c)) = self.catalog.read().as_ref()
            && *e == epoch
        {
            return Ok(c.clone());
        }
        let c = Arc::new(self.store.load_catalog().await?);
        let mut slot = self.catalog.write();
        // Keep the newest load if two raced.
        if slot.as_ref().is_none_or(|(e, _)| *e <= epoch) {
            *slot = Some((epoch, c.clone()));
        }
        Ok(c)
    }

    /// The shared catalog as of now (cached until shared facts change).
    ///
    /// # Errors
    /// Database failure.
    pub async fn current_catalog(&self) -> CacheResult<Arc<Catalog>> {
        self.catalog(self.epoch.load(Ordering::Acquire)).await
    }

    /// The token's entry: from memory when fresh, else `before_lookup` runs
    /// (the failed-authentication gate) and the token table is read.
    async fn token<E, F, Fut>(&self, hash: &TokenHash, before_lookup: F) -> Result<TokenEntry, E>
    where
        E: From<StoreError>,
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<(), E>>,
    {
        let epoch = self.epoch.load(Ordering::Acquire);
        let generation = self.token_gen(hash);
        if let Some(e) = self.tokens.get(hash)
            && e.generation == generation
            && e.epoch == epoch
        {
            self.stats.token_hits.fetch_add(1, Ordering::Relaxed);
            return Ok(e);
        }
        before_lookup().await?;
        self.stats.token_misses.fetch_add(1, Ordering::Relaxed);
        let record = self.store.lookup_token(hash).await?;
        let entry = TokenEntry {
            record,
            generation,
            epoch,
            marked: i64::MIN,
        };
        self.tokens.insert(*hash, entry.clone());
        Ok(entry)
    }

    /// Authenticates a presented credential and returns its document.
    ///
    /// # Errors
    /// `Ok(Err(rejection))` for a refused credential; `Err` for a database failure.
    pub async fn authenticate(
        &self,
        presented: &str,
        service: Option<&str>,
        now: Timestamp,
    ) -> CacheResult<Result<Authenticated, Rejection>> {
        self.authenticate_gated(presented, service, now, || async { Ok(()) })
            .await
    }

    /// As [`PermissionCache::authenticate`], running `before_lookup` first
    /// when the token is not in memory (only then: a cached token costs
    /// nothing extra). Its error is returned as is.
    ///
    /// # Errors
    /// `Ok(Err(rejection))` for a refused credential; `Err` for a database
    /// failure or from `before_lookup`.
    pub async fn authenticate_gated<E, F, Fut>(
        &self,
        presented: &str,
        service: Option<&str>,
        now: Timestamp,
        before_lookup: F,
    ) -> Result<Result<Authenticated, Rejection>, E>
    where
        E: From<StoreError>,
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<(), E>>,
    {
        let hash = TokenHash::of(presented);
        let entry = self.token(&hash, before_lookup).await?;
        let Some(record) = entry.record.as_ref() else {
            return Ok(Err(Rejection::InvalidToken));
        };
        if record.expires_at.is_some_and(|t| now >= t) {
            return Ok(Err(Rejection::InvalidToken));
        }
        let document = match self.document(record, service, now).await? {
            Ok(d) => d,
            Err(r) => return Ok(Err(r)),
        };
        self.mark_used(&hash, &entry, record, now);
        Ok(Ok(Authenticated {
            document,
            token: record.clone(),
            hash,
        }))
    }

    /// Authenticates an already verified principal (a bearer JWT): its
    /// unscoped document, keyed by the hash of what was presented.
    ///
    /// # Errors
    /// `Ok(Err(rejection))` for a disabled or unknown principal; `Err` for a database failure.
    pub async fn authenticate_principal(
        &self,
        principal: PrincipalRef,
        scope: TokenScope,
        presented: &str,
        service: Option<&str>,
        now: Timestamp,
    ) -> CacheResult<Result<Authenticated, Rejection>> {
        let record = TokenRecord {
            token_id: 0,
            principal,
            expires_at: None,
            scope,
            long_lived: false,
        };
        Ok(match self.document(&record, service, now).await? {
            Ok(document) => Ok(Authenticated {
                document,
                token: record,
                hash: TokenHash::of(presented),
            }),
            Err(r) => Err(r),
        })
    }

    fn mark_used(
        &self,
        hash: &TokenHash,
        entry: &TokenEntry,
        record: &TokenRecord,
        now: Timestamp,
    ) {
        let secs = now.as_secs();
        if secs.saturating_sub(entry.marked) < self.last_used_resolution {
            return;
        }
        // Re-insert with the new mark (at most once per resolution window; two
        // racing requests may both queue a mark, which is harmless).
        self.tokens.insert(
            *hash,
            TokenEntry {
                marked: secs,
                ..entry.clone()
            },
        );
        let table = match record.principal {
            PrincipalRef::User(_) => TokenTable::User,
            PrincipalRef::ServiceAccount(_) => TokenTable::ServiceAccount,
        };
        self.last_used
            .lock()
            .push((table, record.token_id, Timestamp::from_secs(secs)));
    }

    /// Takes the pending `last_used` marks for a batched write.
    pub fn drain_last_used(&self) -> Vec<(TokenTable, i64, Timestamp)> {
        std::mem::take(&mut *self.last_used.lock())
    }

    /// The document of a principal (not via a token; e.g. `/user/{id}/permissions`).
    ///
    /// # Errors
    /// Database failure.
    pub async fn document_for(
        &self,
        principal: PrincipalRef,
        now: Timestamp,
    ) -> CacheResult<Option<Arc<Document>>> {
        let record = TokenRecord {
            token_id: 0,
            principal,
            expires_at: None,
            scope: TokenScope::default(),
            long_lived: false,
        };
        Ok(match self.document(&record, None, now).await? {
            Ok(d) => Some(d),
            // Disabled principals still have a document; missing ones do not.
            Err(Rejection::UserDisabled | Rejection::ServiceAccountDisabled) => {
                self.build(&record, None, now, true).await?.ok()
            }
            Err(Rejection::InvalidToken) => None,
        })
    }

    async fn document(
        &self,
        record: &TokenRecord,
        service: Option<&str>,
        now: Timestamp,
    ) -> CacheResult<Result<Arc<Document>, Rejection>> {
        let key = DocKey {
            principal: record.principal,
            scope: record.scope.clone(),
            service: service.map(Into::into),
        };
        let epoch = self.epoch.load(Ordering::Acquire);
        let generation = self.principal_gen(&record.principal);
        if let Some(d) = self.documents.get(&key)
            && d.generation == generation
            && d.epoch == epoch
            && d.valid_until.is_none_or(|t| now < t)
        {
            self.stats.document_hits.fetch_add(1, Ordering::Relaxed);
            return Ok(Ok(d));
        }
        self.stats.document_misses.fetch_add(1, Ordering::Relaxed);
        let built = self.build(record, service, now, false).await?;
        if let Ok(doc) = &built {
            self.documents.insert(key, doc.clone());
        }
        Ok(built)
    }

    async fn build(
        &self,
        record: &TokenRecord,
        service: Option<&str>,
        now: Timestamp,
        allow_disabled: bool,
    ) -> CacheResult<Result<Arc<Document>, Rejection>> {
        // Counters first: a change landing during the load leaves this entry stale.
        let epoch = self.epoch.load(Ordering::Acquire);
        let generation = self.principal_gen(&record.principal);
        let catalog = self.catalog(epoch).await?;
        let ctx = EvalContext {
            now,
            service,
            scope: &record.scope,
        };
        let (evaluation, info, facts) = match record.principal {
            PrincipalRef::User(id) => {
                let Some(user) = self.store.load_user(id).await? else {
                    return Ok(Err(Rejection::InvalidToken));
                };
                if !user.active && !allow_disabled {
                    return Ok(Err(Rejection::UserDisabled));
                }
                let e = evaluate_user(&catalog, &user.facts, &ctx);
                let info = PrincipalInfo {
                    principal: record.principal,
                    email: user.facts.email.clone(),
                    admin: e.document.admin,
                };
                (e, info, PrincipalFacts::User(user.facts))
            }
            PrincipalRef::ServiceAccount(id) => {
                let Some(sa) = self.store.load_service_account(id).await? else {
                    return Ok(Err(Rejection::InvalidToken));
                };
                if !sa.active && !allow_disabled {
                    return Ok(Err(Rejection::ServiceAccountDisabled));
                }
                let info = PrincipalInfo {
                    principal: record.principal,
                    email: sa.facts.email.clone(),
                    admin: false,
                };
                let e = evaluate_service_account(&catalog, &sa.facts, &ctx);
                (e, info, PrincipalFacts::ServiceAccount(sa.facts))
            }
        };
        let body = serde_json::to_vec(&evaluation.document).map_err(|e| {
            StoreError::Config(format!("cannot serialise a permission document: {e}"))
        })?;
        let authority = Authority::of(
            &evaluation.document,
            matches!(record.principal, PrincipalRef::ServiceAccount(_)),
        );
        Ok(Ok(Arc::new(Document {
            authority,
            // Exact-size copy: to_vec leaves up to twice the capacity, and a
            // cache of 100k documents would keep all of it.
            body: Bytes::copy_from_slice(&body),
            info,
            facts,
            generation,
            epoch,
            valid_until: evaluation.valid_until,
        })))
    }

    /// The counters since start and the entries held, for `/metrics`.
    pub fn stats(&self) -> CacheStats {
        let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let (tokens, documents) = self.sizes();
        CacheStats {
            token_hits: n(&self.stats.token_hits),
            token_misses: n(&self.stats.token_misses),
            document_hits: n(&self.stats.document_hits),
            document_misses: n(&self.stats.document_misses),
            invalidations: n(&self.stats.invalidations),
            tokens: tokens as u64,
            documents: documents as u64,
        }
    }

    /// Entry counts (tokens, documents), for metrics and tests.
    pub fn sizes(&self) -> (usize, usize) {
        (self.tokens.len(), self.documents.len())
    }
}
