//! The admin console's storage: generic listing (search, filters, sort,
//! paging), reading and form parsing driven by the entity descriptions in
//! [`model`], and the writes behind the console's forms.
//!
//! Creates and most deletes call the same [`WriteTx`] operations as the API
//! (validation, audit row, cache events). Edits and the remaining deletes go
//! through [`WriteTx::console_update`] / [`WriteTx::console_delete`], which
//! follow the same pattern: the audit row (before and after of what changed,
//! or what a delete took with it) and the cache events commit with the
//! change. SQL here is assembled only from the static descriptions; every
//! value is bound.

pub mod model;

use std::collections::BTreeMap;

use dsg_core::error::EntityKind;
use dsg_core::{DomainError, Timestamp};
use serde_json::{Value, json};
use sqlx::Row;

pub use model::{ENTITIES, Edit, Effect, Entity, Field, Invalidate, Kind, entity};

use crate::events::CacheEvent;
use crate::{Result, Store, WriteTx, now_micros, on_db, on_tx};

/// A typed value bound into console SQL.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    /// Integer (ids, times, numbers).
    I(i64),
    /// Text.
    S(String),
    /// Boolean.
    B(bool),
    /// SQL NULL in an integer column.
    Null,
}

impl Val {
    /// The canonical text form (as [`canon`] gives for stored values).
    fn canon(&self, kind: Kind) -> Option<String> {
        match self {
            Self::I(i) => Some(i.to_string()),
            Self::S(s) => Some(s.clone()),
            Self::B(b) => Some(b.to_string()),
            Self::Null => None,
        }
        .map(|s| if kind == Kind::Bool { bool_text(&s) } else { s })
    }

    fn int(&self) -> Option<i64> {
        match self {
            Self::I(i) => Some(*i),
            _ => None,
        }
    }
}

fn bool_text(s: &str) -> String {
    matches!(s, "1" | "true" | "t").to_string()
}

/// Normalises a stored value read as text: booleans become `true`/`false`
/// whatever the backend.
pub fn canon(kind: Kind, v: Option<String>) -> Option<String> {
    match kind {
        Kind::Bool => v.map(|s| bool_text(&s)),
        _ => v,
    }
}

/// Parsed form values by column.
pub type Values = BTreeMap<&'static str, Val>;

/// Per-field error messages.
pub type FieldErrors = BTreeMap<&'static str, String>;

/// What the list page asks for.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// Search text (matched case-insensitively in the searchable fields).
    pub search: String,
    /// Exact filters: column → raw value (`none` matches an empty reference).
    pub filters: Vec<(String, String)>,
    /// Sort column.
    pub sort: Option<String>,
    /// Descending.
    pub desc: bool,
    /// 1-based page.
    pub page: i64,
    /// Rows per page.
    pub per_page: i64,
}

/// One row as the console shows it.
#[derive(Debug, Clone)]
pub struct ConsoleRow {
    /// Id.
    pub id: i64,
    /// Label.
    pub label: String,
    /// Values by field index (canonical text).
    pub values: Vec<Option<String>>,
    /// For reference fields, the referenced row's label, by field index.
    pub refs: Vec<Option<String>>,
}

/// One page of a list.
#[derive(Debug, Clone)]
pub struct ListPage {
    /// The rows.
    pub rows: Vec<ConsoleRow>,
    /// Rows matching in all.
    pub total: i64,
    /// Page shown (1-based, clamped).
    pub page: i64,
    /// Rows per page.
    pub per_page: i64,
}

/// A dependent count for the delete page.
#[derive(Debug, Clone)]
pub struct DependentCount {
    /// The dependent entity.
    pub entity: &'static Entity,
    /// Its column.
    pub column: &'static str,
    /// Cascade or set-null.
    pub effect: Effect,
    /// How many rows.
    pub count: i64,
}

/// The outcome of a create.
#[derive(Debug, Clone)]
pub struct Created {
    /// The new row's id.
    pub id: i64,
    /// A secret shown once (service-account tokens).
    pub secret: Option<String>,
}

fn select_list(e: &Entity) -> String {
    let mut cols = vec![
        "CAST(t.id AS TEXT)".to_owned(),
        format!("CAST(({}) AS TEXT)", e.label_sql("t")),
    ];
    for f in e.fields {
        cols.push(format!("CAST(t.{} AS TEXT)", f.name));
        cols.push(ref_label(f).unwrap_or_else(|| "CAST(NULL AS TEXT)".into()));
    }
    format!("SELECT {} FROM {} t", cols.join(", "), e.table)
}

/// `(SELECT label FROM other r WHERE r.id = t.col)` for a reference field.
fn ref_label(f: &Field) -> Option<String> {
    let Kind::Ref(slug) = f.kind else { return None };
    let other = entity(slug)?;
    Some(format!(
        "(SELECT CAST(({}) AS TEXT) FROM {} r WHERE r.id = t.{})",
        other.label_sql("r"),
        other.table,
        f.name
    ))
}

