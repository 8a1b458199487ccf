//! The web UI in a real browser: headless Chromium logs in through the real
//! OpenID provider (`tests/oidc`) and walks the main stories — a user
//! accepts a TOS and then sees the dataset in `user/cache`; a dataset admin
//! grants, time-limits and revokes access; a group admin adds a member; a
//! user creates a token, sees it once (a reload repeats nothing) and revokes
//! it; destructive actions ask first; dates are the same in a western time
//! zone; the audit log reads as sentences. Forms are filled and
//! submitted with the keyboard where a person would type. Screenshots of the
//! main pages go to `$DSG_SCREENSHOT_DIR` (default `target/screenshots/`,
//! not committed).

use std::time::Duration;

use dsg_testkit::browser::{screenshot, start_driver};
use dsg_testkit::{Backend, TestApp, eventually, user_token};
use fantoccini::key::Key;
use fantoccini::{Client, Locator};
use serde_json::{Value, json};

async fn shot(c: &Client, backend: Backend, name: &str) {
    screenshot(c, &format!("{name}-{backend:?}.png").to_lowercase()).await;
}

fn world() -> Value {
    json!({
        "datasets": [
            {"name": "fish2", "description": "Zebrafish connectome", "tos": "fish_tos",
             "versions": [{"version": "v1"}, {"version": "v2"}]},
            {"name": "fanc", "description": "Female adult nerve cord"},
            {"name": "manc", "access_mode": "public", "description": "Male adult nerve cord"}
        ],
        "tos": [{"key": "fish_tos", "name": "Fish terms",
                 "text": "# Fish terms\n\nUse the data for **research** only.\n\n| Rule | Detail |\n|---|---|\n| Cite | the paper |",
                 "dataset": "fish2"}],
        "users": [
            {"key": "alice", "email": "alice@example.org", "name": "Alice Liddell"},
            {"key": "v", "email": "v@example.org", "tokens": [{"key": "t"}]}
        ],
        "groups": [{"name": "lab", "members": [{"user": "alice", "admin": true}]}],
        "grants": [
            {"user": "alice", "dataset": "fish2", "permission": "view"},
            {"user": "alice", "dataset": "fanc", "permission": "admin"}
        ]
    })
}

async fn find(c: &Client, css: &str) -> fantoccini::elements::Element {
    c.wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"))
}

async fn body_text(c: &Client) -> String {
    find(c, "body").await.text().await.unwrap()
}

/// Waits until the page at `path` shows `needle`. A form posting back to
/// its own page keeps the old page (same path) until the answer arrives, so
/// the text is polled as well as the path.
async fn wait_text(c: &Client, app: &TestApp, path: &str, needle: &str) {
    wait_path(c, app, path).await;
    wait_body(c, needle).await;
}

