//! The web UI over HTTP: who may open and post each page (spec §4.9, with
//! the native API's fixes), unauthenticated redirects (§5.6), 404 before
//! 403, CSRF and `Origin` checks on every form, security headers, sanitised
//! TOS text, and that what a page changes shows on the next `user/cache`.

use dsg_testkit::native::world;
use dsg_testkit::web::{Answer, Visitor};
use dsg_testkit::{Backend, TestApp, spawn_app, user_token};
use serde_json::{Value, json};

/// The flash messages of the page a post redirected to.
async fn flashes(v: &Visitor, answer: &Answer) -> String {
    assert_eq!(answer.status, 302, "{}", answer.body);
    let page = v.get(&answer.location).await;
    page.body
        .split("<div class=\"alert")
        .skip(1)
        .chain(page.body.split("<p class=\"field-error\"").skip(1))
        .map(|s| s.split("</").next().unwrap_or_default().to_owned())
        .collect::<Vec<_>>()
        .join(" | ")
        .replace("&#39;", "'")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
}

fn web_world() -> Value {
    let mut w = world();
    w["tos"][0]["text"] = json!(
        "# Fish terms\n\nBe **nice**.\n\n<script>alert(1)</script>\n\n[x](javascript:alert(1))"
    );
    let users = w["users"].as_array_mut().unwrap();
    users.push(json!({"key": "off", "email": "off@example.org", "active": false, "tokens": [{"key": "t"}]}));
    users.push(json!({"key": "old", "email": "old@example.org", "tokens": [{"key": "t", "expires_in_s": -60}]}));
    users.push(json!({"key": "new", "email": "new@example.org", "tokens": [{"key": "t"}]}));
    users.push(json!({"key": "member", "email": "member@example.org", "tokens": [{"key": "t"}]}));
    w["groups"][1]["members"]
        .as_array_mut()
        .unwrap()
        .push(json!({"user": "member"}));
    w
}

async fn unauthenticated_stale_and_disabled_visitors_go_to_the_login(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app.seed(web_world()).await.unwrap();
    let pages = [
        "/web/datasets",
        "/web/my-account",
        "/web/grants/fish2",
        "/web/dataset-admins/fish2",
        "/web/public-roots/fish2",
        "/web/group/lab/",
        "/web/service-accounts",
        "/web/service-accounts/ci-bot",
        "/web/access-requests",
        "/web/explain-access?dataset=fish2",
        "/web/tos/service-check/?dataset=fish2",
        // Unknown names too: the login comes first.
        "/web/grants/nope",
    ];
    for token in [
        None,
        Some(user_token(&s, "old", "t")),
        Some(user_token(&s, "off", "t")),
        Some("not-a-token".to_owned()),
        Some(
            s["service_accounts"]["ci"]["tokens"]["t"]
                .as_str()
                .unwrap()
                .to_owned(),
        ),
    ] {
        let v = Visitor::new(&app, token.as_deref());
        for p in pages {
            let a = v.get(p).await;
            let next: String = url::form_urlencoded::byte_serialize(p.as_bytes()).collect();
            assert_eq!(
                (a.status, a.location.as_str()),
                (302, format!("/auth/login?next={next}").as_str()),
                "{p} with {token:?}"
            );
            if p.starts_with("/web/explain-access") {
                continue; // a GET-only view
            }
            let a = v.post_raw(p, &[("action", "grant")], None).await;
            assert_eq!(
                (a.status, a.location.as_str()),
                (302, "/auth/login"),
                "POST {p}"
            );
        }
    }
    // The TOS landing page shows the text and a login link to anonymous visitors.
    let tos = app
        .store
        .tos_document(s["tos"]["fish_tos"]["id"].as_i64().unwrap())
        .await
        .unwrap()
        .unwrap();
    let a = Visitor::new(&app, None)
        .get(&format!("/web/tos/{}/", tos.invite_token))
        .await;
    assert_eq!(a.status, 200);
    assert!(a.body.contains("Login to accept"), "{}", a.body);
    app.shutdown().await;
}
both_backends!(
    unauthenticated_stale_and_disabled_visitors_go_to_the_login_tests,
    super::unauthenticated_stale_and_disabled_visitors_go_to_the_login
);

