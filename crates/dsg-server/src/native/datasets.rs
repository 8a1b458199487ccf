//! `GET /api/v1/whoami`, datasets, versions and buckets.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Json, Router};
use bytes::Bytes;
use dsg_store::tokens::PrincipalRef;
use serde_json::{Value, json};

use super::{Ctx, commit, created, object, opt_bool, opt_str, req_str, require};
use crate::error::ApiError;
use crate::state::AppState;

pub(super) fn routes(r: Router<AppState>) -> Router<AppState> {
    r.route("/api/v1/whoami", any(whoami))
        .route("/api/v1/datasets", any(datasets))
        .route("/api/v1/datasets/{name}/versions", any(versions))
        .route("/api/v1/datasets/{name}/buckets", any(buckets))
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

/// `GET /api/v1/datasets` → datasets the caller holds anything on (global
/// admins: all), `[{"id","name","description","has_tos"}]`.
/// `POST {"name","description","access_mode"}` → 201 (global admins).
#[utoipa::path(
    method(get, post), path = "/api/v1/datasets", tag = "native",
    request_body(content = super::bodies::NewDataset, content_type = "application/json"),
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
    let view = ctx.view();
    if ctx.method == Method::POST {
        require(view.is_admin())?;
        let body = object(&headers, &bytes)?;
        let name = req_str(&body, "name")?;
        dsg_store::service_accounts::validate_slug("dataset name", name)
            .map_err(dsg_store::StoreError::from)?;
        let description = opt_str(&body, "description")?.unwrap_or("");
        let mode = opt_str(&body, "access_mode")?.unwrap_or("closed");
        let mut tx = state.store.begin(ctx.actor()).await?;
        let id = tx.create_dataset(name, description, mode).await?;
        commit(&state, tx).await?;
        return Ok(created(json!({
            "id": id, "name": name, "description": description, "has_tos": false, "access_mode": mode,
        })));
    }
    let all = state.store.all_datasets().await?;
    let out: Vec<Value> = all
        .into_iter()
        .filter(|d| view.sees(&d.name))
        .map(|d| json!({"id": d.id, "name": d.name, "description": d.description, "has_tos": d.has_tos}))
        .collect();
    Ok(Json(out).into_response())
}

async fn dataset(
    state: &AppState,
    name: &str,
) -> Result<dsg_store::datasets::DatasetRow, ApiError> {
    state
        .store
        .dataset_by_name(name)
        .await?
        .ok_or_else(|| ApiError::not_found("Dataset not found"))
}

/// `GET /api/v1/datasets/{name}/versions` → `[{"id","version","buckets","is_public","prefix"}]`
/// to callers with any access to the dataset (or a public one); others get 404.
/// `POST {"version","prefix"?,"is_public"?,"buckets"?: [names]}` → 201 (dataset admins).
#[utoipa::path(
    method(get, post), path = "/api/v1/datasets/{name}/versions", tag = "native",
    params(("name" = String, Path, description = "Dataset name")), request_body(content = Object, description = "JSON object", content_type = "application/json"),
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
    let view = ctx.view();
    let d = dataset(&state, &name).await?;
    if !(view.sees(&d.name) || d.access_mode == "public") {
        return Err(ApiError::not_found("Dataset not found"));
    }
    if ctx.method == Method::POST {
        require(view.is_dataset_admin(&d.name))?;
        let body = object(&headers, &bytes)?;
        let version = req_str(&body, "version")?;
        let prefix = opt_str(&body, "prefix")?.unwrap_or("");
        let is_public = opt_bool(&body, "is_public")?.unwrap_or(false);
        let names: Vec<String> = match body.get("buckets") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| ApiError::bad_request("buckets must be a list of names"))
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(ApiError::bad_request("buckets must be a list of names")),
        };
        let known = state.store.buckets_of_dataset(d.id).await?;
        let mut ids = Vec::new();
        for n in &names {
            let id = known
                .iter()
                .find(|(_, b)| b == n)
                .map(|(id, _)| *id)
                .ok_or_else(|| {
                    ApiError::bad_request(format!("bucket {n:?} is not a bucket of {}", d.name))
                })?;
            ids.push(id);
        }
        let mut tx = state.store.begin(ctx.actor()).await?;
        let id = tx
            .add_version(d.id, version, prefix, is_public, &ids)
            .await?;
        commit(&state, tx).await?;
        return Ok(created(json!({
            "id": id, "version": version, "buckets": names, "is_public": is_public, "prefix": prefix,
        })));
    }
    Ok(Json(state.store.dataset_versions(d.id).await?).into_response())
}

/// `GET /api/v1/datasets/{name}/buckets` → `[{"id","name"}]` (managers);
/// `POST {"name"}` → 201 (dataset admins).
#[utoipa::path(
    method(get, post), path = "/api/v1/datasets/{name}/buckets", tag = "native",
    params(("name" = String, Path, description = "Dataset name")), request_body(content = Object, description = "JSON object", content_type = "application/json"),
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
    let view = ctx.view();
    let d = dataset(&state, &name).await?;
    require(view.can_manage(&d.name))?;
    if ctx.method == Method::POST {
        require(view.is_dataset_admin(&d.name))?;
        let body = object(&headers, &bytes)?;
        let bucket = req_str(&body, "name")?;
        if bucket.starts_with("gs://") || bucket.contains('/') {
            return Err(ApiError::bad_request(
                "name is a bare GCS bucket name, without gs:// or /",
            ));
        }
        let mut tx = state.store.begin(ctx.actor()).await?;
        let id = tx.add_bucket(d.id, bucket).await?;
        commit(&state, tx).await?;
        return Ok(created(json!({"id": id, "name": bucket})));
    }
    let out: Vec<Value> = state
        .store
        .buckets_of_dataset(d.id)
        .await?
        .into_iter()
        .map(|(id, name)| json!({"id": id, "name": name}))
        .collect();
    Ok(Json(out).into_response())
}
