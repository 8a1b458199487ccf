//! Reads behind the Neuroglancer ngauth endpoints: a login key by id (an
//! ngauth token names the key it was minted from), the datasets a bucket
//! belongs to, and a TOS document's landing token.

use crate::{Result, Store, on_db};

/// A dataset that lists a bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketDataset {
    /// Dataset id.
    pub id: i64,
    /// Dataset name.
    pub name: String,
}

impl Store {
    /// The datasets that list `bucket` (exact name), by name.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn datasets_of_bucket(&self, bucket: &str) -> Result<Vec<BucketDataset>> {
        const SQL: &str = "SELECT d.id, d.name FROM dataset_bucket b \
             JOIN dataset d ON d.id = b.dataset_id WHERE b.name = $1 ORDER BY d.name";
        let rows: Vec<(i64, String)> = on_db!(self.db(), pool => {
            sqlx::query_as(SQL).bind(bucket).fetch_all(pool).await
        })?;
        Ok(rows
            .into_iter()
            .map(|(id, name)| BucketDataset { id, name })
            .collect())
    }

    /// Every bucket row named `bucket` with its dataset and attached
    /// versions, in id order (the `/gcs_token` authorization domains).
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn bucket_rows(
        &self,
        bucket: &str,
    ) -> Result<Vec<dsg_core::permissions::decide::BucketRow>> {
        const SQL: &str = "SELECT b.id, b.dataset_id, vb.version_id FROM dataset_bucket b \
             LEFT JOIN dataset_version_bucket vb ON vb.bucket_id = b.id \
             WHERE b.name = $1 ORDER BY b.id, vb.version_id";
        let rows: Vec<(i64, i64, Option<i64>)> = on_db!(self.db(), pool => {
            sqlx::query_as(SQL).bind(bucket).fetch_all(pool).await
        })?;
        let mut out: Vec<dsg_core::permissions::decide::BucketRow> = Vec::new();
        for (bucket_id, dataset_id, version) in rows {
            if out.last().is_none_or(|r| r.bucket_id != bucket_id) {
                out.push(dsg_core::permissions::decide::BucketRow {
                    bucket_id,
                    dataset_id,
                    version_ids: Vec::new(),
                });
            }
            if let (Some(v), Some(last)) = (version, out.last_mut()) {
                last.version_ids.push(v);
            }
        }
        Ok(out)
    }

    /// The landing-page token of a TOS document (`/web/tos/<token>/`).
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn tos_invite_token(&self, tos_id: i64) -> Result<Option<String>> {
        const SQL: &str = "SELECT invite_token FROM tos_document WHERE id = $1";
        Ok(on_db!(self.db(), pool => {
            sqlx::query_scalar(SQL).bind(tos_id).fetch_optional(pool).await
        })?)
    }
}
