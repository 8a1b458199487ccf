//! SCIM persistence: filtered, sorted, paged reads evaluated in SQL; the
//! rendering of rows as SCIM resources; writes (in [`write`]) and SCIM
//! bearer tokens (in [`tokens`]).

/// Binds every [`Arg`] to a query, in order.
macro_rules! bind_args {
    ($q:expr, $args:expr) => {{
        let mut q = $q;
        for a in $args {
            q = match a {
                $crate::scim::sql::Arg::S(s) => q.bind(s.clone()),
                $crate::scim::sql::Arg::I(i) => q.bind(*i),
                $crate::scim::sql::Arg::B(b) => q.bind(*b),
                $crate::scim::sql::Arg::OS(s) => q.bind(s.clone()),
                $crate::scim::sql::Arg::OI(i) => q.bind(*i),
            };
        }
        q
    }};
}

pub mod sql;
pub mod tokens;
pub mod write;

use std::collections::HashMap;

use dsg_core::Timestamp;
use dsg_core::permissions::public_name;
use dsg_core::scim::cond::Cond;
use dsg_core::scim::schema::{AttrRef, DATASET, GROUP, Kind, USER, USER_EXT};
use dsg_core::token::TokenHash;
use serde_json::{Map, Value, json};

use crate::{Backend, Result, Store, on_db, placeholders};
use sql::{Arg, SqlBuilder};

/// A list query: `WHERE` and `ORDER BY` built from a filter and `sortBy`.
#[derive(Debug, Clone)]
pub struct ScimQuery {
    kind: Kind,
    where_sql: String,
    order_sql: String,
    args: Vec<Arg>,
}

impl ScimQuery {
    /// Translates a bound filter and sort key.
    ///
    /// # Errors
    /// An attribute that cannot be filtered on ([`QueryError::Filter`]) or sorted by
    /// ([`QueryError::Sort`]).
    pub fn build(
        backend: Backend,
        kind: Kind,
        filter: Option<&Cond>,
        sort: Option<(AttrRef, bool)>,
    ) -> std::result::Result<Self, QueryError> {
        let mut b = SqlBuilder::new(backend, Vec::new());
        let where_sql = match filter {
            Some(c) => b.cond(kind, c).map_err(QueryError::Filter)?,
            None => "(1 = 1)".into(),
        };
        let order_sql = match sort {
            Some((r, desc)) => format!("{}, ", b.order(kind, &r, desc).map_err(QueryError::Sort)?),
            None => String::new(),
        };
        Ok(Self {
            kind,
            where_sql,
            order_sql,
            args: b.args,
        })
    }
}

/// Why a list query cannot be built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryError {
    /// The filter names an attribute that cannot be filtered on.
    Filter(String),
    /// `sortBy` names an attribute that cannot be sorted by.
    Sort(String),
}

impl std::fmt::Display for QueryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Filter(m) | Self::Sort(m) => f.write_str(m),
        }
    }
}

/// One page of a list.
#[derive(Debug, Clone)]
pub struct Page {
    /// Matches in total.
    pub total: i64,
    /// The page's resources, rendered.
    pub resources: Vec<Value>,
}

#[derive(sqlx::FromRow)]
struct UserRow {
    id: i64,
    scim_id: String,
    email: String,
    name: String,
    family_name: String,
    formatted_name: String,
    display_name: String,
    is_active: bool,
    admin: bool,
    pi: String,
    gdpr_consent: bool,
    parent_id: Option<i64>,
    external_id: Option<String>,
    created: i64,
    updated: i64,
}

const USER_COLS: &str = "u.id, u.scim_id, u.email, u.name, u.family_name, u.formatted_name, \
     u.display_name, u.is_active, u.admin, u.pi, u.gdpr_consent, u.parent_id, u.external_id, \
     u.created, u.updated";

#[derive(sqlx::FromRow)]
struct GroupRow {
    id: i64,
    scim_id: String,
    name: String,
    external_id: Option<String>,
    created: i64,
    updated: i64,
}

const GROUP_COLS: &str = "g.id, g.scim_id, g.name, g.external_id, g.created, g.updated";

#[derive(sqlx::FromRow)]
struct DatasetRow {
    id: i64,
    scim_id: String,
    name: String,
    description: String,
    tos_id: Option<i64>,
    external_id: Option<String>,
    created: i64,
    updated: i64,
}

