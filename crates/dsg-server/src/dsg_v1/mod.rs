//! The DSG-native API at `/api/dsg/v1` (dsg-native-v1 §1–6), which
//! neuPrintHTTP ≥ 1.9 and clio-store call: `GET user`, `POST authorize`,
//! `GET datasets`, `GET datasets/{name}/versions`, `GET groups/{name}/members`.
//! Handlers translate HTTP into calls of [`crate::service::decisions`] and
//! its answers into the clients' JSON; no rule lives here.
//!
//! A credential that fails is 401 on every route; anonymous callers may use
//! `authorize` only. Client mistakes are 4xx, never 5xx (neuPrint turns any
//! non-200 into 502 for its users).

mod authorize;
mod cors;

use axum::extract::{Path, Query, State};
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::error::ApiError;
use crate::http::credentials;
use crate::http::extract::ApiRequest;
use crate::http::forwarded::ClientIp;
use crate::service::decisions;
use crate::state::AppState;

/// The `/api/dsg/v1` routes.
pub fn routes(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/api/dsg/v1/user", any(user))
        .route("/api/dsg/v1/authorize", any(authorize::authorize))
        .route("/api/dsg/v1/datasets", any(datasets))
        .route("/api/dsg/v1/datasets/{name}/versions", any(versions))
        .route("/api/dsg/v1/groups/{name}/members", any(group_members))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            cors::layer,
        ))
}

/// The OpenAPI description of these routes.
pub(crate) fn openapi() -> utoipa::openapi::OpenApi {
    #[derive(utoipa::OpenApi)]
    #[openapi(
        paths(user, authorize::authorize, datasets, versions, group_members),
        components(schemas(
            authorize::AuthorizeRequest,
            authorize::AuthorizeEntry,
            authorize::AuthorizeResponse,
            authorize::EntryDecision,
            authorize::AnchorBody,
            UserBody,
            DatasetBody,
            VersionBody
        ))
    )]
    struct Doc;
    <Doc as utoipa::OpenApi>::openapi()
}

/// An API request whose `Authorization` header, when present, carries a
/// bearer token: another scheme or an empty bearer is a failed credential
/// here (401), never an anonymous call (§1).
pub(crate) struct Native(ApiRequest);

impl axum::extract::FromRequestParts<AppState> for Native {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, ApiError> {
        if credentials::unusable_authorization(&parts.headers) {
            let client = parts.extensions.get::<ClientIp>().copied();
            return Err(state.refused(client).await);
        }
        ApiRequest::from_request_parts(parts, state).await.map(Self)
    }
}

impl std::ops::Deref for Native {
    type Target = ApiRequest;

    fn deref(&self) -> &ApiRequest {
        &self.0
    }
}

/// `?service=` of the listings.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
struct ServiceQuery {
    /// A service's vocabulary to list names in (unknown: ours).
    service: Option<String>,
}

/// Who a credential is.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct UserBody {
    /// User id, or service-account id.
    id: i64,
    /// E-mail; `<name>@service-account.dsg.local` for service accounts.
    email: String,
    /// Stored name (may be empty).
    name: String,
    /// Avatar URL; `null` for service accounts.
    picture_url: Option<String>,
    /// Global administrator through this credential (never through a
    /// read-only or dataset-limited token).
    admin: bool,
    /// A service account.
    service_account: bool,
    /// Group names, sorted.
    groups: Vec<String>,
}

/// `GET /api/dsg/v1/user` → who the credential is.
#[utoipa::path(
    get, path = "/api/dsg/v1/user", operation_id = "dsg_v1_user", tag = "dsg-native",
    responses((status = 200, description = "Who the credential is", body = UserBody),
        (status = 401, description = "No credential, or one that fails", body = crate::error::schema::Detail))
)]
async fn user(req: Native) -> Result<Response, ApiError> {
    req.allow(&[Method::GET])?;
    let i = decisions::identity(req.principal()?);
    Ok(Json(UserBody {
        id: i.id,
        email: i.email,
        name: i.name,
        picture_url: i.picture_url,
        admin: i.admin,
        service_account: i.service_account,
        groups: i.groups,
    })
    .into_response())
}

