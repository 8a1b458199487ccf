//! Reads behind the Neuroglancer ngauth endpoints: a login key by id (an
//! ngauth token names the key it was minted from), the datasets a bucket
//! belongs to, and a TOS document's landing token.

use std::collections::BTreeSet;

use dsg_core::Timestamp;
use dsg_core::permissions::TokenScope;

use crate::tokens::{PrincipalRef, TokenRecord};
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
    /// A user token (`api_key`) by row id, with its scope.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn user_token_by_id(&self, id: i64) -> Result<Option<TokenRecord>> {
        const SQL: &str = "SELECT user_id, expires_at, scope_read_only, scope_datasets \
             FROM api_key WHERE id = $1";
        const SCOPE_SQL: &str = "SELECT d.name FROM api_key_dataset k \
             JOIN dataset d ON d.id = k.dataset_id WHERE k.api_key_id = $1";
        let row: Option<(i64, Option<i64>, bool, bool)> = on_db!(self.db(), pool => {
            sqlx::query_as(SQL).bind(id).fetch_optional(pool).await
        })?;
        let Some((user_id, expires_at, read_only, scoped)) = row else {
            return Ok(None);
        };
        let datasets = if scoped {
            let names: Vec<String> = on_db!(self.db(), pool => {
                sqlx::query_scalar(SCOPE_SQL).bind(id).fetch_all(pool).await
            })?;
            Some(names.into_iter().collect::<BTreeSet<_>>())
        } else {
            None
        };
        Ok(Some(TokenRecord {
            token_id: id,
            principal: PrincipalRef::User(user_id),
            expires_at: expires_at.map(Timestamp),
            scope: TokenScope {
                read_only,
                datasets,
            },
        }))
    }

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
