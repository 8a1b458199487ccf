//! The ngauth HTML pages: the `/login?origin=` popup, the landing page `/`,
//! `/success`, and `POST /activate`.
//!
//! The popup is how most Neuroglancer users log in (browsers that block
//! third-party cookies make `/token` answer 401 every time). Its final page
//! posts `{"token": …}` — or `"badorigin"` — to `window.opener` with the
//! exact origin as target, then closes. That page must keep
//! `window.opener`: it is sent with `Cross-Origin-Opener-Policy: unsafe-none`
//! (the default `same-origin` would put the popup in a new browsing-context
//! group, null the opener, and make Neuroglancer report "Authentication
//! window was closed"). Its inline script runs under a CSP nonce; the token
//! travels in an HTML-escaped attribute, never spliced into script text.

// Handlers answer early with a ready `Response` as the error value; boxing
// it would only add an allocation on every refusal.
#![allow(clippy::result_large_err)]

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use bytes::Bytes;
use serde_json::json;

use super::popup::{current_login, encode, html, login_url, popup_headers, post_message_page};
use super::{mint, origin};
use crate::error::ApiError;
use crate::http::credentials::query_param;
use crate::http::forwarded::ClientIp;
use crate::pages::MessagePage;
use crate::service::ServiceError;
use crate::service::authority::Caller;
use crate::service::tos::Recorded;
use crate::state::AppState;

#[derive(Template, WebTemplate)]
#[template(path = "ngauth/index.html")]
struct IndexPage<'a> {
    email: Option<&'a str>,
    /// The login buttons, one per configured provider.
    logins: Vec<crate::idp::LoginChoice>,
}

#[derive(Template, WebTemplate)]
#[template(path = "ngauth/login_status.html")]
struct LoginStatusPage<'a> {
    email: Option<&'a str>,
    login_url: &'a str,
}

#[derive(Template, WebTemplate)]
#[template(path = "ngauth/success.html")]
struct SuccessPage;
fn only_get(method: &Method) -> Result<(), Response> {
    if method == Method::GET || method == Method::HEAD {
        Ok(())
    } else {
        Err(ApiError::method_not_allowed(method).into_response())
    }
}

/// `GET /login[?origin=O]`: the Neuroglancer login popup; with
/// `&token=api` (`GET` and the consent's `POST`), the registered-client
/// popup ([`super::delegated`]).
pub async fn login(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    client: Option<ClientIp>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let param = |name: &str| query.as_deref().and_then(|q| query_param(q, name));
    if param("token").as_deref() == Some("api") {
        let mut r =
            super::delegated::popup(&state, &method, &headers, client, param("origin"), &body)
                .await
                .unwrap_or_else(|r| r);
        super::delegated::headers(&mut r);
        return r;
    }
    let mut r = login_inner(&state, &method, &headers, client, query.as_deref())
        .await
        .unwrap_or_else(|r| r);
    popup_headers(&mut r);
    r
}

async fn login_inner(
    state: &AppState,
    method: &Method,
    headers: &HeaderMap,
    client: Option<ClientIp>,
    query: Option<&str>,
) -> Result<Response, Response> {
    only_get(method)?;
    let requested = query
        .and_then(|q| query_param(q, "origin"))
        .filter(|o| !o.is_empty());
    let login = current_login(state, headers, client).await?;
    let Some(target) = requested else {
        let email = login.as_ref().map(|l| l.email.as_str());
        return Ok(html(LoginStatusPage {
            email,
            login_url: &login_url("/login"),
        }));
    };
    if origin::parse(&target).is_err() {
        let mut r = html(MessagePage {
            title: "Invalid origin",
            message: "The origin parameter must be scheme://host[:port].",
        });
        *r.status_mut() = StatusCode::BAD_REQUEST;
        return Ok(r);
    }
    if !state.ngauth_origins.allows(&target) {
        return Ok(post_message_page(
            "Origin not allowed",
            "This Neuroglancer instance is not allowed to use this DatasetGateway.",
            &target,
            &json!("badorigin"),
        ));
    }
    match login {
        Some(l) => {
            let token = mint(state, &l);
            Ok(post_message_page(
                "Logged in",
                &format!("Logged in as {}; returning to Neuroglancer.", l.email),
                &target,
                &json!({ "token": token }),
            ))
        }
        None => {
            let back = format!("/login?origin={}", encode(&target));
            Ok(Redirect::to(&login_url(&back)).into_response())
        }
    }
}

/// `GET /`: who is logged in.
pub async fn index(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    client: Option<ClientIp>,
) -> Response {
    if let Err(r) = only_get(&method) {
        return r;
    }
    match current_login(&state, &headers, client).await {
        Ok(login) => html(IndexPage {
            email: login.as_ref().map(|l| l.email.as_str()),
            logins: state.idp.login_choices(),
        }),
        Err(r) => r,
    }
}

