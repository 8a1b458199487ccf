//! Service tables and public roots (CAVE's table → dataset mapping).

use crate::{Result, Store, on_db, on_tx, placeholders};

impl Store {
    /// Name of the dataset a service table belongs to (exact match on both names).
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn dataset_for_table(&self, service: &str, table: &str) -> Result<Option<String>> {
        const SQL: &str = "SELECT d.name FROM service_table st JOIN dataset d ON d.id = st.dataset_id \
             WHERE st.service_name = $1 AND st.table_name = $2";
        Ok(on_db!(self.db(), pool => {
            sqlx::query_scalar(SQL).bind(service).bind(table).fetch_optional(pool).await
        })?)
    }

    /// Whether any service table with this table name has a public root.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn table_has_public(&self, table: &str) -> Result<bool> {
        const SQL: &str = "SELECT EXISTS (SELECT 1 FROM public_root pr \
             JOIN service_table st ON st.id = pr.service_table_id WHERE st.table_name = $1)";
        Ok(on_db!(self.db(), pool => {
            sqlx::query_scalar::<_, bool>(SQL).bind(table).fetch_one(pool).await
        })?)
    }

    /// For each root id, whether it is public in a service table with this name
    /// (answers in input order).
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn roots_public(&self, table: &str, roots: &[i64]) -> Result<Vec<bool>> {
        let mut public = std::collections::HashSet::new();
        let mut distinct = roots.to_vec();
        distinct.sort_unstable();
        distinct.dedup();
        for chunk in distinct.chunks(500) {
            // Safe: only numbered placeholders are interpolated.
            let sql = format!(
                "SELECT pr.root_id FROM public_root pr JOIN service_table st ON st.id = pr.service_table_id \
                 WHERE st.table_name = $1 AND pr.root_id IN ({})",
                placeholders(2, chunk.len())
            );
            let found: Vec<i64> = on_db!(self.db(), pool => {
                let mut q = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.clone())).bind(table);
                for r in chunk {
                    q = q.bind(*r);
                }
                q.fetch_all(pool).await
            })?;
            public.extend(found);
        }
        Ok(roots.iter().map(|r| public.contains(r)).collect())
    }
}

/// A service table of a dataset with its public roots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceTableListing {
    /// Id.
    pub id: i64,
    /// Service name.
    pub service_name: String,
    /// Table name.
    pub table_name: String,
    /// Public roots: `(public_root id, root id)`, by root id.
    pub roots: Vec<(i64, i64)>,
}

impl Store {
    /// A dataset's service tables with their public roots, by service and table name.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn dataset_service_tables(
        &self,
        dataset_id: i64,
    ) -> Result<Vec<ServiceTableListing>> {
        const TABLES: &str = "SELECT id, service_name, table_name FROM service_table \
             WHERE dataset_id = $1 ORDER BY service_name, table_name";
        const ROOTS: &str = "SELECT pr.service_table_id, pr.id, pr.root_id FROM public_root pr \
             JOIN service_table st ON st.id = pr.service_table_id WHERE st.dataset_id = $1 ORDER BY pr.root_id";
        let tables: Vec<(i64, String, String)> = on_db!(self.db(), pool => sqlx::query_as(TABLES).bind(dataset_id).fetch_all(pool).await)?;
        let roots: Vec<(i64, i64, i64)> = on_db!(self.db(), pool => sqlx::query_as(ROOTS).bind(dataset_id).fetch_all(pool).await)?;
        Ok(tables
            .into_iter()
            .map(|(id, service_name, table_name)| ServiceTableListing {
                id,
                roots: roots
                    .iter()
                    .filter(|r| r.0 == id)
                    .map(|r| (r.1, r.2))
                    .collect(),
                service_name,
                table_name,
            })
            .collect())
    }
}

/// A removed service table and the public roots that went with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemovedTable {
    /// Service name.
    pub service: String,
    /// Table name.
    pub table: String,
    /// Root ids that were public in it.
    pub roots: Vec<i64>,
}

