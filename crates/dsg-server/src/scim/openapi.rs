//! The SCIM part of the OpenAPI document, generated from the same resource
//! list ([`Kind::ALL`]) the router registers. Bodies are generic JSON objects
//! of the SCIM media type; the resources' own schemas are served by
//! `/Schemas` (RFC 7643 §7).

use dsg_core::scim::schema::{AttrType, Kind, Mutability};
use serde_json::{Map, Value, json};

use super::BASE;
use crate::error::scim::SCIM_JSON;

/// The RFC 7644 §3.12 error body.
pub fn error_schema() -> Value {
    json!({
        "type": "object",
        "required": ["schemas", "status"],
        "properties": {
            "schemas": {"type": "array", "items": {"type": "string"}},
            "status": {"type": "string"},
            "scimType": {"type": "string"},
            "detail": {"type": "string"},
        },
    })
}

fn scim_body(description: &str) -> Value {
    json!({"description": description, "content": {SCIM_JSON: {"schema": {"type": "object"}}}})
}

fn op(id: String, summary: String, params: Value, body: Option<&str>, ok: (&str, &str)) -> Value {
    let mut o = json!({
        "tags": ["scim"],
        "operationId": id,
        "summary": summary,
        "parameters": params,
        "responses": {ok.0: scim_body(ok.1)},
    });
    if let Some(b) = body {
        o["requestBody"] = json!({"required": true, "description": b,
            "content": {SCIM_JSON: {"schema": {"type": "object"}}, "application/json": {"schema": {"type": "object"}}}});
    }
    o
}

/// The body of a create (POST) or replace (PUT): the resource's core schema
/// URN in `schemas` and its required writable attributes, from the same schema
/// `/Schemas` serves. Other attributes are allowed (extensions, optional ones).
fn resource_body(kind: Kind) -> Value {
    let schema = kind.schema();
    let mut required = vec![Value::from("schemas")];
    let mut properties = Map::new();
    properties.insert(
        "schemas".into(),
        json!({"type": "array", "minItems": 1, "items": {"type": "string", "enum": [schema.id]}}),
    );
    for a in schema
        .attrs
        .iter()
        .filter(|a| a.required && a.mutability != Mutability::ReadOnly)
    {
        let ty = match a.ty {
            AttrType::Boolean => "boolean",
            AttrType::Integer => "integer",
            AttrType::Complex => "object",
            _ => "string",
        };
        let one = if ty == "string" {
            json!({"type": ty, "minLength": 1})
        } else {
            json!({"type": ty})
        };
        let v = if a.multi {
            json!({"type": "array", "items": one})
        } else {
            one
        };
        properties.insert(a.name.into(), v);
        // A required boolean (`active`) is always in the answer but defaults
        // when a request leaves it out.
        if a.ty != AttrType::Boolean {
            required.push(a.name.into());
        }
    }
    json!({"type": "object", "required": required, "properties": properties})
}

/// Sets an operation's request body schema (both media types).
fn with_body_schema(mut op: Value, schema: &Value) -> Value {
    for media in [SCIM_JSON, "application/json"] {
        op["requestBody"]["content"][media]["schema"] = schema.clone();
    }
    op
}

fn query(name: &str, description: &str) -> Value {
    json!({"name": name, "in": "query", "required": false, "description": description,
        "schema": {"type": "string"}})
}

fn path_id() -> Value {
    json!({"name": "id", "in": "path", "required": true, "description": "Resource id",
        "schema": {"type": "string"}})
}

fn list_params() -> Value {
    json!([
        query(
            "filter",
            "RFC 7644 §3.4.2.2 filter, e.g. `userName eq \"a@b.org\"`"
        ),
        query("sortBy", "Attribute to sort by"),
        query("sortOrder", "`ascending` or `descending`"),
        query("startIndex", "1-based index of the first result"),
        query("count", "Page size (at most 1000)"),
        query("attributes", "Comma-separated attributes to return"),
        query(
            "excludedAttributes",
            "Comma-separated attributes to leave out"
        ),
    ])
}

