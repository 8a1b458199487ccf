//! `GET /api/v1/whoami`, datasets, versions and buckets (the rules and
//! writes are [`crate::service::datasets`]'s).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Json, Router};
use bytes::Bytes;
use dsg_store::tokens::PrincipalRef;
use serde_json::{Value, json};

use super::{Ctx, created};
use crate::error::ApiError;
use crate::http::body::{Required, parse};
use crate::service::datasets::{self, NewDataset, NewVersion};
use crate::service::translations::{self, NewTranslationInput};
use crate::state::AppState;

pub(super) fn routes(r: Router<AppState>) -> Router<AppState> {
    r.route("/api/v1/whoami", any(whoami))
        .route("/api/v1/datasets", any(datasets))
        .route("/api/v1/datasets/{name}/versions", any(versions))
        .route("/api/v1/datasets/{name}/buckets", any(buckets))
        .route("/api/v1/datasets/{name}/translations", any(translations))
        .route(
            "/api/v1/datasets/{name}/translations/{id}",
            any(translation),
        )
}

/// `GET /api/v1/whoami` → who the token belongs to (the original's keys).
#[utoipa::path(
    get, path = "/api/v1/whoami", tag = "native",
    responses((status = 200, description = "Who the token belongs to", body = Object))
)]
async fn whoami(State(state): State<AppState>, ctx: Ctx) -> Result<Response, ApiError> {
    ctx.allow(&[Method::GET])?;
    let doc: Value = serde_json::from_slice(&ctx.auth().document.body).unwrap_or_default();
    let out = match ctx.auth().token.principal {
        PrincipalRef::User(_) => json!({
            "id": doc["id"], "email": doc["email"], "name": doc["name"],
            "picture_url": doc["picture_url"], "admin": doc["admin"], "is_active": true,
            "groups": doc["groups"], "datasets_admin": doc["datasets_admin"],
        }),
        PrincipalRef::ServiceAccount(id) => {
            let description = state
                .store
                .service_account_detail(id)
                .await?
                .map(|s| s.description)
                .unwrap_or_default();
            json!({
                "id": doc["id"], "email": doc["email"], "name": doc["name"], "picture_url": "",
                "admin": false, "is_active": true, "groups": [], "datasets_admin": [],
                "service_account": true, "description": description,
            })
        }
    };
    Ok(Json(out).into_response())
}

/// The body of `POST /api/v1/datasets`.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
pub struct DatasetRequest {
    /// 1–100 letters, digits, `-` or `_`; unique.
    #[schema(value_type = String, pattern = "^[A-Za-z0-9_-]{1,100}$")]
    pub name: Required,
    /// Free text.
    pub description: Option<String>,
    /// Who may see the dataset without a grant: `closed` (only holders of a
    /// grant, the default) or `public` (everyone, even anonymous callers).
    #[schema(pattern = "^(closed|public)$")]
    pub access_mode: Option<String>,
}

/// `GET /api/v1/datasets` → datasets the caller holds anything on (global
/// admins: all), `[{"id","name","description","has_tos"}]`.
/// `POST {"name","description","access_mode"}` → 201 (global admins).
#[utoipa::path(
    method(get, post), path = "/api/v1/datasets", tag = "native",
    request_body(content = DatasetRequest, content_type = "application/json"),
    responses((status = 200, description = "GET: datasets the caller holds anything on", body = Vec<Object>),
        (status = 201, description = "POST: created", body = Object))
)]
async fn datasets(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    ctx.allow(&[Method::GET, Method::POST])?;
    if ctx.method == Method::POST {
        // Refused before the body is read, as always.
        datasets::authorize_create(ctx.view())?;
        let body: DatasetRequest = parse(&headers, &bytes)?;
        let input = NewDataset {
            name: body.name.0,
            description: body.description.unwrap_or_default(),
            access_mode: body.access_mode.unwrap_or_else(|| "closed".into()),
        };
        let id = datasets::create(&state, ctx.view(), &input).await?;
        return Ok(created(json!({
            "id": id, "name": input.name, "description": input.description, "has_tos": false,
            "access_mode": input.access_mode,
        })));
    }
    let out: Vec<Value> = datasets::list(&state, ctx.view())
        .await?
        .into_iter()
        .map(|d| json!({"id": d.id, "name": d.name, "description": d.description, "has_tos": d.has_tos}))
        .collect();
    Ok(Json(out).into_response())
}

