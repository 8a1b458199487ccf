//! Datasets and what hangs off them: buckets, versions, service tables,
//! public roots, services and TOS documents.

use dsg_core::error::EntityKind;
use dsg_core::permissions::VersionEvalMode;
use dsg_core::token::ApiToken;
use dsg_core::{DomainError, Timestamp};
use serde_json::json;

use crate::events::CacheEvent;
use crate::{Result, Store, WriteTx, now_micros, on_db, on_tx};

/// Fields of a new TOS document.
#[derive(Debug, Clone)]
pub struct NewTos {
    /// Name.
    pub name: String,
    /// Markdown text.
    pub text: String,
    /// Dataset scope.
    pub dataset_id: Option<i64>,
    /// Version scope.
    pub version_id: Option<i64>,
    /// Service scope.
    pub service_id: Option<i64>,
    /// In force from.
    pub effective_at: Timestamp,
    /// Retired from.
    pub retired_at: Option<Timestamp>,
}

/// Where a version sits: its branch and its ordinal on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionPlace {
    /// Release line (default `main`).
    pub branch: String,
    /// Position on the branch; `None` when unordered.
    pub ordinal: Option<i64>,
}

impl Default for VersionPlace {
    fn default() -> Self {
        Self {
            branch: "main".into(),
            ordinal: None,
        }
    }
}

/// A dataset to create ([`WriteTx::add_dataset`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct NewDataset<'a> {
    /// Unique name.
    pub name: &'a str,
    /// Description.
    pub description: &'a str,
    /// `closed` or `public`.
    pub access_mode: &'a str,
    /// Dataset-wide terms of service.
    pub tos_id: Option<i64>,
    /// Identifier in the provisioning identity provider.
    pub external_id: Option<&'a str>,
    /// `(service, table)` pairs mapped to the dataset.
    pub service_tables: &'a [(String, String)],
    /// The door the dataset came in through, for the audit row.
    pub via: Option<&'static str>,
}

impl WriteTx {
    pub(crate) async fn insert_id(&mut self, sql: &'static str, binds: Binds<'_>) -> Result<i64> {
        let id: i64 = on_tx!(&mut self.tx, conn => {
            let mut q = sqlx::query_scalar(sql);
            for b in &binds.0 {
                q = match b {
                    Bind::I(v) => q.bind(*v),
                    Bind::OI(v) => q.bind(*v),
                    Bind::S(v) => q.bind(*v),
                    Bind::OS(v) => q.bind(*v),
                    Bind::B(v) => q.bind(*v),
                };
            }
            q.fetch_one(conn).await
        })
        .map_err(|e| conflict_or(e.into()))?;
        Ok(id)
    }

    /// Id of a permission name.
    ///
    /// # Errors
    /// [`DomainError::NotFound`] for unknown names.
    pub async fn permission_id(&mut self, name: &str) -> Result<i64> {
        const SQL: &str = "SELECT id FROM permission WHERE name = $1";
        let id: Option<i64> = on_tx!(&mut self.tx, conn => sqlx::query_scalar(SQL).bind(name).fetch_optional(conn).await)?;
        id.ok_or_else(|| DomainError::not_found(EntityKind::Permission, name).into())
    }

    /// Ensures a permission name exists.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn ensure_permission(&mut self, name: &str) -> Result<()> {
        const SQL: &str = "INSERT INTO permission (name) VALUES ($1) ON CONFLICT (name) DO NOTHING";
        on_tx!(&mut self.tx, conn => sqlx::query(SQL).bind(name).execute(conn).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Id of a dataset by exact name.
    ///
    /// # Errors
    /// [`DomainError::NotFound`].
    pub async fn dataset_id(&mut self, name: &str) -> Result<i64> {
        const SQL: &str = "SELECT id FROM dataset WHERE name = $1";
        let id: Option<i64> = on_tx!(&mut self.tx, conn => sqlx::query_scalar(SQL).bind(name).fetch_optional(conn).await)?;
        id.ok_or_else(|| DomainError::not_found(EntityKind::Dataset, name).into())
    }

    /// Id of a version of a dataset.
    ///
    /// # Errors
    /// [`DomainError::NotFound`].
    pub async fn version_id(&mut self, dataset_id: i64, version: &str) -> Result<i64> {
        const SQL: &str = "SELECT id FROM dataset_version WHERE dataset_id = $1 AND version = $2";
        let id: Option<i64> = on_tx!(&mut self.tx, conn => sqlx::query_scalar(SQL).bind(dataset_id).bind(version).fetch_optional(conn).await)?;
        id.ok_or_else(|| DomainError::not_found(EntityKind::Version, version).into())
    }

    /// Id of the dataset's bucket with this name, if it has one.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn bucket_of(&mut self, dataset_id: i64, name: &str) -> Result<Option<i64>> {
        const SQL: &str = "SELECT id FROM dataset_bucket WHERE dataset_id = $1 AND name = $2";
        Ok(
            on_tx!(&mut self.tx, conn => sqlx::query_scalar(SQL).bind(dataset_id).bind(name).fetch_optional(conn).await)?,
        )
    }

