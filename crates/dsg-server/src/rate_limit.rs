//! Fixed-window rate limits shared by replicas (`[rate_limit]`): login
//! (per client IP), token creation (per acting user), SCIM (per bearer
//! token, else per client IP) and failed authentications (per client IP).
//!
//! A counter is keyed by (class, subject, window start); windows start on
//! multiples of the window length, by the application clock. It lives in
//! Redis when `[redis] url` is set (`INCR` + `EXPIRE` in one `MULTI`), else
//! in the database's `rate_limit` table (one atomic upsert), so every replica
//! counts the same hits. A request over its limit is refused with 429 and
//! `Retry-After` (the seconds until the window ends), and this replica
//! remembers the refusal until then, so the subject's further requests are
//! refused without a round trip.
//!
//! When Redis fails, the database counts instead (a warning is logged, and
//! Redis is left alone for a few seconds); when the database fails too, the
//! request is let through with an error logged: a counter outage never
//! answers 500 and never blocks everyone.
//!
//! Which requests count is decided by the callers: the login handlers, the
//! token-minting handlers, the SCIM layer and the application state's
//! token authentication. Failed authentications are counted only when a
//! token is refused, and checked only before a token-table lookup, so a
//! cached valid token never waits on this module.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dsg_core::token::TokenHash;
use dsg_store::Store;
use parking_lot::Mutex;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

use crate::clock::Clock;
use crate::config::{LimitConfig, RateLimitConfig};
use crate::metrics::ClassLabels;
use crate::redis_link::Redis;

/// What is being limited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    /// Login starts and callbacks, per client IP.
    Login,
    /// Minted tokens, per acting user.
    TokenCreation,
    /// SCIM requests, per bearer token (else per client IP).
    Scim,
    /// Refused tokens, per client IP.
    FailedAuth,
    /// OpenID token-endpoint requests, per client.
    OidcToken,
}

impl Class {
    const ALL: [Self; 5] = [
        Self::Login,
        Self::TokenCreation,
        Self::Scim,
        Self::FailedAuth,
        Self::OidcToken,
    ];

    /// The name used in configuration, keys and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::TokenCreation => "token_creation",
            Self::Scim => "scim",
            Self::FailedAuth => "failed_auth",
            Self::OidcToken => "oidc_token",
        }
    }

    fn index(self) -> usize {
        match self {
            Self::Login => 0,
            Self::TokenCreation => 1,
            Self::Scim => 2,
            Self::FailedAuth => 3,
            Self::OidcToken => 4,
        }
    }
}

/// A refused request: which limit, and the seconds until its window ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    /// The limit that was hit.
    pub class: Class,
    /// Seconds until the window ends (at least 1): the `Retry-After` value.
    pub retry_after: u64,
}

/// Most refusals remembered per class; beyond it the shared counter still decides.
const MEMO_CAP: usize = 10_000;

/// How long Redis is bypassed after it failed.
const REDIS_PAUSE: Duration = Duration::from_secs(5);

/// Longest wait for Redis before counting in the database instead.
const REDIS_TIMEOUT: Duration = Duration::from_secs(1);

/// The limiter shared by every request of one server.
pub struct RateLimiter {
    config: RateLimitConfig,
    exempt: Vec<ipnet::IpNet>,
    store: Store,
    redis: Option<Redis>,
    clock: Clock,
    /// Per class: subject → refused until (Unix seconds, app clock).
    blocked: [Mutex<HashMap<Box<str>, i64>>; 5],
    refused: Family<ClassLabels, Counter>,
    started: Instant,
    /// Milliseconds after `started` until which Redis is bypassed.
    redis_paused_until: AtomicU64,
}

impl RateLimiter {
    /// A limiter over the database, or Redis when connected.
    ///
    /// # Errors
    /// A bad `rate_limit.exempt` entry, as a message.
    pub fn new(
        config: &RateLimitConfig,
        store: Store,
        redis: Option<Redis>,
        clock: Clock,
        refused: Family<ClassLabels, Counter>,
    ) -> Result<Self, String> {
        Ok(Self {
            exempt: config.exempt_nets()?,
            config: config.clone(),
            store,
            redis,
            clock,
            blocked: Default::default(),
            refused,
            started: Instant::now(),
            redis_paused_until: AtomicU64::new(0),
        })
    }

    fn limit(&self, class: Class) -> Option<LimitConfig> {
        let l = match class {
            Class::Login => self.config.login,
            Class::TokenCreation => self.config.token_creation,
            Class::Scim => self.config.scim,
            Class::FailedAuth => self.config.failed_auth,
            Class::OidcToken => self.config.oidc_token,
        };
        (self.config.enabled && l.limit > 0 && l.window_secs > 0).then_some(l)
    }

