//! Read queries behind the native management API (listings with ids,
//! expiry and scope), kept apart from the hot-path loaders.

use std::collections::BTreeSet;

use dsg_core::Timestamp;
use dsg_core::permissions::TokenScope;

use crate::tokens::TokenInfo;
use crate::{Result, Store, on_db};

impl Store {
    /// The caller's tokens with their scopes, newest first.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn list_token_scopes(&self, user_id: i64) -> Result<Vec<(TokenInfo, TokenScope)>> {
        const SQL: &str =
            "SELECT k.id, k.scope_read_only, k.scope_datasets FROM api_key k WHERE k.user_id = $1";
        const NAMES: &str = "SELECT kd.api_key_id, d.name FROM api_key_dataset kd \
             JOIN api_key k ON k.id = kd.api_key_id JOIN dataset d ON d.id = kd.dataset_id \
             WHERE k.user_id = $1";
        let tokens = self.list_user_tokens(Some(user_id)).await?;
        let flags: Vec<(i64, bool, bool)> =
            on_db!(self.db(), pool => sqlx::query_as(SQL).bind(user_id).fetch_all(pool).await)?;
        let names: Vec<(i64, String)> =
            on_db!(self.db(), pool => sqlx::query_as(NAMES).bind(user_id).fetch_all(pool).await)?;
        Ok(tokens
            .into_iter()
            .map(|t| {
                let (ro, scoped) = flags
                    .iter()
                    .find(|f| f.0 == t.id)
                    .map_or((false, false), |f| (f.1, f.2));
                let datasets = scoped.then(|| {
                    names
                        .iter()
                        .filter(|n| n.0 == t.id)
                        .map(|n| n.1.clone())
                        .collect::<BTreeSet<_>>()
                });
                (
                    t,
                    TokenScope {
                        read_only: ro,
                        datasets,
                    },
                )
            })
            .collect())
    }

    /// Owner of a user token.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn user_token_owner(&self, token_id: i64) -> Result<Option<i64>> {
        const SQL: &str = "SELECT user_id FROM api_key WHERE id = $1";
        Ok(
            on_db!(self.db(), pool => sqlx::query_scalar(SQL).bind(token_id).fetch_optional(pool).await)?,
        )
    }

    /// Number of rows in the audit log (tests and probes).
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn audit_count(&self) -> Result<i64> {
        const SQL: &str = "SELECT COUNT(*) FROM audit_log";
        Ok(on_db!(self.db(), pool => sqlx::query_scalar(SQL).fetch_one(pool).await)?)
    }
}

