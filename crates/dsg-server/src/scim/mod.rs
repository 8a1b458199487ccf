//! SCIM 2.0 under `/auth/scim/v2` (RFC 7643 / RFC 7644): discovery,
//! `Users`, `Groups` and the custom `Datasets` resource. Handlers are thin:
//! parse the request, one call into the store (filters run in SQL), render.
//! Every write goes through a [`dsg_store::WriteTx`] (audited, cache events
//! emitted) and is applied to this server's cache before answering.

pub mod auth;

mod openapi;

pub use openapi::{error_schema, openapi_paths};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, any, get};
use dsg_core::scim::cond::{bind_filter, parse_time};
use dsg_core::scim::fields::{DatasetFields, GroupFields, UserFields, project};
use dsg_core::scim::filter::AttrPath;
use dsg_core::scim::schema::{self, Kind, LIST_RESPONSE, SCHEMAS};
use dsg_store::scim::ScimQuery;
use serde_json::{Value, json};

use crate::error::scim::{SCIM_JSON, ScimError, scim_json};
use crate::service::provisioning::{self, Replaced, Resource};
use crate::state::AppState;
use auth::ScimCaller;

/// Where SCIM lives.
pub const BASE: &str = "/auth/scim/v2";

/// Largest page.
pub const MAX_COUNT: i64 = 1000;

type ScimResult = Result<Response, ScimError>;

/// Registers the SCIM routes.
pub fn routes(router: Router<AppState>) -> Router<AppState> {
    let p = |path: &str| format!("{BASE}{path}");
    let mut r = router
        .route(
            &p("/ServiceProviderConfig"),
            only_get(get(service_provider_config)),
        )
        .route(&p("/ResourceTypes"), only_get(get(resource_types)))
        .route(&p("/ResourceTypes/{id}"), only_get(get(resource_type)))
        .route(&p("/Schemas"), only_get(get(schemas)))
        .route(&p("/Schemas/{id}"), only_get(get(schema_by_id)));
    for kind in Kind::ALL {
        let collection = get(move |s, c, h, q| list(kind, s, c, h, q))
            .post(move |s, c, h, b| create(kind, s, c, h, b));
        let item = get(move |s, c, h, q, id| get_one(kind, s, c, h, q, id))
            .put(move |s, c, h, id, b| replace(kind, s, c, h, id, b, false))
            .patch(move |s, c, h, id, b| replace(kind, s, c, h, id, b, true))
            .delete(move |s, c, h, id| delete(kind, s, c, h, id));
        let search = axum::routing::post(move |s, c, h, b| search(kind, s, c, h, b));
        r = r
            .route(
                &p(&format!("/{}", kind.endpoint())),
                only_methods(collection),
            )
            .route(
                &p(&format!("/{}/.search", kind.endpoint())),
                only_methods(search),
            )
            .route(
                &p(&format!("/{}/{{id}}", kind.endpoint())),
                only_methods(item),
            );
    }
    r.route(
        &p("/.search"),
        only_methods(axum::routing::post(search_everywhere)),
    )
    .route(&p(""), any(not_found))
    .route(&p("/"), any(not_found))
    .route(&p("/{*rest}"), any(not_found))
}

fn only_get(m: MethodRouter<AppState>) -> MethodRouter<AppState> {
    only_methods(m)
}

fn only_methods(m: MethodRouter<AppState>) -> MethodRouter<AppState> {
    m.fallback(|method: Method| async move {
        ScimError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("Method \"{method}\" not allowed."),
        )
    })
}

/// RFC 7644 §3.4.3 lets a server decline searching several resource types at once.
async fn search_everywhere(_c: ScimCaller) -> ScimError {
    ScimError::new(
        StatusCode::NOT_IMPLEMENTED,
        "Searching several resource types at once is not supported: POST /Users/.search, \
         /Groups/.search or /Datasets/.search.",
    )
}