    fn ip_subject(&self, client: Option<IpAddr>) -> Option<String> {
        ip_subject(&self.exempt, client)
    }

    /// A login start or callback from `client`.
    ///
    /// # Errors
    /// Over `rate_limit.login`.
    pub async fn login(&self, client: Option<IpAddr>) -> Result<(), Limited> {
        match self.ip_subject(client) {
            Some(s) => self.hit(Class::Login, &s).await,
            None => Ok(()),
        }
    }

    /// A token about to be minted by user `user_id`.
    ///
    /// # Errors
    /// Over `rate_limit.token_creation`.
    pub async fn token_creation(&self, user_id: i64) -> Result<(), Limited> {
        self.hit(Class::TokenCreation, &user_id.to_string()).await
    }

    /// A SCIM request carrying `bearer` (counted per token, by its hash), else from `client`.
    ///
    /// # Errors
    /// Over `rate_limit.scim`.
    pub async fn scim(&self, bearer: Option<&str>, client: Option<IpAddr>) -> Result<(), Limited> {
        let subject = match bearer {
            Some(t) => Some(format!("token:{}", TokenHash::of(t).to_hex())),
            None => self.ip_subject(client).map(|ip| format!("ip:{ip}")),
        };
        match subject {
            Some(s) => self.hit(Class::Scim, &s).await,
            None => Ok(()),
        }
    }

    /// A request to the OpenID token endpoint naming `client_id`.
    ///
    /// # Errors
    /// Over `rate_limit.oidc_token`.
    pub async fn oidc_token(&self, client_id: &str) -> Result<(), Limited> {
        self.hit(Class::OidcToken, client_id).await
    }

    /// A presented token was refused: counts it against `client`.
    ///
    /// # Errors
    /// Over `rate_limit.failed_auth` (the caller answers 429 instead of 401).
    pub async fn failed_auth(&self, client: Option<IpAddr>) -> Result<(), Limited> {
        match self.ip_subject(client) {
            Some(s) => self.hit(Class::FailedAuth, &s).await,
            None => Ok(()),
        }
    }

    /// Before a token-table lookup: refuses `client` when it is over
    /// `rate_limit.failed_auth` (one read of the shared counter unless this
    /// replica already knows). Counts nothing.
    ///
    /// # Errors
    /// Over `rate_limit.failed_auth`.
    pub async fn failed_auth_blocked(&self, client: Option<IpAddr>) -> Result<(), Limited> {
        match self.ip_subject(client) {
            Some(s) => self.check(Class::FailedAuth, &s).await,
            None => Ok(()),
        }
    }

    /// Counts one request of `class` by `subject`.
    ///
    /// # Errors
    /// Over the class's limit.
    pub async fn hit(&self, class: Class, subject: &str) -> Result<(), Limited> {
        self.count(class, subject, true).await
    }

    /// Whether `subject` is already over `class`'s limit, without counting.
    ///
    /// # Errors
    /// Over the class's limit.
    pub async fn check(&self, class: Class, subject: &str) -> Result<(), Limited> {
        self.count(class, subject, false).await
    }

    async fn count(&self, class: Class, subject: &str, hit: bool) -> Result<(), Limited> {
        let Some(limit) = self.limit(class) else {
            return Ok(());
        };
        let now = self.clock.now().as_secs();
        if let Some(until) = self.remembered(class, subject, now) {
            return Err(self.refuse(class, until - now));
        }
        let window = i64::from(limit.window_secs);
        let start = now - now.rem_euclid(window);
        let end = start + window;
        let Some(n) = self.shared_count(class, subject, start, end, hit).await else {
            return Ok(());
        };
        if n > i64::from(limit.limit) {
            self.remember(class, subject, end, now);
            return Err(self.refuse(class, end - now));
        }
        Ok(())
    }

    fn refuse(&self, class: Class, secs: i64) -> Limited {
        self.refused
            .get_or_create(&ClassLabels {
                class: class.as_str(),
            })
            .inc();
        Limited {
            class,
            retry_after: u64::try_from(secs).unwrap_or(0).max(1),
        }
    }

    fn remembered(&self, class: Class, subject: &str, now: i64) -> Option<i64> {
        let memo = self.blocked[class.index()].lock();
        memo.get(subject).copied().filter(|until| *until > now)
    }

