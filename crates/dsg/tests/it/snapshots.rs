//! Client-facing JSON pinned with snapshots (ids and secrets redacted), on
//! both backends: any change to a key, a value shape or a status shows up
//! as a snapshot diff.

use dsg_testkit::{Backend, spawn_app, user_token};
use serde_json::{Value, json};

async fn status_and_json(r: reqwest::Response) -> Value {
    let status = r.status().as_u16();
    let www = r
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    let body: Value = r.json().await.unwrap();
    json!({"status": status, "www_authenticate": www, "body": body})
}

async fn client_facing_responses(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app
        .seed(json!({
            "datasets": [
                {"name": "fish2", "tos": "t", "service_tables": [{"service": "datastack", "table": "syn", "public_roots": [7]}]},
                {"name": "fanc"}
            ],
            "tos": [{"key": "t", "name": "Fish terms", "text": "x", "dataset": "fish2"}],
            "users": [{"key": "a", "email": "a@example.org", "name": "A", "pi": "Dr P",
                       "affiliations": ["HHMI"], "tokens": [{"key": "t"}]}],
            "groups": [{"name": "lab", "members": [{"user": "a", "admin": true}],
                        "permissions": [{"dataset": "fanc", "permission": "edit"}]}],
            "grants": [{"user": "a", "dataset": "fish2", "permission": "admin"}]
        }))
        .await
        .unwrap();
    let t = user_token(&s, "a", "t");
    let uid = s["users"]["a"]["id"].as_i64().unwrap();
    let mut out = serde_json::Map::new();
    for (name, path, token) in [
        (
            "user_cache",
            "/api/v1/user/cache".to_string(),
            Some(t.as_str()),
        ),
        ("user_cache_no_token", "/api/v1/user/cache".into(), None),
        (
            "user_cache_bad_token",
            "/api/v1/user/cache".into(),
            Some("nope"),
        ),
        (
            "table_dataset",
            "/api/v1/service/datastack/table/syn/dataset".into(),
            Some(t.as_str()),
        ),
        (
            "table_missing",
            "/api/v1/service/datastack/table/zzz/dataset".into(),
            Some(t.as_str()),
        ),
        (
            "username",
            format!("/api/v1/username?id={uid}"),
            Some(t.as_str()),
        ),
        (
            "user_list",
            format!("/api/v1/user?id={uid}"),
            Some(t.as_str()),
        ),
        ("user", format!("/api/v1/user/{uid}"), Some(t.as_str())),
        (
            "group_members",
            "/api/v1/groups/lab/members".into(),
            Some(t.as_str()),
        ),
        ("has_public", "/api/v1/table/syn/has_public".into(), None),
        (
            "refresh_token",
            "/api/v1/refresh_token".into(),
            Some(t.as_str()),
        ),
        (
            "create_token_get",
            "/api/v1/create_token".into(),
            Some(t.as_str()),
        ),
        ("unknown_path", "/api/v1/nothing".into(), None),
        ("health", "/health".into(), None),
    ] {
        let r = app.get(&path, token).await.unwrap();
        out.insert(name.into(), status_and_json(r).await);
    }
    let mut v = Value::Object(out);
    // Ids differ between backends and runs: redact them.
    redact_ids(&mut v, &["id", "dataset_id", "tos_id"]);
    insta::assert_json_snapshot!("client_facing_responses", v);
    app.shutdown().await;
}
both_backends!(client_facing_responses, super::client_facing_responses);

fn redact_ids(v: &mut Value, keys: &[&str]) {
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                if keys.contains(&k.as_str()) && x.is_number() {
                    *x = json!("[id]");
                } else {
                    redact_ids(x, keys);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| redact_ids(x, keys)),
        _ => {}
    }
}
