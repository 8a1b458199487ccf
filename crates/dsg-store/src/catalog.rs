//! Loads the [`Catalog`]: the facts every permission document shares
//! (datasets, TOS documents, group permissions).

use std::collections::HashMap;

use dsg_core::Timestamp;
use dsg_core::permissions::{
    Catalog, DatasetInfo, GroupPermission, ServiceInfo, TosInfo, TranslationInfo, VersionEvalMode,
    VersionInfo,
};

use crate::{Result, Store, on_db};

impl Store {
    /// Reads the whole catalog (six queries; it is small and cached).
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn load_catalog(&self) -> Result<Catalog> {
        const DATASETS: &str = "SELECT id, name, tos_id, access_mode FROM dataset";
        const TOS: &str = "SELECT t.id, t.name, t.dataset_id, s.name, t.effective_date, t.retired_date, v.version \
             FROM tos_document t LEFT JOIN service s ON s.id = t.service_id \
             LEFT JOIN dataset_version v ON v.id = t.dataset_version_id";
        const GROUP_PERMS: &str = "SELECT gp.group_id, gp.dataset_id, p.name, s.name \
             FROM group_dataset_permission gp JOIN permission p ON p.id = gp.permission_id \
             LEFT JOIN service s ON s.id = gp.service_id";
        const VERSIONS: &str = "SELECT id, dataset_id, version, branch, ordinal, is_public, prefix FROM dataset_version ORDER BY id";
        const SERVICES: &str = "SELECT id, name, version_eval_mode FROM service";
        const TRANSLATIONS: &str = "SELECT t.id, s.name, t.client_name, t.client_version, t.dataset_id, \
             t.dataset_version_id FROM dataset_translation t JOIN service s ON s.id = t.service_id ORDER BY t.id";
        type DatasetRow = (i64, String, Option<i64>, String);
        type TosRow = (
            i64,
            String,
            Option<i64>,
            Option<String>,
            i64,
            Option<i64>,
            Option<String>,
        );
        type VersionRow = (i64, i64, String, String, Option<i64>, bool, String);
        type TranslationRow = (i64, String, String, Option<String>, i64, Option<i64>);
        type Rows = (
            Vec<DatasetRow>,
            Vec<TosRow>,
            Vec<(i64, i64, String, Option<String>)>,
        );
        type NativeRows = (
            Vec<VersionRow>,
            Vec<(i64, String, String)>,
            Vec<TranslationRow>,
        );
        let (datasets, tos, perms): Rows = on_db!(self.db(), pool => {
            let d = sqlx::query_as(DATASETS).fetch_all(pool).await?;
            let t = sqlx::query_as(TOS).fetch_all(pool).await?;
            let g = sqlx::query_as(GROUP_PERMS).fetch_all(pool).await?;
            (d, t, g)
        });
        let (versions, services, translations): NativeRows = on_db!(self.db(), pool => {
            let v = sqlx::query_as(VERSIONS).fetch_all(pool).await?;
            let s = sqlx::query_as(SERVICES).fetch_all(pool).await?;
            let t = sqlx::query_as(TRANSLATIONS).fetch_all(pool).await?;
            (v, s, t)
        });
        let mut catalog = Catalog {
            datasets: HashMap::with_capacity(datasets.len()),
            tos: HashMap::with_capacity(tos.len()),
            ..Catalog::default()
        };
        for (id, dataset_id, name, branch, ordinal, public, prefix) in versions {
            catalog
                .versions
                .entry(dataset_id)
                .or_default()
                .push(VersionInfo {
                    id,
                    name,
                    branch,
                    ordinal,
                    public,
                    prefix,
                });
        }
        for (id, name, mode) in services {
            let mode = VersionEvalMode::parse(&mode).unwrap_or_default();
            catalog
                .services
                .insert(name.clone(), ServiceInfo { id, name, mode });
        }
        for (id, service, client_name, client_version, dataset_id, version_id) in translations {
            catalog
                .translations
                .entry(service)
                .or_default()
                .entry(client_name)
                .or_default()
                .push(TranslationInfo {
                    id,
                    client_version,
                    dataset_id,
                    version_id,
                });
        }
        for (id, name, tos_id, mode) in datasets {
            catalog.datasets.insert(
                id,
                DatasetInfo {
                    id,
                    name,
                    tos_id,
                    public: mode == "public",
                },
            );
        }
        for (id, name, dataset_id, service, effective, retired, version) in tos {
            catalog.tos.insert(
                id,
                TosInfo {
                    id,
                    name,
                    dataset_id,
                    service,
                    version,
                    effective_at: Timestamp(effective),
                    retired_at: retired.map(Timestamp),
                },
            );
        }
        for (group_id, dataset_id, permission, service) in perms {
            catalog
                .group_permissions
                .entry(group_id)
                .or_default()
                .push(GroupPermission {
                    service,
                    dataset_id,
                    permission,
                });
        }
        catalog.index();
        Ok(catalog)
    }
}