async fn each_page_enforces_its_authority_404_before_403(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app.seed(web_world()).await.unwrap();
    let as_user = |k: &str| Visitor::new(&app, Some(&user_token(&s, k, "t")));
    let table: &[(&str, &str, u16)] = &[
        // Members page: managers (grant or group) and global admins.
        ("lead", "/web/grants/fish2", 200),
        ("boss", "/web/grants/fish2", 200),
        ("root", "/web/grants/fish2", 200),
        ("gadmin", "/web/grants/fanc", 200),
        ("v", "/web/grants/fish2", 403),
        ("sc", "/web/grants/fish2", 403),
        ("v", "/web/grants/nope", 404),
        // Dataset admins: who may hand out admin there (the sc group has no power by default).
        ("boss", "/web/dataset-admins/fish2", 200),
        ("root", "/web/dataset-admins/fanc", 200),
        ("lead", "/web/dataset-admins/fish2", 403),
        ("sc", "/web/dataset-admins/fish2", 403),
        ("sc", "/web/dataset-admins/nope", 404),
        // Service tables and public roots: managers.
        ("lead", "/web/public-roots/fanc", 200),
        ("v", "/web/public-roots/fanc", 403),
        ("v", "/web/public-roots/nope", 404),
        // Group dashboard: group admins and global admins.
        ("gadmin", "/web/group/lab/", 200),
        ("root", "/web/group/lab/", 200),
        ("v", "/web/group/lab/", 403),
        ("lead", "/web/group/sc/", 403),
        ("v", "/web/group/nope/", 404),
        // Service accounts: global admins only; unknown names after the admin check.
        ("root", "/web/service-accounts", 200),
        ("root", "/web/service-accounts/ci-bot", 200),
        ("root", "/web/service-accounts/nope", 404),
        ("lead", "/web/service-accounts", 403),
        ("lead", "/web/service-accounts/ci-bot", 403),
        ("lead", "/web/service-accounts/nope", 403),
        // Everyone's pages.
        ("v", "/web/datasets", 200),
        ("v", "/web/my-account", 200),
        ("v", "/web/access-requests", 200),
        ("v", "/web/explain-access?dataset=fish2", 200),
        // Explaining someone else's access: managers of the dataset.
        (
            "lead",
            "/web/explain-access?dataset=fish2&user=v%40example.org",
            200,
        ),
        (
            "v",
            "/web/explain-access?dataset=fish2&user=lead%40example.org",
            403,
        ),
        // An unknown dataset is said so before anyone's authority is asked (as in the API).
        (
            "v",
            "/web/explain-access?dataset=nope&user=lead%40example.org",
            200,
        ),
        // Unknown TOS links.
        ("v", "/web/tos/no-such-token/", 404),
        ("v", "/web/tos/999999/accept", 404),
        ("v", "/web/tos/abc/accept", 404),
    ];
    for (user, path, status) in table {
        let a = as_user(user).get(path).await;
        assert_eq!(a.status, *status, "{user} GET {path}: {}", a.body);
        if *status == 403 {
            assert!(a.body.contains("Access Denied"), "{}", a.body);
            assert!(a.body.contains("href=\"/web/datasets\""));
        }
    }
    // Posts are refused the same way (with a valid CSRF token), and change nothing.
    let before = app.store.audit_count().await.unwrap();
    let v = as_user("v");
    let csrf = v.csrf("/web/datasets").await;
    for path in [
        "/web/grants/fish2",
        "/web/dataset-admins/fish2",
        "/web/public-roots/fanc",
        "/web/group/lab/",
        "/web/service-accounts",
        "/web/service-accounts/ci-bot",
    ] {
        let a = v
            .post_raw(
                path,
                &[
                    ("csrf", &csrf),
                    ("action", "grant"),
                    ("email", "v@example.org"),
                    ("permission", "view"),
                ],
                None,
            )
            .await;
        assert_eq!(a.status, 403, "POST {path}");
    }
    assert_eq!(app.store.audit_count().await.unwrap(), before);

    // A manager cannot hand out admin, nor a level above their own, nor touch their own grant.
    let lead = as_user("lead");
    let a = lead
        .post(
            "/web/grants/fish2",
            &[
                ("action", "grant"),
                ("email", "v@example.org"),
                ("permission", "admin"),
            ],
        )
        .await;
    assert!(
        flashes(&lead, &a)
            .await
            .contains("You cannot grant admin permission")
    );
    let own = app
        .store
        .dataset_grants(
            app.store
                .dataset_by_name("fish2")
                .await
                .unwrap()
                .unwrap()
                .id,
        )
        .await
        .unwrap()
        .into_iter()
        .find(|g| g.email == "lead@example.org")
        .unwrap();
    let a = lead
        .post(
            "/web/grants/fish2",
            &[("action", "revoke"), ("grant_id", &own.id.to_string())],
        )
        .await;
    assert!(
        flashes(&lead, &a)
            .await
            .contains("You cannot change your own grants")
    );
    // The dataset admin's admin grant is invisible to a manager's revoke.
    let boss_grant = app
        .store
        .dataset_grants(
            app.store
                .dataset_by_name("fish2")
                .await
                .unwrap()
                .unwrap()
                .id,
        )
        .await
        .unwrap()
        .into_iter()
        .find(|g| g.email == "boss@example.org")
        .unwrap();
    let a = lead
        .post(
            "/web/grants/fish2",
            &[
                ("action", "revoke"),
                ("grant_id", &boss_grant.id.to_string()),
            ],
        )
        .await;
    assert!(flashes(&lead, &a).await.contains("Grant not found"));
    assert_eq!(app.store.audit_count().await.unwrap(), before);
    // A group admin grants through the group only on datasets they manage.
    let gadmin = as_user("gadmin");
    let a = gadmin
        .post(
            "/web/group/lab/",
            &[
                ("action", "grant"),
                ("email", "v@example.org"),
                ("dataset", "fish2"),
                ("permission", "view"),
            ],
        )
        .await;
    assert!(
        flashes(&gadmin, &a)
            .await
            .contains("You do not have manage permission on this dataset")
    );
    assert_eq!(app.store.audit_count().await.unwrap(), before);
    app.shutdown().await;
}
both_backends!(
    each_page_enforces_its_authority_404_before_403_tests,
    super::each_page_enforces_its_authority_404_before_403
);