/// Layer over every SCIM route: `rate_limit.scim`, per bearer token (by
/// its hash), else per client IP; over it, the SCIM error with 429 and
/// `Retry-After`.
pub async fn rate_limit(
    State(state): State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let bearer = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim())
        .filter(|t| !t.is_empty());
    let client = request
        .extensions()
        .get::<crate::http::forwarded::ClientIp>()
        .copied();
    match state.limits.scim(bearer, client.map(|c| c.0)).await {
        Ok(()) => next.run(request).await,
        Err(l) => ScimError::from(l).into_response(),
    }
}

async fn not_found() -> ScimError {
    ScimError::new(StatusCode::NOT_FOUND, "Not found.")
}

/// The absolute base URL for `meta.location` and `$ref`.
fn base_url(state: &AppState, headers: &HeaderMap) -> String {
    let origin = state.config.server.origin.trim_end_matches('/');
    if !origin.is_empty() {
        return format!("{origin}{BASE}");
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.bytes().all(|b| {
                    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']')
                })
        })
        .unwrap_or("localhost");
    format!("http://{host}{BASE}")
}

/// 406 unless the client accepts SCIM or plain JSON.
fn negotiate(headers: &HeaderMap) -> Result<(), ScimError> {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Ok(());
    };
    let ok = accept.split(',').any(|part| {
        let media = part
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        matches!(
            media.as_str(),
            "" | "*/*" | "application/*" | "application/json" | SCIM_JSON
        )
    });
    if ok {
        Ok(())
    } else {
        Err(ScimError::new(
            StatusCode::NOT_ACCEPTABLE,
            "Responses are application/scim+json; the Accept header excludes it.",
        ))
    }
}

/// Parses a request body: `application/scim+json` or `application/json`.
fn body_json(headers: &HeaderMap, body: &Bytes) -> Result<Value, ScimError> {
    if let Some(ct) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    {
        let media = ct
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        if media != SCIM_JSON && media != "application/json" {
            return Err(ScimError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Send application/scim+json or application/json.",
            ));
        }
    }
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| ScimError::bad("invalidSyntax", format!("the body is not valid JSON: {e}")))?;
    if !v.is_object() {
        return Err(ScimError::bad(
            "invalidSyntax",
            "the body must be a JSON object",
        ));
    }
    Ok(v)
}

fn with_location(v: &Value, kind_name: &str, base: &str, id: &str) -> Value {
    let mut v = v.clone();
    v["meta"] = json!({"resourceType": kind_name, "location": format!("{base}/{id}")});
    v
}

async fn service_provider_config(State(state): State<AppState>, headers: HeaderMap) -> ScimResult {
    negotiate(&headers)?;
    let base = base_url(&state, &headers);
    Ok(scim_json(
        StatusCode::OK,
        &json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
            "patch": {"supported": true},
            "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
            "filter": {"supported": true, "maxResults": MAX_COUNT},
            "changePassword": {"supported": false},
            "sort": {"supported": true},
            "etag": {"supported": true},
            "authenticationSchemes": [{
                "type": "oauthbearertoken",
                "name": "OAuth Bearer Token",
                "description": "A SCIM token (dsg scim token create NAME) or a global admin's API token, \
                                as Authorization: Bearer <token>.",
                "primary": true
            }],
            "meta": {"resourceType": "ServiceProviderConfig",
                     "location": format!("{base}/ServiceProviderConfig")}
        }),
    ))
}

fn list_response(resources: Vec<Value>, total: usize, start: i64) -> Value {
    json!({
        "schemas": [LIST_RESPONSE],
        "totalResults": total,
        "itemsPerPage": resources.len(),
        "startIndex": start,
        "Resources": resources,
    })
}

fn resource_type_values(base: &str) -> Vec<Value> {
    Kind::ALL
        .iter()
        .map(|k| {
            with_location(
                &k.resource_type_json(),
                "ResourceType",
                &format!("{base}/ResourceTypes"),
                k.name(),
            )
        })
        .collect()
}

fn schema_values(base: &str) -> Vec<Value> {
    SCHEMAS
        .iter()
        .map(|s| with_location(&s.to_json(), "Schema", &format!("{base}/Schemas"), s.id))
        .collect()
}

