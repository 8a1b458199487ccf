//! OpenAPI links (OAS 3.1 §4.8.20): which response feeds which operation's
//! parameters. They document the API's workflows (create a dataset, then
//! grant on it; create a grant, then revoke it by id) and drive the stateful
//! phase of schemathesis (`scripts/openapi-check`), which chains real ids
//! instead of guessing them.
//!
//! One table, applied after operation ids are final; a unit test checks that
//! every link's source response, target operation and parameter exist.

use serde_json::{Map, Value, json};

/// One link from a response to an operation.
struct Link {
    /// Method and path of the operation whose response holds the values.
    from: (&'static str, &'static str),
    /// Status of that response.
    status: &'static str,
    /// The link's name (unique among the response's links).
    name: &'static str,
    /// `operationId` of the operation to call.
    to: &'static str,
    /// Target parameter → runtime expression or constant.
    params: &'static [(&'static str, &'static str)],
}

const NAME: &str = "$response.body#/name";
const ID: &str = "$response.body#/id";

const fn link(
    from: (&'static str, &'static str),
    status: &'static str,
    name: &'static str,
    to: &'static str,
    params: &'static [(&'static str, &'static str)],
) -> Link {
    Link {
        from,
        status,
        name,
        to,
        params,
    }
}

const DATASETS: (&str, &str) = ("post", "/api/v1/datasets");
const GRANTS: (&str, &str) = ("post", "/api/v1/datasets/{name}/grants");
const MEMBERSHIPS: (&str, &str) = ("post", "/api/v1/groups/{name}/memberships");
const REQUESTS: (&str, &str) = ("post", "/api/v1/datasets/{name}/access-requests");
const INVITATIONS: (&str, &str) = ("post", "/api/v1/datasets/{name}/invitations");
const ACCOUNTS: (&str, &str) = ("post", "/api/v1/service-accounts");
const ACCOUNT_PARTS: (&str, &str) = ("post", "/api/v1/service-accounts/{name}/{kind}");
const TOKENS: (&str, &str) = ("post", "/api/v1/tokens");
const TOS: (&str, &str) = ("post", "/api/v1/tos");
const USERS: (&str, &str) = ("get", "/api/v1/user");

const LINKS: &[Link] = &[
    link(
        DATASETS,
        "201",
        "versions",
        "get_versions",
        &[("name", NAME)],
    ),
    link(
        DATASETS,
        "201",
        "addVersion",
        "post_versions",
        &[("name", NAME)],
    ),
    link(DATASETS, "201", "buckets", "get_buckets", &[("name", NAME)]),
    link(
        DATASETS,
        "201",
        "grants",
        "get_dataset_grants",
        &[("name", NAME)],
    ),
    link(
        DATASETS,
        "201",
        "grant",
        "post_dataset_grants",
        &[("name", NAME)],
    ),
    link(
        DATASETS,
        "201",
        "invite",
        "post_invitations",
        &[("name", NAME)],
    ),
    link(
        DATASETS,
        "201",
        "invitations",
        "get_invitations",
        &[("name", NAME)],
    ),
    link(
        DATASETS,
        "201",
        "requestAccess",
        "post_dataset_requests",
        &[("name", NAME)],
    ),
    link(
        DATASETS,
        "201",
        "accessRequests",
        "get_dataset_requests",
        &[("name", NAME)],
    ),
    link(GRANTS, "201", "revoke", "grant", &[("id", ID)]),
    link(
        GRANTS,
        "201",
        "allGrants",
        "get_dataset_grants",
        &[("name", "$request.path.name")],
    ),
    link(
        MEMBERSHIPS,
        "201",
        "remove",
        "membership",
        &[
            ("name", "$response.body#/group"),
            ("user_id", "$response.body#/user_id"),
        ],
    ),
    link(
        MEMBERSHIPS,
        "201",
        "members",
        "get_memberships",
        &[("name", "$request.path.name")],
    ),
    link(
        REQUESTS,
        "201",
        "approve",
        "decide",
        &[("id", ID), ("action", "approve")],
    ),
    link(
        REQUESTS,
        "201",
        "deny",
        "decide",
        &[("id", ID), ("action", "deny")],
    ),
    link(
        INVITATIONS,
        "201",
        "withdraw",
        "invitation",
        &[("name", "$request.path.name"), ("id", ID)],
    ),
    link(ACCOUNTS, "201", "detail", "get_detail", &[("name", NAME)]),
    link(ACCOUNTS, "201", "update", "patch_detail", &[("name", NAME)]),
    link(
        ACCOUNTS,
        "201",
        "addToken",
        "add",
        &[("name", NAME), ("kind", "tokens")],
    ),
    link(
        ACCOUNTS,
        "201",
        "addGrant",
        "add",
        &[("name", NAME), ("kind", "grants")],
    ),
    link(
        ACCOUNT_PARTS,
        "201",
        "remove",
        "remove",
        &[
            ("name", "$request.path.name"),
            ("kind", "$request.path.kind"),
            ("id", ID),
        ],
    ),
    link(TOKENS, "201", "revoke", "token", &[("id", ID)]),
    link(TOS, "201", "read", "get_tos", &[("id", ID)]),
    link(TOS, "201", "acceptPage", "get_accept", &[("id", ID)]),
    link(TOS, "201", "accept", "post_accept", &[("id", ID)]),
    link(TOS, "201", "retire", "retire", &[("id", ID)]),
    link(
        USERS,
        "200",
        "firstUser",
        "get_user",
        &[("id", "$response.body#/0/id")],
    ),
    link(
        USERS,
        "200",
        "firstUserPermissions",
        "get_user_permissions",
        &[("id", "$response.body#/0/id")],
    ),
];

