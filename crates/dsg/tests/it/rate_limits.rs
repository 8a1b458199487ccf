//! Rate limits (`[rate_limit]`): login per client IP, token creation per
//! user, SCIM per bearer token (else per IP), failed authentications per IP.
//! Each trips at its limit with 429, `Retry-After` and the usual error body,
//! leaves other subjects alone, resets with the next window, and is shared
//! by replicas on one database — with the counters in the database, or in
//! Redis when `[redis] url` is set.

use dsg_server::Config;
use dsg_server::config::LimitConfig;
use dsg_testkit::store::scim_token;
use dsg_testkit::web::Visitor;
use dsg_testkit::{Backend, TestApp, spawn_app_with, user_token};
use serde_json::{Value, json};

/// Where the rate-limit counters live in a test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counters {
    /// The `rate_limit` table.
    Database,
    /// The local Redis, under a prefix of the test's own.
    Redis,
}

/// Declares `mod $name { sqlite(), postgres(), postgres_redis() }`.
macro_rules! each_store {
    ($name:ident, $body:path) => {
        mod $name {
            use super::Counters;
            use dsg_testkit::Backend;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                $body(Backend::Sqlite, Counters::Database).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                $body(Backend::Postgres, Counters::Database).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres_redis() {
                $body(Backend::Postgres, Counters::Redis).await
            }
        }
    };
}

/// Small limits, `X-Forwarded-For` believed from loopback (so a test can
/// speak from several addresses), and the counters where `counters` says.
fn configure(counters: Counters, prefix: &str) -> impl Fn(&mut Config) + Clone + use<> {
    let prefix = prefix.to_owned();
    move |c: &mut Config| {
        c.server.trusted_proxies = vec!["127.0.0.1".into()];
        c.rate_limit.login = LimitConfig::per_minute(3);
        c.rate_limit.token_creation = LimitConfig::per_minute(2);
        c.rate_limit.scim = LimitConfig::per_minute(4);
        c.rate_limit.failed_auth = LimitConfig::per_minute(3);
        if counters == Counters::Redis {
            c.redis.url = dsg_testkit::redis_url();
            c.redis.key_prefix = prefix.clone();
        }
    }
}

async fn app(backend: Backend, counters: Counters) -> TestApp {
    spawn_app_with(
        backend,
        configure(counters, &dsg_testkit::unique_redis_prefix()),
    )
    .await
    .unwrap()
}

/// `GET path` from `ip` (through the trusted loopback proxy).
async fn get(app: &TestApp, ip: &str, path: &str, token: Option<&str>) -> reqwest::Response {
    let mut r = app.client.get(app.url(path)).header("X-Forwarded-For", ip);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    r.send().await.unwrap()
}

/// Asserts a 429 with a sane `Retry-After` and returns (seconds, body).
async fn throttled(r: reqwest::Response, window: u64) -> (u64, Value) {
    assert_eq!(r.status().as_u16(), 429, "expected 429");
    let secs: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=window).contains(&secs), "Retry-After {secs}");
    let ct = r.headers()["content-type"].to_str().unwrap().to_owned();
    let body: Value = r.json().await.unwrap();
    if ct.starts_with("application/scim+json") {
        assert_eq!(
            body["schemas"],
            json!(["urn:ietf:params:scim:api:messages:2.0:Error"])
        );
        assert_eq!(body["status"], "429");
    } else {
        assert!(ct.starts_with("application/json"), "{ct}");
    }
    let detail = body["detail"].as_str().unwrap();
    assert_eq!(
        detail,
        format!(
            "Request was throttled. Expected available in {secs} second{}.",
            if secs == 1 { "" } else { "s" }
        )
    );
    (secs, body)
}

fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| {
            l.strip_prefix(series)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0.0)
}

const LOGIN_PATHS: [&str; 4] = [
    "/auth/login",
    "/api/v1/authorize",
    "/api/v1/oauth2callback",
    "/accounts/google/login/callback/",
];