async fn resource_types(State(state): State<AppState>, headers: HeaderMap) -> ScimResult {
    negotiate(&headers)?;
    let all = resource_type_values(&base_url(&state, &headers));
    let n = all.len();
    Ok(scim_json(StatusCode::OK, &list_response(all, n, 1)))
}

async fn resource_type(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ScimResult {
    negotiate(&headers)?;
    resource_type_values(&base_url(&state, &headers))
        .into_iter()
        .find(|v| v["id"] == id.as_str())
        .map(|v| scim_json(StatusCode::OK, &v))
        .ok_or_else(|| ScimError::not_found("ResourceType"))
}

async fn schemas(State(state): State<AppState>, headers: HeaderMap) -> ScimResult {
    negotiate(&headers)?;
    let all = schema_values(&base_url(&state, &headers));
    let n = all.len();
    Ok(scim_json(StatusCode::OK, &list_response(all, n, 1)))
}

async fn schema_by_id(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ScimResult {
    negotiate(&headers)?;
    schema_values(&base_url(&state, &headers))
        .into_iter()
        .find(|v| {
            v["id"]
                .as_str()
                .is_some_and(|s| s.eq_ignore_ascii_case(&id))
        })
        .map(|v| scim_json(StatusCode::OK, &v))
        .ok_or_else(|| ScimError::not_found("Schema"))
}

/// List parameters (query string or `.search` body).
#[derive(Debug, Default)]
struct ListParams {
    filter: Option<String>,
    sort_by: Option<String>,
    descending: bool,
    start: i64,
    count: i64,
    attributes: Vec<String>,
    excluded: Vec<String>,
}

fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_owned)
        .collect()
}

fn parse_int(s: Option<&str>, default: i64) -> i64 {
    s.and_then(|v| v.trim().parse::<i64>().ok())
        .unwrap_or(default)
}

impl ListParams {
    fn from_query(query: Option<&str>) -> Result<Self, ScimError> {
        let pairs: Vec<(String, String)> =
            url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
        let get = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        Self::from_parts(
            get("filter").map(str::to_owned),
            get("sortBy").map(str::to_owned),
            get("sortOrder"),
            get("startIndex"),
            get("count"),
            get("attributes").map(split_list).unwrap_or_default(),
            get("excludedAttributes")
                .map(split_list)
                .unwrap_or_default(),
        )
    }

    fn from_parts(
        filter: Option<String>,
        sort_by: Option<String>,
        sort_order: Option<&str>,
        start: Option<&str>,
        count: Option<&str>,
        attributes: Vec<String>,
        excluded: Vec<String>,
    ) -> Result<Self, ScimError> {
        let descending = match sort_order.map(str::to_ascii_lowercase).as_deref() {
            None | Some("") | Some("ascending") => false,
            Some("descending") => true,
            Some(other) => {
                return Err(ScimError::bad(
                    "invalidValue",
                    format!("sortOrder must be \"ascending\" or \"descending\", not {other:?}"),
                ));
            }
        };
        Ok(Self {
            filter: filter.filter(|f| !f.trim().is_empty()),
            sort_by: sort_by.filter(|s| !s.trim().is_empty()),
            descending,
            start: parse_int(start, 1).max(1),
            count: parse_int(count, 100).clamp(0, MAX_COUNT),
            attributes,
            excluded,
        })
    }
}

/// `returned: request` attributes (group members' `display`) only when named.
fn shape(kind: Kind, mut v: Value, attributes: &[String], excluded: &[String]) -> Value {
    let wants_display = attributes
        .iter()
        .any(|a| a.eq_ignore_ascii_case("members.display"));
    if kind == Kind::Group
        && !wants_display
        && let Some(items) = v.get_mut("members").and_then(Value::as_array_mut)
    {
        for i in items {
            if let Some(o) = i.as_object_mut() {
                o.remove("display");
            }
        }
    }
    project(kind, &mut v, attributes, excluded);
    v
}

