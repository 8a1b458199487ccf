//! Bound SCIM filters ([`Cond`]) → SQL `WHERE` fragments over a whitelist of
//! columns, with every value a bound parameter. The rules match
//! [`Cond::matches`] exactly (a property test holds them to it):
//!
//! * text columns are guarded `col IS NOT NULL AND col <> ''` (an empty
//!   string is an absent attribute), so no predicate ever yields SQL `NULL`
//!   and `not (…)` behaves as in memory;
//! * case-insensitive attributes compare `lower(col)` with a value folded in
//!   Rust; `co`/`sw`/`ew` use `strpos`/`instr` and `substr` rather than
//!   `LIKE`, so there is nothing to escape and SQLite's case-insensitive
//!   `LIKE` cannot creep in; ordering uses byte order (`COLLATE "C"` on
//!   PostgreSQL, SQLite's default `BINARY`).

use dsg_core::scim::cond::{Cond, Val};
use dsg_core::scim::filter::CompareOp;
use dsg_core::scim::schema::{AttrRef, Kind, USER_EXT};

use crate::Backend;

/// A bound parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    /// Text.
    S(String),
    /// Integer.
    I(i64),
    /// Boolean.
    B(bool),
    /// Nullable text.
    OS(Option<String>),
    /// Nullable integer.
    OI(Option<i64>),
}

/// A column (or constant expression) an attribute maps to.
#[derive(Debug, Clone, Copy)]
struct Col {
    expr: &'static str,
    text: bool,
    nullable: bool,
}

const fn text(expr: &'static str) -> Col {
    Col {
        expr,
        text: true,
        nullable: true,
    }
}
const fn plain(expr: &'static str) -> Col {
    Col {
        expr,
        text: false,
        nullable: false,
    }
}
const fn opt(expr: &'static str) -> Col {
    Col {
        expr,
        text: false,
        nullable: true,
    }
}

/// How a multi-valued attribute's elements are reached.
struct Multi {
    /// `EXISTS (… AND ` prefix, closed with `)`; empty = same row.
    exists: &'static str,
    /// Sub-attribute → column.
    cols: &'static [(&'static str, Col)],
}

fn top_col(kind: Kind, key: &str) -> Option<Col> {
    let user_ext = |name: &str| format!("{USER_EXT}:{name}");
    Some(match (kind, key) {
        (Kind::User, "id") => text("u.scim_id"),
        (Kind::User, "externalId") => text("u.external_id"),
        (Kind::User, "userName") => text("u.email"),
        (Kind::User, "name.givenName") => text("u.name"),
        (Kind::User, "name.familyName") => text("u.family_name"),
        (Kind::User, "name.formatted") => text("u.formatted_name"),
        (Kind::User, "displayName") => text("u.display_name"),
        (Kind::User, "active") => plain("u.is_active"),
        (Kind::User, "meta.created") => plain("u.created"),
        (Kind::User, "meta.lastModified") => plain("u.updated"),
        (Kind::User, "meta.resourceType") => text("'User'"),
        (Kind::User, k) if k == user_ext("admin") => plain("u.admin"),
        (Kind::User, k) if k == user_ext("pi") => text("u.pi"),
        (Kind::User, k) if k == user_ext("gdprConsent") => plain("u.gdpr_consent"),
        (Kind::User, k) if k == user_ext("serviceAccount") => plain("(u.parent_id IS NOT NULL)"),
        (Kind::Group, "id") => text("g.scim_id"),
        (Kind::Group, "externalId") => text("g.external_id"),
        (Kind::Group, "displayName") => text("g.name"),
        (Kind::Group, "meta.created") => plain("g.created"),
        (Kind::Group, "meta.lastModified") => plain("g.updated"),
        (Kind::Group, "meta.resourceType") => text("'Group'"),
        (Kind::Dataset, "id") => text("d.scim_id"),
        (Kind::Dataset, "externalId") => text("d.external_id"),
        (Kind::Dataset, "name") => text("d.name"),
        (Kind::Dataset, "description") => text("d.description"),
        (Kind::Dataset, "tosId") => opt("d.tos_id"),
        (Kind::Dataset, "meta.created") => plain("d.created"),
        (Kind::Dataset, "meta.lastModified") => plain("d.updated"),
        (Kind::Dataset, "meta.resourceType") => text("'Dataset'"),
        _ => return None,
    })
}

const EMAIL_COLS: &[(&str, Col)] = &[
    ("value", text("u.email")),
    ("type", text("'work'")),
    ("primary", plain("TRUE")),
];
const USER_GROUP_COLS: &[(&str, Col)] =
    &[("value", text("g.scim_id")), ("display", text("g.name"))];
const MEMBER_COLS: &[(&str, Col)] = &[("value", text("mu.scim_id"))];
const SERVICE_TABLE_COLS: &[(&str, Col)] = &[
    ("serviceName", text("st.service_name")),
    ("tableName", text("st.table_name")),
];

fn multi(kind: Kind, name: &str) -> Option<Multi> {
    Some(match (kind, name) {
        (Kind::User, "emails") => Multi {
            exists: "",
            cols: EMAIL_COLS,
        },
        (Kind::User, "groups") => Multi {
            exists: "EXISTS (SELECT 1 FROM user_group ug JOIN dsg_group g ON g.id = ug.group_id \
                     WHERE ug.user_id = u.id AND ",
            cols: USER_GROUP_COLS,
        },
        (Kind::Group, "members") => Multi {
            exists: "EXISTS (SELECT 1 FROM user_group ug JOIN dsg_user mu ON mu.id = ug.user_id \
                     WHERE ug.group_id = g.id AND mu.scim_deleted_at IS NULL AND ",
            cols: MEMBER_COLS,
        },
        (Kind::Dataset, "serviceTables") => Multi {
            exists: "EXISTS (SELECT 1 FROM service_table st WHERE st.dataset_id = d.id AND ",
            cols: SERVICE_TABLE_COLS,
        },
        _ => return None,
    })
}

