//! Tokens and sessions as today's clients use them (dsg-native-v1 §8–9):
//! the stable long-lived token neuPrint's `/token` shows on every page load,
//! its rotation, and the keys registered web clients receive.

use dsg_store::audit::AuditFilter;
use dsg_testkit::native::call;
use dsg_testkit::{Backend, TestApp, spawn_app, spawn_app_with, user_token};
use serde_json::{Value, json};

fn world() -> Value {
    json!({
        "permissions": ["view", "edit", "manage", "admin"],
        "datasets": [{"name": "fish"}],
        "users": [
            {"key": "ann", "email": "ann@example.org", "admin": true,
             "tokens": [{"key": "t"}, {"key": "other"}]},
            {"key": "bob", "email": "bob@example.org", "tokens": [{"key": "t"}]}
        ],
        "grants": [{"user": "bob", "dataset": "fish", "permission": "admin"}],
        "service_accounts": [{"key": "ci", "name": "ci-bot", "tokens": [{"key": "t"}]}]
    })
}

async fn long_lived(app: &TestApp, token: &str) -> (u16, Value) {
    call(app, "GET", "/api/v1/long_lived_token", token, None).await
}

async fn rotate(app: &TestApp, token: &str) -> (u16, Value) {
    call(app, "POST", "/api/v1/long_lived_token/rotate", token, None).await
}

async fn audits(app: &TestApp, action: &str) -> Vec<dsg_store::audit::AuditEntry> {
    app.store
        .audit_entries(&AuditFilter {
            action: Some(action.into()),
            ..AuditFilter::default()
        })
        .await
        .unwrap()
}

/// `api_token_created` rows of long-lived tokens.
async fn long_lived_created(app: &TestApp) -> usize {
    audits(app, "api_token_created")
        .await
        .iter()
        .filter(|e| {
            e.after_state
                .as_ref()
                .is_some_and(|a| a["long_lived"] == true)
        })
        .count()
}

fn value(v: &Value) -> String {
    v["token"].as_str().unwrap().to_owned()
}

/// neuPrintExplorer's `/token` loop: the same value from every call and
/// from any of the user's tokens, listed once; the value works everywhere a
/// user token does; revoking it gives a new value next time, never the old
/// one; humans only.
async fn the_long_lived_token_is_stable(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app.seed(world()).await.unwrap();
    let ann = user_token(&s, "ann", "t");
    let other = user_token(&s, "ann", "other");
    let (st, first) = long_lived(&app, &ann).await;
    assert_eq!(st, 200, "{first}");
    let t0 = value(&first);
    assert_eq!(t0.len(), 64);
    assert!(t0.bytes().all(|b| b.is_ascii_hexdigit()));
    for who in [&ann, &other, &t0, &ann] {
        let (st, again) = long_lived(&app, who).await;
        assert_eq!(st, 200);
        assert_eq!(value(&again), t0, "the same value from every token");
    }
    assert_eq!(app.user_cache(&t0).await.unwrap().0, 200);
    let (_, list) = call(&app, "GET", "/api/v1/user/token", &ann, None).await;
    let rows: Vec<&Value> = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["description"] == "Default long-lived API token")
        .collect();
    assert_eq!(rows.len(), 1, "{list}");
    assert_eq!(long_lived_created(&app).await, 1);

    // Revoked: the next call gives a new value; the old one stays dead.
    let id = rows[0]["id"].as_i64().unwrap();
    let (st, _) = call(&app, "DELETE", &format!("/api/v1/tokens/{id}"), &ann, None).await;
    assert_eq!(st, 200);
    assert_eq!(app.user_cache(&t0).await.unwrap().0, 401);
    let (_, next) = long_lived(&app, &ann).await;
    let t1 = value(&next);
    assert_ne!(t1, t0);
    assert_eq!(app.user_cache(&t0).await.unwrap().0, 401);
    assert_eq!(app.user_cache(&t1).await.unwrap().0, 200);
    assert_eq!(value(&long_lived(&app, &other).await.1), t1);

    // Another person gets another value; service accounts get none.
    let bob = user_token(&s, "bob", "t");
    assert_ne!(value(&long_lived(&app, &bob).await.1), t1);
    let sa = s["service_accounts"]["ci"]["tokens"]["t"].as_str().unwrap();
    assert_eq!(long_lived(&app, sa).await.0, 403);
    assert_eq!(
        app.get("/api/v1/long_lived_token", None)
            .await
            .unwrap()
            .status(),
        401
    );
    app.shutdown().await;
}
both_backends!(stable_tests, super::the_long_lived_token_is_stable);

