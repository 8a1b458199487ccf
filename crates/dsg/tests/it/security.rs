//! Cross-cutting security claims of `docs/security.md` that no feature's own
//! tests pin: no CORS grant outside ngauth, cookie attributes per mode and
//! HSTS, open-redirect attempts at every entry point, tokens stored only as
//! SHA-256 and never shown again (not even to a global admin), tokens never
//! in the log, changes authenticated by the login cookie refused when another
//! site asks for them, and `dsg config check` printing no secret.

use std::time::Duration;

use dsg_core::token::TokenHash;
use dsg_testkit::cli::{dsg, run_dsg};
use dsg_testkit::idp::{BROWSER_CB, SECRET, browser, drive, set_cookie, start_idp};
use dsg_testkit::native::{call, world};
use dsg_testkit::store::{dump, scim_token};
use dsg_testkit::web::{Visitor, csrf_of};
use dsg_testkit::{Backend, TestApp, spawn_app, spawn_app_with, user_token};
use reqwest::Method;
use serde_json::{Value, json};

/// A client without a cookie jar or redirects: every header is the test's.
fn bare() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// The attributes of a `Set-Cookie` value: everything after `name=value; `.
fn attributes(set_cookie: &str) -> &str {
    set_cookie.split_once("; ").map_or("", |(_, a)| a)
}

/// The value of a `Set-Cookie`.
fn value(set_cookie: &str) -> &str {
    set_cookie
        .split_once('=')
        .map_or("", |(_, v)| v)
        .split(';')
        .next()
        .unwrap_or("")
}

fn cors_headers(r: &reqwest::Response) -> Vec<String> {
    r.headers()
        .keys()
        .map(|k| k.as_str().to_owned())
        .filter(|k| k.starts_with("access-control-"))
        .collect()
}

