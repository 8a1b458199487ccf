//! The CAVE-compatible endpoints besides `user/cache`, and the probes.

use dsg_testkit::{Backend, spawn_app, user_token};
use serde_json::{Value, json};

fn world() -> Value {
    json!({
        "datasets": [{"name": "fish2", "service_tables": [{"service": "datastack", "table": "t1", "public_roots": [100, 200]}]}],
        "users": [
            {"key": "a", "email": "a@example.org", "name": "alice", "display_name": "Alice A", "tokens": [{"key": "t"}]},
            {"key": "b", "email": "b@example.org", "tokens": [{"key": "t"}]},
            {"key": "root", "email": "root@example.org", "admin": true, "tokens": [{"key": "t"}]}
        ],
        "groups": [{"name": "lab", "members": [{"user": "a"}, {"user": "b", "admin": true}]}],
        "service_accounts": [{"key": "svc", "name": "pcg", "tokens": [{"key": "t"}]}]
    })
}

async fn body(r: reqwest::Response, status: u16) -> Value {
    assert_eq!(r.status().as_u16(), status, "{}", r.url());
    r.json().await.unwrap()
}

async fn lookups_answer_like_the_original(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app.seed(world()).await.unwrap();
    let a = user_token(&s, "a", "t");
    let (ida, idb) = (
        s["users"]["a"]["id"].as_i64().unwrap(),
        s["users"]["b"]["id"].as_i64().unwrap(),
    );
    assert_eq!(
        body(
            app.get("/api/v1/service/datastack/table/t1/dataset", Some(&a))
                .await
                .unwrap(),
            200
        )
        .await,
        json!("fish2")
    );
    assert_eq!(
        body(
            app.get("/api/v1/service/other/table/t1/dataset", Some(&a))
                .await
                .unwrap(),
            404
        )
        .await,
        json!({"error": "Table not found"})
    );
    assert_eq!(
        body(
            app.get(&format!("/api/v1/username?id={idb}, {ida},,999"), Some(&a))
                .await
                .unwrap(),
            200
        )
        .await,
        json!([{"id": ida, "name": "Alice A"}, {"id": idb, "name": "b"}])
    );
    let users = body(
        app.get(&format!("/api/v1/user?id={ida}"), Some(&a))
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(
        users,
        json!([{"id": ida, "name": "Alice A", "email": "a@example.org", "admin": false, "pi": "", "picture_url": ""}])
    );
    assert_eq!(
        body(app.get("/api/v1/username", Some(&a)).await.unwrap(), 200).await,
        json!([])
    );
    let u = body(
        app.get(&format!("/api/v1/user/{idb}"), Some(&a))
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(u["groups"], json!(["lab"]));
    assert_eq!(
        body(
            app.get("/api/v1/groups/lab/members", Some(&a))
                .await
                .unwrap(),
            200
        )
        .await,
        json!(["a@example.org", "b@example.org"])
    );
    body(
        app.get("/api/v1/groups/nope/members", Some(&a))
            .await
            .unwrap(),
        404,
    )
    .await;
    let gid = s["groups"]["lab"]["id"].as_i64().unwrap();
    let members = body(
        app.get(&format!("/api/v1/group/{gid}/user"), Some(&a))
            .await
            .unwrap(),
        200,
    )
    .await;
    assert_eq!(members.as_array().unwrap().len(), 2);
    assert_eq!(
        body(
            app.get("/api/v1/group/9999/user", Some(&a)).await.unwrap(),
            200
        )
        .await,
        json!([])
    );
    app.shutdown().await;
}
both_backends!(
    lookups_answer_like_the_original,
    super::lookups_answer_like_the_original
);

async fn other_users_permissions_are_for_self_admins_and_services(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app.seed(world()).await.unwrap();
    let ida = s["users"]["a"]["id"].as_i64().unwrap();
    let path = format!("/api/v1/user/{ida}/permissions");
    body(
        app.get(&path, Some(&user_token(&s, "a", "t")))
            .await
            .unwrap(),
        200,
    )
    .await;
    body(
        app.get(&path, Some(&user_token(&s, "root", "t")))
            .await
            .unwrap(),
        200,
    )
    .await;
    let svc = s["service_accounts"]["svc"]["tokens"]["t"]
        .as_str()
        .unwrap()
        .to_owned();
    let doc = body(app.get(&path, Some(&svc)).await.unwrap(), 200).await;
    assert_eq!(doc["groups"], json!(["lab"]));
    body(
        app.get(&path, Some(&user_token(&s, "b", "t")))
            .await
            .unwrap(),
        403,
    )
    .await;
    body(
        app.get("/api/v1/user/99999/permissions", Some(&svc))
            .await
            .unwrap(),
        404,
    )
    .await;
    app.shutdown().await;
}
both_backends!(
    other_users_permissions_are_for_self_admins_and_services,
    super::other_users_permissions_are_for_self_admins_and_services
);

async fn public_roots_work_anonymously_but_reject_bad_tokens(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    app.seed(world()).await.unwrap();
    assert_eq!(
        body(
            app.get("/api/v1/table/t1/has_public", None).await.unwrap(),
            200
        )
        .await,
        json!(true)
    );
    assert_eq!(
        body(
            app.get("/api/v1/table/t2/has_public", None).await.unwrap(),
            200
        )
        .await,
        json!(false)
    );
    assert_eq!(
        body(
            app.get("/api/v1/table/t1/root/100/is_public", None)
                .await
                .unwrap(),
            200
        )
        .await,
        json!(true)
    );
    assert_eq!(
        body(
            app.get("/api/v1/table/t1/root/101/is_public", None)
                .await
                .unwrap(),
            200
        )
        .await,
        json!(false)
    );
    let r = app
        .client
        .post(app.url("/api/v1/table/t1/root_all_public"))
        .json(&json!([200, 1, "100", 100]))
        .send()
        .await
        .unwrap();
    assert_eq!(body(r, 200).await, json!([true, false, false, true]));
    body(
        app.get("/api/v1/table/t1/has_public", Some("bogus"))
            .await
            .unwrap(),
        401,
    )
    .await;
    app.shutdown().await;
}
both_backends!(
    public_roots_work_anonymously_but_reject_bad_tokens,
    super::public_roots_work_anonymously_but_reject_bad_tokens
);

async fn token_endpoints_and_logout(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app.seed(world()).await.unwrap();
    let a = user_token(&s, "a", "t");
    let r = app
        .client
        .post(app.url("/api/v1/create_token"))
        .bearer_auth(&a)
        .json(&json!({"description": "laptop"}))
        .send()
        .await
        .unwrap();
    let new: String = serde_json::from_value(body(r, 200).await).unwrap();
    assert_eq!(new.len(), 64);
    assert_eq!(app.user_cache(&new).await.unwrap().0, 200);
    let list = body(app.get("/api/v1/user/token", Some(&a)).await.unwrap(), 200).await;
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert!(list.iter().any(|t| t["description"] == "laptop"
        && t["last_used"].is_null()
        && t["created"].is_string()));
    // Exactly the keys of spec §5.2, nothing more.
    for t in list {
        let keys: Vec<&str> = t.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys.len(), 4, "{t}");
        for k in ["id", "description", "created", "last_used"] {
            assert!(keys.contains(&k), "{k} missing in {t}");
        }
    }
    assert!(!serde_json::to_string(list).unwrap().contains(&new));
    let svc = s["service_accounts"]["svc"]["tokens"]["t"]
        .as_str()
        .unwrap()
        .to_owned();
    body(
        app.client
            .post(app.url("/api/v1/create_token"))
            .bearer_auth(&svc)
            .send()
            .await
            .unwrap(),
        403,
    )
    .await;
    body(
        app.get("/api/v1/refresh_token", Some(&svc)).await.unwrap(),
        403,
    )
    .await;
    assert_eq!(
        body(
            app.get("/api/v1/refresh_token", Some(&a)).await.unwrap(),
            200
        )
        .await["status"],
        "deprecated"
    );
    let ll = body(
        app.get("/api/v1/long_lived_token", Some(&a)).await.unwrap(),
        200,
    )
    .await;
    assert_eq!(ll["token"].as_str().unwrap().len(), 64);
    // The same value on every call (spec 8.1; tokens.rs tests the rest).
    for _ in 0..3 {
        let again = body(
            app.get("/api/v1/long_lived_token", Some(&a)).await.unwrap(),
            200,
        )
        .await;
        assert_eq!(again["token"], ll["token"]);
    }

    // Logout revokes the cookie's login token and clears the cookie; an API
    // token in the cookie survives (spec 8.3); a stale cookie still logs out.
    let r = reqwest::Client::new()
        .get(app.url("/api/v1/logout"))
        .header("cookie", format!("dsg_token={new}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        app.user_cache(&new).await.unwrap().0,
        200,
        "API tokens survive a logout"
    );
    let login = app
        .seed(json!({"tokens": [{"user": "a@example.org", "key": "login", "description": "OAuth login token"}]}))
        .await
        .unwrap()["tokens"]["login"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = reqwest::Client::new()
        .get(app.url("/api/v1/logout"))
        .header("cookie", format!("dsg_token={login}"))
        .send()
        .await
        .unwrap();
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.starts_with("dsg_token=")
            && cookie.contains("Max-Age=0")
            && cookie.contains("Path=/"),
        "{cookie}"
    );
    assert_eq!(body(r, 200).await, json!({"status": "logged out"}));
    assert_eq!(app.user_cache(&login).await.unwrap().0, 401);
    let r = reqwest::Client::new()
        .post(app.url("/api/v1/logout"))
        .header("cookie", "dsg_token=stale")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        app.user_cache(&a).await.unwrap().0,
        200,
        "bearer tokens survive others' logouts"
    );
    app.shutdown().await;
}
both_backends!(
    token_endpoints_and_logout,
    super::token_endpoints_and_logout
);

/// `logout?redirect=` (spec 8.3): 302 to an allowed absolute URL, verbatim;
/// to `/` for anything else; a login token presented as a bearer (a
/// server-side logout) is revoked too, an API token is not.
async fn logout_redirects(backend: Backend) {
    let app = dsg_testkit::spawn_app_with(backend, |c| {
        c.login.redirect_hosts = vec![".example.org".into(), "neuprint.janelia.org".into()];
    })
    .await
    .unwrap();
    let s = app.seed(world()).await.unwrap();
    let api = user_token(&s, "a", "t");
    let login = app
        .seed(json!({"tokens": [{"user": "a@example.org", "key": "login", "description": "OAuth login token"}]}))
        .await
        .unwrap()["tokens"]["login"]
        .as_str()
        .unwrap()
        .to_owned();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let own = app.url("/web/datasets");
    for (target, expect) in [
        (
            "https://neuprint.janelia.org/?x=1&y=2",
            "https://neuprint.janelia.org/?x=1&y=2",
        ),
        ("https://clio.example.org/", "https://clio.example.org/"),
        ("https://example.org/a", "https://example.org/a"),
        (own.as_str(), own.as_str()),
        ("https://evil.org/", "/"),
        ("https://neuprint.janelia.org.evil.org/", "/"),
        ("//clio.example.org/", "/"),
        ("/web/datasets", "/"),
        ("javascript:alert(1)", "/"),
        ("https://user@clio.example.org/", "/"),
        ("https://clio.example.org\\@evil.org/", "/"),
        ("not a url", "/"),
    ] {
        for method in [reqwest::Method::GET, reqwest::Method::POST] {
            let r = client
                .request(method.clone(), app.url("/api/v1/logout"))
                .query(&[("redirect", target)])
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 302, "{method} {target}");
            assert_eq!(r.headers()["location"], expect, "{method} {target}");
            assert!(
                r.headers()["set-cookie"]
                    .to_str()
                    .unwrap()
                    .contains("Max-Age=0")
            );
        }
    }
    // A server-side logout with the login token as the bearer revokes it;
    // an API token as the bearer survives.
    for t in [&login, &api] {
        let r = client
            .get(app.url("/api/v1/logout"))
            .bearer_auth(t)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    assert_eq!(app.user_cache(&login).await.unwrap().0, 401);
    assert_eq!(app.user_cache(&api).await.unwrap().0, 200);
    app.shutdown().await;
}
both_backends!(logout_redirect, super::logout_redirects);

async fn probes_answer(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    assert_eq!(
        body(app.get("/health", None).await.unwrap(), 200).await,
        json!({"status": "ok"})
    );
    assert_eq!(
        body(app.get("/healthz", None).await.unwrap(), 200).await,
        json!({"status": "ok"})
    );
    let ready = body(app.get("/readyz", None).await.unwrap(), 200).await;
    assert_eq!(ready["status"], "ready", "{ready}");
    let checks = &ready["checks"];
    assert_eq!(checks["database"]["ok"], true, "{ready}");
    let migrations = checks["database"]["migrations"].as_str().unwrap();
    let (applied, expected) = migrations.split_once('/').unwrap();
    assert_eq!(applied, expected);
    assert_eq!(checks["cache_feed"]["ok"], true, "{ready}");
    assert_eq!(
        checks["gcs"],
        json!({"ok": true, "state": "not configured"})
    );
    if backend == Backend::Postgres {
        // The LISTEN connection shows as connected.
        let listening = dsg_testkit::eventually(std::time::Duration::from_secs(5), || async {
            let r = body(app.get("/readyz", None).await.unwrap(), 200).await;
            r["checks"]["cache_feed"]["postgres_listen"] == "connected"
        })
        .await;
        assert!(listening);
    }
    assert_eq!(
        body(app.get("/version", None).await.unwrap(), 200).await["name"],
        "dsg"
    );
    let r = app.get("/health", None).await.unwrap();
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    app.shutdown().await;
}
both_backends!(probes_answer, super::probes_answer);

/// PostgreSQL: when the change feed cannot be replayed, the replica leaves
/// rotation (503, naming why) until it can again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_fails_while_the_change_feed_is_stalled() {
    let app = dsg_testkit::spawn_app_with(Backend::Postgres, |c| c.cache.poll_interval_ms = 100)
        .await
        .unwrap();
    let dsg_store::Db::Postgres(pool) = app.store.db().clone() else {
        unreachable!()
    };
    // Ready first (the outbox replayed once), so the 503 below is the stall's.
    let ready = dsg_testkit::eventually(std::time::Duration::from_secs(15), || async {
        app.readyz().await.unwrap().0 == 200
    })
    .await;
    assert!(ready, "{:?}", app.readyz().await.unwrap());
    sqlx::query("ALTER TABLE cache_event RENAME TO cache_event_away")
        .execute(&pool)
        .await
        .unwrap();
    let stalled = dsg_testkit::eventually(std::time::Duration::from_secs(15), || async {
        app.readyz().await.unwrap().0 == 503
    })
    .await;
    assert!(stalled, "readyz must fail once replays stall");
    let (_, r) = app.readyz().await.unwrap();
    assert_eq!(r["status"], "unavailable");
    assert_eq!(r["checks"]["cache_feed"]["ok"], false, "{r}");
    assert!(r["reasons"].to_string().contains("may be stale"), "{r}");
    sqlx::query("ALTER TABLE cache_event_away RENAME TO cache_event")
        .execute(&pool)
        .await
        .unwrap();
    let back = dsg_testkit::eventually(std::time::Duration::from_secs(15), || async {
        app.readyz().await.unwrap().0 == 200
    })
    .await;
    assert!(back, "readyz recovers once replays work again");
    app.shutdown().await;
}
