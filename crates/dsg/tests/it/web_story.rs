//! The web UI tells the whole story (issue 26), over HTTP: errors under
//! `/web/` and `/admin/` are pages in the site's layout with a way forward
//! (the API's paths keep their JSON); login buttons name the configured
//! providers; the members page lists everyone who can get in — through a
//! grant, a group or as a service account — and the pending invitations,
//! which can be withdrawn; an htmx refusal replaces the stale answer; the
//! last admin of a group cannot leave it; removing a service table names
//! the public roots that go with it, in the message and the audit log; the
//! audit log reads as sentences with filters and CSV; `/metrics` shows as
//! text in a browser.

use dsg_testkit::web::{Answer, Visitor};
use dsg_testkit::{Backend, spawn_app, spawn_app_with, user_token};
use serde_json::{Value, json};

const HTML: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

fn story_world() -> Value {
    json!({
        "services": [{"name": "neuprint"}, {"name": "clio"}],
        "datasets": [{"name": "fanc", "versions": [{"version": "v1"}]}, {"name": "manc"}],
        "users": [
            {"key": "alice", "email": "alice@example.org", "tokens": [{"key": "t"}]},
            {"key": "gm", "email": "groupie@example.org", "tokens": [{"key": "t"}]},
            {"key": "bob", "email": "bob@example.org", "tokens": [{"key": "t"}]},
            {"key": "old", "email": "gone@example.org", "active": false},
            {"key": "root", "email": "root@example.org", "admin": true, "tokens": [{"key": "t"}]}
        ],
        "groups": [{"name": "lab", "members": [{"user": "alice", "admin": true}, {"user": "gm"}],
                    "permissions": [{"dataset": "fanc", "permission": "view"}]}],
        "grants": [
            {"user": "alice", "dataset": "fanc", "permission": "admin"},
            {"user": "bob", "dataset": "fanc", "permission": "edit", "version": "v1"}
        ],
        "service_accounts": [{"key": "ci", "name": "ci-bot", "tokens": [{"key": "main"}],
                              "grants": [{"dataset": "fanc", "permission": "view"}]}]
    })
}

