//! Who can get into a dataset, as the members export needs it
//! ([`dsg_core::members`]): live direct grants and live memberships of
//! groups holding a permission on it, of active people, with their
//! affiliations and expiries; and, for the "who has access" page, the live
//! grants of service accounts.

use std::collections::BTreeMap;

use dsg_core::Timestamp;
use dsg_core::members::{Holding, Member, VersionKey, Via};

use crate::{Result, Store, WriteTx, on_db};

/// A direct grant: user id, e-mail, name, permission, version (name,
/// branch, ordinal), team, service, grant id, expiry.
type GrantRow = (
    i64,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<String>,
    i64,
    Option<i64>,
);

/// A group permission reaching a member: user id, e-mail, name,
/// permission, group, service, membership expiry.
type GroupRow = (
    i64,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<i64>,
);

/// A service account's live grant on a dataset, for the "who has access" page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAccountHolding {
    /// The account's name.
    pub name: String,
    /// Permission name.
    pub permission: String,
    /// Version scope (none: dataset-wide).
    pub version: Option<String>,
    /// Service scope (none: every service).
    pub service: Option<String>,
    /// Expiry.
    pub expires_at: Option<Timestamp>,
}

impl Store {
    /// Everyone who can get into the dataset, with what they hold.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn dataset_members(&self, dataset_id: i64, now: Timestamp) -> Result<Vec<Member>> {
        const GRANTS: &str = "SELECT u.id, u.email, u.name, p.name, v.version, v.branch, v.ordinal, \
             t.name, s.name, gr.id, gr.expires_at FROM dataset_grant gr \
             JOIN dsg_user u ON u.id = gr.user_id JOIN permission p ON p.id = gr.permission_id \
             LEFT JOIN dataset_version v ON v.id = gr.dataset_version_id \
             LEFT JOIN dsg_group t ON t.id = gr.group_id LEFT JOIN service s ON s.id = gr.service_id \
             WHERE gr.dataset_id = $1 AND u.is_active AND u.parent_id IS NULL \
             AND (gr.expires_at IS NULL OR gr.expires_at > $2)";
        const BUCKETS: &str = "SELECT gb.grant_id, b.name FROM dataset_grant_bucket gb \
             JOIN dataset_bucket b ON b.id = gb.bucket_id \
             JOIN dataset_grant gr ON gr.id = gb.grant_id WHERE gr.dataset_id = $1";
        const GROUPS: &str = "SELECT u.id, u.email, u.name, p.name, g.name, s.name, ug.expires_at \
             FROM group_dataset_permission gp JOIN user_group ug ON ug.group_id = gp.group_id \
             JOIN dsg_user u ON u.id = ug.user_id JOIN dsg_group g ON g.id = gp.group_id \
             JOIN permission p ON p.id = gp.permission_id LEFT JOIN service s ON s.id = gp.service_id \
             WHERE gp.dataset_id = $1 AND u.is_active AND u.parent_id IS NULL \
             AND (ug.expires_at IS NULL OR ug.expires_at > $2)";
        const AFFILIATIONS: &str = "SELECT a.user_id, a.name FROM affiliation a WHERE a.user_id IN \
             (SELECT user_id FROM dataset_grant WHERE dataset_id = $1 \
              UNION SELECT ug.user_id FROM user_group ug \
              JOIN group_dataset_permission gp ON gp.group_id = ug.group_id WHERE gp.dataset_id = $1)";
        let grants: Vec<GrantRow> = on_db!(self.db(), pool => {
            sqlx::query_as(GRANTS).bind(dataset_id).bind(now.0).fetch_all(pool).await
        })?;
        let buckets: Vec<(i64, String)> = on_db!(self.db(), pool => {
            sqlx::query_as(BUCKETS).bind(dataset_id).fetch_all(pool).await
        })?;
        let groups: Vec<GroupRow> = on_db!(self.db(), pool => {
            sqlx::query_as(GROUPS).bind(dataset_id).bind(now.0).fetch_all(pool).await
        })?;
        let affiliations: Vec<(i64, String)> = on_db!(self.db(), pool => {
            sqlx::query_as(AFFILIATIONS).bind(dataset_id).fetch_all(pool).await
        })?;
        let mut people: BTreeMap<i64, Member> = BTreeMap::new();
        for (
            uid,
            email,
            name,
            permission,
            version,
            branch,
            ordinal,
            team,
            service,
            grant_id,
            exp,
        ) in grants
        {
            let m = people.entry(uid).or_insert_with(|| member(email, name));
            m.holdings.push(Holding {
                permission,
                version: version.map(|name| VersionKey {
                    name,
                    branch: branch.unwrap_or_else(|| "main".into()),
                    ordinal,
                }),
                service,
                buckets: buckets
                    .iter()
                    .filter(|(g, _)| *g == grant_id)
                    .map(|(_, b)| b.clone())
                    .collect(),
                via: Via::Direct { team },
                expires_at: exp.map(Timestamp),
            });
        }
        for (uid, email, name, permission, group, service, exp) in groups {
            let m = people.entry(uid).or_insert_with(|| member(email, name));
            m.holdings.push(Holding {
                permission,
                version: None,
                service,
                buckets: Vec::new(),
                via: Via::Group(group),
                expires_at: exp.map(Timestamp),
            });
        }
        for (uid, a) in affiliations {
            if let Some(m) = people.get_mut(&uid) {
                m.affiliations.push(a);
            }
        }
        Ok(people.into_values().collect())
    }
}

