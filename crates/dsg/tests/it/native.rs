//! The native API: datasets, versions, buckets, whoami, check-access and
//! explain-access, grants and memberships under the authority rules of §4.9.

use dsg_testkit::native::{call, world};
use dsg_testkit::{Backend, TestApp, spawn_app, spawn_app_with, user_token};
use serde_json::{Value, json};

async fn check(app: &TestApp, token: &str, body: Value) -> Value {
    let (s, v) = call(app, "POST", "/api/v1/check-access", token, Some(body)).await;
    assert_eq!(s, 200, "{v}");
    v
}

async fn check_access_honours_hierarchy_read_only_versions_and_tos(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app.seed(world()).await.unwrap();
    let t = |k: &str| user_token(&s, k, "t");
    // Hierarchy: manage answers view and edit; not admin.
    for (perm, allowed) in [
        ("view", true),
        ("edit", true),
        ("manage", true),
        ("admin", false),
    ] {
        let v = check(
            &app,
            &t("lead"),
            json!({"dataset": "fanc", "permission": perm}),
        )
        .await;
        assert_eq!(v["allowed"], allowed, "{perm}: {v}");
    }
    // read_only loses edit only.
    let v = check(
        &app,
        &t("ro"),
        json!({"dataset": "fanc", "permission": "edit"}),
    )
    .await;
    assert_eq!(v, json!({"allowed": false, "reason": "read_only"}));
    let v = check(
        &app,
        &t("ro"),
        json!({"dataset": "fanc", "permission": "manage"}),
    )
    .await;
    assert_eq!(v, json!({"allowed": true, "reason": "direct_grant"}));
    // Versions: a v1 grant answers for v1 only.
    let v = check(
        &app,
        &t("v"),
        json!({"dataset": "fish2", "version": "v1", "permission": "view"}),
    )
    .await;
    assert_eq!(v, json!({"allowed": true, "reason": "direct_grant"}));
    let v = check(&app, &t("v"), json!({"dataset": "fish2", "version": "v2"})).await;
    assert_eq!(v, json!({"allowed": false, "reason": "no_permission"}));
    let v = check(&app, &t("v"), json!({"dataset": "fish2"})).await;
    assert_eq!(v["allowed"], false);
    // TOS: boss (dataset admin) passes regardless; gadmin's group gives fanc view.
    let v = check(
        &app,
        &t("boss"),
        json!({"dataset": "fish2", "permission": "edit"}),
    )
    .await;
    assert_eq!(v, json!({"allowed": true, "reason": "dataset_admin"}));
    let v = check(&app, &t("sc"), json!({"dataset": "fish2"})).await;
    assert_eq!(v["reason"], "tos_required");
    assert_eq!(v["tos_id"], s["tos"]["fish_tos"]["id"]);
    assert_eq!(v["tos_name"], "Fish terms");
    let v = check(
        &app,
        &t("root"),
        json!({"dataset": "fish2", "permission": "admin"}),
    )
    .await;
    assert_eq!(v, json!({"allowed": true, "reason": "admin"}));
    let sa = s["service_accounts"]["ci"]["tokens"]["t"].as_str().unwrap();
    let v = check(&app, sa, json!({"dataset": "fanc", "permission": "view"})).await;
    assert_eq!(
        v,
        json!({"allowed": true, "reason": "service_account_grant"})
    );
    // Errors in the original's shape.
    let (st, v) = call(
        &app,
        "POST",
        "/api/v1/check-access",
        &t("v"),
        Some(json!({})),
    )
    .await;
    assert_eq!(
        (st, v),
        (
            400,
            json!({"allowed": false, "reason": "dataset is required"})
        )
    );
    let (st, v) = call(
        &app,
        "POST",
        "/api/v1/check-access",
        &t("v"),
        Some(json!({"dataset": "nope"})),
    )
    .await;
    assert_eq!(
        (st, v),
        (
            404,
            json!({"allowed": false, "reason": "Dataset not found"})
        )
    );
    let r = app
        .client
        .post(app.url("/api/v1/check-access"))
        .bearer_auth(t("v"))
        .form(&[("dataset", "fanc")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 415);
    let (st, _) = call(&app, "GET", "/api/v1/check-access", &t("v"), None).await;
    assert_eq!(st, 405);
    app.shutdown().await;
}
both_backends!(
    check_access_honours_hierarchy_read_only_versions_and_tos,
    super::check_access_honours_hierarchy_read_only_versions_and_tos
);

async fn explain_access_names_every_contributing_rule(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app.seed(world()).await.unwrap();
    let t = |k: &str| user_token(&s, k, "t");
    let (st, v) = call(
        &app,
        "POST",
        "/api/v1/explain-access",
        &t("lead"),
        Some(json!({"dataset": "fanc", "permission": "view", "user": "gadmin@example.org"})),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["allowed"], true);
    assert_eq!(v["reason"], "group_permission");
    let rules = v["rules"].as_array().unwrap();
    assert!(
        rules.iter().any(|r| r["rule"] == "group_permission"
            && r["name"] == "lab"
            && r["effect"] == "allows"),
        "{v}"
    );
    assert!(
        rules
            .iter()
            .any(|r| r["rule"] == "direct_grant" && r["level"] == "manage"),
        "{v}"
    );
    // Why can't sc see fish2? No grant, and the TOS.
    let (_, v) = call(
        &app,
        "POST",
        "/api/v1/explain-access",
        &t("root"),
        Some(json!({"dataset": "fish2", "user": "sc@example.org"})),
    )
    .await;
    assert_eq!(v["reason"], "tos_required");
    assert!(
        v["rules"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["rule"] == "tos_required" && r["name"] == "Fish terms")
    );
    // Version mismatch is explained.
    let (_, v) = call(
        &app,
        "POST",
        "/api/v1/explain-access",
        &t("v"),
        Some(json!({"dataset": "fish2", "version": "v2"})),
    )
    .await;
    assert_eq!(v["rules"][0]["rule"], "version_mismatch");
    assert_eq!(v["rules"][0]["version"], "v1");
    // Asking about someone else needs manage on the dataset.
    let (st, _) = call(
        &app,
        "POST",
        "/api/v1/explain-access",
        &t("v"),
        Some(json!({"dataset": "fanc", "user": "lead@example.org"})),
    )
    .await;
    assert_eq!(st, 403);
    // Naming oneself is asking about oneself: no manage needed (as on the web page).
    let (st, v) = call(
        &app,
        "POST",
        "/api/v1/explain-access",
        &t("v"),
        Some(json!({"dataset": "fish2", "version": "v1", "user": "v@example.org"})),
    )
    .await;
    assert_eq!((st, &v["allowed"]), (200, &json!(true)), "{v}");
    assert_eq!(v["principal"]["id"], s["users"]["v"]["id"]);
    let (st, v) = call(
        &app,
        "POST",
        "/api/v1/explain-access",
        &t("lead"),
        Some(json!({"dataset": "fanc", "service_account": "ci-bot", "permission": "edit"})),
    )
    .await;
    assert_eq!((st, &v["reason"]), (200, &json!("service_account_grant")));
    app.shutdown().await;
}
both_backends!(
    explain_access_names_every_contributing_rule,
    super::explain_access_names_every_contributing_rule
);

async fn datasets_versions_buckets_and_whoami(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app.seed(world()).await.unwrap();
    let t = |k: &str| user_token(&s, k, "t");
    let (st, v) = call(&app, "GET", "/api/v1/datasets", &t("lead"), None).await;
    assert_eq!(st, 200);
    let names: Vec<_> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["fanc", "fish2"]);
    assert_eq!(v[1]["has_tos"], true);
    let (_, v) = call(&app, "GET", "/api/v1/datasets", &t("root"), None).await;
    assert_eq!(v.as_array().unwrap().len(), 3);
    let sa = s["service_accounts"]["ci"]["tokens"]["t"].as_str().unwrap();
    let (_, v) = call(&app, "GET", "/api/v1/datasets", sa, None).await;
    assert_eq!(v.as_array().unwrap().len(), 1);

    let (st, v) = call(
        &app,
        "GET",
        "/api/v1/datasets/fish2/versions",
        &t("lead"),
        None,
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(v[0]["version"], "v1");
    assert_eq!(v[0]["buckets"], json!(["fish-b"]));
    // No access: the versions (and bucket names) are not shown.
    let (st, _) = call(
        &app,
        "GET",
        "/api/v1/datasets/fish2/versions",
        &t("sc"),
        None,
    )
    .await;
    assert_eq!(st, 404);
    // Dataset admins add buckets and versions; managers may not.
    let (st, _) = call(
        &app,
        "POST",
        "/api/v1/datasets/fish2/buckets",
        &t("lead"),
        Some(json!({"name": "b2"})),
    )
    .await;
    assert_eq!(st, 403);
    let (st, v) = call(
        &app,
        "POST",
        "/api/v1/datasets/fish2/buckets",
        &t("boss"),
        Some(json!({"name": "b2"})),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    let (st, v) = call(
        &app,
        "POST",
        "/api/v1/datasets/fish2/versions",
        &t("boss"),
        Some(json!({"version": "v3", "buckets": ["b2"]})),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    let (st, _) = call(
        &app,
        "POST",
        "/api/v1/datasets/fish2/versions",
        &t("boss"),
        Some(json!({"version": "v3"})),
    )
    .await;
    assert_eq!(st, 409);
    let (st, _) = call(
        &app,
        "POST",
        "/api/v1/datasets/fish2/versions",
        &t("boss"),
        Some(json!({"version": "v4", "buckets": ["nope"]})),
    )
    .await;
    assert_eq!(st, 400);
    // Only global admins create datasets; names are slugs.
    let (st, _) = call(
        &app,
        "POST",
        "/api/v1/datasets",
        &t("boss"),
        Some(json!({"name": "new"})),
    )
    .await;
    assert_eq!(st, 403);
    let (st, _) = call(
        &app,
        "POST",
        "/api/v1/datasets",
        &t("root"),
        Some(json!({"name": "bad name"})),
    )
    .await;
    assert_eq!(st, 400);
    let (st, v) = call(
        &app,
        "POST",
        "/api/v1/datasets",
        &t("root"),
        Some(json!({"name": "new", "access_mode": "public"})),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    let (_, v) = call(&app, "GET", "/api/v1/datasets", &t("root"), None).await;
    assert_eq!(v.as_array().unwrap().len(), 4);

    let (st, v) = call(&app, "GET", "/api/v1/whoami", &t("boss"), None).await;
    assert_eq!(st, 200);
    assert_eq!(v["email"], "boss@example.org");
    assert_eq!(v["datasets_admin"], json!(["fish2"]));
    assert!(v.get("service_account").is_none());
    let (_, v) = call(&app, "GET", "/api/v1/whoami", sa, None).await;
    assert_eq!(v["service_account"], true);
    assert_eq!(v["name"], "ci-bot");
    app.shutdown().await;
}
both_backends!(
    datasets_versions_buckets_and_whoami,
    super::datasets_versions_buckets_and_whoami
);

async fn authority_rules_with_the_originals_bugs_fixed(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app.seed(world()).await.unwrap();
    let t = |k: &str| user_token(&s, k, "t");
    let grant = |perm: &str| json!({"email": "v@example.org", "permission": perm});
    // A manager grants up to manage, not admin; the change shows on the next user/cache.
    let (st, v) = call(
        &app,
        "POST",
        "/api/v1/datasets/fanc/grants",
        &t("lead"),
        Some(grant("edit")),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    let gid = v["id"].as_i64().unwrap();
    assert_eq!(
        app.user_cache(&t("v")).await.unwrap().1["permissions_v2"]["fanc"],
        json!(["edit", "view"])
    );
    let (st, _) = call(
        &app,
        "POST",
        "/api/v1/datasets/fanc/grants",
        &t("lead"),
        Some(grant("admin")),
    )
    .await;
    assert_eq!(st, 403);
    // Membership of the literal `sc` group gives no power by default...
    let (st, _) = call(
        &app,
        "POST",
        "/api/v1/datasets/fish2/grants",
        &t("sc"),
        Some(grant("admin")),
    )
    .await;
    assert_eq!(st, 403);
    // ...a dataset admin may appoint admins...
    let (st, _) = call(
        &app,
        "POST",
        "/api/v1/datasets/fish2/grants",
        &t("boss"),
        Some(grant("admin")),
    )
    .await;
    assert_eq!(st, 201);
    // ...and nobody revokes their own grants.
    let (_, list) = call(
        &app,
        "GET",
        "/api/v1/datasets/fish2/grants",
        &t("boss"),
        None,
    )
    .await;
    let own = list
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["email"] == "boss@example.org")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let (st, v) = call(
        &app,
        "DELETE",
        &format!("/api/v1/grants/{own}"),
        &t("boss"),
        None,
    )
    .await;
    assert_eq!(
        (st, v),
        (403, json!({"detail": "You cannot revoke your own grants."}))
    );
    // Revoking: the manager of fanc may; someone without manage never learns it exists.
    let (st, _) = call(
        &app,
        "DELETE",
        &format!("/api/v1/grants/{gid}"),
        &t("sc"),
        None,
    )
    .await;
    assert_eq!(st, 404);
    let (st, _) = call(
        &app,
        "DELETE",
        &format!("/api/v1/grants/{gid}"),
        &t("lead"),
        None,
    )
    .await;
    assert_eq!(st, 200);
    assert!(
        app.user_cache(&t("v")).await.unwrap().1["permissions_v2"]
            .get("fanc")
            .is_none()
    );
    // Group admins manage only their own group.
    let (st, _) = call(
        &app,
        "POST",
        "/api/v1/groups/lab/memberships",
        &t("gadmin"),
        Some(json!({"email": "ro@example.org"})),
    )
    .await;
    assert_eq!(st, 201);
    let (st, _) = call(
        &app,
        "POST",
        "/api/v1/groups/other/memberships",
        &t("gadmin"),
        Some(json!({"email": "ro@example.org"})),
    )
    .await;
    assert_eq!(st, 403);
    let (st, _) = call(
        &app,
        "POST",
        "/api/v1/groups/lab/memberships",
        &t("gadmin"),
        Some(json!({"email": "v@example.org", "admin": true})),
    )
    .await;
    assert_eq!(st, 403);
    // Group-scoped grants only on datasets the group admin manages, and not above their level.
    let scoped = |ds: &str, perm: &str| {
        (
            format!("/api/v1/datasets/{ds}/grants"),
            json!({"email": "ro@example.org", "permission": perm, "group": "lab"}),
        )
    };
    let (p, b) = scoped("fish2", "view");
    assert_eq!(call(&app, "POST", &p, &t("gadmin"), Some(b)).await.0, 403);
    let (p, b) = scoped("fanc", "admin");
    assert_eq!(call(&app, "POST", &p, &t("gadmin"), Some(b)).await.0, 403);
    let (p, b) = scoped("fanc", "edit");
    let (st, v) = call(&app, "POST", &p, &t("gadmin"), Some(b)).await;
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["group"], "lab");
    let ro_id = s["users"]["ro"]["id"].as_i64().unwrap();
    let (st, _) = call(
        &app,
        "DELETE",
        &format!("/api/v1/groups/other/memberships/{ro_id}"),
        &t("gadmin"),
        None,
    )
    .await;
    assert_eq!(st, 403);
    let (st, _) = call(
        &app,
        "DELETE",
        &format!("/api/v1/groups/lab/memberships/{ro_id}"),
        &t("gadmin"),
        None,
    )
    .await;
    assert_eq!(st, 200);
    let (_, before) = app.user_cache(&t("ro")).await.unwrap();
    assert!(
        !before["groups"].as_array().unwrap().contains(&json!("lab")),
        "{before}"
    );
    // The grant that came with the membership went with it (audited).
    assert!(
        !before["permissions_v2"]["fanc"]
            .as_array()
            .is_some_and(|l| l.contains(&json!("edit"))),
        "{before}"
    );
    let revoked = app
        .store
        .audit_entries(&dsg_store::audit::AuditFilter {
            action: Some("grant_revoked".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        revoked.iter().any(|e| e
            .before_state
            .as_ref()
            .is_some_and(|b| b["reason"] == "member_removed")),
        "{revoked:?}"
    );
    // Service accounts are refused on user-only endpoints.
    let sa = s["service_accounts"]["ci"]["tokens"]["t"].as_str().unwrap();
    let (st, _) = call(&app, "GET", "/api/v1/tokens", sa, None).await;
    assert_eq!(st, 403);
    app.shutdown().await;
}
both_backends!(
    authority_rules_with_the_originals_bugs_fixed,
    super::authority_rules_with_the_originals_bugs_fixed
);

async fn a_configured_appointer_group_may_appoint_dataset_admins(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        c.access.admin_appointer_group = Some("sc".into());
    })
    .await
    .unwrap();
    let s = app.seed(world()).await.unwrap();
    let (st, v) = call(
        &app,
        "POST",
        "/api/v1/datasets/fish2/grants",
        &user_token(&s, "sc", "t"),
        Some(json!({"email": "v@example.org", "permission": "admin"})),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    // But no other level: membership is not a level on the dataset.
    let (st, _) = call(
        &app,
        "POST",
        "/api/v1/datasets/fish2/grants",
        &user_token(&s, "sc", "t"),
        Some(json!({"email": "v@example.org", "permission": "view"})),
    )
    .await;
    assert_eq!(st, 403);
    app.shutdown().await;
}
both_backends!(
    a_configured_appointer_group_may_appoint_dataset_admins,
    super::a_configured_appointer_group_may_appoint_dataset_admins
);
