//! Filters bound to a resource kind: every attribute resolved against the
//! schema, every literal checked against the attribute's type, operators
//! checked against what the type supports. The store turns a [`Cond`] into
//! SQL; [`Cond::matches`] evaluates the same condition on a rendered
//! resource, with the same rules:
//!
//! * strings compare case-insensitively unless the attribute is `caseExact`
//!   (ASCII case folding, as both databases' `lower()` agree on ASCII);
//!   ordering (`gt`…) is by bytes;
//! * an absent attribute (missing, null or empty string) matches no
//!   comparison, `ne` included, and is not `pr`esent;
//! * multi-valued attributes match when any element does.

use serde_json::Value;

use super::filter::{AttrPath, CompareOp, Filter, Literal};
use super::schema::{AttrRef, AttrType, Kind, resolve};
use crate::Timestamp;

/// A literal, typed by the attribute it is compared with.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    /// String (already case-folded when the attribute is not `caseExact`).
    Str(String),
    /// Boolean.
    Bool(bool),
    /// Integer.
    Int(i64),
    /// Instant.
    Time(Timestamp),
}

/// A bound filter.
#[derive(Debug, Clone)]
pub enum Cond {
    /// Comparison.
    Cmp(AttrRef, CompareOp, Val),
    /// Presence.
    Pr(AttrRef),
    /// Some element of the multi-valued `AttrRef` satisfies the inner
    /// condition, whose references are the element's sub-attributes.
    Has(AttrRef, Box<Cond>),
    /// Both.
    And(Box<Cond>, Box<Cond>),
    /// Either.
    Or(Box<Cond>, Box<Cond>),
    /// Negation.
    Not(Box<Cond>),
}

/// Parses and binds a filter for `kind`.
///
/// # Errors
/// A message for `invalidFilter`.
pub fn bind_filter(kind: Kind, text: &str) -> Result<Cond, String> {
    let f = super::filter::parse(text)?;
    bind(kind, &f, None)
}

fn resolve_path(kind: Kind, p: &AttrPath, parent: Option<&AttrRef>) -> Result<AttrRef, String> {
    match parent {
        None => resolve(kind, p.urn.as_deref(), &p.name, p.sub.as_deref()),
        Some(parent) => {
            if p.urn.is_some() || p.sub.is_some() {
                return Err(format!(
                    "{p} is not a sub-attribute of {}",
                    parent.attr.name
                ));
            }
            let sub = parent
                .attr
                .sub_attr(&p.name)
                .ok_or_else(|| format!("unknown sub-attribute {}.{}", parent.attr.name, p.name))?;
            Ok(AttrRef {
                sub: Some(sub),
                ..*parent
            })
        }
    }
}

/// Binds a parsed filter; `parent` is set inside a value filter.
///
/// # Errors
/// Unknown attributes, wrong literal types, unsupported operators.
pub fn bind(kind: Kind, f: &Filter, parent: Option<&AttrRef>) -> Result<Cond, String> {
    Ok(match f {
        Filter::And(a, b) => Cond::And(
            Box::new(bind(kind, a, parent)?),
            Box::new(bind(kind, b, parent)?),
        ),
        Filter::Or(a, b) => Cond::Or(
            Box::new(bind(kind, a, parent)?),
            Box::new(bind(kind, b, parent)?),
        ),
        Filter::Not(a) => Cond::Not(Box::new(bind(kind, a, parent)?)),
        Filter::Has(p, inner) => {
            if parent.is_some() {
                return Err("value filters cannot be nested".into());
            }
            let r = resolve_path(kind, p, None)?;
            if r.attr.ty != AttrType::Complex || r.sub.is_some() {
                return Err(format!("{p} is not a complex attribute"));
            }
            let inner = bind(kind, inner, Some(&AttrRef { sub: None, ..r }))?;
            if r.attr.multi {
                Cond::Has(r, Box::new(inner))
            } else {
                // A singular complex attribute: its sub-attributes are plain paths.
                inner
            }
        }
        Filter::Present(p) => {
            let r = resolve_path(kind, p, parent)?;
            match implicit_value(r, parent.is_none())? {
                Some(v) => Cond::Has(AttrRef { sub: None, ..r }, Box::new(Cond::Pr(v))),
                None => Cond::Pr(r),
            }
        }
        Filter::Compare(p, op, lit) => {
            let r = resolve_path(kind, p, parent)?;
            match implicit_value(r, parent.is_none())? {
                Some(v) => {
                    let val = typed(v.leaf(), *op, lit)?;
                    Cond::Has(AttrRef { sub: None, ..r }, Box::new(Cond::Cmp(v, *op, val)))
                }
                None => {
                    let leaf = r.leaf();
                    if leaf.ty == AttrType::Complex {
                        return Err(format!("{p} is complex: compare one of its sub-attributes"));
                    }
                    Cond::Cmp(r, *op, typed(leaf, *op, lit)?)
                }
            }
        }
    })
}

