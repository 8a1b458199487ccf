//! The OpenAPI 3.1 document of the HTTP API (`GET /openapi.json`) and the
//! Swagger UI that renders it (`/docs`, served from the binary).
//!
//! Operations are described by `#[utoipa::path]` on the handlers; each route
//! module collects its own (`openapi()` next to its `routes()`), and SCIM
//! paths are generated from the same resource list the SCIM router uses.
//! Routes stay `any(...)` where the handler dispatches on the method itself,
//! because the original checks authentication and permission before the
//! method (spec §1.1); the route-walk test keeps the document and the router
//! in step. The shared parts (security schemes, the error envelopes, unique
//! operation ids, the links between operations) are applied here in one pass.

mod links;
mod swagger;

use serde_json::{Map, Value, json};
use utoipa::OpenApi;

pub use crate::config::{SwaggerConfig, SwaggerOauth2};
pub use swagger::{build as build_docs, routes};

pub use crate::error::schema::{Detail, ErrorMessage, Refusal};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "DatasetGateway",
        description = "Authorization service for neuroscience datasets: the CAVE-compatible \
            API (middle_auth_client), the native API, the DSG-native API (neuPrint, Clio), SCIM 2.0 provisioning, Neuroglancer \
            ngauth and the probes. Authenticate with `Authorization: Bearer <token>`, the \
            `dsg_token` cookie or the `dsg_token` query parameter.\n\n\
            **Trying requests here:** when this browser is signed in to DatasetGateway, its \
            login cookie goes with every request and wins over a token entered under \
            \"Authorize\": the answers are the signed-in person's. Log out (or use a private \
            window) to try a token.",
        license(name = "BSD-3-Clause")
    ),
    components(schemas(
        Detail,
        ErrorMessage,
        Refusal,
        dsg_core::permissions::CacheDocument,
        dsg_core::permissions::MissingTos
    )),
    tags(
        (name = "cave", description = "CAVE-compatible API (`/api/v1`, also under `/auth/api/v1`)"),
        (name = "native", description = "DatasetGateway-native API"),
        (name = "dsg-native", description = "DSG-native API for neuPrintHTTP and clio-store (`/api/dsg/v1`): identity, batch decisions, listings"),
        (name = "login", description = "Browser login for CAVE clients"),
        (name = "scim", description = "SCIM 2.0 (RFC 7643 / 7644), `application/scim+json`"),
        (name = "ngauth", description = "Neuroglancer ngauth token endpoints"),
        (name = "probes", description = "Health, readiness and version; unauthenticated")
    )
)]
struct Base;

/// Where the OAuth2 authorization-code flow of `[swagger.oauth2]` runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OauthFlow {
    /// Authorization endpoint.
    pub authorization_url: String,
    /// Token endpoint.
    pub token_url: String,
    /// Scopes offered.
    pub scopes: Vec<String>,
}

/// Builds the whole document.
pub fn document(config: &crate::Config, oauth: Option<&OauthFlow>) -> Value {
    let mut doc = Base::openapi();
    for part in [
        crate::cave::openapi(),
        crate::native::openapi(),
        crate::dsg_v1::openapi(),
        crate::web::openapi(),
        crate::login::openapi(),
        crate::ngauth::openapi(),
        crate::health::openapi(),
    ] {
        doc.merge(part);
    }
    doc.info.version = env!("CARGO_PKG_VERSION").into();
    let mut doc = serde_json::to_value(&doc).unwrap_or_else(|_| json!({}));
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        paths.extend(crate::scim::openapi_paths());
    }
    security(&mut doc, config, oauth);
    finish_operations(&mut doc);
    links::apply(&mut doc);
    doc
}

