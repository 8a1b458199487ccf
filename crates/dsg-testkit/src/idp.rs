//! Test helpers for login: a real OpenID provider (`oidc-provider`, started
//! with `node provider.mjs` in `crates/dsg/tests/oidc`), a browser-like
//! client with a cookie jar, and a driver that walks the provider's login form.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use reqwest::cookie::Jar;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Server secret used by login tests (so a test can forge the state cookie).
pub const SECRET: &str = "login-test-secret-0123456789abcdef0123456789";

/// The browser (allauth-style) login callback.
pub const BROWSER_CB: &str = "/accounts/google/login/callback/";
/// The CAVE login callback.
pub const CAVE_CB: &str = "/api/v1/oauth2callback";

/// A server whose login provider is a fresh test OpenID provider (both
/// callbacks registered); `tweak` adjusts the rest of the configuration.
pub async fn app_with_idp(
    backend: crate::Backend,
    tweak: impl Fn(&mut dsg_server::Config, &str),
) -> (crate::TestApp, Idp) {
    // The port is chosen before the server binds it (the provider must know
    // the callback URL), so another socket may take it in between: retry.
    let mut last = None;
    for _ in 0..5 {
        let port = crate::free_port();
        let base = format!("http://127.0.0.1:{port}");
        let idp = start_idp(&[format!("{base}{BROWSER_CB}"), format!("{base}{CAVE_CB}")]).await;
        let issuer = idp.issuer.clone();
        let app = crate::spawn_app_with(backend, |c| {
            c.server.bind = format!("127.0.0.1:{port}").parse().unwrap();
            c.server.secret_key = SECRET.into();
            c.login.providers = vec![dsg_server::config::ProviderConfig {
                name: "testidp".into(),
                issuer: issuer.clone(),
                client_id: "dsg-test".into(),
                client_secret: "dsg-test-secret".into(),
                ..dsg_server::config::ProviderConfig::default()
            }];
            tweak(c, &issuer);
        })
        .await;
        match app {
            Ok(app) => return (app, idp),
            Err(e) => last = Some(e),
        }
    }
    panic!("server did not start: {last:?}")
}

/// A running provider; killed when dropped.
pub struct Idp {
    /// The issuer URL (`http://127.0.0.1:<port>`).
    pub issuer: String,
    _child: Child,
}

/// Starts the provider allowing these redirect URIs.
pub async fn start_idp(redirect_uris: &[String]) -> Idp {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../dsg/tests/oidc");
    assert!(
        std::path::Path::new(dir)
            .join("node_modules/oidc-provider")
            .exists(),
        "oidc-provider is not installed: run `npm ci` in {dir} (scripts/test does)"
    );
    let mut child = Command::new("node")
        .arg("provider.mjs")
        .args(redirect_uris)
        .current_dir(dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("node must be installed to run the OpenID provider");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(std::time::Duration::from_secs(30), lines.next_line())
        .await
        .expect("provider did not start within 30 s")
        .unwrap()
        .expect("provider exited before printing its issuer");
    // Keep reading so the provider never writes into a closed pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    Idp {
        issuer: v["issuer"].as_str().unwrap().to_owned(),
        _child: child,
    }
}

/// A browser: cookie jar, no automatic redirects.
pub fn browser() -> (reqwest::Client, Arc<Jar>) {
    let jar = Arc::new(Jar::default());
    let c = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .unwrap();
    (c, jar)
}

fn location(base: &str, r: &reqwest::Response) -> String {
    let loc = r.headers()["location"].to_str().unwrap();
    reqwest::Url::parse(base)
        .unwrap()
        .join(loc)
        .unwrap()
        .to_string()
}

/// Follows redirects from `start` (a provider URL), logging in as `account`
/// on the provider's form, until the provider redirects to a URL starting
/// with `stop_at`; returns that URL (not fetched).
pub async fn drive(client: &reqwest::Client, start: &str, account: &str, stop_at: &str) -> String {
    let mut url = start.to_owned();
    for _ in 0..20 {
        if url.starts_with(stop_at) {
            return url;
        }
        let r = client.get(&url).send().await.unwrap();
        if r.status().is_redirection() {
            url = location(&url, &r);
            continue;
        }
        assert_eq!(r.status().as_u16(), 200, "unexpected answer at {url}");
        let body = r.text().await.unwrap();
        assert!(
            body.contains(r#"name="prompt" value="login""#),
            "expected the login form at {url}: {body}"
        );
        let action = body
            .split("action=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap();
        let post_to = reqwest::Url::parse(&url)
            .unwrap()
            .join(action)
            .unwrap()
            .to_string();
        let r = client
            .post(&post_to)
            .form(&[("prompt", "login"), ("login", account), ("password", "x")])
            .send()
            .await
            .unwrap();
        assert!(
            r.status().is_redirection(),
            "login form answered {}",
            r.status()
        );
        url = location(&post_to, &r);
    }
    panic!("no redirect to {stop_at} after 20 steps (last {url})");
}

/// The value of cookie `name` in a response's `Set-Cookie` headers.
pub fn set_cookie(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}
