//! Browser login against a real OpenID provider: the full code flow with
//! PKCE, state and nonce; the `dsg_token` cookie; `user/cache`; logout; and
//! the attacks (tampered state, replayed code, nonce mismatch, foreign `next`).

use dsg_server::config::{ProviderConfig, Signup};
use dsg_server::idp::state as login_state;
use dsg_testkit::free_port;
use dsg_testkit::idp::{BROWSER_CB, CAVE_CB, SECRET, app_with_idp, browser, drive, set_cookie};
use dsg_testkit::{Backend, TestApp, spawn_app_with};
use serde_json::Value;

/// `/auth/login?next=…` → provider URL (and the login-state cookie).
async fn start(app: &TestApp, client: &reqwest::Client, path: &str) -> (String, String) {
    let r = client.get(app.url(path)).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 302, "{path}");
    let cookie = set_cookie(&r, login_state::COOKIE).expect("login state cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    (r.headers()["location"].to_str().unwrap().to_owned(), cookie)
}

async fn cache_of(client: &reqwest::Client, app: &TestApp) -> (u16, Value) {
    let r = client
        .get(app.url("/api/v1/user/cache"))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn full_code_flow_logs_in_sets_the_cookie_and_logs_out(backend: Backend) {
    let (app, idp) = app_with_idp(backend, |_, _| {}).await;
    // An invitation waiting for her e-mail becomes a grant at first login.
    let mut tx = app
        .store
        .begin(dsg_store::write::Actor::cli("test"))
        .await
        .unwrap();
    let fanc = tx.create_dataset("fanc", "", "closed").await.unwrap();
    tx.create_invitation(&dsg_store::invitations::NewInvitation {
        email: "Alice@Example.org",
        dataset_id: fanc,
        version_id: None,
        permission: "edit",
        grant_expires_at: None,
        expires_at: None,
    })
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let (client, jar) = browser();
    let (auth_url, state_cookie) =
        start(&app, &client, "/auth/login?next=%2Fweb%2Fdatasets%3Fx%3D1").await;
    assert!(
        auth_url.starts_with(&format!("{}/auth?", idp.issuer)),
        "{auth_url}"
    );
    for p in [
        "code_challenge=",
        "code_challenge_method=S256",
        "nonce=",
        "state=",
        "scope=openid",
    ] {
        assert!(auth_url.contains(p), "{p} missing in {auth_url}");
    }
    let cb = drive(&client, &auth_url, "alice", &app.url(BROWSER_CB)).await;
    let r = client.get(&cb).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 302);
    assert_eq!(r.headers()["location"], "/web/datasets?x=1");
    let token_cookie = set_cookie(&r, "dsg_token").unwrap();
    assert!(
        token_cookie.contains("Max-Age=604800")
            && token_cookie.contains("HttpOnly")
            && token_cookie.contains("Path=/"),
        "{token_cookie}"
    );
    let token = token_cookie["dsg_token=".len()..]
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    // The cookie authenticates user/cache: a new user, created at first login.
    let (status, doc) = cache_of(&client, &app).await;
    assert_eq!(status, 200, "{doc}");
    assert_eq!(doc["email"], "alice@example.org");
    assert_eq!(doc["name"], "Alice Liddell");
    assert_eq!(
        doc["permissions_v2"]["fanc"],
        serde_json::json!(["edit", "view"])
    );
    // The login's audit rows carry the request id.
    let audit = app
        .store
        .audit_entries(&dsg_store::audit::AuditFilter {
            limit: 50,
            ..Default::default()
        })
        .await
        .unwrap();
    let login_rows: Vec<_> = audit
        .iter()
        .filter(|e| e.actor.starts_with("login:"))
        .collect();
    assert!(!login_rows.is_empty());
    assert!(
        login_rows.iter().all(|e| e.request_id.is_some()),
        "{login_rows:?}"
    );
    let uid = app
        .store
        .user_id_by_identity(&idp.issuer, "alice")
        .await
        .unwrap();
    assert_eq!(uid, doc["id"].as_i64());

    // Replaying the callback: the state cookie is gone → invalid state; with
    // the old state cookie put back, the provider refuses the used code.
    let r = client.get(&cb).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"],
        "Invalid state parameter"
    );
    jar.add_cookie_str(&state_cookie, &app.url("/").parse().unwrap());
    let r = client.get(&cb).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"],
        "Token exchange failed"
    );

    // An expired login key of hers is pruned at the next login; live ones stay.
    let alice = uid.unwrap();
    let mut tx = app
        .store
        .begin(dsg_store::write::Actor::cli("test"))
        .await
        .unwrap();
    tx.create_user_token(
        alice,
        dsg_store::tokens::NewToken {
            description: dsg_server::login::LOGIN_KEY_DESCRIPTION.into(),
            expires_at: Some(dsg_core::Timestamp(app.clock.now().0 - 1)),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        app.store.list_user_tokens(Some(alice)).await.unwrap().len(),
        2
    );

    // A second device logs in: the first stays logged in.
    let (client2, _) = browser();
    let (auth2, _) = start(&app, &client2, "/auth/login").await;
    let cb2 = drive(&client2, &auth2, "alice", &app.url(BROWSER_CB)).await;
    let r = client2.get(&cb2).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 302);
    assert_eq!(r.headers()["location"], "/web/datasets", "default next");
    assert_eq!(cache_of(&client2, &app).await.0, 200);
    assert_eq!(
        cache_of(&client, &app).await.0,
        200,
        "first device still logged in"
    );
    assert_eq!(app.user_cache(&token).await.unwrap().0, 200);
    let keys = app.store.list_user_tokens(Some(alice)).await.unwrap();
    assert_eq!(keys.len(), 2, "expired key pruned, both devices' keys kept");

    // Logout revokes the key and clears the cookie with the same attributes.
    let r = client.post(app.url("/api/v1/logout")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let cleared = set_cookie(&r, "dsg_token").unwrap();
    assert!(
        cleared.contains("Max-Age=0") && cleared.contains("Path=/"),
        "{cleared}"
    );
    assert_eq!(app.user_cache(&token).await.unwrap().0, 401, "key revoked");
    assert_eq!(
        cache_of(&client, &app).await.0,
        401,
        "no cookie any more: not provided"
    );
    // A stale cookie still gets cleared (original: 401 and cookie kept).
    let (stale, jar3) = browser();
    jar3.add_cookie_str(
        &format!("dsg_token={token}"),
        &app.url("/").parse().unwrap(),
    );
    for (path, status) in [
        ("/api/v1/logout", 200),
        ("/logout", 200),
        ("/web/logout", 302),
    ] {
        let r = stale.post(app.url(path)).send().await.unwrap();
        assert_eq!(r.status().as_u16(), status, "{path}");
        assert!(
            set_cookie(&r, "dsg_token").unwrap().contains("Max-Age=0"),
            "{path}"
        );
        jar3.add_cookie_str(
            &format!("dsg_token={token}"),
            &app.url("/").parse().unwrap(),
        );
    }
    // The other paths revoke too: device 2 logs out through /web/logout.
    let r = client2.post(app.url("/web/logout")).send().await.unwrap();
    assert_eq!(r.headers()["location"], "/");
    assert_eq!(cache_of(&client2, &app).await.0, 401);
    app.shutdown().await;
}
both_backends!(
    full_code_flow,
    crate::login::full_code_flow_logs_in_sets_the_cookie_and_logs_out
);