async fn get_as(
    app: &dsg_testkit::TestApp,
    path: &str,
    token: Option<&str>,
    accept: &str,
) -> Answer {
    let mut r = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(app.url(path))
        .header("accept", accept);
    if let Some(t) = token {
        r = r.header("cookie", format!("dsg_token={t}"));
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    Answer {
        status,
        location: String::new(),
        body: r.text().await.unwrap(),
        headers,
    }
}

/// Posts the members page's grant form on `dataset` as `v`.
async fn grant(
    v: &Visitor,
    dataset: &str,
    email: &str,
    permission: &str,
    extra: &[(&str, &str)],
) -> Answer {
    let mut form = vec![
        ("action", "grant"),
        ("email", email),
        ("permission", permission),
    ];
    form.extend_from_slice(extra);
    v.post(&format!("/web/grants/{dataset}"), &form).await
}

fn content_type(a: &Answer) -> &str {
    a.headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

async fn browser_paths_answer_with_pages(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app.seed(story_world()).await.unwrap();
    let bob = user_token(&s, "bob", "t");
    // Unknown paths: a page under /web and /admin, for visitors and people signed in.
    for path in ["/web/no-such-page", "/admin/no/such/page", "/web"] {
        let a = get_as(&app, path, None, HTML).await;
        assert_eq!(a.status, 404, "{path}");
        assert!(
            content_type(&a).starts_with("text/html"),
            "{path}: {}",
            content_type(&a)
        );
        assert!(
            a.body.contains("There is no page at this address."),
            "{path}"
        );
        assert!(
            a.body.contains("href=\"/web/datasets\""),
            "{path}: a way forward"
        );
        let signed_in = get_as(&app, path, Some(&bob), HTML).await;
        assert!(
            signed_in.body.contains("bob@example.org"),
            "{path}: the top bar knows bob"
        );
        assert!(signed_in.body.contains("Logout"));
    }
    // The API's paths keep their JSON 404.
    let a = get_as(&app, "/api/v1/no-such-thing", None, HTML).await;
    assert_eq!(a.status, 404);
    assert!(
        content_type(&a).starts_with("application/json"),
        "{}",
        content_type(&a)
    );
    // A refused page shows who is signed in, not a login button.
    let a = get_as(&app, "/web/grants/fanc", Some(&bob), HTML).await;
    assert_eq!(a.status, 403);
    assert!(a.body.contains("Access Denied") && a.body.contains("bob@example.org"));
    assert!(!a.body.contains("Log in with"));
    // The admin console's refusal points back to the web UI, not to itself.
    let a = get_as(&app, "/admin/", Some(&bob), HTML).await;
    assert_eq!(a.status, 403);
    assert!(a.body.contains("href=\"/web/datasets\""), "{}", a.body);
    assert!(!a.body.contains("Back to the admin console"));
    // An htmx request that is refused gets a short alert that replaces the
    // stale answer, not a whole page.
    let r = reqwest::Client::new()
        .get(app.url("/web/grants/fanc"))
        .header("cookie", format!("dsg_token={bob}"))
        .header("hx-request", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(r.headers()["hx-reswap"], "innerHTML");
    let body = r.text().await.unwrap();
    assert!(
        body.starts_with("<div class=\"alert alert-error\" role=\"alert\">"),
        "{body}"
    );
    assert!(!body.contains("<html"));
    // No login provider: the login is a page that says so, with a way back;
    // scripts still get JSON.
    let a = get_as(&app, "/auth/login", None, HTML).await;
    assert_eq!(a.status, 404);
    assert!(content_type(&a).starts_with("text/html"));
    assert!(
        a.body.contains("no login provider is configured"),
        "{}",
        a.body
    );
    assert!(a.body.contains("href=\"/\""));
    let a = get_as(&app, "/auth/login", None, "application/json").await;
    assert_eq!(a.status, 404);
    assert!(content_type(&a).starts_with("application/json"));
    // A login that comes back failed is a page too, with a way to try again.
    let back = "/api/v1/oauth2callback?error=access_denied";
    let a = get_as(&app, back, None, HTML).await;
    assert_eq!(a.status, 400);
    assert!(content_type(&a).starts_with("text/html"));
    assert!(a.body.contains("Login failed") && a.body.contains("access_denied"));
    assert!(a.body.contains("href=\"/auth/login\""));
    let a = get_as(&app, back, None, "application/json").await;
    assert_eq!(a.status, 400);
    assert!(content_type(&a).starts_with("application/json"));
    // The landing page does not offer a login that does not exist.
    let a = get_as(&app, "/", None, HTML).await;
    assert!(!a.body.contains("Google") && a.body.contains("No login provider is configured"));
    // A mistyped service name is refused with the names that exist.
    let a = get_as(
        &app,
        "/web/explain-access?dataset=fanc&permission=view&service=neuprnt",
        Some(&bob),
        HTML,
    )
    .await;
    assert!(
        a.body
            .contains("Unknown service: neuprnt. Known services: clio, neuprint."),
        "{}",
        a.body
    );
    let a = get_as(
        &app,
        "/web/explain-access?dataset=fanc&permission=view&service=neuprint",
        Some(&bob),
        HTML,
    )
    .await;
    assert!(
        !a.body.contains("Unknown service") && a.body.contains("— reason:"),
        "{}",
        a.body
    );
    // /metrics in a browser is text; a scraper gets OpenMetrics.
    let a = get_as(&app, "/metrics", None, HTML).await;
    assert_eq!(a.status, 200);
    assert!(
        content_type(&a).starts_with("text/plain"),
        "{}",
        content_type(&a)
    );
    let a = get_as(&app, "/metrics", None, "application/openmetrics-text").await;
    assert!(content_type(&a).starts_with("application/openmetrics-text"));
    app.shutdown().await;
}
both_backends!(
    browser_paths_answer_with_pages_tests,
    super::browser_paths_answer_with_pages
);

async fn login_buttons_name_the_configured_providers(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        c.login.providers.push(dsg_server::config::ProviderConfig {
            name: "keycloak".into(),
            // Nothing listens there: the button is shown all the same.
            issuer: "http://127.0.0.1:9/realms/lab".into(),
            client_id: "dsg".into(),
            ..Default::default()
        });
    })
    .await
    .unwrap();
    for path in ["/", "/web/no-such-page"] {
        let a = get_as(&app, path, None, HTML).await;
        assert!(
            a.body.contains("Log in with Keycloak"),
            "{path}: {}",
            a.body
        );
        assert!(a.body.contains("/auth/login?"), "{path}");
        assert!(!a.body.contains("Google"), "{path}");
    }
    let page = get_as(&app, "/web/no-such-page", None, HTML).await;
    assert!(page.body.contains("/auth/login?provider=keycloak"));
    app.shutdown().await;
}
both_backends!(
    login_buttons_name_the_configured_providers_tests,
    super::login_buttons_name_the_configured_providers
);

async fn the_members_page_lists_every_way_in(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app.seed(story_world()).await.unwrap();
    let alice = Visitor::new(&app, Some(&user_token(&s, "alice", "t")));
    // An invitation for an address nobody has yet.
    let a = grant(&alice, "fanc", "newcomer@example.org", "view", &[]).await;
    assert_eq!(a.status, 302);
    // A refused grant keeps what was typed and summarises the error at the top.
    let a = grant(
        &alice,
        "fanc",
        "late@example.org",
        "view",
        &[("expires_at", "2001-01-01")],
    )
    .await;
    let refused = alice.get(&a.location).await;
    assert!(
        refused.body.contains("id=\"error-summary\""),
        "{}",
        refused.body
    );
    assert!(refused.body.contains("value=\"late@example.org\""));
    let page = alice.get("/web/grants/fanc").await;
    assert_eq!(page.status, 200);
    assert!(
        !page.body.contains("value=\"late@example.org\""),
        "kept values are shown once"
    );
    let who = page
        .body
        .split("id=\"who-table\"")
        .nth(1)
        .and_then(|t| t.split("</table>").next())
        .unwrap()
        .to_owned();
    let row = |subject: &str| {
        who.split("<tr>")
            .find(|r| r.contains(&format!("<td>{subject}</td>")))
            .unwrap_or_else(|| panic!("{subject} missing: {who}"))
            .to_owned()
    };
    assert!(row("alice@example.org").contains("<td>admin</td>"));
    let alice_row = row("alice@example.org");
    assert!(
        alice_row.contains("direct grant") && alice_row.contains("group lab"),
        "{alice_row}"
    );
    let groupie = row("groupie@example.org");
    assert!(
        groupie.contains("group lab") && groupie.contains("<td>view</td>"),
        "{groupie}"
    );
    assert!(row("bob@example.org").contains("v1"));
    let ci = row("ci-bot");
    assert!(
        ci.contains("service account") && ci.contains("<td>view</td>"),
        "{ci}"
    );
    assert!(!who.contains("gone@example.org"));
    // Summary counts and the per-level bars.
    assert!(
        page.body
            .contains("3 people · 1 service account · 1 pending invitation"),
        "summary"
    );
    assert!(page.body.contains("<meter"));
    // The pending invitation, with a way to withdraw it.
    let invitations = page.body.split("id=\"invitations-table\"").nth(1).unwrap();
    assert!(invitations.contains("newcomer@example.org"));
    let id = invitations
        .split("name=\"invitation_id\" value=\"")
        .nth(1)
        .and_then(|v| v.split('"').next())
        .unwrap()
        .to_owned();
    let a = alice
        .post(
            "/web/grants/fanc",
            &[("action", "withdraw_invitation"), ("invitation_id", &id)],
        )
        .await;
    assert_eq!(a.status, 302);
    let after = alice.get(&a.location).await;
    assert!(
        after
            .body
            .contains("Invitation for newcomer@example.org withdrawn.")
    );
    assert!(!after.body.contains("id=\"invitations-table\""));
    // The group's page lists the group's own dataset permission.
    let group = alice.get("/web/group/lab/").await;
    let perms = group.body.split("id=\"group-permissions\"").nth(1).unwrap();
    assert!(perms.contains("<td>fanc</td><td>view</td>"), "{perms}");
    app.shutdown().await;
}
both_backends!(
    the_members_page_lists_every_way_in_tests,
    super::the_members_page_lists_every_way_in
);

async fn the_last_group_admin_cannot_leave(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app.seed(story_world()).await.unwrap();
    let alice = Visitor::new(&app, Some(&user_token(&s, "alice", "t")));
    let page = alice.get("/web/group/lab/").await;
    let own = page
        .body
        .split("<tr>")
        .find(|r| r.contains("<td>alice@example.org</td>"))
        .and_then(|r| r.split("name=\"member_id\" value=\"").nth(1))
        .and_then(|v| v.split('"').next())
        .unwrap()
        .to_owned();
    let a = alice
        .post(
            "/web/group/lab/",
            &[("action", "remove_member"), ("member_id", &own)],
        )
        .await;
    assert_eq!(a.status, 302);
    let after = alice.get(&a.location).await;
    assert!(
        after.body.contains("You are the only admin of lab"),
        "{}",
        after.body
    );
    // A refused member form comes back with the e-mail typed.
    let a = alice
        .post(
            "/web/group/lab/",
            &[("action", "add_member"), ("email", "nobody@example.org")],
        )
        .await;
    let page = alice.get(&a.location).await;
    assert!(
        page.body.contains("value=\"nobody@example.org\""),
        "{}",
        page.body
    );
    let doc = app
        .user_cache(&user_token(&s, "alice", "t"))
        .await
        .unwrap()
        .1;
    assert!(doc["groups"].as_array().unwrap().contains(&json!("lab")));
    app.shutdown().await;
}
both_backends!(
    the_last_group_admin_cannot_leave_tests,
    super::the_last_group_admin_cannot_leave
);

async fn the_audit_log_reads_as_sentences(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app.seed(story_world()).await.unwrap();
    let alice = Visitor::new(&app, Some(&user_token(&s, "alice", "t")));
    let a = grant(&alice, "manc", "bob@example.org", "view", &[]).await;
    // alice does not manage manc: refused.
    assert_eq!(a.status, 403);
    let a = grant(&alice, "fanc", "groupie@example.org", "edit", &[]).await;
    assert_eq!(a.status, 302);
    // A dataset manager reads the history of their dataset, in words.
    let page = alice.get("/web/audit?dataset=fanc").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let said = "alice@example.org granted edit on fanc to groupie@example.org";
    assert!(page.body.contains(said), "{}", page.body);
    assert!(page.body.contains("href=\"/web/grants/fanc\""));
    // Filters: what was done to a person (not only what they did), by actor, by date.
    assert!(
        alice
            .get("/web/audit?dataset=fanc&affected=groupie@example.org")
            .await
            .body
            .contains(said)
    );
    assert!(
        !alice
            .get("/web/audit?dataset=fanc&affected=bob@example.org")
            .await
            .body
            .contains(said)
    );
    assert!(
        !alice
            .get("/web/audit?dataset=fanc&actor=root@example.org")
            .await
            .body
            .contains(said)
    );
    assert!(
        !alice
            .get("/web/audit?dataset=fanc&until=2000-01-01")
            .await
            .body
            .contains(said)
    );
    let bad = alice.get("/web/audit?dataset=fanc&since=yesterday").await;
    assert!(bad.body.contains("Enter the since date as 2026-06-01."));
    // Not another dataset's history, and not for people who manage nothing.
    assert_eq!(alice.get("/web/audit?dataset=manc").await.status, 403);
    let bob = Visitor::new(&app, Some(&user_token(&s, "bob", "t")));
    assert_eq!(bob.get("/web/audit").await.status, 403);
    // CSV of the same rows.
    let csv = alice.get("/web/audit?dataset=fanc&format=csv").await;
    assert!(
        csv.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert!(csv.body.starts_with("time_utc,actor,action,sentence,"));
    assert!(csv.body.contains(said));
    // A global admin sees everything, the seed's rows included.
    let root = Visitor::new(&app, Some(&user_token(&s, "root", "t")));
    let all = root.get("/web/audit").await;
    assert!(all.body.contains(said));
    app.shutdown().await;
}
both_backends!(
    the_audit_log_reads_as_sentences_tests,
    super::the_audit_log_reads_as_sentences
);

async fn removing_a_service_table_names_its_roots(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let mut w = story_world();
    w["datasets"][0]["service_tables"] =
        json!([{"service": "pcg", "table": "fanc_v1", "public_roots": [42, 7]}]);
    let s = app.seed(w).await.unwrap();
    let alice = Visitor::new(&app, Some(&user_token(&s, "alice", "t")));
    let page = alice.get("/web/public-roots/fanc").await;
    assert!(
        page.body.contains("its 2 public root(s)"),
        "the confirmation names them"
    );
    let id = page
        .body
        .split("name=\"service_table_id\" value=\"")
        .nth(1)
        .and_then(|v| v.split('"').next())
        .unwrap()
        .to_owned();
    let a = alice
        .post(
            "/web/public-roots/fanc",
            &[
                ("action", "remove_service_table"),
                ("service_table_id", &id),
            ],
        )
        .await;
    let after = alice.get(&a.location).await;
    assert!(
        after
            .body
            .contains("Removed service table pcg/fanc_v1 and its 2 public root(s): 7, 42."),
        "{}",
        after.body
    );
    let rows = app
        .store
        .audit_entries(&dsg_store::audit::AuditFilter {
            action: Some("public_root_removed".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    assert!(
        rows.iter()
            .all(|r| r.before_state.as_ref().unwrap()["cascade"] == "service_table_removed")
    );
    let history = alice.get("/web/audit?dataset=fanc").await;
    assert!(
        history
            .body
            .contains("removed service table pcg/fanc_v1 of fanc with its 2 public root(s)"),
        "{}",
        history.body
    );
    app.shutdown().await;
}
both_backends!(
    removing_a_service_table_names_its_roots_tests,
    super::removing_a_service_table_names_its_roots
);