/// Builds SQL with numbered parameters.
pub struct SqlBuilder {
    backend: Backend,
    /// Parameters, `$1` first.
    pub args: Vec<Arg>,
}

impl SqlBuilder {
    /// Starts with `offset` parameters already used by the caller.
    pub fn new(backend: Backend, args: Vec<Arg>) -> Self {
        Self { backend, args }
    }

    fn push(&mut self, a: Arg) -> String {
        self.args.push(a);
        format!("${}", self.args.len())
    }

    /// The `WHERE` fragment for `cond` on `kind`.
    ///
    /// # Errors
    /// An attribute that cannot be filtered on (message for `invalidFilter`).
    pub fn cond(&mut self, kind: Kind, cond: &Cond) -> Result<String, String> {
        self.walk(kind, cond, None)
    }

    fn walk(&mut self, kind: Kind, cond: &Cond, within: Option<&Multi>) -> Result<String, String> {
        Ok(match cond {
            Cond::And(a, b) => format!(
                "({} AND {})",
                self.walk(kind, a, within)?,
                self.walk(kind, b, within)?
            ),
            Cond::Or(a, b) => format!(
                "({} OR {})",
                self.walk(kind, a, within)?,
                self.walk(kind, b, within)?
            ),
            Cond::Not(a) => format!("(NOT {})", self.walk(kind, a, within)?),
            Cond::Has(r, inner) => {
                let m = multi(kind, r.attr.name)
                    .ok_or_else(|| format!("{} cannot be filtered on", r.attr.name))?;
                let body = self.walk(kind, inner, Some(&m))?;
                if m.exists.is_empty() {
                    body
                } else {
                    format!("{}{body})", m.exists)
                }
            }
            Cond::Pr(r) => {
                let c = self.col(kind, r, within)?;
                if c.text {
                    format!("({e} IS NOT NULL AND {e} <> '')", e = c.expr)
                } else if c.nullable {
                    format!("({} IS NOT NULL)", c.expr)
                } else {
                    "(1 = 1)".into()
                }
            }
            Cond::Cmp(r, op, val) => {
                let c = self.col(kind, r, within)?;
                let case_fold = c.text && !r.leaf().case_exact;
                let lhs = if case_fold {
                    format!("lower({})", c.expr)
                } else {
                    c.expr.to_owned()
                };
                let p = self.push(match val {
                    Val::Str(s) => Arg::S(s.clone()),
                    Val::Bool(b) => Arg::B(*b),
                    Val::Int(i) => Arg::I(*i),
                    Val::Time(t) => Arg::I(t.0),
                });
                let pg = self.backend == Backend::Postgres;
                let ordered = |sym: &str| {
                    if c.text && pg {
                        format!("({lhs}) COLLATE \"C\" {sym} {p}")
                    } else {
                        format!("{lhs} {sym} {p}")
                    }
                };
                let test = match op {
                    CompareOp::Eq => format!("{lhs} = {p}"),
                    CompareOp::Ne => format!("{lhs} <> {p}"),
                    CompareOp::Gt => ordered(">"),
                    CompareOp::Ge => ordered(">="),
                    CompareOp::Lt => ordered("<"),
                    CompareOp::Le => ordered("<="),
                    CompareOp::Co if pg => format!("strpos({lhs}, {p}) > 0"),
                    CompareOp::Co => format!("instr({lhs}, {p}) > 0"),
                    CompareOp::Sw => format!("substr({lhs}, 1, length({p})) = {p}"),
                    CompareOp::Ew => format!(
                        "(length({lhs}) >= length({p}) AND substr({lhs}, length({lhs}) - length({p}) + 1) = {p})"
                    ),
                };
                if c.text {
                    format!("({e} IS NOT NULL AND {e} <> '' AND {test})", e = c.expr)
                } else if c.nullable {
                    format!("({} IS NOT NULL AND {test})", c.expr)
                } else {
                    format!("({test})")
                }
            }
        })
    }

    fn col(&self, kind: Kind, r: &AttrRef, within: Option<&Multi>) -> Result<Col, String> {
        let found = match within {
            Some(m) => r
                .sub
                .and_then(|s| m.cols.iter().find(|(n, _)| *n == s.name).map(|(_, c)| *c)),
            None => top_col(kind, &r.key()),
        };
        found.ok_or_else(|| format!("{} cannot be filtered on", r.key()))
    }

    /// `ORDER BY` terms for `sortBy` (unassigned values last in both orders).
    ///
    /// # Errors
    /// An attribute that cannot be sorted on.
    pub fn order(&self, kind: Kind, r: &AttrRef, descending: bool) -> Result<String, String> {
        let c = top_col(kind, &r.key()).ok_or_else(|| format!("cannot sort by {}", r.key()))?;
        let dir = if descending { "DESC" } else { "ASC" };
        Ok(if c.text {
            let lhs = if r.leaf().case_exact {
                c.expr.to_owned()
            } else {
                format!("lower({})", c.expr)
            };
            let coll = if self.backend == Backend::Postgres {
                " COLLATE \"C\""
            } else {
                ""
            };
            format!(
                "CASE WHEN {e} IS NULL OR {e} = '' THEN 1 ELSE 0 END, ({lhs}){coll} {dir}",
                e = c.expr
            )
        } else if c.nullable {
            format!(
                "CASE WHEN {e} IS NULL THEN 1 ELSE 0 END, {e} {dir}",
                e = c.expr
            )
        } else {
            format!("{} {dir}", c.expr)
        })
    }
}
