//! Loads one principal's facts for the permission engine (and the
//! explain-access subject).
//!
//! A user's document needs their row plus affiliations, memberships, grants
//! and TOS acceptances. These come back from **one** `UNION ALL` query (tagged
//! rows), because a cache miss is on the request path and every round trip
//! counts.

use dsg_core::Timestamp;
use dsg_core::permissions::{
    GrantFact, MembershipFact, ServiceAccountFacts, UserFacts, public_name, service_account_email,
};

use crate::{Result, Store, on_db};

/// A user's facts plus the flag that decides whether they may authenticate.
#[derive(Debug, Clone)]
pub struct LoadedUser {
    /// Facts for the engine.
    pub facts: UserFacts,
    /// `is_active`.
    pub active: bool,
}

/// A service account's facts plus its `is_active` flag.
#[derive(Debug, Clone)]
pub struct LoadedServiceAccount {
    /// Facts for the engine.
    pub facts: ServiceAccountFacts,
    /// `is_active`.
    pub active: bool,
}

#[derive(sqlx::FromRow)]
struct UserRow {
    id: i64,
    email: String,
    name: String,
    display_name: String,
    admin: bool,
    is_active: bool,
    pi: String,
    read_only: bool,
    picture_url: String,
    parent_id: Option<i64>,
}

const USER_SQL: &str = "SELECT id, email, name, display_name, admin, is_active, pi, read_only, \
     picture_url, parent_id FROM dsg_user WHERE id = $1";

/// Tagged rows: a = affiliation, m = membership, g = grant, t = accepted TOS.
const USER_FACTS_SQL: &str = "\
SELECT 'a' AS kind, CAST(NULL AS BIGINT) AS n1, CAST(NULL AS BIGINT) AS n2, name AS s1, CAST(NULL AS TEXT) AS s2, \
  CAST(NULL AS TEXT) AS s3, CAST(NULL AS BIGINT) AS n3 FROM affiliation WHERE user_id = $1 \
UNION ALL \
SELECT 'm', ug.group_id, ug.expires_at, g.name, CASE WHEN ug.is_admin THEN 'admin' ELSE '' END, CAST(NULL AS TEXT), \
  CAST(NULL AS BIGINT) \
  FROM user_group ug JOIN dsg_group g ON g.id = ug.group_id WHERE ug.user_id = $1 \
UNION ALL \
SELECT 'g', gr.dataset_id, gr.expires_at, p.name, v.version, s.name, gr.id \
  FROM dataset_grant gr JOIN permission p ON p.id = gr.permission_id \
  LEFT JOIN dataset_version v ON v.id = gr.dataset_version_id \
  LEFT JOIN service s ON s.id = gr.service_id WHERE gr.user_id = $1 \
UNION ALL \
SELECT 'b', gb.bucket_id, CAST(NULL AS BIGINT), CAST(NULL AS TEXT), CAST(NULL AS TEXT), CAST(NULL AS TEXT), \
  gb.grant_id FROM dataset_grant_bucket gb JOIN dataset_grant gr ON gr.id = gb.grant_id WHERE gr.user_id = $1 \
UNION ALL \
SELECT 't', tos_document_id, CAST(NULL AS BIGINT), CAST(NULL AS TEXT), CAST(NULL AS TEXT), CAST(NULL AS TEXT), \
  CAST(NULL AS BIGINT) FROM tos_acceptance WHERE user_id = $2";

type FactRow = (
    String,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
);

/// Legacy parent-linked users use their parent's TOS acceptances.
fn tos_owner(row: &UserRow) -> i64 {
    row.parent_id.unwrap_or(row.id)
}

/// [`USER_SQL`] and [`USER_FACTS_SQL`] on a synchronous SQLite connection.
fn quick_user(
    c: &rusqlite::Connection,
    user_id: i64,
) -> rusqlite::Result<Option<(UserRow, Vec<FactRow>)>> {
    use rusqlite::OptionalExtension;
    let row = c
        .prepare_cached(USER_SQL)?
        .query_row([user_id], |r| {
            Ok(UserRow {
                id: r.get(0)?,
                email: r.get(1)?,
                name: r.get(2)?,
                display_name: r.get(3)?,
                admin: r.get(4)?,
                is_active: r.get(5)?,
                pi: r.get(6)?,
                read_only: r.get(7)?,
                picture_url: r.get(8)?,
                parent_id: r.get(9)?,
            })
        })
        .optional()?;
    let Some(row) = row else { return Ok(None) };
    let rows = c
        .prepare_cached(USER_FACTS_SQL)?
        .query_map([user_id, tos_owner(&row)], |r| r.try_into())?
        .collect::<rusqlite::Result<Vec<FactRow>>>()?;
    Ok(Some((row, rows)))
}

