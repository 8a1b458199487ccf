//! Neuroglancer ngauth: `/token`, `/gcs_token`, the `/login` popup, against
//! a Google stub. Headers are asserted as Neuroglancer needs them.

use dsg_store::write::Actor;
use dsg_testkit::google::{GoogleStub, SA_TOKEN, check_assertion};
use dsg_testkit::ngauth::{NG, app_with_google, world};
use dsg_testkit::{Backend, TestApp, spawn_app_with, user_token};
use serde_json::{Value, json};

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn post_token(
    app: &TestApp,
    origin: Option<&str>,
    cookie: Option<&str>,
) -> reqwest::Response {
    let mut r = client().post(app.url("/token"));
    if let Some(o) = origin {
        r = r.header("Origin", o);
    }
    if let Some(c) = cookie {
        r = r.header("Cookie", format!("dsg_token={c}"));
    }
    r.send().await.unwrap()
}

async fn post_gcs(app: &TestApp, origin: Option<&str>, body: &str) -> reqwest::Response {
    let mut r = client()
        .post(app.url("/gcs_token"))
        .header("Content-Type", "text/plain;charset=UTF-8")
        .body(body.to_owned());
    if let Some(o) = origin {
        r = r.header("Origin", o);
    }
    r.send().await.unwrap()
}

fn header<'a>(r: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    r.headers().get(name).and_then(|v| v.to_str().ok())
}

fn assert_cors(r: &reqwest::Response, origin: &str, credentials: bool) {
    assert_eq!(
        header(r, "access-control-allow-origin"),
        Some(origin),
        "{}",
        r.status()
    );
    assert_eq!(
        header(r, "access-control-allow-credentials"),
        credentials.then_some("true")
    );
    assert_eq!(header(r, "vary"), Some("Origin"));
}

async fn error_of(r: reqwest::Response) -> Value {
    r.json::<Value>().await.unwrap()["error"].clone()
}

async fn token_endpoint_answers_neuroglancer(backend: Backend) {
    let google = GoogleStub::start().await;
    let app = app_with_google(backend, &google, "http://127.0.0.1:9").await;
    let s = app.seed(world()).await.unwrap();
    let a = user_token(&s, "a", "login");

    // Success: text/plain, CORS for the exact origin, credentials allowed.
    let r = post_token(&app, Some(NG), Some(&a)).await;
    assert_eq!(r.status(), 200);
    assert_cors(&r, NG, true);
    assert!(
        header(&r, "content-type")
            .unwrap()
            .starts_with("text/plain")
    );
    assert_eq!(header(&r, "x-frame-options"), Some("deny"));
    assert_eq!(header(&r, "cache-control"), Some("no-store"));
    let token = r.text().await.unwrap();
    assert!(token.len() > 44, "{token}");

    // No cookie → 401, still readable by Neuroglancer.
    let r = post_token(&app, Some(NG), None).await;
    assert_eq!(r.status(), 401);
    assert_cors(&r, NG, true);
    assert_eq!(error_of(r).await, "Not logged in");

    // Unknown, disabled, expired → 401.
    let r = post_token(&app, Some(NG), Some(&"f".repeat(64))).await;
    assert_eq!(r.status(), 401);
    assert_cors(&r, NG, true);
    let r = post_token(&app, Some(NG), Some(&user_token(&s, "off", "login"))).await;
    assert_eq!(r.status(), 401);
    assert_cors(&r, NG, true);
    let old = user_token(&s, "a", "old");
    assert_eq!(post_token(&app, Some(NG), Some(&old)).await.status(), 200);
    app.clock.advance_secs(600);
    let r = post_token(&app, Some(NG), Some(&old)).await;
    assert_eq!(r.status(), 401);
    assert_cors(&r, NG, true);

    // Disallowed origins → 403 readable by that origin (no secret in it);
    // look-alikes are not allowed; a malformed Origin → 400.
    for o in [
        "https://evil.example",
        "http://localhost.evil.com:8080",
        "http://localhost:8081",
    ] {
        let r = post_token(&app, Some(o), Some(&a)).await;
        assert_eq!(r.status(), 403, "{o}");
        assert_cors(&r, o, true);
        assert_eq!(error_of(r).await, "Origin not allowed");
    }
    let r = post_token(&app, Some("http://localhost:8080.evil.com"), Some(&a)).await;
    assert_eq!(r.status(), 400);
    let r = post_token(&app, Some("http://localhost:8080/path"), Some(&a)).await;
    assert_eq!(r.status(), 400);
    assert_eq!(header(&r, "access-control-allow-origin"), None);
    assert_eq!(header(&r, "vary"), Some("Origin"));

    // No Origin (tools, same-origin): works, no CORS grant.
    let r = post_token(&app, None, Some(&a)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "access-control-allow-origin"), None);
    assert_eq!(header(&r, "vary"), Some("Origin"));

    // Preflight and wrong method.
    let r = client()
        .request(reqwest::Method::OPTIONS, app.url("/token"))
        .header("Origin", NG)
        .header("Access-Control-Request-Method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_cors(&r, NG, true);
    assert_eq!(
        header(&r, "access-control-allow-methods"),
        Some("POST, OPTIONS")
    );
    let r = client()
        .get(app.url("/token"))
        .header("Origin", NG)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    assert_cors(&r, NG, true);
    app.shutdown().await;
}
both_backends!(
    token_endpoint_answers_neuroglancer_tests,
    super::token_endpoint_answers_neuroglancer
);

