//! PATCH (RFC 7644 §3.5.2) applied to a rendered resource. The result is
//! then read back with [`super::fields`] and written as a full replacement,
//! so PUT and PATCH share one write path.

use serde_json::{Map, Value};

use super::Invalid;
use super::cond::{Cond, bind};
use super::filter::{AttrPath, parse as parse_filter};
use super::schema::{AttrRef, AttrType, Kind, Mutability, resolve};

/// One operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// add
    Add,
    /// remove
    Remove,
    /// replace
    Replace,
}

/// One parsed operation: op, optional path, optional value.
pub type Operation = (Op, Option<String>, Option<Value>);

/// Parses a PatchOp body's `Operations`.
///
/// # Errors
/// `invalidSyntax` for a malformed body.
pub fn operations(body: &Value) -> Result<Vec<Operation>, Invalid> {
    let ops = body
        .get("Operations")
        .and_then(Value::as_array)
        .ok_or_else(|| Invalid::new("invalidSyntax", "a PatchOp needs an \"Operations\" list"))?;
    ops.iter()
        .map(|o| {
            let op = match o
                .get("op")
                .and_then(Value::as_str)
                .map(str::to_ascii_lowercase)
                .as_deref()
            {
                Some("add") => Op::Add,
                Some("remove") => Op::Remove,
                Some("replace") => Op::Replace,
                other => {
                    return Err(Invalid::new(
                        "invalidSyntax",
                        format!("unknown PATCH op {other:?}: use add, remove or replace"),
                    ));
                }
            };
            let path = match o.get("path") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_owned()),
                Some(_) => {
                    return Err(Invalid::new(
                        "invalidPath",
                        "\"path\" must be a non-empty string",
                    ));
                }
            };
            Ok((op, path, o.get("value").cloned()))
        })
        .collect()
}

/// A parsed PATCH path.
struct Target {
    r: AttrRef,
    /// Value filter on a multi-valued attribute.
    filter: Option<Cond>,
    /// Sub-attribute after the value filter.
    sub: Option<&'static super::schema::Attr>,
}

fn parse_path(kind: Kind, path: &str) -> Result<Target, Invalid> {
    let bad = |m: String| Invalid::new("invalidPath", m);
    if let Some(open) = path.find('[') {
        let close = path
            .rfind(']')
            .ok_or_else(|| bad(format!("{path:?}: missing \"]\"")))?;
        let attr = AttrPath::parse(&path[..open]).map_err(bad)?;
        let r = resolve(kind, attr.urn.as_deref(), &attr.name, attr.sub.as_deref()).map_err(bad)?;
        if !r.attr.multi || r.sub.is_some() {
            return Err(bad(format!(
                "{path:?}: value filters apply to multi-valued attributes"
            )));
        }
        let f = parse_filter(&path[open + 1..close])
            .map_err(|e| Invalid::new("invalidFilter", format!("{path:?}: {e}")))?;
        let cond = bind(kind, &f, Some(&r)).map_err(|e| Invalid::new("invalidFilter", e))?;
        let rest = &path[close + 1..];
        let sub = match rest.strip_prefix('.') {
            Some(s) => Some(
                r.attr
                    .sub_attr(s)
                    .ok_or_else(|| bad(format!("{path:?}: unknown sub-attribute {s:?}")))?,
            ),
            None if rest.is_empty() => None,
            None => return Err(bad(format!("{path:?}: unexpected {rest:?}"))),
        };
        return Ok(Target {
            r,
            filter: Some(cond),
            sub,
        });
    }
    let attr = AttrPath::parse(path).map_err(bad)?;
    let r = resolve(kind, attr.urn.as_deref(), &attr.name, attr.sub.as_deref()).map_err(bad)?;
    Ok(Target {
        r,
        filter: None,
        sub: None,
    })
}

fn container<'a>(
    resource: &'a mut Value,
    r: &AttrRef,
) -> Result<&'a mut Map<String, Value>, Invalid> {
    let root = resource
        .as_object_mut()
        .ok_or_else(|| Invalid::value("the resource is not an object"))?;
    match r.extension {
        None => Ok(root),
        Some(u) => {
            let ext = root.entry(u).or_insert_with(|| Value::Object(Map::new()));
            if !ext.is_object() {
                *ext = Value::Object(Map::new());
            }
            ext.as_object_mut()
                .ok_or_else(|| Invalid::value("bad extension"))
        }
    }
}

