//! Both migration sets must describe the same schema: same migration files,
//! and, once applied, the same tables with the same columns.

use std::collections::BTreeSet;

use dsg_store::{DatabaseTarget, Db, PoolSettings, Store};
use dsg_testkit::{Backend, spawn_app};

fn migration_names(dir: &str) -> BTreeSet<String> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../dsg-store/migrations/");
    std::fs::read_dir(format!("{root}{dir}"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn both_backends_have_the_same_migration_files() {
    let sqlite = migration_names("sqlite");
    assert!(!sqlite.is_empty());
    assert_eq!(sqlite, migration_names("postgres"));
}

async fn inventory(app: &dsg_testkit::TestApp) -> BTreeSet<(String, String)> {
    let rows: Vec<(String, String)> = match app.store.db() {
        Db::Sqlite(pool) => sqlx::query_as(
            "SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name NOT LIKE '_sqlx%'",
        )
        .fetch_all(pool)
        .await
        .unwrap(),
        Db::Postgres(pool) => sqlx::query_as(
            "SELECT table_name::text, column_name::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name NOT LIKE '_sqlx%'",
        )
        .fetch_all(pool)
        .await
        .unwrap(),
    };
    rows.into_iter().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_backends_have_the_same_tables_and_columns() {
    let sqlite = spawn_app(Backend::Sqlite).await.unwrap();
    let postgres = spawn_app(Backend::Postgres).await.unwrap();
    let (a, b) = (inventory(&sqlite).await, inventory(&postgres).await);
    assert!(a.contains(&("dataset_grant".into(), "expires_at".into())));
    assert_eq!(
        a, b,
        "schema drift between migrations/sqlite and migrations/postgres"
    );
    sqlite.shutdown().await;
    postgres.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrating_twice_is_a_no_op_and_readyz_reports_it() {
    let dir = tempfile::tempdir().unwrap();
    let target = DatabaseTarget::Sqlite(dir.path().join("m.sqlite3"));
    let store = Store::open(&target, &PoolSettings::default())
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let (applied, expected) = store.migration_status().await.unwrap();
    assert_eq!(applied, expected);
    store.close().await;
}

async fn audit_log_is_append_only(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    app.seed(serde_json::json!({"datasets": [{"name": "d"}]}))
        .await
        .unwrap();
    let entries = app
        .store
        .audit_entries(&dsg_store::audit::AuditFilter::default())
        .await
        .unwrap();
    assert!(entries.iter().any(|e| e.action == "dataset_created"));
    let (update, delete) = ("UPDATE audit_log SET action = 'x'", "DELETE FROM audit_log");
    for sql in [update, delete] {
        let res = match app.store.db() {
            Db::Sqlite(p) => sqlx::query(sql).execute(p).await.map(|_| ()),
            Db::Postgres(p) => sqlx::query(sql).execute(p).await.map(|_| ()),
        };
        assert!(res.is_err(), "{sql} must be refused");
    }
    app.shutdown().await;
}
both_backends!(audit_log_is_append_only, super::audit_log_is_append_only);