async fn forms_without_their_csrf_token_or_from_another_origin_change_nothing(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app.seed(web_world()).await.unwrap();
    let root = Visitor::new(&app, Some(&user_token(&s, "root", "t")));
    let fish = app
        .store
        .tos_by_invite(
            &app.store
                .tos_document(s["tos"]["fish_tos"]["id"].as_i64().unwrap())
                .await
                .unwrap()
                .unwrap()
                .invite_token,
        )
        .await
        .unwrap()
        .unwrap();
    let landing = format!("/web/tos/{}/", fish.invite_token);
    let by_id = format!("/web/tos/{}/accept", fish.id);
    let forms: Vec<(&str, Vec<(&str, &str)>)> = vec![
        (
            "/web/datasets",
            vec![("action", "request_access"), ("dataset", "fish2")],
        ),
        (
            "/web/my-account",
            vec![("action", "create_token"), ("description", "x")],
        ),
        (
            "/web/grants/fish2",
            vec![
                ("action", "grant"),
                ("email", "new@example.org"),
                ("permission", "view"),
            ],
        ),
        (
            "/web/dataset-admins/fish2",
            vec![("action", "add"), ("email", "new@example.org")],
        ),
        (
            "/web/public-roots/fish2",
            vec![
                ("action", "add_service_table"),
                ("service_name", "s"),
                ("table_name", "t"),
            ],
        ),
        (
            "/web/group/lab/",
            vec![("action", "add_member"), ("email", "new@example.org")],
        ),
        (
            "/web/service-accounts",
            vec![("action", "create"), ("name", "bot2")],
        ),
        (
            "/web/service-accounts/ci-bot",
            vec![("action", "mint_token"), ("description", "x")],
        ),
        (
            "/web/access-requests",
            vec![("action", "withdraw"), ("request_id", "1")],
        ),
        (&landing, vec![]),
        (&by_id, vec![]),
        ("/web/tos/service-check/", vec![("dataset", "fish2")]),
    ];
    let snapshot = |app: &TestApp| {
        let store = app.store.clone();
        async move {
            let audit = store.audit_count().await.unwrap();
            let root_id = store
                .user_id_by_email("root@example.org")
                .await
                .unwrap()
                .unwrap();
            let tokens = store.list_user_tokens(Some(root_id)).await.unwrap().len();
            (audit, tokens)
        }
    };
    let before = snapshot(&app).await;
    let csrf = root.csrf("/web/datasets").await;
    for (path, fields) in &forms {
        // No token at all.
        let a = root.post_raw(path, fields, None).await;
        assert_eq!(a.status, 403, "no token: {path}");
        assert!(a.body.contains("CSRF verification failed"), "{}", a.body);
        // A wrong token.
        let mut wrong = fields.clone();
        wrong.push(("csrf", "x0x0x0x0x0x0x0x0x0x0x0x0x0x0x0x0x0x0x0x0x0x"));
        assert_eq!(
            root.post_raw(path, &wrong, None).await.status,
            403,
            "wrong token: {path}"
        );
        // The right token from another origin.
        let mut right = fields.clone();
        right.push(("csrf", &csrf));
        let a = root
            .post_raw(path, &right, Some("https://evil.example"))
            .await;
        assert_eq!(a.status, 403, "foreign origin: {path}");
        // …or a cross-site fetch (Sec-Fetch-Site).
        let a = root
            .client
            .post(app.url(path))
            .header("Sec-Fetch-Site", "cross-site")
            .form(&right)
            .send()
            .await
            .unwrap();
        assert_eq!(a.status(), 403, "cross-site: {path}");
    }
    assert_eq!(
        snapshot(&app).await,
        before,
        "a refused post wrote something"
    );
    // Control: the same posts with the page's token do write (so the check above can fail).
    for (path, fields) in &forms[..3] {
        let a = root.post(path, fields).await;
        assert!(a.status == 302 || a.status == 200, "{path}: {}", a.status);
    }
    assert!(snapshot(&app).await.0 > before.0);
    // htmx requests carry the token in a header instead.
    let a = root
        .client
        .post(app.url("/web/access-requests"))
        .header("X-CSRF-Token", &csrf)
        .header("HX-Request", "true")
        .form(&[("action", "withdraw"), ("request_id", "99999")])
        .send()
        .await
        .unwrap();
    assert_eq!(a.status(), 302);
    // Logging out from another site is refused; the login stays valid.
    let a = root
        .post_raw(
            "/web/logout",
            &[("csrf", &csrf)],
            Some("https://evil.example"),
        )
        .await;
    assert_eq!(a.status, 403);
    assert_eq!(
        app.user_cache(&user_token(&s, "root", "t"))
            .await
            .unwrap()
            .0,
        200
    );
    app.shutdown().await;
}
both_backends!(
    forms_without_their_csrf_token_or_from_another_origin_change_nothing_tests,
    super::forms_without_their_csrf_token_or_from_another_origin_change_nothing
);

