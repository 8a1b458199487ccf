//! Time-limited grants and memberships (stop counting at the exact instant,
//! moved with the injectable clock — no sleeps), access requests, invitations.

use dsg_core::Timestamp;
use dsg_store::users::NewUser;
use dsg_store::write::Actor;
use dsg_testkit::native::{call, world};
use dsg_testkit::{Backend, spawn_app, user_token};
use serde_json::json;

async fn expiring_grants_and_memberships_stop_counting_at_that_instant(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app.seed(world()).await.unwrap();
    let t = |k: &str| user_token(&s, k, "t");
    let start = app.clock.now();
    let until = start.plus_secs(3600);
    let (st, v) = call(
        &app,
        "POST",
        "/api/v1/datasets/fanc/grants",
        &t("lead"),
        Some(json!({"email": "sc@example.org", "permission": "edit", "expires_at": until.to_rfc3339()})),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    let member_until = start.plus_secs(7200);
    let (st, v) = call(
        &app,
        "POST",
        "/api/v1/groups/lab/memberships",
        &t("gadmin"),
        Some(json!({"email": "v@example.org", "expires_at": member_until.to_rfc3339()})),
    )
    .await;
    assert_eq!(st, 201, "{v}");

    let fanc = |doc: &serde_json::Value| doc["permissions_v2"]["fanc"].clone();
    assert_eq!(
        fanc(&app.user_cache(&t("sc")).await.unwrap().1),
        json!(["edit", "view"])
    );
    assert_eq!(
        fanc(&app.user_cache(&t("v")).await.unwrap().1),
        json!(["view"])
    );
    // One microsecond before: still counts (served from the cache).
    app.clock.set(Timestamp(until.0 - 1));
    assert_eq!(
        fanc(&app.user_cache(&t("sc")).await.unwrap().1),
        json!(["edit", "view"])
    );
    // At the instant: gone, from user/cache and from check-access.
    app.clock.set(until);
    assert_eq!(
        fanc(&app.user_cache(&t("sc")).await.unwrap().1),
        json!(null)
    );
    let (_, v) = call(
        &app,
        "POST",
        "/api/v1/check-access",
        &t("sc"),
        Some(json!({"dataset": "fanc"})),
    )
    .await;
    assert_eq!(v["allowed"], false);
    let (_, list) = call(
        &app,
        "GET",
        "/api/v1/datasets/fanc/grants",
        &t("lead"),
        None,
    )
    .await;
    let g = list
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["email"] == "sc@example.org")
        .unwrap();
    assert_eq!(g["expired"], true);
    assert_eq!(g["expires_at"], until.to_rfc3339());
    // The membership lasts longer, then goes too.
    assert_eq!(
        fanc(&app.user_cache(&t("v")).await.unwrap().1),
        json!(["view"])
    );
    app.clock.set(member_until);
    let doc = app.user_cache(&t("v")).await.unwrap().1;
    assert_eq!(fanc(&doc), json!(null));
    assert!(!doc["groups"].as_array().unwrap().contains(&json!("lab")));
    let (_, list) = call(
        &app,
        "GET",
        "/api/v1/groups/lab/memberships",
        &t("gadmin"),
        None,
    )
    .await;
    let m = list
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["email"] == "v@example.org")
        .unwrap();
    assert_eq!(m["expired"], true);
    // Past expiries are refused.
    let (st, _) = call(
        &app,
        "POST",
        "/api/v1/datasets/fanc/grants",
        &t("lead"),
        Some(json!({"email": "v@example.org", "permission": "view", "expires_at": "2001-01-01T00:00:00Z"})),
    )
    .await;
    assert_eq!(st, 400);
    app.shutdown().await;
}
both_backends!(
    expiring_grants_and_memberships_stop_counting_at_that_instant,
    super::expiring_grants_and_memberships_stop_counting_at_that_instant
);

