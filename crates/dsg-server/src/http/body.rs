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

/// A typed JSON object body (an empty body counts as `{}`), for routes
/// that take a body on every method they answer. Routes that also answer
/// GET call [`parse`] in their POST branch instead.
#[derive(Debug)]
pub struct Body<T>(pub T);

impl<T, S> axum::extract::FromRequest<S> for Body<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        let headers = req.headers().clone();
        let bytes = <Bytes as axum::extract::FromRequest<S>>::from_request(req, state)
            .await
            .map_err(|e| ApiError::Detail(e.status(), e.body_text()))?;
        parse(&headers, &bytes).map(Body)
    }
}

/// Reads a typed JSON object body: 415 or 400 `{"detail": …}` as [`json`]
/// for the envelope, 400 `{"error": "<field> <what is wrong>"}` for a field
/// (`email is required`, `admin must be true or false`, …).
///
/// # Errors
/// The answers above.
pub fn parse<T: serde::de::DeserializeOwned>(
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<T, ApiError> {
    let value = match json(headers, body)? {
        None => Value::Object(serde_json::Map::new()),
        Some(v @ Value::Object(_)) => v,
        Some(_) => return Err(ApiError::bad_request("expected a JSON object")),
    };
    serde_path_to_error::deserialize(value)
        .map_err(|e| ApiError::bad_request(phrase(&e.path().to_string(), &e.inner().to_string())))
}

/// A field error in the words clients have always seen.
fn phrase(field: &str, message: &str) -> String {
    if let Some(rest) = message.strip_prefix("missing field `") {
        return format!("{} is required", rest.trim_end_matches('`'));
    }
    let what = if message.starts_with("invalid type: null") {
        "is required"
    } else if message.ends_with("expected a string") {
        "must be a string"
    } else if message.ends_with("expected a boolean") {
        "must be true or false"
    } else if message.ends_with("expected i64") || message.contains("expected an integer") {
        "must be a whole number"
    } else {
        // The field types below phrase their own errors as predicates.
        message
    };
    format!("{field} {what}")
}

/// A required string that is not blank ("`<field>` is required" otherwise).
#[derive(Debug, Clone, PartialEq, Eq, utoipa::ToSchema)]
#[schema(value_type = String)]
pub struct Required(pub String);

impl<'de> serde::Deserialize<'de> for Required {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.trim().is_empty() {
            return Err(serde::de::Error::custom("is required"));
        }
        Ok(Self(s))
    }
}

impl std::ops::Deref for Required {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

/// An instant: an RFC 3339 time, a date (midnight UTC) or whole Unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, utoipa::ToSchema)]
#[schema(value_type = String, format = DateTime)]
pub struct Instant(pub dsg_core::Timestamp);

impl<'de> serde::Deserialize<'de> for Instant {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        match Value::deserialize(d)? {
            Value::Number(n) => n
                .as_i64()
                .map(|s| Self(dsg_core::Timestamp::from_secs(s)))
                .ok_or_else(|| D::Error::custom("must be whole Unix seconds")),
            Value::String(s) => dsg_core::Timestamp::parse(&s).map(Self).ok_or_else(|| {
                D::Error::custom("must be an RFC 3339 time such as 2026-06-01T12:00:00Z")
            }),
            _ => Err(D::Error::custom("must be an RFC 3339 time")),
        }
    }
}

/// A string that counts as absent when empty (the native API's optional
/// names: `"version": ""` means no version).
pub fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Grant {
        email: Required,
        admin: Option<bool>,
        expires_at: Option<Instant>,
        note: Option<String>,
    }

    fn err(body: &str) -> String {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
        match parse::<Grant>(&h, &Bytes::from(body.to_owned())) {
            Err(ApiError::Error(StatusCode::BAD_REQUEST, m)) => m,
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn field_errors_keep_the_words_clients_have_always_seen() {
        assert_eq!(err("{}"), "email is required");
        assert_eq!(err(r#"{"email": "  "}"#), "email is required");
        assert_eq!(err(r#"{"email": null}"#), "email is required");
        assert_eq!(err(r#"{"email": 5}"#), "email must be a string");
        assert_eq!(
            err(r#"{"email": "a@x", "admin": "yes"}"#),
            "admin must be true or false"
        );
        assert_eq!(
            err(r#"{"email": "a@x", "note": 1}"#),
            "note must be a string"
        );
        assert_eq!(
            err(r#"{"email": "a@x", "expires_at": "soon"}"#),
            "expires_at must be an RFC 3339 time such as 2026-06-01T12:00:00Z"
        );
        assert_eq!(
            err(r#"{"email": "a@x", "expires_at": 1.5}"#),
            "expires_at must be whole Unix seconds"
        );
        assert_eq!(err("[1]"), "expected a JSON object");
    }

    #[test]
    fn absent_null_and_valid_fields_parse() {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
        let g: Grant = parse(
            &h,
            &Bytes::from_static(br#"{"email": "a@x", "admin": null, "expires_at": 100}"#),
        )
        .unwrap();
        assert_eq!(&*g.email, "a@x");
        assert_eq!(g.admin, None);
        assert_eq!(
            g.expires_at,
            Some(Instant(dsg_core::Timestamp::from_secs(100)))
        );
    }
}
