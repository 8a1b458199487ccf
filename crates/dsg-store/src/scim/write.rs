//! SCIM writes. Each runs inside the caller's [`WriteTx`], so the change,
//! its audit rows and its cache events commit together. Replacements are
//! optimistic: they name the `updated` stamp they read, and report `false`
//! when the row changed meanwhile (the caller answers 412).

use dsg_core::DomainError;
use dsg_core::scim::fields::{DatasetFields, GroupFields, UserFields};
use dsg_core::scim::schema::Kind;
use serde_json::json;

use super::sql::Arg;
use crate::events::CacheEvent;
use crate::{Result, WriteTx, now_micros, on_tx};

fn conflict(m: &str) -> crate::StoreError {
    DomainError::Conflict(m.to_owned()).into()
}

fn invalid(m: String) -> crate::StoreError {
    DomainError::Invalid(m).into()
}

fn s(v: &str) -> Arg {
    Arg::S(v.to_owned())
}

impl WriteTx {
    async fn exec(&mut self, sql: &'static str, args: &[Arg]) -> Result<u64> {
        Ok(on_tx!(&mut self.tx, conn => {
            bind_args!(sqlx::query(sql), args).execute(conn).await.map(|r| r.rows_affected())
        })?)
    }

    async fn ids(&mut self, sql: &'static str, args: &[Arg]) -> Result<Vec<i64>> {
        Ok(on_tx!(&mut self.tx, conn => {
            bind_args!(sqlx::query_scalar(sql), args).fetch_all(conn).await
        })?)
    }

    async fn first_id(&mut self, sql: &'static str, args: &[Arg]) -> Result<Option<i64>> {
        Ok(self.ids(sql, args).await?.into_iter().next())
    }