async fn cache_of(app: &TestApp, token: &str) -> Value {
    let (status, v) = app.user_cache(token).await.unwrap();
    assert_eq!(status, 200, "{v}");
    v
}

async fn what_pages_change_shows_on_the_next_user_cache(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app.seed(web_world()).await.unwrap();
    let t = |k: &str| user_token(&s, k, "t");
    let lead = Visitor::new(&app, Some(&t("lead")));
    // Grant, time-limit, revoke on the members page.
    let a = lead
        .post(
            "/web/grants/fanc",
            &[
                ("action", "grant"),
                ("email", "new@example.org"),
                ("permission", "edit"),
            ],
        )
        .await;
    assert!(
        flashes(&lead, &a)
            .await
            .contains("Granted edit on fanc to new@example.org")
    );
    assert_eq!(
        cache_of(&app, &t("new")).await["permissions_v2"]["fanc"],
        json!(["edit", "view"])
    );
    let fanc = app.store.dataset_by_name("fanc").await.unwrap().unwrap();
    let g = app
        .store
        .dataset_grants(fanc.id)
        .await
        .unwrap()
        .into_iter()
        .find(|g| g.email == "new@example.org")
        .unwrap();
    let a = lead
        .post(
            "/web/grants/fanc",
            &[
                ("action", "set_expiry"),
                ("grant_id", &g.id.to_string()),
                ("expires_at", "2001-01-01"),
            ],
        )
        .await;
    assert!(flashes(&lead, &a).await.contains("must be in the future"));
    let a = lead
        .post(
            "/web/grants/fanc",
            &[
                ("action", "set_expiry"),
                ("grant_id", &g.id.to_string()),
                ("expires_at", "2099-01-01"),
            ],
        )
        .await;
    assert!(flashes(&lead, &a).await.contains("now expires"));
    let page = lead.get("/web/grants/fanc").await;
    assert!(
        page.body.contains("datetime=\"2099-01-01T00:00:00"),
        "{}",
        page.body
    );
    let audit = app
        .store
        .audit_entries(&dsg_store::audit::AuditFilter {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(audit.iter().any(|e| e.action == "grant_updated"));
    let a = lead
        .post(
            "/web/grants/fanc",
            &[("action", "revoke"), ("grant_id", &g.id.to_string())],
        )
        .await;
    assert!(flashes(&lead, &a).await.contains("Grant revoked"));
    assert!(
        cache_of(&app, &t("new")).await["permissions_v2"]
            .get("fanc")
            .is_none()
    );
    // Bad input is answered next to the field, never with a 500.
    for (fields, expect) in [
        (
            vec![("email", ""), ("permission", "view")],
            "not a valid e-mail",
        ),
        (
            vec![("email", "new@example.org"), ("permission", "9999")],
            "Choose a permission",
        ),
        (
            vec![
                ("email", "new@example.org"),
                ("permission", "view"),
                ("version", "1234567"),
            ],
            "no such version",
        ),
        (
            vec![
                ("email", "new@example.org"),
                ("permission", "view"),
                ("expires_at", "soon"),
            ],
            "Enter a date",
        ),
    ] {
        let mut f = fields.clone();
        f.push(("action", "grant"));
        let a = lead.post("/web/grants/fanc", &f).await;
        assert!(flashes(&lead, &a).await.contains(expect), "{fields:?}");
    }
    // An e-mail nobody has becomes an invitation, not a placeholder user.
    let a = lead
        .post(
            "/web/grants/fanc",
            &[
                ("action", "grant"),
                ("email", "later@example.org"),
                ("permission", "view"),
            ],
        )
        .await;
    assert!(
        flashes(&lead, &a)
            .await
            .contains("Invited later@example.org")
    );
    assert!(
        app.store
            .user_id_by_email("later@example.org")
            .await
            .unwrap()
            .is_none()
    );

    // A group admin adds a member: the group shows in the member's cache.
    let gadmin = Visitor::new(&app, Some(&t("gadmin")));
    let a = gadmin
        .post(
            "/web/group/lab/",
            &[("action", "add_member"), ("email", "new@example.org")],
        )
        .await;
    assert!(
        flashes(&gadmin, &a)
            .await
            .contains("Added new@example.org to lab")
    );
    let doc = cache_of(&app, &t("new")).await;
    assert!(
        doc["groups"].as_array().unwrap().contains(&json!("lab")),
        "{doc}"
    );
    assert_eq!(doc["permissions_v2"]["fanc"], json!(["view"]));

    // Accepting a TOS on its landing page opens the dataset in the cache.
    let v = Visitor::new(&app, Some(&t("boss")));
    let tos = app
        .store
        .tos_document(s["tos"]["fish_tos"]["id"].as_i64().unwrap())
        .await
        .unwrap()
        .unwrap();
    let landing = format!("/web/tos/{}/", tos.invite_token);
    let page = v.get(&landing).await;
    assert!(
        page.body.contains("<h1>Fish terms</h1>") && page.body.contains("<strong>nice</strong>"),
        "{}",
        page.body
    );
    assert!(
        !page.body.contains("<script>alert") && !page.body.contains("javascript:"),
        "{}",
        page.body
    );
    assert!(
        cache_of(&app, &t("boss")).await["permissions_v2"]
            .get("fish2")
            .is_none()
    );
    let a = v.post(&landing, &[]).await;
    assert_eq!(a.location, "/web/my-account");
    assert!(flashes(&v, &a).await.contains("Accepted: Fish terms"));
    assert_eq!(
        cache_of(&app, &t("boss")).await["permissions_v2"]["fish2"],
        json!(["admin", "edit", "manage", "view"])
    );
    // The acceptance records where it came from (the TCP peer: no trusted proxy here).
    let sql = "SELECT ip_address FROM tos_acceptance WHERE ip_address IS NOT NULL";
    let ips: Vec<String> = match app.store.db() {
        dsg_store::Db::Sqlite(p) => sqlx::query_scalar(sql).fetch_all(p).await.unwrap(),
        dsg_store::Db::Postgres(p) => sqlx::query_scalar(sql).fetch_all(p).await.unwrap(),
    };
    assert_eq!(ips, ["127.0.0.1"]);
    // Someone without access to the invite-only dataset is refused (403), nothing recorded.
    let stranger = Visitor::new(&app, Some(&t("new")));
    let page = stranger.get(&landing).await;
    assert_eq!(page.status, 403);
    assert!(page.body.contains("Access Restricted"));

    // Service check: only allowed `next` targets.
    let root = Visitor::new(&app, Some(&t("root")));
    let a = root
        .get("/web/tos/service-check/?dataset=fish2&next=https%3A%2F%2Fevil.example%2F")
        .await;
    assert_eq!(a.status, 200, "root has not accepted fish terms yet");
    assert!(!a.body.contains("evil.example"), "{}", a.body);
    let a = root
        .post(
            "/web/tos/service-check/",
            &[("dataset", "fish2"), ("next", "https://evil.example/")],
        )
        .await;
    // A refused target is never followed: the page says the terms are
    // accepted and stays (dsg-native-v1 §5.3).
    assert_eq!((a.status, a.location.as_str()), (200, ""));
    assert!(a.body.contains("Terms accepted"), "{}", a.body);
    assert!(!a.body.contains("evil.example"), "{}", a.body);
    let a = root
        .get("/web/tos/service-check/?dataset=fish2&next=%2Fweb%2Fdatasets%3Fx%3D1")
        .await;
    assert_eq!((a.status, a.location.as_str()), (302, "/web/datasets?x=1"));

    // Self-service on a public dataset without TOS, and an access request
    // approved in the inbox (time-limited).
    let newbie = Visitor::new(&app, Some(&t("new")));
    let a = newbie
        .post(
            "/web/datasets",
            &[("action", "self_serve"), ("dataset", "manc")],
        )
        .await;
    assert!(
        flashes(&newbie, &a)
            .await
            .contains("You now have view access to manc")
    );
    assert_eq!(
        cache_of(&app, &t("new")).await["permissions_v2"]["manc"],
        json!(["view"])
    );
    let a = newbie
        .post(
            "/web/datasets",
            &[
                ("action", "request_access"),
                ("dataset", "fish2"),
                ("permission", "view"),
                ("message", "please"),
            ],
        )
        .await;
    assert!(
        flashes(&newbie, &a)
            .await
            .contains("Requested view access to fish2")
    );
    let boss = Visitor::new(&app, Some(&t("boss")));
    let inbox = boss.get("/web/access-requests").await;
    assert!(
        inbox
            .body
            .contains("new@example.org asks for view on fish2"),
        "{}",
        inbox.body
    );
    let r = app
        .store
        .access_requests(None, None, Some("pending"))
        .await
        .unwrap();
    let a = boss
        .post(
            "/web/access-requests",
            &[
                ("action", "approve"),
                ("request_id", &r[0].id.to_string()),
                ("expires_at", "2099-06-01"),
            ],
        )
        .await;
    assert!(flashes(&boss, &a).await.contains("Approved"));
    let doc = cache_of(&app, &t("new")).await;
    assert!(
        doc["permissions_v2_ignore_tos"].get("fish2").is_some(),
        "{doc}"
    );
    app.shutdown().await;
}
both_backends!(
    what_pages_change_shows_on_the_next_user_cache_tests,
    super::what_pages_change_shows_on_the_next_user_cache
);

async fn tokens_are_shown_once_scoped_and_revocable(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app.seed(web_world()).await.unwrap();
    let lead = Visitor::new(&app, Some(&user_token(&s, "lead", "t")));
    let a = lead
        .post(
            "/web/my-account",
            &[
                ("action", "create_token"),
                ("description", ""),
                ("expires_in", "30"),
            ],
        )
        .await;
    assert!(
        flashes(&lead, &a)
            .await
            .contains("Description is required.")
    );
    // A refused form keeps what was typed and summarises the error at the top.
    let a = lead
        .post(
            "/web/my-account",
            &[
                ("action", "create_token"),
                ("description", "nightly sync"),
                ("expires_at", "1999-01-01"),
            ],
        )
        .await;
    assert_eq!(a.status, 302);
    let page = lead.get(&a.location).await;
    assert!(page.body.contains("id=\"error-summary\""), "{}", page.body);
    assert!(page.body.contains("value=\"nightly sync\""));
    assert!(page.body.contains("value=\"1999-01-01\""));
    let a = lead
        .post(
            "/web/my-account",
            &[
                ("action", "create_token"),
                ("description", "pipeline"),
                ("expires_in", "7"),
                ("read_only", "on"),
                ("datasets", "fanc"),
            ],
        )
        .await;
    // Post/redirect/get: the post answers 302 to the account page, which
    // shows the new value once; a reload neither shows it nor makes another.
    assert_eq!(a.status, 302, "{}", a.body);
    assert_eq!(a.location, "/web/my-account");
    assert!(!a.body.contains("new-token"));
    let shown = lead.get(&a.location).await;
    let value = shown
        .body
        .split("id=\"new-token\"")
        .nth(1)
        .and_then(|s| s.split("value=\"").nth(1))
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_owned();
    assert!(value.len() >= 20, "{value}");
    // The token works, limited to fanc and read-only.
    let doc = cache_of(&app, &value).await;
    assert_eq!(doc["permissions_v2"], json!({"fanc": ["view"]}), "{doc}");
    // Never shown again, and the reload made no second token.
    let page = lead.get("/web/my-account").await;
    assert!(!page.body.contains(&value));
    assert_eq!(
        page.body.matches("aria-label=\"Revoke pipeline\"").count(),
        1
    );
    // The sealed value is bound to its user: another person replaying the
    // cookie sees nothing.
    let sealed = a
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix("dsg_reveal="))
        .and_then(|c| c.split(';').next())
        .unwrap()
        .to_owned();
    assert!(!sealed.is_empty() && !sealed.contains(&value));
    let replay = reqwest::Client::new()
        .get(app.url("/web/my-account"))
        .header(
            "cookie",
            format!(
                "dsg_token={}; dsg_reveal={sealed}",
                user_token(&s, "v", "t")
            ),
        )
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!replay.contains(&value) && !replay.contains("new-token"));
    assert!(page.body.contains("pipeline") && page.body.contains("read-only; fanc"));
    // Revoke.
    let id = app
        .store
        .list_user_tokens(
            app.store
                .user_id_by_email("lead@example.org")
                .await
                .unwrap(),
        )
        .await
        .unwrap()
        .into_iter()
        .find(|t| t.description == "pipeline")
        .unwrap()
        .id;
    let other = Visitor::new(&app, Some(&user_token(&s, "v", "t")));
    let a = other
        .post(
            "/web/my-account",
            &[("action", "revoke_token"), ("token_id", &id.to_string())],
        )
        .await;
    assert!(flashes(&other, &a).await.contains("Token not found."));
    assert_eq!(app.user_cache(&value).await.unwrap().0, 200);
    let a = lead
        .post(
            "/web/my-account",
            &[("action", "revoke_token"), ("token_id", &id.to_string())],
        )
        .await;
    assert!(
        flashes(&lead, &a)
            .await
            .contains("Token revoked: “pipeline”")
    );
    assert_eq!(app.user_cache(&value).await.unwrap().0, 401);
    app.shutdown().await;
}
both_backends!(
    tokens_are_shown_once_scoped_and_revocable_tests,
    super::tokens_are_shown_once_scoped_and_revocable
);