/// For a top-level path into a multi-valued complex attribute (`emails`,
/// `emails.value`), the element-relative reference to compare.
fn implicit_value(r: AttrRef, top: bool) -> Result<Option<AttrRef>, String> {
    if !top || !r.attr.multi || r.attr.ty != AttrType::Complex {
        return Ok(None);
    }
    let sub = match r.sub {
        Some(s) => s,
        None => r
            .attr
            .sub_attr("value")
            .ok_or_else(|| format!("{} has no value sub-attribute", r.attr.name))?,
    };
    Ok(Some(AttrRef {
        sub: Some(sub),
        ..r
    }))
}

fn typed(attr: &super::schema::Attr, op: CompareOp, lit: &Literal) -> Result<Val, String> {
    use CompareOp::*;
    let name = attr.name;
    match (attr.ty, lit) {
        (AttrType::String | AttrType::Reference, Literal::Str(s)) => {
            Ok(Val::Str(if attr.case_exact {
                s.clone()
            } else {
                s.to_ascii_lowercase()
            }))
        }
        (AttrType::Boolean, Literal::Bool(b)) if matches!(op, Eq | Ne) => Ok(Val::Bool(*b)),
        (AttrType::Boolean, Literal::Bool(_)) => {
            Err(format!("{name} is boolean: only eq and ne apply"))
        }
        (AttrType::Integer, Literal::Num(n)) if !matches!(op, Co | Sw | Ew) => {
            if n.fract() != 0.0 || n.abs() > 9.0e15 {
                return Err(format!("{name} is an integer"));
            }
            #[allow(clippy::cast_possible_truncation)]
            Ok(Val::Int(*n as i64))
        }
        (AttrType::DateTime, Literal::Str(s)) if !matches!(op, Co | Sw | Ew) => parse_time(s)
            .map(Val::Time)
            .ok_or_else(|| format!("{s:?} is not an RFC 3339 date-time")),
        (AttrType::Integer | AttrType::DateTime, _) if matches!(op, Co | Sw | Ew) => {
            Err(format!("{} does not apply to {name}", op.as_str()))
        }
        (_, Literal::Null) => Err(format!(
            "compare {name} with a value; use \"pr\" for presence"
        )),
        (ty, _) => Err(format!("{name} takes a {ty:?} value").to_lowercase()),
    }
}

