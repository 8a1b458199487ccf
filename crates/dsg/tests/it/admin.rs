//! The admin console at `/admin/`: who gets in, lists (search, filters,
//! sort, paging), create / edit / delete through the store's operations
//! (audited, `user/cache` fresh at once), validation errors next to the
//! field, the read-only audit log, and CSRF protection of every form.

use dsg_testkit::console::Console;
use dsg_testkit::{Backend, TestApp, spawn_app, spawn_app_with, user_token};
use serde_json::{Value, json};

fn world() -> Value {
    json!({
        "datasets": [{"name": "fish2", "buckets": ["fish2-data"], "versions": [{"version": "v1"}]},
                     {"name": "hemibrain"}],
        "users": [
            {"key": "root", "email": "root@example.org", "admin": true, "tokens": [{"key": "t"}, {"key": "ro", "read_only": true}]},
            {"key": "a", "email": "alice@example.org", "name": "Alice", "tokens": [{"key": "t"}, {"key": "old", "expires_in_s": -5}]},
            {"key": "off", "email": "off@example.org", "admin": true, "active": false, "tokens": [{"key": "t"}]}
        ],
        "groups": [{"name": "lab", "members": [{"user": "a"}]}],
        "grants": [{"user": "a", "dataset": "hemibrain", "permission": "view"}],
        "service_accounts": [{"key": "bot", "name": "bot", "tokens": [{"key": "t"}]}]
    })
}

async fn audit_rows(app: &TestApp, action: &str) -> Vec<dsg_store::audit::AuditEntry> {
    app.store
        .audit_entries(&dsg_store::audit::AuditFilter {
            action: Some(action.into()),
            limit: 50,
            ..Default::default()
        })
        .await
        .unwrap()
}

async fn count(app: &TestApp, table: &str) -> i64 {
    let sql = format!("SELECT COUNT(*) FROM {table}");
    match app.store.db() {
        dsg_store::Db::Sqlite(p) => sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_one(p)
            .await
            .unwrap(),
        dsg_store::Db::Postgres(p) => sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_one(p)
            .await
            .unwrap(),
    }
}

/// Every page kind of every entity.
fn every_route() -> Vec<(&'static str, String)> {
    let mut v = vec![("GET", "/admin/".to_owned())];
    for e in dsg_store::console::ENTITIES {
        let s = e.slug;
        v.push(("GET", format!("/admin/{s}/")));
        v.push(("GET", format!("/admin/{s}/new")));
        v.push(("GET", format!("/admin/{s}/1")));
        v.push(("GET", format!("/admin/{s}/1/edit")));
        v.push(("GET", format!("/admin/{s}/1/delete")));
        v.push(("POST", format!("/admin/{s}/new")));
        v.push(("POST", format!("/admin/{s}/1/edit")));
        v.push(("POST", format!("/admin/{s}/1/delete")));
    }
    v
}

async fn only_active_global_admins_get_in(backend: Backend) {
    // Hundreds of requests with an expired token in one instant: far over
    // `rate_limit.failed_auth`, which tests/it/rate_limits.rs covers.
    let app = spawn_app_with(backend, |c| c.rate_limit.failed_auth.limit = 0)
        .await
        .unwrap();
    let s = app.seed(world()).await.unwrap();
    let before = app.store.audit_count().await.unwrap();
    let users = count(&app, "dsg_user").await;
    let creds: [(&str, Option<String>, u16); 5] = [
        ("anonymous", None, 302),
        ("expired token", Some(user_token(&s, "a", "old")), 302),
        ("disabled admin", Some(user_token(&s, "off", "t")), 302),
        ("non-admin", Some(user_token(&s, "a", "t")), 403),
        (
            "read-only admin token",
            Some(user_token(&s, "root", "ro")),
            403,
        ),
    ];
    for (who, token, want) in &creds {
        let c = Console::new(&app, token.as_deref());
        for (method, path) in every_route() {
            let (status, body) = if method == "GET" {
                let mut c2 = Console::new(&app, token.as_deref());
                c2.get(&path).await
            } else {
                c.post_raw(&path, &[("email", "x@example.org"), ("name", "x")], None)
                    .await
            };
            assert_eq!(status, *want, "{who}: {method} {path}: {body}");
            if *want == 302 {
                let next: String = url::form_urlencoded::byte_serialize(path.as_bytes()).collect();
                assert_eq!(body, format!("/auth/login?next={next}"), "{who} {path}");
            } else {
                assert!(body.contains("Access denied"), "{who} {path}: {body}");
            }
        }
    }
    // The admin gets in, and nothing above changed anything.
    let mut root = Console::new(&app, Some(&user_token(&s, "root", "t")));
    let (status, body) = root.get("/admin/").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("Signed in as root@example.org"), "{body}");
    assert_eq!(app.store.audit_count().await.unwrap(), before);
    assert_eq!(count(&app, "dsg_user").await, users);
    // Security headers on console pages.
    let r = app
        .client
        .get(app.url("/admin/users/"))
        .header(
            "cookie",
            format!("dsg_token={}", user_token(&s, "root", "t")),
        )
        .send()
        .await
        .unwrap();
    let csp = r.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    app.shutdown().await;
}
both_backends!(
    only_active_global_admins_get_in_tests,
    super::only_active_global_admins_get_in
);

