//! The DatasetGateway-native API (spec §5.3 and beyond): datasets, versions,
//! buckets, grants, memberships, check-access / explain-access, tokens,
//! service accounts, terms of service, access requests, invitations and the
//! audit log.
//!
//! The request id ([`crate::http::request_log`]) is recorded in the audit row of
//! any mutation a request makes. Authority (spec §4.9,
//! with its bugs fixed) is decided from the presenting token's own permission
//! document, so a read-only or dataset-limited token can never manage more
//! than it can see.

pub(crate) mod access;
mod audit;
mod bodies;
mod datasets;
mod grants;
mod requests;
mod service_accounts;
mod tokens;
pub(crate) mod tos;

pub(crate) use grants::may_handle_level;
use std::collections::BTreeMap;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::Response;
use dsg_core::Timestamp;
use dsg_store::CacheEvent;
use dsg_store::tokens::PrincipalRef;
use dsg_store::write::Actor;
use serde::Deserialize;

use crate::cache::Authenticated;
use crate::error::ApiError;
use crate::http::extract::ApiRequest;
use crate::state::AppState;

pub use crate::http::request_log::{REQUEST_ID, RequestId, request_id_of};

/// Registers the native routes (merged, so the CAVE routes keep their fast path).
pub fn routes(router: Router<AppState>) -> Router<AppState> {
    let native = Router::new();
    let native = audit::routes(native);
    let native = datasets::routes(native);
    let native = access::routes(native);
    let native = grants::routes(native);
    let native = tokens::routes(native);
    let native = service_accounts::routes(native);
    let native = tos::routes(native);
    let native = requests::routes(native);
    router.merge(native)
}

/// The OpenAPI description of the native routes.
pub(crate) fn openapi() -> utoipa::openapi::OpenApi {
    #[derive(utoipa::OpenApi)]
    #[openapi(paths(
        audit::list,
        datasets::whoami,
        datasets::datasets,
        datasets::versions,
        datasets::buckets,
        access::check_access,
        access::explain_access,
        grants::dataset_grants,
        grants::grant,
        grants::memberships,
        grants::membership,
        tokens::tokens,
        tokens::token,
        service_accounts::list_or_create,
        service_accounts::detail,
        service_accounts::add,
        service_accounts::remove,
        tos::services,
        tos::create_tos,
        tos::invite_page,
        tos::get_tos,
        tos::retire,
        tos::accept,
        requests::dataset_requests,
        requests::own_requests,
        requests::decide,
        requests::invitations,
        requests::invitation,
    ))]
    struct Doc;
    <Doc as utoipa::OpenApi>::openapi()
}

/// What the presenting token's document says about the caller's authority.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct View {
    #[serde(default)]
    admin: bool,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    groups_admin: Vec<String>,
    #[serde(default)]
    permissions_v2_ignore_tos: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    version_permissions: BTreeMap<String, BTreeMap<String, Vec<String>>>,
    /// A service account: it may read what it holds, never manage anything.
    #[serde(skip)]
    service_account: bool,
}

impl View {
    /// The authority of an authenticated principal, read from its (scoped) document.
    pub(crate) fn of(auth: &Authenticated) -> Self {
        let mut v: Self = serde_json::from_slice(&auth.document.body).unwrap_or_default();
        v.service_account = matches!(auth.token.principal, PrincipalRef::ServiceAccount(_));
        v
    }

    /// Groups the principal is in.
    pub(crate) fn groups(&self) -> &[String] {
        &self.groups
    }

    /// Dataset → permission names (TOS ignored).
    pub(crate) fn datasets(&self) -> &BTreeMap<String, Vec<String>> {
        &self.permissions_v2_ignore_tos
    }

    fn holds(&self, dataset: &str, level: &str) -> bool {
        !self.service_account
            && self
                .permissions_v2_ignore_tos
                .get(dataset)
                .is_some_and(|l| l.iter().any(|n| n == level))
    }

    /// Global administrator (false for read-only tokens and service accounts).
    pub(crate) fn is_admin(&self) -> bool {
        self.admin
    }

    /// Global admin, or `manage` on the dataset (from a grant or a group).
    pub(crate) fn can_manage(&self, dataset: &str) -> bool {
        self.admin || self.holds(dataset, "manage")
    }

    /// Global admin, or `admin` on the dataset.
    pub(crate) fn is_dataset_admin(&self, dataset: &str) -> bool {
        self.admin || self.holds(dataset, "admin")
    }

    /// Any access at all to the dataset (any version).
    pub(crate) fn sees(&self, dataset: &str) -> bool {
        self.admin
            || self.permissions_v2_ignore_tos.contains_key(dataset)
            || self.version_permissions.contains_key(dataset)
    }

    /// Highest level held dataset-wide (global admin = 4).
    pub(crate) fn level(&self, dataset: &str) -> u8 {
        if self.admin {
            return 4;
        }
        if self.service_account {
            return 0;
        }
        self.permissions_v2_ignore_tos.get(dataset).map_or(0, |l| {
            l.iter()
                .map(|n| dsg_core::level::number_of(n))
                .max()
                .unwrap_or(0)
        })
    }