/// Parses an RFC 3339 date-time (`2026-06-01T12:00:00Z`, fractional seconds
/// and `±hh:mm` offsets accepted) into microseconds.
pub fn parse_time(s: &str) -> Option<Timestamp> {
    let b = s.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    let (y, mo, d, h, mi, se) = (
        num(0..4)?,
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    );
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut i = 19;
    let mut micros = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let frac = s.get(start..i)?;
        if frac.is_empty() {
            return None;
        }
        let mut digits: String = frac.chars().take(6).collect();
        while digits.len() < 6 {
            digits.push('0');
        }
        micros = digits.parse().ok()?;
    }
    // Offsets are compared as bytes: slicing the text there could split a
    // multi-byte character (found by fuzzing, scim_filter).
    let offset = match s.get(i..)?.as_bytes() {
        b"Z" | b"z" => 0,
        &[sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let (oh, om) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?);
            if oh > 23 || om > 59 {
                return None;
            }
            let sign = if sign == b'-' { -1 } else { 1 };
            sign * (oh * 3600 + om * 60)
        }
        _ => return None,
    };
    let days = days_from_civil(y, mo, d);
    let secs = days * 86_400 + h * 3600 + mi * 60 + se - offset;
    Some(Timestamp(secs * 1_000_000 + micros))
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The JSON node an attribute reference names in a rendered resource.
fn top<'a>(resource: &'a Value, r: &AttrRef) -> Option<&'a Value> {
    match r.extension {
        Some(u) => resource.get(u)?.get(r.attr.name),
        None => resource.get(r.attr.name),
    }
}

fn leaves<'a>(node: &'a Value, r: &AttrRef) -> Vec<&'a Value> {
    let pick = |v: &'a Value| match r.sub {
        Some(s) => v.get(s.name),
        None => Some(v),
    };
    match node {
        Value::Array(items) => items.iter().filter_map(pick).collect(),
        v => pick(v).into_iter().collect(),
    }
}