fn decode<R: Row>(e: &Entity, row: &R) -> Result<ConsoleRow>
where
    usize: sqlx::ColumnIndex<R>,
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    let text = |i: usize| -> Result<Option<String>> { Ok(row.try_get::<Option<String>, _>(i)?) };
    let id = text(0)?.and_then(|s| s.parse().ok()).unwrap_or_default();
    let label = text(1)?.unwrap_or_default();
    let mut values = Vec::with_capacity(e.fields.len());
    let mut refs = Vec::with_capacity(e.fields.len());
    for (i, f) in e.fields.iter().enumerate() {
        values.push(canon(f.kind, text(2 + 2 * i)?));
        refs.push(text(3 + 2 * i)?);
    }
    Ok(ConsoleRow {
        id,
        label,
        values,
        refs,
    })
}

macro_rules! bind_all {
    ($q:expr, $binds:expr) => {{
        let mut q = $q;
        for b in $binds {
            q = match b {
                Val::I(v) => q.bind(*v),
                Val::S(v) => q.bind(v.clone()),
                Val::B(v) => q.bind(*v),
                Val::Null => q.bind(None::<i64>),
            };
        }
        q
    }};
}

/// Parses a filter value for a field.
fn filter_val(f: &Field, raw: &str) -> Result<Option<Val>> {
    let bad = || {
        crate::StoreError::from(DomainError::Invalid(format!(
            "filter {}: {raw:?} is not a valid value",
            f.label
        )))
    };
    Ok(Some(match f.kind {
        Kind::Bool => match raw {
            "true" | "1" | "yes" => Val::B(true),
            "false" | "0" | "no" => Val::B(false),
            _ => return Err(bad()),
        },
        Kind::Ref(_) | Kind::Int => {
            if raw == "none" {
                return Ok(None);
            }
            Val::I(raw.parse().map_err(|_| bad())?)
        }
        Kind::Time | Kind::Json | Kind::LongText => return Err(bad()),
        Kind::Choice(opts) if !opts.contains(&raw) => return Err(bad()),
        _ => Val::S(raw.to_owned()),
    }))
}

impl Store {
    /// One page of an entity's rows.
    ///
    /// # Errors
    /// [`DomainError::Invalid`] for an unknown filter or sort column or a bad
    /// filter value; the database is unreachable.
    pub async fn console_list(&self, e: &Entity, q: &ListQuery) -> Result<ListPage> {
        let mut wh: Vec<String> = Vec::new();
        let mut binds: Vec<Val> = Vec::new();
        for (name, raw) in &q.filters {
            if raw.is_empty() {
                continue;
            }
            let f = e
                .field(name)
                .filter(|f| f.filter || matches!(f.kind, Kind::Ref(_)))
                .ok_or_else(|| DomainError::Invalid(format!("cannot filter by {name:?}")))?;
            match filter_val(f, raw)? {
                Some(v) => {
                    binds.push(v);
                    wh.push(format!("t.{} = ${}", f.name, binds.len()));
                }
                None => wh.push(format!("t.{} IS NULL", f.name)),
            }
        }
        let term = q.search.trim();
        if !term.is_empty() {
            binds.push(Val::S(format!("%{}%", term.to_lowercase())));
            let n = binds.len();
            let mut ors: Vec<String> = e
                .fields
                .iter()
                .filter(|f| f.search)
                .map(|f| {
                    let expr = ref_label(f).unwrap_or_else(|| format!("t.{}", f.name));
                    format!("lower(COALESCE(CAST({expr} AS TEXT), '')) LIKE ${n}")
                })
                .collect();
            if let Ok(id) = term.parse::<i64>() {
                binds.push(Val::I(id));
                ors.push(format!("t.id = ${}", binds.len()));
            }
            if ors.is_empty() {
                wh.push("1 = 0".into());
            } else {
                wh.push(format!("({})", ors.join(" OR ")));
            }
        }
        let where_sql = if wh.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", wh.join(" AND "))
        };
        let dir = |desc: bool| if desc { "DESC" } else { "ASC" };
        let order = match &q.sort {
            Some(name) if !name.is_empty() => {
                let f = e
                    .field(name)
                    .filter(|f| f.sort)
                    .ok_or_else(|| DomainError::Invalid(format!("cannot sort by {name:?}")))?;
                let expr = ref_label(f).unwrap_or_else(|| format!("t.{}", f.name));
                format!(" ORDER BY {expr} {0}, t.id {0}", dir(q.desc))
            }
            _ => format!(" ORDER BY t.id {}", dir(e.newest_first)),
        };
        let per_page = q.per_page.clamp(1, 200);
        let count_sql = format!("SELECT COUNT(*) FROM {} t{where_sql}", e.table);
        let total: i64 = on_db!(self.db(), pool => {
            bind_all!(sqlx::query_scalar(sqlx::AssertSqlSafe(count_sql.clone())), &binds).fetch_one(pool).await
        })?;
        let pages = ((total + per_page - 1) / per_page).max(1);
        let page = q.page.clamp(1, pages);
        let sql = format!(
            "{}{where_sql}{order} LIMIT {per_page} OFFSET {}",
            select_list(e),
            (page - 1) * per_page
        );
        let rows = on_db!(self.db(), pool => {
            let rows = bind_all!(sqlx::query(sqlx::AssertSqlSafe(sql.clone())), &binds).fetch_all(pool).await?;
            rows.iter().map(|r| decode(e, r)).collect::<Result<Vec<_>>>()
        })?;
        Ok(ListPage {
            rows,
            total,
            page,
            per_page,
        })
    }

    /// One row by id.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn console_get(&self, e: &Entity, id: i64) -> Result<Option<ConsoleRow>> {
        let sql = format!("{} WHERE t.id = $1", select_list(e));
        let row = on_db!(self.db(), pool => {
            match sqlx::query(sqlx::AssertSqlSafe(sql.clone())).bind(id).fetch_optional(pool).await? {
                Some(r) => Some(decode(e, &r)?),
                None => None,
            }
        });
        Ok(row)
    }

    /// `(id, label)` of an entity's rows, for selects (at most 1000, by label).
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn console_options(&self, e: &Entity) -> Result<Vec<(i64, String)>> {
        let sql = format!(
            "SELECT t.id, CAST(({}) AS TEXT) FROM {} t ORDER BY 2, 1 LIMIT 1000",
            e.label_sql("t"),
            e.table
        );
        let rows: Vec<(i64, Option<String>)> = on_db!(self.db(), pool => sqlx::query_as(sqlx::AssertSqlSafe(sql.clone())).fetch_all(pool).await)?;
        Ok(rows
            .into_iter()
            .map(|(id, l)| (id, l.unwrap_or_default()))
            .collect())
    }

    /// Distinct values of a text column, for filter selects (at most 200).
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn console_distinct(&self, e: &Entity, f: &Field) -> Result<Vec<String>> {
        let sql = format!(
            "SELECT DISTINCT CAST(t.{} AS TEXT) FROM {} t WHERE t.{} IS NOT NULL ORDER BY 1 LIMIT 200",
            f.name, e.table, f.name
        );
        Ok(
            on_db!(self.db(), pool => sqlx::query_scalar(sqlx::AssertSqlSafe(sql.clone())).fetch_all(pool).await)?,
        )
    }

    /// How many rows of other entities point at a row.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn console_dependents(&self, e: &Entity, id: i64) -> Result<Vec<DependentCount>> {
        let mut out = Vec::new();
        for d in e.dependents {
            let Some(other) = entity(d.entity) else {
                continue;
            };
            let sql = format!(
                "SELECT COUNT(*) FROM {} WHERE {} = $1",
                other.table, d.column
            );
            let count: i64 = on_db!(self.db(), pool => sqlx::query_scalar(sqlx::AssertSqlSafe(sql.clone())).bind(id).fetch_one(pool).await)?;
            out.push(DependentCount {
                entity: other,
                column: d.column,
                effect: d.effect,
                count,
            });
        }
        Ok(out)
    }
}

