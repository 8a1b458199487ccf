//! `GET /api/v1/user/cache`: the document, authentication outcomes, token transport.

use dsg_testkit::{Backend, spawn_app, user_token};
use serde_json::json;

fn world() -> serde_json::Value {
    json!({
        "datasets": [
            {"name": "fish2", "tos": "fish_tos"},
            {"name": "fanc"},
            {"name": "manc", "access_mode": "public", "tos": "manc_tos"}
        ],
        "tos": [
            {"key": "fish_tos", "name": "Fish terms", "text": "t", "dataset": "fish2"},
            {"key": "manc_tos", "name": "MANC terms", "text": "t", "dataset": "manc"}
        ],
        "users": [
            {"key": "alice", "email": "alice@example.org", "name": "Alice A", "affiliations": ["HHMI"],
             "tokens": [{"key": "main"}, {"key": "old", "expires_in_s": -5}]},
            {"key": "bob", "email": "bob@example.org", "active": false, "tokens": [{"key": "main"}]},
            {"key": "ro", "email": "ro@example.org", "read_only": true, "tokens": [{"key": "main"}]}
        ],
        "groups": [{"name": "alpha-lab", "members": [{"user": "alice", "admin": true}],
                    "permissions": [{"dataset": "fanc", "permission": "view"}]}],
        "grants": [
            {"user": "alice", "dataset": "fish2", "permission": "manage"},
            {"user": "ro", "dataset": "fanc", "permission": "edit"}
        ],
        "service_accounts": [{"key": "ci", "name": "ci-bot", "tokens": [{"key": "main"}],
                              "grants": [{"dataset": "fanc", "permission": "edit"}]}]
    })
}

async fn document_matches_the_original_shape(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app.seed(world()).await.unwrap();
    let alice = user_token(&s, "alice", "main");
    let (status, doc) = app.user_cache(&alice).await.unwrap();
    assert_eq!(status, 200);
    let fish2 = s["datasets"]["fish2"]["id"].clone();
    let manc = s["datasets"]["manc"]["id"].clone();
    let expected = json!({
        "id": s["users"]["alice"]["id"], "parent_id": null, "service_account": false,
        "name": "Alice A", "email": "alice@example.org", "admin": false, "pi": "", "picture_url": "",
        "affiliations": ["HHMI"], "groups": ["alpha-lab"], "groups_admin": ["alpha-lab"],
        "permissions": {"fanc": 1},
        "permissions_v2": {"fanc": ["view"]},
        "permissions_v2_ignore_tos": {"fanc": ["view"], "fish2": ["edit", "manage", "view"]},
        "missing_tos": [
            {"dataset_id": fish2, "dataset_name": "fish2", "tos_id": s["tos"]["fish_tos"]["id"], "tos_name": "Fish terms"},
            {"dataset_id": manc, "dataset_name": "manc", "tos_id": s["tos"]["manc_tos"]["id"], "tos_name": "MANC terms"}
        ],
        "datasets_admin": [],
        "version_permissions": {}
    });
    assert_eq!(doc, expected);
    app.shutdown().await;
}
both_backends!(
    document_matches_the_original_shape,
    super::document_matches_the_original_shape
);

async fn read_only_user_and_service_account_documents(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app.seed(world()).await.unwrap();
    let (_, ro) = app.user_cache(&user_token(&s, "ro", "main")).await.unwrap();
    assert_eq!(ro["permissions_v2"], json!({"fanc": ["view"]}));
    assert_eq!(ro["permissions"], json!({"fanc": 1}));
    let sa = s["service_accounts"]["ci"]["tokens"]["main"]
        .as_str()
        .unwrap();
    let (status, doc) = app.user_cache(sa).await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(doc["service_account"], json!(true));
    assert_eq!(doc["email"], json!("ci-bot@service-account.dsg.local"));
    assert_eq!(doc["permissions_v2"], json!({"fanc": ["edit", "view"]}));
    assert_eq!(doc["permissions_v2"], doc["permissions_v2_ignore_tos"]);
    app.shutdown().await;
}
both_backends!(
    read_only_user_and_service_account_documents,
    super::read_only_user_and_service_account_documents
);

async fn refusals_are_401_with_the_original_details(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app.seed(world()).await.unwrap();
    let cases = [
        (None, "Authentication credentials were not provided."),
        (Some("f".repeat(64)), "Invalid or expired token."),
        (
            Some(user_token(&s, "alice", "old")),
            "Invalid or expired token.",
        ),
        (
            Some(user_token(&s, "bob", "main")),
            "User account is disabled.",
        ),
    ];
    for (token, detail) in cases {
        let r = app
            .get("/api/v1/user/cache", token.as_deref())
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        assert_eq!(r.headers()["www-authenticate"], "Bearer");
        assert_eq!(r.headers()["content-type"], "application/json");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body, json!({"detail": detail}));
    }
    // A bare "Bearer" carries no token: no credentials, not a bad token…
    let r = app
        .client
        .get(app.url("/api/v1/user/cache"))
        .header("authorization", "Bearer ")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["detail"],
        "Authentication credentials were not provided."
    );
    // …so a public (eager) endpoint answers as for an anonymous caller.
    let r = app
        .client
        .get(app.url("/api/v1/table/t/has_public"))
        .header("authorization", "Bearer")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap(), json!(false));
    let r = app
        .client
        .get(app.url("/api/v1/user/cache"))
        .header("authorization", "bearer x")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["detail"],
        "Authentication credentials were not provided."
    );
    app.shutdown().await;
}
both_backends!(
    refusals_are_401_with_the_original_details,
    super::refusals_are_401_with_the_original_details
);

