//! Access requests: a user asks for a level on a dataset; a dataset admin
//! approves (which creates the grant, in the same transaction) or denies.

use dsg_core::{DomainError, Timestamp};
use serde_json::json;

use crate::grants::NewGrant;
use crate::{Result, Store, WriteTx, now_micros, on_db, on_tx};

/// An access request as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessRequest {
    /// Id.
    pub id: i64,
    /// Requester.
    pub user_id: i64,
    /// Requester's e-mail.
    pub email: String,
    /// Dataset id.
    pub dataset_id: i64,
    /// Dataset name.
    pub dataset: String,
    /// Version name.
    pub version: Option<String>,
    /// Version id.
    pub version_id: Option<i64>,
    /// Permission asked for.
    pub permission: String,
    /// Requester's message.
    pub message: String,
    /// `pending`, `approved`, `denied`, `withdrawn`.
    pub status: String,
    /// Decider's e-mail.
    pub decided_by: Option<String>,
    /// Decision time.
    pub decided_at: Option<Timestamp>,
    /// Decider's note.
    pub decision_note: String,
    /// Created.
    pub created: Timestamp,
}

const LIST: &str = "SELECT r.id, r.user_id, u.email, r.dataset_id, d.name, v.version, r.dataset_version_id, \
     p.name, r.message, r.status, db.email, r.decided_at, r.decision_note, r.created \
     FROM access_request r JOIN dsg_user u ON u.id = r.user_id JOIN dataset d ON d.id = r.dataset_id \
     JOIN permission p ON p.id = r.permission_id LEFT JOIN dataset_version v ON v.id = r.dataset_version_id \
     LEFT JOIN dsg_user db ON db.id = r.decided_by_id";

type Row = (
    i64,
    i64,
    String,
    i64,
    String,
    Option<String>,
    Option<i64>,
    String,
    String,
    String,
    Option<String>,
    Option<i64>,
    String,
    i64,
);

fn row(r: Row) -> AccessRequest {
    AccessRequest {
        id: r.0,
        user_id: r.1,
        email: r.2,
        dataset_id: r.3,
        dataset: r.4,
        version: r.5,
        version_id: r.6,
        permission: r.7,
        message: r.8,
        status: r.9,
        decided_by: r.10,
        decided_at: r.11.map(Timestamp),
        decision_note: r.12,
        created: Timestamp(r.13),
    }
}

impl Store {
    /// Requests filtered by dataset, requester and status, newest first.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn access_requests(
        &self,
        dataset_id: Option<i64>,
        user_id: Option<i64>,
        status: Option<&str>,
    ) -> Result<Vec<AccessRequest>> {
        let sql = format!(
            "{LIST} WHERE ($1 IS NULL OR r.dataset_id = $1) AND ($2 IS NULL OR r.user_id = $2) \
             AND ($3 IS NULL OR r.status = $3) ORDER BY r.id DESC"
        );
        let rows: Vec<Row> = on_db!(self.db(), pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
            .bind(dataset_id).bind(user_id).bind(status).fetch_all(pool).await)?;
        Ok(rows.into_iter().map(row).collect())
    }

    /// One request.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn access_request(&self, id: i64) -> Result<Option<AccessRequest>> {
        let sql = format!("{LIST} WHERE r.id = $1");
        let r: Option<Row> = on_db!(self.db(), pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone())).bind(id).fetch_optional(pool).await)?;
        Ok(r.map(row))
    }
}