async fn lists_search_filter_sort_and_page(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let mut users = vec![
        json!({"key": "root", "email": "root@example.org", "admin": true, "tokens": [{"key": "t"}]}),
    ];
    for i in 0..30 {
        users.push(
            json!({"email": format!("user{i:02}@lab.org"), "name": format!("Person {i:02}"),
                          "admin": i % 10 == 0}),
        );
    }
    let s = app.seed(json!({"users": users})).await.unwrap();
    let mut c = Console::new(&app, Some(&user_token(&s, "root", "t")));

    // Paging: 31 users, 25 per page.
    let (status, body) = c.get("/admin/users/").await;
    assert_eq!(status, 200);
    assert!(body.contains("Rows 1–25 of 31 · page 1 of 2"), "{body}");
    assert!(body.contains("rel=\"next\""));
    let (_, body) = c.get("/admin/users/?page=2").await;
    assert!(body.contains("Rows 26–31 of 31 · page 2 of 2"), "{body}");
    assert!(!body.contains("rel=\"next\""));
    let (_, body) = c.get("/admin/users/?per_page=10&page=4").await;
    assert!(body.contains("Rows 31–31 of 31 · page 4 of 4"), "{body}");

    // Search matches e-mail and name, case-insensitively.
    let (_, body) = c.get("/admin/users/?q=PERSON%2007").await;
    assert!(body.contains("user07@lab.org"), "{body}");
    assert!(body.contains("Rows 1–1 of 1"), "{body}");
    let (_, body) = c.get("/admin/users/?q=nobody-at-all").await;
    assert!(body.contains("No rows match."), "{body}");

    // Filter: admins only (root + user00, user10, user20).
    let (_, body) = c.get("/admin/users/?admin=true").await;
    assert!(body.contains("of 4 "), "{body}");
    assert!(body.contains("user10@lab.org") && !body.contains("user11@lab.org"));
    // Filter and search combine.
    let (_, body) = c.get("/admin/users/?admin=true&q=user2").await;
    assert!(
        body.contains("user20@lab.org") && body.contains("of 1 "),
        "{body}"
    );

    // Sort by e-mail, descending: user29 first, root last (page 2).
    let (_, body) = c.get("/admin/users/?sort=email&desc=1").await;
    let first = body.find("user29@lab.org").unwrap();
    let second = body.find("user28@lab.org").unwrap();
    assert!(first < second);
    assert!(!body.contains("root@example.org</td>"));
    let (_, body) = c.get("/admin/users/?sort=email").await;
    assert!(body.find("root@example.org").unwrap() < body.find("user00@lab.org").unwrap());

    // Bad input is a clear 400, not a 500.
    for bad in [
        "/admin/users/?sort=password",
        "/admin/users/?admin=maybe",
        "/admin/users/?secret=1",
    ] {
        let (status, body) = c.get(bad).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body.contains("Cannot do that"), "{body}");
    }
    assert_eq!(c.get("/admin/nothing/").await.0, 404);
    assert_eq!(c.get("/admin/users/abc").await.0, 404);
    assert_eq!(c.get("/admin/users/99999").await.0, 404);
    app.shutdown().await;
}
both_backends!(
    lists_search_filter_sort_and_page_tests,
    super::lists_search_filter_sort_and_page
);