/// SCIM resources: a created resource is read, replaced, patched and deleted by its `id`.
const SCIM: &[(&str, &str)] = &[
    ("Users", "user"),
    ("Groups", "group"),
    ("Datasets", "dataset"),
];

fn link_object(to: &str, params: &[(&str, &str)]) -> Value {
    let params: Map<String, Value> = params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Value::String((*v).to_owned())))
        .collect();
    json!({"operationId": to, "parameters": params})
}

fn add(doc: &mut Value, (method, path): (&str, &str), status: &str, name: &str, link: Value) {
    if let Some(response) = doc
        .pointer_mut(&format!(
            "/paths/{}/{method}/responses/{status}",
            path.replace('~', "~0").replace('/', "~1")
        ))
        .and_then(Value::as_object_mut)
    {
        let links = response.entry("links").or_insert_with(|| json!({}));
        links[name] = link;
    }
}

/// Adds every link of the table (and the SCIM resources') to the document.
pub fn apply(doc: &mut Value) {
    for l in LINKS {
        add(doc, l.from, l.status, l.name, link_object(l.to, l.params));
    }
    for (plural, one) in SCIM {
        let path = format!("{}/{plural}", crate::scim::BASE);
        for (name, op) in [
            ("read", "get"),
            ("replace", "replace"),
            ("patch", "patch"),
            ("delete", "delete"),
        ] {
            let to = format!("scim_{op}_{one}");
            add(
                doc,
                ("post", &path),
                "201",
                name,
                link_object(&to, &[("id", ID)]),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every link leaves a documented response and names an operation that
    /// exists, with only that operation's path parameters.
    #[test]
    fn links_point_at_real_operations_and_parameters() {
        let doc = super::super::document(&crate::Config::default(), None);
        let mut ops = std::collections::HashMap::new();
        for item in doc["paths"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(_, i)| i)
        {
            for (_, op) in item.as_object().into_iter().flatten() {
                if let Some(id) = op.get("operationId").and_then(Value::as_str) {
                    ops.insert(id.to_owned(), op.clone());
                }
            }
        }
        let mut count = 0;
        for (path, item) in doc["paths"].as_object().into_iter().flatten() {
            for (method, op) in item.as_object().into_iter().flatten() {
                for (status, response) in op["responses"].as_object().into_iter().flatten() {
                    for (name, link) in response["links"].as_object().into_iter().flatten() {
                        count += 1;
                        let to = link["operationId"].as_str().unwrap_or_default();
                        let target = ops
                            .get(to)
                            .unwrap_or_else(|| panic!("{method} {path} {status} {name}: no {to}"));
                        let wanted: Vec<&str> = target["parameters"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter(|p| p["in"] == "path")
                            .filter_map(|p| p["name"].as_str())
                            .collect();
                        let given: Vec<&str> = link["parameters"]
                            .as_object()
                            .into_iter()
                            .flatten()
                            .map(|(k, _)| k.as_str())
                            .collect();
                        let mut w = wanted.clone();
                        let mut g = given.clone();
                        w.sort_unstable();
                        g.sort_unstable();
                        assert_eq!(w, g, "{method} {path} {status} {name} → {to}");
                    }
                }
            }
        }
        assert_eq!(
            count,
            LINKS.len() + 4 * SCIM.len(),
            "a link lost its source response"
        );
    }
}