async fn login_is_limited_per_client_ip(backend: Backend, counters: Counters) {
    let app = app(backend, counters).await;
    let (a, b) = ("198.51.100.1", "198.51.100.2");
    // No provider is configured: each attempt is answered 404/400, and counts.
    for path in &LOGIN_PATHS[..3] {
        let s = get(&app, a, path, None).await.status().as_u16();
        assert!(s == 404 || s == 400, "{path}: {s}");
    }
    let (secs, _) = throttled(get(&app, a, LOGIN_PATHS[3], None).await, 60).await;
    for path in LOGIN_PATHS {
        throttled(get(&app, a, path, None).await, 60).await;
    }
    // Another address has its own count; other classes are untouched.
    assert_eq!(get(&app, b, "/auth/login", None).await.status(), 404);
    assert_eq!(
        get(&app, a, "/api/v1/user/cache", Some("nope"))
            .await
            .status(),
        401
    );
    let text = app
        .get("/metrics", None)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        metric(&text, r#"dsg_rate_limited_total{class="login"}"#),
        5.0,
        "{text}"
    );
    // The next window starts afresh.
    app.clock.advance_secs(i64::try_from(secs).unwrap());
    assert_eq!(get(&app, a, "/auth/login", None).await.status(), 404);
    app.shutdown().await;
}
each_store!(
    login_is_limited_per_client_ip,
    super::login_is_limited_per_client_ip
);

fn people() -> Value {
    json!({"users": [
        {"key": "ann", "email": "ann@example.org", "tokens": [{"key": "t"}]},
        {"key": "bob", "email": "bob@example.org", "tokens": [{"key": "t"}]}
    ]})
}

async fn post(app: &TestApp, path: &str, token: &str, body: Value) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn token_creation_is_limited_per_user(backend: Backend, counters: Counters) {
    let app = app(backend, counters).await;
    let s = app.seed(people()).await.unwrap();
    let (ann, bob) = (user_token(&s, "ann", "t"), user_token(&s, "bob", "t"));
    assert_eq!(
        post(&app, "/api/v1/create_token", &ann, json!({}))
            .await
            .status(),
        200
    );
    assert_eq!(
        post(&app, "/api/v1/tokens", &ann, json!({"description": "ci"}))
            .await
            .status(),
        201
    );
    // Every way of minting a user token shares ann's count.
    let (secs, _) = throttled(
        post(&app, "/api/v1/create_token", &ann, json!({})).await,
        60,
    )
    .await;
    throttled(
        app.get("/api/v1/long_lived_token", Some(&ann))
            .await
            .unwrap(),
        60,
    )
    .await;
    throttled(
        post(&app, "/api/v1/tokens", &ann, json!({"description": "ci"})).await,
        60,
    )
    .await;
    let web = Visitor::new(&app, Some(&ann));
    let page = web
        .post(
            "/web/my-account",
            &[
                ("action", "create_token"),
                ("description", "laptop"),
                ("expires_in", "7"),
            ],
        )
        .await;
    assert_eq!(page.status, 429, "{}", page.body);
    assert!(page.headers.contains_key("retry-after"));
    assert!(page.body.contains("Too Many Requests"), "{}", page.body);
    // Reading is not minting; bob has his own count.
    assert_eq!(
        app.get("/api/v1/user/token", Some(&ann))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        app.get("/api/v1/long_lived_token", Some(&bob))
            .await
            .unwrap()
            .status(),
        200
    );
    app.clock.advance_secs(i64::try_from(secs).unwrap());
    assert_eq!(
        post(&app, "/api/v1/create_token", &ann, json!({}))
            .await
            .status(),
        200
    );
    app.shutdown().await;
}
each_store!(
    token_creation_is_limited_per_user,
    super::token_creation_is_limited_per_user
);