/// A dataset a principal sees.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct DatasetBody {
    /// Name (in the service's vocabulary when `?service=` has one).
    name: String,
    /// `closed` or `public`.
    access_mode: &'static str,
    /// Some version is public.
    has_public_versions: bool,
}

/// `GET /api/dsg/v1/datasets[?service=]` → the datasets the caller sees,
/// sorted by name.
#[utoipa::path(
    get, path = "/api/dsg/v1/datasets", operation_id = "dsg_v1_datasets", tag = "dsg-native", params(ServiceQuery),
    responses((status = 200, description = "Visible datasets", body = Vec<DatasetBody>),
        (status = 401, description = "No credential, or one that fails", body = crate::error::schema::Detail))
)]
async fn datasets(
    State(state): State<AppState>,
    req: Native,
    Query(q): Query<ServiceQuery>,
) -> Result<Response, ApiError> {
    req.allow(&[Method::GET])?;
    let list = decisions::datasets(&state, req.principal()?, q.service.as_deref()).await?;
    let out: Vec<DatasetBody> = list
        .into_iter()
        .map(|d| DatasetBody {
            name: d.name,
            access_mode: d.access_mode,
            has_public_versions: d.has_public_versions,
        })
        .collect();
    Ok(Json(out).into_response())
}

/// A version of a dataset.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct VersionBody {
    /// Name (in the service's vocabulary when it translates it).
    version: String,
    /// Branch.
    branch: String,
    /// Ordinal on the branch.
    ordinal: Option<i64>,
    /// Public.
    is_public: bool,
}

/// `GET /api/dsg/v1/datasets/{name}/versions[?service=]` → the dataset's
/// versions by branch, ordinal (nulls last), name.
#[utoipa::path(
    get, path = "/api/dsg/v1/datasets/{name}/versions", operation_id = "dsg_v1_versions", tag = "dsg-native",
    params(("name" = String, Path, description = "Dataset name (the service's, with `?service=`)"), ServiceQuery),
    responses((status = 200, description = "Versions", body = Vec<VersionBody>),
        (status = 401, description = "No credential, or one that fails", body = crate::error::schema::Detail),
        (status = 404, description = "Unknown or not visible: `{\"error\": \"Dataset not found\"}`", body = crate::error::schema::ErrorMessage))
)]
async fn versions(
    State(state): State<AppState>,
    req: Native,
    Path(name): Path<String>,
    Query(q): Query<ServiceQuery>,
) -> Result<Response, ApiError> {
    req.allow(&[Method::GET])?;
    let list = decisions::versions(&state, req.principal()?, &name, q.service.as_deref()).await?;
    let out: Vec<VersionBody> = list
        .into_iter()
        .map(|v| VersionBody {
            version: v.version,
            branch: v.branch,
            ordinal: v.ordinal,
            is_public: v.is_public,
        })
        .collect();
    Ok(Json(out).into_response())
}

/// `GET /api/dsg/v1/groups/{name}/members` → the active members' e-mails,
/// sorted.
#[utoipa::path(
    get, path = "/api/dsg/v1/groups/{name}/members", operation_id = "dsg_v1_group_members", tag = "dsg-native",
    params(("name" = String, Path, description = "Group name")),
    responses((status = 200, description = "Member e-mails", body = Vec<String>),
        (status = 401, description = "No credential, or one that fails", body = crate::error::schema::Detail),
        (status = 403, description = "`privacy.user_directory = \"privileged\"` and not a member", body = crate::error::schema::Detail),
        (status = 404, description = "`{\"error\": \"Group not found\"}`", body = crate::error::schema::ErrorMessage))
)]
async fn group_members(
    State(state): State<AppState>,
    req: Native,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    req.allow(&[Method::GET])?;
    let emails = decisions::group_members(&state, req.principal()?, &name).await?;
    Ok(Json(json!(emails)).into_response())
}