    /// Id of a service by slug.
    ///
    /// # Errors
    /// [`DomainError::NotFound`].
    pub async fn service_id(&mut self, name: &str) -> Result<i64> {
        const SQL: &str = "SELECT id FROM service WHERE name = $1";
        let id: Option<i64> = on_tx!(&mut self.tx, conn => sqlx::query_scalar(SQL).bind(name).fetch_optional(conn).await)?;
        id.ok_or_else(|| DomainError::not_found(EntityKind::Service, name).into())
    }

    /// Creates a service (TOS scope).
    ///
    /// # Errors
    /// [`DomainError::Conflict`] when the name is taken.
    pub async fn create_service(
        &mut self,
        name: &str,
        display_name: &str,
        base_url: &str,
        mode: VersionEvalMode,
    ) -> Result<i64> {
        const SQL: &str = "INSERT INTO service (name, display_name, base_url, version_eval_mode) \
             VALUES ($1, $2, $3, $4) RETURNING id";
        let id = self
            .insert_id(
                SQL,
                Binds(vec![
                    Bind::S(name),
                    Bind::S(display_name),
                    Bind::S(base_url),
                    Bind::S(mode.as_str()),
                ]),
            )
            .await
            .map_err(|e| named_conflict(e, "service", name))?;
        self.invalidate(CacheEvent::All);
        self.audit(
            "service_created",
            "Service",
            id,
            None,
            Some(json!({"name": name, "version_eval_mode": mode.as_str()})),
        )
        .await?;
        Ok(id)
    }

    /// Creates a dataset.
    ///
    /// # Errors
    /// Invalid access mode; [`DomainError::Conflict`] when the name is taken.
    pub async fn create_dataset(
        &mut self,
        name: &str,
        description: &str,
        access_mode: &str,
    ) -> Result<i64> {
        self.add_dataset(&NewDataset {
            name,
            description,
            access_mode,
            ..NewDataset::default()
        })
        .await
    }

    /// Creates a dataset with its service tables (mappings held by another
    /// dataset move here): the one writer of `dataset_created`.
    ///
    /// # Errors
    /// Invalid access mode; [`DomainError::Conflict`] when the name is taken.
    pub async fn add_dataset(&mut self, d: &NewDataset<'_>) -> Result<i64> {
        if d.name.trim().is_empty() {
            return Err(DomainError::Invalid("a dataset needs a name".into()).into());
        }
        if !matches!(d.access_mode, "closed" | "public") {
            return Err(DomainError::Invalid(format!(
                "access_mode must be \"closed\" or \"public\", not {:?}",
                d.access_mode
            ))
            .into());
        }
        const SQL: &str = "INSERT INTO dataset (name, description, access_mode, tos_id, scim_id, \
             external_id, created, updated) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id";
        let scim_id = uuid::Uuid::new_v4().to_string();
        let id = self
            .insert_id(
                SQL,
                Binds(vec![
                    Bind::S(d.name),
                    Bind::S(d.description),
                    Bind::S(d.access_mode),
                    Bind::OI(d.tos_id),
                    Bind::S(&scim_id),
                    Bind::OS(d.external_id),
                    Bind::I(now_micros()),
                ]),
            )
            .await
            .map_err(|e| named_conflict(e, "dataset", d.name))?;
        self.map_service_tables(id, d.service_tables).await?;
        self.invalidate(CacheEvent::All);
        let mut after = json!({"name": d.name, "access_mode": d.access_mode});
        if d.tos_id.is_some() {
            after["tos_id"] = json!(d.tos_id);
        }
        if !d.service_tables.is_empty() {
            after["service_tables"] = json!(d.service_tables);
        }
        if let Some(via) = d.via {
            after["via"] = json!(via);
        }
        self.audit("dataset_created", "Dataset", id, None, Some(after))
            .await?;
        Ok(id)
    }