async fn tampered_state_nonce_mismatch_and_foreign_next_are_refused(backend: Backend) {
    let (app, _idp) = app_with_idp(backend, |c, _| {
        c.login.redirect_hosts = vec!["ng.example.org".into()];
    })
    .await;
    let (client, jar) = browser();

    // Tampered state parameter.
    let (auth_url, _) = start(&app, &client, "/auth/login").await;
    let cb = drive(&client, &auth_url, "alice", &app.url(BROWSER_CB)).await;
    let tampered = cb.replace("state=", "state=x");
    let r = client.get(&tampered).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"],
        "Invalid state parameter"
    );
    assert!(
        app.store
            .user_id_by_email("alice@example.org")
            .await
            .unwrap()
            .is_none()
    );

    // A callback naming another issuer (RFC 9207 mix-up defence).
    let (auth_url, _) = start(&app, &client, "/auth/login").await;
    let cb = drive(&client, &auth_url, "alice", &app.url(BROWSER_CB)).await;
    assert!(cb.contains("iss="), "{cb}");
    let r = client
        .get(cb.replace("iss=", "iss=x"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);

    // Tampered state cookie (signature no longer matches).
    let (auth_url, cookie) = start(&app, &client, "/auth/login").await;
    let cb = drive(&client, &auth_url, "alice", &app.url(BROWSER_CB)).await;
    let value = cookie["dsg_login=".len()..].split(';').next().unwrap();
    let mut bad = value.to_owned().into_bytes();
    bad[5] = if bad[5] == b'A' { b'B' } else { b'A' };
    jar.add_cookie_str(
        &format!("dsg_login={}; Path=/", String::from_utf8(bad).unwrap()),
        &app.url("/").parse().unwrap(),
    );
    let r = client.get(&cb).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"],
        "Invalid state parameter"
    );

    // Nonce mismatch: a validly signed state whose nonce differs from the ID token's.
    let (auth_url, cookie) = start(&app, &client, "/auth/login").await;
    let key = login_state::derive_key(SECRET);
    let value = cookie["dsg_login=".len()..].split(';').next().unwrap();
    let mut ls = login_state::open(&key, value, app.clock.now().as_secs()).unwrap();
    ls.nonce = "some-other-nonce".into();
    jar.add_cookie_str(
        &format!("dsg_login={}; Path=/", login_state::seal(&key, &ls)),
        &app.url("/").parse().unwrap(),
    );
    let cb = drive(&client, &auth_url, "alice", &app.url(BROWSER_CB)).await;
    let r = client.get(&cb).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"],
        "ID token verification failed"
    );
    assert!(
        app.store
            .user_id_by_email("alice@example.org")
            .await
            .unwrap()
            .is_none()
    );

    // `next` / `redirect` pointing to another host: refused before any redirect.
    for path in [
        "/auth/login?next=https%3A%2F%2Fevil.org%2F",
        "/auth/login?next=%2F%2Fevil.org",
        "/auth/login?next=https%3A%2F%2Fng.example.org.evil.org%2F",
        "/api/v1/authorize?redirect=https%3A%2F%2Fevil.org%2F",
    ] {
        let r = client.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 400, "{path}");
        assert!(r.headers().get("location").is_none(), "{path}");
    }
    // A configured host is fine, and the login ends there.
    let (auth_url, _) = start(
        &app,
        &client,
        "/auth/login?next=https%3A%2F%2Fng.example.org%2F%23!x",
    )
    .await;
    let cb = drive(&client, &auth_url, "alice", &app.url(BROWSER_CB)).await;
    let r = client.get(&cb).send().await.unwrap();
    assert_eq!(r.headers()["location"], "https://ng.example.org/#!x");
    // Every callback above was counted by outcome.
    let text = client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let count = |outcome: &str| {
        let series = format!("dsg_logins_total{{outcome=\"{outcome}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&series))
            .and_then(|v| v.parse::<f64>().ok())
    };
    assert_eq!(count("success"), Some(1.0), "{text}");
    assert_eq!(count("rejected"), Some(4.0), "{text}");
    app.shutdown().await;
}
both_backends!(
    attacks_refused,
    crate::login::tampered_state_nonce_mismatch_and_foreign_next_are_refused
);

