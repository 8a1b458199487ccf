//! Bucket IAM provisioning against a stateful IAM stub: idempotent edits,
//! etag-conflict retries, ownership-aware reconciliation (CLI, dry run), and
//! the background sync that follows access changes.

use std::process::Command;
use std::time::Duration;

use dsg_core::Timestamp;
use dsg_server::gcs::{Gcs, GcsConfig};
use dsg_store::write::Actor;
use dsg_testkit::google::{GoogleStub, IamStub};
use dsg_testkit::{Backend, TestApp, eventually, spawn_app_with};
use serde_json::json;

const VIEWER: &str = "roles/storage.objectViewer";

async fn client(google: &GoogleStub, iam: &str) -> Gcs {
    Gcs::from_config(&GcsConfig {
        credentials_file: google.key_file.display().to_string(),
        sts_url: google.sts_url(),
        storage_url: iam.into(),
        ..GcsConfig::default()
    })
    .unwrap()
}

#[tokio::test]
async fn viewer_edits_are_idempotent_and_survive_stale_etags() {
    let google = GoogleStub::start().await;
    let stub = IamStub::default();
    let iam = stub.start().await;
    let gcs = client(&google, &iam).await;
    let now = Timestamp(dsg_store::now_micros());
    let cond =
        json!({"title": "t", "expression": "request.time < timestamp('2030-01-01T00:00:00Z')"});
    stub.set_bindings(
        "b1",
        json!([
            {"role": VIEWER, "members": ["user:keep@x.org"]},
            {"role": VIEWER, "members": ["user:a@x.org"], "condition": cond},
            {"role": "roles/storage.admin", "members": ["serviceAccount:gw@p.iam"]}
        ]),
    );
    let add = vec!["user:a@x.org".to_string()];
    let e = gcs.update_viewers("b1", &add, &[], now).await.unwrap();
    assert_eq!(e.added, add);
    // Again: nothing to write, no duplicate binding.
    assert!(
        gcs.update_viewers("b1", &add, &[], now)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(stub.counts(), (1, 0));
    assert_eq!(
        stub.bindings("b1"),
        json!([
            {"role": VIEWER, "members": ["user:keep@x.org", "user:a@x.org"]},
            {"role": VIEWER, "members": ["user:a@x.org"], "condition": cond},
            {"role": "roles/storage.admin", "members": ["serviceAccount:gw@p.iam"]}
        ])
    );
    // Two writes lose a race: the whole read-modify-write repeats.
    stub.lose_races(2);
    let e = gcs
        .update_viewers(
            "b1",
            &[],
            &["user:a@x.org".into(), "user:keep@x.org".into()],
            now,
        )
        .await
        .unwrap();
    assert_eq!(e.removed.len(), 2);
    assert_eq!(stub.counts(), (2, 2));
    // The emptied unconditional binding is gone; the conditional one stays.
    assert_eq!(
        stub.bindings("b1"),
        json!([
            {"role": VIEWER, "members": ["user:a@x.org"], "condition": cond},
            {"role": "roles/storage.admin", "members": ["serviceAccount:gw@p.iam"]}
        ])
    );
    // A bucket that keeps losing gives up with an error, not a loop.
    stub.lose_races(100);
    assert!(gcs.update_viewers("b1", &add, &[], now).await.is_err());
}

fn dsg(app: &TestApp, google: &GoogleStub, iam: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_dsg"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", &app.database_url)
        .env("DSG_GCS__CREDENTIALS_FILE", &google.key_file)
        .env("DSG_GCS__STS_URL", google.sts_url())
        .env("DSG_GCS__STORAGE_URL", iam)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn world() -> serde_json::Value {
    json!({
        "datasets": [
            {"name": "fish2", "buckets": ["fish2-data", "fish2-raw"]},
            {"name": "other", "buckets": ["other-data"]}
        ],
        "users": [
            {"key": "a", "email": "Alice@Example.org"},
            {"key": "g", "email": "grouped@example.org"},
            {"key": "root", "email": "root@example.org", "admin": true},
            {"key": "n", "email": "nobody@example.org"}
        ],
        "groups": [{"name": "lab", "members": [{"user": "g"}],
                    "permissions": [{"dataset": "fish2", "permission": "view"}]}],
        "grants": [
            {"user": "a", "dataset": "fish2", "permission": "edit"},
            {"user": "root", "dataset": "fish2", "permission": "view"}
        ]
    })
}

async fn reconcile_adds_and_removes_only_what_it_owns(backend: Backend) {
    let google = GoogleStub::start().await;
    let stub = IamStub::default();
    let iam = stub.start().await;
    let app = spawn_app_with(backend, |_| {}).await.unwrap();
    app.seed(world()).await.unwrap();
    // Someone else gave nobody@ access by hand: never ours to remove.
    stub.set_bindings(
        "fish2-data",
        json!([{"role": VIEWER, "members": ["user:nobody@example.org"]}]),
    );

    let (ok, out, err) = dsg(
        &app,
        &google,
        &iam,
        &["gcs", "sync-bucket-iam", "--dry-run"],
    );
    assert!(ok, "{err}");
    let expected_dry = "\nDataset: fish2 (2 bucket(s))\n\
        \x20 KEEP nobody@example.org -> fish2-data (not added by DatasetGateway)\n\
        \x20 [DRY RUN] ADD alice@example.org -> fish2-data\n\
        \x20 [DRY RUN] ADD grouped@example.org -> fish2-data\n\
        \x20 [DRY RUN] ADD alice@example.org -> fish2-raw\n\
        \x20 [DRY RUN] ADD grouped@example.org -> fish2-raw\n\
        \nDataset: other (1 bucket(s))\n\
        \nDone. Added: 4, Removed: 0 (dry run)\n";
    assert_eq!(out, expected_dry);
    assert_eq!(stub.counts(), (0, 0), "a dry run writes nothing");

    let (ok, out, err) = dsg(&app, &google, &iam, &["gcs", "sync-bucket-iam"]);
    assert!(ok, "{err}");
    assert!(out.ends_with("\nDone. Added: 4, Removed: 0\n"), "{out}");
    assert_eq!(
        stub.viewers("fish2-data"),
        [
            "user:alice@example.org",
            "user:grouped@example.org",
            "user:nobody@example.org"
        ]
    );
    assert_eq!(
        stub.viewers("fish2-raw"),
        ["user:alice@example.org", "user:grouped@example.org"]
    );
    // Idempotent: a second run changes nothing and writes nothing.
    let writes = stub.counts().0;
    let (_, out, _) = dsg(
        &app,
        &google,
        &iam,
        &["gcs", "sync-bucket-iam", "--dataset", "fish2"],
    );
    assert!(out.ends_with("Done. Added: 0, Removed: 0\n"), "{out}");
    assert_eq!(stub.counts().0, writes);

    // Alice becomes a global admin: no longer provisioned, and removed
    // (she was added by DatasetGateway); nobody@ stays.
    let mut tx = app.store.begin(Actor::cli("test")).await.unwrap();
    tx.set_admin("alice@example.org", true).await.unwrap();
    tx.commit().await.unwrap();
    let (_, out, _) = dsg(
        &app,
        &google,
        &iam,
        &["gcs", "sync-bucket-iam", "--dataset", "fish2"],
    );
    assert!(
        out.contains("  REMOVE alice@example.org -> fish2-data\n"),
        "{out}"
    );
    assert!(out.ends_with("Done. Added: 0, Removed: 2\n"), "{out}");
    assert_eq!(
        stub.viewers("fish2-data"),
        ["user:grouped@example.org", "user:nobody@example.org"]
    );
    // Every change is audited.
    let rows: i64 = match app.store.db() {
        dsg_store::Db::Sqlite(p) => sqlx::query_scalar(
            "SELECT COUNT(*) FROM audit_log WHERE action LIKE 'bucket_iam_member_%'",
        )
        .fetch_one(p)
        .await
        .unwrap(),
        dsg_store::Db::Postgres(p) => sqlx::query_scalar(
            "SELECT COUNT(*) FROM audit_log WHERE action LIKE 'bucket_iam_member_%'",
        )
        .fetch_one(p)
        .await
        .unwrap(),
    };
    assert_eq!(rows, 6);

    // A bucket Google will not show is reported; the others are still reconciled.
    let mut tx = app.store.begin(Actor::cli("test")).await.unwrap();
    let other = tx.dataset_id("other").await.unwrap();
    tx.add_bucket(other, "gone-bucket").await.unwrap();
    tx.commit().await.unwrap();
    let (ok, out, err) = dsg(&app, &google, &iam, &["gcs", "sync-bucket-iam"]);
    assert!(!ok, "{out}");
    assert!(out.contains("  ERROR gone-bucket: "), "{out}");
    assert!(out.contains("Dataset: fish2 (2 bucket(s))"), "{out}");
    assert!(err.contains("1 bucket(s) could not be reconciled"), "{err}");

    let (ok, _, err) = dsg(
        &app,
        &google,
        &iam,
        &["gcs", "sync-bucket-iam", "--dataset", "nope"],
    );
    assert!(!ok && err.contains("Dataset not found: nope"), "{err}");
    app.shutdown().await;
}
both_backends!(
    reconcile_adds_and_removes_only_what_it_owns_tests,
    super::reconcile_adds_and_removes_only_what_it_owns
);

async fn access_changes_reach_bucket_iam(backend: Backend) {
    let google = GoogleStub::start().await;
    let stub = IamStub::default();
    let iam = stub.start().await;
    let key = google.key_file.display().to_string();
    let sts = google.sts_url();
    let iam_url = iam.clone();
    let app = spawn_app_with(backend, move |c| {
        c.gcs.credentials_file = key;
        c.gcs.sts_url = sts;
        c.gcs.storage_url = iam_url;
        c.gcs.iam_sync = true;
        c.gcs.iam_sync_interval_secs = 1;
    })
    .await
    .unwrap();
    app.seed(json!({
        "datasets": [{"name": "fish2", "buckets": ["fish2-data"]}],
        "users": [{"key": "a", "email": "a@example.org"}]
    }))
    .await
    .unwrap();
    assert!(stub.viewers("fish2-data").is_empty());
    // A grant appears → the user is added.
    let mut tx = app.store.begin(Actor::cli("test")).await.unwrap();
    let uid = tx.user_id_by_email("a@example.org").await.unwrap().unwrap();
    let ds = tx.dataset_id("fish2").await.unwrap();
    tx.create_grant(&dsg_store::grants::NewGrant {
        service_id: None,
        bucket_ids: &[],
        user_id: uid,
        dataset_id: ds,
        version_id: None,
        permission: "view",
        group_id: None,
        granted_by: None,
        source: "manual",
        expires_at: None,
    })
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let added = eventually(Duration::from_secs(20), || async {
        stub.viewers("fish2-data") == ["user:a@example.org"]
    })
    .await;
    assert!(added, "{:?}", stub.bindings("fish2-data"));
    // Made admin → removed (DatasetGateway added it).
    let mut tx = app.store.begin(Actor::cli("test")).await.unwrap();
    tx.set_admin("a@example.org", true).await.unwrap();
    tx.commit().await.unwrap();
    let removed = eventually(Duration::from_secs(20), || async {
        stub.viewers("fish2-data").is_empty()
    })
    .await;
    assert!(removed, "{:?}", stub.bindings("fish2-data"));
    app.shutdown().await;
}
both_backends!(
    access_changes_reach_bucket_iam_tests,
    super::access_changes_reach_bucket_iam
);