impl Store {
    /// Loads a user's facts; `None` when the user does not exist.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn load_user(&self, user_id: i64) -> Result<Option<LoadedUser>> {
        // SQLite: both reads on one synchronous connection (crate::quick_read).
        let (row, rows) = match self.quick(|c| quick_user(c, user_id)) {
            Some(Some(read)) => read,
            Some(None) => return Ok(None),
            None => {
                let row: Option<UserRow> = on_db!(self.db(), pool => {
                    sqlx::query_as(USER_SQL).bind(user_id).fetch_optional(pool).await
                })?;
                let Some(row) = row else { return Ok(None) };
                let rows: Vec<FactRow> = on_db!(self.db(), pool => {
                    sqlx::query_as(USER_FACTS_SQL)
                        .bind(user_id)
                        .bind(tos_owner(&row))
                        .fetch_all(pool)
                        .await
                })?;
                (row, rows)
            }
        };
        let mut facts = UserFacts {
            id: row.id,
            parent_id: row.parent_id,
            public_name: public_name(&row.display_name, &row.name, &row.email),
            name: row.name,
            email: row.email,
            admin: row.admin,
            pi: row.pi,
            picture_url: row.picture_url,
            read_only: row.read_only,
            ..UserFacts::default()
        };
        // Grant id → index in `facts.grants`, for the bucket restrictions.
        let mut grant_index = std::collections::HashMap::new();
        let mut restrictions = Vec::new();
        for (kind, n1, n2, s1, s2, s3, n3) in rows {
            match (kind.as_str(), n1, s1) {
                ("a", _, Some(name)) => facts.affiliations.push(name),
                ("m", Some(group_id), Some(group_name)) => facts.memberships.push(MembershipFact {
                    group_id,
                    group_name,
                    is_admin: s2.as_deref() == Some("admin"),
                    expires_at: n2.map(Timestamp),
                }),
                ("b", Some(bucket_id), _) => restrictions.extend(n3.map(|g| (g, bucket_id))),
                ("g", Some(dataset_id), Some(permission)) => {
                    if let Some(id) = n3 {
                        grant_index.insert(id, facts.grants.len());
                    }
                    facts.grants.push(GrantFact {
                        buckets: Vec::new(),
                        service: s3,
                        dataset_id,
                        version: s2,
                        permission,
                        expires_at: n2.map(Timestamp),
                    });
                }
                ("t", Some(tos_id), _) => {
                    facts.accepted_tos.insert(tos_id);
                }
                _ => {}
            }
        }
        for (grant, bucket) in restrictions {
            if let Some(&i) = grant_index.get(&grant) {
                facts.grants[i].buckets.push(bucket);
            }
        }
        Ok(Some(LoadedUser {
            facts,
            active: row.is_active,
        }))
    }

    /// Loads a service account's facts; `None` when it does not exist.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn load_service_account(&self, id: i64) -> Result<Option<LoadedServiceAccount>> {
        const SA: &str = "SELECT id, name, is_active FROM service_account WHERE id = $1";
        const GRANTS: &str = "SELECT g.dataset_id, v.version, p.name, g.expires_at, s.name \
             FROM service_account_grant g JOIN permission p ON p.id = g.permission_id \
             LEFT JOIN dataset_version v ON v.id = g.dataset_version_id \
             LEFT JOIN service s ON s.id = g.service_id \
             WHERE g.service_account_id = $1";
        let row: Option<(i64, String, bool)> = on_db!(self.db(), pool => {
            sqlx::query_as(SA).bind(id).fetch_optional(pool).await
        })?;
        let Some((id, name, active)) = row else {
            return Ok(None);
        };
        type GrantRow = (i64, Option<String>, String, Option<i64>, Option<String>);
        let grants: Vec<GrantRow> = on_db!(self.db(), pool => {
            sqlx::query_as(GRANTS).bind(id).fetch_all(pool).await
        })?;
        Ok(Some(LoadedServiceAccount {
            facts: ServiceAccountFacts {
                id,
                email: service_account_email(&name),
                name,
                grants: grants
                    .into_iter()
                    .map(
                        |(dataset_id, version, permission, expires_at, service)| GrantFact {
                            buckets: Vec::new(),
                            service,
                            dataset_id,
                            version,
                            permission,
                            expires_at: expires_at.map(Timestamp),
                        },
                    )
                    .collect(),
            },
            active,
        }))
    }
}

impl Store {
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
        const USER_GRANTS: &str = "SELECT gr.id, gr.dataset_id, v.version, p.name, gr.expires_at, g.name, s.name \
             FROM dataset_grant gr JOIN permission p ON p.id = gr.permission_id \
             LEFT JOIN dataset_version v ON v.id = gr.dataset_version_id \
             LEFT JOIN service s ON s.id = gr.service_id \
             LEFT JOIN dsg_group g ON g.id = gr.group_id WHERE gr.user_id = $1 ORDER BY gr.id";
        const SA_GRANTS: &str = "SELECT gr.id, gr.dataset_id, v.version, p.name, gr.expires_at, CAST(NULL AS TEXT), s.name \
             FROM service_account_grant gr JOIN permission p ON p.id = gr.permission_id \
             LEFT JOIN dataset_version v ON v.id = gr.dataset_version_id \
             LEFT JOIN service s ON s.id = gr.service_id \
             WHERE gr.service_account_id = $1 ORDER BY gr.id";
        type Row = (
            i64,
            i64,
            Option<String>,
            String,
            Option<i64>,
            Option<String>,
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
                |(id, dataset_id, version, permission, expires_at, group, service)| GrantRow {
                    id,
                    fact: GrantFact {
                        buckets: Vec::new(),
                        service,
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
}
