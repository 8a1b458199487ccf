//! Service accounts through the API and `dsg service-account`, and scoped
//! user tokens (read-only and/or dataset-limited).

use dsg_testkit::cli::{dsg, fresh};
use dsg_testkit::native::{call, world};
use dsg_testkit::{Backend, spawn_app, user_token};
use serde_json::json;

async fn global_admins_manage_service_accounts_through_the_api(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app.seed(world()).await.unwrap();
    let t = |k: &str| user_token(&s, k, "t");
    let ci = s["service_accounts"]["ci"]["tokens"]["t"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        call(&app, "GET", "/api/v1/service-accounts", &t("boss"), None)
            .await
            .0,
        403
    );
    assert_eq!(
        call(&app, "GET", "/api/v1/service-accounts", &ci, None)
            .await
            .0,
        403
    );
    let (st, v) = call(
        &app,
        "POST",
        "/api/v1/service-accounts",
        &t("root"),
        Some(json!({"name": "etl", "description": "nightly"})),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    assert_eq!(
        call(
            &app,
            "POST",
            "/api/v1/service-accounts",
            &t("root"),
            Some(json!({"name": "etl"}))
        )
        .await
        .0,
        409
    );
    assert_eq!(
        call(
            &app,
            "POST",
            "/api/v1/service-accounts",
            &t("root"),
            Some(json!({"name": "bad name"}))
        )
        .await
        .0,
        400
    );
    let (st, tok) = call(
        &app,
        "POST",
        "/api/v1/service-accounts/etl/tokens",
        &t("root"),
        Some(json!({"description": "cron"})),
    )
    .await;
    assert_eq!(st, 201);
    let etl = tok["token"].as_str().unwrap().to_owned();
    let until = app.clock.now().plus_secs(60);
    let (st, g) = call(
        &app,
        "POST",
        "/api/v1/service-accounts/etl/grants",
        &t("root"),
        Some(json!({"dataset": "fanc", "permission": "edit", "expires_at": until.to_rfc3339()})),
    )
    .await;
    assert_eq!(st, 201, "{g}");
    let (st, doc) = app.user_cache(&etl).await.unwrap();
    assert_eq!(st, 200);
    assert_eq!(doc["service_account"], true);
    assert_eq!(doc["email"], "etl@service-account.dsg.local");
    assert_eq!(doc["permissions_v2"], json!({"fanc": ["edit", "view"]}));
    assert_eq!(doc["admin"], false);
    // Refused on user-only endpoints with the original's code.
    for (m, p) in [
        ("GET", "/api/v1/user/token"),
        ("POST", "/api/v1/create_token"),
        ("GET", "/api/v1/long_lived_token"),
        ("GET", "/api/v1/tokens"),
        ("GET", "/api/v1/access-requests"),
    ] {
        assert_eq!(call(&app, m, p, &etl, None).await.0, 403, "{p}");
    }
    // The grant's expiry holds for service accounts too.
    app.clock.set(until);
    assert_eq!(
        app.user_cache(&etl).await.unwrap().1["permissions_v2"],
        json!({})
    );
    let (_, d) = call(
        &app,
        "GET",
        "/api/v1/service-accounts/etl",
        &t("root"),
        None,
    )
    .await;
    assert_eq!(d["grants"][0]["expired"], true);
    assert_eq!(d["tokens"][0]["description"], "cron");
    // Disabling refuses its tokens at once; enabling restores them.
    let (st, d) = call(
        &app,
        "PATCH",
        "/api/v1/service-accounts/etl",
        &t("root"),
        Some(json!({"is_active": false})),
    )
    .await;
    assert_eq!((st, &d["is_active"]), (200, &json!(false)));
    let r = app.get("/api/v1/user/cache", Some(&etl)).await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap(),
        json!({"detail": "Service account is disabled."})
    );
    call(
        &app,
        "PATCH",
        "/api/v1/service-accounts/etl",
        &t("root"),
        Some(json!({"is_active": true})),
    )
    .await;
    assert_eq!(app.user_cache(&etl).await.unwrap().0, 200);
    let tid = tok["id"].as_i64().unwrap();
    assert_eq!(
        call(
            &app,
            "DELETE",
            &format!("/api/v1/service-accounts/etl/tokens/{tid}"),
            &t("root"),
            None
        )
        .await
        .0,
        200
    );
    assert_eq!(
        app.get("/api/v1/user/cache", Some(&etl))
            .await
            .unwrap()
            .status()
            .as_u16(),
        401
    );
    let (_, list) = call(&app, "GET", "/api/v1/service-accounts", &t("root"), None).await;
    assert_eq!(list.as_array().unwrap().len(), 2);
    let audit = app
        .store
        .audit_entries(&dsg_store::audit::AuditFilter {
            target_type: Some("ServiceAccount".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let actions: Vec<_> = audit.iter().map(|e| e.action.as_str()).collect();
    assert!(
        actions.contains(&"service_account_disabled")
            && actions.contains(&"service_account_enabled"),
        "{actions:?}"
    );
    app.shutdown().await;
}
both_backends!(
    global_admins_manage_service_accounts_through_the_api,
    super::global_admins_manage_service_accounts_through_the_api
);

async fn the_cli_creates_tokens_grants_and_disables_service_accounts(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    app.seed(world()).await.unwrap();
    let (ok, out, err) = dsg(
        &app,
        &["service-account", "create", "ingest", "--description", "x"],
        None,
    );
    assert!(ok, "{err}");
    assert!(out.contains("Created service account ingest"));
    let (ok, token, err) = dsg(&app, &["service-account", "token", "ingest"], None);
    assert!(ok, "{err}");
    let token = token.trim().to_owned();
    let (ok, _, err) = dsg(
        &app,
        &[
            "service-account",
            "grant",
            "ingest",
            "--dataset",
            "fanc",
            "--permission",
            "view",
            "--expires-in",
            "30d",
        ],
        None,
    );
    assert!(ok, "{err}");
    assert!(
        fresh(backend, || async {
            app.user_cache(&token).await.unwrap().1["permissions_v2"] == json!({"fanc": ["view"]})
        })
        .await
    );
    let (ok, _, err) = dsg(
        &app,
        &["service-account", "grant", "ingest", "--dataset", "nope"],
        None,
    );
    assert!(!ok && err.contains("dataset not found: nope"), "{err}");
    let (ok, _, err) = dsg(&app, &["service-account", "disable", "ingest"], None);
    assert!(ok, "{err}");
    assert!(
        fresh(backend, || async {
            app.get("/api/v1/user/cache", Some(&token))
                .await
                .unwrap()
                .status()
                .as_u16()
                == 401
        })
        .await
    );
    let (ok, out, _) = dsg(&app, &["service-account", "list", "--json"], None);
    assert!(ok);
    let list: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|s| s["name"] == "ingest" && s["is_active"] == false)
    );
    let (ok, out, _) = dsg(
        &app,
        &["audit", "--actor", "cli:service-account disable", "--json"],
        None,
    );
    assert!(ok);
    assert!(out.contains("service_account_disabled"), "{out}");
    app.shutdown().await;
}
both_backends!(
    the_cli_creates_tokens_grants_and_disables_service_accounts,
    super::the_cli_creates_tokens_grants_and_disables_service_accounts
);

async fn scoped_tokens_show_only_what_they_allow(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app.seed(world()).await.unwrap();
    let lead = user_token(&s, "lead", "t");
    let mint = |body: serde_json::Value| {
        let app = &app;
        let lead = lead.clone();
        async move {
            let (st, v) = call(app, "POST", "/api/v1/tokens", &lead, Some(body)).await;
            assert_eq!(st, 201, "{v}");
            (
                v["id"].as_i64().unwrap(),
                v["token"].as_str().unwrap().to_owned(),
            )
        }
    };
    let (_, ro) = mint(json!({"read_only": true})).await;
    let doc = app.user_cache(&ro).await.unwrap().1;
    assert_eq!(
        doc["permissions_v2"],
        json!({"fanc": ["view"], "fish2": ["view"]})
    );
    assert_eq!(doc["permissions"], json!({"fanc": 1, "fish2": 1}));
    // A read-only token cannot manage, even though its owner can.
    let (st, _) = call(
        &app,
        "POST",
        "/api/v1/datasets/fanc/grants",
        &ro,
        Some(json!({"email": "v@example.org", "permission": "view"})),
    )
    .await;
    assert_eq!(st, 403);
    let (_, d) = call(
        &app,
        "POST",
        "/api/v1/check-access",
        &ro,
        Some(json!({"dataset": "fanc", "permission": "edit"})),
    )
    .await;
    assert_eq!(d["reason"], "token_read_only");
    let (id, only_fanc) = mint(json!({"datasets": ["fanc"], "description": "fanc only"})).await;
    let doc = app.user_cache(&only_fanc).await.unwrap().1;
    assert_eq!(
        doc["permissions_v2"],
        json!({"fanc": ["edit", "manage", "view"]})
    );
    assert_eq!(
        doc["permissions_v2_ignore_tos"],
        json!({"fanc": ["edit", "manage", "view"]})
    );
    let (_, d) = call(
        &app,
        "POST",
        "/api/v1/check-access",
        &only_fanc,
        Some(json!({"dataset": "fish2"})),
    )
    .await;
    assert_eq!(d["reason"], "token_scope");
    let (st, _) = call(
        &app,
        "GET",
        "/api/v1/datasets/fish2/grants",
        &only_fanc,
        None,
    )
    .await;
    assert_eq!(st, 403);
    // The full token is unaffected; the listing shows scopes.
    assert_eq!(
        app.user_cache(&lead).await.unwrap().1["permissions_v2"]["fish2"],
        json!(["edit", "manage", "view"])
    );
    let (_, list) = call(&app, "GET", "/api/v1/tokens", &lead, None).await;
    let entry = list
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == id)
        .unwrap()
        .clone();
    assert_eq!(entry["datasets"], json!(["fanc"]));
    assert_eq!(entry["read_only"], false);
    // Another user's token cannot be revoked; one's own can.
    assert_eq!(
        call(
            &app,
            "DELETE",
            &format!("/api/v1/tokens/{id}"),
            &user_token(&s, "v", "t"),
            None
        )
        .await
        .0,
        404
    );
    assert_eq!(
        call(&app, "DELETE", &format!("/api/v1/tokens/{id}"), &lead, None)
            .await
            .0,
        200
    );
    assert_eq!(
        app.get("/api/v1/user/cache", Some(&only_fanc))
            .await
            .unwrap()
            .status()
            .as_u16(),
        401
    );
    app.shutdown().await;
}
both_backends!(
    scoped_tokens_show_only_what_they_allow,
    super::scoped_tokens_show_only_what_they_allow
);

