//! Resource JSON → the fields the store writes (POST, PUT, and the result of
//! a PATCH). Attribute names are matched case-insensitively; read-only
//! attributes are ignored; absent optional attributes become empty (PUT is a
//! full replacement, RFC 7644 §3.5.1).

use serde_json::{Map, Value};

use super::Invalid;
use super::schema::{Kind, USER_EXT};

/// A user's writable attributes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserFields {
    /// `userName` → e-mail column.
    pub user_name: String,
    /// `name.givenName` → name column.
    pub given_name: String,
    /// `name.familyName`.
    pub family_name: String,
    /// `name.formatted`.
    pub formatted: String,
    /// `displayName`.
    pub display_name: String,
    /// `active` (default true).
    pub active: bool,
    /// `externalId`.
    pub external_id: Option<String>,
    /// Extension `admin`.
    pub admin: bool,
    /// Extension `pi`.
    pub pi: String,
    /// Extension `gdprConsent`.
    pub gdpr_consent: bool,
}

/// A group's writable attributes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GroupFields {
    /// `displayName` → name.
    pub display_name: String,
    /// `externalId`.
    pub external_id: Option<String>,
    /// Member user ids (SCIM ids), in order, without duplicates.
    pub members: Vec<String>,
}

/// A dataset's writable attributes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DatasetFields {
    /// `name`.
    pub name: String,
    /// `description`.
    pub description: String,
    /// `tosId`.
    pub tos_id: Option<i64>,
    /// `externalId`.
    pub external_id: Option<String>,
    /// `(serviceName, tableName)` pairs, without duplicates.
    pub service_tables: Vec<(String, String)>,
}

fn get<'a>(m: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    m.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
        .filter(|v| !v.is_null())
}

fn string(m: &Map<String, Value>, name: &str) -> Result<String, Invalid> {
    match get(m, name) {
        None => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.trim().to_owned()),
        Some(_) => Err(Invalid::value(format!("{name} must be a string"))),
    }
}

fn boolean(m: &Map<String, Value>, name: &str, default: bool) -> Result<bool, Invalid> {
    match get(m, name) {
        None => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        // Some identity providers (Entra ID) send "True"/"False".
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(true),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(false),
        Some(_) => Err(Invalid::value(format!("{name} must be a boolean"))),
    }
}

fn object<'a>(v: &'a Value, what: &str) -> Result<&'a Map<String, Value>, Invalid> {
    v.as_object()
        .ok_or_else(|| Invalid::new("invalidSyntax", format!("{what} must be a JSON object")))
}

fn external_id(m: &Map<String, Value>) -> Result<Option<String>, Invalid> {
    let s = string(m, "externalId")?;
    Ok((!s.is_empty()).then_some(s))
}

fn bounded(name: &str, s: &str, max: usize) -> Result<(), Invalid> {
    if s.chars().count() > max || s.chars().any(char::is_control) {
        return Err(Invalid::value(format!(
            "{name} must be at most {max} characters without control characters"
        )));
    }
    Ok(())
}

impl UserFields {
    /// Reads a User resource.
    ///
    /// # Errors
    /// `invalidValue` for missing `userName` or wrongly typed attributes.
    pub fn from_json(v: &Value) -> Result<Self, Invalid> {
        let m = object(v, "a User")?;
        let user_name = string(m, "userName")?;
        if user_name.is_empty() {
            return Err(Invalid::value("userName is required"));
        }
        if user_name.chars().any(char::is_whitespace) {
            return Err(Invalid::value("userName must not contain spaces"));
        }
        bounded("userName", &user_name, 254)?;
        let empty = Map::new();
        let name = match get(m, "name") {
            Some(n) => object(n, "name")?,
            None => &empty,
        };
        let ext = match get(m, USER_EXT) {
            Some(e) => object(e, USER_EXT)?,
            None => &empty,
        };
        let f = Self {
            user_name,
            given_name: string(name, "givenName")?,
            family_name: string(name, "familyName")?,
            formatted: string(name, "formatted")?,
            display_name: string(m, "displayName")?,
            active: boolean(m, "active", true)?,
            external_id: external_id(m)?,
            admin: boolean(ext, "admin", false)?,
            pi: string(ext, "pi")?,
            gdpr_consent: boolean(ext, "gdprConsent", false)?,
        };
        for (n, s) in [
            ("name.givenName", &f.given_name),
            ("name.familyName", &f.family_name),
            ("name.formatted", &f.formatted),
            ("displayName", &f.display_name),
            ("pi", &f.pi),
        ] {
            bounded(n, s, 1024)?;
        }
        Ok(f)
    }
}

