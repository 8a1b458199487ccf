//! The admin console in a real browser: headless Chromium logs in through
//! the real OpenID provider (`tests/oidc`), edits a dataset in the console
//! and finds the change in the console's audit-log view. Screenshots of the
//! main pages go to `$DSG_SCREENSHOT_DIR` (default `target/screenshots/`,
//! not committed) for a person to look at.

use std::time::Duration;

use dsg_testkit::browser::screenshot;
use dsg_testkit::{Backend, eventually};
use fantoccini::{Client, Locator};
use serde_json::json;

async fn shot(c: &Client, name: &str) {
    screenshot(c, &format!("{name}.png")).await;
}

async fn wait_url(c: &Client, part: &str) -> String {
    let ok = eventually(Duration::from_secs(30), || async {
        c.current_url()
            .await
            .is_ok_and(|u| u.as_str().contains(part))
    })
    .await;
    let url = c.current_url().await.unwrap().to_string();
    assert!(ok, "never reached a URL containing {part:?} (at {url})");
    url
}

async fn source(c: &Client) -> String {
    c.source().await.unwrap()
}

async fn an_admin_edits_a_dataset_and_sees_it_in_the_audit_log(backend: Backend) {
    let (app, idp) = dsg_testkit::idp::app_with_idp(backend, |_, _| {}).await;
    let s = app
        .seed(json!({
            "datasets": [{"name": "fish2", "description": "Zebrafish"}, {"name": "hemibrain"}],
            "users": [{"key": "a", "email": "alice@example.org", "name": "Alice", "admin": true},
                      {"email": "bob@example.org"}],
            "groups": [{"name": "lab", "members": [{"user": "a"}]}]
        }))
        .await
        .unwrap();
    let fish2 = s["datasets"]["fish2"]["id"].as_i64().unwrap();
    let (_driver, c) = dsg_testkit::browser::start_driver().await;
    c.set_window_size(1280, 900).await.unwrap();

    // Not logged in: the console sends the browser to the login, which goes to the provider.
    c.goto(&app.url("/admin/datasets/")).await.unwrap();
    wait_url(&c, &idp.issuer).await;
    let login = c
        .wait()
        .for_element(Locator::Css("input[name=login]"))
        .await
        .unwrap();
    login.send_keys("alice").await.unwrap();
    c.find(Locator::Css("input[name=password]"))
        .await
        .unwrap()
        .send_keys("x")
        .await
        .unwrap();
    c.find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    // Back on the console page the login started from.
    wait_url(&c, &app.url("/admin/datasets/")).await;
    let page = source(&c).await;
    assert!(page.contains("Signed in as alice@example.org"), "{page}");
    assert!(
        page.contains("fish2") && page.contains("hemibrain"),
        "{page}"
    );
    shot(&c, "admin-datasets-list").await;

    // Open fish2, edit its description.
    c.find(Locator::Css(&format!(
        "td a[href=\"/admin/datasets/{fish2}\"]"
    )))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    wait_url(&c, &format!("/admin/datasets/{fish2}")).await;
    shot(&c, "admin-dataset-view").await;
    c.find(Locator::Css(&format!(
        "a[href=\"/admin/datasets/{fish2}/edit\"]"
    )))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    let field = c
        .wait()
        .for_element(Locator::Id("f-description"))
        .await
        .unwrap();
    field.clear().await.unwrap();
    field.send_keys("Zebrafish, second release").await.unwrap();
    shot(&c, "admin-dataset-edit").await;
    c.find(Locator::Css("form.edit button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_url(&c, "done=saved").await;
    let page = source(&c).await;
    assert!(
        page.contains("Saved.") && page.contains("Zebrafish, second release"),
        "{page}"
    );

    // The audit log view shows the change, by alice.
    c.goto(&app.url("/admin/audit_log/?action=dataset_updated"))
        .await
        .unwrap();
    let page = source(&c).await;
    assert!(
        page.contains("alice@example.org") && page.contains("dataset_updated"),
        "{page}"
    );
    shot(&c, "admin-audit-log").await;
    c.find(Locator::Css("tbody td a"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_url(&c, "/admin/audit_log/").await;
    let page = source(&c).await;
    assert!(
        page.contains("Zebrafish, second release") && page.contains("&quot;Zebrafish&quot;")
            || page.contains("\"Zebrafish\""),
        "{page}"
    );
    shot(&c, "admin-audit-entry").await;

    // A phone-sized window: the same page stays usable.
    c.set_window_size(390, 844).await.unwrap();
    c.goto(&app.url("/admin/users/")).await.unwrap();
    shot(&c, "admin-users-phone").await;
    let _ = c.close().await;
    app.shutdown().await;
}
both_backends!(
    an_admin_edits_a_dataset_and_sees_it_in_the_audit_log_tests,
    super::an_admin_edits_a_dataset_and_sees_it_in_the_audit_log
);
