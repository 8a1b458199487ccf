//! Dataset buckets as bucket IAM provisioning sees them, and the record of
//! the `roles/storage.objectViewer` members DatasetGateway added itself
//! (`gcs_bucket_member`), so reconciliation removes only what it added.

use std::collections::BTreeSet;

use serde_json::json;

use crate::{Result, Store, WriteTx, now_micros, on_db, on_tx, placeholders};

/// A bucket of a dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetBucket {
    /// Dataset id.
    pub dataset_id: i64,
    /// Dataset name.
    pub dataset: String,
    /// Bucket name.
    pub bucket: String,
}

/// A member DatasetGateway added to a bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedMember {
    /// Bucket.
    pub bucket: String,
    /// `user:<email>`.
    pub member: String,
    /// The user, while it exists.
    pub user_id: Option<i64>,
}

impl Store {
    /// Every bucket of every dataset (or of one dataset), ordered by dataset then bucket.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn dataset_buckets(&self, dataset: Option<&str>) -> Result<Vec<DatasetBucket>> {
        const SQL: &str = "SELECT d.id, d.name, b.name FROM dataset_bucket b \
             JOIN dataset d ON d.id = b.dataset_id WHERE ($1 IS NULL OR d.name = $1) \
             ORDER BY d.name, b.name";
        let rows: Vec<(i64, String, String)> = on_db!(self.db(), pool => {
            sqlx::query_as(SQL).bind(dataset).fetch_all(pool).await
        })?;
        Ok(rows
            .into_iter()
            .map(|(dataset_id, dataset, bucket)| DatasetBucket {
                dataset_id,
                dataset,
                bucket,
            })
            .collect())
    }

    /// Users holding anything on these datasets: a direct grant, or
    /// membership of a group with a permission on them.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn users_with_access_to(&self, dataset_ids: &[i64]) -> Result<BTreeSet<i64>> {
        if dataset_ids.is_empty() {
            return Ok(BTreeSet::new());
        }
        let list = placeholders(1, dataset_ids.len());
        let sql = format!(
            "SELECT user_id FROM dataset_grant WHERE dataset_id IN ({list}) \
             UNION SELECT ug.user_id FROM user_group ug \
             JOIN group_dataset_permission gp ON gp.group_id = ug.group_id \
             WHERE gp.dataset_id IN ({list})"
        );
        let ids: Vec<i64> = on_db!(self.db(), pool => {
            let mut q = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.clone()));
            for id in dataset_ids {
                q = q.bind(*id);
            }
            q.fetch_all(pool).await
        })?;
        Ok(ids.into_iter().collect())
    }

    /// Members DatasetGateway added, for one bucket or one member (or all).
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn owned_bucket_members(
        &self,
        bucket: Option<&str>,
        member: Option<&str>,
    ) -> Result<Vec<OwnedMember>> {
        const SQL: &str = "SELECT bucket, member, user_id FROM gcs_bucket_member \
             WHERE ($1 IS NULL OR bucket = $1) AND ($2 IS NULL OR member = $2) \
             ORDER BY bucket, member";
        let rows: Vec<(String, String, Option<i64>)> = on_db!(self.db(), pool => {
            sqlx::query_as(SQL).bind(bucket).bind(member).fetch_all(pool).await
        })?;
        Ok(rows
            .into_iter()
            .map(|(bucket, member, user_id)| OwnedMember {
                bucket,
                member,
                user_id,
            })
            .collect())
    }

    /// Owned members whose user was deleted.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn orphaned_bucket_members(&self) -> Result<Vec<OwnedMember>> {
        const SQL: &str = "SELECT bucket, member, user_id FROM gcs_bucket_member \
             WHERE user_id IS NULL ORDER BY bucket, member";
        let rows: Vec<(String, String, Option<i64>)> =
            on_db!(self.db(), pool => sqlx::query_as(SQL).fetch_all(pool).await)?;
        Ok(rows
            .into_iter()
            .map(|(bucket, member, user_id)| OwnedMember {
                bucket,
                member,
                user_id,
            })
            .collect())
    }
}

impl WriteTx {
    /// Records that DatasetGateway added `member` to `bucket` (idempotent).
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn record_bucket_member(
        &mut self,
        bucket: &str,
        member: &str,
        user_id: Option<i64>,
    ) -> Result<()> {
        const SQL: &str = "INSERT INTO gcs_bucket_member (bucket, member, user_id, created) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (bucket, member) DO NOTHING";
        let n = on_tx!(&mut self.tx, conn => sqlx::query(SQL).bind(bucket).bind(member).bind(user_id).bind(now_micros()).execute(conn).await.map(|r| r.rows_affected()))?;
        if n > 0 {
            self.audit(
                "bucket_iam_member_added",
                "DatasetBucket",
                bucket,
                None,
                Some(json!({"bucket": bucket, "member": member, "role": "roles/storage.objectViewer"})),
            )
            .await?;
        }
        Ok(())
    }

    /// Forgets that DatasetGateway added `member` to `bucket` (after removing it).
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn forget_bucket_member(&mut self, bucket: &str, member: &str) -> Result<()> {
        const SQL: &str = "DELETE FROM gcs_bucket_member WHERE bucket = $1 AND member = $2";
        let n = on_tx!(&mut self.tx, conn => sqlx::query(SQL).bind(bucket).bind(member).execute(conn).await.map(|r| r.rows_affected()))?;
        if n > 0 {
            self.audit(
                "bucket_iam_member_removed",
                "DatasetBucket",
                bucket,
                Some(json!({"bucket": bucket, "member": member, "role": "roles/storage.objectViewer"})),
                None,
            )
            .await?;
        }
        Ok(())
    }
}