/// Concurrent first calls (on two replicas) end with exactly one token.
async fn concurrent_first_calls_end_with_one_token(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app.seed(world()).await.unwrap();
    let replica = app.spawn_replica(|_| {}).await.unwrap();
    let ann = user_token(&s, "ann", "t");
    let calls = (0..12).map(|i| {
        let (app, ann) = (if i % 2 == 0 { &app } else { &replica }, ann.clone());
        async move { long_lived(app, &ann).await }
    });
    let answers = futures::future::join_all(calls).await;
    let first = value(&answers[0].1);
    for (st, v) in &answers {
        assert_eq!(*st, 200, "{v}");
        assert_eq!(value(v), first);
    }
    let rows = app
        .store
        .list_user_tokens(None)
        .await
        .unwrap()
        .into_iter()
        .filter(|t| t.long_lived)
        .count();
    assert_eq!(rows, 1);
    assert_eq!(long_lived_created(&app).await, 1);
    replica.shutdown().await;
    app.shutdown().await;
}
both_backends!(
    concurrent_tests,
    super::concurrent_first_calls_end_with_one_token
);

/// A server whose key changed issues the next generation (audited
/// `api_token_rotated`, reason `key_changed`); the old value stops working.
async fn a_changed_key_replaces_the_token(backend: Backend) {
    let key = |k: &'static str| {
        move |c: &mut dsg_server::Config| c.auth.long_lived_token_key = k.repeat(8)
    };
    let app = spawn_app_with(backend, key("abcd")).await.unwrap();
    let s = app.seed(world()).await.unwrap();
    let ann = user_token(&s, "ann", "t");
    let old = value(&long_lived(&app, &ann).await.1);
    let changed = app.spawn_replica(key("wxyz")).await.unwrap();
    let (st, v) = long_lived(&changed, &ann).await;
    assert_eq!(st, 200);
    let new = value(&v);
    assert_ne!(new, old);
    assert_eq!(value(&long_lived(&changed, &ann).await.1), new);
    assert_eq!(changed.user_cache(&old).await.unwrap().0, 401);
    let rotated = audits(&app, "api_token_rotated").await;
    assert_eq!(rotated.len(), 1);
    let before = rotated[0].before_state.as_ref().unwrap();
    assert_eq!(before["reason"], "key_changed");
    assert!(
        !rotated[0]
            .after_state
            .as_ref()
            .unwrap()
            .to_string()
            .contains(&new)
    );
    changed.shutdown().await;
    app.shutdown().await;
}
both_backends!(key_change_tests, super::a_changed_key_replaces_the_token);