const DATASET_COLS: &str =
    "d.id, d.scim_id, d.name, d.description, d.tos_id, d.external_id, d.created, d.updated";

fn from_clause(kind: Kind) -> (&'static str, &'static str, &'static str) {
    match kind {
        Kind::User => ("dsg_user u", "u.scim_deleted_at IS NULL", "u.id"),
        Kind::Group => ("dsg_group g", "1 = 1", "g.id"),
        Kind::Dataset => ("dataset d", "1 = 1", "d.id"),
    }
}

/// The entity tag of a rendered resource: a digest of everything but `meta`.
pub fn version_of(resource: &Value) -> String {
    let mut v = resource.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("meta");
    }
    format!("W/\"{}\"", &TokenHash::of(&v.to_string()).to_hex()[..20])
}

fn meta(kind: Kind, base: &str, id: &str, created: i64, updated: i64) -> Value {
    json!({
        "resourceType": kind.name(),
        "created": Timestamp(created).to_rfc3339(),
        "lastModified": Timestamp(updated).to_rfc3339(),
        "location": format!("{base}/{}/{id}", kind.endpoint()),
    })
}

fn finish(mut v: Value) -> Value {
    let version = version_of(&v);
    if let Some(m) = v.get_mut("meta").and_then(Value::as_object_mut) {
        m.insert("version".into(), Value::String(version));
    }
    v
}

fn put_nonempty(m: &mut Map<String, Value>, key: &str, s: &str) {
    if !s.is_empty() {
        m.insert(key.to_owned(), Value::String(s.to_owned()));
    }
}

fn render_user(u: &UserRow, groups: &[(String, String)], base: &str) -> Value {
    let mut r = Map::new();
    r.insert("schemas".into(), json!([USER, USER_EXT]));
    r.insert("id".into(), json!(u.scim_id));
    if let Some(x) = &u.external_id {
        r.insert("externalId".into(), json!(x));
    }
    r.insert("userName".into(), json!(u.email));
    let mut name = Map::new();
    put_nonempty(&mut name, "formatted", &u.formatted_name);
    put_nonempty(&mut name, "familyName", &u.family_name);
    put_nonempty(&mut name, "givenName", &u.name);
    if !name.is_empty() {
        r.insert("name".into(), Value::Object(name));
    }
    put_nonempty(&mut r, "displayName", &u.display_name);
    r.insert("active".into(), json!(u.is_active));
    r.insert(
        "emails".into(),
        json!([{"value": u.email, "type": "work", "primary": true}]),
    );
    // Always present (`[]` when empty): clients read it without a presence check.
    let g: Vec<Value> = groups
        .iter()
        .map(|(id, name)| json!({"value": id, "$ref": format!("{base}/Groups/{id}"), "display": name}))
        .collect();
    r.insert("groups".into(), Value::Array(g));
    let mut ext = Map::new();
    ext.insert("admin".into(), json!(u.admin));
    put_nonempty(&mut ext, "pi", &u.pi);
    ext.insert("gdprConsent".into(), json!(u.gdpr_consent));
    // Read-only; reflects the legacy parent link (spec §9.3), always present.
    ext.insert("serviceAccount".into(), json!(u.parent_id.is_some()));
    r.insert(USER_EXT.into(), Value::Object(ext));
    r.insert(
        "meta".into(),
        meta(Kind::User, base, &u.scim_id, u.created, u.updated),
    );
    finish(Value::Object(r))
}

fn render_group(g: &GroupRow, members: &[(String, String)], base: &str) -> Value {
    let mut r = Map::new();
    r.insert("schemas".into(), json!([GROUP]));
    r.insert("id".into(), json!(g.scim_id));
    if let Some(x) = &g.external_id {
        r.insert("externalId".into(), json!(x));
    }
    r.insert("displayName".into(), json!(g.name));
    if !members.is_empty() {
        let m: Vec<Value> = members
            .iter()
            .map(|(id, _)| json!({"value": id, "$ref": format!("{base}/Users/{id}")}))
            .collect();
        r.insert("members".into(), Value::Array(m));
    }
    r.insert(
        "meta".into(),
        meta(Kind::Group, base, &g.scim_id, g.created, g.updated),
    );
    let mut v = finish(Value::Object(r));
    // `members.display` is "returned: request": kept aside for projections.
    if let Some(items) = v.get_mut("members").and_then(Value::as_array_mut) {
        for (item, (_, display)) in items.iter_mut().zip(members) {
            item["display"] = json!(display);
        }
    }
    v
}

