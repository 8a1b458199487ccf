//! The registered-client popup in a real browser (dsg-native-v1 §9.1):
//! headless Chromium loads a page from another origin (`http://localhost:Q`
//! while the gateway is `http://127.0.0.1:P`), which opens
//! `/login?origin=…&token=api`; the person allows it; the page receives a
//! delegated key by `postMessage` and calls `/api/dsg/v1/user` with it
//! (CORS for registered origins). A page from an unregistered origin
//! receives nothing, and a remembered consent delivers without a click.

use std::time::Duration;

use dsg_testkit::browser::start_driver;
use dsg_testkit::{Backend, TestApp, eventually, spawn_app, user_token};
use fantoccini::{Client, Locator};
use serde_json::{Value, json};

/// A CODA-like page: on a click, opens the popup and, on its message, calls
/// the gateway with the key. Results in `window.results`.
fn page(server: &str) -> String {
    format!(
        r#"<!doctype html><html><head><meta charset="utf-8"><title>site</title></head><body>
<button id="signin">sign in</button>
<script>
const server = {server:?};
window.results = {{}};
document.getElementById("signin").addEventListener("click", () => {{
  window.results = {{}};
  const popup = window.open(server + "/login?origin=" + encodeURIComponent(self.origin) + "&token=api");
  window.addEventListener("message", async (event) => {{
    if (event.source !== popup || event.origin !== server) return;
    results.message = event.data;
    try {{
      const r = await fetch(server + "/api/dsg/v1/user", {{headers: {{Authorization: "Bearer " + event.data.token}}}});
      results.user = {{status: r.status, body: await r.json()}};
    }} catch (e) {{
      results.user = {{error: String(e)}};
    }}
    results.done = true;
  }}, {{once: true}});
}});
</script></body></html>"#
    )
}

async fn serve_page(listener: tokio::net::TcpListener, server: String) {
    dsg_testkit::browser::serve_html(listener, page(&server)).await;
}

async fn results(c: &Client) -> Value {
    dsg_testkit::browser::page_results(c).await
}

async fn wait_done(c: &Client) -> Value {
    let ok = eventually(Duration::from_secs(30), || async {
        results(c).await.get("done").is_some()
    })
    .await;
    let r = results(c).await;
    assert!(ok, "the page never got a key: {r}");
    r
}

/// Puts the person's login cookie into the browser for the gateway.
async fn log_in(c: &Client, app: &TestApp, token: &str) {
    c.goto(&app.url("/success")).await.unwrap();
    let header = dsg_server::http::cookie::login_cookie(&app.state.config, token, 3600).unwrap();
    let mut cookie =
        fantoccini::cookies::Cookie::parse(header.to_str().unwrap().to_owned()).unwrap();
    cookie.set_max_age(None);
    cookie.set_domain("127.0.0.1");
    c.add_cookie(cookie).await.unwrap();
}

/// Switches to the window that is not `main` (the popup), waiting for it.
async fn popup_window(c: &Client, main: &fantoccini::wd::WindowHandle) {
    let found = eventually(Duration::from_secs(20), || async {
        c.windows().await.map(|w| w.len() > 1).unwrap_or(false)
    })
    .await;
    assert!(found, "no popup opened");
    for w in c.windows().await.unwrap() {
        if &w != main {
            c.switch_to_window(w).await.unwrap();
            return;
        }
    }
}

async fn delegated_key_popup_works_in_chromium(backend: Backend) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://localhost:{}", listener.local_addr().unwrap().port());
    let stranger = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let stranger_origin = format!("http://localhost:{}", stranger.local_addr().unwrap().port());
    let app = spawn_app(backend).await.unwrap();
    let s = app
        .seed(json!({
            "datasets": [{"name": "fish"}],
            "registered_clients": [{"key": "site", "origin": origin, "name": "Test Site"}],
            "users": [{"key": "ann", "email": "ann@example.org", "tokens": [{"key": "login"}]}],
            "grants": [{"user": "ann", "dataset": "fish", "permission": "view"}]
        }))
        .await
        .unwrap();
    serve_page(listener, app.address.clone()).await;
    serve_page(stranger, app.address.clone()).await;
    let (_driver, c) = start_driver().await;
    log_in(&c, &app, &user_token(&s, "ann", "login")).await;

    // 1. Asked, allowed (remembering the site): the page gets a key and
    //    reads the person's identity with it, cross-origin.
    c.goto(&origin).await.unwrap();
    let main = c.window().await.unwrap();
    c.find(Locator::Id("signin"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    popup_window(&c, &main).await;
    let allow = c.wait().for_element(Locator::Id("allow")).await.unwrap();
    let body = c
        .find(Locator::Css("body"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.contains("Test Site"), "{body}");
    c.find(Locator::Css("input[name=remember]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    allow.click().await.unwrap();
    c.switch_to_window(main.clone()).await.unwrap();
    let r = wait_done(&c).await;
    let key = r["message"]["token"].as_str().expect("a key").to_owned();
    assert_eq!(r["user"]["status"], 200, "{r}");
    assert_eq!(r["user"]["body"]["email"], "ann@example.org", "{r}");
    assert_eq!(r["user"]["body"]["admin"], false, "{r}");

    // 2. Remembered: the next click delivers the same key without asking.
    let _ = eventually(Duration::from_secs(10), || async {
        c.windows().await.map(|w| w.len() == 1).unwrap_or(false)
    })
    .await;
    c.find(Locator::Id("signin"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let r = wait_done(&c).await;
    assert_eq!(r["message"]["token"], key.as_str(), "{r}");
    assert_eq!(r["user"]["status"], 200, "{r}");

    // 3. An unregistered origin: the popup says so and posts nothing.
    for w in c.windows().await.unwrap() {
        if w != main {
            c.switch_to_window(w).await.unwrap();
            let _ = c.close_window().await;
        }
    }
    c.switch_to_window(main.clone()).await.unwrap();
    c.goto(&stranger_origin).await.unwrap();
    let main = c.window().await.unwrap();
    c.find(Locator::Id("signin"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    popup_window(&c, &main).await;
    let seen = eventually(Duration::from_secs(10), || async {
        c.find(Locator::Css("h1")).await.ok().is_some()
    })
    .await;
    assert!(seen);
    let text = c
        .find(Locator::Css("body"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("not registered"), "{text}");
    c.switch_to_window(main).await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let r = results(&c).await;
    assert!(
        r.get("message").is_none(),
        "nothing may reach an unregistered origin: {r}"
    );

    let _ = c.close().await;
    app.shutdown().await;
}
both_backends!(
    delegated_key_popup_tests,
    super::delegated_key_popup_works_in_chromium
);