/// Waits until the shown page's text holds `needle`; a body replaced while
/// it is read (a stale element) is read again.
async fn wait_body(c: &Client, needle: &str) {
    let read = || async {
        match c.find(Locator::Css("body")).await {
            Ok(body) => body.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    };
    let ok = eventually(Duration::from_secs(20), || async {
        read().await.contains(needle)
    })
    .await;
    assert!(ok, "no {needle:?} on the page: {}", read().await);
}

/// Waits until the page at a path (ignoring the query) is shown.
async fn wait_path(c: &Client, app: &TestApp, path: &str) {
    let want = app.url(path);
    let ok = eventually(Duration::from_secs(20), || async {
        c.current_url()
            .await
            .is_ok_and(|u| u.as_str().split('?').next() == Some(want.as_str()))
    })
    .await;
    let now = c
        .current_url()
        .await
        .map(|u| u.to_string())
        .unwrap_or_default();
    assert!(ok, "expected {want}, at {now}");
}

async fn type_into(c: &Client, css: &str, text: &str) {
    find(c, css).await.send_keys(text).await.unwrap();
}

/// The login token Chromium holds (WebDriver reads HttpOnly cookies).
async fn login_token(c: &Client) -> String {
    c.get_named_cookie("dsg_token")
        .await
        .unwrap()
        .value()
        .to_owned()
}

async fn cache(app: &TestApp, token: &str) -> Value {
    let (status, v) = app.user_cache(token).await.unwrap();
    assert_eq!(status, 200, "{v}");
    v
}

async fn people_walk_the_main_stories_in_chromium(backend: Backend) {
    let (app, idp) = dsg_testkit::idp::app_with_idp(backend, |_, _| {}).await;
    let s = app.seed(world()).await.unwrap();
    let v_token = user_token(&s, "v", "t");
    let (_driver, c) = start_driver().await;
    c.set_window_size(1280, 900).await.unwrap();

    // Log in: a page needing login sends the browser to the provider and back.
    c.goto(&app.url("/web/datasets")).await.unwrap();
    type_into(&c, "input[name=login]", "alice").await;
    type_into(&c, "input[name=password]", "x").await;
    find(&c, "input[name=password]")
        .await
        .send_keys(&Key::Enter.to_string())
        .await
        .unwrap();
    wait_path(&c, &app, "/web/datasets").await;
    let text = body_text(&c).await;
    assert!(
        text.contains("alice@example.org") && text.contains("fish2"),
        "{text}"
    );
    assert!(text.contains("acceptance needed"), "{text}");
    shot(&c, backend, "datasets").await;
    let token = login_token(&c).await;

    // 1. Accept the TOS; the dataset then shows in user/cache.
    assert!(
        cache(&app, &token).await["permissions_v2"]
            .get("fish2")
            .is_none()
    );
    find(&c, "a[href^='/web/tos/']")
        .await
        .click()
        .await
        .unwrap();
    wait_body(&c, "research").await;
    let text = body_text(&c).await;
    assert!(
        text.contains("research") && text.contains("Invite Only"),
        "{text}"
    );
    shot(&c, backend, "tos").await;
    find(&c, "form[action^='/web/tos/'] button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
    wait_text(&c, &app, "/web/my-account", "Accepted: Fish terms").await;
    assert_eq!(
        cache(&app, &token).await["permissions_v2"]["fish2"],
        json!(["view"])
    );

    // 2. A dataset admin grants, time-limits and revokes access.
    c.goto(&app.url("/web/grants/fanc")).await.unwrap();
    type_into(&c, "#email", "v@example.org").await;
    find(&c, "#permission option[value=edit]")
        .await
        .click()
        .await
        .unwrap();
    find(&c, "#email")
        .await
        .send_keys(&Key::Enter.to_string())
        .await
        .unwrap();
    wait_text(
        &c,
        &app,
        "/web/grants/fanc",
        "Granted edit on fanc to v@example.org",
    )
    .await;
    assert_eq!(
        cache(&app, &v_token).await["permissions_v2"]["fanc"],
        json!(["edit", "view"])
    );
    let fanc = app.store.dataset_by_name("fanc").await.unwrap().unwrap();
    let grant = app
        .store
        .dataset_grants(fanc.id)
        .await
        .unwrap()
        .into_iter()
        .find(|g| g.email == "v@example.org")
        .unwrap();
    // Date inputs take typed digits in the browser's locale; set the value as a date picker would.
    c.execute(
        "document.getElementById(arguments[0]).value = '2099-01-01';",
        vec![json!(format!("exp-{}", grant.id))],
    )
    .await
    .unwrap();
    find(&c, &format!("#exp-{}", grant.id))
        .await
        .send_keys(&Key::Enter.to_string())
        .await
        .unwrap();
    wait_text(&c, &app, "/web/grants/fanc", "now expires").await;
    let g = app.store.grant(grant.id).await.unwrap().unwrap();
    assert_eq!(
        g.expires_at
            .map(|t| t.to_rfc3339()[..10].to_owned())
            .as_deref(),
        Some("2099-01-01")
    );
    // An expiry chosen as a date is that date in UTC, labelled so, whatever
    // the browser's time zone (this browser runs in America/Los_Angeles,
    // where 2099-01-01 00:00 UTC is still 31 December); the local time is a tooltip.
    let shown = find(&c, "time[datetime^='2099-01-01']").await;
    assert_eq!(shown.text().await.unwrap(), "2099-01-01 UTC");
    let tooltip = shown.attr("title").await.unwrap().unwrap_or_default();
    assert!(
        tooltip.contains("(your time)") && tooltip.contains("2098"),
        "{tooltip}"
    );
    shot(&c, backend, "grants").await;
    // Revoking asks first, naming what goes.
    find(&c, "summary[aria-label='Revoke edit of v@example.org']")
        .await
        .click()
        .await
        .unwrap();
    assert!(
        body_text(&c)
            .await
            .contains("v@example.org loses edit on fanc")
    );
    find(
        &c,
        "button[aria-label='Confirm: Revoke edit of v@example.org']",
    )
    .await
    .click()
    .await
    .unwrap();
    wait_text(
        &c,
        &app,
        "/web/grants/fanc",
        "Grant revoked: v@example.org no longer has edit",
    )
    .await;
    assert!(
        cache(&app, &v_token).await["permissions_v2"]
            .get("fanc")
            .is_none()
    );

    // 3. A group admin adds a member.
    c.goto(&app.url("/web/group/lab/")).await.unwrap();
    type_into(&c, "#email", "v@example.org").await;
    find(&c, "#email")
        .await
        .send_keys(&Key::Enter.to_string())
        .await
        .unwrap();
    wait_text(&c, &app, "/web/group/lab/", "Added v@example.org to lab").await;
    assert!(
        cache(&app, &v_token).await["groups"]
            .as_array()
            .unwrap()
            .contains(&json!("lab"))
    );
    shot(&c, backend, "group").await;

    // 4. A token: created, shown once, works, revoked.
    c.goto(&app.url("/web/my-account")).await.unwrap();
    type_into(&c, "#description", "laptop scripts").await;
    find(&c, "#read_only").await.click().await.unwrap();
    find(&c, "#description")
        .await
        .send_keys(&Key::Enter.to_string())
        .await
        .unwrap();
    let value = find(&c, "#new-token")
        .await
        .prop("value")
        .await
        .unwrap()
        .unwrap();
    assert!(body_text(&c).await.contains("it will not be shown again"));
    shot(&c, backend, "new-token").await;
    // Post/redirect/get: the page showing the value is a GET, so a reload
    // neither shows the value again nor makes a second token.
    assert!(
        c.current_url()
            .await
            .unwrap()
            .path()
            .ends_with("/web/my-account")
    );
    c.refresh().await.unwrap();
    assert!(
        !c.source().await.unwrap().contains(&value),
        "shown after a reload"
    );
    assert_eq!(
        c.find_all(Locator::Css("summary[aria-label='Revoke laptop scripts']"))
            .await
            .unwrap()
            .len(),
        1,
        "a reload made a second token"
    );
    let doc = cache(&app, &value).await;
    assert_eq!(doc["email"], "alice@example.org");
    assert_eq!(
        doc["permissions_v2"]["fanc"],
        json!(["view"]),
        "read-only: {doc}"
    );
    c.goto(&app.url("/web/my-account")).await.unwrap();
    assert!(!c.source().await.unwrap().contains(&value), "shown twice");
    shot(&c, backend, "my-account").await;
    find(&c, "summary[aria-label='Revoke laptop scripts']")
        .await
        .click()
        .await
        .unwrap();
    assert!(
        body_text(&c)
            .await
            .contains("Programs that use the token “laptop scripts”")
    );
    find(&c, "button[aria-label='Confirm: Revoke laptop scripts']")
        .await
        .click()
        .await
        .unwrap();
    wait_text(
        &c,
        &app,
        "/web/my-account",
        "Token revoked: “laptop scripts”",
    )
    .await;
    assert_eq!(app.user_cache(&value).await.unwrap().0, 401);

    // The dataset's history reads as sentences.
    c.goto(&app.url("/web/audit?dataset=fanc")).await.unwrap();
    assert!(
        body_text(&c)
            .await
            .contains("alice@example.org revoked v@example.org's edit on fanc")
    );
    assert!(body_text(&c).await.contains(
        "alice@example.org changed the expiry of v@example.org's edit on fanc to 2099-01-01 UTC"
    ));
    shot(&c, backend, "audit").await;
    // A wrong address is a page with the top bar and a way on.
    c.goto(&app.url("/web/no-such-page")).await.unwrap();
    let text = body_text(&c).await;
    assert!(
        text.contains("There is no page at this address.") && text.contains("alice@example.org")
    );
    shot(&c, backend, "not-found").await;

    // A narrow (phone-sized) window still shows the page without a horizontal scroll of the body.
    c.set_window_size(390, 844).await.unwrap();
    c.goto(&app.url("/web/datasets")).await.unwrap();
    shot(&c, backend, "datasets-phone").await;
    let wide = c
        .execute(
            "const w = window.innerWidth; return [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > w + 1 && !e.closest('.table-wrap')).map(e => e.tagName + '.' + e.className).slice(0, 5);",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(wide, json!([]), "elements overflow a phone screen");

    let _ = c.close().await;
    drop(idp);
    app.shutdown().await;
}
both_backends!(
    people_walk_the_main_stories_in_chromium_tests,
    super::people_walk_the_main_stories_in_chromium
);

/// Signs the browser in with a seeded token (the login itself is walked above).
async fn sign_in_as(c: &Client, app: &TestApp, token: &str) {
    c.goto(&app.url("/healthz")).await.unwrap();
    c.execute(
        "document.cookie = 'dsg_token=' + arguments[0] + '; path=/';",
        vec![json!(token)],
    )
    .await
    .unwrap();
}

async fn managers_see_every_way_in_and_refusals_replace_answers(backend: Backend) {
    let app = dsg_testkit::spawn_app(backend).await.unwrap();
    let s = app
        .seed(json!({
            "datasets": [{"name": "fanc"}],
            "users": [
                {"key": "alice", "email": "alice@example.org", "tokens": [{"key": "t"}]},
                {"key": "gm", "email": "groupie@example.org"},
                {"key": "bob", "email": "bob@example.org", "tokens": [{"key": "t"}]}
            ],
            "groups": [{"name": "lab", "members": [{"user": "alice", "admin": true}, {"user": "gm"}],
                        "permissions": [{"dataset": "fanc", "permission": "view"}]}],
            "grants": [{"user": "alice", "dataset": "fanc", "permission": "admin"},
                       {"user": "bob", "dataset": "fanc", "permission": "view"}],
            "service_accounts": [{"key": "ci", "name": "ci-bot",
                                  "grants": [{"dataset": "fanc", "permission": "view"}]}]
        }))
        .await
        .unwrap();
    let (_driver, c) = start_driver().await;
    c.set_window_size(1280, 900).await.unwrap();

    // Explain Access: a refused question replaces the previous answer.
    sign_in_as(&c, &app, &user_token(&s, "bob", "t")).await;
    c.goto(&app.url("/web/explain-access?dataset=fanc&permission=view"))
        .await
        .unwrap();
    wait_body(&c, "— reason: a grant made to them on this dataset").await;
    type_into(&c, "#user", "alice@example.org").await;
    find(&c, "#user")
        .await
        .send_keys(&Key::Enter.to_string())
        .await
        .unwrap();
    wait_body(&c, "Access Denied.").await;
    let result = find(&c, "#result").await.text().await.unwrap();
    assert!(
        !result.contains("reason:"),
        "the old answer stayed: {result}"
    );
    shot(&c, backend, "explain-refused").await;

    // The members page shows every way in; an invitation is withdrawn after a confirmation.
    sign_in_as(&c, &app, &user_token(&s, "alice", "t")).await;
    c.goto(&app.url("/web/grants/fanc")).await.unwrap();
    type_into(&c, "#email", "newcomer@example.org").await;
    find(&c, "#email")
        .await
        .send_keys(&Key::Enter.to_string())
        .await
        .unwrap();
    wait_text(&c, &app, "/web/grants/fanc", "Invited newcomer@example.org").await;
    let who = find(&c, "#who-table").await.text().await.unwrap();
    for line in [
        "groupie@example.org person view group lab",
        "bob@example.org person view direct grant",
        "ci-bot service account view service account grant",
    ] {
        assert!(who.contains(line), "{line:?} missing: {who}");
    }
    assert!(
        body_text(&c)
            .await
            .contains("3 people · 1 service account · 1 pending invitation")
    );
    shot(&c, backend, "who-has-access").await;
    find(
        &c,
        "summary[aria-label='Withdraw the invitation of newcomer@example.org']",
    )
    .await
    .click()
    .await
    .unwrap();
    find(
        &c,
        "button[aria-label='Confirm: Withdraw the invitation of newcomer@example.org']",
    )
    .await
    .click()
    .await
    .unwrap();
    wait_text(
        &c,
        &app,
        "/web/grants/fanc",
        "Invitation for newcomer@example.org withdrawn.",
    )
    .await;

    // The group's only admin cannot leave it.
    c.goto(&app.url("/web/group/lab/")).await.unwrap();
    assert!(body_text(&c).await.contains("fanc view every service"));
    find(&c, "summary[aria-label='Remove alice@example.org']")
        .await
        .click()
        .await
        .unwrap();
    find(&c, "button[aria-label='Confirm: Remove alice@example.org']")
        .await
        .click()
        .await
        .unwrap();
    wait_text(&c, &app, "/web/group/lab/", "You are the only admin of lab").await;
    let _ = c.close().await;
    app.shutdown().await;
}
both_backends!(
    managers_see_every_way_in_and_refusals_replace_answers_tests,
    super::managers_see_every_way_in_and_refusals_replace_answers
);