/// Rotation (spec 8.2): only the current long-lived token as a bearer; the
/// old value dies at once (on every replica); a second rotation with it is
/// refused; the user's other tokens are untouched; audited without values.
async fn rotation_takes_only_the_long_lived_bearer(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app.seed(world()).await.unwrap();
    let replica = app.spawn_replica(|_| {}).await.unwrap();
    let ann = user_token(&s, "ann", "t");
    let t0 = value(&long_lived(&app, &ann).await.1);
    assert_eq!(replica.user_cache(&t0).await.unwrap().0, 200);
    let audit_before = app.store.audit_count().await.unwrap();

    // Refused, changing nothing: another token, a cookie (even holding the
    // long-lived token, even beside the bearer), a query parameter, GET,
    // a service account, nobody.
    assert_eq!(rotate(&app, &ann).await.0, 403);
    let http = reqwest::Client::new();
    let url = app.url("/api/v1/long_lived_token/rotate");
    let cookie = http
        .post(&url)
        .header("cookie", format!("dsg_token={t0}"))
        .header("origin", app.address.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(cookie.status(), 403);
    let both = http
        .post(&url)
        .bearer_auth(&t0)
        .header("cookie", format!("dsg_token={t0}"))
        .header("origin", app.address.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(both.status(), 403);
    let query = http
        .post(format!("{url}?dsg_token={t0}"))
        .send()
        .await
        .unwrap();
    assert_eq!(query.status(), 403);
    let get = http.get(&url).bearer_auth(&t0).send().await.unwrap();
    assert_eq!(get.status(), 405);
    let sa = s["service_accounts"]["ci"]["tokens"]["t"].as_str().unwrap();
    assert_eq!(rotate(&app, sa).await.0, 403);
    assert_eq!(http.post(&url).send().await.unwrap().status(), 401);
    assert_eq!(app.store.audit_count().await.unwrap(), audit_before);
    assert_eq!(value(&long_lived(&app, &ann).await.1), t0);

    // The rotation itself.
    let (st, v) = rotate(&app, &t0).await;
    assert_eq!(st, 200, "{v}");
    let t1 = value(&v);
    assert_ne!(t1, t0);
    assert_eq!(app.user_cache(&t0).await.unwrap().0, 401);
    assert_eq!(replica.user_cache(&t0).await.unwrap().0, 401);
    assert_eq!(replica.user_cache(&t1).await.unwrap().0, 200);
    assert_eq!(value(&long_lived(&replica, &ann).await.1), t1);
    assert_eq!(app.user_cache(&ann).await.unwrap().0, 200);
    // The old value again: it no longer authenticates.
    assert_eq!(rotate(&app, &t0).await.0, 401);
    let rotated = audits(&app, "api_token_rotated").await;
    assert_eq!(rotated.len(), 1);
    let e = &rotated[0];
    assert_eq!(
        e.before_state.as_ref().unwrap()["revoked_token_ids"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let text = format!("{:?}{:?}", e.before_state, e.after_state);
    assert!(!text.contains(&t0) && !text.contains(&t1));
    // And rotating the new one works in turn, from the replica.
    let (st, v) = rotate(&replica, &t1).await;
    assert_eq!(st, 200);
    assert_ne!(value(&v), t1);
    assert_ne!(value(&v), t0);
    replica.shutdown().await;
    app.shutdown().await;
}
both_backends!(
    rotation_tests,
    super::rotation_takes_only_the_long_lived_bearer
);

/// Two rotations racing with the same old token: one wins, the other gets
/// 409 `{"error": "stale rotation"}` or 401; exactly one new token exists.
async fn racing_rotations_leave_one_winner(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app.seed(world()).await.unwrap();
    let replica = app.spawn_replica(|_| {}).await.unwrap();
    let ann = user_token(&s, "ann", "t");
    let t0 = value(&long_lived(&app, &ann).await.1);
    let (a, b) = tokio::join!(rotate(&app, &t0), rotate(&replica, &t0));
    let mut statuses = [a.0, b.0];
    statuses.sort_unstable();
    assert_eq!(statuses[0], 200, "{a:?} {b:?}");
    assert!(matches!(statuses[1], 401 | 409), "{a:?} {b:?}");
    for (st, v) in [&a, &b] {
        if *st == 409 {
            assert_eq!(*v, json!({"error": "stale rotation"}));
        }
    }
    let winner = if a.0 == 200 { value(&a.1) } else { value(&b.1) };
    assert_eq!(value(&long_lived(&app, &ann).await.1), winner);
    assert_eq!(audits(&app, "api_token_rotated").await.len(), 1);
    replica.shutdown().await;
    app.shutdown().await;
}
both_backends!(race_tests, super::racing_rotations_leave_one_winner);

/// Rotations count toward `rate_limit.token_creation`; reading the token
/// once it exists does not.
async fn rotation_counts_toward_the_creation_limit(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        c.rate_limit.token_creation = dsg_server::config::LimitConfig::per_minute(3);
    })
    .await
    .unwrap();
    let s = app.seed(world()).await.unwrap();
    let ann = user_token(&s, "ann", "t");
    let mut t = value(&long_lived(&app, &ann).await.1);
    for _ in 0..5 {
        assert_eq!(long_lived(&app, &ann).await.0, 200, "reading is free");
    }
    for _ in 0..2 {
        let (st, v) = rotate(&app, &t).await;
        assert_eq!(st, 200, "{v}");
        t = value(&v);
    }
    let (st, v) = rotate(&app, &t).await;
    assert_eq!(st, 429, "{v}");
    assert_eq!(app.user_cache(&t).await.unwrap().0, 200, "nothing changed");
    app.shutdown().await;
}
both_backends!(
    rotation_limit_tests,
    super::rotation_counts_toward_the_creation_limit
);

// ---- registered web clients and delegated keys (spec 9) ----

const CODA: &str = "https://coda.example.org";

fn clients_world() -> Value {
    let mut w = world();
    w["registered_clients"] = json!([
        {"key": "coda", "origin": CODA, "name": "CODA", "owner": "Navis team"},
        {"key": "off", "origin": "https://off.example.org", "name": "Off", "enabled": false}
    ]);
    let users = w["users"].as_array_mut().unwrap();
    users[0]["tokens"].as_array_mut().unwrap().extend([
        json!({"key": "coda", "delegated_client": "coda"}),
        json!({"key": "ll", "long_lived": true}),
    ]);
    users[1]["tokens"]
        .as_array_mut()
        .unwrap()
        .push(json!({"key": "coda", "delegated_client": "coda"}));
    users[1]["client_consents"] = json!(["coda"]);
    w
}

fn popup(origin: &str) -> String {
    format!("/login?origin={}&token=api", urlencoding(origin))
}

fn urlencoding(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The key a popup page posts, and the origin it posts to.
fn posted(body: &str) -> Option<(String, Value)> {
    let attr = |name: &str| {
        let key = format!("{name}=\"");
        let i = body.find(&key)? + key.len();
        Some(
            body[i..]
                .split('"')
                .next()?
                .replace("&quot;", "\"")
                .replace("&#34;", "\""),
        )
    };
    Some((
        attr("data-origin")?,
        serde_json::from_str(&attr("data-message")?).ok()?,
    ))
}

/// Seeds write registered clients, delegated keys, long-lived tokens and
/// consents; a delegated key acts with the owner's rights minus admin
/// power, manages no tokens, never reaches SCIM and is no web login.
async fn delegated_keys_carry_no_admin_power(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app.seed(clients_world()).await.unwrap();
    assert_eq!(s["registered_clients"]["coda"]["origin"], CODA);
    let ann_key = user_token(&s, "ann", "coda");
    let bob_key = user_token(&s, "bob", "coda");
    let ann = user_token(&s, "ann", "t");
    // The fixture's long-lived token is what the endpoint returns.
    assert_eq!(
        value(&long_lived(&app, &ann).await.1),
        user_token(&s, "ann", "ll")
    );

    let (st, who) = call(&app, "GET", "/api/dsg/v1/user", &ann_key, None).await;
    assert_eq!(st, 200, "{who}");
    assert_eq!(who["admin"], false);
    assert_eq!(
        call(&app, "GET", "/api/dsg/v1/user", &ann, None).await.1["admin"],
        true
    );
    let (st, cache) = app.user_cache(&ann_key).await.unwrap();
    assert_eq!(st, 200);
    assert_eq!(cache["admin"], false);
    // Dataset rights from grants stay.
    let (_, bob_cache) = app.user_cache(&bob_key).await.unwrap();
    assert_eq!(bob_cache["datasets_admin"], json!(["fish"]));
    // Global-admin shortcuts are gone: an admin's key cannot list all users.
    let (st, _) = call(&app, "GET", "/api/v1/service-accounts", &ann_key, None).await;
    assert_eq!(st, 403);

    // Token management: 403 everywhere.
    for (method, path) in [
        ("POST", "/api/v1/create_token"),
        ("GET", "/api/v1/long_lived_token"),
        ("POST", "/api/v1/long_lived_token/rotate"),
        ("GET", "/api/v1/user/token"),
        ("GET", "/api/v1/refresh_token"),
        ("GET", "/api/v1/tokens"),
        ("POST", "/api/v1/tokens"),
        ("DELETE", "/api/v1/tokens/1"),
        ("GET", "/api/v1/registered-clients"),
    ] {
        let (st, v) = call(&app, method, path, &ann_key, Some(json!({}))).await;
        assert_eq!(st, 403, "{method} {path}: {v}");
    }
    // SCIM: 401, although the owner is a global admin.
    let (st, _) = call(&app, "GET", "/auth/scim/v2/Users", &ann_key, None).await;
    assert_eq!(st, 401);
    assert_eq!(
        call(&app, "GET", "/auth/scim/v2/Users", &ann, None).await.0,
        200
    );
    // Not a web login, and no ngauth grant from it.
    let page = dsg_testkit::web::Visitor::new(&app, Some(&ann_key))
        .get("/web/my-account")
        .await;
    assert_eq!(page.status, 302);
    assert!(
        page.location.starts_with("/auth/login"),
        "{}",
        page.location
    );
    let ngauth = |cookie: String| {
        reqwest::Client::new()
            .post(app.url("/token"))
            .header("cookie", format!("dsg_token={cookie}"))
            .header("origin", "https://demo.neuroglancer.org")
            .send()
    };
    assert_eq!(ngauth(ann.clone()).await.unwrap().status(), 200);
    assert_eq!(ngauth(ann_key.clone()).await.unwrap().status(), 401);
    // Expired: 401.
    app.clock.advance_secs(8 * 24 * 3600);
    assert_eq!(app.user_cache(&ann_key).await.unwrap().0, 401);
    app.shutdown().await;
}
both_backends!(delegated_tests, super::delegated_keys_carry_no_admin_power);

/// The popup over HTTP: a consent page (creating nothing), a CSRF-checked
/// Allow that mints and posts to the exact origin, remembered delivery of
/// the same key without a click, ten live keys at most, and refusals that
/// post nothing.
async fn the_popup_asks_then_delivers(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app.seed(clients_world()).await.unwrap();
    let ann = user_token(&s, "ann", "t");
    let web = dsg_testkit::web::Visitor::new(&app, Some(&ann));
    let keys = |app: &TestApp| {
        let store = app.store.clone();
        async move {
            store
                .list_user_tokens(None)
                .await
                .unwrap()
                .into_iter()
                .filter(|t| t.client.is_some() && t.email == "ann@example.org")
                .count()
        }
    };
    assert_eq!(keys(&app).await, 1);

    // Not signed in: the normal login, back to the same URL.
    let anon = dsg_testkit::web::Visitor::new(&app, None)
        .get(&popup(CODA))
        .await;
    assert!(matches!(anon.status, 302 | 303), "{}", anon.status);
    assert!(
        anon.location.starts_with("/auth/login?next="),
        "{}",
        anon.location
    );
    assert!(anon.location.contains("token%3Dapi"), "{}", anon.location);

    // The consent page: names the client, creates nothing, carries the headers.
    let page = web.get(&popup(CODA)).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("CODA") && page.body.contains("Navis team"));
    assert!(posted(&page.body).is_none());
    let h = |n: &str| {
        page.headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    assert_eq!(h("cache-control"), "no-store, private");
    assert_eq!(h("referrer-policy"), "same-origin");
    assert_eq!(h("x-frame-options"), "DENY");
    assert_eq!(h("cross-origin-opener-policy"), "unsafe-none");
    assert_eq!(keys(&app).await, 1);
    let audit = app.store.audit_count().await.unwrap();

    // Allow without the CSRF token, or from another site: nothing.
    let bare = web
        .post_raw(&popup(CODA), &[("decision", "allow")], Some(&app.address))
        .await;
    assert_eq!(bare.status, 403);
    let csrf = dsg_testkit::web::csrf_of(&page.body);
    let foreign = web
        .post_raw(
            &popup(CODA),
            &[("decision", "allow"), ("csrf", &csrf)],
            Some("https://evil.example"),
        )
        .await;
    assert_eq!(foreign.status, 403);
    assert!(posted(&bare.body).is_none() && posted(&foreign.body).is_none());
    assert_eq!(app.store.audit_count().await.unwrap(), audit);

    // Cancel: closes, nothing posted.
    let cancel = web
        .post_raw(
            &popup(CODA),
            &[("decision", "cancel"), ("csrf", &csrf)],
            Some(&app.address),
        )
        .await;
    assert_eq!(cancel.status, 200);
    assert!(posted(&cancel.body).is_none());
    assert_eq!(keys(&app).await, 1);

    // Allow, remembered.
    let consents = audits(&app, "client_consent_created").await.len();
    let allow = web
        .post_raw(
            &popup(CODA),
            &[("decision", "allow"), ("remember", "on"), ("csrf", &csrf)],
            Some(&app.address),
        )
        .await;
    assert_eq!(allow.status, 200, "{}", allow.body);
    let (target, message) = posted(&allow.body).expect("a message");
    assert_eq!(target, CODA);
    let key = message["token"].as_str().unwrap().to_owned();
    assert!(!allow.location.contains(&key));
    assert_eq!(
        call(&app, "GET", "/api/dsg/v1/user", &key, None).await.1["email"],
        "ann@example.org"
    );
    assert_eq!(keys(&app).await, 2);
    let created = audits(&app, "api_token_created").await;
    assert_eq!(
        created[0].after_state.as_ref().unwrap()["client_origin"],
        CODA
    );
    assert_eq!(
        audits(&app, "client_consent_created").await.len(),
        consents + 1
    );

    // Remembered: the same key again, no click, nothing minted.
    let again = web.get(&popup(CODA)).await;
    let (target, message) = posted(&again.body).expect("delivered");
    assert_eq!(target, CODA);
    assert_eq!(message["token"], key);
    assert_eq!(keys(&app).await, 2);

    // At most ten live keys per person and client.
    for _ in 0..12 {
        let r = web
            .post_raw(
                &popup(CODA),
                &[("decision", "allow"), ("csrf", &csrf)],
                Some(&app.address),
            )
            .await;
        assert_eq!(r.status, 200);
    }
    assert_eq!(keys(&app).await, 10);
    assert_eq!(
        call(&app, "GET", "/api/dsg/v1/user", &key, None).await.0,
        401,
        "evicted"
    );

    // Unknown, disabled or malformed origins: no key and no message.
    for (origin, status) in [
        ("https://unknown.example.org", 403),
        ("https://off.example.org", 403),
        ("https://coda.example.org/", 400),
        ("javascript:alert(1)", 400),
    ] {
        let r = web.get(&popup(origin)).await;
        assert_eq!(r.status, status, "{origin}");
        assert!(posted(&r.body).is_none(), "{origin}");
        let r = web
            .post_raw(
                &popup(origin),
                &[("decision", "allow"), ("csrf", &csrf)],
                Some(&app.address),
            )
            .await;
        assert!(posted(&r.body).is_none(), "{origin}");
    }
    assert_eq!(keys(&app).await, 10);
    app.shutdown().await;
}
both_backends!(popup_tests, super::the_popup_asks_then_delivers);

/// The account page lists signed-in sites and remembered sites; revoking a
/// key keeps the consent (the next popup asks, pre-ticked), forgetting keeps
/// the keys; another person's ids change nothing.
async fn the_account_page_revokes_and_forgets(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app.seed(clients_world()).await.unwrap();
    let bob = user_token(&s, "bob", "t");
    let bob_key = user_token(&s, "bob", "coda");
    let ann = user_token(&s, "ann", "t");
    let web = dsg_testkit::web::Visitor::new(&app, Some(&bob));
    let page = web.get("/web/my-account").await;
    assert!(page.body.contains("Sites you have signed in from"));
    assert!(page.body.contains("Remembered sites"));
    assert!(page.body.contains(CODA));
    assert!(!page.body.contains(&bob_key));
    let key_id = app
        .store
        .list_user_tokens(None)
        .await
        .unwrap()
        .into_iter()
        .find(|t| t.client.is_some() && t.email == "bob@example.org")
        .unwrap()
        .id;
    let client_id = s["registered_clients"]["coda"]["id"]
        .as_i64()
        .unwrap()
        .to_string();
    // Ann cannot touch Bob's key or consent.
    let ann_web = dsg_testkit::web::Visitor::new(&app, Some(&ann));
    let r = ann_web
        .post(
            "/web/my-account",
            &[
                ("action", "revoke_delegated"),
                ("token_id", &key_id.to_string()),
            ],
        )
        .await;
    assert_eq!(r.status, 302);
    assert_eq!(app.user_cache(&bob_key).await.unwrap().0, 200);
    // Without the CSRF token: 403.
    let r = web
        .post_raw(
            "/web/my-account",
            &[
                ("action", "revoke_delegated"),
                ("token_id", &key_id.to_string()),
            ],
            Some(&app.address),
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(app.user_cache(&bob_key).await.unwrap().0, 200);
    // Revoke: the key dies, the consent stays.
    let r = web
        .post(
            "/web/my-account",
            &[
                ("action", "revoke_delegated"),
                ("token_id", &key_id.to_string()),
            ],
        )
        .await;
    assert_eq!(r.status, 302);
    assert_eq!(app.user_cache(&bob_key).await.unwrap().0, 401);
    let revoked = audits(&app, "api_token_revoked").await;
    assert_eq!(
        revoked[0].before_state.as_ref().unwrap()["client_origin"],
        CODA
    );
    let ask = web.get(&popup(CODA)).await;
    assert!(posted(&ask.body).is_none());
    assert!(ask.body.contains("value=\"on\" checked"), "pre-ticked");
    // Forget: the consent goes.
    let r = web
        .post(
            "/web/my-account",
            &[("action", "forget_client"), ("client_id", &client_id)],
        )
        .await;
    assert_eq!(r.status, 302);
    assert_eq!(audits(&app, "client_consent_forgotten").await.len(), 1);
    let ask = web.get(&popup(CODA)).await;
    assert!(!ask.body.contains("value=\"on\" checked"));
    let again = web
        .post(
            "/web/my-account",
            &[("action", "forget_client"), ("client_id", &client_id)],
        )
        .await;
    assert_eq!(again.status, 302);
    assert_eq!(audits(&app, "client_consent_forgotten").await.len(), 1);
    app.shutdown().await;
}
both_backends!(account_tests, super::the_account_page_revokes_and_forgets);

/// Registration: native API (global admins only; exact origins; 409 on a
/// second registration; disable/enable) and the CLI.
async fn clients_are_registered_by_admins(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app.seed(world()).await.unwrap();
    let ann = user_token(&s, "ann", "t");
    let bob = user_token(&s, "bob", "t");
    let body = json!({"origin": CODA, "name": "CODA", "owner": "Navis"});
    assert_eq!(
        call(
            &app,
            "POST",
            "/api/v1/registered-clients",
            &bob,
            Some(body.clone())
        )
        .await
        .0,
        403
    );
    for bad in [
        "https://coda.example.org/",
        "coda.example.org",
        "https://CODA.example.org",
    ] {
        let (st, v) = call(
            &app,
            "POST",
            "/api/v1/registered-clients",
            &ann,
            Some(json!({"origin": bad, "name": "x"})),
        )
        .await;
        assert_eq!(st, 400, "{bad}: {v}");
    }
    let (st, c) = call(
        &app,
        "POST",
        "/api/v1/registered-clients",
        &ann,
        Some(body.clone()),
    )
    .await;
    assert_eq!(st, 201, "{c}");
    assert_eq!(c["enabled"], true);
    assert_eq!(
        call(&app, "POST", "/api/v1/registered-clients", &ann, Some(body))
            .await
            .0,
        409
    );
    let id = c["id"].as_i64().unwrap();
    let (st, c) = call(
        &app,
        "PATCH",
        &format!("/api/v1/registered-clients/{id}"),
        &ann,
        Some(json!({"enabled": false})),
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(c["enabled"], false);
    assert_eq!(audits(&app, "registered_client_updated").await.len(), 1);
    let web = dsg_testkit::web::Visitor::new(&app, Some(&bob));
    assert_eq!(web.get(&popup(CODA)).await.status, 403, "disabled");

    let (ok, out, err) = dsg_testkit::cli::dsg(
        &app,
        &[
            "client",
            "add",
            "--origin",
            "https://app.example.org",
            "--name",
            "App",
            "--owner",
            "Lab",
        ],
        None,
    );
    assert!(ok, "{err}");
    assert!(out.contains("https://app.example.org"));
    let (ok, _, err) = dsg_testkit::cli::dsg(
        &app,
        &[
            "client",
            "add",
            "--origin",
            "https://app.example.org/",
            "--name",
            "App",
        ],
        None,
    );
    assert!(!ok);
    assert!(err.contains("exact origin"), "{err}");
    let (ok, _, _) = dsg_testkit::cli::dsg(&app, &["client", "enable", CODA], None);
    assert!(ok);
    // An enabled registered origin may call /api/dsg/v1 from the browser
    // (bearer only, no credentials); other origins get no CORS headers.
    let preflight = |origin: &'static str| {
        reqwest::Client::new()
            .request(reqwest::Method::OPTIONS, app.url("/api/dsg/v1/user"))
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization")
            .send()
    };
    let r = preflight(CODA).await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["access-control-allow-origin"], CODA);
    assert!(
        r.headers()
            .get("access-control-allow-credentials")
            .is_none()
    );
    let r = preflight("https://evil.example").await.unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
    let r = app
        .client
        .get(app.url("/api/dsg/v1/user"))
        .bearer_auth(&ann)
        .header("origin", CODA)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["access-control-allow-origin"], CODA);
    let (ok, out, _) = dsg_testkit::cli::dsg(&app, &["client", "list", "--json"], None);
    assert!(ok);
    let list: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .all(|c| c["enabled"] == true)
    );
    let (ok, _, err) = dsg_testkit::cli::dsg(
        &app,
        &["client", "disable", "https://nope.example.org"],
        None,
    );
    assert!(!ok && err.contains("No client"), "{err}");
    app.shutdown().await;
}
both_backends!(registration_tests, super::clients_are_registered_by_admins);