async fn pages_carry_security_headers_and_own_assets(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app.seed(web_world()).await.unwrap();
    let v = Visitor::new(&app, Some(&user_token(&s, "v", "t")));
    for path in ["/web/datasets", "/web/grants/fish2", "/web/grants/nope"] {
        let a = v.get(path).await;
        let h = |n: &str| {
            a.headers
                .get(n)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        assert!(
            h("content-security-policy").contains("script-src 'self'"),
            "{path}"
        );
        assert!(!h("content-security-policy").contains("unsafe-inline"));
        assert_eq!(h("x-frame-options"), "DENY");
        assert_eq!(h("x-content-type-options"), "nosniff");
        assert_eq!(h("referrer-policy"), "same-origin");
        assert!(!a.body.contains("<script>"), "no inline script: {path}");
        assert!(!a.body.contains("style=\""), "no inline style: {path}");
    }
    for (path, kind) in [
        ("/static/htmx.min.js", "text/javascript"),
        ("/static/dsg.js", "text/javascript"),
        ("/static/dsg.css", "text/css"),
    ] {
        let a = v.get(path).await;
        assert_eq!(a.status, 200, "{path}");
        assert_eq!(a.headers["content-type"], kind);
    }
    // The layout: nav, the service-accounts link only for global admins, logout form.
    let page = v.get("/web/datasets").await.body;
    assert!(page.contains("href=\"/web/my-account\"") && page.contains("action=\"/web/logout\""));
    assert!(!page.contains("href=\"/web/service-accounts\""));
    let root = Visitor::new(&app, Some(&user_token(&s, "root", "t")))
        .get("/web/datasets")
        .await
        .body;
    assert!(root.contains("href=\"/web/service-accounts\""));
    // A flash cookie not signed by the server is ignored.
    use base64::Engine;
    let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(br#"[{"level":"success","text":"forged message"}]"#);
    let r = v
        .client
        .get(app.url("/web/datasets"))
        .header(
            "Cookie",
            format!(
                "dsg_token={}; dsg_flash={forged}.AAAA",
                user_token(&s, "v", "t")
            ),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(!r.text().await.unwrap().contains("forged message"));
    // Group permissions count on the datasets page (the original listed direct grants only).
    let g = Visitor::new(&app, Some(&user_token(&s, "member", "t")))
        .get("/web/datasets")
        .await
        .body;
    let mine = g.split("Public datasets").next().unwrap();
    assert!(mine.contains("id=\"ds-fanc\""), "{g}");
    app.shutdown().await;
}
both_backends!(
    pages_carry_security_headers_and_own_assets_tests,
    super::pages_carry_security_headers_and_own_assets
);

async fn admin_pages_manage_admins_tables_roots_and_service_accounts(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app.seed(web_world()).await.unwrap();
    let t = |k: &str| user_token(&s, k, "t");
    // Dataset admins: appoint and remove; unknown users are named next to the field.
    let boss = Visitor::new(&app, Some(&t("boss")));
    let a = boss
        .post(
            "/web/dataset-admins/fish2",
            &[("action", "add"), ("email", "nobody@example.org")],
        )
        .await;
    assert!(
        flashes(&boss, &a)
            .await
            .contains("User not found: nobody@example.org")
    );
    let a = boss
        .post(
            "/web/dataset-admins/fish2",
            &[("action", "add"), ("email", "new@example.org")],
        )
        .await;
    assert!(
        flashes(&boss, &a)
            .await
            .contains("Added new@example.org as dataset admin")
    );
    let doc = cache_of(&app, &t("new")).await;
    assert_eq!(doc["datasets_admin"], json!(["fish2"]), "{doc}");
    let page = boss.get("/web/dataset-admins/fish2").await.body;
    let id = page
        .split("name=\"grant_id\" value=\"")
        .nth(2)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_owned();
    let a = boss
        .post(
            "/web/dataset-admins/fish2",
            &[("action", "remove"), ("grant_id", &id)],
        )
        .await;
    assert!(flashes(&boss, &a).await.contains("Removed dataset admin"));
    assert_eq!(cache_of(&app, &t("new")).await["datasets_admin"], json!([]));

    // Service tables (dataset admins) and public roots (managers).
    let a = boss
        .post(
            "/web/public-roots/fish2",
            &[
                ("action", "add_service_table"),
                ("service_name", "pcg"),
                ("table_name", "fish_v1"),
            ],
        )
        .await;
    assert!(
        flashes(&boss, &a)
            .await
            .contains("Added service table pcg/fish_v1")
    );
    let r = app
        .get("/api/v1/service/pcg/table/fish_v1/dataset", Some(&t("v")))
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap(), json!("fish2"));
    let lead = Visitor::new(&app, Some(&t("lead")));
    let a = lead
        .post(
            "/web/public-roots/fish2",
            &[
                ("action", "add_service_table"),
                ("service_name", "x"),
                ("table_name", "y"),
            ],
        )
        .await;
    assert!(
        flashes(&lead, &a)
            .await
            .contains("Only dataset administrators can manage service tables")
    );
    let fish = app.store.dataset_by_name("fish2").await.unwrap().unwrap();
    let table = app.store.dataset_service_tables(fish.id).await.unwrap()[0].id;
    for (root, expect) in [
        ("abc", "Invalid service table or root ID"),
        ("42", "Added public root 42"),
    ] {
        let a = lead
            .post(
                "/web/public-roots/fish2",
                &[
                    ("action", "add"),
                    ("service_table", &table.to_string()),
                    ("root_id", root),
                ],
            )
            .await;
        assert!(flashes(&lead, &a).await.contains(expect), "{root}");
    }
    let public = |app: &TestApp| {
        let c = app.client.clone();
        let url = app.url("/api/v1/table/fish_v1/root/42/is_public");
        async move {
            c.get(url)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    assert_eq!(public(&app).await, json!(true));
    let root_id = app.store.dataset_service_tables(fish.id).await.unwrap()[0].roots[0].0;
    let a = lead
        .post(
            "/web/public-roots/fish2",
            &[
                ("action", "remove"),
                ("public_root_id", &root_id.to_string()),
            ],
        )
        .await;
    assert!(flashes(&lead, &a).await.contains("Removed public root 42"));
    assert_eq!(public(&app).await, json!(false));
    let a = boss
        .post(
            "/web/public-roots/fish2",
            &[
                ("action", "remove_service_table"),
                ("service_table_id", &table.to_string()),
            ],
        )
        .await;
    assert!(
        flashes(&boss, &a)
            .await
            .contains("Removed service table pcg/fish_v1")
    );

    // Service accounts: create, grant, mint (shown once), disable, delete.
    let root = Visitor::new(&app, Some(&t("root")));
    let a = root
        .post(
            "/web/service-accounts",
            &[("action", "create"), ("name", "bad name")],
        )
        .await;
    assert!(flashes(&root, &a).await.contains("Name must be a slug"));
    let a = root
        .post(
            "/web/service-accounts",
            &[("action", "create"), ("name", "ci-bot")],
        )
        .await;
    assert!(flashes(&root, &a).await.contains("already exists"));
    let a = root
        .post(
            "/web/service-accounts",
            &[
                ("action", "create"),
                ("name", "etl"),
                ("description", "nightly"),
            ],
        )
        .await;
    assert_eq!(a.location, "/web/service-accounts/etl");
    let here = "/web/service-accounts/etl";
    let a = root
        .post(
            here,
            &[
                ("action", "add_grant"),
                ("dataset_id", &fish.id.to_string()),
                ("permission", "view"),
                ("version", "nope"),
            ],
        )
        .await;
    assert!(flashes(&root, &a).await.contains("no such version"));
    let a = root
        .post(
            here,
            &[
                ("action", "add_grant"),
                ("dataset_id", &fish.id.to_string()),
                ("permission", "view"),
                ("version", "v1"),
            ],
        )
        .await;
    assert!(
        flashes(&root, &a)
            .await
            .contains("Granted view on fish2 to etl.")
    );
    let a = root
        .post(here, &[("action", "mint_token"), ("description", "ci")])
        .await;
    // Post/redirect/get: shown once on the page the post redirects to.
    assert_eq!(a.status, 302);
    let shown = root.get(&a.location).await;
    let token = shown
        .body
        .split("id=\"new-token\"")
        .nth(1)
        .and_then(|s| s.split("value=\"").nth(1))
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_owned();
    let doc = cache_of(&app, &token).await;
    assert_eq!(doc["service_account"], true);
    assert!(!root.get(here).await.body.contains(&token));
    let a = root.post(here, &[("action", "toggle_active")]).await;
    assert!(
        flashes(&root, &a)
            .await
            .contains("Service account disabled.")
    );
    assert_eq!(app.user_cache(&token).await.unwrap().0, 401);
    let a = root
        .post(here, &[("action", "delete_sa"), ("confirm_name", "et")])
        .await;
    assert!(flashes(&root, &a).await.contains("NOT deleted"));
    let a = root
        .post(here, &[("action", "delete_sa"), ("confirm_name", "etl")])
        .await;
    assert_eq!(a.location, "/web/service-accounts");
    assert!(
        flashes(&root, &a)
            .await
            .contains("Service account 'etl' deleted.")
    );
    assert_eq!(root.get(here).await.status, 404);
    let audit = app
        .store
        .audit_entries(&dsg_store::audit::AuditFilter {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    for action in [
        "service_table_added",
        "public_root_added",
        "public_root_removed",
        "service_table_removed",
        "service_account_created",
        "sa_grant_created",
        "sa_token_created",
        "service_account_disabled",
        "service_account_deleted",
    ] {
        assert!(
            audit.iter().any(|e| e.action == action),
            "no {action} audit row"
        );
    }
    app.shutdown().await;
}
both_backends!(
    admin_pages_manage_admins_tables_roots_and_service_accounts_tests,
    super::admin_pages_manage_admins_tables_roots_and_service_accounts
);
