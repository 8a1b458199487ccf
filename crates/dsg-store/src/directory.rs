//! Read-only lookups of users and groups for the CAVE-compatible endpoints.

use dsg_core::permissions::public_name;
use serde::Serialize;

use crate::{Result, Store, on_db, placeholders};

/// A user as `/api/v1/user?id=` shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserSummary {
    /// Id.
    pub id: i64,
    /// Public name.
    pub name: String,
    /// E-mail.
    pub email: String,
    /// Global admin.
    pub admin: bool,
    /// Principal investigator.
    pub pi: String,
    /// Avatar URL.
    pub picture_url: String,
}

#[derive(sqlx::FromRow)]
struct SummaryRow {
    id: i64,
    email: String,
    name: String,
    display_name: String,
    admin: bool,
    pi: String,
    picture_url: String,
}

impl From<SummaryRow> for UserSummary {
    fn from(r: SummaryRow) -> Self {
        Self {
            id: r.id,
            name: public_name(&r.display_name, &r.name, &r.email),
            email: r.email,
            admin: r.admin,
            pi: r.pi,
            picture_url: r.picture_url,
        }
    }
}

const SUMMARY_COLUMNS: &str = "u.id, u.email, u.name, u.display_name, u.admin, u.pi, u.picture_url";

/// Largest id list one query binds (both drivers accept far more).
const CHUNK: usize = 500;

impl Store {
    /// The users with these ids that exist, ordered by id.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn users_by_ids(&self, ids: &[i64]) -> Result<Vec<UserSummary>> {
        let mut ids = ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(CHUNK) {
            // Safe: only column names and numbered placeholders are interpolated.
            let sql = format!(
                "SELECT {SUMMARY_COLUMNS} FROM dsg_user u WHERE u.id IN ({}) ORDER BY u.id",
                placeholders(1, chunk.len())
            );
            let rows: Vec<SummaryRow> = on_db!(self.db(), pool => {
                let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()));
                for id in chunk {
                    q = q.bind(*id);
                }
                q.fetch_all(pool).await
            })?;
            out.extend(rows.into_iter().map(UserSummary::from));
        }
        Ok(out)
    }

    /// Names of the groups a user belongs to (expired memberships excluded).
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn user_group_names(&self, user_id: i64, now: i64) -> Result<Vec<String>> {
        const SQL: &str = "SELECT g.name FROM user_group ug JOIN dsg_group g ON g.id = ug.group_id \
             WHERE ug.user_id = $1 AND (ug.expires_at IS NULL OR ug.expires_at > $2) ORDER BY g.name";
        Ok(on_db!(self.db(), pool => {
            sqlx::query_scalar(SQL).bind(user_id).bind(now).fetch_all(pool).await
        })?)
    }

    /// Members' e-mails of the group with this exact name, in membership order;
    /// `None` when no such group.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn group_member_emails(&self, name: &str, now: i64) -> Result<Option<Vec<String>>> {
        let Some(id) = self.group_id_by_name(name).await? else {
            return Ok(None);
        };
        const SQL: &str = "SELECT u.email FROM user_group ug JOIN dsg_user u ON u.id = ug.user_id \
             WHERE ug.group_id = $1 AND (ug.expires_at IS NULL OR ug.expires_at > $2) ORDER BY ug.id";
        Ok(Some(on_db!(self.db(), pool => {
            sqlx::query_scalar(SQL).bind(id).bind(now).fetch_all(pool).await
        })?))
    }

    /// E-mails of the group's active members (expired memberships and
    /// disabled users left out), by e-mail; `None` when no such group.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn active_group_member_emails(
        &self,
        name: &str,
        now: i64,
    ) -> Result<Option<Vec<String>>> {
        let Some(id) = self.group_id_by_name(name).await? else {
            return Ok(None);
        };
        const SQL: &str = "SELECT u.email FROM user_group ug JOIN dsg_user u ON u.id = ug.user_id \
             WHERE ug.group_id = $1 AND u.is_active AND (ug.expires_at IS NULL OR ug.expires_at > $2) \
             ORDER BY u.email";
        Ok(Some(on_db!(self.db(), pool => {
            sqlx::query_scalar(SQL).bind(id).bind(now).fetch_all(pool).await
        })?))
    }

    /// Members of the group with this id, ordered by user id; `None` when no such group.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn group_members(&self, group_id: i64, now: i64) -> Result<Option<Vec<UserSummary>>> {
        const EXISTS: &str = "SELECT id FROM dsg_group WHERE id = $1";
        let found: Option<i64> = on_db!(self.db(), pool => {
            sqlx::query_scalar(EXISTS).bind(group_id).fetch_optional(pool).await
        })?;
        if found.is_none() {
            return Ok(None);
        }
        let sql = format!(
            "SELECT {SUMMARY_COLUMNS} FROM user_group ug JOIN dsg_user u ON u.id = ug.user_id \
             WHERE ug.group_id = $1 AND (ug.expires_at IS NULL OR ug.expires_at > $2) ORDER BY u.id"
        );
        let rows: Vec<SummaryRow> = on_db!(self.db(), pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql.clone())).bind(group_id).bind(now).fetch_all(pool).await
        })?;
        Ok(Some(rows.into_iter().map(UserSummary::from).collect()))
    }

    /// Id of the group with this exact name.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn group_id_by_name(&self, name: &str) -> Result<Option<i64>> {
        const SQL: &str = "SELECT id FROM dsg_group WHERE name = $1";
        Ok(on_db!(self.db(), pool => {
            sqlx::query_scalar(SQL).bind(name).fetch_optional(pool).await
        })?)
    }
}
