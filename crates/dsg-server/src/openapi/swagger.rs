//! Serving `/openapi.json` and Swagger UI (`/docs/…`). The UI's files are
//! compiled in (utoipa-swagger-ui's `vendored` feature: no download at build
//! or run time); the pages get their own Content-Security-Policy, which allows
//! only this server's scripts, plus the token endpoint of `[swagger.oauth2]`.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use bytes::Bytes;

use super::OauthFlow;
use crate::config::Config;
use crate::error::ApiError;
use crate::state::{ApiDocs, AppState};

/// Path of the document.
pub const OPENAPI_PATH: &str = "/openapi.json";
/// Path of the UI.
pub const DOCS_PATH: &str = "/docs";

/// Builds the document; with `[swagger.oauth2]`, discovers the issuer's
/// endpoints unless they are configured. An unreachable issuer does not
/// stop the server (the API matters more than its docs): the UI then
/// offers token authorization only, and the reason is logged.
pub async fn build(config: &Config) -> ApiDocs {
    let flow = match &config.swagger.oauth2 {
        None => None,
        Some(o) if !o.authorization_endpoint.is_empty() => Some(OauthFlow {
            authorization_url: o.authorization_endpoint.clone(),
            token_url: o.token_endpoint.clone(),
            scopes: o.scopes.clone(),
        }),
        Some(o) => match discover(&o.issuer).await {
            Ok((authorization_url, token_url)) => Some(OauthFlow {
                authorization_url,
                token_url,
                scopes: o.scopes.clone(),
            }),
            Err(e) => {
                tracing::warn!(error = %e, "[swagger.oauth2]: discovery failed; /docs offers token authorization only");
                None
            }
        },
    };
    new(config, flow.as_ref())
}

/// Builds with known OAuth2 endpoints (or none).
pub fn new(config: &Config, flow: Option<&OauthFlow>) -> ApiDocs {
    let document = Bytes::from(super::document(config, flow).to_string());
    let mut ui = utoipa_swagger_ui::Config::new([OPENAPI_PATH])
        .validator_url("none")
        .try_it_out_enabled(true)
        .persist_authorization(false);
    let mut connect = String::from("'self'");
    if let (Some(flow), Some(o)) = (flow, &config.swagger.oauth2) {
        let oauth = utoipa_swagger_ui::oauth::Config::new()
            .client_id(&o.client_id)
            .app_name("DatasetGateway")
            .scopes(o.scopes.clone())
            .use_pkce_with_authorization_code_grant(true);
        ui = utoipa_swagger_ui::Config::with_oauth_config([OPENAPI_PATH], oauth)
            .validator_url("none")
            .try_it_out_enabled(true)
            .persist_authorization(false);
        if let Some(origin) = origin_of(&flow.token_url) {
            connect.push(' ');
            connect.push_str(&origin);
        }
    }
    let csp = format!(
        "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
             img-src 'self' data:; font-src 'self' data:; connect-src {connect}; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    );
    ApiDocs {
        document,
        ui: Arc::new(ui),
        csp: HeaderValue::from_str(&csp)
            .unwrap_or_else(|_| HeaderValue::from_static("default-src 'self'")),
    }
}

fn origin_of(url: &str) -> Option<String> {
    let u = url::Url::parse(url).ok()?;
    match u.origin() {
        o @ url::Origin::Tuple(..) => Some(o.ascii_serialization()),
        url::Origin::Opaque(_) => None,
    }
}

async fn discover(issuer: &str) -> Result<(String, String), String> {
    let http = crate::outbound::client(std::time::Duration::from_secs(10))
        .map_err(|e| format!("HTTP client: {e}"))?;
    let d = crate::idp::oidc::discover(&http, issuer).await?;
    if d.authorization_endpoint.is_empty() || d.token_endpoint.is_empty() {
        return Err(format!(
            "{issuer}: discovery lacks authorization_endpoint or token_endpoint"
        ));
    }
    Ok((d.authorization_endpoint, d.token_endpoint))
}

/// `/openapi.json`, `/docs` → `/docs/`, and the UI's files under `/docs/`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(OPENAPI_PATH, get(openapi_json))
        .route(
            DOCS_PATH,
            get(|| async { Redirect::permanent(&format!("{DOCS_PATH}/")) }),
        )
        .route(&format!("{DOCS_PATH}/"), get(index))
        .route(&format!("{DOCS_PATH}/{{*file}}"), get(file))
}

async fn openapi_json(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        state.docs.document.clone(),
    )
        .into_response()
}

async fn index(state: State<AppState>) -> Response {
    file(state, Path("index.html".into())).await
}

async fn file(State(state): State<AppState>, Path(file): Path<String>) -> Response {
    let served = match utoipa_swagger_ui::serve(&file, state.docs.ui.clone()) {
        Ok(Some(f)) => f,
        Ok(None) => {
            return ApiError::Detail(StatusCode::NOT_FOUND, "Not found.".into()).into_response();
        }
        Err(e) => return ApiError::Internal(format!("Swagger UI {file}: {e}")).into_response(),
    };
    let mut r = (
        [(header::CONTENT_TYPE, served.content_type)],
        served.bytes.into_owned(),
    )
        .into_response();
    let h = r.headers_mut();
    if served.gzpipped {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    h.insert(header::CONTENT_SECURITY_POLICY, state.docs.csp.clone());
    // The Authorize popup returns to oauth2-redirect.html, which must reach
    // its opener: the UI may open popups, the redirect page keeps its opener.
    let coop = if file == "oauth2-redirect.html" {
        "unsafe-none"
    } else {
        "same-origin-allow-popups"
    };
    h.insert(
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static(coop),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}