    /// Records a change to dataset `id`: every cached answer goes (datasets
    /// appear in everyone's documents) and `dataset_updated` is audited.
    /// Every write that changes a dataset row ends here.
    ///
    /// # Errors
    /// The audit insert failed.
    pub(crate) async fn dataset_changed(
        &mut self,
        id: i64,
        after: serde_json::Value,
    ) -> Result<()> {
        self.invalidate(CacheEvent::All);
        self.audit("dataset_updated", "Dataset", id, None, Some(after))
            .await
    }

    /// Adds a bucket to a dataset.
    ///
    /// # Errors
    /// [`DomainError::Conflict`] when the dataset already has it.
    pub async fn add_bucket(&mut self, dataset_id: i64, name: &str) -> Result<i64> {
        const SQL: &str =
            "INSERT INTO dataset_bucket (dataset_id, name) VALUES ($1, $2) RETURNING id";
        let id = self
            .insert_id(SQL, Binds(vec![Bind::I(dataset_id), Bind::S(name)]))
            .await
            .map_err(|e| named_conflict(e, "bucket", name))?;
        self.audit(
            "bucket_added",
            "DatasetBucket",
            id,
            None,
            Some(json!({"dataset_id": dataset_id, "name": name})),
        )
        .await?;
        Ok(id)
    }

    /// Adds a version to a dataset, linked to some of its buckets.
    ///
    /// # Errors
    /// [`DomainError::Conflict`] when the version exists.
    pub async fn add_version(
        &mut self,
        dataset_id: i64,
        version: &str,
        prefix: &str,
        is_public: bool,
        bucket_ids: &[i64],
        place: &VersionPlace,
    ) -> Result<i64> {
        const SQL: &str = "INSERT INTO dataset_version (dataset_id, version, prefix, is_public, branch, ordinal) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id";
        if place.branch.trim().is_empty() {
            return Err(DomainError::Invalid("a version's branch cannot be empty".into()).into());
        }
        const LINK: &str =
            "INSERT INTO dataset_version_bucket (version_id, bucket_id) VALUES ($1, $2)";
        let id = self
            .insert_id(
                SQL,
                Binds(vec![
                    Bind::I(dataset_id),
                    Bind::S(version),
                    Bind::S(prefix),
                    Bind::B(is_public),
                    Bind::S(&place.branch),
                    Bind::OI(place.ordinal),
                ]),
            )
            .await
            .map_err(|e| match place.ordinal {
                Some(o) if e.is_unique_violation() => DomainError::Conflict(format!(
                    "version {version:?}: its name or ordinal {o} on branch {:?} is taken",
                    place.branch
                ))
                .into(),
                _ => named_conflict(e, "version", version),
            })?;
        for b in bucket_ids {
            on_tx!(&mut self.tx, conn => sqlx::query(LINK).bind(id).bind(*b).execute(conn).await.map(|r| r.rows_affected()))?;
        }
        self.invalidate(CacheEvent::All);
        self.audit(
            "version_added",
            "DatasetVersion",
            id,
            None,
            Some(
                json!({"dataset_id": dataset_id, "version": version, "is_public": is_public,
                        "branch": place.branch, "ordinal": place.ordinal}),
            ),
        )
        .await?;
        Ok(id)
    }