/// Accepts RFC 3339, a date, or a `datetime-local` value (`YYYY-MM-DDTHH:MM[:SS]`, read as UTC).
pub fn parse_time(raw: &str) -> Option<Timestamp> {
    let s = raw.trim();
    let fixed = match s.len() {
        16 if s
            .as_bytes()
            .get(10)
            .is_some_and(|b| matches!(b, b'T' | b' ')) =>
        {
            format!("{s}:00Z")
        }
        19 => format!("{s}Z"),
        _ => s.to_owned(),
    };
    Timestamp::parse(&fixed)
}

/// Parses a submitted form for an entity: every field settable in this mode,
/// checked against its kind. Checkboxes absent from the form are `false`.
///
/// # Errors
/// The message for each field that is wrong, by field name.
pub fn parse_form(
    e: &Entity,
    creating: bool,
    form: &BTreeMap<String, String>,
) -> std::result::Result<Values, FieldErrors> {
    let mut values = Values::new();
    let mut errors = FieldErrors::new();
    for f in e.fields.iter().filter(|f| f.settable(creating)) {
        let raw = form.get(f.name).map_or("", |s| s.trim());
        if f.kind == Kind::Bool {
            values.insert(f.name, Val::B(matches!(raw, "on" | "true" | "1" | "yes")));
            continue;
        }
        if raw.is_empty() {
            // A TOS document's effective date defaults to now.
            if f.required && !(creating && f.name == "effective_date") {
                errors.insert(f.name, format!("{} is required.", f.label));
            } else {
                let empty = match f.kind {
                    Kind::Ref(_) | Kind::Int | Kind::Time => Val::Null,
                    _ => Val::S(String::new()),
                };
                values.insert(f.name, empty);
            }
            continue;
        }
        let parsed = match f.kind {
            Kind::Email => crate::users::validate_email(raw)
                .map(|()| Val::S(raw.to_owned()))
                .map_err(|_| "Enter an e-mail address such as ada@example.org.".to_owned()),
            Kind::Slug => crate::service_accounts::validate_slug(f.label, raw)
                .map(|()| Val::S(raw.to_owned()))
                .map_err(|_| "Use 1-100 letters, digits, '-' or '_'.".to_owned()),
            Kind::Int | Kind::Ref(_) => raw
                .parse::<i64>()
                .map(Val::I)
                .map_err(|_| "Enter a whole number.".to_owned()),
            Kind::Time => parse_time(raw)
                .map(|t| Val::I(t.0))
                .ok_or_else(|| "Enter a time such as 2026-06-01T12:00 (UTC).".to_owned()),
            Kind::Choice(opts) => {
                if opts.contains(&raw) {
                    Ok(Val::S(raw.to_owned()))
                } else {
                    Err(format!("Choose one of: {}.", opts.join(", ")))
                }
            }
            Kind::Text if raw.contains(['\n', '\r']) => Err("Use a single line.".to_owned()),
            Kind::Text | Kind::LongText => Ok(Val::S(raw.to_owned())),
            Kind::Bool | Kind::Json => Err("This field cannot be set.".to_owned()),
        };
        match parsed {
            Ok(v) => {
                values.insert(f.name, v);
            }
            Err(m) => {
                errors.insert(f.name, m);
            }
        }
    }
    if errors.is_empty() {
        Ok(values)
    } else {
        Err(errors)
    }
}

