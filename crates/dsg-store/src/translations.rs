//! Dataset translations: a service's own names for our datasets and
//! versions (dsg-native-v1 §2.3), read by `/api/dsg/v1`.

use dsg_core::DomainError;
use serde_json::json;

use crate::datasets::{Bind, Binds};
use crate::events::CacheEvent;
use crate::{Result, Store, WriteTx, now_micros, on_db, on_tx};

/// A translation as listed for its dataset.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TranslationListing {
    /// Id.
    pub id: i64,
    /// Service name.
    pub service: String,
    /// The service's dataset name.
    pub client_name: String,
    /// The service's version name.
    pub client_version: Option<String>,
    /// Our version name.
    pub version: Option<String>,
}

impl Store {
    /// A dataset's translations, by service, client name and version.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn dataset_translations(&self, dataset_id: i64) -> Result<Vec<TranslationListing>> {
        const SQL: &str = "SELECT t.id, s.name, t.client_name, t.client_version, v.version \
             FROM dataset_translation t JOIN service s ON s.id = t.service_id \
             LEFT JOIN dataset_version v ON v.id = t.dataset_version_id \
             WHERE t.dataset_id = $1 ORDER BY s.name, t.client_name, t.client_version";
        type Row = (i64, String, String, Option<String>, Option<String>);
        let rows: Vec<Row> = on_db!(self.db(), pool => {
            sqlx::query_as(SQL).bind(dataset_id).fetch_all(pool).await
        })?;
        Ok(rows
            .into_iter()
            .map(
                |(id, service, client_name, client_version, version)| TranslationListing {
                    id,
                    service,
                    client_name,
                    client_version,
                    version,
                },
            )
            .collect())
    }
}

/// A translation to create.
#[derive(Debug, Clone, Copy)]
pub struct NewTranslation<'a> {
    /// The service whose vocabulary it is.
    pub service_id: i64,
    /// The service's dataset name.
    pub client_name: &'a str,
    /// The service's version name; `None` for a name-level translation.
    pub client_version: Option<&'a str>,
    /// Our dataset.
    pub dataset_id: i64,
    /// Our version (given exactly when `client_version` is).
    pub version_id: Option<i64>,
}

impl WriteTx {
    /// Creates a translation: the one writer of `translation_created`.
    ///
    /// # Errors
    /// [`DomainError::Invalid`] for an empty name, a lone `client_version`
    /// or version, or a version of another dataset;
    /// [`DomainError::Conflict`] when the service already maps this name
    /// (and version).
    pub async fn create_translation(&mut self, t: &NewTranslation<'_>) -> Result<i64> {
        const VERSION_OF: &str = "SELECT dataset_id FROM dataset_version WHERE id = $1";
        const SQL: &str = "INSERT INTO dataset_translation (service_id, client_name, client_version, \
             dataset_id, dataset_version_id, created) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id";
        if t.client_name.trim().is_empty() {
            return Err(DomainError::Invalid("a translation needs a client_name".into()).into());
        }
        match (t.client_version, t.version_id) {
            (Some(v), Some(version_id)) if !v.is_empty() => {
                let owner: Option<i64> = on_tx!(&mut self.tx, conn => {
                    sqlx::query_scalar(VERSION_OF).bind(version_id).fetch_optional(conn).await
                })?;
                if owner != Some(t.dataset_id) {
                    return Err(DomainError::Invalid(
                        "a translation's version must belong to its dataset".into(),
                    )
                    .into());
                }
            }
            (None, None) => {}
            _ => {
                return Err(DomainError::Invalid(
                    "client_version and version go together: a non-empty client_version with \
                     one of the dataset's versions, or neither"
                        .into(),
                )
                .into());
            }
        }
        let id = self
            .insert_id(
                SQL,
                Binds(vec![
                    Bind::I(t.service_id),
                    Bind::S(t.client_name),
                    Bind::OS(t.client_version),
                    Bind::I(t.dataset_id),
                    Bind::OI(t.version_id),
                    Bind::I(now_micros()),
                ]),
            )
            .await
            .map_err(|e| {
                if matches!(&e, crate::StoreError::Domain(DomainError::Conflict(_))) {
                    DomainError::Conflict(format!(
                        "the service already translates {:?}{}",
                        t.client_name,
                        t.client_version
                            .map(|v| format!(" version {v:?}"))
                            .unwrap_or_default()
                    ))
                    .into()
                } else {
                    e
                }
            })?;
        self.invalidate(CacheEvent::All);
        self.audit(
            "translation_created",
            "DatasetTranslation",
            id,
            None,
            Some(
                json!({"service_id": t.service_id, "client_name": t.client_name,
                        "client_version": t.client_version, "dataset_id": t.dataset_id,
                        "version_id": t.version_id}),
            ),
        )
        .await?;
        Ok(id)
    }

    /// Deletes a translation; `false` when there was none.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn delete_translation(&mut self, id: i64) -> Result<bool> {
        const SQL: &str = "DELETE FROM dataset_translation WHERE id = $1 \
             RETURNING service_id, client_name, client_version, dataset_id";
        let row: Option<(i64, String, Option<String>, i64)> = on_tx!(&mut self.tx, conn => {
            sqlx::query_as(SQL).bind(id).fetch_optional(conn).await
        })?;
        let Some((service_id, client_name, client_version, dataset_id)) = row else {
            return Ok(false);
        };
        self.invalidate(CacheEvent::All);
        self.audit(
            "translation_deleted",
            "DatasetTranslation",
            id,
            Some(json!({"service_id": service_id, "client_name": client_name,
                        "client_version": client_version, "dataset_id": dataset_id})),
            None,
        )
        .await?;
        Ok(true)
    }
}