async fn scim_is_limited_per_token_else_per_ip(backend: Backend, counters: Counters) {
    let app = app(backend, counters).await;
    let (one, two) = (scim_token(&app, "one").await, scim_token(&app, "two").await);
    let ip = "198.51.100.7";
    for _ in 0..4 {
        assert_eq!(
            get(&app, ip, "/auth/scim/v2/Users", Some(&one))
                .await
                .status(),
            200
        );
    }
    let (secs, _) = throttled(get(&app, ip, "/auth/scim/v2/Groups", Some(&one)).await, 60).await;
    // Another token from the same address has its own count.
    assert_eq!(
        get(&app, ip, "/auth/scim/v2/Users", Some(&two))
            .await
            .status(),
        200
    );
    // Without a token, the address is counted (discovery needs none).
    for _ in 0..4 {
        assert_eq!(
            get(&app, ip, "/auth/scim/v2/ServiceProviderConfig", None)
                .await
                .status(),
            200
        );
    }
    throttled(
        get(&app, ip, "/auth/scim/v2/ServiceProviderConfig", None).await,
        60,
    )
    .await;
    assert_eq!(
        get(&app, "198.51.100.8", "/auth/scim/v2/Schemas", None)
            .await
            .status(),
        200
    );
    app.clock.advance_secs(i64::try_from(secs).unwrap());
    assert_eq!(
        get(&app, ip, "/auth/scim/v2/Users", Some(&one))
            .await
            .status(),
        200
    );
    app.shutdown().await;
}
each_store!(
    scim_is_limited_per_token_else_per_ip,
    super::scim_is_limited_per_token_else_per_ip
);

async fn failed_authentications_block_lookups_not_cached_tokens(
    backend: Backend,
    counters: Counters,
) {
    let app = app(backend, counters).await;
    let s = app.seed(people()).await.unwrap();
    let (ann, bob) = (user_token(&s, "ann", "t"), user_token(&s, "bob", "t"));
    let (x, y) = ("203.0.113.5", "203.0.113.6");
    // ann's token is now in this server's cache.
    assert_eq!(
        get(&app, x, "/api/v1/user/cache", Some(&ann))
            .await
            .status(),
        200
    );
    for bad in ["nope-1", "nope-2", "nope-3"] {
        let r = get(&app, x, "/api/v1/user/cache", Some(bad)).await;
        assert_eq!(r.status(), 401);
    }
    // Any refused token counts: the fourth is answered 429, on any endpoint.
    let (secs, _) = throttled(get(&app, x, "/api/v1/user/cache", Some("nope-4")).await, 60).await;
    throttled(get(&app, x, "/api/v1/user", Some("nope-1")).await, 60).await;
    // A cached token keeps answering from the blocked address…
    assert_eq!(
        get(&app, x, "/api/v1/user/cache", Some(&ann))
            .await
            .status(),
        200
    );
    // …but a token this server has not cached is refused before any lookup.
    let misses = app.state.cache.stats().token_misses;
    throttled(get(&app, x, "/api/v1/user/cache", Some(&bob)).await, 60).await;
    throttled(get(&app, x, "/api/v1/user/cache", Some("nope-5")).await, 60).await;
    assert_eq!(
        app.state.cache.stats().token_misses,
        misses,
        "no token-table lookup for a blocked address"
    );
    // SCIM refuses the blocked address too, in its own error format.
    throttled(get(&app, x, "/auth/scim/v2/Users", Some("nope")).await, 60).await;
    // Another address is untouched.
    assert_eq!(
        get(&app, y, "/api/v1/user/cache", Some("nope"))
            .await
            .status(),
        401
    );
    assert_eq!(
        get(&app, y, "/api/v1/user/cache", Some(&bob))
            .await
            .status(),
        200
    );
    let text = app
        .get("/metrics", None)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metric(&text, r#"dsg_rate_limited_total{class="failed_auth"}"#) >= 5.0);
    app.clock.advance_secs(i64::try_from(secs).unwrap());
    assert_eq!(
        get(&app, x, "/api/v1/user/cache", Some("nope"))
            .await
            .status(),
        401
    );
    app.shutdown().await;
}
each_store!(
    failed_authentications_block_lookups_not_cached_tokens,
    super::failed_authentications_block_lookups_not_cached_tokens
);

async fn replicas_on_one_database_share_the_counters(backend: Backend, counters: Counters) {
    let tweak = configure(counters, &dsg_testkit::unique_redis_prefix());
    let one = spawn_app_with(backend, tweak.clone()).await.unwrap();
    let two = one.spawn_replica(tweak).await.unwrap();
    let s = one.seed(people()).await.unwrap();
    let ip = "192.0.2.44";
    // Logins: two on one replica, one on the other, and both refuse the next.
    assert_eq!(get(&one, ip, "/auth/login", None).await.status(), 404);
    assert_eq!(get(&two, ip, "/auth/login", None).await.status(), 404);
    assert_eq!(get(&one, ip, "/auth/login", None).await.status(), 404);
    throttled(get(&two, ip, "/auth/login", None).await, 60).await;
    throttled(get(&one, ip, "/auth/login", None).await, 60).await;
    // Failed authentications on one replica block lookups on the other.
    for bad in ["nope-1", "nope-2", "nope-3", "nope-4"] {
        let s = get(&one, ip, "/api/v1/user/cache", Some(bad))
            .await
            .status();
        assert!(s == 401 || s == 429, "{s}");
    }
    let bob = user_token(&s, "bob", "t");
    throttled(get(&two, ip, "/api/v1/user/cache", Some(&bob)).await, 60).await;
    // Token creation, per user, across replicas.
    let ann = user_token(&s, "ann", "t");
    assert_eq!(
        post(&one, "/api/v1/create_token", &ann, json!({}))
            .await
            .status(),
        200
    );
    assert_eq!(
        post(&two, "/api/v1/create_token", &ann, json!({}))
            .await
            .status(),
        200
    );
    throttled(
        post(&one, "/api/v1/create_token", &ann, json!({})).await,
        60,
    )
    .await;
    two.shutdown().await;
    one.shutdown().await;
}
each_store!(
    replicas_on_one_database_share_the_counters,
    super::replicas_on_one_database_share_the_counters
);

async fn limits_off_or_exempt_addresses_are_never_throttled(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        configure(Counters::Database, "")(c);
        c.rate_limit.exempt = vec!["10.0.0.0/8".into()];
        c.rate_limit.scim.limit = 0;
    })
    .await
    .unwrap();
    for _ in 0..5 {
        assert_eq!(
            get(&app, "10.1.2.3", "/auth/login", None).await.status(),
            404
        );
        assert_eq!(
            get(&app, "10.1.2.3", "/api/v1/user/cache", Some("nope"))
                .await
                .status(),
            401
        );
        assert_eq!(
            get(&app, "198.51.100.9", "/auth/scim/v2/Schemas", None)
                .await
                .status(),
            200
        );
    }
    app.shutdown().await;
    let app = spawn_app_with(backend, |c| {
        configure(Counters::Database, "")(c);
        c.rate_limit.enabled = false;
    })
    .await
    .unwrap();
    for _ in 0..5 {
        assert_eq!(
            get(&app, "198.51.100.9", "/auth/login", None)
                .await
                .status(),
            404
        );
    }
    app.shutdown().await;
}
both_backends!(
    limits_off_or_exempt_addresses_are_never_throttled,
    super::limits_off_or_exempt_addresses_are_never_throttled
);