    /// Global admin or administrator of the group.
    pub(crate) fn is_group_admin(&self, group: &str) -> bool {
        self.admin || self.groups_admin.iter().any(|g| g == group)
    }

    /// Member of the group.
    pub(crate) fn in_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }
}

/// An authenticated native-API request: principal, request id, authority view.
pub(crate) struct Ctx {
    pub(crate) auth: Authenticated,
    pub(crate) request_id: Option<String>,
    pub(crate) method: axum::http::Method,
}

impl FromRequestParts<AppState> for Ctx {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let req = ApiRequest::from_request_parts(parts, state).await?;
        let auth = req.principal()?.clone();
        Ok(Self {
            auth,
            request_id: req.request_id,
            method: req.method,
        })
    }
}

impl Ctx {
    /// The caller's authority, read from its (scoped) document.
    pub(crate) fn view(&self) -> View {
        View::of(&self.auth)
    }

    /// A human user's id; 403 for service accounts (the original's code).
    pub(crate) fn human(&self) -> Result<i64, ApiError> {
        match self.auth.token.principal {
            PrincipalRef::User(id) => Ok(id),
            PrincipalRef::ServiceAccount(_) => Err(ApiError::forbidden()),
        }
    }

    /// The audit actor for this request.
    pub(crate) fn actor(&self) -> Actor {
        match self.auth.token.principal {
            PrincipalRef::User(id) => {
                Actor::user(id, &self.auth.document.info.email, self.request_id.clone())
            }
            PrincipalRef::ServiceAccount(_) => Actor {
                id: None,
                label: format!("sa:{}", self.auth.document.info.email),
                request_id: self.request_id.clone(),
            },
        }
    }

    /// 405 unless the method is one of `allowed`.
    pub(crate) fn allow(&self, allowed: &[axum::http::Method]) -> Result<(), ApiError> {
        if allowed.contains(&self.method)
            || (self.method == axum::http::Method::HEAD
                && allowed.contains(&axum::http::Method::GET))
        {
            Ok(())
        } else {
            Err(ApiError::method_not_allowed(&self.method))
        }
    }
}

/// 403 unless `ok`.
pub(crate) fn require(ok: bool) -> Result<(), ApiError> {
    if ok {
        Ok(())
    } else {
        Err(ApiError::forbidden())
    }
}

/// Commits and applies the cache events on this server at once.
pub(crate) async fn commit(state: &AppState, tx: dsg_store::WriteTx) -> Result<(), ApiError> {
    let events: Vec<CacheEvent> = tx.commit().await?;
    state.committed(&events);
    Ok(())
}

/// Reads an optional instant field (RFC 3339, date or Unix seconds).
pub(crate) fn instant(body: &serde_json::Value, key: &str) -> Result<Option<Timestamp>, ApiError> {
    match body.get(key) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::Number(n)) => n
            .as_i64()
            .map(|s| Some(Timestamp::from_secs(s)))
            .ok_or_else(|| ApiError::bad_request(format!("{key} must be whole Unix seconds"))),
        Some(serde_json::Value::String(s)) => Timestamp::parse(s).map(Some).ok_or_else(|| {
            ApiError::bad_request(format!(
                "{key} must be an RFC 3339 time such as 2026-06-01T12:00:00Z"
            ))
        }),
        Some(_) => Err(ApiError::bad_request(format!(
            "{key} must be an RFC 3339 time"
        ))),
    }
}

/// Reads an optional string field.
pub(crate) fn opt_str<'a>(
    body: &'a serde_json::Value,
    key: &str,
) -> Result<Option<&'a str>, ApiError> {
    match body.get(key) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(ApiError::bad_request(format!("{key} must be a string"))),
    }
}

/// Reads a required non-empty string field.
pub(crate) fn req_str<'a>(body: &'a serde_json::Value, key: &str) -> Result<&'a str, ApiError> {
    opt_str(body, key)?
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| ApiError::bad_request(format!("{key} is required")))
}

/// Reads an optional boolean field.
pub(crate) fn opt_bool(body: &serde_json::Value, key: &str) -> Result<Option<bool>, ApiError> {
    match body.get(key) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(ApiError::bad_request(format!(
            "{key} must be true or false"
        ))),
    }
}

/// A JSON object body (empty body = `{}`).
pub(crate) fn object(
    headers: &axum::http::HeaderMap,
    bytes: &bytes::Bytes,
) -> Result<serde_json::Value, ApiError> {
    match crate::http::body::json(headers, bytes)? {
        None => Ok(serde_json::json!({})),
        Some(v @ serde_json::Value::Object(_)) => Ok(v),
        Some(_) => Err(ApiError::bad_request("expected a JSON object")),
    }
}

/// Times as the API shows them.
pub(crate) fn rfc(t: Option<Timestamp>) -> Option<String> {
    t.map(Timestamp::to_rfc3339)
}

/// 201 with a JSON body.
pub(crate) fn created(body: serde_json::Value) -> Response {
    use axum::response::IntoResponse;
    (StatusCode::CREATED, axum::Json(body)).into_response()
}