fn invalid(msg: impl Into<String>) -> crate::StoreError {
    DomainError::Invalid(msg.into()).into()
}

fn get_i(v: &Values, k: &str) -> Result<i64> {
    v.get(k)
        .and_then(Val::int)
        .ok_or_else(|| invalid(format!("{k} is required")))
}

fn get_oi(v: &Values, k: &str) -> Option<i64> {
    v.get(k).and_then(Val::int)
}

fn get_s<'a>(v: &'a Values, k: &str) -> &'a str {
    match v.get(k) {
        Some(Val::S(s)) => s,
        _ => "",
    }
}

fn get_b(v: &Values, k: &str) -> bool {
    matches!(v.get(k), Some(Val::B(true)))
}

fn get_t(v: &Values, k: &str) -> Option<Timestamp> {
    get_oi(v, k).map(Timestamp)
}

/// Maps a failed write's database error to what the person can fix.
fn friendly(e: crate::StoreError) -> crate::StoreError {
    if e.is_unique_violation() {
        return DomainError::Conflict("another row already has these values".into()).into();
    }
    if crate::datasets::is_fk_violation(&e) {
        return invalid("a selected reference does not exist (any more)");
    }
    e
}

impl WriteTx {
    async fn text_query(&mut self, sql: String, id: i64) -> Result<Option<Vec<Option<String>>>> {
        let row = on_tx!(&mut self.tx, conn => {
            match sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(conn).await? {
                Some(r) => {
                    let mut out = Vec::new();
                    for i in 0..r.len() {
                        out.push(r.try_get::<Option<String>, _>(i)?);
                    }
                    Some(out)
                }
                None => None,
            }
        });
        Ok(row)
    }

    async fn scalar_i(&mut self, sql: &'static str, id: i64) -> Result<Option<i64>> {
        let v: Option<Option<i64>> = on_tx!(&mut self.tx, conn => sqlx::query_scalar(sql).bind(id).fetch_optional(conn).await)?;
        Ok(v.flatten())
    }

    async fn permission_name(&mut self, id: i64) -> Result<String> {
        const SQL: &str = "SELECT name FROM permission WHERE id = $1";
        let n: Option<String> = on_tx!(&mut self.tx, conn => sqlx::query_scalar(SQL).bind(id).fetch_optional(conn).await)?;
        n.ok_or_else(|| DomainError::not_found(EntityKind::Permission, id).into())
    }

    /// A version must belong to the dataset it is used with.
    async fn check_version(
        &mut self,
        dataset_id: Option<i64>,
        version_id: Option<i64>,
    ) -> Result<()> {
        let Some(v) = version_id else { return Ok(()) };
        let Some(d) = dataset_id else {
            return Err(invalid("a version needs a dataset"));
        };
        const SQL: &str = "SELECT dataset_id FROM dataset_version WHERE id = $1";
        match self.scalar_i(SQL, v).await? {
            Some(owner) if owner == d => Ok(()),
            Some(_) => Err(invalid("the version belongs to another dataset")),
            None => Err(DomainError::not_found(EntityKind::Version, v).into()),
        }
    }

    /// TOS auto-linking (spec §4.4): a document with a dataset and neither
    /// version nor service becomes that dataset's TOS.
    async fn link_tos(&mut self, tos_id: i64) -> Result<()> {
        const SQL: &str = "SELECT dataset_id FROM tos_document WHERE id = $1 \
             AND dataset_version_id IS NULL AND service_id IS NULL";
        if let Some(d) = self.scalar_i(SQL, tos_id).await? {
            const CUR: &str = "SELECT tos_id FROM dataset WHERE id = $1";
            if self.scalar_i(CUR, d).await? != Some(tos_id) {
                self.set_dataset_tos(d, Some(tos_id)).await?;
            }
        }
        Ok(())
    }