impl crate::WriteTx {
    /// Removes a service table of this dataset (its public roots go with it);
    /// returns `(service, table)` if it existed.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn remove_service_table(
        &mut self,
        dataset_id: i64,
        service_table_id: i64,
    ) -> Result<Option<RemovedTable>> {
        const ROOTS: &str = "SELECT r.id, r.root_id FROM public_root r JOIN service_table t \
             ON t.id = r.service_table_id WHERE t.id = $1 AND t.dataset_id = $2 ORDER BY r.root_id";
        const SQL: &str = "DELETE FROM service_table WHERE id = $1 AND dataset_id = $2 \
             RETURNING service_name, table_name";
        let roots: Vec<(i64, i64)> = crate::on_tx!(&mut self.tx, conn => sqlx::query_as(ROOTS).bind(service_table_id).bind(dataset_id).fetch_all(conn).await)?;
        let row: Option<(String, String)> = crate::on_tx!(&mut self.tx, conn => sqlx::query_as(SQL).bind(service_table_id).bind(dataset_id).fetch_optional(conn).await)?;
        let Some((service, table)) = row else {
            return Ok(None);
        };
        let root_ids: Vec<i64> = roots.iter().map(|(_, r)| *r).collect();
        self.audit(
            "service_table_removed",
            "ServiceTable",
            service_table_id,
            Some(
                serde_json::json!({"service_name": service, "table_name": table,
                "dataset_id": dataset_id, "public_roots": root_ids}),
            ),
            None,
        )
        .await?;
        // The roots went with the table (ON DELETE CASCADE): recorded as such.
        for (id, root_id) in roots {
            self.audit(
                "public_root_removed",
                "PublicRoot",
                id,
                Some(
                    serde_json::json!({"service_table_id": service_table_id, "root_id": root_id,
                    "cascade": "service_table_removed"}),
                ),
                None,
            )
            .await?;
        }
        Ok(Some(RemovedTable {
            service,
            table,
            roots: root_ids,
        }))
    }

    /// Removes a public root of one of this dataset's service tables; returns
    /// its root id if it existed.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn remove_public_root(
        &mut self,
        dataset_id: i64,
        public_root_id: i64,
    ) -> Result<Option<i64>> {
        const SQL: &str = "DELETE FROM public_root WHERE id = $1 AND service_table_id IN \
             (SELECT id FROM service_table WHERE dataset_id = $2) RETURNING root_id, service_table_id";
        let row: Option<(i64, i64)> = crate::on_tx!(&mut self.tx, conn => sqlx::query_as(SQL).bind(public_root_id).bind(dataset_id).fetch_optional(conn).await)?;
        let Some((root_id, table_id)) = row else {
            return Ok(None);
        };
        self.audit(
            "public_root_removed",
            "PublicRoot",
            public_root_id,
            Some(serde_json::json!({"service_table_id": table_id, "root_id": root_id})),
            None,
        )
        .await?;
        Ok(Some(root_id))
    }
}

impl crate::WriteTx {
    /// Makes `wanted` exactly the dataset's service tables: mappings not
    /// wanted go, wanted ones held by another dataset move here.
    ///
    /// # Errors
    /// The database is unreachable.
    pub(crate) async fn map_service_tables(
        &mut self,
        dataset_id: i64,
        wanted: &[(String, String)],
    ) -> Result<()> {
        const CURRENT: &str =
            "SELECT id, service_name, table_name FROM service_table WHERE dataset_id = $1";
        const DELETE: &str = "DELETE FROM service_table WHERE id = $1";
        const UPSERT: &str = "INSERT INTO service_table (service_name, table_name, dataset_id) VALUES ($1, $2, $3) \
             ON CONFLICT (service_name, table_name) DO UPDATE SET dataset_id = excluded.dataset_id";
        let current: Vec<(i64, String, String)> = on_tx!(&mut self.tx, conn => {
            sqlx::query_as(CURRENT).bind(dataset_id).fetch_all(conn).await
        })?;
        for (id, service, table) in &current {
            if !wanted.iter().any(|(s, t)| s == service && t == table) {
                on_tx!(&mut self.tx, conn => sqlx::query(DELETE).bind(id).execute(conn).await.map(|r| r.rows_affected()))?;
            }
        }
        for (service, table) in wanted {
            on_tx!(&mut self.tx, conn => {
                sqlx::query(UPSERT).bind(service).bind(table).bind(dataset_id).execute(conn).await.map(|r| r.rows_affected())
            })?;
        }
        Ok(())
    }
}