async fn console_changes_are_audited_and_fresh_in_user_cache(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app.seed(world()).await.unwrap();
    let alice = user_token(&s, "a", "t");
    let root_id = s["users"]["root"]["id"].as_i64().unwrap();
    let mut c = Console::new(&app, Some(&user_token(&s, "root", "t")));
    let lab = s["groups"]["lab"]["id"].as_i64().unwrap().to_string();
    let fish2 = s["datasets"]["fish2"]["id"].as_i64().unwrap().to_string();

    // Warm alice's cache entry, then give her group edit on fish2 in the console.
    let (_, doc) = app.user_cache(&alice).await.unwrap();
    assert!(doc["permissions_v2"].get("fish2").is_none(), "{doc}");
    let (status, loc) = c
        .post(
            "/admin/group_permissions/new",
            &[
                ("group_id", &lab),
                ("dataset_id", &fish2),
                ("permission_id", "2"),
            ],
        )
        .await;
    assert_eq!(status, 303, "{loc}");
    assert!(loc.ends_with("?done=created"), "{loc}");
    let (_, doc) = app.user_cache(&alice).await.unwrap();
    assert_eq!(
        doc["permissions_v2"]["fish2"],
        json!(["edit", "view"]),
        "{doc}"
    );
    let rows = audit_rows(&app, "group_permission_created").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].actor, "root@example.org");
    assert_eq!(rows[0].actor_id, Some(root_id));
    assert!(rows[0].request_id.is_some());
    // The success message shows on the new row's page.
    let (status, body) = c.get(&loc).await;
    assert_eq!(status, 200);
    assert!(
        body.contains("Created.") && body.contains("lab: edit on fish2"),
        "{body}"
    );

    // Edit: the permission becomes manage; audited with before and after.
    let gp_id = loc
        .trim_start_matches("/admin/group_permissions/")
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let (status, loc) = c
        .post(
            &format!("/admin/group_permissions/{gp_id}/edit"),
            &[
                ("group_id", &lab),
                ("dataset_id", &fish2),
                ("permission_id", "3"),
            ],
        )
        .await;
    assert_eq!(status, 303, "{loc}");
    assert!(loc.ends_with("?done=saved"));
    let (_, doc) = app.user_cache(&alice).await.unwrap();
    assert!(
        doc["permissions_v2"]["fish2"]
            .as_array()
            .unwrap()
            .contains(&json!("manage")),
        "{doc}"
    );
    let rows = audit_rows(&app, "group_permission_updated").await;
    assert_eq!(rows[0].before_state, Some(json!({"permission_id": 2})));
    assert_eq!(rows[0].after_state, Some(json!({"permission_id": 3})));

    // Disable alice: her token stops working at once.
    let alice_id = s["users"]["a"]["id"].as_i64().unwrap().to_string();
    let (status, _) = c
        .post(
            &format!("/admin/users/{alice_id}/edit"),
            &[("email", "alice@example.org"), ("name", "Alice")],
        )
        .await;
    assert_eq!(status, 303);
    assert_eq!(app.user_cache(&alice).await.unwrap().0, 401);
    let rows = audit_rows(&app, "user_updated").await;
    assert_eq!(rows[0].before_state, Some(json!({"is_active": true})));
    assert_eq!(rows[0].after_state, Some(json!({"is_active": false})));
    let (status, _) = c
        .post(
            &format!("/admin/users/{alice_id}/edit"),
            &[
                ("email", "alice@example.org"),
                ("name", "Alice"),
                ("is_active", "on"),
            ],
        )
        .await;
    assert_eq!(status, 303);
    assert_eq!(app.user_cache(&alice).await.unwrap().0, 200);

    // Remove alice from lab (the API's operation): the group permission is gone from her cache.
    let (_, body) = c
        .get(&format!("/admin/memberships/?user_id={alice_id}"))
        .await;
    let m_id = body
        .split("<td><a href=\"/admin/memberships/")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let (status, loc) = c
        .post(&format!("/admin/memberships/{m_id}/delete"), &[])
        .await;
    assert_eq!(status, 303, "{loc}");
    assert_eq!(loc, "/admin/memberships/?done=deleted");
    let (_, doc) = app.user_cache(&alice).await.unwrap();
    assert!(doc["permissions_v2"].get("fish2").is_none(), "{doc}");
    assert_eq!(audit_rows(&app, "member_removed").await.len(), 1);

    // Create a grant with an expiry; it shows in her cache.
    let (status, loc) = c
        .post(
            "/admin/grants/new",
            &[
                ("user_id", &alice_id),
                ("dataset_id", &fish2),
                ("permission_id", "1"),
                ("source", "manual"),
                ("expires_at", "2099-01-01T00:00"),
            ],
        )
        .await;
    assert_eq!(status, 303, "{loc}");
    let (_, doc) = app.user_cache(&alice).await.unwrap();
    assert_eq!(doc["permissions_v2"]["fish2"], json!(["view"]), "{doc}");
    let rows = audit_rows(&app, "grant_created").await;
    assert_eq!(rows[0].actor, "root@example.org");
    assert_eq!(
        rows[0].after_state.as_ref().unwrap()["expires_at"],
        "2099-01-01T00:00:00.000000Z"
    );

    // Deleting a dataset shows what goes with it, then cascades (audited with the counts).
    let (status, body) = c.get(&format!("/admin/datasets/{fish2}/delete")).await;
    assert_eq!(status, 200);
    assert!(
        body.contains("1 buckets") && body.contains("1 versions"),
        "{body}"
    );
    assert!(
        body.contains("1 grants") && body.contains("deleted with it"),
        "{body}"
    );
    let (status, _) = c
        .post(&format!("/admin/datasets/{fish2}/delete"), &[])
        .await;
    assert_eq!(status, 303);
    assert_eq!(count(&app, "dataset_bucket").await, 0);
    let (_, doc) = app.user_cache(&alice).await.unwrap();
    assert!(doc["permissions_v2"].get("fish2").is_none(), "{doc}");
    let rows = audit_rows(&app, "dataset_deleted").await;
    let before = rows[0].before_state.as_ref().unwrap();
    assert_eq!(before["name"], "fish2");
    assert_eq!(before["cascade"]["grants.dataset_id deleted"], 1);
    assert_eq!(before["cascade"]["buckets.dataset_id deleted"], 1);
    app.shutdown().await;
}
both_backends!(
    console_changes_are_audited_and_fresh_in_user_cache_tests,
    super::console_changes_are_audited_and_fresh_in_user_cache
);