    /// Creates a row of `e` from parsed form values, through the entity's
    /// own store operation (so validation, audit and cache events are the API's).
    /// `now` is the server's time (a TOS document's default effective date).
    ///
    /// # Errors
    /// The operation's validation and conflict errors; entities that cannot be
    /// created here.
    pub async fn console_create(
        &mut self,
        e: &Entity,
        v: &Values,
        now: Timestamp,
    ) -> Result<Created> {
        let mut secret = None;
        let id = match e.slug {
            "users" => {
                let id = self
                    .create_user(&crate::users::NewUser {
                        email: get_s(v, "email").to_owned(),
                        name: get_s(v, "name").to_owned(),
                        display_name: get_s(v, "display_name").to_owned(),
                        admin: get_b(v, "admin"),
                        active: get_b(v, "is_active"),
                        read_only: get_b(v, "read_only"),
                        pi: get_s(v, "pi").to_owned(),
                        picture_url: get_s(v, "picture_url").to_owned(),
                        parent_id: get_oi(v, "parent_id"),
                        gdpr_consent: get_b(v, "gdpr_consent"),
                        via: Some("admin_console"),
                        ..Default::default()
                    })
                    .await?;
                // Fields the user operation does not take.
                let rest: Values = v
                    .iter()
                    .filter(|(k, _)| **k == "notes")
                    .map(|(k, v)| (*k, v.clone()))
                    .collect();
                if rest
                    .iter()
                    .any(|(_, v)| *v != Val::B(false) && *v != Val::S(String::new()))
                {
                    self.console_update(e, id, &rest).await?;
                }
                id
            }
            "affiliations" => {
                let user = get_i(v, "user_id")?;
                let name = get_s(v, "name");
                self.add_affiliation(user, name).await.map_err(friendly)?;
                const SQL: &str = "SELECT id FROM affiliation WHERE user_id = $1 AND name = $2";
                on_tx!(&mut self.tx, conn => sqlx::query_scalar::<_, i64>(SQL).bind(user).bind(name).fetch_one(conn).await)?
            }
            "groups" => self.create_group(get_s(v, "name")).await?,
            "memberships" => self
                .add_member(
                    get_i(v, "user_id")?,
                    get_i(v, "group_id")?,
                    get_b(v, "is_admin"),
                    get_t(v, "expires_at"),
                )
                .await
                .map_err(friendly)?,
            "datasets" => {
                let id = self
                    .create_dataset(
                        get_s(v, "name"),
                        get_s(v, "description"),
                        get_s(v, "access_mode"),
                    )
                    .await?;
                if let Some(tos) = get_oi(v, "tos_id") {
                    self.set_dataset_tos(id, Some(tos)).await?;
                }
                id
            }
            "buckets" => self
                .add_bucket(get_i(v, "dataset_id")?, get_s(v, "name"))
                .await
                .map_err(friendly)?,
            "versions" => self
                .add_version(
                    get_i(v, "dataset_id")?,
                    get_s(v, "version"),
                    get_s(v, "prefix"),
                    get_b(v, "is_public"),
                    &[],
                    &crate::datasets::VersionPlace {
                        branch: Some(get_s(v, "branch"))
                            .filter(|b| !b.trim().is_empty())
                            .unwrap_or("main")
                            .to_owned(),
                        ordinal: get_oi(v, "ordinal"),
                    },
                )
                .await
                .map_err(friendly)?,
            "group_permissions" => {
                let p = self.permission_name(get_i(v, "permission_id")?).await?;
                self.add_group_permission(
                    get_i(v, "group_id")?,
                    get_i(v, "dataset_id")?,
                    &p,
                    get_oi(v, "service_id"),
                )
                .await
                .map_err(friendly)?
            }
            "grants" => {
                let dataset_id = get_i(v, "dataset_id")?;
                let version_id = get_oi(v, "dataset_version_id");
                self.check_version(Some(dataset_id), version_id).await?;
                let p = self.permission_name(get_i(v, "permission_id")?).await?;
                let granted_by = self.actor().id;
                self.create_grant(&crate::grants::NewGrant {
                    service_id: get_oi(v, "service_id"),
                    bucket_ids: &[],
                    user_id: get_i(v, "user_id")?,
                    dataset_id,
                    version_id,
                    permission: &p,
                    group_id: get_oi(v, "group_id"),
                    granted_by,
                    source: get_s(v, "source"),
                    expires_at: get_t(v, "expires_at"),
                })
                .await
                .map_err(friendly)?
            }
            "services" => {
                self.create_service(
                    get_s(v, "name"),
                    get_s(v, "display_name"),
                    get_s(v, "base_url"),
                    dsg_core::permissions::VersionEvalMode::parse(get_s(v, "version_eval_mode"))
                        .unwrap_or_default(),
                )
                .await?
            }
            "translations" => {
                let client_version = Some(get_s(v, "client_version")).filter(|s| !s.is_empty());
                self.create_translation(&crate::translations::NewTranslation {
                    service_id: get_i(v, "service_id")?,
                    client_name: get_s(v, "client_name"),
                    client_version,
                    dataset_id: get_i(v, "dataset_id")?,
                    version_id: get_oi(v, "dataset_version_id"),
                })
                .await
                .map_err(friendly)?
            }
            "oidc_clients" => {
                let lines = |k: &str| -> Vec<String> {
                    get_s(v, k)
                        .lines()
                        .map(str::trim)
                        .filter(|l| !l.is_empty())
                        .map(str::to_owned)
                        .collect()
                };
                let (redirect_uris, logout) =
                    (lines("redirect_uris"), lines("post_logout_redirect_uris"));
                if redirect_uris.is_empty() {
                    return Err(invalid("at least one redirect URI is required"));
                }
                if let Some(u) = redirect_uris
                    .iter()
                    .chain(&logout)
                    .find(|u| !dsg_core::oidc::is_redirect_uri(u))
                {
                    return Err(invalid(format!(
                        "{u:?} is not an absolute http(s) URL without fragment"
                    )));
                }
                let named: Vec<String> = get_s(v, "scopes")
                    .split_whitespace()
                    .map(str::to_owned)
                    .collect();
                let scopes = dsg_core::oidc::scopes(&named).map_err(invalid)?;
                let public = get_b(v, "public");
                let token = if public {
                    None
                } else {
                    Some(crate::oidc::new_secret()?)
                };
                let id = self
                    .add_oidc_client(&crate::oidc::NewOidcClient {
                        client_id: crate::oidc::new_client_id()?,
                        name: get_s(v, "name").trim().to_owned(),
                        secret_hash: token.as_ref().map(dsg_core::token::ApiToken::hash),
                        redirect_uris,
                        post_logout_redirect_uris: logout,
                        scopes,
                        datasets: Vec::new(),
                    })
                    .await
                    .map_err(friendly)?;
                secret = token.map(|t| t.expose().to_owned());
                id
            }
            "registered_clients" => {
                let origin = get_s(v, "origin");
                let new = crate::clients::NewClient {
                    origin: crate::clients::exact_origin(origin).ok_or_else(|| {
                        invalid(format!(
                            "origin {origin:?} must be an exact origin such as https://app.example.org \
                             (lower-case, no path or trailing slash, no default port)"
                        ))
                    })?,
                    name: get_s(v, "name").trim().to_owned(),
                    owner: get_s(v, "owner").trim().to_owned(),
                    enabled: get_b(v, "enabled"),
                    allowed_services: Vec::new(),
                };
                crate::clients::check_client(&new)?;
                self.add_client(&new).await.map_err(friendly)?.id
            }
            "service_tables" => self
                .add_service_table(
                    get_i(v, "dataset_id")?,
                    get_s(v, "service_name"),
                    get_s(v, "table_name"),
                )
                .await
                .map_err(friendly)?,
            "public_roots" => self
                .add_public_root(get_i(v, "service_table_id")?, get_i(v, "root_id")?)
                .await
                .map_err(friendly)?,
            "tos_documents" => {
                let dataset_id = get_oi(v, "dataset_id");
                let version_id = get_oi(v, "dataset_version_id");
                self.check_version(dataset_id, version_id).await?;
                let effective_at = get_t(v, "effective_date").unwrap_or(now);
                let retired_at = get_t(v, "retired_date");
                if retired_at.is_some_and(|r| r <= effective_at) {
                    return Err(invalid("the retired date must be after the effective date"));
                }
                let (id, _) = self
                    .create_tos(&crate::datasets::NewTos {
                        name: get_s(v, "name").to_owned(),
                        text: get_s(v, "text").to_owned(),
                        dataset_id,
                        version_id,
                        service_id: get_oi(v, "service_id"),
                        effective_at,
                        retired_at,
                    })
                    .await
                    .map_err(friendly)?;
                self.link_tos(id).await?;
                id
            }
            "tos_acceptances" => self
                .accept_tos(get_i(v, "user_id")?, get_i(v, "tos_document_id")?, None)
                .await
                .map_err(friendly)?,
            "service_accounts" => {
                self.create_service_account(
                    get_s(v, "name"),
                    get_s(v, "description"),
                    get_b(v, "is_active"),
                )
                .await?
            }
            "sa_tokens" => {
                let (id, token) = self
                    .create_service_account_token(
                        get_i(v, "service_account_id")?,
                        get_s(v, "description"),
                    )
                    .await
                    .map_err(friendly)?;
                secret = Some(token.expose().to_owned());
                id
            }
            "sa_grants" => {
                let dataset_id = get_i(v, "dataset_id")?;
                let version_id = get_oi(v, "dataset_version_id");
                self.check_version(Some(dataset_id), version_id).await?;
                let p = self.permission_name(get_i(v, "permission_id")?).await?;
                self.create_service_account_grant(
                    get_i(v, "service_account_id")?,
                    dataset_id,
                    version_id,
                    &p,
                    get_t(v, "expires_at"),
                    get_oi(v, "service_id"),
                )
                .await
                .map_err(friendly)?
            }
            _ => return Err(invalid(format!("{} cannot be created here", e.title))),
        };
        Ok(Created { id, secret })
    }