/// `true` when something with this expiry no longer counts at `now`.
pub fn expired(expires_at: Option<Timestamp>, now: Timestamp) -> bool {
    expires_at.is_some_and(|e| e <= now)
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
        const SQL: &str = "SELECT id, version, is_public, prefix FROM dataset_version WHERE dataset_id = $1 ORDER BY version";
        const BUCKETS: &str = "SELECT vb.version_id, b.name FROM dataset_version_bucket vb \
             JOIN dataset_bucket b ON b.id = vb.bucket_id JOIN dataset_version v ON v.id = vb.version_id \
             WHERE v.dataset_id = $1 ORDER BY b.name";
        let rows: Vec<(i64, String, bool, String)> =
            on_db!(self.db(), pool => sqlx::query_as(SQL).bind(dataset_id).fetch_all(pool).await)?;
        let links: Vec<(i64, String)> = on_db!(self.db(), pool => sqlx::query_as(BUCKETS).bind(dataset_id).fetch_all(pool).await)?;
        Ok(rows
            .into_iter()
            .map(|(id, version, is_public, prefix)| VersionRow {
                id,
                buckets: links
                    .iter()
                    .filter(|l| l.0 == id)
                    .map(|l| l.1.clone())
                    .collect(),
                version,
                is_public,
                prefix,
            })
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

    /// The facts `explain-access` needs about a principal; `None` when unknown.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn load_subject(
        &self,
        principal: crate::tokens::PrincipalRef,
    ) -> Result<Option<dsg_core::permissions::explain::Subject>> {
        use dsg_core::permissions::GrantFact;
        use dsg_core::permissions::explain::{GrantRow, Subject};
        const USER_GRANTS: &str = "SELECT gr.id, gr.dataset_id, v.version, p.name, gr.expires_at, g.name \
             FROM dataset_grant gr JOIN permission p ON p.id = gr.permission_id \
             LEFT JOIN dataset_version v ON v.id = gr.dataset_version_id \
             LEFT JOIN dsg_group g ON g.id = gr.group_id WHERE gr.user_id = $1 ORDER BY gr.id";
        const SA_GRANTS: &str = "SELECT gr.id, gr.dataset_id, v.version, p.name, gr.expires_at, CAST(NULL AS TEXT) \
             FROM service_account_grant gr JOIN permission p ON p.id = gr.permission_id \
             LEFT JOIN dataset_version v ON v.id = gr.dataset_version_id \
             WHERE gr.service_account_id = $1 ORDER BY gr.id";
        type Row = (
            i64,
            i64,
            Option<String>,
            String,
            Option<i64>,
            Option<String>,
        );
        let (sql, id, mut subject) = match principal {
            crate::tokens::PrincipalRef::User(id) => {
                let Some(u) = self.load_user(id).await? else {
                    return Ok(None);
                };
                (
                    USER_GRANTS,
                    id,
                    Subject {
                        service_account: false,
                        admin: u.facts.admin,
                        read_only: u.facts.read_only,
                        grants: Vec::new(),
                        memberships: u.facts.memberships,
                        accepted_tos: u.facts.accepted_tos,
                    },
                )
            }
            crate::tokens::PrincipalRef::ServiceAccount(id) => {
                if self.load_service_account(id).await?.is_none() {
                    return Ok(None);
                }
                (
                    SA_GRANTS,
                    id,
                    Subject {
                        service_account: true,
                        ..Subject::default()
                    },
                )
            }
        };
        let rows: Vec<Row> =
            on_db!(self.db(), pool => sqlx::query_as(sql).bind(id).fetch_all(pool).await)?;
        subject.grants = rows
            .into_iter()
            .map(
                |(id, dataset_id, version, permission, expires_at, group)| GrantRow {
                    id,
                    fact: GrantFact {
                        dataset_id,
                        version,
                        permission,
                        expires_at: expires_at.map(Timestamp),
                    },
                    group,
                },
            )
            .collect();
        Ok(Some(subject))
    }

    /// Id of a service account by name.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn service_account_id(&self, name: &str) -> Result<Option<i64>> {
        const SQL: &str = "SELECT id FROM service_account WHERE name = $1";
        Ok(
            on_db!(self.db(), pool => sqlx::query_scalar(SQL).bind(name).fetch_optional(pool).await)?,
        )
    }
}

/// A user grant as the native API lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantListing {
    /// Id.
    pub id: i64,
    /// Grantee.
    pub user_id: i64,
    /// Grantee's e-mail.
    pub email: String,
    /// Dataset name.
    pub dataset: String,
    /// Permission.
    pub permission: String,
    /// Version scope.
    pub version: Option<String>,
    /// Group scope.
    pub group: Option<String>,
    /// Granting user's e-mail.
    pub granted_by: Option<String>,
    /// `manual` / `self_service`.
    pub source: String,
    /// Created.
    pub created: Timestamp,
    /// Expiry.
    pub expires_at: Option<Timestamp>,
}

/// A membership as the native API lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipListing {
    /// Membership id.
    pub id: i64,
    /// Member.
    pub user_id: i64,
    /// Member's e-mail.
    pub email: String,
    /// Group administrator.
    pub is_admin: bool,
    /// Expiry.
    pub expires_at: Option<Timestamp>,
}

/// A service account as listed to admins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAccountListing {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Enabled.
    pub is_active: bool,
    /// Creator's e-mail.
    pub created_by: Option<String>,
    /// Created.
    pub created: Timestamp,
}