fn value_list(m: &Map<String, Value>, name: &str) -> Result<Vec<Value>, Invalid> {
    match get(m, name) {
        None => Ok(Vec::new()),
        Some(Value::Array(a)) => Ok(a.clone()),
        Some(_) => Err(Invalid::value(format!("{name} must be a list"))),
    }
}

impl GroupFields {
    /// Reads a Group resource.
    ///
    /// # Errors
    /// `invalidValue` for a missing `displayName` or malformed members.
    pub fn from_json(v: &Value) -> Result<Self, Invalid> {
        let m = object(v, "a Group")?;
        let display_name = string(m, "displayName")?;
        if display_name.is_empty() {
            return Err(Invalid::value("displayName is required"));
        }
        bounded("displayName", &display_name, 255)?;
        let mut members: Vec<String> = Vec::new();
        for item in value_list(m, "members")? {
            let id = match &item {
                Value::String(s) => s.clone(),
                Value::Object(o) => string(o, "value")?,
                _ => return Err(Invalid::value("each member must be an object with a value")),
            };
            if id.is_empty() {
                return Err(Invalid::value("each member needs a value (the user's id)"));
            }
            if !members.contains(&id) {
                members.push(id);
            }
        }
        Ok(Self {
            display_name,
            external_id: external_id(m)?,
            members,
        })
    }
}

impl DatasetFields {
    /// Reads a Dataset resource.
    ///
    /// # Errors
    /// `invalidValue` for a missing `name` or malformed attributes.
    pub fn from_json(v: &Value) -> Result<Self, Invalid> {
        let m = object(v, "a Dataset")?;
        let name = string(m, "name")?;
        if name.is_empty() {
            return Err(Invalid::value("name is required"));
        }
        bounded("name", &name, 255)?;
        let description = string(m, "description")?;
        bounded("description", &description, 10_000)?;
        let tos_id = match get(m, "tosId") {
            None => None,
            Some(Value::Number(n)) => Some(
                n.as_i64()
                    .ok_or_else(|| Invalid::value("tosId must be an integer"))?,
            ),
            Some(_) => return Err(Invalid::value("tosId must be an integer")),
        };
        let mut service_tables = Vec::new();
        for item in value_list(m, "serviceTables")? {
            let o = object(&item, "each serviceTables entry")?;
            let pair = (string(o, "serviceName")?, string(o, "tableName")?);
            if pair.0.is_empty() || pair.1.is_empty() {
                return Err(Invalid::value(
                    "each serviceTables entry needs serviceName and tableName",
                ));
            }
            if !service_tables.contains(&pair) {
                service_tables.push(pair);
            }
        }
        Ok(Self {
            name,
            description,
            tos_id,
            external_id: external_id(m)?,
            service_tables,
        })
    }
}

