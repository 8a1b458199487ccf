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
        let id = self
            .create_user(&crate::users::NewUser {
                email: f.user_name.clone(),
                name: f.given_name.clone(),
                display_name: f.display_name.clone(),
                admin: f.admin,
                active: f.active,
                pi: f.pi.clone(),
                family_name: f.family_name.clone(),
                formatted_name: f.formatted.clone(),
                gdpr_consent: f.gdpr_consent,
                external_id: f.external_id.clone(),
                provisioned: true,
                via: Some("scim"),
                ..Default::default()
            })
            .await
            .map_err(|e| match e {
                crate::StoreError::Domain(DomainError::Conflict(_)) => {
                    conflict("User already exists")
                }
                e => e,
            })?;
        crate::invitations::redeem_for_user(self, id, &f.user_name).await?;
        Ok(id)
    }

    /// Replaces a user's attributes if its `updated` stamp is still `seen`.
    ///
    /// # Errors
    /// [`DomainError::Conflict`] when `userName` or `externalId` is taken.
    pub async fn scim_replace_user(&mut self, id: i64, seen: i64, f: &UserFields) -> Result<bool> {
        crate::users::check_not_reserved(&f.user_name)?;
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
        self.user_changed(
            id,
            None,
            json!({"via": "scim", "userName": f.user_name,
            "active": f.active, "admin": f.admin, "displayName": f.display_name}),
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

    /// Makes `wanted` exactly the group's members, through the membership
    /// writers every front-end uses.
    async fn sync_members(&mut self, group_id: i64, wanted: &[i64]) -> Result<()> {
        let current = self
            .ids(
                "SELECT user_id FROM user_group WHERE group_id = $1",
                &[Arg::I(group_id)],
            )
            .await?;
        for u in current.iter().filter(|u| !wanted.contains(u)) {
            self.remove_member(*u, group_id).await?;
        }
        for u in wanted.iter().filter(|u| !current.contains(u)) {
            self.add_member(*u, group_id, false, None).await?;
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
        let id = self
            .add_group(&f.display_name, f.external_id.as_deref(), Some("scim"))
            .await
            .map_err(|e| match e {
                crate::StoreError::Domain(DomainError::Conflict(_)) => {
                    conflict("Group already exists")
                }
                e => e,
            })?;
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

    /// Creates a dataset with its service tables (existing mappings move here).
    ///
    /// # Errors
    /// Conflicts; an unknown `tosId`.
    pub async fn scim_create_dataset(&mut self, f: &DatasetFields) -> Result<i64> {
        self.check_dataset(f, 0).await?;
        self.add_dataset(&crate::datasets::NewDataset {
            name: &f.name,
            description: &f.description,
            access_mode: "closed",
            tos_id: f.tos_id,
            external_id: f.external_id.as_deref(),
            service_tables: &f.service_tables,
            via: Some("scim"),
        })
        .await
        .map_err(|e| match e {
            crate::StoreError::Domain(DomainError::Conflict(_)) => {
                conflict("Dataset already exists")
            }
            e => e,
        })
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
        self.map_service_tables(id, &f.service_tables).await?;
        self.dataset_changed(
            id,
            json!({"name": f.name, "tos_id": f.tos_id,
            "service_tables": f.service_tables, "via": "scim"}),
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