async fn bad_forms_are_422_with_the_error_next_to_the_field(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app.seed(world()).await.unwrap();
    let mut c = Console::new(&app, Some(&user_token(&s, "root", "t")));
    let before = app.store.audit_count().await.unwrap();

    let (status, body) = c
        .post(
            "/admin/users/new",
            &[("email", "not an email"), ("name", "<b>X</b>")],
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("class=\"field invalid\""), "{body}");
    assert!(body.contains("Enter an e-mail address"), "{body}");
    // The submitted value comes back, escaped.
    assert!(
        !body.contains("<b>X</b>") && body.contains("X&#60;/b&#62;"),
        "{body}"
    );

    let (status, body) = c
        .post(
            "/admin/datasets/new",
            &[("name", "fish 2"), ("access_mode", "closed")],
        )
        .await;
    assert_eq!(status, 422);
    assert!(body.contains("letters, digits"), "{body}");
    let (status, body) = c
        .post(
            "/admin/datasets/new",
            &[("name", "fish2"), ("access_mode", "closed")],
        )
        .await;
    assert_eq!(status, 422);
    assert!(
        body.contains("class=\"error\"") && body.contains("already exists"),
        "{body}"
    );
    let (status, body) = c
        .post(
            "/admin/datasets/new",
            &[("name", "x"), ("access_mode", "open")],
        )
        .await;
    assert_eq!(status, 422);
    assert!(body.contains("Choose one of: closed, public"), "{body}");
    // A version of another dataset is refused.
    let hemi = s["datasets"]["hemibrain"]["id"].to_string();
    let v1 = s["datasets"]["fish2"]["versions"]["v1"].to_string();
    let alice = s["users"]["a"]["id"].to_string();
    let (status, body) = c
        .post(
            "/admin/grants/new",
            &[
                ("user_id", &alice),
                ("dataset_id", &hemi),
                ("dataset_version_id", &v1),
                ("permission_id", "1"),
                ("source", "manual"),
            ],
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("another dataset"), "{body}");
    let (status, body) = c
        .post(
            "/admin/memberships/new",
            &[("user_id", "abc"), ("group_id", "")],
        )
        .await;
    assert_eq!(status, 422);
    assert!(
        body.contains("Enter a whole number.") && body.contains("Group is required."),
        "{body}"
    );
    assert_eq!(app.store.audit_count().await.unwrap(), before);
    app.shutdown().await;
}
both_backends!(
    bad_forms_are_422_with_the_error_next_to_the_field_tests,
    super::bad_forms_are_422_with_the_error_next_to_the_field
);

