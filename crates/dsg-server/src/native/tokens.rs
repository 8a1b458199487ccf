//! Token management for people: `GET|POST /api/v1/tokens`,
//! `DELETE /api/v1/tokens/{id}`. A token may be limited to read-only and/or
//! a set of datasets; its `user/cache` then shows only what it allows. The
//! rules and writes are [`crate::service::tokens`]'s.

use std::collections::BTreeSet;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Json, Router};
use bytes::Bytes;
use dsg_core::permissions::TokenScope;
use serde_json::{Value, json};

use super::{Ctx, created, rfc};
use crate::error::ApiError;
use crate::http::body::{self, Instant};
use crate::service::tokens::{self, NewUserToken};
use crate::state::AppState;

pub(super) fn routes(r: Router<AppState>) -> Router<AppState> {
    r.route("/api/v1/tokens", any(tokens))
        .route("/api/v1/tokens/{id}", any(token))
}

/// The body of `POST /api/v1/tokens`.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
pub struct NewTokenRequest {
    /// At most 255 characters; default "API token".
    #[schema(max_length = 255)]
    pub description: Option<String>,
    /// An instant in the future (RFC 3339, a date or Unix seconds); none for no expiry.
    pub expires_at: Option<Instant>,
    /// The token only reads (`view`), whatever its owner may do.
    pub read_only: Option<bool>,
    /// Names of existing datasets the token is limited to; none for all.
    pub datasets: Option<DatasetNames>,
}

/// A list of dataset names ("datasets must be a list of names" otherwise).
#[derive(Debug, Clone, PartialEq, Eq, utoipa::ToSchema)]
#[schema(value_type = Vec<String>)]
pub struct DatasetNames(pub BTreeSet<String>);

impl<'de> serde::Deserialize<'de> for DatasetNames {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let bad = || serde::de::Error::custom("must be a list of names");
        match Value::deserialize(d)? {
            Value::Array(items) => items
                .into_iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s),
                    _ => Err(bad()),
                })
                .collect::<Result<_, _>>()
                .map(Self),
            _ => Err(bad()),
        }
    }
}

/// `GET` → the caller's tokens with their scopes (never values);
/// `POST {"description", "expires_at", "read_only", "datasets": [..]}` → 201
/// with the new token's value (shown once). Humans only.
#[utoipa::path(
    method(get, post), path = "/api/v1/tokens", tag = "native",
    request_body(content = NewTokenRequest, content_type = "application/json"),
    responses((status = 200, description = "GET: the caller's tokens with their scopes", body = Vec<Object>),
        (status = 201, description = "POST: the new token, its value shown once", body = Object),
        (status = 429, description = "POST: too many tokens minted by this user (`rate_limit.token_creation`); see `Retry-After`", body = crate::error::schema::Detail))
)]
async fn tokens(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    // People only, answered before the method (as the original).
    ctx.human()?;
    ctx.allow(&[Method::GET, Method::POST])?;
    if ctx.method != Method::POST {
        let out: Vec<Value> = tokens::list(&state, &ctx.caller)
            .await?
            .into_iter()
            .map(|t| {
                json!({
                    "id": t.info.id, "description": t.info.description, "prefix": t.info.prefix,
                    "created": t.info.created.to_rfc3339(), "last_used": rfc(t.info.last_used),
                    "expires_at": rfc(t.info.expires_at), "expired": t.expired,
                    "read_only": t.scope.read_only, "datasets": t.scope.datasets,
                })
            })
            .collect();
        return Ok(Json(out).into_response());
    }
    let body: NewTokenRequest = body::parse(&headers, &bytes)?;
    let input = NewUserToken {
        description: body.description,
        expires_at: body.expires_at.map(|i| i.0),
        scope: TokenScope {
            read_only: body.read_only.unwrap_or(false),
            datasets: body.datasets.map(|d| d.0),
            delegated: false,
        },
    };
    let t = tokens::create(&state, &ctx.caller, input).await?;
    Ok(created(json!({
        "id": t.id, "token": t.value, "description": t.description,
        "expires_at": rfc(t.expires_at), "read_only": t.scope.read_only, "datasets": t.scope.datasets,
    })))
}

/// `DELETE /api/v1/tokens/{id}` → revokes one of the caller's tokens
/// (global admins: anyone's). Humans only.
#[utoipa::path(
    delete, path = "/api/v1/tokens/{id}", tag = "native",
    params(("id" = String, Path, description = "Token id")),
    responses((status = 200, description = "Revoked", body = Object))
)]
async fn token(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    ctx.human()?;
    ctx.allow(&[Method::DELETE])?;
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::not_found("Token not found"))?;
    tokens::revoke(&state, &ctx.caller, id).await?;
    Ok(Json(json!({"status": "revoked", "id": id})).into_response())
}

#[cfg(test)]
mod tests {
    use axum::http::{StatusCode, header};

    use super::*;

    fn err(body: &str) -> String {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
        match body::parse::<NewTokenRequest>(&h, &Bytes::from(body.to_owned())) {
            Err(ApiError::Error(StatusCode::BAD_REQUEST, m)) => m,
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn bodies_are_refused_in_the_old_words() {
        assert_eq!(
            err(r#"{"datasets": "fanc"}"#),
            "datasets must be a list of names"
        );
        assert_eq!(
            err(r#"{"datasets": [1]}"#),
            "datasets must be a list of names"
        );
        assert_eq!(
            err(r#"{"read_only": 1}"#),
            "read_only must be true or false"
        );
        assert_eq!(err(r#"{"description": 1}"#), "description must be a string");
        assert_eq!(
            err(r#"{"expires_at": "soon"}"#),
            "expires_at must be an RFC 3339 time such as 2026-06-01T12:00:00Z"
        );
    }
}
