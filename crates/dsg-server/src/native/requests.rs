//! Access requests (the rules and writes are
//! [`crate::service::access_requests`]'s) and invitations.
//!
//! * `POST /api/v1/datasets/{name}/access-requests {"permission","version"?,"message"?}`
//!   — any user asks; `GET` there lists the dataset's requests (dataset admins;
//!   `?status=pending`).
//! * `GET /api/v1/access-requests` — the caller's own requests.
//! * `POST /api/v1/access-requests/{id}/approve {"expires_at"?,"note"?}` and
//!   `…/deny {"note"?}` — dataset admins (approving `admin` needs the right to
//!   appoint admins); approval creates the grant in the same transaction.
//!   `…/withdraw` — the requester.
//! * `GET|POST /api/v1/datasets/{name}/invitations {"email","permission",
//!   "version"?,"grant_expires_at"?,"expires_at"?}` — managers (within their
//!   level); an invitation for an existing user becomes a grant at once,
//!   otherwise at their first login. `DELETE …/invitations/{id}` withdraws one.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Json, Router};
use bytes::Bytes;
use dsg_store::access_requests::AccessRequest;
use dsg_store::invitations::Invited;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Ctx, created, rfc};
use crate::error::ApiError;
use crate::http::body::{Instant, non_empty, parse};
use crate::service::access_requests::{self, Decision, NewRequest};
use crate::service::datasets;
use crate::service::invitations::{self, InvitationRequest};
use crate::state::AppState;

pub(super) fn routes(r: Router<AppState>) -> Router<AppState> {
    r.route(
        "/api/v1/datasets/{name}/access-requests",
        any(dataset_requests),
    )
    .route("/api/v1/access-requests", any(own_requests))
    .route("/api/v1/access-requests/{id}/{action}", any(decide))
    .route("/api/v1/datasets/{name}/invitations", any(invitations))
    .route("/api/v1/datasets/{name}/invitations/{id}", any(invitation))
}

fn request_json(r: &AccessRequest) -> Value {
    json!({
        "id": r.id, "user_id": r.user_id, "email": r.email, "dataset": r.dataset,
        "version": r.version, "permission": r.permission, "message": r.message,
        "status": r.status, "decided_by": r.decided_by, "decided_at": rfc(r.decided_at),
        "decision_note": r.decision_note, "created": r.created.to_rfc3339(),
    })
}

#[derive(Debug, Deserialize)]
struct StatusQuery {
    status: Option<String>,
}
/// The body of `POST /api/v1/datasets/{name}/access-requests` (optional).
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
pub struct AccessRequestRequest {
    /// The level asked for: `view` (default), `edit`, `manage` or `admin`.
    pub permission: Option<String>,
    /// A version of the dataset; none for the whole dataset.
    pub version: Option<String>,
    /// Why, for the dataset's administrators (at most 2000 characters).
    pub message: Option<String>,
}

#[utoipa::path(
    method(get, post), path = "/api/v1/datasets/{name}/access-requests", tag = "native",
    params(("name" = String, Path, description = "Dataset name"), ("status" = Option<String>, Query, description = "Only requests with this status")),
    request_body(content = Option<AccessRequestRequest>, description = "Optional", content_type = "application/json"),
    responses((status = 200, description = "GET: the dataset's requests", body = Vec<Object>),
        (status = 201, description = "POST: filed", body = Object))
)]
async fn dataset_requests(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(name): Path<String>,
    query: Result<Query<StatusQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    ctx.human()?;
    ctx.allow(&[Method::GET, Method::POST])?;
    let d = datasets::find(&state, &name).await?;
    if ctx.method == Method::GET {
        let status = query.ok().and_then(|Query(q)| q.status);
        let list = access_requests::of_dataset(&state, ctx.view(), &d, status.as_deref()).await?;
        return Ok(Json(list.iter().map(request_json).collect::<Vec<_>>()).into_response());
    }
    let body: AccessRequestRequest = parse(&headers, &bytes)?;
    let input = NewRequest {
        permission: body.permission,
        version: non_empty(body.version),
        message: body.message.unwrap_or_default(),
    };
    let r = access_requests::file(&state, ctx.view(), &d, input).await?;
    Ok(created(request_json(&r)))
}

#[utoipa::path(
    get, path = "/api/v1/access-requests", tag = "native",
    responses((status = 200, description = "The caller's own requests", body = Vec<Object>))
)]
async fn own_requests(State(state): State<AppState>, ctx: Ctx) -> Result<Response, ApiError> {
    ctx.human()?;
    ctx.allow(&[Method::GET])?;
    let list = access_requests::mine(&state, ctx.view()).await?;
    Ok(Json(list.iter().map(request_json).collect::<Vec<_>>()).into_response())
}

/// The body of `POST /api/v1/access-requests/{id}/{action}` (optional).
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
pub struct DecisionRequest {
    /// The decider's note (ignored when withdrawing).
    pub note: Option<String>,
    /// `approve`: when the grant ends (in the future); none for no end.
    pub expires_at: Option<Instant>,
}