/// The body of `POST /api/v1/datasets/{name}/versions`.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
pub struct VersionRequest {
    /// Version name, unique in the dataset.
    #[schema(value_type = String, min_length = 1)]
    pub version: Required,
    /// Object prefix inside the buckets.
    pub prefix: Option<String>,
    /// Readable by everyone.
    pub is_public: Option<bool>,
    /// Names of the dataset's buckets that hold this version.
    #[serde(default, deserialize_with = "bucket_names")]
    pub buckets: Option<Vec<String>>,
    /// Release line (default `main`); ordinals compare only within one.
    #[schema(min_length = 1)]
    pub branch: Option<String>,
    /// Position on the branch: a grant or public flag on ordinal n covers
    /// the branch's lower ordinals. Unique per (dataset, branch).
    pub ordinal: Option<i64>,
}

/// A list of bucket names, in the words clients have always seen.
fn bucket_names<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    use serde::Deserialize;
    let what = || serde::de::Error::custom("must be a list of names");
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) => a
            .into_iter()
            .map(|v| match v {
                Value::String(s) => Ok(s),
                _ => Err(what()),
            })
            .collect::<Result<_, _>>()
            .map(Some),
        Some(_) => Err(what()),
    }
}

/// `GET /api/v1/datasets/{name}/versions` → `[{"id","version","buckets","is_public","prefix","branch","ordinal"}]`
/// to callers with any access to the dataset (or a public one); others get 404.
/// `POST {"version","prefix"?,"is_public"?,"buckets"?: [names],"branch"?,"ordinal"?}` → 201 (dataset admins).
#[utoipa::path(
    method(get, post), path = "/api/v1/datasets/{name}/versions", tag = "native",
    params(("name" = String, Path, description = "Dataset name")),
    request_body(content = VersionRequest, content_type = "application/json"),
    responses((status = 200, description = "GET: the dataset's versions", body = Vec<Object>),
        (status = 201, description = "POST: created", body = Object))
)]
async fn versions(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(name): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    ctx.allow(&[Method::GET, Method::POST])?;
    let d = datasets::visible(&state, ctx.view(), &name).await?;
    if ctx.method == Method::POST {
        // Refused before the body is read, as always.
        datasets::authorize_configure(ctx.view(), &d)?;
        let body: VersionRequest = parse(&headers, &bytes)?;
        let input = NewVersion {
            version: body.version.0,
            prefix: body.prefix.unwrap_or_default(),
            is_public: body.is_public.unwrap_or(false),
            buckets: body.buckets.unwrap_or_default(),
            place: dsg_store::datasets::VersionPlace {
                branch: body.branch.unwrap_or_else(|| "main".into()),
                ordinal: body.ordinal,
            },
        };
        let id = datasets::add_version(&state, ctx.view(), &d, &input).await?;
        return Ok(created(json!({
            "id": id, "version": input.version, "buckets": input.buckets,
            "is_public": input.is_public, "prefix": input.prefix,
            "branch": input.place.branch, "ordinal": input.place.ordinal,
        })));
    }
    Ok(Json(state.store.dataset_versions(d.id).await?).into_response())
}

/// The body of `POST /api/v1/datasets/{name}/buckets`.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
pub struct BucketRequest {
    /// A bare GCS bucket name, without `gs://` or `/`.
    #[schema(value_type = String, min_length = 1)]
    pub name: Required,
}