const GRANT_LISTING: &str = "SELECT gr.id, gr.user_id, u.email, d.name, p.name, v.version, g.name, gb.email, \
     gr.source, gr.created, gr.expires_at FROM dataset_grant gr \
     JOIN dsg_user u ON u.id = gr.user_id JOIN dataset d ON d.id = gr.dataset_id \
     JOIN permission p ON p.id = gr.permission_id \
     LEFT JOIN dataset_version v ON v.id = gr.dataset_version_id \
     LEFT JOIN dsg_group g ON g.id = gr.group_id LEFT JOIN dsg_user gb ON gb.id = gr.granted_by_id";

type GrantListingRow = (
    i64,
    i64,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
    i64,
    Option<i64>,
);

fn grant_listing(r: GrantListingRow) -> GrantListing {
    GrantListing {
        id: r.0,
        user_id: r.1,
        email: r.2,
        dataset: r.3,
        permission: r.4,
        version: r.5,
        group: r.6,
        granted_by: r.7,
        source: r.8,
        created: Timestamp(r.9),
        expires_at: r.10.map(Timestamp),
    }
}

impl Store {
    /// Every user grant on a dataset, oldest first.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn dataset_grants(&self, dataset_id: i64) -> Result<Vec<GrantListing>> {
        let sql = format!("{GRANT_LISTING} WHERE gr.dataset_id = $1 ORDER BY gr.id");
        let rows: Vec<GrantListingRow> = on_db!(self.db(), pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone())).bind(dataset_id).fetch_all(pool).await)?;
        Ok(rows.into_iter().map(grant_listing).collect())
    }

    /// One user grant.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn grant(&self, grant_id: i64) -> Result<Option<GrantListing>> {
        let sql = format!("{GRANT_LISTING} WHERE gr.id = $1");
        let row: Option<GrantListingRow> = on_db!(self.db(), pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone())).bind(grant_id).fetch_optional(pool).await)?;
        Ok(row.map(grant_listing))
    }

    /// Every membership of a group (expired ones included), by e-mail.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn group_memberships(&self, group_id: i64) -> Result<Vec<MembershipListing>> {
        const SQL: &str = "SELECT ug.id, ug.user_id, u.email, ug.is_admin, ug.expires_at FROM user_group ug \
             JOIN dsg_user u ON u.id = ug.user_id WHERE ug.group_id = $1 ORDER BY u.email";
        let rows: Vec<(i64, i64, String, bool, Option<i64>)> =
            on_db!(self.db(), pool => sqlx::query_as(SQL).bind(group_id).fetch_all(pool).await)?;
        Ok(rows
            .into_iter()
            .map(
                |(id, user_id, email, is_admin, expires_at)| MembershipListing {
                    id,
                    user_id,
                    email,
                    is_admin,
                    expires_at: expires_at.map(Timestamp),
                },
            )
            .collect())
    }

    /// Every service account, by name.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn service_accounts(&self) -> Result<Vec<ServiceAccountListing>> {
        const SQL: &str = "SELECT s.id, s.name, s.description, s.is_active, u.email, s.created \
             FROM service_account s LEFT JOIN dsg_user u ON u.id = s.created_by_id ORDER BY s.name";
        let rows: Vec<(i64, String, String, bool, Option<String>, i64)> =
            on_db!(self.db(), pool => sqlx::query_as(SQL).fetch_all(pool).await)?;
        Ok(rows
            .into_iter()
            .map(
                |(id, name, description, is_active, created_by, created)| ServiceAccountListing {
                    id,
                    name,
                    description,
                    is_active,
                    created_by,
                    created: Timestamp(created),
                },
            )
            .collect())
    }

    /// One service account.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn service_account_detail(&self, id: i64) -> Result<Option<ServiceAccountListing>> {
        const SQL: &str = "SELECT s.id, s.name, s.description, s.is_active, u.email, s.created \
             FROM service_account s LEFT JOIN dsg_user u ON u.id = s.created_by_id WHERE s.id = $1";
        let row: Option<(i64, String, String, bool, Option<String>, i64)> =
            on_db!(self.db(), pool => sqlx::query_as(SQL).bind(id).fetch_optional(pool).await)?;
        Ok(
            row.map(|(id, name, description, is_active, created_by, created)| {
                ServiceAccountListing {
                    id,
                    name,
                    description,
                    is_active,
                    created_by,
                    created: Timestamp(created),
                }
            }),
        )
    }

    /// A service account's tokens: `(id, description, prefix, created, last_used)`.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn service_account_tokens(
        &self,
        sa_id: i64,
    ) -> Result<Vec<(i64, String, String, Timestamp, Option<Timestamp>)>> {
        const SQL: &str = "SELECT id, description, key_prefix, created, last_used FROM service_account_token \
             WHERE service_account_id = $1 ORDER BY id DESC";
        let rows: Vec<(i64, String, String, i64, Option<i64>)> =
            on_db!(self.db(), pool => sqlx::query_as(SQL).bind(sa_id).fetch_all(pool).await)?;
        Ok(rows
            .into_iter()
            .map(|(a, b, c, d, e)| (a, b, c, Timestamp(d), e.map(Timestamp)))
            .collect())
    }

    /// A service account's grants: `(id, dataset, version, permission, expires_at)`.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn service_account_grants(
        &self,
        sa_id: i64,
    ) -> Result<Vec<(i64, String, Option<String>, String, Option<Timestamp>)>> {
        const SQL: &str = "SELECT g.id, d.name, v.version, p.name, g.expires_at FROM service_account_grant g \
             JOIN dataset d ON d.id = g.dataset_id JOIN permission p ON p.id = g.permission_id \
             LEFT JOIN dataset_version v ON v.id = g.dataset_version_id \
             WHERE g.service_account_id = $1 ORDER BY g.id";
        type Row = (i64, String, Option<String>, String, Option<i64>);
        let rows: Vec<Row> =
            on_db!(self.db(), pool => sqlx::query_as(SQL).bind(sa_id).fetch_all(pool).await)?;
        Ok(rows
            .into_iter()
            .map(|(a, b, c, d, e)| (a, b, c, d, e.map(Timestamp)))
            .collect())
    }
}