    /// Internal id of a live SCIM resource.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn scim_internal_id(&mut self, kind: Kind, scim_id: &str) -> Result<Option<i64>> {
        let sql = match kind {
            Kind::User => "SELECT id FROM dsg_user WHERE scim_id = $1 AND scim_deleted_at IS NULL",
            Kind::Group => "SELECT id FROM dsg_group WHERE scim_id = $1",
            Kind::Dataset => "SELECT id FROM dataset WHERE scim_id = $1",
        };
        self.first_id(sql, &[s(scim_id)]).await
    }

    /// 409 when a row other than `me` already holds the name (`name_sql`) or
    /// the externalId (`external_sql`); both queries take `($1 value, $2 me)`.
    async fn check_unique(
        &mut self,
        (name_sql, name, taken): (&'static str, &str, &str),
        (external_sql, external_id): (&'static str, Option<&str>),
        me: i64,
    ) -> Result<()> {
        if self
            .first_id(name_sql, &[s(name), Arg::I(me)])
            .await?
            .is_some()
        {
            return Err(conflict(taken));
        }
        if let Some(x) = external_id
            && self
                .first_id(external_sql, &[s(x), Arg::I(me)])
                .await?
                .is_some()
        {
            return Err(conflict("externalId is already in use"));
        }
        Ok(())
    }

    async fn check_user_unique(&mut self, f: &UserFields, me: Option<i64>) -> Result<()> {
        self.check_unique(
            (
                "SELECT id FROM dsg_user WHERE lower(email) = lower($1) AND id <> $2 AND scim_deleted_at IS NULL",
                &f.user_name,
                "User already exists",
            ),
            (
                "SELECT id FROM dsg_user WHERE external_id = $1 AND id <> $2",
                f.external_id.as_deref(),
            ),
            me.unwrap_or(0),
        )
        .await
    }

    fn user_args(f: &UserFields) -> Vec<Arg> {
        vec![
            s(&f.user_name),
            s(&f.given_name),
            s(&f.family_name),
            s(&f.formatted),
            s(&f.display_name),
            Arg::B(f.active),
            Arg::B(f.admin),
            s(&f.pi),
            Arg::B(f.gdpr_consent),
            Arg::OS(f.external_id.clone()),
        ]
    }

    /// Creates a user (or revives one deleted through SCIM with this
    /// `userName`, under a new id); returns the internal id.
    ///
    /// # Errors
    /// [`DomainError::Conflict`] when `userName` or `externalId` is taken.
    pub async fn scim_create_user(&mut self, f: &UserFields) -> Result<i64> {
        self.check_user_unique(f, None).await?;
        let now = now_micros();
        let scim_id = uuid::Uuid::new_v4().to_string();
        let mut args = Self::user_args(f);
        args.push(s(&scim_id));
        args.push(Arg::I(now));
        let revived = self
            .first_id(
                "SELECT id FROM dsg_user WHERE lower(email) = lower($1) AND scim_deleted_at IS NOT NULL",
                &[s(&f.user_name)],
            )
            .await?;
        let id = match revived {
            Some(id) => {
                args.push(Arg::I(id));
                self.exec(
                    "UPDATE dsg_user SET email = $1, name = $2, family_name = $3, formatted_name = $4, \
                     display_name = $5, is_active = $6, admin = $7, pi = $8, gdpr_consent = $9, \
                     external_id = $10, scim_id = $11, updated = $12, scim_deleted_at = NULL WHERE id = $13",
                    &args,
                )
                .await?;
                id
            }
            None => self
                .first_id(
                    "INSERT INTO dsg_user (email, name, family_name, formatted_name, display_name, is_active, \
                     admin, pi, gdpr_consent, external_id, scim_id, created, updated) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12) RETURNING id",
                    &args,
                )
                .await
                .map_err(|e| if e.is_unique_violation() { conflict("User already exists") } else { e })?
                .ok_or_else(|| invalid("insert returned nothing".into()))?,
        };
        self.invalidate(CacheEvent::User(id));
        self.audit(
            "user_created",
            "User",
            id,
            None,
            Some(json!({"via": "scim", "userName": f.user_name,
            "active": f.active, "admin": f.admin, "revived": revived.is_some()})),
        )
        .await?;
        crate::invitations::redeem_for_user(self, id, &f.user_name).await?;
        Ok(id)
    }

    /// Replaces a user's attributes if its `updated` stamp is still `seen`.
    ///
    /// # Errors
    /// [`DomainError::Conflict`] when `userName` or `externalId` is taken.
    pub async fn scim_replace_user(&mut self, id: i64, seen: i64, f: &UserFields) -> Result<bool> {
        self.check_user_unique(f, Some(id)).await?;
        let mut args = Self::user_args(f);
        args.push(Arg::I(now_micros().max(seen + 1)));
        args.push(Arg::I(id));
        args.push(Arg::I(seen));
        let n = self
            .exec(
                "UPDATE dsg_user SET email = $1, name = $2, family_name = $3, formatted_name = $4, \
                 display_name = $5, is_active = $6, admin = $7, pi = $8, gdpr_consent = $9, \
                 external_id = $10, updated = $11 WHERE id = $12 AND updated = $13 AND scim_deleted_at IS NULL",
                &args,
            )
            .await
            .map_err(|e| if e.is_unique_violation() { conflict("User already exists") } else { e })?;
        if n == 0 {
            return Ok(false);
        }
        self.invalidate(CacheEvent::User(id));
        self.audit(
            "user_updated",
            "User",
            id,
            None,
            Some(json!({"via": "scim", "userName": f.user_name,
            "active": f.active, "admin": f.admin, "displayName": f.display_name})),
        )
        .await?;
        Ok(true)
    }

    /// SCIM DELETE of a user: deactivates it, leaves its groups, clears its
    /// `externalId` and hides it from SCIM (its id answers 404 from now on).
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn scim_delete_user(&mut self, id: i64) -> Result<()> {
        let now = now_micros();
        let groups = self
            .ids(
                "SELECT group_id FROM user_group WHERE user_id = $1",
                &[Arg::I(id)],
            )
            .await?;
        self.exec("DELETE FROM user_group WHERE user_id = $1", &[Arg::I(id)])
            .await?;
        for g in &groups {
            self.exec(
                "UPDATE dsg_group SET updated = $1 WHERE id = $2",
                &[Arg::I(now), Arg::I(*g)],
            )
            .await?;
        }
        self.exec(
            "UPDATE dsg_user SET is_active = FALSE, scim_deleted_at = $1, external_id = NULL, updated = $1 WHERE id = $2",
            &[Arg::I(now), Arg::I(id)],
        )
        .await?;
        self.invalidate(CacheEvent::User(id));
        self.audit(
            "user_deleted",
            "User",
            id,
            Some(json!({"groups": groups})),
            Some(json!({"via": "scim", "active": false, "deactivated": true})),
        )
        .await?;
        Ok(())
    }

    async fn resolve_members(&mut self, members: &[String]) -> Result<Vec<i64>> {
        let mut out = Vec::with_capacity(members.len());
        for m in members {
            match self.scim_internal_id(Kind::User, m).await? {
                Some(id) if !out.contains(&id) => out.push(id),
                // Unknown ids are skipped, as the original does: an identity
                // provider may add a member before provisioning the user.
                Some(_) | None => {}
            }
        }
        Ok(out)
    }

    async fn sync_members(&mut self, group_id: i64, wanted: &[i64]) -> Result<()> {
        let now = now_micros();
        let current = self
            .ids(
                "SELECT user_id FROM user_group WHERE group_id = $1",
                &[Arg::I(group_id)],
            )
            .await?;
        for u in current.iter().filter(|u| !wanted.contains(u)) {
            self.exec(
                "DELETE FROM user_group WHERE group_id = $1 AND user_id = $2",
                &[Arg::I(group_id), Arg::I(*u)],
            )
            .await?;
            self.revoke_group_scoped_grants(*u, group_id).await?;
            self.exec(
                "UPDATE dsg_user SET updated = $1 WHERE id = $2",
                &[Arg::I(now), Arg::I(*u)],
            )
            .await?;
            self.invalidate(CacheEvent::User(*u));
            self.audit(
                "member_removed",
                "UserGroup",
                format!("{group_id}:{u}"),
                Some(json!({"user_id": u, "group_id": group_id})),
                None,
            )
            .await?;
        }
        for u in wanted.iter().filter(|u| !current.contains(u)) {
            self.exec(
                "INSERT INTO user_group (user_id, group_id, is_admin, created) VALUES ($1, $2, FALSE, $3)",
                &[Arg::I(*u), Arg::I(group_id), Arg::I(now)],
            )
            .await?;
            self.exec(
                "UPDATE dsg_user SET updated = $1 WHERE id = $2",
                &[Arg::I(now), Arg::I(*u)],
            )
            .await?;
            self.invalidate(CacheEvent::User(*u));
            self.audit(
                "member_added",
                "UserGroup",
                format!("{group_id}:{u}"),
                None,
                Some(json!({"user_id": u, "group_id": group_id, "via": "scim"})),
            )
            .await?;
        }
        Ok(())
    }

    async fn check_group_unique(&mut self, f: &GroupFields, me: i64) -> Result<()> {
        self.check_unique(
            (
                "SELECT id FROM dsg_group WHERE lower(name) = lower($1) AND id <> $2",
                &f.display_name,
                "Group already exists",
            ),
            (
                "SELECT id FROM dsg_group WHERE external_id = $1 AND id <> $2",
                f.external_id.as_deref(),
            ),
            me,
        )
        .await
    }

    /// Creates a group with its members (unknown member ids are skipped);
    /// returns the internal id.
    ///
    /// # Errors
    /// Conflicts.
    pub async fn scim_create_group(&mut self, f: &GroupFields) -> Result<i64> {
        self.check_group_unique(f, 0).await?;
        let members = self.resolve_members(&f.members).await?;
        let now = now_micros();
        let id = self
            .first_id(
                "INSERT INTO dsg_group (name, scim_id, external_id, created, updated) VALUES ($1, $2, $3, $4, $4) RETURNING id",
                &[s(&f.display_name), s(&uuid::Uuid::new_v4().to_string()), Arg::OS(f.external_id.clone()), Arg::I(now)],
            )
            .await
            .map_err(|e| if e.is_unique_violation() { conflict("Group already exists") } else { e })?
            .ok_or_else(|| invalid("insert returned nothing".into()))?;
        self.audit(
            "group_created",
            "Group",
            id,
            None,
            Some(json!({"name": f.display_name, "via": "scim"})),
        )
        .await?;
        self.sync_members(id, &members).await?;
        Ok(id)
    }

    /// Replaces a group (name, externalId, members) if still at `seen`.
    ///
    /// # Errors
    /// Conflicts.
    pub async fn scim_replace_group(
        &mut self,
        id: i64,
        seen: i64,
        f: &GroupFields,
    ) -> Result<bool> {
        self.check_group_unique(f, id).await?;
        let members = self.resolve_members(&f.members).await?;
        let n = self
            .exec(
                "UPDATE dsg_group SET name = $1, external_id = $2, updated = $3 WHERE id = $4 AND updated = $5",
                &[s(&f.display_name), Arg::OS(f.external_id.clone()), Arg::I(now_micros().max(seen + 1)), Arg::I(id), Arg::I(seen)],
            )
            .await
            .map_err(|e| if e.is_unique_violation() { conflict("Group already exists") } else { e })?;
        if n == 0 {
            return Ok(false);
        }
        // The name appears in permission documents.
        self.invalidate(CacheEvent::All);
        self.audit(
            "group_updated",
            "Group",
            id,
            None,
            Some(json!({"name": f.display_name, "via": "scim"})),
        )
        .await?;
        self.sync_members(id, &members).await?;
        Ok(true)
    }

    /// Deletes a group (memberships and group-scoped grants go with it).
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn scim_delete_group(&mut self, id: i64) -> Result<()> {
        let members = self
            .ids(
                "SELECT user_id FROM user_group WHERE group_id = $1",
                &[Arg::I(id)],
            )
            .await?;
        self.exec("DELETE FROM dsg_group WHERE id = $1", &[Arg::I(id)])
            .await?;
        for u in &members {
            self.invalidate(CacheEvent::User(*u));
        }
        self.invalidate(CacheEvent::All);
        self.audit(
            "group_deleted",
            "Group",
            id,
            Some(json!({"members": members})),
            Some(json!({"via": "scim"})),
        )
        .await?;
        Ok(())
    }

    async fn check_dataset(&mut self, f: &DatasetFields, me: i64) -> Result<()> {
        self.check_unique(
            (
                "SELECT id FROM dataset WHERE name = $1 AND id <> $2",
                &f.name,
                "Dataset already exists",
            ),
            (
                "SELECT id FROM dataset WHERE external_id = $1 AND id <> $2",
                f.external_id.as_deref(),
            ),
            me,
        )
        .await?;
        if let Some(t) = f.tos_id
            && self
                .first_id("SELECT id FROM tos_document WHERE id = $1", &[Arg::I(t)])
                .await?
                .is_none()
        {
            return Err(invalid(format!(
                "tosId: no terms-of-service document has id {t}"
            )));
        }
        Ok(())
    }

    async fn sync_service_tables(
        &mut self,
        dataset_id: i64,
        wanted: &[(String, String)],
    ) -> Result<()> {
        let current: Vec<(i64, String, String)> = on_tx!(&mut self.tx, conn => {
            sqlx::query_as("SELECT id, service_name, table_name FROM service_table WHERE dataset_id = $1")
                .bind(dataset_id).fetch_all(conn).await
        })?;
        for (id, svc, table) in &current {
            if !wanted.iter().any(|(s2, t2)| s2 == svc && t2 == table) {
                self.exec("DELETE FROM service_table WHERE id = $1", &[Arg::I(*id)])
                    .await?;
            }
        }
        for (svc, table) in wanted {
            self.exec(
                "INSERT INTO service_table (service_name, table_name, dataset_id) VALUES ($1, $2, $3) \
                 ON CONFLICT (service_name, table_name) DO UPDATE SET dataset_id = excluded.dataset_id",
                &[s(svc), s(table), Arg::I(dataset_id)],
            )
            .await?;
        }
        Ok(())
    }

    /// Creates a dataset with its service tables (existing mappings move here).
    ///
    /// # Errors
    /// Conflicts; an unknown `tosId`.
    pub async fn scim_create_dataset(&mut self, f: &DatasetFields) -> Result<i64> {
        self.check_dataset(f, 0).await?;
        let now = now_micros();
        let id = self
            .first_id(
                "INSERT INTO dataset (name, description, tos_id, scim_id, external_id, created, updated) \
                 VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
                &[s(&f.name), s(&f.description), Arg::OI(f.tos_id), s(&uuid::Uuid::new_v4().to_string()),
                  Arg::OS(f.external_id.clone()), Arg::I(now)],
            )
            .await
            .map_err(|e| if e.is_unique_violation() { conflict("Dataset already exists") } else { e })?
            .ok_or_else(|| invalid("insert returned nothing".into()))?;
        self.sync_service_tables(id, &f.service_tables).await?;
        self.invalidate(CacheEvent::All);
        self.audit(
            "dataset_created",
            "Dataset",
            id,
            None,
            Some(json!({"name": f.name, "tos_id": f.tos_id,
            "service_tables": f.service_tables, "via": "scim"})),
        )
        .await?;
        Ok(id)
    }

    /// Replaces a dataset if still at `seen`.
    ///
    /// # Errors
    /// Conflicts; an unknown `tosId`.
    pub async fn scim_replace_dataset(
        &mut self,
        id: i64,
        seen: i64,
        f: &DatasetFields,
    ) -> Result<bool> {
        self.check_dataset(f, id).await?;
        let n = self
            .exec(
                "UPDATE dataset SET name = $1, description = $2, tos_id = $3, external_id = $4, updated = $5 \
                 WHERE id = $6 AND updated = $7",
                &[s(&f.name), s(&f.description), Arg::OI(f.tos_id), Arg::OS(f.external_id.clone()),
                  Arg::I(now_micros().max(seen + 1)), Arg::I(id), Arg::I(seen)],
            )
            .await
            .map_err(|e| if e.is_unique_violation() { conflict("Dataset already exists") } else { e })?;
        if n == 0 {
            return Ok(false);
        }
        self.sync_service_tables(id, &f.service_tables).await?;
        self.invalidate(CacheEvent::All);
        self.audit(
            "dataset_updated",
            "Dataset",
            id,
            None,
            Some(json!({"name": f.name, "tos_id": f.tos_id,
            "service_tables": f.service_tables, "via": "scim"})),
        )
        .await?;
        Ok(true)
    }

    /// Deletes a dataset and everything hanging off it.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn scim_delete_dataset(&mut self, id: i64) -> Result<()> {
        self.exec("DELETE FROM dataset WHERE id = $1", &[Arg::I(id)])
            .await?;
        self.invalidate(CacheEvent::All);
        self.audit(
            "dataset_deleted",
            "Dataset",
            id,
            None,
            Some(json!({"via": "scim"})),
        )
        .await?;
        Ok(())
    }
}