async fn run_list(kind: Kind, state: &AppState, headers: &HeaderMap, p: ListParams) -> ScimResult {
    let cond = match &p.filter {
        Some(f) => Some(bind_filter(kind, f).map_err(|e| {
            ScimError::bad("invalidFilter", format!("Invalid filter expression: {e}"))
        })?),
        None => None,
    };
    let sort = match &p.sort_by {
        Some(s) => {
            let path = AttrPath::parse(s)
                .map_err(|e| ScimError::bad("invalidValue", format!("sortBy: {e}")))?;
            let r = schema::resolve(kind, path.urn.as_deref(), &path.name, path.sub.as_deref())
                .map_err(|e| ScimError::bad("invalidValue", format!("sortBy: {e}")))?;
            Some((r, p.descending))
        }
        None => None,
    };
    let query = ScimQuery::build(state.store.backend(), kind, cond.as_ref(), sort).map_err(
        |e| match e {
            dsg_store::scim::QueryError::Filter(m) => ScimError::bad("invalidFilter", m),
            dsg_store::scim::QueryError::Sort(m) => {
                ScimError::bad("invalidValue", format!("sortBy: {m}"))
            }
        },
    )?;
    let base = base_url(state, headers);
    let page = state
        .store
        .scim_list(&query, p.start - 1, p.count, &base)
        .await?;
    let resources: Vec<Value> = page
        .resources
        .into_iter()
        .map(|v| shape(kind, v, &p.attributes, &p.excluded))
        .collect();
    let total = usize::try_from(page.total).unwrap_or(0);
    Ok(scim_json(
        StatusCode::OK,
        &list_response(resources, total, p.start),
    ))
}