/// CAVE services attribute edits by `user/cache`'s `id`: a service account's
/// id is never a person's, whichever was created first.
async fn service_account_ids_never_collide_with_user_ids(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let tok = json!([{"key": "t", "expires_in_s": null}]);
    let a = app
        .seed(json!({"users": [{"key": "a", "email": "a@x.org", "admin": true, "tokens": tok}]}))
        .await
        .unwrap();
    let sa = app
        .seed(json!({"service_accounts": [{"key": "ci", "name": "ci", "tokens": [{"key": "t"}]}]}))
        .await
        .unwrap();
    let b = app
        .seed(json!({"users": [{"key": "b", "email": "b@x.org", "tokens": tok}]}))
        .await
        .unwrap();
    let mut seen = Vec::new();
    for token in [
        user_token(&a, "a", "t"),
        sa["service_accounts"]["ci"]["tokens"]["t"]
            .as_str()
            .unwrap()
            .to_owned(),
        user_token(&b, "b", "t"),
    ] {
        let (st, doc) = app.user_cache(&token).await.unwrap();
        assert_eq!(st, 200);
        seen.push((doc["id"].as_i64().unwrap(), doc["service_account"].clone()));
    }
    let (user_a, sa_id, user_b) = (seen[0].0, seen[1].0, seen[2].0);
    assert_eq!(seen[1].1, json!(true));
    assert!(sa_id != user_a && sa_id != user_b, "{seen:?}");
    assert_eq!(sa["service_accounts"]["ci"]["id"], json!(sa_id));
    // The users' directory (asked by an admin) does not answer for the service account's id.
    let (st, _) = call(
        &app,
        "GET",
        &format!("/api/v1/user/{sa_id}/permissions"),
        &user_token(&a, "a", "t"),
        None,
    )
    .await;
    assert_eq!(st, 404);
    app.shutdown().await;
}
both_backends!(
    service_account_ids_never_collide_with_user_ids,
    super::service_account_ids_never_collide_with_user_ids
);
