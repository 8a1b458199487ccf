//! The `/login?origin=` popup with a user who is not logged in yet: it goes
//! through the login entry point and a real OpenID provider, comes back to
//! the popup, and the token it posts works on `/gcs_token`.

use dsg_testkit::Backend;
use dsg_testkit::google::GoogleStub;
use dsg_testkit::idp::{BROWSER_CB, browser, drive};
use dsg_testkit::ngauth::{NG, world};
use serde_json::{Value, json};

async fn popup_logs_in_through_the_identity_provider(backend: Backend) {
    let google = GoogleStub::start().await;
    let key = google.key_file.display().to_string();
    let sts = google.sts_url();
    let (app, idp) = dsg_testkit::idp::app_with_idp(backend, |c, _| {
        c.ngauth.allowed_origins = vec![NG.into()];
        c.gcs.credentials_file = key.clone();
        c.gcs.sts_url = sts.clone();
    })
    .await;
    app.seed(world()).await.unwrap();
    let (client, _jar) = browser();

    // Neuroglancer opens the popup; not logged in → the login entry point.
    let popup = app.url("/login?origin=http%3A%2F%2Flocalhost%3A8080");
    let r = client.get(&popup).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let entry = app.url(r.headers()["location"].to_str().unwrap());
    let r = client.get(&entry).send().await.unwrap();
    assert_eq!(r.status(), 302, "{entry}");
    let provider = r.headers()["location"].to_str().unwrap().to_owned();
    // The provider's login form, then the callback, which returns to the popup.
    let cb = drive(&client, &provider, "alice", &app.url(BROWSER_CB)).await;
    let r = client.get(&cb).send().await.unwrap();
    assert_eq!(r.status(), 302);
    assert_eq!(
        r.headers()["location"],
        "/login?origin=http%3A%2F%2Flocalhost%3A8080"
    );
    // Back in the popup: the page posts the token to Neuroglancer's origin.
    let r = client.get(&popup).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cross-origin-opener-policy"], "unsafe-none");
    let html = r.text().await.unwrap();
    assert!(
        html.contains("data-origin=\"http://localhost:8080\""),
        "{html}"
    );
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
        .replace("&#61;", "=")
        .replace("&#47;", "/");
    let token = serde_json::from_str::<Value>(&message).unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = reqwest::Client::new()
        .post(app.url("/gcs_token"))
        .header("Origin", NG)
        .body(json!({"token": token, "bucket": "fish2-data"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"token": "ds-fish2-data"})
    );
    drop(idp);
    app.shutdown().await;
}
both_backends!(
    popup_logs_in_through_the_identity_provider_tests,
    super::popup_logs_in_through_the_identity_provider
);