    /// Maps a service table to a dataset.
    ///
    /// # Errors
    /// [`DomainError::Conflict`] when the (service, table) pair is mapped already.
    pub async fn add_service_table(
        &mut self,
        dataset_id: i64,
        service: &str,
        table: &str,
    ) -> Result<i64> {
        const SQL: &str = "INSERT INTO service_table (service_name, table_name, dataset_id) \
             VALUES ($1, $2, $3) RETURNING id";
        let id = self
            .insert_id(
                SQL,
                Binds(vec![Bind::S(service), Bind::S(table), Bind::I(dataset_id)]),
            )
            .await
            .map_err(|e| named_conflict(e, "service table", &format!("{service}/{table}")))?;
        self.audit(
            "service_table_added",
            "ServiceTable",
            id,
            None,
            Some(json!({"service_name": service, "table_name": table, "dataset_id": dataset_id})),
        )
        .await?;
        Ok(id)
    }

    /// Marks a root id public in a service table.
    ///
    /// # Errors
    /// [`DomainError::Conflict`] when already public.
    pub async fn add_public_root(&mut self, service_table_id: i64, root_id: i64) -> Result<i64> {
        const SQL: &str =
            "INSERT INTO public_root (service_table_id, root_id) VALUES ($1, $2) RETURNING id";
        let id = self
            .insert_id(
                SQL,
                Binds(vec![Bind::I(service_table_id), Bind::I(root_id)]),
            )
            .await
            .map_err(|e| named_conflict(e, "public root", &root_id.to_string()))?;
        self.audit(
            "public_root_added",
            "PublicRoot",
            id,
            None,
            Some(json!({"service_table_id": service_table_id, "root_id": root_id})),
        )
        .await?;
        Ok(id)
    }

    /// Creates a TOS document; returns its id and invitation token.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn create_tos(&mut self, tos: &NewTos) -> Result<(i64, String)> {
        if tos.name.trim().is_empty() || tos.text.is_empty() {
            return Err(
                DomainError::Invalid("a TOS document needs a name and a text".into()).into(),
            );
        }
        const SQL: &str = "INSERT INTO tos_document (name, text, dataset_id, dataset_version_id, service_id, \
             invite_token, effective_date, retired_date, created) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id";
        let invite = ApiToken::generate()?.expose().to_owned();
        let id = self
            .insert_id(
                SQL,
                Binds(vec![
                    Bind::S(&tos.name),
                    Bind::S(&tos.text),
                    Bind::OI(tos.dataset_id),
                    Bind::OI(tos.version_id),
                    Bind::OI(tos.service_id),
                    Bind::S(&invite),
                    Bind::I(tos.effective_at.0),
                    Bind::OI(tos.retired_at.map(|t| t.0)),
                    Bind::I(now_micros()),
                ]),
            )
            .await?;
        self.invalidate(CacheEvent::All);
        self.audit(
            "tos_document_created",
            "TOSDocument",
            id,
            None,
            Some(json!({"name": tos.name, "dataset_id": tos.dataset_id, "service_id": tos.service_id})),
        )
        .await?;
        Ok((id, invite))
    }

    /// Makes `tos_id` the dataset-wide gate of a dataset (or clears it).
    ///
    /// # Errors
    /// Unknown TOS id.
    pub async fn set_dataset_tos(&mut self, dataset_id: i64, tos_id: Option<i64>) -> Result<()> {
        const SQL: &str = "UPDATE dataset SET tos_id = $1, updated = $2 WHERE id = $3";
        on_tx!(&mut self.tx, conn => sqlx::query(SQL).bind(tos_id).bind(now_micros()).bind(dataset_id).execute(conn).await.map(|r| r.rows_affected()))
            .map_err(|e| match crate::StoreError::from(e) {
                e if is_fk_violation(&e) => DomainError::not_found(EntityKind::Tos, tos_id.unwrap_or_default()).into(),
                e => e,
            })?;
        self.dataset_changed(dataset_id, json!({"tos_id": tos_id}))
            .await
    }
}

/// A bound value for [`WriteTx::insert_returning_id`].
pub(crate) enum Bind<'a> {
    I(i64),
    OI(Option<i64>),
    S(&'a str),
    OS(Option<&'a str>),
    B(bool),
}

pub(crate) struct Binds<'a>(pub(crate) Vec<Bind<'a>>);

/// Unique violations become [`DomainError::Conflict`].
pub(crate) fn conflict_or(e: crate::StoreError) -> crate::StoreError {
    if e.is_unique_violation() {
        DomainError::Conflict(e.to_string()).into()
    } else {
        e
    }
}