    fn invalidate_for(&mut self, e: &Entity, id: i64, cols: &BTreeMap<&str, Option<String>>) {
        let num = |c: &str| cols.get(c).and_then(|v| v.as_deref()?.parse::<i64>().ok());
        match e.invalidate {
            Invalidate::All => self.invalidate(CacheEvent::All),
            Invalidate::SelfUser => self.invalidate(CacheEvent::User(id)),
            Invalidate::SelfSa => self.invalidate(CacheEvent::ServiceAccount(id)),
            Invalidate::UserCol(c) => match num(c) {
                Some(u) => self.invalidate(CacheEvent::User(u)),
                None => self.invalidate(CacheEvent::All),
            },
            Invalidate::SaCol(c) => match num(c) {
                Some(s) => self.invalidate(CacheEvent::ServiceAccount(s)),
                None => self.invalidate(CacheEvent::All),
            },
        }
    }

    /// Reads the named columns of a row as canonical text.
    async fn read_cols(
        &mut self,
        e: &Entity,
        id: i64,
        fields: &[&'static Field],
    ) -> Result<Option<BTreeMap<&'static str, Option<String>>>> {
        let mut cols: Vec<String> = fields
            .iter()
            .map(|f| format!("CAST({} AS TEXT)", f.name))
            .collect();
        cols.push("CAST(id AS TEXT)".into());
        let sql = format!("SELECT {} FROM {} WHERE id = $1", cols.join(", "), e.table);
        let Some(row) = self.text_query(sql, id).await? else {
            return Ok(None);
        };
        Ok(Some(
            fields
                .iter()
                .zip(row)
                .map(|(f, v)| (f.name, canon(f.kind, v)))
                .collect(),
        ))
    }

