//! Headless Chromium over WebDriver: Debian's `chromium` driven through
//! `chromedriver` with fantoccini, and screenshots for a person to look at.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder};
use serde_json::json;

use crate::eventually;

/// A running `chromedriver` (with its browser profile); killed when dropped.
pub struct Driver {
    child: Child,
    url: String,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `chromedriver` on a free port and opens a headless Chromium
/// session (fresh profile, third-party cookies allowed, time zone
/// America/Los_Angeles). Keep the
/// [`Driver`] alive as long as the [`Client`].
pub async fn start_driver() -> (Driver, Client) {
    let port = crate::free_port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        // A western time zone, where midnight UTC is still the day before:
        // pages must show dates as the server means them, not shifted.
        .env("TZ", "America/Los_Angeles")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver not found: install Debian's chromium and chromium-driver (scripts/test does)");
    let profile = tempfile::tempdir().unwrap();
    let driver = Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
        _profile: profile,
    };
    let status = format!("{}/status", driver.url);
    assert!(
        eventually(Duration::from_secs(20), || async {
            reqwest::get(&status).await.is_ok_and(|r| r.status() == 200)
        })
        .await,
        "chromedriver did not start"
    );
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({"args": [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
            format!("--user-data-dir={}", driver._profile.path().display()),
        ],
        // Headless Chromium blocks third-party cookies by default; desktop
        // Chrome users mostly do not. Allow them, as those users do.
        "prefs": {"profile.cookie_controls_mode": 0, "profile.block_third_party_cookies": false}}),
    );
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("WebDriver session");
    (driver, client)
}

/// Where screenshots go: `$DSG_SCREENSHOT_DIR`, default the workspace's
/// `target/screenshots/` (not committed).
pub fn screenshot_dir() -> PathBuf {
    std::env::var_os("DSG_SCREENSHOT_DIR").map_or_else(
        || {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../target/screenshots"
            ))
        },
        PathBuf::from,
    )
}

/// Saves a PNG screenshot of the shown page as `file` in [`screenshot_dir`].
pub async fn screenshot(c: &Client, file: &str) {
    let dir = screenshot_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let png = c.screenshot().await.unwrap();
    std::fs::write(dir.join(file), png).unwrap();
}

/// Serves `html` at `/` on `listener` (a page of another origin) until the
/// test ends.
pub async fn serve_html(listener: tokio::net::TcpListener, html: String) {
    let app = axum::Router::new().route(
        "/",
        axum::routing::get(move || {
            let html = html.clone();
            async move { axum::response::Html(html) }
        }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
}

/// The page's `window.results` (`{}` when unset, null when unreadable).
pub async fn page_results(c: &Client) -> serde_json::Value {
    c.execute("return window.results || {};", vec![])
        .await
        .unwrap_or(serde_json::Value::Null)
}
