//! CORS for registered web clients (dsg-native-v1 §9): a page served from
//! the exact origin of an enabled registered client may call `/api/dsg/v1/*`
//! from the browser with the delegated key it received, as a bearer token.
//! Only that origin is echoed, never `*`, and never with credentials: the
//! login cookie is not usable cross-site here. Other origins get no CORS
//! headers (the browser then withholds the answer), and requests without
//! `Origin` (servers such as neuPrintHTTP and clio-store) pass untouched.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::service::clients;
use crate::state::AppState;

/// How long a browser may cache a preflight, seconds.
const MAX_AGE: &str = "600";

/// The request's `Origin` when it is an enabled registered client's.
async fn registered_origin(state: &AppState, headers: &HeaderMap) -> Option<HeaderValue> {
    let origin = headers.get(header::ORIGIN)?;
    let text = origin.to_str().ok()?;
    match clients::enabled_at(state, text).await {
        Ok(Some(_)) => Some(origin.clone()),
        Ok(None) => None,
        Err(e) => {
            tracing::warn!(error = %e, "registered-client CORS: lookup failed");
            None
        }
    }
}

/// The layer: answers preflights of registered origins, and adds
/// `Access-Control-Allow-Origin` to their answers.
pub(super) async fn layer(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(origin) = registered_origin(&state, request.headers()).await else {
        return next.run(request).await;
    };
    let preflight = request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut response = if preflight {
        let mut r = StatusCode::NO_CONTENT.into_response();
        let h = r.headers_mut();
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST"),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("Authorization, Content-Type"),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static(MAX_AGE),
        );
        r
    } else {
        next.run(request).await
    };
    let h = response.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    h.append(header::VARY, HeaderValue::from_static("Origin"));
    response
}