/// `GET /success`: static confirmation after activation.
pub async fn success(method: Method) -> Response {
    match only_get(&method) {
        Ok(()) => html(SuccessPage),
        Err(r) => r,
    }
}

/// True when a cookie-authenticated POST comes from this server's own pages:
/// the `Origin` header, when a browser sends one, must be our origin.
fn same_origin(state: &AppState, headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        // Browsers send Origin on every cross-origin POST; tools send none.
        return true;
    };
    let configured = state.config.server.origin.trim_end_matches('/');
    if !configured.is_empty() {
        return origin == configured;
    }
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    host.is_some_and(|h| origin == format!("http://{h}") || origin == format!("https://{h}"))
}

fn form_or_json(
    headers: &HeaderMap,
    body: &Bytes,
) -> Option<serde_json::Map<String, serde_json::Value>> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if ct.starts_with("application/x-www-form-urlencoded") {
        Some(
            url::form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), serde_json::Value::String(v.into_owned())))
                .collect(),
        )
    } else if body.is_empty() {
        Some(serde_json::Map::new())
    } else {
        serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v.as_object().cloned())
    }
}

/// `POST /activate` (`tos_id` and/or `bucket`, JSON or form): accept a TOS
/// document, then bring the user's bucket IAM membership up to date.
pub async fn activate(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    client: Option<ClientIp>,
    body: Bytes,
) -> Response {
    match activate_inner(&state, &method, &headers, client, &body).await {
        Ok(r) | Err(r) => r,
    }
}

async fn activate_inner(
    state: &AppState,
    method: &Method,
    headers: &HeaderMap,
    client: Option<ClientIp>,
    body: &Bytes,
) -> Result<Response, Response> {
    if method != Method::POST {
        return Err(ApiError::method_not_allowed(method).into_response());
    }
    let err = |s: StatusCode, m: &str| ApiError::Error(s, m.into()).into_response();
    if !same_origin(state, headers) {
        return Err(err(StatusCode::FORBIDDEN, "Cross-site request refused"));
    }
    let Some(login) = current_login(state, headers, client).await? else {
        return Err(err(StatusCode::UNAUTHORIZED, "Not logged in"));
    };
    let fields = form_or_json(headers, body)
        .ok_or_else(|| err(StatusCode::BAD_REQUEST, "Invalid request body"))?;
    let text = |k: &str| match fields.get(k) {
        Some(serde_json::Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let tos_id = match text("tos_id") {
        Some(s) => Some(
            s.trim()
                .parse::<i64>()
                .map_err(|_| err(StatusCode::BAD_REQUEST, "tos_id must be an integer"))?,
        ),
        None => None,
    };
    let bucket = text("bucket");
    if tos_id.is_none() && bucket.is_none() {
        return Err(err(StatusCode::BAD_REQUEST, "Missing tos_id or bucket"));
    }
    let db = |e: dsg_store::StoreError| ApiError::from(e).into_response();
    if let Some(tos_id) = tos_id {
        let doc = match crate::service::tos::document_by_id(state, tos_id).await {
            Ok(d) => d,
            Err(ServiceError::NotFound(_)) => {
                return Err(err(StatusCode::NOT_FOUND, "TOS document not found"));
            }
            Err(e) => return Err(ApiError::from(e).into_response()),
        };
        let caller = Caller::new(
            login.auth.clone(),
            crate::http::request_id::request_id_of(headers),
        );
        let ip = client.map(|c| c.0.to_string());
        // The one acceptance rule (already accepted: idempotent).
        match crate::service::tos::accept(state, &caller, &doc, ip.as_deref())
            .await
            .map_err(|e| ApiError::from(e).into_response())?
        {
            Recorded::Accepted | Recorded::Already => {}
            Recorded::NotInForce => {
                return Err(err(
                    StatusCode::BAD_REQUEST,
                    "These terms are not in force.",
                ));
            }
            Recorded::Restricted(d) => {
                return Err(err(
                    StatusCode::FORBIDDEN,
                    &format!("{d} is invite-only: ask its administrator for access."),
                ));
            }
        }
    }
    if let Some(bucket) = bucket {
        let entitled =
            crate::service::bucket_iam::user_may_read_bucket(state, login.user_id, &bucket)
                .await
                .map_err(db)?;
        if !entitled {
            return Err(err(StatusCode::FORBIDDEN, "Access denied"));
        }
    }
    crate::service::bucket_iam::sync_user_now(state, login.user_id).await;
    Ok(axum::Json(json!({"status": "activated"})).into_response())
}
