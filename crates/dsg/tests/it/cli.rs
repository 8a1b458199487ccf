//! The `dsg` binary in another process changes data; the running server
//! shows it on the very next request (SQLite) or within a second (PostgreSQL).

use std::process::Command;
use std::time::Duration;

use dsg_testkit::{Backend, eventually, spawn_app, user_token};
use serde_json::json;

pub(crate) fn dsg(
    app: &dsg_testkit::TestApp,
    args: &[&str],
    stdin: Option<&str>,
) -> (bool, String, String) {
    use std::io::Write;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dsg"));
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", &app.database_url)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    } else {
        drop(child.stdin.take());
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// SQLite must be fresh on the next request; PostgreSQL within one second.
pub(crate) async fn fresh<F, Fut>(backend: Backend, check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let mut check = check;
    match backend {
        Backend::Sqlite => check().await,
        Backend::Postgres => eventually(Duration::from_secs(1), check).await,
    }
}

async fn seed_and_revoke_in_another_process_show_on_the_next_request(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app
        .seed(json!({
            "datasets": [{"name": "fish2"}],
            "users": [{"key": "a", "email": "a@example.org", "tokens": [{"key": "main"}]}]
        }))
        .await
        .unwrap();
    let token = user_token(&s, "a", "main");
    let (_, doc) = app.user_cache(&token).await.unwrap();
    assert_eq!(doc["permissions_v2"], json!({}));

    let (ok, out, err) = dsg(
        &app,
        &["seed", "-"],
        Some(
            r#"{"grants": [{"user": "a@example.org", "dataset": "fish2", "permission": "edit"}]}"#,
        ),
    );
    assert!(ok, "{out}{err}");
    assert!(
        fresh(backend, || async {
            app.user_cache(&token).await.unwrap().1["permissions_v2"]
                == json!({"fish2": ["edit", "view"]})
        })
        .await
    );

    let (ok, out, err) = dsg(
        &app,
        &["token", "list", "--json", "--user", "a@example.org"],
        None,
    );
    assert!(ok, "{err}");
    let list: serde_json::Value = serde_json::from_str(&out).unwrap();
    let id = list[0]["id"].as_i64().unwrap().to_string();
    assert!(!out.contains(&token), "token list must never print secrets");
    let (ok, _, err) = dsg(&app, &["token", "revoke", &id], None);
    assert!(ok, "{err}");
    assert!(
        fresh(backend, || async {
            app.user_cache(&token).await.unwrap().0 == 401
        })
        .await
    );
    app.shutdown().await;
}
both_backends!(
    seed_and_revoke_in_another_process_show_on_the_next_request,
    super::seed_and_revoke_in_another_process_show_on_the_next_request
);

async fn token_create_and_make_admin(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let (ok, out, err) = dsg(&app, &["make-admin", "boss@example.org"], None);
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "Created new admin user: boss@example.org");
    let (ok, out, _) = dsg(&app, &["make-admin", "boss@example.org"], None);
    assert!(ok);
    assert_eq!(out.trim(), "User boss@example.org is already an admin.");
    let (ok, token, err) = dsg(
        &app,
        &[
            "token",
            "create",
            "--user",
            "boss@example.org",
            "--expires-in",
            "1d",
        ],
        None,
    );
    assert!(ok, "{err}");
    let token = token.trim().to_owned();
    assert_eq!(token.len(), 64, "token alone on stdout: {token:?}");
    let ok_admin = fresh(backend, || async {
        app.user_cache(&token).await.unwrap().1["admin"] == json!(true)
    })
    .await;
    assert!(ok_admin);
    let (ok, out, _) = dsg(&app, &["make-admin", "--remove", "boss@example.org"], None);
    assert!(ok);
    assert_eq!(out.trim(), "Revoked admin status from boss@example.org.");
    assert!(
        fresh(backend, || async {
            app.user_cache(&token).await.unwrap().1["admin"] == json!(false)
        })
        .await
    );
    let (ok, _, err) = dsg(
        &app,
        &["token", "create", "--user", "nobody@example.org"],
        None,
    );
    assert!(!ok && err.contains("nobody@example.org"), "{err}");
    app.shutdown().await;
}
both_backends!(
    token_create_and_make_admin,
    super::token_create_and_make_admin
);

async fn a_failing_seed_writes_nothing(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let bad = r#"{"datasets": [{"name": "d1"}], "users": [{"key": "u", "email": "u@example.org"}],
                  "grants": [{"user": "u", "dataset": "missing", "permission": "view"}]}"#;
    let (ok, out, err) = dsg(&app, &["seed", "-"], Some(bad));
    assert!(!ok);
    assert!(out.is_empty() && err.contains("missing"), "{out} / {err}");
    assert_eq!(
        app.store.user_id_by_email("u@example.org").await.unwrap(),
        None
    );
    assert!(app.store.load_catalog().await.unwrap().datasets.is_empty());
    let (ok, _, err) = dsg(&app, &["seed", "-"], Some("{not json"));
    assert!(!ok && err.contains("fixture"), "{err}");
    app.shutdown().await;
}
both_backends!(
    a_failing_seed_writes_nothing,
    super::a_failing_seed_writes_nothing
);
