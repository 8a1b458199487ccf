//! `GET /api/v1/audit`: the append-only audit log, for global admins.

use axum::extract::{Query, State};
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Json, Router};
use dsg_core::Timestamp;
use dsg_store::audit::AuditFilter;
use serde::Deserialize;
use serde_json::json;

use super::{Ctx, require};
use crate::error::ApiError;
use crate::state::AppState;

pub(super) fn routes(r: Router<AppState>) -> Router<AppState> {
    r.route("/api/v1/audit", any(list))
}

/// Query parameters of `GET /api/v1/audit`.
#[derive(Debug, Default, Deserialize)]
struct AuditQuery {
    actor: Option<String>,
    action: Option<String>,
    target_type: Option<String>,
    target: Option<String>,
    since: Option<String>,
    until: Option<String>,
    limit: Option<String>,
}

fn when(key: &str, v: Option<&str>) -> Result<Option<Timestamp>, ApiError> {
    match v.filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => Timestamp::parse(s).map(Some).ok_or_else(|| {
            ApiError::bad_request(format!(
                "{key} must be an RFC 3339 time, a date or Unix seconds, not {s:?}"
            ))
        }),
    }
}

/// Builds a store filter from query text (shared with nothing else: the CLI
/// parses its own flags).
fn filter(q: AuditQuery) -> Result<AuditFilter, ApiError> {
    let limit = match q.limit.as_deref().filter(|s| !s.is_empty()) {
        None => 100,
        Some(s) => s
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=10_000).contains(n))
            .ok_or_else(|| ApiError::bad_request("limit must be an integer from 1 to 10000"))?,
    };
    // `target` is `Type:id` or a bare id.
    let (target_type, target_id) = match q.target.as_deref().filter(|s| !s.is_empty()) {
        Some(t) => match t.split_once(':') {
            Some((ty, id)) => (Some(ty.to_owned()), Some(id.to_owned())),
            None => (q.target_type.clone(), Some(t.to_owned())),
        },
        None => (q.target_type.clone(), None),
    };
    let (actor_id, actor) = match q.actor.filter(|s| !s.is_empty()) {
        Some(a) => match a.parse::<i64>() {
            Ok(id) => (Some(id), None),
            Err(_) => (None, Some(a)),
        },
        None => (None, None),
    };
    Ok(AuditFilter {
        action: q.action.filter(|s| !s.is_empty()),
        target_type: target_type.filter(|s| !s.is_empty()),
        target_id,
        actor_id,
        actor,
        since: when("since", q.since.as_deref())?,
        until: when("until", q.until.as_deref())?,
        limit,
        ..AuditFilter::default()
    })
}

/// `GET /api/v1/audit?actor=&action=&target_type=&target=&since=&until=&limit=`
/// → newest first. Global admins only.
#[utoipa::path(
    get, path = "/api/v1/audit", tag = "native",
    params(("actor" = Option<String>, Query, description = "Actor e-mail"), ("action" = Option<String>, Query, description = "Action"),
        ("target_type" = Option<String>, Query, description = "Target type"), ("target" = Option<String>, Query, description = "Target"),
        ("since" = Option<String>, Query, description = "RFC 3339, date or Unix seconds"), ("until" = Option<String>, Query, description = "RFC 3339, date or Unix seconds"),
        ("limit" = Option<String>, Query, description = "Most rows")),
    responses((status = 200, description = "Audit rows, newest first", body = Vec<Object>))
)]
async fn list(
    State(state): State<AppState>,
    ctx: Ctx,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    require(ctx.view().is_admin())?;
    ctx.allow(&[Method::GET])?;
    let q = query
        .map(|Query(q)| q)
        .map_err(|e| ApiError::bad_request(format!("malformed query string: {e}")))?;
    let rows = state.store.audit_entries(&filter(q)?).await?;
    let out: Vec<_> = rows
        .into_iter()
        .map(|e| {
            json!({
                "id": e.id,
                "timestamp": e.timestamp.to_rfc3339(),
                "actor_id": e.actor_id,
                "actor": e.actor,
                "action": e.action,
                "target_type": e.target_type,
                "target_id": e.target_id,
                "before": e.before_state,
                "after": e.after_state,
                "request_id": e.request_id,
            })
        })
        .collect();
    Ok(Json(out).into_response())
}