async fn ngauth_token_for(app: &TestApp, cookie: &str) -> String {
    let r = post_token(app, Some(NG), Some(cookie)).await;
    assert_eq!(r.status(), 200);
    r.text().await.unwrap()
}

fn body(token: &str, bucket: &str) -> String {
    json!({"token": token, "bucket": bucket}).to_string()
}

async fn readyz(app: &TestApp) -> Value {
    let (status, body) = app.readyz().await.unwrap();
    assert_eq!(status, 200, "{body}");
    body
}

async fn gcs_token_is_downscoped_through_sts(backend: Backend) {
    let google = GoogleStub::start().await;
    let app = app_with_google(backend, &google, "http://127.0.0.1:9").await;
    let s = app.seed(world()).await.unwrap();
    assert_eq!(
        readyz(&app).await["checks"]["gcs"],
        json!({"ok": true, "state": "not contacted yet"})
    );
    let t = ngauth_token_for(&app, &user_token(&s, "a", "login")).await;

    let r = post_gcs(&app, Some(NG), &body(&t, "fish2-data")).await;
    assert_eq!(r.status(), 200);
    assert_cors(&r, NG, false);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"token": "ds-fish2-data"})
    );

    // The exact requests sent to Google.
    let oauth = google.forms("/oauth/token").await;
    assert_eq!(oauth.len(), 1);
    let (f, _) = &oauth[0];
    assert_eq!(
        f["grant_type"],
        "urn:ietf:params:oauth:grant-type:jwt-bearer"
    );
    assert_eq!(f.len(), 2);
    check_assertion(
        &f["assertion"],
        &format!("{}/oauth/token", google.server.uri()),
    );
    let sts = google.forms("/v1/token").await;
    assert_eq!(sts.len(), 1);
    let (f, req) = &sts[0];
    assert_eq!(
        f["grant_type"],
        "urn:ietf:params:oauth:grant-type:token-exchange"
    );
    assert_eq!(f["subject_token"], SA_TOKEN);
    assert_eq!(
        f["subject_token_type"],
        "urn:ietf:params:oauth:token-type:access_token"
    );
    assert_eq!(
        f["requested_token_type"],
        "urn:ietf:params:oauth:token-type:access_token"
    );
    assert!(req.headers.get("authorization").is_none());
    let options: Value = serde_json::from_str(&f["options"]).unwrap();
    assert_eq!(
        options,
        json!({"accessBoundary": {"accessBoundaryRules": [{
            "availableResource": "//storage.googleapis.com/projects/_/buckets/fish2-data",
            "availablePermissions": ["inRole:roles/storage.objectViewer"]
        }]}})
    );

    // A version-scoped grant opens only the version's prefix (CEL-escaped).
    let tv = ngauth_token_for(&app, &user_token(&s, "v", "login")).await;
    assert_eq!(
        post_gcs(&app, Some(NG), &body(&tv, "fish2-data"))
            .await
            .status(),
        200
    );
    assert_eq!(
        post_gcs(&app, Some(NG), &body(&tv, "sts-refuses"))
            .await
            .status(),
        403
    );
    let sts = google.forms("/v1/token").await;
    let options: Value = serde_json::from_str(&sts[1].0["options"]).unwrap();
    assert_eq!(
        options,
        json!({"accessBoundary": {"accessBoundaryRules": [{
            "availableResource": "//storage.googleapis.com/projects/_/buckets/fish2-data",
            "availablePermissions": ["inRole:roles/storage.objectViewer"],
            "availabilityCondition": {
                "title": "dataset version prefix",
                "expression": "resource.name.startsWith('projects/_/buckets/fish2-data/objects/v1/it\\'s') || api.getAttribute('storage.googleapis.com/objectListPrefix', '').startsWith('v1/it\\'s')"
            }
        }]}})
    );

    // application/json bodies and no Origin work too; the SA token is cached.
    let r = client()
        .post(app.url("/gcs_token"))
        .json(&json!({"token": t, "bucket": "fish2-data"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(google.forms("/oauth/token").await.len(), 1);
    // …until it nears expiry (3599 s minus the 900 s margin).
    app.clock.advance_secs(2700);
    let t = ngauth_token_for(&app, &user_token(&s, "a", "login")).await;
    assert_eq!(
        post_gcs(&app, Some(NG), &body(&t, "fish2-data"))
            .await
            .status(),
        200
    );
    assert_eq!(google.forms("/oauth/token").await.len(), 2);
    app.shutdown().await;
}
both_backends!(
    gcs_token_is_downscoped_through_sts_tests,
    super::gcs_token_is_downscoped_through_sts
);

async fn gcs_token_refusals_have_documented_statuses(backend: Backend) {
    let google = GoogleStub::start().await;
    let app = app_with_google(backend, &google, "http://127.0.0.1:9").await;
    let s = app.seed(world()).await.unwrap();
    let t = ngauth_token_for(&app, &user_token(&s, "a", "login")).await;
    let tb = ngauth_token_for(&app, &user_token(&s, "b", "login")).await;
    let cases: Vec<(String, u16, Value)> = vec![
        ("not json".into(), 400, json!("Invalid request body")),
        ("[1]".into(), 400, json!("Invalid request body")),
        (
            json!({"token": t}).to_string(),
            400,
            json!("Missing token or bucket"),
        ),
        (
            body("", "fish2-data"),
            400,
            json!("Missing token or bucket"),
        ),
        (
            body("garbage", "fish2-data"),
            401,
            json!("Invalid authentication token"),
        ),
        (
            body(&format!("{t}x"), "fish2-data"),
            401,
            json!("Invalid authentication token"),
        ),
        // No permission on the dataset owning the bucket.
        (body(&tb, "fish2-data"), 403, json!("Access denied")),
        // Permission elsewhere only; bucket of no dataset; bad bucket name.
        (body(&t, "hemi-data"), 403, json!("Access denied")),
        (body(&t, "nobody-has-this"), 403, json!("Access denied")),
        (body(&t, "Bad/Name"), 403, json!("Access denied")),
        // STS refuses → 502; STS broken → 503.
        (
            body(&t, "sts-refuses"),
            502,
            json!("Credential exchange failed"),
        ),
        (
            body(&t, "sts-broken"),
            503,
            json!("Credential service unavailable"),
        ),
    ];
    for (b, status, err) in cases {
        let r = post_gcs(&app, Some(NG), &b).await;
        assert_eq!(r.status().as_u16(), status, "{b}");
        assert_cors(&r, NG, false);
        assert_eq!(error_of(r).await, err, "{b}");
    }
    // Denials happen before any Google call.
    let sts = google.forms("/v1/token").await;
    assert_eq!(sts.len(), 2, "only the two STS failure buckets reached STS");

    // A Google outage degrades readiness (opaque tokens still work); any
    // answer from Google, even a refusal of one exchange, clears it.
    let ready = readyz(&app).await;
    assert_eq!(ready["status"], "degraded", "{ready}");
    assert_eq!(ready["checks"]["gcs"]["state"], "unavailable", "{ready}");
    assert!(
        ready["degraded"].to_string().contains("Google credentials"),
        "{ready}"
    );
    assert_eq!(
        post_gcs(&app, Some(NG), &body(&t, "sts-refuses"))
            .await
            .status(),
        502
    );
    assert_eq!(readyz(&app).await["status"], "ready");
    let broken = post_gcs(&app, Some(NG), &body(&t, "sts-broken")).await;
    assert_eq!(broken.status(), 503);
    assert_eq!(readyz(&app).await["status"], "degraded");
    assert_eq!(
        post_gcs(&app, Some(NG), &body(&t, "fish2-data"))
            .await
            .status(),
        200
    );
    let ready = readyz(&app).await;
    assert_eq!(ready["status"], "ready", "{ready}");
    assert_eq!(ready["checks"]["gcs"]["state"], "reachable", "{ready}");

    // Disallowed origin → 403 (readable); malformed → 400.
    let r = post_gcs(&app, Some("https://evil.example"), &body(&t, "fish2-data")).await;
    assert_eq!(r.status(), 403);
    assert_cors(&r, "https://evil.example", false);
    assert_eq!(error_of(r).await, "Origin not allowed");
    assert_eq!(
        post_gcs(&app, Some("nul l"), &body(&t, "fish2-data"))
            .await
            .status(),
        400
    );

    // Expired user token → 401.
    app.clock.advance_secs(3601);
    let r = post_gcs(&app, Some(NG), &body(&t, "fish2-data")).await;
    assert_eq!(r.status(), 401);
    assert_cors(&r, NG, false);
    app.shutdown().await;
}
both_backends!(
    gcs_token_refusals_have_documented_statuses_tests,
    super::gcs_token_refusals_have_documented_statuses
);

async fn gcs_token_follows_the_database_on_every_call(backend: Backend) {
    let google = GoogleStub::start().await;
    let app = app_with_google(backend, &google, "http://127.0.0.1:9").await;
    let s = app.seed(world()).await.unwrap();
    let t = ngauth_token_for(&app, &user_token(&s, "a", "login")).await;
    assert_eq!(
        post_gcs(&app, Some(NG), &body(&t, "fish2-data"))
            .await
            .status(),
        200
    );

    // A TOS put in force on the dataset gates the same token at once.
    let mut tx = app.store.begin(Actor::cli("test")).await.unwrap();
    let ds = tx.dataset_id("fish2").await.unwrap();
    let (tos, _invite) = tx
        .create_tos(&dsg_store::datasets::NewTos {
            name: "Fish TOS".into(),
            text: "Be nice.".into(),
            dataset_id: Some(ds),
            version_id: None,
            service_id: None,
            effective_at: dsg_core::Timestamp(0),
            retired_at: None,
        })
        .await
        .unwrap();
    tx.set_dataset_tos(ds, Some(tos)).await.unwrap();
    tx.commit().await.unwrap();
    let r = post_gcs(&app, Some(NG), &body(&t, "fish2-data")).await;
    assert_eq!(r.status(), 403);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"], "tos_required");
    // The service-check page for the dataset, without `next` (spec §7.1).
    assert!(
        v["tos_url"]
            .as_str()
            .unwrap()
            .ends_with("/web/tos/service-check/?dataset=fish2"),
        "{v}"
    );
    assert!(v["message"].as_str().unwrap().contains("fish2"), "{v}");

    // Accepting it through /activate (same-origin POST with the cookie) reopens access.
    let a = user_token(&s, "a", "login");
    let r = client()
        .post(app.url("/activate"))
        .header("Cookie", format!("dsg_token={a}"))
        .header("Origin", NG)
        .json(&json!({"tos_id": tos}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "cross-site /activate is refused");
    let r = client()
        .post(app.url("/activate"))
        .header("Cookie", format!("dsg_token={a}"))
        .form(&[("tos_id", tos.to_string())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"status": "activated"})
    );
    assert_eq!(
        post_gcs(&app, Some(NG), &body(&t, "fish2-data"))
            .await
            .status(),
        200
    );

    // Revoking the login key kills the ngauth tokens minted from it.
    let keys = app.store.list_user_tokens(None).await.unwrap();
    let login_key = keys
        .iter()
        .find(|k| a.starts_with(&k.prefix) && k.email.eq_ignore_ascii_case("alice@example.org"))
        .unwrap();
    let mut tx = app.store.begin(Actor::cli("test")).await.unwrap();
    tx.revoke_user_token(login_key.id).await.unwrap();
    let events = tx.commit().await.unwrap();
    app.state.committed(&events);
    let r = post_gcs(&app, Some(NG), &body(&t, "fish2-data")).await;
    assert_eq!(r.status(), 401);
    app.shutdown().await;
}
both_backends!(
    gcs_token_follows_the_database_on_every_call_tests,
    super::gcs_token_follows_the_database_on_every_call
);

async fn gcs_token_without_credentials_is_503(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        c.ngauth.allowed_origins = vec![NG.into()];
    })
    .await
    .unwrap();
    let s = app.seed(world()).await.unwrap();
    let t = ngauth_token_for(&app, &user_token(&s, "a", "login")).await;
    let r = post_gcs(&app, Some(NG), &body(&t, "fish2-data")).await;
    assert_eq!(r.status(), 503);
    assert_cors(&r, NG, false);
    app.shutdown().await;
}
both_backends!(
    gcs_token_without_credentials_is_503_tests,
    super::gcs_token_without_credentials_is_503
);