/// Applies `attributes` / `excludedAttributes` (RFC 7644 §3.4.2.5) to a
/// rendered resource. `id` and `schemas` are always returned; attributes
/// marked "returned: request" only when asked for.
pub fn project(kind: Kind, resource: &mut Value, attributes: &[String], excluded: &[String]) {
    let Some(root) = resource.as_object_mut() else {
        return;
    };
    let split = |p: &str| -> Option<(Option<&'static str>, String, Option<String>)> {
        let path = super::filter::AttrPath::parse(p).ok()?;
        let r = super::schema::resolve(kind, path.urn.as_deref(), &path.name, path.sub.as_deref())
            .ok()?;
        Some((
            r.extension,
            r.attr.name.to_owned(),
            r.sub.map(|s| s.name.to_owned()),
        ))
    };
    if !attributes.is_empty() {
        let wanted: Vec<_> = attributes.iter().filter_map(|a| split(a)).collect();
        let keys: Vec<String> = root.keys().cloned().collect();
        for k in keys {
            if matches!(k.as_str(), "id" | "schemas") {
                continue;
            }
            let is_ext = kind.extensions().iter().any(|s| s.id == k);
            if is_ext {
                let Some(Value::Object(ext)) = root.get_mut(&k) else {
                    continue;
                };
                ext.retain(|name, _| {
                    wanted
                        .iter()
                        .any(|(e, n, _)| e.as_deref() == Some(k.as_str()) && n == name)
                });
                if ext.is_empty() {
                    root.remove(&k);
                }
                continue;
            }
            let subs: Vec<&Option<String>> = wanted
                .iter()
                .filter(|(e, n, _)| e.is_none() && *n == k)
                .map(|(_, _, s)| s)
                .collect();
            if subs.is_empty() {
                root.remove(&k);
            } else if subs.iter().all(|s| s.is_some()) {
                let keep: Vec<&str> = subs.iter().filter_map(|s| s.as_deref()).collect();
                retain_subs(root.get_mut(&k), &keep);
            }
        }
    }
    for (e, n, s) in excluded.iter().filter_map(|a| split(a)) {
        if n == "id" && e.is_none() {
            continue;
        }
        let target = match e {
            Some(u) => root.get_mut(u).and_then(Value::as_object_mut),
            None => Some(&mut *root),
        };
        let Some(target) = target else { continue };
        match s {
            None => {
                target.remove(&n);
            }
            Some(s) => match target.get_mut(&n) {
                Some(Value::Object(o)) => {
                    o.remove(&s);
                }
                Some(Value::Array(items)) => {
                    for i in items {
                        if let Some(o) = i.as_object_mut() {
                            o.remove(&s);
                        }
                    }
                }
                _ => {}
            },
        }
    }
}

fn retain_subs(v: Option<&mut Value>, keep: &[&str]) {
    match v {
        Some(Value::Object(o)) => o.retain(|k, _| keep.contains(&k.as_str())),
        Some(Value::Array(items)) => {
            for i in items {
                if let Some(o) = i.as_object_mut() {
                    o.retain(|k, _| keep.contains(&k.as_str()));
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn users_read_with_defaults_and_case_insensitive_names() {
        let f = UserFields::from_json(
            &json!({"USERNAME": "a@b.org", "Name": {"givenname": "A"}, "active": "False",
            USER_EXT: {"admin": true}}),
        )
        .unwrap();
        assert_eq!(f.user_name, "a@b.org");
        assert_eq!(f.given_name, "A");
        assert!(!f.active);
        assert!(f.admin);
        assert_eq!(
            UserFields::from_json(&json!({})).unwrap_err().detail,
            "userName is required"
        );
        assert!(UserFields::from_json(&json!({"userName": "a", "active": 3})).is_err());
    }

    #[test]
    fn projection() {
        let mut r = json!({"id": "1", "schemas": [], "userName": "u", "name": {"givenName": "g", "familyName": "f"},
            "displayName": "d", USER_EXT: {"admin": true, "pi": "p"}});
        project(
            Kind::User,
            &mut r,
            &["name.givenName".into(), "admin".into()],
            &[],
        );
        assert_eq!(
            r,
            json!({"id": "1", "schemas": [], "name": {"givenName": "g"}, USER_EXT: {"admin": true}})
        );
        let mut r = json!({"id": "1", "userName": "u", "displayName": "d"});
        project(
            Kind::User,
            &mut r,
            &[],
            &["displayName".into(), "id".into()],
        );
        assert_eq!(r, json!({"id": "1", "userName": "u"}));
    }
}
