//! A real browser does what Neuroglancer does: headless Chromium (Debian's
//! `chromium` + `chromium-driver`, driven over WebDriver) loads a page from a
//! second, cross-site loopback origin (`http://localhost:Q`, while the
//! gateway is `http://127.0.0.1:P`), calls `POST /token` with credentials,
//! `POST /gcs_token` with a `text/plain` body, and on a click opens the
//! `/login?origin=` popup and waits for its `postMessage`. The test reads the
//! outcome from the page: real CORS, cookies, COOP and postMessage
//! behaviour, which an HTTP client cannot show.

use std::time::Duration;

use dsg_testkit::browser::start_driver;
use dsg_testkit::google::GoogleStub;
use dsg_testkit::ngauth::{app_with_google_for, world};
use dsg_testkit::{Backend, TestApp, eventually, user_token};
use fantoccini::{Client, Locator};
use serde_json::{Value, json};

/// The page: Neuroglancer's three calls, results in `window.results`.
fn page(server: &str) -> String {
    format!(
        r#"<!doctype html><html><head><meta charset="utf-8"><title>ng</title></head><body>
<button id="login">login</button>
<script>
const server = {server:?};
window.results = {{}};
async function gcs(token) {{
  const r = await fetch(server + "/gcs_token", {{method: "POST", body: JSON.stringify({{token, bucket: "fish2-data"}})}});
  return {{status: r.status, body: await r.text()}};
}}
(async () => {{
  try {{
    const r = await fetch(server + "/token", {{method: "POST", credentials: "include"}});
    results.token_status = r.status;
    if (r.status === 200) results.cookie_gcs = await gcs(await r.text());
  }} catch (e) {{
    results.token_status = "network error: " + e;
  }}
  results.first_done = true;
}})();
document.getElementById("login").addEventListener("click", () => {{
  const popup = window.open(server + "/login?origin=" + encodeURIComponent(self.origin));
  const timer = setInterval(() => {{
    if (popup.closed && !results.popup_done) {{ results.popup = "closed early"; results.popup_done = true; }}
  }}, 1000);
  window.addEventListener("message", async (event) => {{
    if (event.source !== popup || event.origin !== server) return;
    clearInterval(timer);
    results.message = event.data;
    if (event.data && typeof event.data.token === "string") results.popup_gcs = await gcs(event.data.token);
    results.popup_done = true;
  }});
}});
</script></body></html>"#
    )
}

/// Serves the page on `localhost` and returns its origin.
async fn serve_page(listener: tokio::net::TcpListener, server: String) {
    dsg_testkit::browser::serve_html(listener, page(&server)).await;
}

async fn results(c: &Client) -> Value {
    dsg_testkit::browser::page_results(c).await
}

async fn wait_for(c: &Client, key: &str) -> Value {
    let ok = eventually(Duration::from_secs(30), || async {
        results(c).await.get(key).is_some()
    })
    .await;
    let r = results(c).await;
    assert!(ok, "page never set {key}: {r}");
    r
}

/// Puts the login cookie in the browser, for the gateway's host, with the
/// attributes `dsg_server::http::cookie` gives in production (`SameSite=None;
/// Secure`) or in local mode over plain http off loopback (`SameSite=Lax`,
/// the original's).
async fn log_in(c: &Client, app: &TestApp, token: &str, production: bool) {
    c.goto(&app.url("/success")).await.unwrap();
    let _ = c.delete_cookie("dsg_token").await;
    let mut config = dsg_server::Config::default();
    if production {
        config.server.mode = dsg_server::config::Mode::Production;
    } else {
        config.server.origin = "http://gateway.lab.example:8200".into();
    }
    let header = dsg_server::http::cookie::login_cookie(&config, token, 3600).unwrap();
    let header = header.to_str().unwrap().to_owned();
    let expected = if production {
        "; HttpOnly; SameSite=None; Secure"
    } else {
        "; HttpOnly; SameSite=Lax"
    };
    assert!(header.contains(expected), "{header}");
    let mut cookie = fantoccini::cookies::Cookie::parse(header).unwrap();
    // WebDriver wants an expiry, not Max-Age.
    cookie.set_max_age(None);
    cookie.set_domain("127.0.0.1");
    c.add_cookie(cookie).await.unwrap();
}

async fn neuroglancer_flow_works_in_chromium(backend: Backend) {
    let google = GoogleStub::start().await;
    let page_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let page_origin = format!(
        "http://localhost:{}",
        page_listener.local_addr().unwrap().port()
    );
    let other_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let other_origin = format!(
        "http://localhost:{}",
        other_listener.local_addr().unwrap().port()
    );
    let app = app_with_google_for(backend, &google, &page_origin).await;
    let s = app.seed(world()).await.unwrap();
    serve_page(page_listener, app.address.clone()).await;
    serve_page(other_listener, app.address.clone()).await;
    let (_driver, c) = start_driver().await;

    // 1. Not logged in: /token answers 401 that the page can read (not a
    //    CORS failure); the popup is sent to the login entry point.
    c.goto(&page_origin).await.unwrap();
    let r = wait_for(&c, "first_done").await;
    assert_eq!(r["token_status"], 401, "{r}");

    // 2. Logged in: the cross-site credentialed POST /token carries the
    //    SameSite=None; Secure cookie, and /gcs_token answers.
    let a = user_token(&s, "a", "login");
    log_in(&c, &app, &a, true).await;
    c.goto(&page_origin).await.unwrap();
    let r = wait_for(&c, "first_done").await;
    assert_eq!(r["token_status"], 200, "{r}");
    assert_eq!(r["cookie_gcs"]["status"], 200, "{r}");
    assert_eq!(
        serde_json::from_str::<Value>(r["cookie_gcs"]["body"].as_str().unwrap()).unwrap(),
        json!({"token": "ds-fish2-data"})
    );

    // 3. The popup path: a click opens /login?origin=…, which posts the token
    //    to the opener (window.opener survives: no COOP same-origin).
    c.find(Locator::Id("login"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let r = wait_for(&c, "popup_done").await;
    assert!(r["message"]["token"].is_string(), "{r}");
    assert_eq!(r["popup_gcs"]["status"], 200, "{r}");

    // 4. The original's SameSite=Lax cookie never reaches the cross-site
    //    /token; the popup (first-party) still logs the user in.
    log_in(&c, &app, &a, false).await;
    c.goto(&page_origin).await.unwrap();
    let r = wait_for(&c, "first_done").await;
    assert_eq!(r["token_status"], 401, "{r}");
    c.find(Locator::Id("login"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let r = wait_for(&c, "popup_done").await;
    assert_eq!(r["popup_gcs"]["status"], 200, "{r}");

    // 5. A Neuroglancer on an origin not allowed: /token's 403 is readable,
    //    and the popup answers "badorigin".
    c.goto(&other_origin).await.unwrap();
    let r = wait_for(&c, "first_done").await;
    assert_eq!(r["token_status"], 403, "{r}");
    c.find(Locator::Id("login"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let r = wait_for(&c, "popup_done").await;
    assert_eq!(r["message"], "badorigin", "{r}");

    let _ = c.close().await;
    app.shutdown().await;
}
both_backends!(
    neuroglancer_flow_works_in_chromium_tests,
    super::neuroglancer_flow_works_in_chromium
);