async fn login_popup_posts_to_the_exact_origin(backend: Backend) {
    let google = GoogleStub::start().await;
    let app = app_with_google(backend, &google, "http://127.0.0.1:9").await;
    let s = app.seed(world()).await.unwrap();
    let a = user_token(&s, "a", "login");
    let get = |q: &str, cookie: Option<&str>| {
        let mut r = client().get(app.url(&format!("/login{q}")));
        if let Some(c) = cookie {
            r = r.header("Cookie", format!("dsg_token={c}"));
        }
        r.send()
    };
    let enc = "http%3A%2F%2Flocalhost%3A8080";

    // Logged in, allowed origin: the page posts a token /gcs_token accepts.
    let r = get(&format!("?origin={enc}"), Some(&a)).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        header(&r, "cross-origin-opener-policy"),
        Some("unsafe-none")
    );
    assert_eq!(header(&r, "cache-control"), Some("no-store"));
    let csp = header(&r, "content-security-policy").unwrap().to_owned();
    let html = r.text().await.unwrap();
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .unwrap()
        .split('\'')
        .next()
        .unwrap();
    assert!(
        html.contains(&format!("<script nonce=\"{nonce}\">")),
        "{html}"
    );
    assert!(
        html.contains("data-origin=\"http://localhost:8080\""),
        "{html}"
    );
    assert!(html.contains("window.opener.postMessage(message, target)"));
    let message = html
        .split("data-message=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .replace("&#34;", "\"")
        .replace("&quot;", "\"")
        .replace("&#43;", "+")
        .replace("&#x2b;", "+")
        .replace("&#61;", "=")
        .replace("&#x3d;", "=")
        .replace("&#47;", "/")
        .replace("&#x2f;", "/");
    let v: Value = serde_json::from_str(&message).unwrap_or_else(|e| panic!("{message}: {e}"));
    let token = v["token"].as_str().unwrap();
    assert_eq!(
        post_gcs(&app, Some(NG), &body(token, "fish2-data"))
            .await
            .status(),
        200
    );

    // Disallowed origin: "badorigin" is posted to it, no token anywhere.
    let r = get("?origin=https%3A%2F%2Fevil.example", Some(&a))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("data-origin=\"https://evil.example\""));
    assert!(
        html.contains("badorigin") && !html.contains("token"),
        "{html}"
    );

    // Malformed origin → 400; not logged in → to the login entry point and back.
    assert_eq!(
        get("?origin=javascript%3Aalert(1)", Some(&a))
            .await
            .unwrap()
            .status(),
        400
    );
    let r = get(&format!("?origin={enc}"), None).await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(
        header(&r, "location"),
        Some("/auth/login?next=%2Flogin%3Forigin%3Dhttp%253A%252F%252Flocalhost%253A8080")
    );
    assert_eq!(
        header(&r, "cross-origin-opener-policy"),
        Some("unsafe-none")
    );

    // Without origin: a status page.
    let html = get("", Some(&a)).await.unwrap().text().await.unwrap();
    assert!(
        html.contains("You are logged in as Alice@Example.org."),
        "{html}"
    );

    // Landing pages.
    let html = client()
        .get(app.url("/"))
        .header("Cookie", format!("dsg_token={a}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Logged in as Alice@Example.org."));
    let html = client()
        .get(app.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Not logged in.") && html.contains("/auth/login?next=/web/datasets"));
    let r = client().get(app.url("/success")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("Access Activated"));
    app.shutdown().await;
}
both_backends!(
    login_popup_posts_to_the_exact_origin_tests,
    super::login_popup_posts_to_the_exact_origin
);