async fn list(
    kind: Kind,
    State(state): State<AppState>,
    _c: ScimCaller,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> ScimResult {
    negotiate(&headers)?;
    let p = ListParams::from_query(q.as_deref())?;
    run_list(kind, &state, &headers, p).await
}

async fn search(
    kind: Kind,
    State(state): State<AppState>,
    _c: ScimCaller,
    headers: HeaderMap,
    body: Bytes,
) -> ScimResult {
    negotiate(&headers)?;
    let v = body_json(&headers, &body)?;
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    let n = |k: &str| {
        v.get(k).map(|x| match x {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    };
    let l = |k: &str| -> Vec<String> {
        match v.get(k) {
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            Some(Value::String(s)) => split_list(s),
            _ => Vec::new(),
        }
    };
    let sort_order = s("sortOrder");
    let (start, count) = (n("startIndex"), n("count"));
    let p = ListParams::from_parts(
        s("filter"),
        s("sortBy"),
        sort_order.as_deref(),
        start.as_deref(),
        count.as_deref(),
        l("attributes"),
        l("excludedAttributes"),
    )?;
    run_list(kind, &state, &headers, p).await
}

fn etag_matches(header_value: &str, version: &str) -> bool {
    let strip = |s: &str| {
        s.trim()
            .trim_start_matches("W/")
            .trim_matches('"')
            .to_owned()
    };
    let want = strip(version);
    header_value
        .split(',')
        .any(|t| t.trim() == "*" || strip(t) == want)
}

fn version(v: &Value) -> String {
    v["meta"]["version"].as_str().unwrap_or_default().to_owned()
}

fn resource_response(
    status: StatusCode,
    kind: Kind,
    v: Value,
    attributes: &[String],
    excluded: &[String],
) -> Response {
    let etag = version(&v);
    let location = v["meta"]["location"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let mut r = scim_json(status, &shape(kind, v, attributes, excluded));
    if let Ok(h) = HeaderValue::from_str(&etag) {
        r.headers_mut().insert(header::ETAG, h);
    }
    if status == StatusCode::CREATED
        && let Ok(h) = HeaderValue::from_str(&location)
    {
        r.headers_mut().insert(header::LOCATION, h);
    }
    r
}

async fn get_one(
    kind: Kind,
    State(state): State<AppState>,
    _c: ScimCaller,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    Path(id): Path<String>,
) -> ScimResult {
    negotiate(&headers)?;
    let p = ListParams::from_query(q.as_deref())?;
    let base = base_url(&state, &headers);
    let v = state
        .store
        .scim_get(kind, &id, &base)
        .await?
        .ok_or_else(|| ScimError::not_found(kind.name()))?;
    if let Some(inm) = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|h| h.to_str().ok())
        && etag_matches(inm, &version(&v))
    {
        let mut r = StatusCode::NOT_MODIFIED.into_response();
        if let Ok(h) = HeaderValue::from_str(&version(&v)) {
            r.headers_mut().insert(header::ETAG, h);
        }
        return Ok(r);
    }
    Ok(resource_response(
        StatusCode::OK,
        kind,
        v,
        &p.attributes,
        &p.excluded,
    ))
}

async fn create(
    kind: Kind,
    State(state): State<AppState>,
    caller: ScimCaller,
    headers: HeaderMap,
    body: Bytes,
) -> ScimResult {
    negotiate(&headers)?;
    let v = body_json(&headers, &body)?;
    let id = provisioning::create(&state, caller.actor, &resource(kind, &v)?).await?;
    let base = base_url(&state, &headers);
    let created = state
        .store
        .scim_get_internal(kind, id, &base)
        .await?
        .ok_or_else(|| ScimError::not_found(kind.name()))?;
    Ok(resource_response(
        StatusCode::CREATED,
        kind,
        created,
        &[],
        &[],
    ))
}

/// The typed attributes of a SCIM document of `kind`.
fn resource(kind: Kind, v: &Value) -> Result<Resource, ScimError> {
    Ok(match kind {
        Kind::User => Resource::User(UserFields::from_json(v)?),
        Kind::Group => Resource::Group(GroupFields::from_json(v)?),
        Kind::Dataset => Resource::Dataset(DatasetFields::from_json(v)?),
    })
}

fn check_if_match(headers: &HeaderMap, current: &Value) -> Result<(), ScimError> {
    match headers.get(header::IF_MATCH).and_then(|h| h.to_str().ok()) {
        Some(im) if !etag_matches(im, &version(current)) => Err(ScimError::precondition()),
        _ => Ok(()),
    }
}

async fn replace(
    kind: Kind,
    State(state): State<AppState>,
    caller: ScimCaller,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
    patch: bool,
) -> ScimResult {
    negotiate(&headers)?;
    let v = body_json(&headers, &body)?;
    let base = base_url(&state, &headers);
    // Read, modify, write optimistically. With If-Match, a concurrent change
    // is the client's 412; without it, a lost race is retried on fresh data.
    let conditional = headers.contains_key(header::IF_MATCH);
    let mut attempt = 0;
    let internal = loop {
        attempt += 1;
        let current = state
            .store
            .scim_get(kind, &id, &base)
            .await?
            .ok_or_else(|| ScimError::not_found(kind.name()))?;
        check_if_match(&headers, &current)?;
        let seen = current["meta"]["lastModified"]
            .as_str()
            .and_then(parse_time)
            .map_or(0, |t| t.0);
        let desired = if patch {
            let mut doc = shape(kind, current.clone(), &[], &[]);
            dsg_core::scim::patch::apply(kind, &mut doc, &v)?;
            doc
        } else {
            v.clone()
        };
        let r = resource(kind, &desired)?;
        match provisioning::replace(&state, caller.actor.clone(), kind, &id, seen, &r).await? {
            Replaced::Applied(internal) => break internal,
            Replaced::Stale => {}
        }

        // Each round some writer wins, so n concurrent writers need at most n rounds.
        if conditional || attempt >= 32 {
            return Err(ScimError::precondition());
        }
        tokio::time::sleep(std::time::Duration::from_millis(attempt.min(10))).await;
    };
    let updated = state
        .store
        .scim_get_internal(kind, internal, &base)
        .await?
        .ok_or_else(|| ScimError::not_found(kind.name()))?;
    Ok(resource_response(StatusCode::OK, kind, updated, &[], &[]))
}

async fn delete(
    kind: Kind,
    State(state): State<AppState>,
    caller: ScimCaller,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ScimResult {
    negotiate(&headers)?;
    let base = base_url(&state, &headers);
    let current = state
        .store
        .scim_get(kind, &id, &base)
        .await?
        .ok_or_else(|| ScimError::not_found(kind.name()))?;
    check_if_match(&headers, &current)?;
    provisioning::delete(&state, caller.actor, kind, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