    fn owner_fields(e: &Entity) -> Vec<&'static Field> {
        match e.invalidate {
            Invalidate::UserCol(c) | Invalidate::SaCol(c) => e.field(c).into_iter().collect(),
            _ => Vec::new(),
        }
    }

    /// Changes the given fields of a row; audits `<prefix>_updated` with the
    /// before and after of what changed. `false` when nothing changed.
    ///
    /// # Errors
    /// [`DomainError::NotFound`]; conflicts and bad references; fields that
    /// cannot be edited.
    pub async fn console_update(&mut self, e: &Entity, id: i64, v: &Values) -> Result<bool> {
        let mut fields: Vec<&'static Field> = Vec::new();
        for k in v.keys() {
            let f = e
                .field(k)
                .filter(|f| f.edit != Edit::No)
                .ok_or_else(|| invalid(format!("{k} cannot be edited")))?;
            fields.push(f);
        }
        let owners = Self::owner_fields(e);
        let mut read: Vec<&'static Field> = fields.clone();
        read.extend(owners.iter().copied());
        for n in ["dataset_id", "dataset_version_id"] {
            if let Some(f) = e.field(n) {
                read.push(f);
            }
        }
        let Some(before) = self.read_cols(e, id, &read).await? else {
            return Err(invalid(format!("no {} with id {id}", e.singular)));
        };
        let changed: Vec<&'static Field> = fields
            .iter()
            .copied()
            .filter(|f| v.get(f.name).and_then(|x| x.canon(f.kind)) != before[f.name])
            .collect();
        if changed.is_empty() {
            return Ok(false);
        }
        if e.field("dataset_version_id").is_some() {
            let pick = |k: &str| match v.get(k) {
                Some(x) => x.int(),
                None => before
                    .get(k)
                    .cloned()
                    .flatten()
                    .and_then(|s| s.parse().ok()),
            };
            self.check_version(pick("dataset_id"), pick("dataset_version_id"))
                .await?;
        }
        let mut sets: Vec<String> = Vec::new();
        let mut binds: Vec<Val> = Vec::new();
        for f in &changed {
            binds.push(v[f.name].clone());
            sets.push(format!("{} = ${}", f.name, binds.len()));
        }
        if e.has_updated {
            binds.push(Val::I(now_micros()));
            sets.push(format!("updated = ${}", binds.len()));
        }
        binds.push(Val::I(id));
        let sql = format!(
            "UPDATE {} SET {} WHERE id = ${}",
            e.table,
            sets.join(", "),
            binds.len()
        );
        on_tx!(&mut self.tx, conn => {
            bind_all!(sqlx::query(sqlx::AssertSqlSafe(sql.clone())), &binds).execute(conn).await.map(|r| r.rows_affected())
        })
        .map_err(|err| friendly(err.into()))?;
        let show = |f: &Field, s: &Option<String>| display_json(f.kind, s.as_deref());
        let before_json: serde_json::Map<String, Value> = changed
            .iter()
            .map(|f| (f.name.to_owned(), show(f, &before[f.name])))
            .collect();
        let after_json: serde_json::Map<String, Value> = changed
            .iter()
            .map(|f| (f.name.to_owned(), show(f, &v[f.name].canon(f.kind))))
            .collect();
        // Invalidate the old owner and the new one.
        self.invalidate_for(e, id, &before);
        let mut after_cols = before.clone();
        for f in &changed {
            after_cols.insert(f.name, v[f.name].canon(f.kind));
        }
        self.invalidate_for(e, id, &after_cols);
        self.audit(
            &format!("{}_updated", e.audit_prefix),
            e.target_type,
            id,
            Some(Value::Object(before_json)),
            Some(Value::Object(after_json)),
        )
        .await?;
        if e.slug == "tos_documents" {
            self.link_tos(id).await?;
        }
        Ok(true)
    }

    /// Deletes (or revokes) a row: through the API's operation where there is
    /// one (grants, memberships, tokens, service-account grants), else
    /// generically, auditing `<prefix>_deleted` with the row and the counts of
    /// what the delete took with it (spec §2.21). `false` when there was no
    /// such row.
    ///
    /// # Errors
    /// Entities that cannot be deleted (the audit log, permissions).
    pub async fn console_delete(&mut self, e: &Entity, id: i64) -> Result<bool> {
        if !e.delete {
            return Err(invalid(format!("{} cannot be deleted", e.title)));
        }
        match e.slug {
            "grants" => return Ok(self.revoke_grant(id, "admin_console").await?.is_some()),
            "memberships" => {
                const SQL: &str = "SELECT user_id, group_id FROM user_group WHERE id = $1";
                let row: Option<(i64, i64)> = on_tx!(&mut self.tx, conn => sqlx::query_as(SQL).bind(id).fetch_optional(conn).await)?;
                return match row {
                    Some((u, g)) => self.remove_member(u, g).await,
                    None => Ok(false),
                };
            }
            "api_keys" => return Ok(self.revoke_user_token(id).await?.is_some()),
            "translations" => return self.delete_translation(id).await,
            "sa_tokens" | "sa_grants" => {
                let sql: &'static str = if e.slug == "sa_tokens" {
                    "SELECT service_account_id FROM service_account_token WHERE id = $1"
                } else {
                    "SELECT service_account_id FROM service_account_grant WHERE id = $1"
                };
                let Some(sa) = self.scalar_i(sql, id).await? else {
                    return Ok(false);
                };
                return if e.slug == "sa_tokens" {
                    self.revoke_service_account_token(sa, id).await
                } else {
                    self.revoke_service_account_grant(sa, id).await
                };
            }
            _ => {}
        }
        let all: Vec<&'static Field> = e.fields.iter().filter(|f| f.kind != Kind::Json).collect();
        let Some(before) = self.read_cols(e, id, &all).await? else {
            return Ok(false);
        };
        let mut cascade = serde_json::Map::new();
        for d in e.dependents {
            let Some(other) = entity(d.entity) else {
                continue;
            };
            let sql = format!(
                "SELECT CAST(COUNT(*) AS TEXT) FROM {} WHERE {} = $1",
                other.table, d.column
            );
            let n = self
                .text_query(sql, id)
                .await?
                .and_then(|r| r.into_iter().next().flatten())
                .and_then(|s| s.parse::<i64>().ok())
                .unwrap_or(0);
            if n > 0 {
                let verb = match d.effect {
                    Effect::Cascade => "deleted",
                    Effect::SetNull => "unlinked",
                };
                cascade.insert(format!("{}.{} {verb}", d.entity, d.column), json!(n));
            }
        }
        // Token rows deleted by the cascade must leave the cache too.
        if matches!(e.slug, "users" | "service_accounts") {
            self.invalidate(CacheEvent::All);
        }
        self.invalidate_for(e, id, &before);
        let sql = format!("DELETE FROM {} WHERE id = $1", e.table);
        on_tx!(&mut self.tx, conn => sqlx::query(sqlx::AssertSqlSafe(sql.clone())).bind(id).execute(conn).await.map(|r| r.rows_affected()))
            .map_err(|err| friendly(err.into()))?;
        let mut state: serde_json::Map<String, Value> = all
            .iter()
            .map(|f| {
                (
                    f.name.to_owned(),
                    display_json(f.kind, before[f.name].as_deref()),
                )
            })
            .collect();
        state.insert("cascade".into(), Value::Object(cascade));
        self.audit(
            &format!("{}_deleted", e.audit_prefix),
            e.target_type,
            id,
            Some(Value::Object(state)),
            Some(json!({"via": "admin_console"})),
        )
        .await?;
        Ok(true)
    }
}