fn security(doc: &mut Value, config: &crate::Config, oauth: Option<&OauthFlow>) {
    let cookie = config
        .auth
        .cookie_names
        .first()
        .map_or("dsg_token", String::as_str);
    let query = config
        .auth
        .query_names
        .first()
        .map_or("dsg_token", String::as_str);
    let mut schemes = json!({
        "bearer": {"type": "http", "scheme": "bearer",
            "description": "An API token (`dsg token create`, `/api/v1/create_token`) or, when `[auth]` \
                names an issuer, that issuer's JWT."},
        "cookie": {"type": "apiKey", "in": "cookie", "name": cookie,
            "description": "The login cookie set by the browser login."},
        "query": {"type": "apiKey", "in": "query", "name": query,
            "description": "The token as a query parameter."},
    });
    let mut global = vec![
        json!({"bearer": []}),
        json!({"cookie": []}),
        json!({"query": []}),
    ];
    if let Some(o) = oauth {
        let scopes: Map<String, Value> = o
            .scopes
            .iter()
            .map(|s| (s.clone(), Value::String(s.clone())))
            .collect();
        schemes["oauth2"] = json!({
            "type": "oauth2",
            "description": "Authorization code with PKCE against `[swagger.oauth2]`'s issuer; the access \
                token is sent as a bearer JWT (accepted when `[auth]` trusts that issuer).",
            "flows": {"authorizationCode": {
                "authorizationUrl": o.authorization_url,
                "tokenUrl": o.token_url,
                "scopes": scopes,
            }},
        });
        global.push(json!({"oauth2": o.scopes}));
    }
    doc["components"]["securitySchemes"] = schemes;
    doc["components"]["responses"] = json!({
        "ApiError": {
            "description": "`{\"detail\": …}` (authentication, permission, method, parse errors) or \
                `{\"error\": …}` (endpoint failures); every 401 carries `WWW-Authenticate: Bearer`.",
            "content": {"application/json": {"schema": {"anyOf": [
                {"$ref": "#/components/schemas/Detail"},
                {"$ref": "#/components/schemas/ErrorMessage"},
                {"$ref": "#/components/schemas/Refusal"},
            ]}}},
        },
        "ScimError": {
            "description": "A SCIM error (RFC 7644 §3.12).",
            "content": {"application/scim+json": {"schema": crate::scim::error_schema()}},
        },
        "RateLimited": {
            "description": "Over a rate limit (`[rate_limit]`): too many refused tokens from this \
                address, logins, or minted tokens. Retry after `Retry-After` seconds.",
            "headers": {"Retry-After": retry_after()},
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Detail"}}},
        },
        "ScimRateLimited": {
            "description": "Over `rate_limit.scim` or `rate_limit.failed_auth`: a SCIM error with \
                status \"429\". Retry after `Retry-After` seconds.",
            "headers": {"Retry-After": retry_after()},
            "content": {"application/scim+json": {"schema": crate::scim::error_schema()}},
        },
    });
    doc["security"] = Value::Array(global);
}

/// The `Retry-After` header of a 429.
fn retry_after() -> Value {
    json!({
        "description": "Seconds until the rate limit's window ends.",
        "schema": {"type": "integer", "minimum": 1},
    })
}

