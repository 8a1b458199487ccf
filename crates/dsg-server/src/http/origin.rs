//! This server's public origin, for absolute URLs (login callbacks, links
//! in pages): `server.origin`, else what a trusted proxy forwarded, else the
//! `Host` header.

use axum::http::HeaderMap;

use crate::error::ApiError;
use crate::state::AppState;

/// This server's public origin: `server.origin`, else the forwarded headers
/// (only when trusted), else `http://` + `Host`.
pub fn public_origin(state: &AppState, headers: &HeaderMap) -> Result<String, ApiError> {
    let c = &state.config;
    if !c.server.origin.is_empty() {
        return Ok(c.server.origin.trim_end_matches('/').to_owned());
    }
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).map(str::trim);
    let host = h("host").unwrap_or_default();
    // Forwarded headers reach here only from a trusted proxy (crate::http::forwarded).
    let (proto, host) = (
        h("x-forwarded-proto").unwrap_or("http"),
        h("x-forwarded-host").unwrap_or(host),
    );
    let host_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    if !host_ok || !matches!(proto, "http" | "https") {
        return Err(ApiError::bad_request(
            "cannot tell this server's origin: set server.origin (DSG_ORIGIN)",
        ));
    }
    Ok(format!("{proto}://{host}"))
}
