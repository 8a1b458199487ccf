//! The audit log: append-only in the database, written in the same
//! transaction as the change (with actor and request id), queryable by admins.

use dsg_testkit::cli::dsg;
use dsg_testkit::{Backend, spawn_app, user_token};
use serde_json::{Value, json};

fn world() -> Value {
    json!({
        "datasets": [{"name": "fish2"}],
        "users": [
            {"key": "a", "email": "a@example.org", "tokens": [{"key": "t"}]},
            {"key": "root", "email": "root@example.org", "admin": true, "tokens": [{"key": "t"}]}
        ]
    })
}

async fn api_key_count(app: &dsg_testkit::TestApp) -> i64 {
    match app.store.db() {
        dsg_store::Db::Sqlite(p) => sqlx::query_scalar("SELECT COUNT(*) FROM api_key")
            .fetch_one(p)
            .await
            .unwrap(),
        dsg_store::Db::Postgres(p) => sqlx::query_scalar("SELECT COUNT(*) FROM api_key")
            .fetch_one(p)
            .await
            .unwrap(),
    }
}

async fn a_failed_mutation_leaves_neither_change_nor_audit_row(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app.seed(world()).await.unwrap();
    let a = user_token(&s, "a", "t");
    let (keys, audits) = (
        api_key_count(&app).await,
        app.store.audit_count().await.unwrap(),
    );
    // The token row is inserted, then the unknown dataset fails the scope: all rolled back.
    let r = app
        .client
        .post(app.url("/api/v1/tokens"))
        .bearer_auth(&a)
        .json(&json!({"description": "ci", "datasets": ["fish2", "nope"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"error": "dataset not found: nope"})
    );
    assert_eq!(api_key_count(&app).await, keys);
    assert_eq!(app.store.audit_count().await.unwrap(), audits);

    // The same request done right: one change, one audit row with actor and request id.
    let r = app
        .client
        .post(app.url("/api/v1/tokens"))
        .bearer_auth(&a)
        .header("x-request-id", "req-4711")
        .json(&json!({"description": "ci", "datasets": ["fish2"], "read_only": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    assert_eq!(r.headers()["x-request-id"], "req-4711");
    assert_eq!(api_key_count(&app).await, keys + 1);
    assert_eq!(app.store.audit_count().await.unwrap(), audits + 1);
    let rows = app
        .store
        .audit_entries(&dsg_store::audit::AuditFilter {
            action: Some("api_token_created".into()),
            limit: 1,
            ..Default::default()
        })
        .await
        .unwrap();
    let row = &rows[0];
    assert_eq!(row.actor, "a@example.org");
    assert_eq!(row.actor_id, s["users"]["a"]["id"].as_i64());
    assert_eq!(row.request_id.as_deref(), Some("req-4711"));
    assert_eq!(row.target_type, "APIKey");
    assert_eq!(row.after_state.as_ref().unwrap()["read_only"], json!(true));
    assert_eq!(
        row.after_state.as_ref().unwrap()["datasets"],
        json!(["fish2"])
    );
    app.shutdown().await;
}
both_backends!(
    a_failed_mutation_leaves_neither_change_nor_audit_row,
    super::a_failed_mutation_leaves_neither_change_nor_audit_row
);

async fn admins_query_the_log_by_api_and_cli(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app.seed(world()).await.unwrap();
    let (a, root) = (user_token(&s, "a", "t"), user_token(&s, "root", "t"));
    let r = app
        .client
        .post(app.url("/api/v1/tokens"))
        .bearer_auth(&a)
        .json(&json!({"description": "laptop"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let r = app.get("/api/v1/audit", Some(&a)).await.unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let r = app.get("/api/v1/audit", None).await.unwrap();
    assert_eq!(r.status().as_u16(), 401);

    let r = app
        .get(
            "/api/v1/audit?action=api_token_created&actor=A@example.org",
            Some(&root),
        )
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let rows: Value = r.json().await.unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 1, "{rows}");
    assert_eq!(rows[0]["after"]["description"], "laptop");
    assert!(
        rows[0]["request_id"]
            .as_str()
            .is_some_and(|s| s.len() == 36)
    );

    let r = app
        .get("/api/v1/audit?since=2999-01-01", Some(&root))
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap(), json!([]));
    let r = app
        .get("/api/v1/audit?since=yesterday", Some(&root))
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let r = app
        .get("/api/v1/audit?target=Command:seed&limit=5", Some(&root))
        .await
        .unwrap();
    let rows: Value = r.json().await.unwrap();
    assert_eq!(rows[0]["action"], "seed_applied");
    assert_eq!(rows[0]["actor"], "cli:seed");

    // The CAVE token endpoints record the request id too.
    let r = app
        .client
        .post(app.url("/api/v1/create_token"))
        .bearer_auth(&a)
        .header("x-request-id", "cave-1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["x-request-id"], "cave-1");
    let r = app
        .get(
            "/api/v1/audit?action=api_token_created&limit=1",
            Some(&root),
        )
        .await
        .unwrap();
    let rows: Value = r.json().await.unwrap();
    assert_eq!(rows[0]["request_id"], "cave-1");

    let (ok, out, err) = dsg(
        &app,
        &[
            "audit",
            "--action",
            "api_token_created",
            "--actor",
            "a@example.org",
            "--json",
        ],
        None,
    );
    assert!(ok, "{err}");
    let rows: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 2);
    assert_eq!(rows[0]["target_type"], "APIKey");
    let (ok, _, err) = dsg(&app, &["audit", "--since", "soon"], None);
    assert!(!ok);
    assert!(err.contains("--since"), "{err}");
    app.shutdown().await;
}
both_backends!(
    admins_query_the_log_by_api_and_cli,
    super::admins_query_the_log_by_api_and_cli
);