/// `GET /api/v1/datasets/{name}/buckets` → `[{"id","name"}]` (managers);
/// `POST {"name"}` → 201 (dataset admins).
#[utoipa::path(
    method(get, post), path = "/api/v1/datasets/{name}/buckets", tag = "native",
    params(("name" = String, Path, description = "Dataset name")),
    request_body(content = BucketRequest, content_type = "application/json"),
    responses((status = 200, description = "GET: the dataset's buckets", body = Vec<Object>),
        (status = 201, description = "POST: created", body = Object))
)]
async fn buckets(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(name): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    ctx.allow(&[Method::GET, Method::POST])?;
    let d = datasets::find(&state, &name).await?;
    datasets::authorize_buckets(ctx.view(), &d)?;
    if ctx.method == Method::POST {
        // Refused before the body is read, as always.
        datasets::authorize_configure(ctx.view(), &d)?;
        let body: BucketRequest = parse(&headers, &bytes)?;
        let bucket = body.name.0;
        let id = datasets::add_bucket(&state, ctx.view(), &d, &bucket).await?;
        return Ok(created(json!({"id": id, "name": bucket})));
    }
    let out: Vec<Value> = datasets::buckets(&state, ctx.view(), &d)
        .await?
        .into_iter()
        .map(|(id, name)| json!({"id": id, "name": name}))
        .collect();
    Ok(Json(out).into_response())
}

/// The body of `POST /api/v1/datasets/{name}/translations`.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
pub struct TranslationRequest {
    /// The service whose vocabulary this is (an existing service's name).
    #[schema(value_type = String, min_length = 1)]
    pub service: Required,
    /// The service's name for the dataset.
    #[schema(value_type = String, min_length = 1)]
    pub client_name: Required,
    /// The service's name for one version (with `version`); absent for a
    /// name-level translation.
    pub client_version: Option<String>,
    /// Our version that `client_version` means.
    pub version: Option<String>,
}

/// `GET /api/v1/datasets/{name}/translations` →
/// `[{"id","service","client_name","client_version","version"}]`;
/// `POST {"service","client_name","client_version"?,"version"?}` → 201.
/// Dataset admins and global admins.
#[utoipa::path(
    method(get, post), path = "/api/v1/datasets/{name}/translations", tag = "native",
    params(("name" = String, Path, description = "Dataset name")),
    request_body(content = TranslationRequest, content_type = "application/json"),
    responses((status = 200, description = "GET: the dataset's translations", body = Vec<Object>),
        (status = 201, description = "POST: created", body = Object),
        (status = 409, description = "The service already translates this name (and version)", body = crate::error::schema::ErrorMessage))
)]
async fn translations(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(name): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    ctx.allow(&[Method::GET, Method::POST])?;
    let d = datasets::visible(&state, ctx.view(), &name).await?;
    if ctx.method == Method::POST {
        datasets::authorize_configure(ctx.view(), &d)?;
        let body: TranslationRequest = parse(&headers, &bytes)?;
        let input = NewTranslationInput {
            service: body.service.0,
            client_name: body.client_name.0,
            client_version: body.client_version,
            version: body.version,
        };
        let id = translations::add(&state, ctx.view(), &d, &input).await?;
        return Ok(created(json!({
            "id": id, "service": input.service, "client_name": input.client_name,
            "client_version": input.client_version, "version": input.version,
        })));
    }
    Ok(Json(translations::list(&state, ctx.view(), &d).await?).into_response())
}

/// `DELETE /api/v1/datasets/{name}/translations/{id}` → 204.
#[utoipa::path(
    delete, path = "/api/v1/datasets/{name}/translations/{id}", tag = "native",
    params(("name" = String, Path, description = "Dataset name"),
        ("id" = i64, Path, description = "Translation id")),
    responses((status = 204, description = "Removed"),
        (status = 404, description = "The dataset has no such translation", body = crate::error::schema::ErrorMessage))
)]
async fn translation(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((name, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    ctx.allow(&[Method::DELETE])?;
    let d = datasets::visible(&state, ctx.view(), &name).await?;
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::not_found("Translation not found"))?;
    if translations::remove(&state, ctx.view(), &d, id).await? {
        Ok(axum::http::StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::not_found("Translation not found"))
    }
}