/// A TOS document with its scope, as the native API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TosRow {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Text (Markdown source; shown escaped).
    pub text: String,
    /// Dataset id.
    pub dataset_id: Option<i64>,
    /// Dataset name.
    pub dataset: Option<String>,
    /// Dataset access mode.
    pub access_mode: Option<String>,
    /// Version name.
    pub version: Option<String>,
    /// Service slug.
    pub service: Option<String>,
    /// In force from.
    pub effective_at: Timestamp,
    /// Retired from.
    pub retired_at: Option<Timestamp>,
    /// Landing-page token.
    pub invite_token: String,
}

impl TosRow {
    /// In force at `now`.
    pub fn in_force(&self, now: Timestamp) -> bool {
        self.effective_at <= now && self.retired_at.is_none_or(|r| now < r)
    }
}

const TOS_ROW: &str = "SELECT t.id, t.name, t.text, t.dataset_id, d.name, d.access_mode, v.version, s.name, \
     t.effective_date, t.retired_date, t.invite_token FROM tos_document t \
     LEFT JOIN dataset d ON d.id = t.dataset_id LEFT JOIN dataset_version v ON v.id = t.dataset_version_id \
     LEFT JOIN service s ON s.id = t.service_id";

type TosDbRow = (
    i64,
    String,
    String,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    i64,
    Option<i64>,
    String,
);

fn tos_row(r: TosDbRow) -> TosRow {
    TosRow {
        id: r.0,
        name: r.1,
        text: r.2,
        dataset_id: r.3,
        dataset: r.4,
        access_mode: r.5,
        version: r.6,
        service: r.7,
        effective_at: Timestamp(r.8),
        retired_at: r.9.map(Timestamp),
        invite_token: r.10,
    }
}

