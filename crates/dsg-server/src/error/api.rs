//! The JSON API's error responses, in the original's envelopes:
//! `{"detail": …}` for authentication, permission, method and parse errors,
//! `{"error": …}` for endpoint-specific failures. Every 401 carries
//! `WWW-Authenticate: Bearer`. 5xx are logged once here with their cause and
//! answered with a generic message.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use dsg_core::DomainError;
use dsg_store::StoreError;
use serde_json::json;

use crate::cache::Rejection;

/// An error answered to an API client.
#[derive(Debug)]
pub enum ApiError {
    /// `{"detail": message}` with this status.
    Detail(StatusCode, String),
    /// `{"error": message}` with this status.
    Error(StatusCode, String),
    /// 429 `{"detail": …}` with `Retry-After`: a rate limit ([`crate::rate_limit`]).
    TooManyRequests {
        /// Seconds until the limit's window ends.
        retry_after: u64,
    },
    /// 500 with the cause logged, never shown.
    Internal(String),
}

/// Messages the original uses verbatim.
pub mod msg {
    /// No credential presented.
    pub const NOT_PROVIDED: &str = "Authentication credentials were not provided.";
    /// Unknown or expired token.
    pub const INVALID: &str = "Invalid or expired token.";
    /// Disabled user.
    pub const USER_DISABLED: &str = "User account is disabled.";
    /// Disabled service account.
    pub const SA_DISABLED: &str = "Service account is disabled.";
    /// Authenticated but not allowed.
    pub const FORBIDDEN: &str = "You do not have permission to perform this action.";
    /// No such route.
    pub const NOT_FOUND: &str = "Not found.";
    /// A change authenticated by the login cookie, asked for by another site.
    pub const CROSS_SITE: &str = "Cross-site request refused: a change authenticated by the login \
         cookie must come from this server's own pages (or send the token as a bearer token).";

    /// Over a rate limit, in DRF's words.
    pub fn throttled(retry_after: u64) -> String {
        let unit = if retry_after == 1 {
            "second"
        } else {
            "seconds"
        };
        format!("Request was throttled. Expected available in {retry_after} {unit}.")
    }
}

impl ApiError {
    /// 401 for a missing credential.
    pub fn not_provided() -> Self {
        Self::Detail(StatusCode::UNAUTHORIZED, msg::NOT_PROVIDED.into())
    }

    /// 403 for a principal lacking a right.
    pub fn forbidden() -> Self {
        Self::Detail(StatusCode::FORBIDDEN, msg::FORBIDDEN.into())
    }

    /// 405 in DRF's words.
    pub fn method_not_allowed(method: &axum::http::Method) -> Self {
        Self::Detail(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("Method \"{method}\" not allowed."),
        )
    }

    /// 404 `{"error": …}`.
    pub fn not_found(what: &str) -> Self {
        Self::Error(StatusCode::NOT_FOUND, what.into())
    }

    /// 400 `{"error": …}`.
    pub fn bad_request(what: impl Into<String>) -> Self {
        Self::Error(StatusCode::BAD_REQUEST, what.into())
    }
}

impl From<crate::rate_limit::Limited> for ApiError {
    fn from(l: crate::rate_limit::Limited) -> Self {
        Self::TooManyRequests {
            retry_after: l.retry_after,
        }
    }
}

impl From<Rejection> for ApiError {
    fn from(r: Rejection) -> Self {
        let m = match r {
            Rejection::InvalidToken => msg::INVALID,
            Rejection::UserDisabled => msg::USER_DISABLED,
            Rejection::ServiceAccountDisabled => msg::SA_DISABLED,
        };
        Self::Detail(StatusCode::UNAUTHORIZED, m.into())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match DomainError::from(e) {
            DomainError::NotFound { kind, id } => {
                Self::Error(StatusCode::NOT_FOUND, format!("{kind} not found: {id}"))
            }
            DomainError::Conflict(m) => Self::Error(StatusCode::CONFLICT, m),
            DomainError::Invalid(m) => Self::Error(StatusCode::BAD_REQUEST, m),
            DomainError::Forbidden(_) => Self::forbidden(),
            DomainError::Internal(e) => Self::Internal(format!("{e}")),
        }
    }
}

impl From<crate::service::ServiceError> for ApiError {
    fn from(e: crate::service::ServiceError) -> Self {
        use crate::service::ServiceError as S;
        match e {
            S::Forbidden(None) => Self::forbidden(),
            S::Forbidden(Some(m)) => Self::Detail(StatusCode::FORBIDDEN, m),
            S::LevelOutOfReach { level, dataset } => Self::Detail(
                StatusCode::FORBIDDEN,
                format!("You cannot grant {level} on {dataset}."),
            ),
            S::OwnGrant => Self::Detail(
                StatusCode::FORBIDDEN,
                "You cannot revoke your own grants.".into(),
            ),
            S::NotFound(what) => Self::not_found(what),
            S::Invalid(i) => Self::bad_request(i.to_string()),
            S::Conflict(m) => Self::Error(StatusCode::CONFLICT, m),
            S::Limited(l) => l.into(),
            S::Store(e) => e.into(),
        }
    }
}

fn json_response(status: StatusCode, body: serde_json::Value) -> Response {
    let mut r = (status, body.to_string()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    r
}

impl ApiError {
    /// The status this error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Detail(s, _) | Self::Error(s, _) => *s,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Renders the response (for layers that cannot use `IntoResponse` generically).
    pub fn into_response_pub(self) -> Response {
        IntoResponse::into_response(self)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            Self::Detail(s, m) => json_response(s, json!({ "detail": m })),
            Self::Error(s, m) => json_response(s, json!({ "error": m })),
            Self::TooManyRequests { retry_after } => {
                let mut r = json_response(
                    StatusCode::TOO_MANY_REQUESTS,
                    json!({ "detail": msg::throttled(retry_after) }),
                );
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
                r
            }
            Self::Internal(cause) => {
                tracing::error!(%cause, "request failed");
                json_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    json!({"detail": "Internal server error; the cause is in the server log."}),
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttled_message_reads_like_drf() {
        assert_eq!(
            msg::throttled(42),
            "Request was throttled. Expected available in 42 seconds."
        );
        assert_eq!(
            msg::throttled(1),
            "Request was throttled. Expected available in 1 second."
        );
    }
}