impl WriteTx {
    /// Files a request.
    ///
    /// # Errors
    /// Unknown permission; [`DomainError::Conflict`] when the same request is pending.
    pub async fn create_access_request(
        &mut self,
        user_id: i64,
        dataset_id: i64,
        version_id: Option<i64>,
        permission: &str,
        message: &str,
    ) -> Result<i64> {
        let permission_id = self.permission_id(permission).await?;
        const DUP: &str = "SELECT id FROM access_request WHERE user_id = $1 AND dataset_id = $2 \
             AND COALESCE(dataset_version_id, 0) = COALESCE($3, 0) AND permission_id = $4 AND status = 'pending'";
        let dup: Option<i64> = on_tx!(&mut self.tx, conn => sqlx::query_scalar(DUP)
            .bind(user_id).bind(dataset_id).bind(version_id).bind(permission_id).fetch_optional(conn).await)?;
        if let Some(d) = dup {
            return Err(DomainError::Conflict(format!(
                "the same request is already pending (id {d})"
            ))
            .into());
        }
        const SQL: &str = "INSERT INTO access_request (user_id, dataset_id, dataset_version_id, permission_id, message, created) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id";
        let id: i64 = on_tx!(&mut self.tx, conn => sqlx::query_scalar(SQL)
            .bind(user_id).bind(dataset_id).bind(version_id).bind(permission_id).bind(message)
            .bind(now_micros()).fetch_one(conn).await)?;
        self.audit(
            "access_request_created",
            "AccessRequest",
            id,
            None,
            Some(
                json!({"user_id": user_id, "dataset_id": dataset_id, "version_id": version_id,
                        "permission": permission, "message": message}),
            ),
        )
        .await?;
        Ok(id)
    }

    /// Decides a pending request; approval creates the grant (returned).
    ///
    /// # Errors
    /// [`DomainError::NotFound`] / [`DomainError::Conflict`] when not pending.
    pub async fn decide_access_request(
        &mut self,
        req: &AccessRequest,
        approve: bool,
        note: &str,
        grant_expires_at: Option<Timestamp>,
    ) -> Result<Option<i64>> {
        const SQL: &str = "UPDATE access_request SET status = $1, decided_by_id = $2, decided_at = $3, \
             decision_note = $4 WHERE id = $5 AND status = 'pending'";
        let status = if approve { "approved" } else { "denied" };
        let decider = self.actor().id;
        let n = on_tx!(&mut self.tx, conn => sqlx::query(SQL).bind(status).bind(decider).bind(now_micros())
            .bind(note).bind(req.id).execute(conn).await.map(|r| r.rows_affected()))?;
        if n == 0 {
            return Err(
                DomainError::Conflict(format!("access request {} is not pending", req.id)).into(),
            );
        }
        let grant = if approve {
            Some(
                self.create_grant(&NewGrant {
                    service_id: None,
                    bucket_ids: &[],
                    user_id: req.user_id,
                    dataset_id: req.dataset_id,
                    version_id: req.version_id,
                    permission: &req.permission,
                    group_id: None,
                    granted_by: decider,
                    source: "manual",
                    expires_at: grant_expires_at,
                })
                .await?,
            )
        } else {
            None
        };
        self.audit(
            if approve {
                "access_request_approved"
            } else {
                "access_request_denied"
            },
            "AccessRequest",
            req.id,
            Some(json!({"status": "pending"})),
            Some(json!({"status": status, "note": note, "grant_id": grant})),
        )
        .await?;
        Ok(grant)
    }

    /// The requester withdraws a pending request.
    ///
    /// # Errors
    /// [`DomainError::Conflict`] when it is not pending (or not theirs).
    pub async fn withdraw_access_request(&mut self, id: i64, user_id: i64) -> Result<()> {
        const SQL: &str = "UPDATE access_request SET status = 'withdrawn', decided_at = $1 \
             WHERE id = $2 AND user_id = $3 AND status = 'pending'";
        let n = on_tx!(&mut self.tx, conn => sqlx::query(SQL).bind(now_micros()).bind(id).bind(user_id)
            .execute(conn).await.map(|r| r.rows_affected()))?;
        if n == 0 {
            return Err(
                DomainError::Conflict(format!("access request {id} is not pending")).into(),
            );
        }
        self.audit(
            "access_request_withdrawn",
            "AccessRequest",
            id,
            Some(json!({"status": "pending"})),
            Some(json!({"status": "withdrawn"})),
        )
        .await
    }
}
