//! Reading JSON request bodies with the original's error answers:
//! 415 for a non-JSON content type, 400 for malformed JSON.

use axum::http::{HeaderMap, StatusCode, header};
use bytes::Bytes;
use serde_json::Value;

use crate::error::ApiError;

/// Parses a JSON body; `Ok(None)` when the body is empty.
///
/// # Errors
/// 415 or 400 `{"detail": …}`.
pub fn json(headers: &HeaderMap, body: &Bytes) -> Result<Option<Value>, ApiError> {
    if body.is_empty() {
        return Ok(None);
    }
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media = ct.split(';').next().unwrap_or_default().trim();
    if !(media == "application/json" || media.ends_with("+json")) {
        return Err(ApiError::Detail(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("Unsupported media type \"{ct}\" in request."),
        ));
    }
    serde_json::from_slice(body)
        .map(Some)
        .map_err(|e| ApiError::Detail(StatusCode::BAD_REQUEST, format!("JSON parse error - {e}")))
}