/// What `withdraw` reads of the body: only the note's type is checked.
#[derive(Debug, serde::Deserialize)]
struct WithdrawBody {
    #[allow(dead_code)]
    note: Option<String>,
}

#[utoipa::path(
    post, path = "/api/v1/access-requests/{id}/{action}", tag = "native",
    params(("id" = String, Path, description = "Request id"), ("action" = String, Path, description = "`approve`, `deny` or `withdraw`")),
    request_body(content = Option<DecisionRequest>, description = "Optional", content_type = "application/json"),
    responses((status = 200, description = "Decided", body = Object))
)]
async fn decide(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((id, action)): Path<(String, String)>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    ctx.human()?;
    ctx.allow(&[Method::POST])?;
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::not_found("Access request not found"))?;
    let r = access_requests::find(&state, id).await?;
    let r = match action.as_str() {
        "approve" | "deny" => {
            let body: DecisionRequest = parse(&headers, &bytes)?;
            let decision = Decision {
                approve: action == "approve",
                note: body.note.unwrap_or_default(),
                expires_at: body.expires_at.map(|i| i.0),
            };
            access_requests::decide(&state, ctx.view(), &r, decision).await?
        }
        other => {
            let _: WithdrawBody = parse(&headers, &bytes)?;
            if other != "withdraw" {
                return Err(ApiError::not_found("Not found."));
            }
            access_requests::withdraw(&state, ctx.view(), &r).await?
        }
    };
    Ok(Json(request_json(&r)).into_response())
}

#[utoipa::path(
    method(get, post), path = "/api/v1/datasets/{name}/invitations", tag = "native",
    params(("name" = String, Path, description = "Dataset name")), request_body(content = NewInvitationRequest, content_type = "application/json"),
    responses((status = 200, description = "GET: the dataset's invitations", body = Vec<Object>),
        (status = 201, description = "POST: invited (or granted at once)", body = Object))
)]
async fn invitations(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(name): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    ctx.human()?;
    ctx.allow(&[Method::GET, Method::POST])?;
    let d = crate::service::datasets::find(&state, &name).await?;
    if ctx.method == Method::GET {
        let now = state.clock.now();
        let out: Vec<Value> = invitations::list(&state, &ctx.caller, &d)
            .await?
            .into_iter()
            .map(|i| {
                json!({
                    "id": i.id, "email": i.email, "permission": i.permission, "version": i.version,
                    "grant_expires_at": rfc(i.grant_expires_at), "expires_at": rfc(i.expires_at),
                    "accepted_at": rfc(i.accepted_at),
                    "expired": i.accepted_at.is_none() && dsg_store::grants::expired(i.expires_at, now),
                })
            })
            .collect();
        return Ok(Json(out).into_response());
    }
    invitations::authorize(&ctx.caller, &d)?;
    let body: NewInvitationRequest = crate::http::body::parse(&headers, &bytes)?;
    let version = crate::http::body::non_empty(body.version);
    let outcome = invitations::invite(
        &state,
        &ctx.caller,
        InvitationRequest {
            dataset: &d,
            email: &body.email,
            permission: &body.permission,
            version: version.as_deref(),
            grant_expires_at: body.grant_expires_at.map(|i| i.0),
            expires_at: body.expires_at.map(|i| i.0),
        },
    )
    .await?;
    let email = &*body.email;
    let out = match outcome {
        Invited::Pending(id) => json!({"id": id, "email": email, "status": "pending"}),
        Invited::Granted { invitation, grant } => {
            json!({"id": invitation, "email": email, "status": "granted", "grant_id": grant})
        }
    };
    Ok(created(out))
}

/// `POST /api/v1/datasets/{name}/invitations`.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
pub(crate) struct NewInvitationRequest {
    /// The invitee's e-mail.
    email: crate::http::body::Required,
    /// `view`, `edit`, `manage` or `admin`.
    permission: crate::http::body::Required,
    /// Version scope (name); absent or empty for the whole dataset.
    version: Option<String>,
    /// Expiry of the grant it becomes (in the future).
    grant_expires_at: Option<crate::http::body::Instant>,
    /// The invitation lapses at this instant if not redeemed (in the future).
    expires_at: Option<crate::http::body::Instant>,
}

#[utoipa::path(
    delete, path = "/api/v1/datasets/{name}/invitations/{id}", tag = "native",
    params(("name" = String, Path, description = "Dataset name"), ("id" = String, Path, description = "Invitation id")),
    responses((status = 200, description = "Withdrawn", body = Object))
)]
async fn invitation(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((name, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    ctx.human()?;
    ctx.allow(&[Method::DELETE])?;
    let d = crate::service::datasets::find(&state, &name).await?;
    invitations::authorize_withdrawal(&ctx.caller, &d)?;
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::not_found("Invitation not found"))?;
    let _email = invitations::withdraw(&state, &ctx.caller, &d, id).await?;
    Ok(Json(json!({"status": "deleted", "id": id})).into_response())
}