impl Store {
    /// The live grants of active service accounts on the dataset.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn dataset_service_account_holdings(
        &self,
        dataset_id: i64,
        now: Timestamp,
    ) -> Result<Vec<ServiceAccountHolding>> {
        const SQL: &str = "SELECT a.name, p.name, v.version, s.name, g.expires_at \
             FROM service_account_grant g JOIN service_account a ON a.id = g.service_account_id \
             JOIN permission p ON p.id = g.permission_id \
             LEFT JOIN dataset_version v ON v.id = g.dataset_version_id \
             LEFT JOIN service s ON s.id = g.service_id \
             WHERE g.dataset_id = $1 AND a.is_active \
             AND (g.expires_at IS NULL OR g.expires_at > $2) ORDER BY a.name, p.name";
        type Row = (String, String, Option<String>, Option<String>, Option<i64>);
        let rows: Vec<Row> = on_db!(self.db(), pool => {
            sqlx::query_as(SQL).bind(dataset_id).bind(now.0).fetch_all(pool).await
        })?;
        Ok(rows
            .into_iter()
            .map(
                |(name, permission, version, service, exp)| ServiceAccountHolding {
                    name,
                    permission,
                    version,
                    service,
                    expires_at: exp.map(Timestamp),
                },
            )
            .collect())
    }

    /// True when the person holds a live direct `manage` or `admin` grant on
    /// the dataset (dataset-wide or on a version): who may export it.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn manages_directly(
        &self,
        user_id: i64,
        dataset_id: i64,
        now: Timestamp,
    ) -> Result<bool> {
        const SQL: &str = "SELECT COUNT(*) FROM dataset_grant gr JOIN permission p ON p.id = gr.permission_id \
             WHERE gr.user_id = $1 AND gr.dataset_id = $2 AND p.name IN ('manage', 'admin') \
             AND (gr.expires_at IS NULL OR gr.expires_at > $3)";
        let n: i64 = on_db!(self.db(), pool => {
            sqlx::query_scalar(SQL).bind(user_id).bind(dataset_id).bind(now.0).fetch_one(pool).await
        })?;
        Ok(n > 0)
    }
}

impl WriteTx {
    /// Records that the dataset's members were exported (`grants_exported`).
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn record_members_export(
        &mut self,
        dataset_id: i64,
        dataset: &str,
        rows: usize,
    ) -> Result<()> {
        self.audit(
            "grants_exported",
            "Dataset",
            dataset_id,
            None,
            Some(serde_json::json!({"dataset": dataset, "rows": rows})),
        )
        .await
    }
}

fn member(email: String, full_name: String) -> Member {
    Member {
        email,
        full_name,
        affiliations: Vec::new(),
        holdings: Vec::new(),
    }
}