async fn the_audit_log_is_read_only(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app.seed(world()).await.unwrap();
    let mut c = Console::new(&app, Some(&user_token(&s, "root", "t")));
    let (status, body) = c.get("/admin/audit_log/").await;
    assert_eq!(status, 200);
    assert!(!body.contains("/admin/audit_log/new"), "no Add button");
    let id = app
        .store
        .audit_entries(&dsg_store::audit::AuditFilter {
            limit: 1,
            ..Default::default()
        })
        .await
        .unwrap()[0]
        .id;
    let (status, body) = c.get(&format!("/admin/audit_log/{id}")).await;
    assert_eq!(status, 200);
    assert!(
        !body.contains("/edit\"") && !body.contains("/delete\""),
        "{body}"
    );
    let before = app.store.audit_count().await.unwrap();
    for path in [
        "/admin/audit_log/new".to_owned(),
        format!("/admin/audit_log/{id}/edit"),
        format!("/admin/audit_log/{id}/delete"),
    ] {
        assert_eq!(c.get(&path).await.0, 405, "{path}");
        let (status, _) = c
            .post(&path, &[("action", "forged"), ("target_type", "X")])
            .await;
        assert_eq!(status, 405, "{path}");
    }
    assert_eq!(app.store.audit_count().await.unwrap(), before);
    // Filters: by action.
    let (_, body) = c.get("/admin/audit_log/?action=grant_created").await;
    assert!(
        body.contains("grant_created") && !body.contains("member_added</td>"),
        "{body}"
    );
    app.shutdown().await;
}
both_backends!(
    the_audit_log_is_read_only_tests,
    super::the_audit_log_is_read_only
);

async fn forms_without_their_csrf_token_change_nothing(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app.seed(world()).await.unwrap();
    let mut c = Console::new(&app, Some(&user_token(&s, "root", "t")));
    c.get("/admin/").await;
    let alice = s["users"]["a"]["id"].to_string();
    let before = app.store.audit_count().await.unwrap();
    let good = [
        ("email", "new@example.org"),
        ("name", "New"),
        ("access_mode", "closed"),
        ("user_id", alice.as_str()),
        ("group_id", "1"),
        ("dataset_id", "1"),
        ("permission_id", "1"),
        ("source", "manual"),
        ("service_account_id", "1"),
        ("service_name", "s"),
        ("table_name", "t"),
        ("service_table_id", "1"),
        ("root_id", "5"),
        ("text", "Be nice"),
        ("tos_document_id", "1"),
        ("version", "v9"),
    ];
    let origin = app.address.clone();
    for e in dsg_store::console::ENTITIES {
        let mut paths = vec![format!("/admin/{}/1/delete", e.slug)];
        if e.create {
            paths.push(format!("/admin/{}/new", e.slug));
        }
        if e.editable() {
            paths.push(format!("/admin/{}/1/edit", e.slug));
        }
        for p in paths {
            // No token; a wrong token; the right token from another origin.
            let (status, _) = c.post_raw(&p, &good, Some(&origin)).await;
            // Entities without deletion answer 405 there, before any check.
            let expect = if e.slug == "audit_log"
                || e.slug == "permissions"
                || (!e.delete && p.ends_with("/delete"))
            {
                405
            } else {
                403
            };
            assert_eq!(status, expect, "{p} without a token");
            let mut wrong = good.to_vec();
            wrong.push(("csrf", "0123456789abcdef0123456789abcdef0123"));
            assert_eq!(c.post_raw(&p, &wrong, Some(&origin)).await.0, expect, "{p}");
            let mut right = good.to_vec();
            let token = c.csrf.clone();
            right.push(("csrf", &token));
            assert_eq!(
                c.post_raw(&p, &right, Some("https://evil.example")).await.0,
                expect,
                "{p} cross-origin"
            );
        }
    }
    assert_eq!(app.store.audit_count().await.unwrap(), before);
    assert_eq!(count(&app, "dataset").await, 2);
    assert_eq!(count(&app, "dsg_user").await, 3);
    // With the token the same post works.
    let (status, _) = c
        .post(
            "/admin/users/new",
            &[("email", "new@example.org"), ("name", "New")],
        )
        .await;
    assert_eq!(status, 303);
    assert_eq!(count(&app, "dsg_user").await, 4);
    app.shutdown().await;
}
both_backends!(
    forms_without_their_csrf_token_change_nothing_tests,
    super::forms_without_their_csrf_token_change_nothing
);

