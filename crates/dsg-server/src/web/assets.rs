//! `/static/*`: the web UI's own stylesheet and script and the vendored htmx
//! (htmx.org 2.0.11 from the npm registry, 0BSD, `static/htmx.LICENSE`),
//! compiled into the binary — nothing is fetched at run time.

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::state::AppState;

const CSS: &[u8] = include_bytes!("../../static/dsg.css");
const JS: &[u8] = include_bytes!("../../static/dsg.js");
const HTMX: &[u8] = include_bytes!("../../static/htmx.min.js");

pub(super) fn routes(r: Router<AppState>) -> Router<AppState> {
    r.route("/static/dsg.css", get(|| async { asset(CSS, "text/css") }))
        .route(
            "/static/dsg.js",
            get(|| async { asset(JS, "text/javascript") }),
        )
        .route(
            "/static/htmx.min.js",
            get(|| async { asset(HTMX, "text/javascript") }),
        )
}

fn asset(body: &'static [u8], content_type: &'static str) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    r
}
