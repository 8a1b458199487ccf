//! Groups, memberships and group dataset permissions: the writes, and the
//! membership listings group admins read.

use dsg_core::error::EntityKind;
use dsg_core::{DomainError, Timestamp};
use serde_json::json;

use crate::datasets::{Bind, Binds, named_conflict};
use crate::events::CacheEvent;
use crate::{Result, Store, WriteTx, now_micros, on_db, on_tx};

impl WriteTx {
    /// Creates a group.
    ///
    /// # Errors
    /// [`DomainError::Conflict`] when the name is taken.
    pub async fn create_group(&mut self, name: &str) -> Result<i64> {
        self.add_group(name, None, None).await
    }

    /// Creates a group with an identity provider's `externalId`: the one
    /// writer of `group_created`; `via` names the door for the audit row.
    ///
    /// # Errors
    /// [`DomainError::Conflict`] when the name is taken.
    pub async fn add_group(
        &mut self,
        name: &str,
        external_id: Option<&str>,
        via: Option<&'static str>,
    ) -> Result<i64> {
        if name.trim().is_empty() {
            return Err(DomainError::Invalid("a group needs a name".into()).into());
        }
        const SQL: &str = "INSERT INTO dsg_group (name, scim_id, external_id, created, updated) \
             VALUES ($1, $2, $3, $4, $4) RETURNING id";
        let scim_id = uuid::Uuid::new_v4().to_string();
        let id = self
            .insert_id(
                SQL,
                Binds(vec![
                    Bind::S(name),
                    Bind::S(&scim_id),
                    Bind::OS(external_id),
                    Bind::I(now_micros()),
                ]),
            )
            .await
            .map_err(|e| named_conflict(e, "group", name))?;
        let mut after = json!({"name": name});
        if let Some(via) = via {
            after["via"] = json!(via);
        }
        self.audit("group_created", "Group", id, None, Some(after))
            .await?;
        Ok(id)
    }

    /// Id of a group by exact name.
    ///
    /// # Errors
    /// [`DomainError::NotFound`].
    pub async fn group_id(&mut self, name: &str) -> Result<i64> {
        const SQL: &str = "SELECT id FROM dsg_group WHERE name = $1";
        let id: Option<i64> = on_tx!(&mut self.tx, conn => sqlx::query_scalar(SQL).bind(name).fetch_optional(conn).await)?;
        id.ok_or_else(|| DomainError::not_found(EntityKind::Group, name).into())
    }

    /// Adds a user to a group.
    ///
    /// # Errors
    /// [`DomainError::Conflict`] when already a member.
    pub async fn add_member(
        &mut self,
        user_id: i64,
        group_id: i64,
        is_admin: bool,
        expires_at: Option<Timestamp>,
    ) -> Result<i64> {
        const SQL: &str = "INSERT INTO user_group (user_id, group_id, is_admin, expires_at, created) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id";
        let id = self
            .insert_id(
                SQL,
                Binds(vec![
                    Bind::I(user_id),
                    Bind::I(group_id),
                    Bind::B(is_admin),
                    Bind::OI(expires_at.map(|t| t.0)),
                    Bind::I(now_micros()),
                ]),
            )
            .await
            .map_err(|e| named_conflict(e, "membership of user", &user_id.to_string()))?;
        self.touch_member(user_id).await?;
        self.audit(
            "member_added",
            "UserGroup",
            id,
            None,
            Some(
                json!({"user_id": user_id, "group_id": group_id, "is_admin": is_admin,
                        "expires_at": expires_at.map(|t| t.to_rfc3339())}),
            ),
        )
        .await?;
        Ok(id)
    }

    /// Gives a group a dataset-wide permission.
    ///
    /// # Errors
    /// [`DomainError::Conflict`] when it has it already.
    pub async fn add_group_permission(
        &mut self,
        group_id: i64,
        dataset_id: i64,
        permission: &str,
        service_id: Option<i64>,
    ) -> Result<i64> {
        let permission_id = self.permission_id(permission).await?;
        const SQL: &str = "INSERT INTO group_dataset_permission (group_id, dataset_id, permission_id, created, service_id) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id";
        let id = self
            .insert_id(
                SQL,
                Binds(vec![
                    Bind::I(group_id),
                    Bind::I(dataset_id),
                    Bind::I(permission_id),
                    Bind::I(now_micros()),
                    Bind::OI(service_id),
                ]),
            )
            .await
            .map_err(|e| named_conflict(e, "group permission", permission))?;
        self.invalidate(CacheEvent::All);
        self.audit(
            "group_permission_created",
            "GroupDatasetPermission",
            id,
            None,
            Some(
                json!({"group_id": group_id, "dataset_id": dataset_id, "permission": permission,
                        "service_id": service_id}),
            ),
        )
        .await?;
        Ok(id)
    }
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

impl Store {
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

    /// What a group's own dataset permissions give its members: (dataset,
    /// permission, service), by dataset.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn group_dataset_permissions(
        &self,
        group_id: i64,
    ) -> Result<Vec<(String, String, Option<String>)>> {
        const SQL: &str = "SELECT d.name, p.name, s.name FROM group_dataset_permission gp \
             JOIN dataset d ON d.id = gp.dataset_id JOIN permission p ON p.id = gp.permission_id \
             LEFT JOIN service s ON s.id = gp.service_id WHERE gp.group_id = $1 \
             ORDER BY d.name, p.name";
        Ok(on_db!(self.db(), pool => sqlx::query_as(SQL).bind(group_id).fetch_all(pool).await)?)
    }

    /// Every group name, sorted.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn group_names(&self) -> Result<Vec<String>> {
        const SQL: &str = "SELECT name FROM dsg_group ORDER BY name";
        Ok(on_db!(self.db(), pool => sqlx::query_scalar(SQL).fetch_all(pool).await)?)
    }
}

impl WriteTx {
    /// Removes a membership and the grants scoped to that group; `false` when
    /// there was no membership.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn remove_member(&mut self, user_id: i64, group_id: i64) -> Result<bool> {
        const SQL: &str = "DELETE FROM user_group WHERE user_id = $1 AND group_id = $2 RETURNING id, is_admin, expires_at";
        let row: Option<(i64, bool, Option<i64>)> = on_tx!(&mut self.tx, conn => sqlx::query_as(SQL).bind(user_id).bind(group_id).fetch_optional(conn).await)?;
        let Some((id, is_admin, expires_at)) = row else {
            return Ok(false);
        };
        self.revoke_group_scoped_grants(user_id, group_id).await?;
        self.touch_member(user_id).await?;
        self.audit(
            "member_removed",
            "UserGroup",
            id,
            Some(
                json!({"user_id": user_id, "group_id": group_id, "is_admin": is_admin,
                        "expires_at": expires_at.map(|t| dsg_core::Timestamp(t).to_rfc3339())}),
            ),
            None,
        )
        .await?;
        Ok(true)
    }

    /// A membership changed: the member's `updated` stamp moves (their SCIM
    /// `groups` and version changed) and their cached answers go.
    async fn touch_member(&mut self, user_id: i64) -> Result<()> {
        const SQL: &str = "UPDATE dsg_user SET updated = $1 WHERE id = $2";
        on_tx!(&mut self.tx, conn => sqlx::query(SQL).bind(now_micros()).bind(user_id).execute(conn).await.map(|r| r.rows_affected()))?;
        self.invalidate(CacheEvent::User(user_id));
        Ok(())
    }
}
