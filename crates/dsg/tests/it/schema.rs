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

async fn exec(store: &Store, sql: &str) {
    let res = match store.db() {
        Db::Sqlite(p) => sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(p)
            .await
            .map(|_| ()),
        Db::Postgres(p) => sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(p)
            .await
            .map(|_| ()),
    };
    res.unwrap_or_else(|e| panic!("{sql}: {e}"));
}

async fn ids(store: &Store, sql: &str) -> Vec<i64> {
    match store.db() {
        Db::Sqlite(p) => {
            sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .fetch_all(p)
                .await
        }
        Db::Postgres(p) => {
            sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .fetch_all(p)
                .await
        }
    }
    .unwrap()
}

/// A database from before the shared id space, holding a service account
/// whose id is a user's: the upgrade renumbers it (its token and grant
/// follow), and afterwards users and service accounts never share an id.
async fn upgrade_gives_service_accounts_ids_no_user_has(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (url, pg) = dsg_testkit::empty_database(backend, dir.path())
        .await
        .unwrap();
    let store = Store::connect(
        &DatabaseTarget::parse(&url).unwrap(),
        &PoolSettings::default(),
    )
    .await
    .unwrap();
    store.migrate_to(5).await.unwrap();
    let hash = match backend {
        Backend::Sqlite => "X'00'",
        Backend::Postgres => "decode('00', 'hex')",
    };
    exec(
        &store,
        &format!(
            "INSERT INTO dsg_user (id, email, scim_id, created, updated) VALUES (1, 'a@x.org', 'u1', 0, 0), (2, 'b@x.org', 'u2', 0, 0);
             INSERT INTO dataset (id, name, scim_id, created, updated) VALUES (1, 'd', 'd1', 0, 0);
             INSERT INTO service_account (id, name, created, updated) VALUES (1, 'ci', 0, 0);
             INSERT INTO service_account_token (service_account_id, key_hash, created) VALUES (1, {hash}, 0);
             INSERT INTO service_account_grant (service_account_id, dataset_id, permission_id, created) VALUES (1, 1, 1, 0);"
        ),
    )
    .await;
    store.migrate().await.unwrap();
    let sa = ids(&store, "SELECT id FROM service_account").await;
    assert_eq!(sa.len(), 1);
    assert!(sa[0] > 2, "renumbered past every user id: {sa:?}");
    let follow = "SELECT service_account_id FROM service_account_token \
         UNION ALL SELECT service_account_id FROM service_account_grant";
    assert_eq!(ids(&store, follow).await, vec![sa[0], sa[0]]);
    // New rows of either kind take ids above both tables'.
    exec(
        &store,
        "INSERT INTO dsg_user (email, scim_id, created, updated) VALUES ('c@x.org', 'u3', 0, 0)",
    )
    .await;
    exec(
        &store,
        "INSERT INTO service_account (name, created, updated) VALUES ('ci2', 0, 0)",
    )
    .await;
    exec(
        &store,
        "INSERT INTO dsg_user (email, scim_id, created, updated) VALUES ('d@x.org', 'u4', 0, 0)",
    )
    .await;
    let users = ids(&store, "SELECT id FROM dsg_user ORDER BY id").await;
    let sas = ids(&store, "SELECT id FROM service_account ORDER BY id").await;
    assert_eq!(users[..2], [1, 2]);
    assert!(
        users[2] > sa[0] && sas[1] > users[2] && users[3] > sas[1],
        "{users:?} {sas:?}"
    );
    // An explicit id (as an import may give) that the other kind holds is refused.
    for sql in [
        format!(
            "INSERT INTO service_account (id, name, created, updated) VALUES ({}, 'x', 0, 0)",
            users[0]
        ),
        format!(
            "INSERT INTO dsg_user (id, email, scim_id, created, updated) VALUES ({}, 'e@x.org', 'u5', 0, 0)",
            sas[0]
        ),
    ] {
        let res = match store.db() {
            Db::Sqlite(p) => sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                .execute(p)
                .await
                .map(|_| ()),
            Db::Postgres(p) => sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                .execute(p)
                .await
                .map(|_| ()),
        };
        assert!(res.is_err(), "{sql} must be refused");
    }
    store.close().await;
    if let Some((base, schema)) = pg {
        dsg_testkit::drop_pg_schema(&base, &schema).await;
    }
}
both_backends!(
    upgrade_gives_service_accounts_ids_no_user_has,
    super::upgrade_gives_service_accounts_ids_no_user_has
);

async fn run(m: &sqlx::migrate::Migrator, db: &Db) -> Result<(), sqlx::migrate::MigrateError> {
    match db {
        Db::Sqlite(p) => m.run(p).await,
        Db::Postgres(p) => m.run(p).await,
    }
}

/// Rolling upgrade: a database a newer release migrated (one migration this
/// binary does not know) still opens; the strict migrator would refuse it.
async fn an_older_release_serves_a_newer_database(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let mut older = Store::migrator(app.store.backend());
    let known = older.migrations.len();
    older.migrations = std::borrow::Cow::Owned(older.migrations[..known - 1].to_vec());
    let db = app.store.db();
    run(&older, db).await.expect("tolerant of a newer database");
    older.set_ignore_missing(false);
    assert!(
        run(&older, db).await.is_err(),
        "the strict migrator refuses it"
    );
    app.shutdown().await;
}
both_backends!(
    older_release_newer_database,
    super::an_older_release_serves_a_newer_database
);

/// Several replicas starting at once on an empty PostgreSQL database: the
/// advisory lock lets one migrate, the others wait and find nothing to do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_starting_at_once_migrate_once() {
    let dir = tempfile::tempdir().unwrap();
    let (url, schema) = dsg_testkit::empty_database(Backend::Postgres, dir.path())
        .await
        .unwrap();
    let target = DatabaseTarget::parse(&url).unwrap();
    let mut stores = Vec::new();
    for _ in 0..4 {
        stores.push(
            Store::connect(&target, &PoolSettings::default())
                .await
                .unwrap(),
        );
    }
    let results = futures::future::join_all(stores.iter().map(Store::migrate)).await;
    for r in results {
        r.expect("every concurrent migrate succeeds");
    }
    let (applied, expected) = stores[0].migration_status().await.unwrap();
    assert_eq!(applied, expected);
    for s in stores {
        s.close().await;
    }
    let (base, schema) = schema.unwrap();
    dsg_testkit::drop_pg_schema(&base, &schema).await;
}
