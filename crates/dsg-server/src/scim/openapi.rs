//! The SCIM part of the OpenAPI document, generated from the same resource
//! list ([`Kind::ALL`]) the router registers. Bodies are generic JSON objects
//! of the SCIM media type; the resources' own schemas are served by
//! `/Schemas` (RFC 7643 §7).

use dsg_core::scim::schema::Kind;
use serde_json::{Map, Value, json};

use super::BASE;
use super::error::SCIM_JSON;

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
                "post": op(format!("scim_create_{n}"), format!("Create a {name}"), json!([]),
                    Some(&format!("The new {name}")), ("201", "Created")),
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
                "put": op(format!("scim_replace_{n}"), format!("Replace a {name}"), json!([path_id()]),
                    Some(&format!("The whole {name}")), ("200", "Replaced")),
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
