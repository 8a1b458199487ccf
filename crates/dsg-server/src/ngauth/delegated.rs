//! The registered-client popup (dsg-native-v1 §9.1): `/login?origin=O&token=api`.
//! A web application at an exact registered origin opens it; a signed-in
//! person allows it (a CSRF-protected form; nothing is created by showing
//! the page), and the page posts `{"token": key}` to exactly that origin and
//! closes. A remembered site with a live key gets that key without a click.
//! An unknown or disabled client, or a malformed origin, gets a page and no
//! message at all. The key never appears in a URL.

#![allow(clippy::result_large_err)]

use askama::Template;
use askama_web::WebTemplate;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use dsg_store::clients::RegisteredClient;
use serde_json::json;

use super::origin;
use super::popup::{
    current_login, encode, html, login_url, nonce, post_message_page, script_csp, set,
};
use crate::http::csrf;
use crate::http::forwarded::ClientIp;
use crate::pages::MessagePage;
use crate::service::authority::Caller;
use crate::service::clients::{self, Popup};
use crate::state::AppState;

#[derive(Template, WebTemplate)]
#[template(path = "ngauth/consent.html")]
struct ConsentPage<'a> {
    name: &'a str,
    owner: &'a str,
    origin: &'a str,
    email: &'a str,
    expires: String,
    action: &'a str,
    csrf: &'a str,
    remembered: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "ngauth/closing.html")]
struct ClosingPage<'a> {
    nonce: &'a str,
}

/// Headers of every page of the API popup (spec 9.1).
pub(super) fn headers(response: &mut Response) {
    set(response, "cache-control", "no-store, private");
    set(response, "referrer-policy", "same-origin");
    set(response, "x-frame-options", "DENY");
    set(response, "cross-origin-opener-policy", "unsafe-none");
}

fn refused(status: StatusCode, title: &str, message: &str) -> Response {
    let mut r = html(MessagePage { title, message });
    *r.status_mut() = status;
    r
}

/// `GET|POST /login?origin=O&token=api`.
pub(super) async fn popup(
    state: &AppState,
    method: &Method,
    headers: &HeaderMap,
    client_ip: Option<ClientIp>,
    target: Option<String>,
    body: &[u8],
) -> Result<Response, Response> {
    if !matches!(*method, Method::GET | Method::HEAD | Method::POST) {
        return Err(crate::error::ApiError::method_not_allowed(method).into_response());
    }
    let Some(target) = target.filter(|t| origin::parse(t).is_ok()) else {
        return Ok(refused(
            StatusCode::BAD_REQUEST,
            "Invalid origin",
            "The origin parameter must be scheme://host[:port].",
        ));
    };
    let client = clients::enabled_at(state, &target)
        .await
        .map_err(|e| crate::error::ApiError::from(e).into_response())?;
    let Some(client) = client else {
        return Ok(refused(
            StatusCode::FORBIDDEN,
            "Site not registered",
            "This site is not registered with DatasetGateway (or is disabled), so it cannot \
             receive a key. Nothing was shared.",
        ));
    };
    let here = format!("/login?origin={}&token=api", encode(&client.origin));
    let Some(login) = current_login(state, headers, client_ip).await? else {
        return Ok(Redirect::to(&login_url(&here)).into_response());
    };
    let caller = Caller::new(
        login.auth.clone(),
        crate::http::request_id::request_id_of(headers),
    );
    let fail = |e: crate::service::ServiceError| crate::error::ApiError::from(e).into_response();
    if *method == Method::POST {
        let fields: Vec<(String, String)> =
            url::form_urlencoded::parse(body).into_owned().collect();
        let field = |name: &str| {
            fields
                .iter()
                .find(|(k, _)| k == name)
                .map_or("", |(_, v)| v.as_str())
        };
        if !csrf::verify(state, headers, csrf::submitted(headers, field(csrf::FIELD))) {
            return Ok(refused(
                StatusCode::FORBIDDEN,
                "Request refused",
                "The form was stale or came from another site; nothing was shared. Reopen the \
                 sign-in window from the site.",
            ));
        }
        if field("decision") != "allow" {
            let nonce = nonce();
            let mut r = html(ClosingPage { nonce: &nonce });
            script_csp(&mut r, &nonce);
            return Ok(r);
        }
        let key = clients::allow(state, &caller, &client, field("remember") == "on")
            .await
            .map_err(fail)?;
        return Ok(deliver(&client, &login.email, &key));
    }
    match clients::popup(state, login.user_id, &client)
        .await
        .map_err(fail)?
    {
        Popup::Deliver(key) => Ok(deliver(&client, &login.email, &key)),
        Popup::Ask {
            remembered,
            expires_at,
        } => {
            let token = csrf::token(headers);
            let mut r = html(ConsentPage {
                name: &client.name,
                owner: &client.owner,
                origin: &client.origin,
                email: &login.email,
                expires: expires_at
                    .to_rfc3339()
                    .chars()
                    .take(16)
                    .collect::<String>()
                    .replace('T', " "),
                action: &here,
                csrf: &token.value,
                remembered,
            });
            if token.fresh
                && let Some(c) = csrf::set_cookie(state, &token.value)
            {
                r.headers_mut().append(axum::http::header::SET_COOKIE, c);
            }
            Ok(r)
        }
    }
}

/// The page that hands `key` to the client's exact origin and closes.
fn deliver(client: &RegisteredClient, email: &str, key: &str) -> Response {
    post_message_page(
        "Signed in",
        &format!(
            "Signed in to {} as {email}; returning to the site.",
            client.name
        ),
        &client.origin,
        &json!({ "token": key }),
    )
}
