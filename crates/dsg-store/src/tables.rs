//! Service tables and public roots (CAVE's table → dataset mapping).

use crate::{Result, Store, on_db, placeholders};

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