/// A stored value as it goes into an audit state.
fn display_json(kind: Kind, v: Option<&str>) -> Value {
    let Some(s) = v else { return Value::Null };
    match kind {
        Kind::Bool => json!(s == "true"),
        Kind::Int | Kind::Ref(_) => s.parse::<i64>().map_or_else(|_| json!(s), |i| json!(i)),
        Kind::Time => s
            .parse::<i64>()
            .map_or_else(|_| json!(s), |t| json!(Timestamp(t).to_rfc3339())),
        _ => json!(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_parse_by_kind_and_report_each_bad_field() {
        let users = entity("users").unwrap();
        let mut form = BTreeMap::new();
        form.insert("email".to_owned(), "not-an-email".to_owned());
        form.insert("admin".to_owned(), "on".to_owned());
        let errs = parse_form(users, true, &form).unwrap_err();
        assert!(errs.contains_key("email"), "{errs:?}");
        form.insert("email".to_owned(), "ada@example.org".to_owned());
        form.insert("parent_id".to_owned(), "x".to_owned());
        let errs = parse_form(users, true, &form).unwrap_err();
        assert_eq!(errs.keys().collect::<Vec<_>>(), vec![&"parent_id"]);
        form.remove("parent_id");
        let v = parse_form(users, true, &form).unwrap();
        assert_eq!(v["admin"], Val::B(true));
        assert_eq!(v["is_active"], Val::B(false));
        assert_eq!(v["parent_id"], Val::Null);
        assert!(!v.contains_key("created"));
    }

    #[test]
    fn datetime_local_values_are_utc() {
        assert_eq!(
            parse_time("2026-06-01T12:00"),
            Timestamp::parse("2026-06-01T12:00:00Z")
        );
        assert_eq!(
            parse_time("2026-06-01T12:00:30"),
            Timestamp::parse("2026-06-01T12:00:30Z")
        );
        assert!(parse_time("June").is_none());
    }

    #[test]
    fn create_only_fields_are_not_editable() {
        let g = entity("grants").unwrap();
        let mut form = BTreeMap::new();
        form.insert("permission_id".to_owned(), "1".to_owned());
        form.insert("source".to_owned(), "manual".to_owned());
        form.insert("user_id".to_owned(), "9".to_owned());
        let v = parse_form(g, false, &form).unwrap();
        assert!(!v.contains_key("user_id"));
    }
}