/// A conflict message naming what exists already.
pub(crate) fn named_conflict(e: crate::StoreError, what: &str, name: &str) -> crate::StoreError {
    match e {
        crate::StoreError::Domain(DomainError::Conflict(_)) => {
            DomainError::Conflict(format!("{what} {name:?} already exists")).into()
        }
        e => e,
    }
}

/// True when a foreign key was violated.
pub(crate) fn is_fk_violation(e: &crate::StoreError) -> bool {
    matches!(e, crate::StoreError::Sqlx(sqlx::Error::Database(db)) if db.is_foreign_key_violation())
}

/// A dataset as the native API lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DatasetRow {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Has a dataset-wide TOS.
    pub has_tos: bool,
    /// `closed` or `public`.
    pub access_mode: String,
}

/// A version with its bucket names.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct VersionRow {
    /// Id.
    pub id: i64,
    /// Version name.
    pub version: String,
    /// Bucket names.
    pub buckets: Vec<String>,
    /// Informational public flag.
    pub is_public: bool,
    /// Informational prefix.
    pub prefix: String,
    /// Release line.
    pub branch: String,
    /// Position on the branch.
    pub ordinal: Option<i64>,
}

impl Store {
    /// Every dataset, by name.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn all_datasets(&self) -> Result<Vec<DatasetRow>> {
        const SQL: &str = "SELECT id, name, description, tos_id IS NOT NULL, access_mode FROM dataset ORDER BY name";
        let rows: Vec<(i64, String, String, bool, String)> =
            on_db!(self.db(), pool => sqlx::query_as(SQL).fetch_all(pool).await)?;
        Ok(rows
            .into_iter()
            .map(|(id, name, description, has_tos, access_mode)| DatasetRow {
                id,
                name,
                description,
                has_tos,
                access_mode,
            })
            .collect())
    }

    /// One dataset by exact name.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn dataset_by_name(&self, name: &str) -> Result<Option<DatasetRow>> {
        const SQL: &str = "SELECT id, name, description, tos_id IS NOT NULL, access_mode FROM dataset WHERE name = $1";
        let row: Option<(i64, String, String, bool, String)> =
            on_db!(self.db(), pool => sqlx::query_as(SQL).bind(name).fetch_optional(pool).await)?;
        Ok(
            row.map(|(id, name, description, has_tos, access_mode)| DatasetRow {
                id,
                name,
                description,
                has_tos,
                access_mode,
            }),
        )
    }

    /// A dataset's versions with bucket names, by version name.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn dataset_versions(&self, dataset_id: i64) -> Result<Vec<VersionRow>> {
        const SQL: &str = "SELECT id, version, is_public, prefix, branch, ordinal FROM dataset_version \
             WHERE dataset_id = $1 ORDER BY version";
        const BUCKETS: &str = "SELECT vb.version_id, b.name FROM dataset_version_bucket vb \
             JOIN dataset_bucket b ON b.id = vb.bucket_id JOIN dataset_version v ON v.id = vb.version_id \
             WHERE v.dataset_id = $1 ORDER BY b.name";
        type Row = (i64, String, bool, String, String, Option<i64>);
        let rows: Vec<Row> =
            on_db!(self.db(), pool => sqlx::query_as(SQL).bind(dataset_id).fetch_all(pool).await)?;
        let links: Vec<(i64, String)> = on_db!(self.db(), pool => sqlx::query_as(BUCKETS).bind(dataset_id).fetch_all(pool).await)?;
        Ok(rows
            .into_iter()
            .map(
                |(id, version, is_public, prefix, branch, ordinal)| VersionRow {
                    branch,
                    ordinal,
                    id,
                    buckets: links
                        .iter()
                        .filter(|l| l.0 == id)
                        .map(|l| l.1.clone())
                        .collect(),
                    version,
                    is_public,
                    prefix,
                },
            )
            .collect())
    }

    /// A dataset's bucket names with ids.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn buckets_of_dataset(&self, dataset_id: i64) -> Result<Vec<(i64, String)>> {
        const SQL: &str = "SELECT id, name FROM dataset_bucket WHERE dataset_id = $1 ORDER BY name";
        Ok(on_db!(self.db(), pool => sqlx::query_as(SQL).bind(dataset_id).fetch_all(pool).await)?)
    }
}