impl Store {
    /// A TOS document by id.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn tos_document(&self, id: i64) -> Result<Option<TosRow>> {
        let sql = format!("{TOS_ROW} WHERE t.id = $1");
        let r: Option<TosDbRow> = on_db!(self.db(), pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone())).bind(id).fetch_optional(pool).await)?;
        Ok(r.map(tos_row))
    }

    /// A TOS document by its landing-page token.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn tos_by_invite(&self, token: &str) -> Result<Option<TosRow>> {
        let sql = format!("{TOS_ROW} WHERE t.invite_token = $1");
        let r: Option<TosDbRow> = on_db!(self.db(), pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone())).bind(token).fetch_optional(pool).await)?;
        Ok(r.map(tos_row))
    }

    /// Whether the user (the parent, for legacy parent-linked users) accepted the TOS.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn has_accepted(&self, user_id: i64, tos_id: i64) -> Result<bool> {
        const SQL: &str = "SELECT COUNT(*) FROM tos_acceptance a JOIN dsg_user u ON a.user_id = COALESCE(u.parent_id, u.id) \
             WHERE u.id = $1 AND a.tos_document_id = $2";
        let n: i64 = on_db!(self.db(), pool => sqlx::query_scalar(SQL).bind(user_id).bind(tos_id).fetch_one(pool).await)?;
        Ok(n > 0)
    }

    /// Whether the user holds any direct grant on the dataset.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn has_grant_on(&self, user_id: i64, dataset_id: i64) -> Result<bool> {
        const SQL: &str =
            "SELECT COUNT(*) FROM dataset_grant WHERE user_id = $1 AND dataset_id = $2";
        let n: i64 = on_db!(self.db(), pool => sqlx::query_scalar(SQL).bind(user_id).bind(dataset_id).fetch_one(pool).await)?;
        Ok(n > 0)
    }
}

impl Store {
    /// Every TOS document of a dataset (any version or service), with whether
    /// it is the dataset's gate; by service then name.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn dataset_tos_documents(&self, dataset_id: i64) -> Result<Vec<(TosRow, bool)>> {
        const GATE: &str = "SELECT tos_id FROM dataset WHERE id = $1";
        let sql = format!(
            "{TOS_ROW} WHERE t.dataset_id = $1 ORDER BY COALESCE(s.name, ''), t.name, t.id"
        );
        let gate: Option<Option<i64>> = on_db!(self.db(), pool => sqlx::query_scalar(GATE).bind(dataset_id).fetch_optional(pool).await)?;
        let gate = gate.flatten();
        let rows: Vec<TosDbRow> = on_db!(self.db(), pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone())).bind(dataset_id).fetch_all(pool).await)?;
        Ok(rows
            .into_iter()
            .map(tos_row)
            .map(|t| {
                let g = Some(t.id) == gate;
                (t, g)
            })
            .collect())
    }

    /// The TOS documents a user accepted: `(tos id, name, accepted at)`, newest first.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn tos_acceptances(&self, user_id: i64) -> Result<Vec<(i64, String, Timestamp)>> {
        const SQL: &str = "SELECT t.id, t.name, a.accepted_at FROM tos_acceptance a \
             JOIN tos_document t ON t.id = a.tos_document_id WHERE a.user_id = $1 \
             ORDER BY a.accepted_at DESC, a.id DESC";
        let rows: Vec<(i64, String, i64)> =
            on_db!(self.db(), pool => sqlx::query_as(SQL).bind(user_id).fetch_all(pool).await)?;
        Ok(rows
            .into_iter()
            .map(|(id, name, at)| (id, name, Timestamp(at)))
            .collect())
    }

    /// Every group name, sorted.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn group_names(&self) -> Result<Vec<String>> {
        const SQL: &str = "SELECT name FROM dsg_group ORDER BY name";
        Ok(on_db!(self.db(), pool => sqlx::query_scalar(SQL).fetch_all(pool).await)?)
    }

    /// Name of the permission with this id.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn permission_name(&self, id: i64) -> Result<Option<String>> {
        const SQL: &str = "SELECT name FROM permission WHERE id = $1";
        Ok(on_db!(self.db(), pool => sqlx::query_scalar(SQL).bind(id).fetch_optional(pool).await)?)
    }
}