async fn unverified_email_and_signup_policy(backend: Backend) {
    let (app, idp) = app_with_idp(backend, |c, _| {
        c.login.signup = Signup::Domains;
        c.login.signup_domains = vec!["example.org".into()];
    })
    .await;
    let login = |account: &'static str| {
        let app = &app;
        async move {
            let (client, _) = browser();
            let (auth_url, _) = start(app, &client, "/auth/login").await;
            let cb = drive(&client, &auth_url, account, &app.url(BROWSER_CB)).await;
            let r = client.get(&cb).send().await.unwrap();
            let s = r.status().as_u16();
            (s, r.text().await.unwrap())
        }
    };
    // Unverified e-mail: refused, nothing created.
    assert_eq!(login("mallory").await.0, 403);
    assert!(
        app.store
            .user_id_by_email("mallory@example.org")
            .await
            .unwrap()
            .is_none()
    );
    // Domain not allowed to sign up.
    let (s, body) = login("carol").await;
    assert_eq!(s, 403, "{body}");
    assert!(
        app.store
            .user_id_by_email("carol@other.org")
            .await
            .unwrap()
            .is_none()
    );
    // A pre-provisioned user of another domain is linked by verified e-mail.
    let seeded = app
        .seed(serde_json::json!({"users": [{"key": "c", "email": "Carol@other.org"}]}))
        .await
        .unwrap();
    assert_eq!(login("carol").await.0, 302);
    assert_eq!(
        app.store
            .user_id_by_identity(&idp.issuer, "carol")
            .await
            .unwrap(),
        seeded["users"]["c"]["id"].as_i64()
    );
    // Allowed domain: created.
    assert_eq!(login("alice").await.0, 302);
    assert!(
        app.store
            .user_id_by_email("alice@example.org")
            .await
            .unwrap()
            .is_some()
    );
    // A disabled user gets no login key (403, the original's words).
    let keys_before = app.store.list_user_tokens(None).await.unwrap().len();
    let uid = app
        .store
        .user_id_by_email("carol@other.org")
        .await
        .unwrap()
        .unwrap();
    const OFF: &str = "UPDATE dsg_user SET is_active = FALSE WHERE id = $1";
    match app.store.db() {
        dsg_store::Db::Sqlite(p) => sqlx::query(OFF).bind(uid).execute(p).await.map(|_| ()),
        dsg_store::Db::Postgres(p) => sqlx::query(OFF).bind(uid).execute(p).await.map(|_| ()),
    }
    .unwrap();
    let (s, body) = login("carol").await;
    assert_eq!(s, 403, "{body}");
    assert!(body.contains("User account is disabled."), "{body}");
    assert_eq!(
        app.store.list_user_tokens(None).await.unwrap().len(),
        keys_before
    );
    app.shutdown().await;
}
both_backends!(
    signup_policy,
    crate::login::unverified_email_and_signup_policy
);