fn check_writable(r: &AttrRef, path: &str) -> Result<(), Invalid> {
    let leaf = r.leaf();
    if r.attr.mutability == Mutability::ReadOnly || leaf.mutability == Mutability::ReadOnly {
        return Err(Invalid::new("mutability", format!("{path} is read-only")));
    }
    Ok(())
}

fn as_items(v: Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a,
        Value::Null => Vec::new(),
        v => vec![v],
    }
}

fn same_element(a: &Value, b: &Value) -> bool {
    match (a.get("value"), b.get("value")) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// Applies one operation with a path.
fn apply_path(
    kind: Kind,
    resource: &mut Value,
    op: &Op,
    path: &str,
    value: Option<Value>,
) -> Result<(), Invalid> {
    // A bare extension URN: the value is an object of that extension's attributes.
    if let Some(ext) = kind
        .extensions()
        .iter()
        .find(|s| s.id.eq_ignore_ascii_case(path))
    {
        return match (op, value) {
            (Op::Remove, _) => {
                if let Some(root) = resource.as_object_mut() {
                    root.remove(ext.id);
                }
                Ok(())
            }
            (_, Some(Value::Object(m))) => {
                for (k, v) in m {
                    if k == "schemas" {
                        continue;
                    }
                    apply_path(kind, resource, op, &format!("{}:{k}", ext.id), Some(v))?;
                }
                Ok(())
            }
            _ => Err(Invalid::value(format!(
                "{path}: the value must be an object"
            ))),
        };
    }
    let t = parse_path(kind, path)?;
    if !matches!(op, Op::Remove) && value.is_none() {
        return Err(Invalid::value(format!(
            "{path}: add and replace need a \"value\""
        )));
    }
    let mut check_r = t.r;
    if t.sub.is_some() {
        check_r.sub = t.sub;
    }
    check_writable(&check_r, path)?;
    let name = t.r.attr.name;
    let map = container(resource, &t.r)?;
    // Value-filtered target on a multi-valued attribute.
    if let Some(cond) = &t.filter {
        let items = map.get_mut(name).and_then(Value::as_array_mut);
        let Some(items) = items else {
            return if matches!(op, Op::Remove) {
                Ok(())
            } else {
                Err(Invalid::new("noTarget", format!("{path} matches nothing")))
            };
        };
        let hits: Vec<usize> = items
            .iter()
            .enumerate()
            .filter(|(_, e)| cond_matches_element(cond, e))
            .map(|(i, _)| i)
            .collect();
        if hits.is_empty() {
            return if matches!(op, Op::Remove) {
                Ok(())
            } else {
                Err(Invalid::new("noTarget", format!("{path} matches nothing")))
            };
        }
        match (op, t.sub) {
            (Op::Remove, None) => {
                let mut i = 0;
                items.retain(|_| {
                    let keep = !hits.contains(&i);
                    i += 1;
                    keep
                });
            }
            (Op::Remove, Some(s)) => {
                for i in hits {
                    if let Some(o) = items[i].as_object_mut() {
                        o.remove(s.name);
                    }
                }
            }
            (_, Some(s)) => {
                let v = value.unwrap_or(Value::Null);
                for i in hits {
                    if let Some(o) = items[i].as_object_mut() {
                        o.insert(s.name.to_owned(), v.clone());
                    }
                }
            }
            (_, None) => {
                let v = value.unwrap_or(Value::Null);
                let Value::Object(patch) = v else {
                    return Err(Invalid::value(format!(
                        "{path}: the value must be an object"
                    )));
                };
                for i in hits {
                    if let Some(o) = items[i].as_object_mut() {
                        for (k, x) in &patch {
                            o.insert(k.clone(), x.clone());
                        }
                    }
                }
            }
        }
        return Ok(());
    }
    // Plain path: attribute or attribute.sub.
    match (t.r.sub, op) {
        (Some(s), Op::Remove) => {
            if t.r.attr.multi {
                if let Some(Value::Array(items)) = map.get_mut(name) {
                    for e in items.iter_mut() {
                        if let Some(o) = e.as_object_mut() {
                            o.remove(s.name);
                        }
                    }
                }
            } else if let Some(Value::Object(o)) = map.get_mut(name) {
                o.remove(s.name);
            }
        }
        (Some(s), _) => {
            let v = value.unwrap_or(Value::Null);
            if t.r.attr.multi {
                return Err(Invalid::new(
                    "invalidPath",
                    format!(
                        "{path}: select elements with a value filter, e.g. {name}[value eq \"…\"].{}",
                        s.name
                    ),
                ));
            }
            let o = map.entry(name).or_insert_with(|| Value::Object(Map::new()));
            if !o.is_object() {
                *o = Value::Object(Map::new());
            }
            if let Some(o) = o.as_object_mut() {
                o.insert(s.name.to_owned(), v);
            }
        }
        // Entra ID removes members by value list rather than by filter: drop
        // only the listed elements, never the whole attribute.
        (None, Op::Remove) if t.r.attr.multi && value.as_ref().is_some_and(|v| !v.is_null()) => {
            let gone = as_items(value.unwrap_or(Value::Null));
            if let Some(Value::Array(items)) = map.get_mut(name) {
                items.retain(|e| !gone.iter().any(|g| same_element(e, g)));
            }
        }
        (None, Op::Remove) => {
            map.remove(name);
        }
        (None, Op::Add) if t.r.attr.multi => {
            let list = map.entry(name).or_insert_with(|| Value::Array(Vec::new()));
            if !list.is_array() {
                *list = Value::Array(Vec::new());
            }
            if let Some(list) = list.as_array_mut() {
                for item in as_items(value.unwrap_or(Value::Null)) {
                    if !list.iter().any(|e| same_element(e, &item)) {
                        list.push(item);
                    }
                }
            }
        }
        (None, Op::Replace) if t.r.attr.multi => {
            map.insert(
                name.to_owned(),
                Value::Array(as_items(value.unwrap_or(Value::Null))),
            );
        }
        (None, _) if t.r.attr.ty == AttrType::Complex => match value {
            Some(Value::Object(patch)) => {
                let o = map.entry(name).or_insert_with(|| Value::Object(Map::new()));
                if !o.is_object() {
                    *o = Value::Object(Map::new());
                }
                if let Some(o) = o.as_object_mut() {
                    for (k, x) in patch {
                        o.insert(k, x);
                    }
                }
            }
            _ => {
                return Err(Invalid::value(format!(
                    "{path}: the value must be an object"
                )));
            }
        },
        (None, _) => {
            map.insert(name.to_owned(), value.unwrap_or(Value::Null));
        }
    }
    Ok(())
}

fn cond_matches_element(cond: &Cond, element: &Value) -> bool {
    // Bound with the attribute as parent: evaluate on the element itself by
    // wrapping it in a one-element list under a synthetic Has.
    match cond {
        Cond::And(a, b) => cond_matches_element(a, element) && cond_matches_element(b, element),
        Cond::Or(a, b) => cond_matches_element(a, element) || cond_matches_element(b, element),
        Cond::Not(a) => !cond_matches_element(a, element),
        Cond::Has(_, inner) => cond_matches_element(inner, element),
        leaf => {
            let r = match leaf {
                Cond::Cmp(r, _, _) | Cond::Pr(r) => *r,
                _ => return false,
            };
            let mut wrapper = Map::new();
            wrapper.insert(r.attr.name.to_owned(), Value::Array(vec![element.clone()]));
            let wrapped = match r.extension {
                Some(u) => {
                    let mut root = Map::new();
                    root.insert(u.to_owned(), Value::Object(wrapper));
                    Value::Object(root)
                }
                None => Value::Object(wrapper),
            };
            leaf.matches(&wrapped)
        }
    }
}

/// Applies a PatchOp body to a rendered resource.
///
/// # Errors
/// `invalidSyntax`, `invalidPath`, `invalidFilter`, `noTarget`, `mutability`
/// or `invalidValue`, per RFC 7644 §3.5.2.
pub fn apply(kind: Kind, resource: &mut Value, body: &Value) -> Result<(), Invalid> {
    for (op, path, value) in operations(body)? {
        match path {
            Some(p) => apply_path(kind, resource, &op, &p, value)?,
            None => {
                if op == Op::Remove {
                    return Err(Invalid::new("noTarget", "remove needs a \"path\""));
                }
                let Some(Value::Object(m)) = value else {
                    return Err(Invalid::value(
                        "without a path, the value must be an object of attributes",
                    ));
                };
                for (k, v) in m {
                    if matches!(k.as_str(), "schemas" | "id" | "meta") {
                        continue;
                    }
                    // Read-only attributes inside a path-less value are ignored, as in PUT.
                    if let Ok(t) = parse_path(kind, &k)
                        && t.r.leaf().mutability == Mutability::ReadOnly
                    {
                        continue;
                    }
                    apply_path(kind, resource, &op, &k, Some(v))?;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn patch(kind: Kind, mut r: Value, ops: Value) -> Result<Value, Invalid> {
        apply(kind, &mut r, &json!({"Operations": ops}))?;
        Ok(r)
    }

    #[test]
    fn members_add_remove_by_filter() {
        let g = json!({"displayName": "lab", "members": [{"value": "u1"}]});
        let g = patch(
            Kind::Group,
            g,
            json!([{"op": "add", "path": "members", "value": [{"value": "u2"}, {"value": "u1"}]}]),
        )
        .unwrap();
        assert_eq!(g["members"], json!([{"value": "u1"}, {"value": "u2"}]));
        let g = patch(
            Kind::Group,
            g,
            json!([{"op": "Remove", "path": "members[value eq \"u1\"]"}]),
        )
        .unwrap();
        assert_eq!(g["members"], json!([{"value": "u2"}]));
        // Removal by value list (Entra ID) drops only the listed members.
        let two = patch(
            Kind::Group,
            g.clone(),
            json!([{"op": "add", "path": "members", "value": [{"value": "u3"}]}]),
        )
        .unwrap();
        let one = patch(
            Kind::Group,
            two,
            json!([{"op": "remove", "path": "members", "value": [{"value": "u2"}]}]),
        )
        .unwrap();
        assert_eq!(one["members"], json!([{"value": "u3"}]));
        let g = patch(
            Kind::Group,
            g,
            json!([{"op": "replace", "value": {"displayName": "lab2"}}]),
        )
        .unwrap();
        assert_eq!(g["displayName"], "lab2");
        let e = patch(
            Kind::Group,
            g.clone(),
            json!([{"op": "replace", "path": "members[value eq \"zz\"].value", "value": "x"}]),
        )
        .unwrap_err();
        assert_eq!(e.scim_type, "noTarget");
        let e = patch(Kind::Group, g.clone(), json!([{"op": "remove"}])).unwrap_err();
        assert_eq!(e.scim_type, "noTarget");
        let e = patch(
            Kind::Group,
            g.clone(),
            json!([{"op": "replace", "path": "id", "value": "x"}]),
        )
        .unwrap_err();
        assert_eq!(e.scim_type, "mutability");
        let e = patch(
            Kind::Group,
            g.clone(),
            json!([{"op": "replace", "path": "nope", "value": "x"}]),
        )
        .unwrap_err();
        assert_eq!(e.scim_type, "invalidPath");
        let e = patch(Kind::Group, g, json!([{"op": "move", "path": "x"}])).unwrap_err();
        assert_eq!(e.scim_type, "invalidSyntax");
    }

    #[test]
    fn user_paths_and_extension() {
        let u = json!({"userName": "a@b.org", "name": {"givenName": "A"}});
        let u = patch(Kind::User, u, json!([
            {"op": "replace", "path": "name.familyName", "value": "B"},
            {"op": "add", "path": "urn:ietf:params:scim:schemas:extension:neuroglancer:2.0:User:pi", "value": "Prof"},
            {"op": "replace", "path": "urn:ietf:params:scim:schemas:extension:neuroglancer:2.0:User", "value": {"admin": true}},
            {"op": "replace", "value": {"active": false, "emails": [{"value": "ignored"}]}},
        ])).unwrap();
        assert_eq!(u["name"], json!({"givenName": "A", "familyName": "B"}));
        let ext = &u[super::super::schema::USER_EXT];
        assert_eq!(ext["pi"], "Prof");
        assert_eq!(ext["admin"], true);
        assert_eq!(u["active"], false);
        assert!(u.get("emails").is_none());
        let u = patch(Kind::User, u, json!([{"op": "remove", "path": "name"}])).unwrap();
        assert!(u.get("name").is_none());
    }
}