/// Sends one inline command to the local Redis and returns its reply line.
async fn redis_command(command: &str) -> String {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let mut s = tokio::net::TcpStream::connect("127.0.0.1:6379")
        .await
        .unwrap();
    s.write_all(format!("{command}\r\n").as_bytes())
        .await
        .unwrap();
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).await.unwrap();
    line
}

async fn redis_errors_fall_back_to_the_database(backend: Backend) {
    let prefix = dsg_testkit::unique_redis_prefix();
    let app = spawn_app_with(backend, configure(Counters::Redis, &prefix))
        .await
        .unwrap();
    let ip = "198.51.100.77";
    let now = app.clock.now().as_secs();
    let start = now - now % 60;
    // A value INCR refuses: every Redis count of this window fails.
    let key = format!("{prefix}:ratelimit:login:{ip}:{start}");
    assert_eq!(
        redis_command(&format!("SET {key} x EX 120")).await.trim(),
        "+OK"
    );
    for _ in 0..3 {
        assert_eq!(get(&app, ip, "/auth/login", None).await.status(), 404);
    }
    throttled(get(&app, ip, "/auth/login", None).await, 60).await;
    assert_eq!(
        app.store
            .rate_limit_count("login", ip, start)
            .await
            .unwrap(),
        4,
        "the database counted instead"
    );
    app.shutdown().await;
}
both_backends!(
    redis_errors_fall_back_to_the_database,
    super::redis_errors_fall_back_to_the_database
);
