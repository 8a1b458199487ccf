//! SCIM errors (RFC 7644 §3.12): every failure under `/auth/scim/v2`,
//! authentication included, answers the Error schema as
//! `application/scim+json`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use dsg_core::DomainError;
use dsg_core::scim::Invalid;
use dsg_core::scim::schema::ERROR;
use dsg_store::StoreError;
use serde_json::json;

/// The SCIM media type.
pub const SCIM_JSON: &str = "application/scim+json";

/// An error answered to a SCIM client.
#[derive(Debug)]
pub struct ScimError {
    /// HTTP status.
    pub status: StatusCode,
    /// `scimType`, when the RFC defines one for the case.
    pub scim_type: Option<&'static str>,
    /// Human-readable detail.
    pub detail: String,
    /// `Retry-After` seconds (429 only).
    pub retry_after: Option<u64>,
}

impl ScimError {
    /// Any status, no `scimType`.
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            status,
            scim_type: None,
            detail: detail.into(),
            retry_after: None,
        }
    }

    /// 400 with a `scimType`.
    pub fn bad(scim_type: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            scim_type: Some(scim_type),
            detail: detail.into(),
            retry_after: None,
        }
    }

    /// 401.
    pub fn unauthorized(detail: &str) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, detail)
    }

    /// 404 naming the resource type.
    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, format!("{what} not found"))
    }

    /// 412.
    pub fn precondition() -> Self {
        Self::new(
            StatusCode::PRECONDITION_FAILED,
            "The resource changed: its version no longer matches If-Match.",
        )
    }
}

impl From<crate::rate_limit::Limited> for ScimError {
    fn from(l: crate::rate_limit::Limited) -> Self {
        Self {
            retry_after: Some(l.retry_after),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                crate::error::msg::throttled(l.retry_after),
            )
        }
    }
}

impl From<Invalid> for ScimError {
    fn from(e: Invalid) -> Self {
        Self::bad(e.scim_type, e.detail)
    }
}

impl From<crate::service::ServiceError> for ScimError {
    fn from(e: crate::service::ServiceError) -> Self {
        use crate::service::ServiceError as S;
        match e {
            S::NotFound(what) => Self::not_found(what),
            S::Limited(l) => l.into(),
            S::Store(e) => e.into(),
            S::Invalid(i) => Self::bad("invalidValue", i.to_string()),
            S::Conflict(m) => Self {
                status: StatusCode::CONFLICT,
                scim_type: Some("uniqueness"),
                detail: m,
                retry_after: None,
            },
            S::Forbidden(_) | S::LevelOutOfReach { .. } | S::OwnGrant => {
                Self::new(StatusCode::FORBIDDEN, "Forbidden")
            }
        }
    }
}

impl From<StoreError> for ScimError {
    fn from(e: StoreError) -> Self {
        match DomainError::from(e) {
            DomainError::NotFound { kind, id } => {
                Self::new(StatusCode::NOT_FOUND, format!("{kind} not found: {id}"))
            }
            DomainError::Conflict(m) => Self {
                status: StatusCode::CONFLICT,
                scim_type: Some("uniqueness"),
                detail: m,
                retry_after: None,
            },
            DomainError::Invalid(m) => Self::bad("invalidValue", m),
            DomainError::Forbidden(m) => Self::new(StatusCode::FORBIDDEN, m),
            DomainError::Internal(cause) => {
                tracing::error!(%cause, "SCIM request failed");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Internal server error; the cause is in the server log.",
                )
            }
        }
    }
}

/// A JSON body with the SCIM media type.
pub fn scim_json(status: StatusCode, body: &serde_json::Value) -> Response {
    let mut r = (status, body.to_string()).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
    r
}

impl IntoResponse for ScimError {
    fn into_response(self) -> Response {
        let mut body = json!({
            "schemas": [ERROR],
            "status": self.status.as_u16().to_string(),
            "detail": self.detail,
        });
        if let Some(t) = self.scim_type {
            body["scimType"] = json!(t);
        }
        let mut r = scim_json(self.status, &body);
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(secs) = self.retry_after {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        r
    }
}