/// Rows of one query, on either backend.
async fn query_bytes(app: &TestApp, sql: &str) -> Vec<(Vec<u8>, String)> {
    match app.store.db() {
        dsg_store::Db::Sqlite(p) => sqlx::query_as(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_all(p)
            .await
            .unwrap(),
        dsg_store::Db::Postgres(p) => sqlx::query_as(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_all(p)
            .await
            .unwrap(),
    }
}

/// Everything the database holds, as text to search: the SQLite file and
/// its write-ahead log byte for byte, or every PostgreSQL row as JSON.
async fn database_contents(app: &TestApp) -> String {
    match app.store.db() {
        dsg_store::Db::Sqlite(_) => {
            let mut out = Vec::new();
            for suffix in ["", "-wal"] {
                if let Ok(b) = std::fs::read(format!("{}{suffix}", app.database_url)) {
                    out.extend(b);
                }
            }
            String::from_utf8_lossy(&out).into_owned()
        }
        dsg_store::Db::Postgres(_) => {
            let tables = dump(app).await;
            assert!(tables.len() > 10, "{:?}", tables.keys());
            tables
                .into_values()
                .flatten()
                .collect::<Vec<_>>()
                .join("\n")
        }
    }
}

/// Mints a token through every way there is (API, web-equivalent native
/// API, service-account API, SCIM, CLI) besides the seeded ones; returns
/// every plaintext with the table that must hold its hash.
async fn tokens_of_every_kind(app: &TestApp, s: &Value) -> Vec<(&'static str, String)> {
    let lead = user_token(s, "lead", "t");
    let root = user_token(s, "root", "t");
    let mut out = vec![
        ("api_key", lead.clone()),
        ("api_key", root.clone()),
        (
            "service_account_token",
            s["service_accounts"]["ci"]["tokens"]["t"]
                .as_str()
                .unwrap()
                .to_owned(),
        ),
    ];
    let (st, v) = call(app, "POST", "/api/v1/create_token", &lead, None).await;
    assert_eq!(st, 200, "{v}");
    out.push(("api_key", v.as_str().unwrap().to_owned()));
    let (st, v) = call(app, "GET", "/api/v1/long_lived_token", &lead, None).await;
    assert_eq!(st, 200, "{v}");
    out.push(("api_key", v["token"].as_str().unwrap().to_owned()));
    let (st, v) = call(
        app,
        "POST",
        "/api/v1/tokens",
        &lead,
        Some(json!({"read_only": true, "datasets": ["fish2"]})),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    out.push(("api_key", v["token"].as_str().unwrap().to_owned()));
    let (st, v) = call(
        app,
        "POST",
        "/api/v1/service-accounts/ci-bot/tokens",
        &root,
        Some(json!({"description": "nightly"})),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    out.push((
        "service_account_token",
        v["token"].as_str().unwrap().to_owned(),
    ));
    out.push(("scim_token", scim_token(app, "okta").await));
    let (ok, stdout, err) = dsg(
        app,
        &["token", "create", "--user", "lead@example.org"],
        None,
    );
    assert!(ok, "{stdout}{err}");
    out.push(("api_key", stdout.trim().to_owned()));
    out
}

// ---- CORS ----

/// Nothing but ngauth's `/token` and `/gcs_token` grants CORS, whatever the
/// origin (even one ngauth allows) and for preflights too; those two echo the
/// exact origin, never `*`. Every answer carries the framing, sniffing and
/// referrer headers.
async fn only_ngauth_answers_carry_cors_headers(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app.seed(world()).await.unwrap();
    let root = user_token(&s, "root", "t");
    let scim = scim_token(&app, "okta").await;
    let paths = [
        "/api/v1/user/cache",
        "/auth/api/v1/user/cache",
        "/api/v1/create_token",
        "/api/v1/long_lived_token",
        "/api/v1/datasets",
        "/api/v1/tokens",
        "/api/v1/logout",
        "/api/v1/authorize",
        "/auth/scim/v2/Users",
        "/auth/scim/v2/ServiceProviderConfig",
        "/web/datasets",
        "/admin/",
        "/metrics",
        "/openapi.json",
        "/docs/",
        "/readyz",
        "/",
        "/login",
        "/nonexistent",
    ];
    let client = bare();
    for origin in ["https://evil.example", "https://app.neuroglancer.org"] {
        for path in paths {
            let token = if path.starts_with("/auth/scim") {
                &scim
            } else {
                &root
            };
            let r = client
                .get(app.url(path))
                .bearer_auth(token)
                .header("origin", origin)
                .send()
                .await
                .unwrap();
            assert!(r.status().as_u16() < 500, "GET {path}: {}", r.status());
            assert_eq!(
                cors_headers(&r),
                Vec::<String>::new(),
                "GET {path} {origin}"
            );
            let h = |n: &str| {
                r.headers()
                    .get(n)
                    .map(|v| v.to_str().unwrap().to_ascii_lowercase())
            };
            assert_eq!(h("x-frame-options").as_deref(), Some("deny"), "{path}");
            assert_eq!(
                h("x-content-type-options").as_deref(),
                Some("nosniff"),
                "{path}"
            );
            assert!(
                matches!(
                    h("referrer-policy").as_deref(),
                    Some("same-origin" | "no-referrer")
                ),
                "{path}"
            );
            assert_eq!(h("strict-transport-security"), None, "local mode: {path}");
            let r = client
                .request(Method::OPTIONS, app.url(path))
                .header("origin", origin)
                .header("access-control-request-method", "POST")
                .header(
                    "access-control-request-headers",
                    "authorization, content-type",
                )
                .send()
                .await
                .unwrap();
            assert!(r.status().as_u16() < 500, "OPTIONS {path}: {}", r.status());
            assert_eq!(
                cors_headers(&r),
                Vec::<String>::new(),
                "OPTIONS {path} {origin}"
            );
        }
    }
    // Control: the ngauth routes do answer CORS, for the exact origin only.
    let ng = "https://app.neuroglancer.org";
    for path in ["/token", "/gcs_token"] {
        let r = client
            .request(Method::OPTIONS, app.url(path))
            .header("origin", ng)
            .header("access-control-request-method", "POST")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 204, "{path}");
        assert_eq!(r.headers()["access-control-allow-origin"], ng, "{path}");
        assert_eq!(r.headers()["vary"], "Origin", "{path}");
    }
    // A disallowed origin holding a valid login cookie gets a refusal, not a token.
    let r = client
        .post(app.url("/token"))
        .header("origin", "https://evil.example")
        .header("cookie", format!("dsg_token={root}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    assert_ne!(r.headers()["access-control-allow-origin"], "*");
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"error": "Origin not allowed"})
    );
    app.shutdown().await;
}
both_backends!(
    only_ngauth_answers_carry_cors_headers_tests,
    super::only_ngauth_answers_carry_cors_headers
);

// ---- cookies ----

/// The cookies one server sets through a whole browser visit: the login
/// (state cookie, then the login cookie at the callback), a web page (CSRF
/// cookie), a form post (flash cookie), the logout (clearing cookie), plus
/// the HSTS header of a web page.
struct Visit {
    login_state: String,
    login: String,
    csrf: String,
    flash: String,
    cleared: String,
    hsts: Option<String>,
}

/// Logs in through the test provider as `public` (the server's configured
/// origin: the provider redirects there, and the test carries the callback
/// to the server's real address) and walks the pages.
async fn visit(app: &TestApp, public: &str) -> Visit {
    let (client, _) = browser();
    let r = client.get(app.url("/auth/login")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 302);
    let login_state = set_cookie(&r, "dsg_login").expect("login state cookie");
    let auth = r.headers()["location"].to_str().unwrap().to_owned();
    let cb = drive(&client, &auth, "alice", &format!("{public}{BROWSER_CB}")).await;
    let cb = cb.replacen(public, &app.address, 1);
    let http = bare();
    let r = http
        .get(&cb)
        .header("cookie", format!("dsg_login={}", value(&login_state)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 302, "{cb}");
    let login = set_cookie(&r, "dsg_token").expect("login cookie");
    let token = value(&login).to_owned();
    assert_eq!(app.user_cache(&token).await.unwrap().0, 200);
    let r = http
        .get(app.url("/web/my-account"))
        .header("cookie", format!("dsg_token={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let hsts = r
        .headers()
        .get("strict-transport-security")
        .map(|v| v.to_str().unwrap().to_owned());
    let csrf = set_cookie(&r, "dsg_csrf").expect("CSRF cookie");
    let field = csrf_of(&r.text().await.unwrap());
    assert_eq!(field, value(&csrf));
    let r = http
        .post(app.url("/web/my-account"))
        .header("cookie", format!("dsg_token={token}; dsg_csrf={field}"))
        .form(&[
            ("action", "revoke_token"),
            ("token_id", "999999"),
            ("csrf", &field),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 302);
    let flash = set_cookie(&r, "dsg_flash").expect("flash cookie");
    let r = http
        .post(app.url("/api/v1/logout"))
        .header("cookie", format!("dsg_token={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let cleared = set_cookie(&r, "dsg_token").expect("clearing cookie");
    assert_eq!(app.user_cache(&token).await.unwrap().0, 401);
    Visit {
        login_state,
        login,
        csrf,
        flash,
        cleared,
        hsts,
    }
}

/// The attributes of every cookie in production, in local mode on loopback
/// and in local mode over plain http elsewhere; HSTS only in production.
async fn cookies_carry_their_attributes_in_each_mode(backend: Backend) {
    const PROD: &str = "https://dsg.example.org";
    const LOOPBACK: &str = "http://127.0.0.1:8200";
    const LAN: &str = "http://dsg.lab.example:8200";
    let idp = start_idp(
        &[PROD, LOOPBACK, LAN]
            .iter()
            .map(|o| format!("{o}{BROWSER_CB}"))
            .collect::<Vec<_>>(),
    )
    .await;
    let with = |origin: &'static str, production: bool| {
        let issuer = idp.issuer.clone();
        move |c: &mut dsg_server::Config| {
            c.server.origin = origin.into();
            c.server.secret_key = SECRET.into();
            if production {
                c.server.mode = dsg_server::config::Mode::Production;
                c.auth.cookie_domain = ".example.org".into();
            }
            c.login.providers = vec![dsg_server::config::ProviderConfig {
                name: "testidp".into(),
                issuer,
                client_id: "dsg-test".into(),
                client_secret: "dsg-test-secret".into(),
                ..Default::default()
            }];
        }
    };
    for (origin, production, login, secure) in [
        (
            PROD,
            true,
            "Max-Age=604800; Path=/; HttpOnly; SameSite=None; Secure; Domain=.example.org",
            "; Secure",
        ),
        (
            LOOPBACK,
            false,
            "Max-Age=604800; Path=/; HttpOnly; SameSite=None; Secure",
            "",
        ),
        (
            LAN,
            false,
            "Max-Age=604800; Path=/; HttpOnly; SameSite=Lax",
            "",
        ),
    ] {
        let app = spawn_app_with(backend, with(origin, production))
            .await
            .unwrap();
        let v = visit(&app, origin).await;
        assert_eq!(
            value(&v.login).len(),
            64,
            "{origin}: the cookie holds a token"
        );
        assert_eq!(attributes(&v.login), login, "{origin}: {}", v.login);
        assert!(
            value(&v.csrf).len() == 64 && value(&v.csrf).bytes().all(|b| b.is_ascii_hexdigit()),
            "{origin}: 256 random bits"
        );
        assert_eq!(
            attributes(&v.cleared),
            format!(
                "expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; {}",
                login.trim_start_matches("Max-Age=604800; ")
            ),
            "{origin}: {}",
            v.cleared
        );
        assert_eq!(
            attributes(&v.login_state),
            format!("Max-Age=600; Path=/; HttpOnly; SameSite=Lax{secure}"),
            "{origin}"
        );
        assert_eq!(
            attributes(&v.csrf),
            format!("Path=/; HttpOnly; SameSite=Strict{secure}"),
            "{origin}"
        );
        assert_eq!(
            attributes(&v.flash),
            format!("Max-Age=300; Path=/; HttpOnly; SameSite=Lax{secure}"),
            "{origin}"
        );
        assert_eq!(
            v.hsts.as_deref(),
            production.then_some("max-age=31536000; includeSubDomains"),
            "{origin}"
        );
        app.shutdown().await;
    }
}
both_backends!(
    cookies_carry_their_attributes_in_each_mode_tests,
    super::cookies_carry_their_attributes_in_each_mode
);

// ---- redirects ----

/// Targets a browser would take off this server (scheme-relative, backslash
/// and whitespace tricks, userinfo, look-alike hosts, other schemes).
const FOREIGN_TARGETS: &[&str] = &[
    "https://evil.example/",
    "HTTPS://EVIL.EXAMPLE/",
    "//evil.example/",
    "///evil.example/",
    "////evil.example/",
    "/\\evil.example/",
    "\\\\evil.example/",
    "\\/evil.example/",
    "/\t/evil.example/",
    "/\n/evil.example/",
    " //evil.example/",
    "https:evil.example",
    "https:/evil.example",
    "https:\\\\evil.example",
    "http://ng.example.org/",
    "https://ng.example.org.evil.example/",
    "https://ng.example.org@evil.example/",
    "https://evil.example@ng.example.org/",
    "https://evil.example\\@ng.example.org/",
    "https://evil.example%2F@ng.example.org/",
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "evil.example",
];

/// Every entry point that redirects after an action refuses every foreign
/// target — login and `authorize` with 400 before any redirect, the
/// service-check and TOS pages by falling back to a local path — and
/// follows a local path and a configured host.
async fn open_redirect_attempts_are_refused_everywhere(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        c.google.client_id = "gid".into();
        c.google.client_secret = "gs".into();
        c.login.redirect_hosts = vec!["ng.example.org".into()];
        c.rate_limit.enabled = false; // a hundred logins from one address
    })
    .await
    .unwrap();
    let s = app.seed(world()).await.unwrap();
    let lead = Visitor::new(&app, Some(&user_token(&s, "lead", "t")));
    let tos_id = s["tos"]["fish_tos"]["id"].as_i64().unwrap();
    let accept = format!("/api/v1/tos/{tos_id}/accept");
    let csrf = lead.csrf("/web/datasets").await;
    let http = bare();
    let enc = |t: &str| url::form_urlencoded::byte_serialize(t.as_bytes()).collect::<String>();
    let location = |r: &reqwest::Response| {
        r.headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_owned())
    };
    for target in FOREIGN_TARGETS {
        for path in [
            format!("/auth/login?next={}", enc(target)),
            format!("/api/v1/authorize?redirect={}", enc(target)),
            format!(
                "/api/v1/authorize?redirect={}&service=s&dataset=fish2",
                enc(target)
            ),
        ] {
            let r = http.get(app.url(&path)).send().await.unwrap();
            assert_eq!(r.status().as_u16(), 400, "{path}");
            assert_eq!(location(&r), None, "{path}");
        }
        let r = http
            .post(app.url("/api/v1/authorize"))
            .json(&json!({"redirect": target}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 400, "POST authorize {target:?}");
        // lead has accepted the fish terms: nothing pending, straight on.
        let a = lead
            .get(&format!(
                "/web/tos/service-check/?dataset=fish2&next={}",
                enc(target)
            ))
            .await;
        // Nothing to accept and a refused target: the page says the terms
        // are accepted and goes nowhere (dsg-native-v1 §5.3).
        assert_eq!((a.status, a.location.as_str()), (200, ""), "{target:?}");
        assert!(a.body.contains("Terms accepted"), "{target:?}");
        let r = lead
            .client
            .post(app.url(&accept))
            .form(&[("csrf", csrf.as_str()), ("next", target)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 303, "{target:?}");
        assert_eq!(location(&r).as_deref(), Some(accept.as_str()), "{target:?}");
    }
    // Controls: a local path and the configured host are followed.
    for target in ["/web/datasets?x=1", "https://ng.example.org/#!x"] {
        let r = http
            .get(app.url(&format!("/auth/login?next={}", enc(target))))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 302, "{target}");
        let a = lead
            .get(&format!(
                "/web/tos/service-check/?dataset=fish2&next={}",
                enc(target)
            ))
            .await;
        assert_eq!((a.status, a.location.as_str()), (302, target));
        let r = lead
            .client
            .post(app.url(&accept))
            .form(&[("csrf", csrf.as_str()), ("next", target)])
            .send()
            .await
            .unwrap();
        assert_eq!(location(&r).as_deref(), Some(target));
    }
    app.shutdown().await;
}
both_backends!(
    open_redirect_attempts_are_refused_everywhere_tests,
    super::open_redirect_attempts_are_refused_everywhere
);

// ---- token storage and display ----

/// Every token, however minted, is 64 hex characters (256 bits); the
/// database holds its SHA-256 (32 bytes) and its first 8 characters, and
/// not one byte of the plaintext anywhere (rows, audit, outbox, counters).
async fn stored_tokens_are_sha256_digests_and_no_plaintext_is_kept(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app.seed(world()).await.unwrap();
    let tokens = tokens_of_every_kind(&app, &s).await;
    for (_, t) in &tokens {
        assert!(
            t.len() == 64
                && t.bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
            "{t}"
        );
    }
    // Use each one, so last_used, counters and caches are written too.
    let scim = &tokens.iter().find(|(k, _)| *k == "scim_token").unwrap().1;
    for (kind, t) in &tokens {
        let r = match *kind {
            "scim_token" => app.get("/auth/scim/v2/Users", Some(t)).await.unwrap(),
            _ => app.get("/api/v1/user/cache", Some(t)).await.unwrap(),
        };
        assert_eq!(r.status().as_u16(), 200, "{kind}");
    }
    // A wrong token: the last character changed (always a change, unlike a
    // replace of one letter the random token may not contain).
    let last = if scim.ends_with('0') { "1" } else { "0" };
    let wrong = format!("{}{last}", &scim[..scim.len() - 1]);
    assert_eq!(
        app.get("/auth/scim/v2/Users", Some(&wrong))
            .await
            .unwrap()
            .status()
            .as_u16(),
        401
    );
    app.state.flush_last_used().await;
    for table in ["api_key", "service_account_token", "scim_token"] {
        let rows = query_bytes(&app, &format!("SELECT key_hash, key_prefix FROM {table}")).await;
        assert!(!rows.is_empty(), "{table}");
        for (hash, prefix) in &rows {
            assert_eq!(hash.len(), 32, "{table}: a SHA-256 digest");
            assert_eq!(prefix.len(), 8, "{table}");
        }
        for (kind, t) in tokens.iter().filter(|(k, _)| *k == table) {
            let want = TokenHash::of(t).0.to_vec();
            assert!(
                rows.iter()
                    .any(|(h, p)| *h == want && p.as_str() == &t[..8]),
                "{kind}: no row holds the hash of a token it issued"
            );
        }
    }
    // API and service-account tokens carry no expiry unless one was asked for.
    let never = query_bytes(
        &app,
        "SELECT key_hash, CAST(COALESCE(expires_at, -1) AS TEXT) FROM api_key \
         WHERE description IN ('API token', 'Default long-lived API token') \
         UNION ALL SELECT key_hash, CAST(COALESCE(expires_at, -1) AS TEXT) \
         FROM service_account_token",
    )
    .await;
    assert!(never.len() >= 5, "{}", never.len());
    assert!(never.iter().all(|(_, e)| e == "-1"), "{never:?}");
    // TOS invite links: 256 random bits too (stored as they are: links, not credentials).
    let sql = "SELECT invite_token FROM tos_document";
    let invites: Vec<String> = match app.store.db() {
        dsg_store::Db::Sqlite(p) => sqlx::query_scalar(sql).fetch_all(p).await.unwrap(),
        dsg_store::Db::Postgres(p) => sqlx::query_scalar(sql).fetch_all(p).await.unwrap(),
    };
    assert!(!invites.is_empty());
    for invite in &invites {
        assert!(
            invite.len() == 64 && invite.bytes().all(|b| b.is_ascii_hexdigit()),
            "{invite}"
        );
    }
    let everything = database_contents(&app).await;
    assert!(
        everything.contains("lead@example.org"),
        "the scan reads the data"
    );
    for (kind, t) in &tokens {
        assert!(!everything.contains(t.as_str()), "{kind} plaintext stored");
    }
    app.shutdown().await;
}
both_backends!(
    stored_tokens_are_sha256_digests_and_no_plaintext_is_kept_tests,
    super::stored_tokens_are_sha256_digests_and_no_plaintext_is_kept
);

/// After creation no interface shows a token's value or hash, even to a
/// global admin: API listings, service-account details, the audit log, the
/// admin console, the web pages, SCIM, metrics, and the CLI listings.
async fn a_global_admin_cannot_see_any_token_after_creation(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app.seed(world()).await.unwrap();
    let tokens = tokens_of_every_kind(&app, &s).await;
    let root = user_token(&s, "root", "t");
    let scim = &tokens.iter().find(|(k, _)| *k == "scim_token").unwrap().1;
    let key_ids: Vec<(Vec<u8>, String)> = query_bytes(
        &app,
        "SELECT key_hash, CAST(id AS TEXT) FROM api_key \
         UNION ALL SELECT key_hash, CAST(id AS TEXT) FROM service_account_token",
    )
    .await;
    assert!(key_ids.len() >= 9);
    let mut pages: Vec<(String, String)> = Vec::new();
    let mut api = vec![
        "/api/v1/user/token".to_owned(),
        "/api/v1/tokens".into(),
        "/api/v1/service-accounts".into(),
        "/api/v1/service-accounts/ci-bot".into(),
        "/api/v1/audit?limit=1000".into(),
        "/api/v1/user/cache".into(),
        "/api/v1/whoami".into(),
        "/api/v1/user?id=1,2,3,4,5,6,7".into(),
        "/metrics".into(),
        "/admin/api_keys/?per_page=200".into(),
        "/admin/sa_tokens/?per_page=200".into(),
        "/admin/audit_log/?per_page=200".into(),
        "/admin/users/?per_page=200".into(),
    ];
    for (_, id) in &key_ids {
        api.push(format!("/admin/api_keys/{id}"));
        api.push(format!("/admin/sa_tokens/{id}"));
    }
    for path in api {
        let r = app.get(&path, Some(&root)).await.unwrap();
        let status = r.status().as_u16();
        assert!(status == 200 || status == 404, "{path}: {status}");
        if path.starts_with("/admin/") && status == 200 {
            assert_eq!(r.headers()["cache-control"], "no-store", "{path}");
        }
        pages.push((path, r.text().await.unwrap()));
    }
    let r = app.get("/auth/scim/v2/Users", Some(scim)).await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    pages.push(("SCIM Users".into(), r.text().await.unwrap()));
    let web = Visitor::new(&app, Some(&root));
    for path in ["/web/my-account", "/web/service-accounts/ci-bot"] {
        let a = web.get(path).await;
        assert_eq!(a.status, 200, "{path}");
        assert_eq!(a.headers["cache-control"], "no-store", "{path}");
        pages.push((path.into(), a.body));
    }
    for args in [
        &["token", "list", "--json"][..],
        &["scim", "token", "list", "--json"],
        &["service-account", "list", "--json"],
        &["audit", "--json"],
    ] {
        let (ok, out, err) = dsg(&app, args, None);
        assert!(ok, "{args:?}: {err}");
        pages.push((args.join(" "), out + &err));
    }
    // A token asked for "for" someone else is the caller's own.
    for path in ["/api/v1/tokens", "/api/v1/create_token"] {
        let (st, v) = call(
            &app,
            "POST",
            path,
            &root,
            Some(json!({"user": "lead@example.org", "email": "lead@example.org"})),
        )
        .await;
        assert!(st == 200 || st == 201, "{path}: {v}");
        let t = v["token"].as_str().or(v.as_str()).unwrap().to_owned();
        let (_, doc) = app.user_cache(&t).await.unwrap();
        assert_eq!(doc["email"], "root@example.org", "{path}");
    }
    // A read-only token of a global admin is no admin's.
    let (st, v) = call(
        &app,
        "POST",
        "/api/v1/tokens",
        &root,
        Some(json!({"read_only": true})),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    let ro = v["token"].as_str().unwrap().to_owned();
    for path in ["/auth/scim/v2/Users", "/api/v1/audit", "/admin/users/"] {
        let status = app.get(path, Some(&ro)).await.unwrap().status().as_u16();
        assert_eq!(status, 403, "{path}");
    }
    // Control: the listings do describe the tokens (by prefix).
    let all = pages.iter().map(|(_, b)| b.as_str()).collect::<String>();
    for (kind, t) in &tokens {
        assert!(all.contains(&t[..8]), "{kind}: its prefix is listed");
    }
    for (where_, body) in &pages {
        for (kind, t) in &tokens {
            assert!(!body.contains(t.as_str()), "{where_} shows a {kind}");
            let hash = TokenHash::of(t).to_hex();
            assert!(!body.contains(&hash), "{where_} shows a {kind}'s hash");
        }
    }
    app.shutdown().await;
}
both_backends!(
    a_global_admin_cannot_see_any_token_after_creation_tests,
    super::a_global_admin_cannot_see_any_token_after_creation
);

// ---- logs ----

/// A `dsg serve` child process, killed however the test ends.
struct Serve(std::process::Child);

impl Serve {
    /// A clean stop (SIGTERM), which writes every queued access-log line.
    fn stop(mut self) {
        let pid = rustix::process::Pid::from_raw(i32::try_from(self.0.id()).unwrap()).unwrap();
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
        let _ = self.0.wait();
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `dsg serve` at log level `trace` (every target) sees tokens in headers,
/// cookies and query strings, mints new ones (API, ngauth) and refuses bad
/// ones; none of them appears in its log.
async fn tokens_never_reach_the_log(backend: Backend) {
    dsg_server::outbound::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let (url, pg) = dsg_testkit::empty_database(backend, dir.path())
        .await
        .unwrap();
    let port = dsg_testkit::free_port();
    let bind = format!("127.0.0.1:{port}");
    let env = [
        ("DATABASE_URL", url.as_str()),
        ("DSG_SERVER__BIND", bind.as_str()),
        ("DSG_LOG__FORMAT", "json"),
        ("DSG_LOG__LEVEL", "trace"),
    ];
    let cli = |args: &[&str]| {
        let (ok, out, err) = run_dsg(Some(dir.path()), &env, args, None);
        assert!(ok, "{args:?}: {out}{err}");
        out.trim().to_owned()
    };
    cli(&["migrate"]);
    cli(&["make-admin", "a@example.org"]);
    let token = cli(&["token", "create", "--user", "a@example.org"]);
    // A login token (what the browser's cookie holds): logout revokes it.
    let other = cli(&[
        "token",
        "create",
        "--user",
        "a@example.org",
        "--description",
        "OAuth login token",
    ]);
    let scim = cli(&["scim", "token", "create", "idp"]);
    let log_path = dir.path().join("serve.log");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_dsg"))
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env)
        .current_dir(dir.path())
        .stdout(std::fs::File::create(dir.path().join("serve.out")).unwrap())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let serve = Serve(child);
    let base = format!("http://{bind}");
    let http = bare();
    let up = dsg_testkit::eventually(Duration::from_secs(60), || {
        let r = http.get(format!("{base}/readyz")).send();
        async move { r.await.is_ok_and(|r| r.status().is_success()) }
    })
    .await;
    assert!(up, "dsg serve did not start");
    let mut secrets = vec![token.clone(), other.clone(), scim.clone()];
    let wrong = "0123456789abcdef".repeat(4);
    secrets.push(wrong.clone());
    let get = |path: String| http.get(format!("{base}{path}"));
    let post = |path: &str| http.post(format!("{base}{path}"));
    let status = |r: reqwest::Response| r.status().as_u16();
    let cache = "/api/v1/user/cache".to_owned();
    assert_eq!(
        status(get(cache.clone()).bearer_auth(&token).send().await.unwrap()),
        200
    );
    let r = get(format!("{cache}?dsg_token={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(status(r), 200);
    let r = get(cache.clone())
        .header("cookie", format!("dsg_token={other}"))
        .send()
        .await
        .unwrap();
    assert_eq!(status(r), 200);
    let r = get(format!("{cache}?middle_auth_token={wrong}"))
        .send()
        .await
        .unwrap();
    assert_eq!(status(r), 401);
    let r = get(cache.clone()).bearer_auth(&wrong).send().await.unwrap();
    assert_eq!(status(r), 401);
    let r = post("/api/v1/create_token")
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    secrets.push(r.json::<String>().await.unwrap());
    let r = get("/api/v1/long_lived_token".into())
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    secrets.push(
        r.json::<Value>().await.unwrap()["token"]
            .as_str()
            .unwrap()
            .to_owned(),
    );
    let r = get("/auth/scim/v2/Users".into())
        .bearer_auth(&scim)
        .send()
        .await
        .unwrap();
    assert_eq!(status(r), 200);
    let r = get("/auth/scim/v2/Users".into())
        .bearer_auth(&wrong)
        .send()
        .await
        .unwrap();
    assert_eq!(status(r), 401);
    let r = post("/token")
        .header("cookie", format!("dsg_token={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let user_token = r.text().await.unwrap();
    secrets.push(user_token.clone());
    let r = post("/gcs_token")
        .body(json!({"token": user_token, "bucket": "b"}).to_string())
        .send()
        .await
        .unwrap();
    assert!(status(r) >= 400);
    let r = post("/api/v1/logout")
        .header("cookie", format!("dsg_token={other}"))
        .send()
        .await
        .unwrap();
    assert_eq!(status(r), 200);
    let r = get(cache.clone()).bearer_auth(&other).send().await.unwrap();
    assert_eq!(status(r), 401);
    serve.stop();
    let log = std::fs::read_to_string(&log_path).unwrap();
    // Controls: the log is the server's, at trace level, with every request.
    assert!(log.contains("DatasetGateway listening"), "{log}");
    assert!(log.contains("\"level\":\"TRACE\"") || log.contains("\"level\":\"DEBUG\""));
    assert!(
        log.matches("\"path\":\"/api/v1/user/cache").count() >= 6,
        "{log}"
    );
    for (i, s) in secrets.iter().enumerate() {
        assert!(s.len() >= 32, "secret {i}: {s}");
        assert!(!log.contains(s.as_str()), "secret {i} is in the log");
    }
    if let Some((base, schema)) = pg {
        dsg_testkit::drop_pg_schema(&base, &schema).await;
    }
}
both_backends!(
    tokens_never_reach_the_log_tests,
    super::tokens_never_reach_the_log
);

// ---- cross-site changes ----

/// How many access requests on fish2 are pending, as its admin sees them.
async fn pending(app: &TestApp, boss: &str) -> usize {
    let (st, v) = call(
        app,
        "GET",
        "/api/v1/datasets/fish2/access-requests?status=pending",
        boss,
        None,
    )
    .await;
    assert_eq!(st, 200, "{v}");
    v.as_array().unwrap().len()
}

/// A change authenticated by the login cookie is refused (403, nothing
/// written) when another site's page asks for it — `Origin` of another
/// site, or `Sec-Fetch-Site` cross-site or same-site — including a
/// bodiless form post, which needs no CORS preflight. The same request from
/// this server's pages, or with a bearer token, goes through. A minting
/// `GET` (`long_lived_token`) is refused as another site's image or script,
/// not as a link the user follows.
async fn changes_by_login_cookie_from_other_sites_are_refused(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app.seed(world()).await.unwrap();
    let t = |k: &str| user_token(&s, k, "t");
    let boss = t("boss");
    let http = bare();
    let mut requests = Vec::new();
    for who in ["sc", "gadmin", "ro"] {
        let (st, v) = call(
            &app,
            "POST",
            "/api/v1/datasets/fish2/access-requests",
            &t(who),
            Some(json!({"permission": "view"})),
        )
        .await;
        assert_eq!(st, 201, "{v}");
        requests.push(v["id"].as_i64().unwrap());
    }
    let audit_before = app.store.audit_count().await.unwrap();
    let tokens_before = app.store.list_user_tokens(None).await.unwrap().len();
    let cookie = format!("dsg_token={boss}");
    let approve = |id: i64| app.url(&format!("/api/v1/access-requests/{id}/approve"));
    for (name, value) in [
        ("origin", "https://evil.example"),
        ("origin", "null"),
        ("sec-fetch-site", "cross-site"),
        ("sec-fetch-site", "same-site"),
    ] {
        for url in [approve(requests[0]), app.url("/api/v1/tokens")] {
            let r = http
                .post(&url)
                .header("cookie", &cookie)
                .header(name, value)
                .header("content-type", "application/x-www-form-urlencoded")
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 403, "{url} {name}: {value}");
            let body: Value = r.json().await.unwrap();
            assert_eq!(body["detail"], dsg_server::error::msg::CROSS_SITE);
        }
        let r = http
            .get(app.url("/api/v1/long_lived_token"))
            .header("cookie", &cookie)
            .header(name, value)
            .header("sec-fetch-mode", "no-cors")
            .send()
            .await
            .unwrap();
        let cross = name == "sec-fetch-site";
        assert_eq!(
            r.status().as_u16(),
            if cross { 403 } else { 200 },
            "long_lived_token {name}: {value}"
        );
        if !cross {
            // An `Origin` alone does not make a GET cross-site; undo its token.
            let id = app.store.list_user_tokens(None).await.unwrap()[0].id;
            let (st, _) = call(&app, "DELETE", &format!("/api/v1/tokens/{id}"), &boss, None).await;
            assert_eq!(st, 200);
        }
    }
    assert_eq!(pending(&app, &boss).await, 3, "nothing was approved");
    let tokens_after = app.store.list_user_tokens(None).await.unwrap().len();
    assert_eq!(tokens_after, tokens_before, "no token was minted");
    let audit_after = app.store.audit_count().await.unwrap();
    assert_eq!(
        audit_after,
        audit_before + 4,
        "only the two controls' mint and revoke"
    );
    // This server's own origin, and a bearer token from anywhere, pass.
    let r = http
        .post(approve(requests[0]))
        .header("cookie", &cookie)
        .header("origin", app.address.as_str())
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let r = http
        .post(approve(requests[1]))
        .bearer_auth(&boss)
        .header("origin", "https://evil.example")
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(pending(&app, &boss).await, 1);
    // A link the user follows from another site still mints.
    let r = http
        .get(app.url("/api/v1/long_lived_token"))
        .header("cookie", &cookie)
        .header("sec-fetch-site", "cross-site")
        .header("sec-fetch-mode", "navigate")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    app.shutdown().await;
}
both_backends!(
    changes_by_login_cookie_from_other_sites_are_refused_tests,
    super::changes_by_login_cookie_from_other_sites_are_refused
);

// ---- the user directory ----

/// With `privacy.user_directory = "privileged"`, only global admins and
/// service accounts read other people's e-mails and groups; by default (the
/// original's behaviour) any authenticated caller does.
async fn a_privileged_user_directory_hides_other_people(backend: Backend) {
    for privileged in [true, false] {
        let app = spawn_app_with(backend, |c| {
            if privileged {
                c.privacy.user_directory = dsg_server::config::Directory::Privileged;
            }
        })
        .await
        .unwrap();
        let s = app.seed(world()).await.unwrap();
        let boss_id = s["users"]["boss"]["id"].as_i64().unwrap();
        let group_id = s["groups"]["lab"]["id"].as_i64().unwrap();
        let paths = [
            format!("/api/v1/user?id={boss_id}"),
            format!("/api/v1/user/{boss_id}"),
            "/api/v1/groups/lab/members".to_owned(),
            format!("/api/v1/group/{group_id}/user"),
        ];
        let sa = s["service_accounts"]["ci"]["tokens"]["t"].as_str().unwrap();
        for path in &paths {
            let (st, v) = call(&app, "GET", path, &user_token(&s, "v", "t"), None).await;
            assert_eq!(st, if privileged { 403 } else { 200 }, "{path}: {v}");
            if privileged {
                assert!(!v.to_string().contains("@example.org"), "{path}: {v}");
            }
            for token in [user_token(&s, "root", "t").as_str(), sa] {
                let (st, v) = call(&app, "GET", path, token, None).await;
                assert_eq!(st, 200, "{path}: {v}");
            }
        }
        app.shutdown().await;
    }
}
both_backends!(
    a_privileged_user_directory_hides_other_people_tests,
    super::a_privileged_user_directory_hides_other_people
);

// ---- configuration output ----

/// `dsg config check` prints the effective configuration with every secret
/// (server secret, client secrets, metrics token, database and Redis
/// passwords) replaced, on standard output and standard error alike.
#[test]
fn config_check_prints_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dsg.toml");
    std::fs::write(
        &file,
        "[[login.providers]]\nname = \"kc\"\nissuer = \"https://kc.example.org/realms/lab\"\n\
         client_id = \"dsg\"\nclient_secret = \"provider-secret-4711\"\n",
    )
    .unwrap();
    let secrets = [
        (
            "DJANGO_SECRET_KEY",
            "server-secret-0123456789abcdefghijklmnop",
        ),
        ("GOOGLE_CLIENT_ID", "gid"),
        ("GOOGLE_CLIENT_SECRET", "google-secret-4711"),
        ("DSG_METRICS__BEARER_TOKEN", "scrape-secret-4711"),
        (
            "DATABASE_URL",
            "postgres://dsg:db-password-4711@127.0.0.1:1/dsg",
        ),
        ("DSG_REDIS__URL", "redis://:redis-password-4711@127.0.0.1:1"),
    ];
    let (ok, out, err) = run_dsg(
        Some(dir.path()),
        &secrets,
        &["--config", file.to_str().unwrap(), "config", "check"],
        None,
    );
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("configuration OK") && out.contains("<redacted>"),
        "{out}"
    );
    assert!(out.contains("kc.example.org"), "the file was read: {out}");
    for s in [
        "provider-secret-4711",
        "server-secret-0123456789",
        "google-secret-4711",
        "scrape-secret-4711",
        "db-password-4711",
        "redis-password-4711",
    ] {
        assert!(
            !out.contains(s) && !err.contains(s),
            "{s} printed:\n{out}{err}"
        );
    }
}