fn projection() -> Value {
    json!([
        path_id(),
        query("attributes", "Comma-separated attributes to return"),
        query(
            "excludedAttributes",
            "Comma-separated attributes to leave out"
        ),
    ])
}

/// Every SCIM path with its operations.
pub fn openapi_paths() -> Map<String, Value> {
    let mut paths = Map::new();
    let get = |id: &str, summary: &str, params: Value| json!({"get": op(id.into(), summary.into(), params, None, ("200", summary))});
    paths.insert(
        format!("{BASE}/ServiceProviderConfig"),
        get(
            "scim_service_provider_config",
            "Service provider configuration",
            json!([]),
        ),
    );
    paths.insert(
        format!("{BASE}/ResourceTypes"),
        get("scim_resource_types", "Resource types", json!([])),
    );
    paths.insert(
        format!("{BASE}/ResourceTypes/{{id}}"),
        get(
            "scim_resource_type",
            "One resource type",
            json!([path_id()]),
        ),
    );
    paths.insert(
        format!("{BASE}/Schemas"),
        get("scim_schemas", "Schemas", json!([])),
    );
    paths.insert(
        format!("{BASE}/Schemas/{{id}}"),
        get("scim_schema", "One schema", json!([path_id()])),
    );
    for kind in Kind::ALL {
        let (name, ep) = (kind.name(), kind.endpoint());
        let n = name.to_ascii_lowercase();
        paths.insert(
            format!("{BASE}/{ep}"),
            json!({
                "get": op(format!("scim_list_{n}s"), format!("List {ep}"), list_params(), None,
                    ("200", "A ListResponse")),
                "post": with_body_schema(op(format!("scim_create_{n}"), format!("Create a {name}"), json!([]),
                    Some(&format!("The new {name}")), ("201", "Created")), &resource_body(kind)),
            }),
        );
        paths.insert(
            format!("{BASE}/{ep}/.search"),
            json!({"post": op(format!("scim_search_{n}s"), format!("Search {ep} (RFC 7644 §3.4.3)"),
                json!([]), Some("A SearchRequest"), ("200", "A ListResponse"))}),
        );
        paths.insert(
            format!("{BASE}/{ep}/{{id}}"),
            json!({
                "get": op(format!("scim_get_{n}"), format!("One {name}"), projection(), None, ("200", name)),
                "put": with_body_schema(op(format!("scim_replace_{n}"), format!("Replace a {name}"), json!([path_id()]),
                    Some(&format!("The whole {name}")), ("200", "Replaced")), &resource_body(kind)),
                "patch": op(format!("scim_patch_{n}"), format!("Modify a {name}"), json!([path_id()]),
                    Some("A PatchOp"), ("200", "Modified")),
                "delete": {"tags": ["scim"], "operationId": format!("scim_delete_{n}"),
                    "summary": format!("Delete a {name}"), "parameters": [path_id()],
                    "responses": {"204": {"description": "Deleted"}}},
            }),
        );
    }
    let mut search = op(
        "scim_search_all".into(),
        "Search every resource type: not supported (501, RFC 7644 §3.4.3)".into(),
        json!([]),
        Some("A SearchRequest"),
        ("501", "Not implemented"),
    );
    search["responses"]["501"] = json!({"$ref": "#/components/responses/ScimError"});
    paths.insert(format!("{BASE}/.search"), json!({"post": search}));
    paths
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_bodies_name_the_core_schema_and_required_attributes() {
        let paths = openapi_paths();
        let schema = |path: &str, m: &str| {
            paths[&format!("{BASE}/{path}")][m]["requestBody"]["content"][SCIM_JSON]["schema"]
                .clone()
        };
        let user = schema("Users", "post");
        assert_eq!(user["required"], json!(["schemas", "userName"]));
        assert_eq!(
            user["properties"]["schemas"]["items"]["enum"],
            json!([dsg_core::scim::schema::USER])
        );
        assert_eq!(
            schema("Groups", "post")["required"],
            json!(["schemas", "displayName"])
        );
        assert_eq!(schema("Users/{id}", "put"), user);
    }
}