async fn access_requests_are_approved_or_denied_by_dataset_admins(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app.seed(world()).await.unwrap();
    let t = |k: &str| user_token(&s, k, "t");
    let (st, r) = call(
        &app,
        "POST",
        "/api/v1/datasets/fish2/access-requests",
        &t("sc"),
        Some(json!({"permission": "edit", "message": "for the paper"})),
    )
    .await;
    assert_eq!(st, 201, "{r}");
    assert_eq!(r["status"], "pending");
    let id = r["id"].as_i64().unwrap();
    let (st, _) = call(
        &app,
        "POST",
        "/api/v1/datasets/fish2/access-requests",
        &t("sc"),
        Some(json!({"permission": "edit"})),
    )
    .await;
    assert_eq!(st, 409);
    // Managers are not dataset admins.
    let (st, _) = call(
        &app,
        "GET",
        "/api/v1/datasets/fish2/access-requests",
        &t("lead"),
        None,
    )
    .await;
    assert_eq!(st, 403);
    let (st, _) = call(
        &app,
        "POST",
        &format!("/api/v1/access-requests/{id}/approve"),
        &t("lead"),
        None,
    )
    .await;
    assert_eq!(st, 404);
    let (_, list) = call(
        &app,
        "GET",
        "/api/v1/datasets/fish2/access-requests?status=pending",
        &t("boss"),
        None,
    )
    .await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    let until = app.clock.now().plus_secs(600);
    let (st, r) = call(
        &app,
        "POST",
        &format!("/api/v1/access-requests/{id}/approve"),
        &t("boss"),
        Some(json!({"note": "ok", "expires_at": until.to_rfc3339()})),
    )
    .await;
    assert_eq!(st, 200, "{r}");
    assert_eq!(r["status"], "approved");
    assert_eq!(r["decided_by"], "boss@example.org");
    let doc = app.user_cache(&t("sc")).await.unwrap().1;
    assert_eq!(
        doc["permissions_v2_ignore_tos"]["fish2"],
        json!(["edit", "view"])
    );
    let (st, _) = call(
        &app,
        "POST",
        &format!("/api/v1/access-requests/{id}/deny"),
        &t("boss"),
        None,
    )
    .await;
    assert_eq!(st, 409);
    // The approval's expiry holds.
    app.clock.set(until);
    let doc = app.user_cache(&t("sc")).await.unwrap().1;
    assert!(doc["permissions_v2_ignore_tos"].get("fish2").is_none());
    // Deny and withdraw.
    let (_, r) = call(
        &app,
        "POST",
        "/api/v1/datasets/fish2/access-requests",
        &t("v"),
        Some(json!({})),
    )
    .await;
    let id2 = r["id"].as_i64().unwrap();
    let (_, r) = call(
        &app,
        "POST",
        &format!("/api/v1/access-requests/{id2}/deny"),
        &t("boss"),
        Some(json!({"note": "no"})),
    )
    .await;
    assert_eq!(r["status"], "denied");
    assert!(
        app.user_cache(&t("v")).await.unwrap().1["permissions_v2"]
            .get("fish2")
            .is_none()
    );
    let (_, r) = call(
        &app,
        "POST",
        "/api/v1/datasets/fanc/access-requests",
        &t("v"),
        Some(json!({"permission": "view"})),
    )
    .await;
    let id3 = r["id"].as_i64().unwrap();
    let (st, _) = call(
        &app,
        "POST",
        &format!("/api/v1/access-requests/{id3}/withdraw"),
        &t("sc"),
        None,
    )
    .await;
    assert_eq!(st, 404);
    let (st, r) = call(
        &app,
        "POST",
        &format!("/api/v1/access-requests/{id3}/withdraw"),
        &t("v"),
        None,
    )
    .await;
    assert_eq!((st, &r["status"]), (200, &json!("withdrawn")));
    let (_, mine) = call(&app, "GET", "/api/v1/access-requests", &t("v"), None).await;
    assert_eq!(mine.as_array().unwrap().len(), 2);
    let audit = app
        .store
        .audit_entries(&dsg_store::audit::AuditFilter {
            target_type: Some("AccessRequest".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let actions: Vec<_> = audit.iter().map(|e| e.action.as_str()).collect();
    for a in [
        "access_request_created",
        "access_request_approved",
        "access_request_denied",
        "access_request_withdrawn",
    ] {
        assert!(actions.contains(&a), "{a} in {actions:?}");
    }
    app.shutdown().await;
}
both_backends!(
    access_requests_are_approved_or_denied_by_dataset_admins,
    super::access_requests_are_approved_or_denied_by_dataset_admins
);

async fn invitations_become_grants_for_existing_users_and_at_first_login(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app.seed(world()).await.unwrap();
    let t = |k: &str| user_token(&s, k, "t");
    // An existing user: granted at once.
    let (st, v) = call(
        &app,
        "POST",
        "/api/v1/datasets/fanc/invitations",
        &t("lead"),
        Some(json!({"email": "SC@example.org", "permission": "edit"})),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    assert_eq!(v["status"], "granted");
    assert_eq!(
        app.user_cache(&t("sc")).await.unwrap().1["permissions_v2"]["fanc"],
        json!(["edit", "view"])
    );
    // A newcomer: pending; a manager cannot promise admin.
    let (st, _) = call(
        &app,
        "POST",
        "/api/v1/datasets/fanc/invitations",
        &t("lead"),
        Some(json!({"email": "new@example.org", "permission": "admin"})),
    )
    .await;
    assert_eq!(st, 403);
    let (st, v) = call(
        &app,
        "POST",
        "/api/v1/datasets/fanc/invitations",
        &t("lead"),
        Some(json!({"email": "new@example.org", "permission": "view"})),
    )
    .await;
    assert_eq!((st, &v["status"]), (201, &json!("pending")));
    // A lapsed invitation is not redeemed.
    let mut tx = app.store.begin(Actor::cli("test")).await.unwrap();
    let fish2 = tx.dataset_id("fish2").await.unwrap();
    tx.create_invitation(&dsg_store::invitations::NewInvitation {
        email: "new@example.org",
        dataset_id: fish2,
        version_id: None,
        permission: "view",
        grant_expires_at: None,
        expires_at: Some(Timestamp(dsg_store::now_micros()).plus_secs(-1)),
    })
    .await
    .unwrap();
    tx.commit().await.unwrap();
    // First login: the login flow creates the user and redeems, in one transaction.
    let mut tx = app.store.begin(Actor::cli("login")).await.unwrap();
    let uid = tx
        .create_user(&NewUser {
            email: "New@Example.org".into(),
            active: true,
            ..NewUser::default()
        })
        .await
        .unwrap();
    let grants = dsg_store::invitations::redeem_for_user(&mut tx, uid, "New@Example.org")
        .await
        .unwrap();
    assert_eq!(grants.len(), 1);
    let events = tx.commit().await.unwrap();
    app.state.committed(&events);
    let mut tx = app.store.begin(Actor::cli("token")).await.unwrap();
    let (_, token) = tx.create_user_token(uid, Default::default()).await.unwrap();
    tx.commit().await.unwrap();
    let doc = app.user_cache(token.expose()).await.unwrap().1;
    assert_eq!(doc["permissions_v2"], json!({"fanc": ["view"]}));
    let (_, list) = call(
        &app,
        "GET",
        "/api/v1/datasets/fanc/invitations",
        &t("lead"),
        None,
    )
    .await;
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .all(|i| !i["accepted_at"].is_null()),
        "{list}"
    );
    app.shutdown().await;
}
both_backends!(
    invitations_become_grants_for_existing_users_and_at_first_login,
    super::invitations_become_grants_for_existing_users_and_at_first_login
);