/// Whether an operation reads a token (its own `security`, or the global
/// one), so a refused token may be answered 429 by `rate_limit.failed_auth`.
fn reads_token(op: &Map<String, Value>) -> bool {
    match op.get("security").and_then(Value::as_array) {
        None => true,
        Some(reqs) => reqs
            .iter()
            .any(|r| r.as_object().is_some_and(|o| !o.is_empty())),
    }
}

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Per operation: a unique `operationId` (one handler may serve several
/// methods), no request body on GET/DELETE/OPTIONS, the error envelope
/// for every 4xx not described more precisely, and 429 (with `Retry-After`)
/// wherever a rate limit applies: every SCIM operation and every operation
/// that reads a token.
fn finish_operations(doc: &mut Value) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    let mut seen = std::collections::HashMap::<String, usize>::new();
    for item in paths.values() {
        for m in METHODS {
            if let Some(id) = item[m]["operationId"].as_str() {
                *seen.entry(id.to_owned()).or_default() += 1;
            }
        }
    }
    for (path, item) in paths.iter_mut() {
        let scim = path.starts_with(crate::scim::BASE);
        for m in METHODS {
            let Some(op) = item.get_mut(m).and_then(Value::as_object_mut) else {
                continue;
            };
            if let Some(id) = op.get("operationId").and_then(Value::as_str)
                && seen.get(id).copied().unwrap_or(0) > 1
            {
                let unique = format!("{m}_{id}");
                op.insert("operationId".into(), unique.into());
            }
            if matches!(m, "get" | "delete" | "options" | "head") {
                op.remove("requestBody");
            }
            // Swagger UI shows summaries as plain text: no Markdown backticks.
            if let Some(Value::String(summary)) = op.get_mut("summary") {
                summary.retain(|c| c != '`');
            }
            let error = if scim { "ScimError" } else { "ApiError" };
            let limited = (scim || reads_token(op)).then(|| {
                let name = if scim {
                    "ScimRateLimited"
                } else {
                    "RateLimited"
                };
                json!({"$ref": format!("#/components/responses/{name}")})
            });
            if let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) {
                responses
                    .entry("4XX")
                    .or_insert_with(|| json!({"$ref": format!("#/components/responses/{error}")}));
                if let Some(own) = responses.get_mut("429").and_then(Value::as_object_mut) {
                    own.entry("headers")
                        .or_insert_with(|| json!({"Retry-After": retry_after()}));
                } else if let Some(r) = limited {
                    responses.insert("429".into(), r);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_are_plain_text_and_the_cookie_rule_is_said() {
        let doc = document(&crate::Config::default(), None);
        let mut summaries = 0;
        for item in doc["paths"]
            .as_object()
            .into_iter()
            .flat_map(|p| p.values())
        {
            for m in METHODS {
                if let Some(s) = item[m]["summary"].as_str() {
                    summaries += 1;
                    assert!(!s.contains('`'), "{s}");
                }
            }
        }
        assert!(summaries > 20);
        let about = doc["info"]["description"].as_str().unwrap_or_default();
        assert!(about.contains("wins over"), "{about}");
    }

    #[test]
    fn operation_ids_are_unique_and_errors_documented() {
        let doc = document(&crate::Config::default(), None);
        assert_eq!(doc["openapi"].as_str().map(|v| &v[..3]), Some("3.1"));
        let mut ids = std::collections::HashSet::new();
        for (path, item) in doc["paths"].as_object().into_iter().flatten() {
            for m in METHODS {
                if let Some(op) = item.get(m) {
                    let id = op["operationId"].as_str().unwrap_or_default().to_owned();
                    assert!(
                        ids.insert(id.clone()),
                        "duplicate operationId {id} at {path}"
                    );
                    assert!(op["responses"].get("4XX").is_some(), "{m} {path}");
                    let limited = path.starts_with(crate::scim::BASE)
                        || path.starts_with("/api/v1/")
                        || path == "/token";
                    if limited {
                        assert!(op["responses"].get("429").is_some(), "no 429 at {m} {path}");
                    }
                    if m == "get" {
                        assert!(op.get("requestBody").is_none(), "GET {path} has a body");
                    }
                }
            }
        }
        assert!(doc["components"]["securitySchemes"]["oauth2"].is_null());
        for r in ["RateLimited", "ScimRateLimited"] {
            let h = &doc["components"]["responses"][r]["headers"]["Retry-After"];
            assert_eq!(h["schema"]["type"], "integer", "{r}");
        }
        let own = &doc["paths"]["/api/v1/create_token"]["post"]["responses"]["429"];
        assert!(
            own["description"]
                .as_str()
                .unwrap_or_default()
                .contains("token_creation")
        );
        assert!(own["headers"].get("Retry-After").is_some(), "{own}");
        assert!(
            doc["paths"]["/healthz"]["get"]["responses"]
                .get("429")
                .is_none()
        );
    }

    #[test]
    fn oauth_flow_becomes_a_security_scheme() {
        let flow = OauthFlow {
            authorization_url: "https://idp.example/authorize".into(),
            token_url: "https://idp.example/token".into(),
            scopes: vec!["openid".into(), "datasets:read".into()],
        };
        let doc = document(&crate::Config::default(), Some(&flow));
        let s = &doc["components"]["securitySchemes"]["oauth2"]["flows"]["authorizationCode"];
        assert_eq!(s["tokenUrl"], "https://idp.example/token");
        assert_eq!(s["scopes"]["datasets:read"], "datasets:read");
        assert!(
            doc["security"]
                .as_array()
                .is_some_and(|a| a.iter().any(|r| r.get("oauth2").is_some()))
        );
    }
}