async fn cave_authorize_with_google_endpoints_pointed_at_the_provider(backend: Backend) {
    // Google is configuration: point its endpoints at the test provider.
    let (app, idp) = app_with_idp(backend, |c, issuer| {
        c.login.providers.clear();
        c.google.client_id = "dsg-test".into();
        c.google.client_secret = "dsg-test-secret".into();
        c.google.issuer = issuer.into();
        c.google.authorization_endpoint = format!("{issuer}/auth");
        c.google.token_endpoint = format!("{issuer}/token");
        c.google.jwks_uri = format!("{issuer}/jwks");
    })
    .await;
    let (client, _) = browser();
    let r = client
        .post(app.url("/api/v1/authorize"))
        .header("X-Requested-With", "XMLHttpRequest")
        .json(&serde_json::json!({"redirect": "/api/v1/user/cache"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let body: Value = r.json().await.unwrap();
    let url = body["authorization_url"].as_str().unwrap().to_owned();
    assert!(
        url.starts_with(&format!("{}/auth?", idp.issuer)) && url.contains("access_type=online"),
        "{url}"
    );
    let cb = drive(&client, &url, "alice", &app.url(CAVE_CB)).await;
    let r = client.get(&cb).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 302);
    assert_eq!(r.headers()["location"], "/api/v1/user/cache");
    let (s, doc) = cache_of(&client, &app).await;
    assert_eq!((s, doc["email"].as_str()), (200, Some("alice@example.org")));
    // Callback errors in the original's words.
    for (q, msg) in [
        ("error=access_denied", "access_denied"),
        ("state=x", "Missing authorization code"),
    ] {
        let r = client
            .get(app.url(&format!("{CAVE_CB}?{q}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 400);
        assert_eq!(r.json::<Value>().await.unwrap()["error"], msg);
    }
    app.shutdown().await;
}
both_backends!(
    cave_flow_google,
    crate::login::cave_authorize_with_google_endpoints_pointed_at_the_provider
);

async fn google_authorize_needs_no_network_and_unreachable_issuers_show_in_readyz(
    backend: Backend,
) {
    let dead = format!("http://127.0.0.1:{}", free_port());
    let app = spawn_app_with(backend, |c| {
        c.server.origin = "http://dsg.test".into();
        c.google.client_id = "gid.apps.googleusercontent.com".into();
        c.google.client_secret = "gsecret".into();
        c.login.providers = vec![ProviderConfig {
            name: "kc".into(),
            issuer: dead.clone(),
            client_id: "x".into(),
            ..ProviderConfig::default()
        }];
    })
    .await
    .unwrap();
    let r = app
        .get("/api/v1/authorize?redirect=%2Fweb%2Fdatasets", None)
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 302);
    let loc = r.headers()["location"].to_str().unwrap();
    assert!(
        loc.starts_with("https://accounts.google.com/o/oauth2/v2/auth?"),
        "{loc}"
    );
    assert!(
        loc.contains("client_id=gid.apps.googleusercontent.com"),
        "{loc}"
    );
    assert!(
        loc.contains("redirect_uri=http%3A%2F%2Fdsg.test%2Fapi%2Fv1%2Foauth2callback"),
        "{loc}"
    );
    // A login cookie (even of an expired key) preselects the account.
    let s = app
        .seed(serde_json::json!({"users": [{"key": "a", "email": "a+b@example.org", "tokens": [{"key": "t"}]}]}))
        .await
        .unwrap();
    let r = app
        .client
        .get(app.url("/api/v1/authorize"))
        .header(
            "cookie",
            format!("dsg_token={}", dsg_testkit::user_token(&s, "a", "t")),
        )
        .send()
        .await
        .unwrap();
    let loc = r.headers()["location"].to_str().unwrap();
    assert!(loc.ends_with("&login_hint=a%2Bb%40example.org"), "{loc}");
    let r = app.get("/auth/login", None).await.unwrap();
    let loc = r.headers()["location"].to_str().unwrap();
    assert!(!loc.contains("login_hint"), "{loc}");
    assert!(
        loc.contains(
            "redirect_uri=http%3A%2F%2Fdsg.test%2Faccounts%2Fgoogle%2Flogin%2Fcallback%2F"
        ),
        "{loc}"
    );
    // The unreachable issuer: login through it is 503, /readyz names it.
    let r = app.get("/auth/login?provider=kc", None).await.unwrap();
    assert_eq!(r.status().as_u16(), 503);
    let r = app.get("/auth/login?provider=nope", None).await.unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let r = app.get("/readyz", None).await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "degraded");
    let reasons = body["identity_providers_not_ready"].to_string();
    assert!(
        reasons.contains("login provider kc") && !reasons.contains("google"),
        "{body}"
    );
    app.shutdown().await;
}
both_backends!(
    google_offline,
    crate::login::google_authorize_needs_no_network_and_unreachable_issuers_show_in_readyz
);

async fn redirect_uri_uses_forwarded_headers_only_when_trusted(backend: Backend) {
    // (legacy trust-everyone switch, server.trusted_proxies, believed?)
    for (all, proxies, trusted) in [
        (false, vec![], false),
        (true, vec![], true),
        (false, vec!["127.0.0.1".to_owned()], true),
        (
            false,
            vec!["10.0.0.0/8".to_owned(), "::1".to_owned()],
            false,
        ),
    ] {
        let app = spawn_app_with(backend, |c| {
            c.google.client_id = "gid".into();
            c.google.client_secret = "gs".into();
            c.login.trust_forwarded_headers = all;
            c.server.trusted_proxies = proxies;
        })
        .await
        .unwrap();
        let r = app
            .client
            .get(app.url("/api/v1/authorize"))
            .header("X-Forwarded-Proto", "https")
            .header("X-Forwarded-Host", "dsg.example.org")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 302);
        let loc = r.headers()["location"].to_str().unwrap().to_owned();
        let want = if trusted {
            "redirect_uri=https%3A%2F%2Fdsg.example.org%2Fapi%2Fv1%2Foauth2callback".to_owned()
        } else {
            let host = app
                .address
                .trim_start_matches("http://")
                .replace(':', "%3A");
            format!("redirect_uri=http%3A%2F%2F{host}%2Fapi%2Fv1%2Foauth2callback")
        };
        assert!(loc.contains(&want), "trusted={trusted}: {loc}");
        if !trusted {
            // An untrusted forwarded host cannot make a foreign next "ours".
            let r = app
                .client
                .get(app.url("/auth/login?next=https%3A%2F%2Fevil.org%2F"))
                .header("X-Forwarded-Proto", "https")
                .header("X-Forwarded-Host", "evil.org")
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 400);
        }
        app.shutdown().await;
    }
}
both_backends!(
    forwarded_headers,
    crate::login::redirect_uri_uses_forwarded_headers_only_when_trusted
);

/// With `auth.cookie_domain` set and no `login.redirect_hosts`, a login may
/// end on any https host under the cookie's domain (CAVE's sibling
/// subdomains), and nowhere else.
async fn redirect_hosts_default_to_the_cookie_domain(backend: Backend) {
    let (app, _idp) = app_with_idp(backend, |c, _| {
        c.auth.cookie_domain = ".example.org".into();
        c.login.redirect_hosts = Vec::new();
    })
    .await;
    let (client, _) = browser();
    for (next, status) in [
        (
            "https%3A%2F%2Fcave.example.org%2Fmaterialize%2F%3Fa%3D1",
            302,
        ),
        ("https%3A%2F%2Fexample.org%2F", 302),
        ("https%3A%2F%2Fevil.org%2F", 400),
        ("https%3A%2F%2Fexample.org.evil.org%2F", 400),
        ("http%3A%2F%2Fcave.example.org%2F", 400),
    ] {
        for path in [
            format!("/auth/login?next={next}"),
            format!("/api/v1/authorize?redirect={next}"),
        ] {
            let r = client.get(app.url(&path)).send().await.unwrap();
            assert_eq!(r.status().as_u16(), status, "{path}");
        }
    }
    app.shutdown().await;
}
both_backends!(
    redirect_hosts_default,
    crate::login::redirect_hosts_default_to_the_cookie_domain
);

/// CAVE's `authorize?service=…&dataset=…` login passes the service-check
/// page, which asks for pending terms and then continues to `redirect`.
async fn cave_login_for_a_service_passes_the_service_check(backend: Backend) {
    let (app, _idp) = app_with_idp(backend, |_, _| {}).await;
    app.seed(serde_json::json!({
        "datasets": [{"name": "fish2", "tos": "t"}, {"name": "free"}],
        "tos": [{"key": "t", "name": "Fish terms", "text": "Be nice.", "dataset": "fish2"}]
    }))
    .await
    .unwrap();
    let (client, _) = browser();
    let (auth_url, _) = start(
        &app,
        &client,
        "/api/v1/authorize?redirect=%2Fdone%3Fa%3D1&service=datastack&dataset=fish2",
    )
    .await;
    let cb = drive(&client, &auth_url, "alice", &app.url(CAVE_CB)).await;
    let r = client.get(&cb).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 302);
    let loc = r.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(
        loc,
        "/web/tos/service-check/?service=datastack&dataset=fish2&next=%2Fdone%3Fa%3D1"
    );
    let page = client.get(app.url(&loc)).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    assert!(page.text().await.unwrap().contains("Fish terms"));
    // Nothing pending: straight on to `redirect`.
    let r = client
        .get(app.url("/web/tos/service-check/?service=datastack&dataset=free&next=%2Fdone"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["location"], "/done");
    // A foreign `redirect` is refused before any login, service or not.
    let r = client
        .get(app.url(
            "/api/v1/authorize?redirect=https%3A%2F%2Fevil.org%2F&service=datastack&dataset=fish2",
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    app.shutdown().await;
}
both_backends!(
    cave_service_check,
    crate::login::cave_login_for_a_service_passes_the_service_check
);
