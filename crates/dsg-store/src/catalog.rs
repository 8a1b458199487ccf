//! Loads the [`Catalog`]: the facts every permission document shares
//! (datasets, TOS documents, group permissions).

use std::collections::HashMap;

use dsg_core::Timestamp;
use dsg_core::permissions::{Catalog, DatasetInfo, GroupPermission, TosInfo};

use crate::{Result, Store, on_db};

impl Store {
    /// Reads the whole catalog (three queries; it is small and cached).
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn load_catalog(&self) -> Result<Catalog> {
        const DATASETS: &str = "SELECT id, name, tos_id, access_mode FROM dataset";
        const TOS: &str = "SELECT t.id, t.name, t.dataset_id, s.name, t.effective_date, t.retired_date, v.version \
             FROM tos_document t LEFT JOIN service s ON s.id = t.service_id \
             LEFT JOIN dataset_version v ON v.id = t.dataset_version_id";
        const GROUP_PERMS: &str = "SELECT gp.group_id, gp.dataset_id, p.name \
             FROM group_dataset_permission gp JOIN permission p ON p.id = gp.permission_id";
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
        type Rows = (Vec<DatasetRow>, Vec<TosRow>, Vec<(i64, i64, String)>);
        let (datasets, tos, perms): Rows = on_db!(self.db(), pool => {
            let d = sqlx::query_as(DATASETS).fetch_all(pool).await?;
            let t = sqlx::query_as(TOS).fetch_all(pool).await?;
            let g = sqlx::query_as(GROUP_PERMS).fetch_all(pool).await?;
            (d, t, g)
        });
        let mut catalog = Catalog {
            datasets: HashMap::with_capacity(datasets.len()),
            tos: HashMap::with_capacity(tos.len()),
            group_permissions: HashMap::new(),
        };
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
        for (group_id, dataset_id, permission) in perms {
            catalog
                .group_permissions
                .entry(group_id)
                .or_default()
                .push(GroupPermission {
                    dataset_id,
                    permission,
                });
        }
        Ok(catalog)
    }
}