    fn remember(&self, class: Class, subject: &str, until: i64, now: i64) {
        let mut memo = self.blocked[class.index()].lock();
        if memo.len() >= MEMO_CAP {
            memo.retain(|_, u| *u > now);
        }
        if memo.len() < MEMO_CAP {
            memo.insert(subject.into(), until);
        }
    }

    /// The window's shared count (after this hit, when `hit`); `None` when
    /// neither Redis nor the database answered.
    async fn shared_count(
        &self,
        class: Class,
        subject: &str,
        start: i64,
        end: i64,
        hit: bool,
    ) -> Option<i64> {
        if let Some(redis) = self.redis.as_ref().filter(|_| self.redis_usable()) {
            let key = redis.key(&format!("ratelimit:{}:{subject}:{start}", class.as_str()));
            let ttl = end - start + 60;
            match tokio::time::timeout(REDIS_TIMEOUT, redis_count(redis, &key, ttl, hit)).await {
                Ok(Ok(n)) => return Some(n),
                Ok(Err(e)) => self.redis_failed(&e.to_string()),
                Err(_) => self.redis_failed("no answer within 1 s"),
            }
        }
        let c = class.as_str();
        let res = if hit {
            self.store.rate_limit_hit(c, subject, start, end).await
        } else {
            self.store.rate_limit_count(c, subject, start).await
        };
        match res {
            Ok(n) => Some(n),
            Err(e) => {
                tracing::error!(error = %e, class = c, "rate-limit counter unavailable; request let through");
                None
            }
        }
    }

    fn millis(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn redis_usable(&self) -> bool {
        self.millis() >= self.redis_paused_until.load(Ordering::Acquire)
    }

    fn redis_failed(&self, error: &str) {
        let until = self.millis().saturating_add(REDIS_PAUSE.as_millis() as u64);
        self.redis_paused_until.store(until, Ordering::Release);
        tracing::warn!(
            error,
            "Redis rate-limit counters failed; counting in the database for {} s",
            REDIS_PAUSE.as_secs()
        );
    }

    /// Drops memorised refusals whose window has ended (run with the prune loop).
    pub fn forget_expired(&self) {
        let now = self.clock.now().as_secs();
        for class in Class::ALL {
            self.blocked[class.index()].lock().retain(|_, u| *u > now);
        }
    }
}

/// The per-IP subject: `None` when unknown or exempt. IPv6 clients are
/// counted per /64 (one host usually holds the whole prefix).
fn ip_subject(exempt: &[ipnet::IpNet], client: Option<IpAddr>) -> Option<String> {
    let ip = match client? {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 @ IpAddr::V4(_) => v4,
    };
    if exempt.iter().any(|n| n.contains(&ip)) {
        return None;
    }
    Some(match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let seg = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", seg[0], seg[1], seg[2], seg[3])
        }
    })
}

/// `INCR` + `EXPIRE` in one transaction (or a plain `GET`) on `key`.
async fn redis_count(redis: &Redis, key: &str, ttl: i64, hit: bool) -> redis::RedisResult<i64> {
    let mut conn = redis.manager.clone();
    if hit {
        let (n,): (i64,) = redis::pipe()
            .atomic()
            .cmd("INCR")
            .arg(key)
            .cmd("EXPIRE")
            .arg(key)
            .arg(ttl)
            .ignore()
            .query_async(&mut conn)
            .await?;
        Ok(n)
    } else {
        let n: Option<i64> = redis::cmd("GET").arg(key).query_async(&mut conn).await?;
        Ok(n.unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn ip_subjects_group_ipv6_by_prefix_and_skip_exempt_ranges() {
        let exempt: Vec<ipnet::IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        assert_eq!(
            ip_subject(&exempt, ip("203.0.113.9")).as_deref(),
            Some("203.0.113.9")
        );
        assert_eq!(
            ip_subject(&exempt, ip("::ffff:203.0.113.9")).as_deref(),
            Some("203.0.113.9")
        );
        assert_eq!(
            ip_subject(&exempt, ip("2001:db8:1:2:3:4:5:6")),
            ip_subject(&exempt, ip("2001:db8:1:2:ffff::1"))
        );
        assert_eq!(
            ip_subject(&exempt, ip("2001:db8:1:2::1")).as_deref(),
            Some("2001:db8:1:2::/64")
        );
        assert_eq!(ip_subject(&exempt, ip("10.1.2.3")), None);
        assert_eq!(ip_subject(&exempt, ip("::ffff:10.1.2.3")), None);
        assert_eq!(ip_subject(&exempt, None), None);
    }
}
