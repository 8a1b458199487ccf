//! `POST /api/dsg/v1/authorize`: a batch of dataset decisions, one result
//! per entry in request order, echoing the entry's own `name`, `version`
//! and `branch` keys (never our canonical names).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use dsg_core::permissions::decide::{Decision, Outcome};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::http::body::parse;
use crate::http::origin::public_origin;
use crate::service::decisions::{self, EntryInput};
use crate::state::AppState;

/// The body of `POST /api/dsg/v1/authorize`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct AuthorizeRequest {
    /// The calling service (`neuprint`, `clio`, …): selects its
    /// translations, service-scoped grants and terms. Unknown: none.
    service: Option<String>,
    /// Where the browser returns after accepting terms (copied into `tos_url`).
    return_url: Option<String>,
    /// The questions, at most 1000. A malformed entry is denied in place.
    #[schema(value_type = Vec<AuthorizeEntry>)]
    entries: Option<Value>,
}

/// One question of a batch.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct AuthorizeEntry {
    /// Dataset name (the service's, if it translates it).
    name: String,
    /// Version name; all digits mean an ordinal on `branch`.
    version: Option<String>,
    /// Branch of an all-digit version (default `main`).
    branch: Option<String>,
    /// Permission asked for (default `view`).
    permission: Option<String>,
}

/// The answer: one result per entry, in request order.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuthorizeResponse {
    /// Results.
    entries: Vec<EntryDecision>,
}

/// One entry's result.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EntryDecision {
    /// Echoed as sent when the entry had it. A value that is not a string
    /// (or `null`) is not echoed: the entry is malformed and denied.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    name: Option<Value>,
    /// Echoed when the entry had it (also `null`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    version: Option<Value>,
    /// Echoed when the entry had it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    branch: Option<Value>,
    /// `allow`, `deny`, `tos_required` or `service_eval`.
    decision: &'static str,
    /// `view, edit, manage, admin` (those held) first, then other names sorted.
    roles: Vec<String>,
    /// Where to accept the pending terms (`tos_required` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    tos_url: Option<String>,
    /// Points a DAG service compares the node with (`service_eval` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    anchors: Option<Vec<AnchorBody>>,
}

/// A `service_eval` anchor.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AnchorBody {
    /// Branch.
    branch: String,
    /// Ordinal on the branch.
    version: i64,
    /// Roles the anchor grants.
    roles: Vec<String>,
}

/// Reads one entry; `None` when malformed.
fn entry(raw: &Value) -> Option<EntryInput> {
    let e = AuthorizeEntry::deserialize(raw).ok()?;
    let permission = match e.permission {
        None => "view".to_owned(),
        Some(p) if p.is_empty() => return None,
        Some(p) => p,
    };
    Some(EntryInput {
        name: e.name,
        version: e.version,
        branch: e.branch,
        permission,
    })
}

/// `POST /api/dsg/v1/authorize` → `{"entries": [...]}`, one decision per
/// entry in request order. Anonymous callers allowed; a credential that
/// fails is 401.
#[utoipa::path(
    post, path = "/api/dsg/v1/authorize", operation_id = "dsg_v1_authorize", tag = "dsg-native",
    request_body(content = AuthorizeRequest, content_type = "application/json"),
    responses((status = 200, description = "One decision per entry, in order", body = AuthorizeResponse),
        (status = 400, description = "Malformed JSON, `entries` not a list, or more than 1000 entries", body = crate::error::schema::ErrorMessage),
        (status = 415, description = "Not a JSON body", body = crate::error::schema::Detail),
        (status = 401, description = "A credential was presented and failed", body = crate::error::schema::Detail))
)]
pub(super) async fn authorize(
    State(state): State<AppState>,
    req: super::Native,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    req.allow(&[Method::POST])?;
    // This route's own 400s are `{"error": …}` (malformed JSON included).
    let body: AuthorizeRequest = parse(&headers, &bytes).map_err(|e| match e {
        ApiError::Detail(axum::http::StatusCode::BAD_REQUEST, m) => ApiError::bad_request(m),
        e => e,
    })?;
    let Some(Value::Array(raw)) = body.entries else {
        return Err(ApiError::bad_request("entries must be a list"));
    };
    let inputs: Vec<Option<EntryInput>> = raw.iter().map(entry).collect();
    let service = body.service.as_deref().filter(|s| !s.is_empty());
    let decided = decisions::authorize(&state, req.auth.as_ref(), service, &inputs).await?;
    let needs_origin = decided
        .iter()
        .any(|d| matches!(d.outcome, Outcome::TosRequired { .. }));
    let origin = if needs_origin {
        Some(public_origin(&state, &headers)?)
    } else {
        None
    };
    let entries = raw
        .iter()
        .zip(decided)
        .map(|(raw, d)| {
            answer(
                raw,
                d,
                origin.as_deref(),
                service,
                body.return_url.as_deref(),
            )
        })
        .collect();
    Ok(Json(AuthorizeResponse { entries }).into_response())
}

fn answer(
    raw: &Value,
    d: Decision,
    origin: Option<&str>,
    service: Option<&str>,
    return_url: Option<&str>,
) -> EntryDecision {
    // Strings and nulls come back as sent; another value made the entry
    // malformed (denied) and is not echoed.
    let echo = |k: &str| {
        raw.as_object()
            .and_then(|o: &Map<String, Value>| o.get(k))
            .filter(|v| v.is_string() || v.is_null())
            .cloned()
    };
    let (decision, tos_url, anchors) = match d.outcome {
        Outcome::Allow => ("allow", None, None),
        Outcome::Deny => ("deny", None, None),
        Outcome::TosRequired { dataset, version } => (
            "tos_required",
            origin.map(|o| tos_url(o, &dataset, version.as_deref(), service, return_url)),
            None,
        ),
        Outcome::ServiceEval { anchors } => (
            "service_eval",
            None,
            Some(
                anchors
                    .into_iter()
                    .map(|a| AnchorBody {
                        branch: a.branch,
                        version: a.version,
                        roles: a.roles,
                    })
                    .collect(),
            ),
        ),
    };
    EntryDecision {
        name: echo("name"),
        version: echo("version"),
        branch: echo("branch"),
        decision,
        roles: d.roles,
        tos_url,
        anchors,
    }
}

/// The service-check page that accepts the pending terms (spec §5.2).
fn tos_url(
    origin: &str,
    dataset: &str,
    version: Option<&str>,
    service: Option<&str>,
    next: Option<&str>,
) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("dataset", dataset);
    if let Some(n) = next.filter(|n| !n.is_empty()) {
        q.append_pair("next", n);
    }
    if let Some(s) = service {
        q.append_pair("service", s);
    }
    if let Some(v) = version {
        q.append_pair("version", v);
    }
    format!("{origin}/web/tos/service-check/?{}", q.finish())
}