async fn token_sources_follow_the_precedence_rules(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app.seed(world()).await.unwrap();
    let alice = user_token(&s, "alice", "main");
    let url = app.url("/api/v1/user/cache");
    let c = reqwest::Client::new();
    // Query parameter, and the middle_auth_token alias.
    for q in ["dsg_token", "middle_auth_token"] {
        let r = c.get(format!("{url}?{q}={alice}")).send().await.unwrap();
        assert_eq!(r.status(), 200, "{q}");
    }
    let r = c
        .get(&url)
        .header("cookie", format!("middle_auth_token={alice}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // A stale cookie shadows a valid bearer (first source present wins).
    let r = c
        .get(&url)
        .header("cookie", "dsg_token=stale")
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // The dataset prefix and the /auth alias serve the same document.
    let (_, plain) = app.user_cache(&alice).await.unwrap();
    for p in [
        "/fish2/cave/api/v1/user/cache",
        "/auth/api/v1/user/cache",
        "/fanc/pcg/auth/api/v1/user/cache",
    ] {
        let r = app.get(p, Some(&alice)).await.unwrap();
        assert_eq!(r.status(), 200, "{p}");
        assert_eq!(r.json::<serde_json::Value>().await.unwrap(), plain, "{p}");
    }
    app.shutdown().await;
}
both_backends!(
    token_sources_follow_the_precedence_rules,
    super::token_sources_follow_the_precedence_rules
);

async fn service_parameter_applies_service_tos(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app
        .seed(json!({
            "services": [{"name": "celltyping"}],
            "datasets": [{"name": "fanc"}],
            "tos": [{"key": "ct", "name": "CT terms", "text": "t", "dataset": "fanc", "service": "celltyping"}],
            "users": [{"key": "u", "email": "u@example.org", "tokens": [{"key": "main"}]}],
            "grants": [{"user": "u", "dataset": "fanc", "permission": "view"}]
        }))
        .await
        .unwrap();
    let t = user_token(&s, "u", "main");
    let (_, plain) = app.user_cache(&t).await.unwrap();
    assert_eq!(plain["permissions_v2"], json!({"fanc": ["view"]}));
    let r = app
        .get("/api/v1/user/cache?service=celltyping", Some(&t))
        .await
        .unwrap();
    let doc: serde_json::Value = r.json().await.unwrap();
    assert_eq!(doc["permissions_v2"], json!({}));
    assert_eq!(doc["missing_tos"][0]["service"], "celltyping");
    app.shutdown().await;
}
both_backends!(
    service_parameter_applies_service_tos,
    super::service_parameter_applies_service_tos
);

async fn changes_through_the_api_are_visible_at_once(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app.seed(world()).await.unwrap();
    let alice = user_token(&s, "alice", "main");
    let (_, before) = app.user_cache(&alice).await.unwrap();
    assert!(before["permissions_v2"].get("fish2").is_none());
    app.seed(json!({"tos_acceptances": [{"user": "alice@example.org", "tos": s["tos"]["fish_tos"]["id"]}]}))
        .await
        .unwrap();
    let (_, after) = app.user_cache(&alice).await.unwrap();
    assert_eq!(
        after["permissions_v2"]["fish2"],
        json!(["edit", "manage", "view"])
    );
    app.shutdown().await;
}
both_backends!(
    changes_through_the_api_are_visible_at_once,
    super::changes_through_the_api_are_visible_at_once
);

async fn token_expiry_takes_effect_at_that_instant(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app
        .seed(json!({"users": [{"key": "a", "email": "a@example.org",
                               "tokens": [{"key": "t", "expires_in_s": 60}]}]}))
        .await
        .unwrap();
    let t = user_token(&s, "a", "t");
    assert_eq!(app.user_cache(&t).await.unwrap().0, 200);
    app.clock.advance_secs(50);
    assert_eq!(
        app.user_cache(&t).await.unwrap().0,
        200,
        "still valid (and cached)"
    );
    app.clock.advance_secs(15);
    let (status, body) = app.user_cache(&t).await.unwrap();
    assert_eq!(
        (status, body),
        (401, json!({"detail": "Invalid or expired token."}))
    );
    app.shutdown().await;
}
both_backends!(
    token_expiry_takes_effect_at_that_instant,
    super::token_expiry_takes_effect_at_that_instant
);

async fn last_used_is_written_in_batches_not_per_request(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app
        .seed(json!({"users": [{"key": "a", "email": "a@example.org", "tokens": [{"key": "t"}]}]}))
        .await
        .unwrap();
    let t = user_token(&s, "a", "t");
    let last_used = || async { app.store.list_user_tokens(None).await.unwrap()[0].last_used };
    for _ in 0..5 {
        assert_eq!(app.user_cache(&t).await.unwrap().0, 200);
    }
    assert_eq!(last_used().await, None, "no write on the request path");
    app.state.flush_last_used().await;
    let first = last_used().await.expect("flushed");
    // Within the resolution window nothing new is queued…
    app.user_cache(&t).await.unwrap();
    app.state.flush_last_used().await;
    assert_eq!(last_used().await, Some(first));
    // …after it, the next use is recorded.
    app.clock.advance_secs(61);
    app.user_cache(&t).await.unwrap();
    app.state.flush_last_used().await;
    assert!(last_used().await.unwrap() > first);
    app.shutdown().await;
}
both_backends!(
    last_used_is_written_in_batches_not_per_request,
    super::last_used_is_written_in_batches_not_per_request
);