fn render_dataset(d: &DatasetRow, tables: &[(String, String)], base: &str) -> Value {
    let mut r = Map::new();
    r.insert("schemas".into(), json!([DATASET]));
    r.insert("id".into(), json!(d.scim_id));
    if let Some(x) = &d.external_id {
        r.insert("externalId".into(), json!(x));
    }
    r.insert("name".into(), json!(d.name));
    put_nonempty(&mut r, "description", &d.description);
    if let Some(t) = d.tos_id {
        r.insert("tosId".into(), json!(t));
    }
    if !tables.is_empty() {
        let t: Vec<Value> = tables
            .iter()
            .map(|(s, t)| json!({"serviceName": s, "tableName": t}))
            .collect();
        r.insert("serviceTables".into(), Value::Array(t));
    }
    r.insert(
        "meta".into(),
        meta(Kind::Dataset, base, &d.scim_id, d.created, d.updated),
    );
    finish(Value::Object(r))
}

impl Store {
    /// One page of `kind` matching `query`: `offset` rows skipped, at most `limit` returned.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn scim_list(
        &self,
        query: &ScimQuery,
        offset: i64,
        limit: i64,
        base: &str,
    ) -> Result<Page> {
        let kind = query.kind;
        let (from, live, pk) = from_clause(kind);
        let count_sql = format!(
            "SELECT COUNT(*) FROM {from} WHERE {live} AND {}",
            query.where_sql
        );
        let total: i64 = on_db!(self.db(), pool => {
            bind_args!(sqlx::query_scalar(sqlx::AssertSqlSafe(count_sql.clone())), &query.args)
                .fetch_one(pool)
                .await
        })?;
        if limit <= 0 {
            return Ok(Page {
                total,
                resources: Vec::new(),
            });
        }
        let n = query.args.len();
        let cols = match kind {
            Kind::User => USER_COLS,
            Kind::Group => GROUP_COLS,
            Kind::Dataset => DATASET_COLS,
        };
        // Safe: only whitelisted column expressions and numbered placeholders are interpolated.
        let sql = format!(
            "SELECT {cols} FROM {from} WHERE {live} AND {} ORDER BY {}{pk} LIMIT ${} OFFSET ${}",
            query.where_sql,
            query.order_sql,
            n + 1,
            n + 2
        );
        let mut args = query.args.clone();
        args.push(Arg::I(limit));
        args.push(Arg::I(offset.max(0)));
        let resources = self.fetch_rendered(kind, &sql, &args, base).await?;
        Ok(Page { total, resources })
    }

    /// The live resource with this SCIM id, rendered; `None` when unknown
    /// (or, for users, deleted through SCIM).
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn scim_get(&self, kind: Kind, scim_id: &str, base: &str) -> Result<Option<Value>> {
        let (from, live, pk) = from_clause(kind);
        let cols = match kind {
            Kind::User => USER_COLS,
            Kind::Group => GROUP_COLS,
            Kind::Dataset => DATASET_COLS,
        };
        let alias = &pk[..1];
        let sql = format!("SELECT {cols} FROM {from} WHERE {live} AND {alias}.scim_id = $1");
        let mut found = self
            .fetch_rendered(kind, &sql, &[Arg::S(scim_id.to_owned())], base)
            .await?;
        Ok(found.pop())
    }

    /// The live resource with this internal id, rendered.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn scim_get_internal(
        &self,
        kind: Kind,
        id: i64,
        base: &str,
    ) -> Result<Option<Value>> {
        let (from, live, pk) = from_clause(kind);
        let cols = match kind {
            Kind::User => USER_COLS,
            Kind::Group => GROUP_COLS,
            Kind::Dataset => DATASET_COLS,
        };
        let sql = format!("SELECT {cols} FROM {from} WHERE {live} AND {pk} = $1");
        let mut found = self.fetch_rendered(kind, &sql, &[Arg::I(id)], base).await?;
        Ok(found.pop())
    }

    async fn fetch_rendered(
        &self,
        kind: Kind,
        sql: &str,
        args: &[Arg],
        base: &str,
    ) -> Result<Vec<Value>> {
        let sql = sql.to_owned();
        match kind {
            Kind::User => {
                let rows: Vec<UserRow> = on_db!(self.db(), pool => {
                    bind_args!(sqlx::query_as(sqlx::AssertSqlSafe(sql.clone())), args).fetch_all(pool).await
                })?;
                let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
                let mut groups = self
                    .related(
                        "SELECT ug.user_id, g.scim_id, g.name FROM user_group ug \
                         JOIN dsg_group g ON g.id = ug.group_id WHERE ug.user_id IN ({}) ORDER BY g.name, g.id",
                        &ids,
                    )
                    .await?;
                Ok(rows
                    .iter()
                    .map(|r| {
                        render_user(r, groups.remove(&r.id).as_deref().unwrap_or_default(), base)
                    })
                    .collect())
            }
            Kind::Group => {
                let rows: Vec<GroupRow> = on_db!(self.db(), pool => {
                    bind_args!(sqlx::query_as(sqlx::AssertSqlSafe(sql.clone())), args).fetch_all(pool).await
                })?;
                let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
                let members_raw = self.related_users(&ids).await?;
                Ok(rows
                    .iter()
                    .map(|r| {
                        render_group(
                            r,
                            members_raw
                                .get(&r.id)
                                .map(Vec::as_slice)
                                .unwrap_or_default(),
                            base,
                        )
                    })
                    .collect())
            }
            Kind::Dataset => {
                let rows: Vec<DatasetRow> = on_db!(self.db(), pool => {
                    bind_args!(sqlx::query_as(sqlx::AssertSqlSafe(sql.clone())), args).fetch_all(pool).await
                })?;
                let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
                let mut tables = self
                    .related(
                        "SELECT dataset_id, service_name, table_name FROM service_table \
                         WHERE dataset_id IN ({}) ORDER BY service_name, table_name",
                        &ids,
                    )
                    .await?;
                Ok(rows
                    .iter()
                    .map(|r| {
                        render_dataset(r, tables.remove(&r.id).as_deref().unwrap_or_default(), base)
                    })
                    .collect())
            }
        }
    }

    /// `(owner, a, b)` rows for owners in `ids`, grouped by owner. `template`
    /// has one `{}` for the placeholder list.
    async fn related(
        &self,
        template: &str,
        ids: &[i64],
    ) -> Result<HashMap<i64, Vec<(String, String)>>> {
        let mut out: HashMap<i64, Vec<(String, String)>> = HashMap::new();
        for chunk in ids.chunks(500) {
            // Safe: only numbered placeholders are interpolated into a constant template.
            let sql = template.replace("{}", &placeholders(1, chunk.len()));
            let rows: Vec<(i64, String, String)> = on_db!(self.db(), pool => {
                let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()));
                for id in chunk {
                    q = q.bind(*id);
                }
                q.fetch_all(pool).await
            })?;
            for (owner, a, b) in rows {
                out.entry(owner).or_default().push((a, b));
            }
        }
        Ok(out)
    }

    async fn related_users(
        &self,
        group_ids: &[i64],
    ) -> Result<HashMap<i64, Vec<(String, String)>>> {
        let mut out: HashMap<i64, Vec<(String, String)>> = HashMap::new();
        for chunk in group_ids.chunks(500) {
            let sql = format!(
                "SELECT ug.group_id, mu.scim_id, mu.display_name, mu.name, mu.email FROM user_group ug \
                 JOIN dsg_user mu ON mu.id = ug.user_id \
                 WHERE mu.scim_deleted_at IS NULL AND ug.group_id IN ({}) ORDER BY ug.id",
                placeholders(1, chunk.len())
            );
            let rows: Vec<(i64, String, String, String, String)> = on_db!(self.db(), pool => {
                let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()));
                for id in chunk {
                    q = q.bind(*id);
                }
                q.fetch_all(pool).await
            })?;
            for (g, id, display, name, email) in rows {
                out.entry(g)
                    .or_default()
                    .push((id, public_name(&display, &name, &email)));
            }
        }
        Ok(out)
    }
}
