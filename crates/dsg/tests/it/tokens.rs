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