async fn tokens_show_their_secret_once_and_revoke(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app.seed(world()).await.unwrap();
    let mut c = Console::new(&app, Some(&user_token(&s, "root", "t")));
    let bot = s["service_accounts"]["bot"]["id"].to_string();
    let (status, body) = c
        .post(
            "/admin/sa_tokens/new",
            &[("service_account_id", &bot), ("description", "ci")],
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let secret = body
        .split("id=\"secret\">")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_owned();
    assert!(secret.len() >= 32, "{secret}");
    let (status, _) = app.user_cache(&secret).await.unwrap();
    assert_eq!(status, 200);
    // Lists and pages never show it again.
    let (_, list) = c.get("/admin/sa_tokens/").await;
    assert!(!list.contains(&secret));
    let (_, page) = c.get("/admin/sa_tokens/").await;
    let id = page
        .split("<td><a href=\"/admin/sa_tokens/")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let (_, view) = c.get(&format!("/admin/sa_tokens/{id}")).await;
    assert!(!view.contains(&secret) && view.contains("Revoke"), "{view}");
    let (status, _) = c.post(&format!("/admin/sa_tokens/{id}/delete"), &[]).await;
    assert_eq!(status, 303);
    assert_eq!(app.user_cache(&secret).await.unwrap().0, 401);
    assert_eq!(audit_rows(&app, "sa_token_revoked").await.len(), 1);

    // A user's API key: metadata only, revocable, not creatable.
    let alice = user_token(&s, "a", "t");
    assert_eq!(app.user_cache(&alice).await.unwrap().0, 200);
    let (_, list) = c
        .get(&format!(
            "/admin/api_keys/?user_id={}",
            s["users"]["a"]["id"]
        ))
        .await;
    assert!(!list.contains(&alice) && !list.contains("/admin/api_keys/new"));
    assert_eq!(c.get("/admin/api_keys/new").await.0, 405);
    let key_id = list
        .split("<td><a href=\"/admin/api_keys/")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let (status, _) = c
        .post(&format!("/admin/api_keys/{key_id}/delete"), &[])
        .await;
    assert_eq!(status, 303);
    let rows = audit_rows(&app, "api_token_revoked").await;
    assert_eq!(rows.len(), 1);
    app.shutdown().await;
}
both_backends!(
    tokens_show_their_secret_once_and_revoke_tests,
    super::tokens_show_their_secret_once_and_revoke
);

async fn tos_documents_link_to_their_dataset(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app.seed(world()).await.unwrap();
    let mut c = Console::new(&app, Some(&user_token(&s, "root", "t")));
    let hemi = s["datasets"]["hemibrain"]["id"].to_string();
    let alice = user_token(&s, "a", "t");
    let (_, doc) = app.user_cache(&alice).await.unwrap();
    assert_eq!(doc["permissions_v2"]["hemibrain"], json!(["view"]), "{doc}");
    // A dataset TOS without service or version becomes the dataset's gate: alice loses access.
    let (status, loc) = c
        .post(
            "/admin/tos_documents/new",
            &[
                ("name", "Hemibrain terms"),
                ("text", "# Be nice"),
                ("dataset_id", &hemi),
            ],
        )
        .await;
    assert_eq!(status, 303, "{loc}");
    let (_, body) = c.get(&format!("/admin/datasets/{hemi}")).await;
    assert!(body.contains("Hemibrain terms"), "{body}");
    let (_, doc) = app.user_cache(&alice).await.unwrap();
    assert!(doc["permissions_v2"].get("hemibrain").is_none(), "{doc}");
    // Her acceptance, recorded in the console, opens it again.
    let tos_id = loc
        .trim_start_matches("/admin/tos_documents/")
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let (status, _) = c
        .post(
            "/admin/tos_acceptances/new",
            &[
                ("user_id", &s["users"]["a"]["id"].to_string()),
                ("tos_document_id", &tos_id),
            ],
        )
        .await;
    assert_eq!(status, 303);
    let (_, doc) = app.user_cache(&alice).await.unwrap();
    assert_eq!(doc["permissions_v2"]["hemibrain"], json!(["view"]), "{doc}");
    assert_eq!(audit_rows(&app, "tos_accepted").await.len(), 1);
    app.shutdown().await;
}
both_backends!(
    tos_documents_link_to_their_dataset_tests,
    super::tos_documents_link_to_their_dataset
);

async fn deleting_a_user_or_group_cascades_and_is_audited(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app.seed(world()).await.unwrap();
    let mut c = Console::new(&app, Some(&user_token(&s, "root", "t")));
    let alice = user_token(&s, "a", "t");
    let alice_id = s["users"]["a"]["id"].to_string();
    assert_eq!(app.user_cache(&alice).await.unwrap().0, 200);
    // The user's page links to what hangs off it; the delete page counts it.
    let (_, body) = c.get(&format!("/admin/users/{alice_id}")).await;
    assert!(
        body.contains(&format!("/admin/memberships/?user_id={alice_id}"))
            && body.contains("2 api keys"),
        "{body}"
    );
    let (_, body) = c.get(&format!("/admin/users/{alice_id}/delete")).await;
    assert!(
        body.contains("1 memberships") && body.contains("1 grants"),
        "{body}"
    );
    let (status, loc) = c
        .post(&format!("/admin/users/{alice_id}/delete"), &[])
        .await;
    assert_eq!((status, loc.as_str()), (303, "/admin/users/?done=deleted"));
    let (_, body) = c.get(&loc).await;
    assert!(
        body.contains("Deleted.") && !body.contains("alice@example.org"),
        "{body}"
    );
    // Her token went with her, at once.
    assert_eq!(app.user_cache(&alice).await.unwrap().0, 401);
    let rows = audit_rows(&app, "user_deleted").await;
    let before = rows[0].before_state.as_ref().unwrap();
    assert_eq!(before["email"], "alice@example.org");
    assert_eq!(before["cascade"]["api_keys.user_id deleted"], 2);
    assert_eq!(before["cascade"]["memberships.user_id deleted"], 1);
    assert_eq!(rows[0].actor, "root@example.org");

    // A group: its memberships go too.
    let lab = s["groups"]["lab"]["id"].to_string();
    let (status, _) = c.post(&format!("/admin/groups/{lab}/delete"), &[]).await;
    assert_eq!(status, 303);
    assert_eq!(count(&app, "dsg_group").await, 0);
    assert_eq!(audit_rows(&app, "group_deleted").await.len(), 1);
    // Deleting it again: 404, nothing audited.
    let n = app.store.audit_count().await.unwrap();
    assert_eq!(
        c.post(&format!("/admin/groups/{lab}/delete"), &[]).await.0,
        404
    );
    assert_eq!(app.store.audit_count().await.unwrap(), n);
    app.shutdown().await;
}
both_backends!(
    deleting_a_user_or_group_cascades_and_is_audited_tests,
    super::deleting_a_user_or_group_cascades_and_is_audited
);
