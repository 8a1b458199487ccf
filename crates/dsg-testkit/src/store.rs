//! Direct access to a test server's store: whole-database dumps to compare,
//! and credentials made as the CLI makes them.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use crate::TestApp;

/// Every table's rows as sorted text, to compare whole databases.
pub async fn dump(app: &TestApp) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    match app.store.db() {
        dsg_store::Db::Sqlite(pool) => {
            let tables: Vec<String> = sqlx::query_scalar(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
            )
            .fetch_all(pool)
            .await
            .unwrap();
            for t in tables {
                let cols: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                    "SELECT name FROM pragma_table_info('{t}')"
                )))
                .fetch_all(pool)
                .await
                .unwrap();
                let expr = cols
                    .iter()
                    .map(|c| format!("quote(\"{c}\")"))
                    .collect::<Vec<_>>()
                    .join(" || ',' || ");
                let mut rows: Vec<String> =
                    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT {expr} FROM \"{t}\"")))
                        .fetch_all(pool)
                        .await
                        .unwrap();
                rows.sort();
                out.insert(t, rows);
            }
        }
        dsg_store::Db::Postgres(pool) => {
            let tables: Vec<String> = sqlx::query_scalar(
                "SELECT table_name::text FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
            )
            .fetch_all(pool)
            .await
            .unwrap();
            for t in tables {
                let mut rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                    "SELECT CAST(row_to_json(x) AS TEXT) FROM \"{t}\" x"
                )))
                .fetch_all(pool)
                .await
                .unwrap();
                rows.sort();
                out.insert(t, rows);
            }
        }
    }
    out
}

/// A new SCIM token named `name` (made as `dsg scim token create` does); its secret.
pub async fn scim_token(app: &TestApp, name: &str) -> String {
    let mut tx = app
        .store
        .begin(dsg_store::write::Actor::cli("test"))
        .await
        .unwrap();
    let (_, t) = tx.create_scim_token(name).await.unwrap();
    tx.commit().await.unwrap();
    t.expose().to_owned()
}