fn absent(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

fn compare(attr: &super::schema::Attr, v: &Value, op: CompareOp, val: &Val) -> bool {
    use CompareOp::*;
    use std::cmp::Ordering;
    if absent(v) {
        return false;
    }
    let ord: Option<Ordering> = match (val, v) {
        (Val::Str(want), Value::String(have)) => {
            let have = if attr.case_exact {
                have.clone()
            } else {
                have.to_ascii_lowercase()
            };
            match op {
                Co => return have.contains(want.as_str()),
                Sw => return have.starts_with(want.as_str()),
                Ew => return have.ends_with(want.as_str()),
                _ => Some(have.as_bytes().cmp(want.as_bytes())),
            }
        }
        (Val::Bool(want), Value::Bool(have)) => Some(have.cmp(want)),
        (Val::Int(want), Value::Number(have)) => have.as_i64().map(|h| h.cmp(want)),
        (Val::Time(want), Value::String(have)) => parse_time(have).map(|h| h.cmp(want)),
        _ => None,
    };
    let Some(ord) = ord else { return false };
    match op {
        Eq => ord == Ordering::Equal,
        Ne => ord != Ordering::Equal,
        Gt => ord == Ordering::Greater,
        Ge => ord != Ordering::Less,
        Lt => ord == Ordering::Less,
        Le => ord != Ordering::Greater,
        Co | Sw | Ew => false,
    }
}

impl Cond {
    /// Evaluates the condition on a rendered resource (or, inside
    /// [`Cond::Has`], on one element).
    pub fn matches(&self, resource: &Value) -> bool {
        self.eval(resource, false)
    }

    fn eval(&self, node: &Value, in_element: bool) -> bool {
        match self {
            Self::And(a, b) => a.eval(node, in_element) && b.eval(node, in_element),
            Self::Or(a, b) => a.eval(node, in_element) || b.eval(node, in_element),
            Self::Not(a) => !a.eval(node, in_element),
            Self::Pr(r) => Self::values(node, r, in_element).iter().any(|v| !absent(v)),
            Self::Cmp(r, op, val) => Self::values(node, r, in_element)
                .iter()
                .any(|v| compare(r.leaf(), v, *op, val)),
            Self::Has(r, inner) => match top(node, r) {
                Some(Value::Array(items)) => items.iter().any(|e| inner.eval(e, true)),
                Some(v @ Value::Object(_)) => inner.eval(v, true),
                _ => false,
            },
        }
    }

    fn values<'a>(node: &'a Value, r: &AttrRef, in_element: bool) -> Vec<&'a Value> {
        if in_element {
            return r.sub.and_then(|s| node.get(s.name)).into_iter().collect();
        }
        top(node, r).map(|n| leaves(n, r)).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user() -> Value {
        json!({
            "id": "abc", "userName": "Alice@Example.org",
            "name": {"givenName": "Alice"},
            "active": true,
            "emails": [{"value": "Alice@Example.org", "type": "work", "primary": true}],
            super::super::schema::USER_EXT: {"admin": false, "pi": "", "gdprConsent": true},
            "meta": {"lastModified": "2026-06-01T12:00:00.000000Z", "created": "2026-06-01T12:00:00.000000Z"}
        })
    }

    fn m(f: &str) -> bool {
        bind_filter(Kind::User, f).unwrap().matches(&user())
    }

    #[test]
    fn in_memory_semantics() {
        assert!(m(r#"userName eq "alice@example.org""#));
        assert!(!m(r#"id eq "ABC""#));
        assert!(m(r#"emails[type eq "work"].value ew "EXAMPLE.ORG""#));
        assert!(m(r#"emails co "@example""#));
        assert!(m(r#"name.givenName sw "al" and not (active eq false)"#));
        assert!(!m(r#"displayName pr"#));
        assert!(!m(r#"displayName ne "x""#));
        assert!(m(r#"not (displayName eq "x")"#));
        assert!(m(r#"meta.lastModified gt "2026-06-01T11:59:59Z""#));
        assert!(!m(r#"meta.lastModified gt "2026-06-01T14:00:00+02:00""#));
        assert!(m(r#"meta.lastModified ge "2026-06-01T14:00:00+02:00""#));
        assert!(m(r#"gdprConsent eq true"#));
        assert!(!m(
            r#"urn:ietf:params:scim:schemas:extension:neuroglancer:2.0:User:pi pr"#
        ));
        assert!(m(r#"name[givenName eq "ALICE"]"#));
    }

    #[test]
    fn type_errors_are_reported() {
        for bad in [
            r#"active gt true"#,
            r#"active eq "x""#,
            r#"meta.lastModified co "2026""#,
            r#"meta.lastModified gt "yesterday""#,
            r#"userName eq 3"#,
            r#"name eq "x""#,
            r#"nope eq "x""#,
            r#"emails[value eq "x"][type eq "y"]"#,
            r#"userName eq null"#,
        ] {
            assert!(bind_filter(Kind::User, bad).is_err(), "{bad}");
        }
        assert!(bind_filter(Kind::Dataset, "tosId ge 2").is_ok());
        assert!(bind_filter(Kind::Dataset, "tosId eq 2.5").is_err());
    }

    #[test]
    fn times_parse() {
        assert_eq!(parse_time("1970-01-01T00:00:00Z"), Some(Timestamp(0)));
        assert_eq!(
            parse_time("2026-06-01T12:00:00.123456Z"),
            Some(Timestamp(1_780_315_200_123_456))
        );
        assert_eq!(
            parse_time("2026-06-01T14:00:00.5+02:00"),
            Some(Timestamp(1_780_315_200_500_000))
        );
        assert_eq!(parse_time("2026-06-01"), None);
    }

    #[test]
    fn times_with_odd_offsets_are_refused_not_a_panic() {
        // Found by fuzzing (scim_filter): a multi-byte character where the
        // offset's sign goes made a slice panic.
        for bad in [
            "2026-06-01T12:00:00.25\u{57d}d:00",
            "2026-06-01T12:00:00\u{e9}01:00",
            "2026-06-01T12:00:00++1:00",
            "2026-06-01T12:00:00+24:00",
            "2026-06-01T12:00:00+01:60",
            "2026-06-01T12:00:00+01:0\u{e9}",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
        let text = "meta.created ne \"2026-06-01T12:00:00.25\u{57d}d:00\"";
        assert!(bind_filter(Kind::User, text).is_err());
        assert_eq!(
            parse_time("2026-06-01T12:00:00-01:30"),
            parse_time("2026-06-01T13:30:00Z")
        );
    }
}
