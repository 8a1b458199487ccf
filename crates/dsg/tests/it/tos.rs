//! Terms of service: version- and service-scoped documents, effective and
//! retired dates at their exact instants, the acceptance page with CSRF
//! protection and safe redirects, invitation landing links, self-service on
//! public datasets.

use dsg_testkit::native::{call, world};
use dsg_testkit::{Backend, TestApp, spawn_app, user_token};
use serde_json::{Value, json};

fn tos_world() -> Value {
    let mut w = world();
    w["services"] = json!([{"name": "ct"}]);
    w["datasets"][2]["tos"] = json!("manc_tos");
    w["tos"].as_array_mut().unwrap().push(
        json!({"key": "manc_tos", "name": "MANC terms", "text": "<script>alert(1)</script>", "dataset": "manc"}),
    );
    w
}

async fn cache_for(app: &TestApp, token: &str, service: Option<&str>) -> Value {
    let path = match service {
        Some(s) => format!("/api/v1/user/cache?service={s}"),
        None => "/api/v1/user/cache".into(),
    };
    app.get(&path, Some(token))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn scoped_documents_and_dates_gate_access_at_their_instants(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app.seed(tos_world()).await.unwrap();
    let t = |k: &str| user_token(&s, k, "t");
    // Version-scoped terms gate that version's grants.
    assert_eq!(
        cache_for(&app, &t("v"), None).await["version_permissions"]["fish2"]["v1"],
        json!(["edit", "view"])
    );
    let (st, v1) = call(
        &app,
        "POST",
        "/api/v1/tos",
        &t("boss"),
        Some(json!({"name": "V1 terms", "text": "t", "dataset": "fish2", "version": "v1"})),
    )
    .await;
    assert_eq!(st, 201, "{v1}");
    let doc = cache_for(&app, &t("v"), None).await;
    assert_eq!(doc["version_permissions"], json!({}));
    assert!(
        doc["missing_tos"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["version"] == "v1" && m["tos_id"] == v1["id"]),
        "{doc}"
    );
    let (_, d) = call(
        &app,
        "POST",
        "/api/v1/check-access",
        &t("v"),
        Some(json!({"dataset": "fish2", "version": "v1"})),
    )
    .await;
    assert_eq!(
        (&d["reason"], &d["version"]),
        (&json!("tos_required"), &json!("v1"))
    );
    let (st, r) = call(
        &app,
        "POST",
        &format!("/api/v1/tos/{}/accept", v1["id"]),
        &t("v"),
        None,
    )
    .await;
    assert_eq!((st, &r["status"]), (200, &json!("accepted")), "{r}");
    assert_eq!(
        cache_for(&app, &t("v"), None).await["version_permissions"]["fish2"]["v1"],
        json!(["edit", "view"])
    );

    // Service-scoped terms count only when the caller names the service.
    let (st, ct) = call(
        &app,
        "POST",
        "/api/v1/tos",
        &t("boss"),
        Some(json!({"name": "CT terms", "text": "t", "dataset": "fish2", "service": "ct"})),
    )
    .await;
    assert_eq!(st, 201, "{ct}");
    assert_eq!(
        cache_for(&app, &t("lead"), None).await["permissions_v2"]["fish2"],
        json!(["edit", "manage", "view"])
    );
    let doc = cache_for(&app, &t("lead"), Some("ct")).await;
    assert!(doc["permissions_v2"].get("fish2").is_none());
    assert!(
        doc["missing_tos"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["service"] == "ct"),
        "{doc}"
    );
    call(
        &app,
        "POST",
        &format!("/api/v1/tos/{}/accept", ct["id"]),
        &t("lead"),
        None,
    )
    .await;
    assert_eq!(
        cache_for(&app, &t("lead"), Some("ct")).await["permissions_v2"]["fish2"],
        json!(["edit", "manage", "view"])
    );
    // A service-wide document needs a global admin.
    let (st, _) = call(
        &app,
        "POST",
        "/api/v1/tos",
        &t("boss"),
        Some(json!({"name": "x", "text": "t", "service": "ct"})),
    )
    .await;
    assert_eq!(st, 403);

    // Effective and retired dates, honoured at the exact instant.
    let now = app.clock.now();
    let (from, to) = (now.plus_secs(100), now.plus_secs(200));
    let (st, fanc) = call(&app, "POST", "/api/v1/tos", &t("root"),
        Some(json!({"name": "FANC terms", "text": "t", "dataset": "fanc", "effective_at": from.to_rfc3339()}))).await;
    assert_eq!(st, 201, "{fanc}");
    assert_eq!(fanc["in_force"], false);
    assert_eq!(
        cache_for(&app, &t("lead"), None).await["permissions_v2"]["fanc"],
        json!(["edit", "manage", "view"])
    );
    app.clock.set(from);
    let doc = cache_for(&app, &t("lead"), None).await;
    assert!(doc["permissions_v2"].get("fanc").is_none(), "{doc}");
    let (st, _) = call(
        &app,
        "POST",
        &format!("/api/v1/tos/{}/retire", fanc["id"]),
        &t("root"),
        Some(json!({"retired_at": to.to_rfc3339()})),
    )
    .await;
    assert_eq!(st, 200);
    app.clock.set(dsg_core::Timestamp(to.0 - 1));
    assert!(
        cache_for(&app, &t("lead"), None).await["permissions_v2"]
            .get("fanc")
            .is_none()
    );
    app.clock.set(to);
    assert_eq!(
        cache_for(&app, &t("lead"), None).await["permissions_v2"]["fanc"],
        json!(["edit", "manage", "view"])
    );
    let (st, _) = call(
        &app,
        "POST",
        &format!("/api/v1/tos/{}/accept", fanc["id"]),
        &t("lead"),
        None,
    )
    .await;
    assert_eq!(st, 400);
    let audit = app
        .store
        .audit_entries(&dsg_store::audit::AuditFilter {
            action: Some("tos_accepted".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(audit.len() >= 2);
    app.shutdown().await;
}
both_backends!(
    scoped_documents_and_dates_gate_access_at_their_instants,
    super::scoped_documents_and_dates_gate_access_at_their_instants
);

fn browser() -> reqwest::Client {
    dsg_server::outbound::install_crypto_provider();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn csrf_of(html: &str) -> String {
    let i = html.find("name=\"csrf\" value=\"").unwrap() + 19;
    html[i..].split('"').next().unwrap().to_owned()
}

async fn the_accept_page_is_csrf_protected_and_redirects_safely(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app.seed(tos_world()).await.unwrap();
    let t = |k: &str| user_token(&s, k, "t");
    let fish = s["tos"]["fish_tos"]["id"].as_i64().unwrap();
    let manc = s["tos"]["manc_tos"]["id"].as_i64().unwrap();
    let b = browser();
    let page = |id: i64, q: &str| app.url(&format!("/api/v1/tos/{id}/accept{q}"));
    // Anonymous: the text (escaped) and a login link back to this page.
    let r = b
        .get(page(manc, ""))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("MANC terms") && html.contains("Log in to accept"));
    assert!(html.contains(&format!(
        "/auth/login?next=%2Fapi%2Fv1%2Ftos%2F{manc}%2Faccept"
    )));
    assert!(!html.contains("<script>alert"));
    // Logged in by cookie: a form with a CSRF token mirrored in a cookie.
    let login = format!("dsg_token={}", t("sc"));
    let r = b
        .get(page(manc, "?next=/web/datasets"))
        .header("cookie", &login)
        .send()
        .await
        .unwrap();
    let set = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        set.starts_with("dsg_csrf=") && set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    let html = r.text().await.unwrap();
    let csrf = csrf_of(&html);
    assert!(html.contains("value=\"/web/datasets\""));
    let post = |cookie: String, form: Vec<(&'static str, String)>, origin: Option<&'static str>| {
        let mut rq = b.post(page(manc, "")).header("cookie", cookie).form(&form);
        if let Some(o) = origin {
            rq = rq.header("origin", o);
        }
        rq.send()
    };
    // Missing token, wrong token, foreign origin: refused, nothing recorded.
    let r = post(login.clone(), vec![("next", "/".into())], None)
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let r = post(
        format!("{login}; dsg_csrf={csrf}"),
        vec![("csrf", "x".repeat(43))],
        None,
    )
    .await
    .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let r = post(
        format!("{login}; dsg_csrf={csrf}"),
        vec![("csrf", csrf.clone())],
        Some("https://evil.example"),
    )
    .await
    .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    assert!(
        cache_for(&app, &t("sc"), None).await["permissions_v2"]
            .get("manc")
            .is_none()
    );
    // An open redirect is refused: back to the page instead.
    let r = post(
        format!("{login}; dsg_csrf={csrf}"),
        vec![
            ("csrf", csrf.clone()),
            ("next", "https://evil.example/x".into()),
        ],
        None,
    )
    .await
    .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(
        r.headers()["location"],
        format!("/api/v1/tos/{manc}/accept")
    );
    // Public dataset: accepting its terms is self-service `view`.
    let doc = cache_for(&app, &t("sc"), None).await;
    assert_eq!(doc["permissions_v2"]["manc"], json!(["view"]));
    assert!(doc["missing_tos"].as_array().unwrap().is_empty(), "{doc}");
    let g = app
        .store
        .audit_entries(&dsg_store::audit::AuditFilter {
            action: Some("grant_created".into()),
            limit: 1,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(g[0].after_state.as_ref().unwrap()["source"], "self_service");
    // Same-origin post with a safe next: 303 there.
    let login_lead = format!("dsg_token={}; dsg_csrf={csrf}", t("root"));
    let r = b
        .post(page(fish, ""))
        .header("cookie", login_lead)
        .header("origin", app.address.clone())
        .form(&[("csrf", csrf.as_str()), ("next", "/web/datasets")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(r.headers()["location"], "/web/datasets");
    // Closed dataset without access: refused.
    let (st, v) = call(
        &app,
        "POST",
        &format!("/api/v1/tos/{fish}/accept"),
        &t("sc"),
        None,
    )
    .await;
    assert_eq!(st, 403, "{v}");
    // The invitation link shows the same page; unknown links are 404.
    let invite = s["tos"]["manc_tos"]["invite_token"].as_str().unwrap();
    let r = b
        .get(app.url(&format!("/api/v1/tos/invite/{invite}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.text().await.unwrap().contains("Log in to accept"));
    let r = b
        .get(app.url("/api/v1/tos/invite/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let r = b
        .get(app.url(&format!("/api/v1/tos/invite/{invite}")))
        .header("cookie", format!("dsg_token={}", t("v")))
        .send()
        .await
        .unwrap();
    assert!(
        r.text()
            .await
            .unwrap()
            .contains(&format!("action=\"/api/v1/tos/{manc}/accept\""))
    );
    app.shutdown().await;
}
both_backends!(
    the_accept_page_is_csrf_protected_and_redirects_safely,
    super::the_accept_page_is_csrf_protected_and_redirects_safely
);

async fn next_may_lead_to_a_configured_host_only(backend: Backend) {
    let app = dsg_testkit::spawn_app_with(backend, |c| {
        c.login.redirect_hosts = vec!["ng.example.org".into()];
    })
    .await
    .unwrap();
    let s = app.seed(tos_world()).await.unwrap();
    let manc = s["tos"]["manc_tos"]["id"].as_i64().unwrap();
    let b = browser();
    for (next, location) in [
        (
            "https://ng.example.org/#!view",
            "https://ng.example.org/#!view",
        ),
        ("https://NG.example.org/x", "https://ng.example.org/x"),
        (
            "https://ng.example.org.evil.example/",
            "/api/v1/tos/{id}/accept",
        ),
        ("//evil.example/", "/api/v1/tos/{id}/accept"),
        ("javascript:alert(1)", "/api/v1/tos/{id}/accept"),
    ] {
        // Bearer-authenticated form posts carry no ambient credential: no CSRF token needed.
        let r = b
            .post(app.url(&format!("/api/v1/tos/{manc}/accept")))
            .bearer_auth(user_token(&s, "v", "t"))
            .form(&[("next", next)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 303, "{next}");
        assert_eq!(
            r.headers()["location"],
            location.replace("{id}", &manc.to_string()),
            "{next}"
        );
    }
    app.shutdown().await;
}
both_backends!(
    next_may_lead_to_a_configured_host_only,
    super::next_may_lead_to_a_configured_host_only
);

/// One acceptance rule behind every front-end: ngauth's `/activate` refuses
/// the terms of an invite-only dataset to someone without access (as the
/// acceptance page does) and gives self-service `view` with a public
/// dataset's terms; the API's accept records the client's address, as the
/// web pages and ngauth do.
async fn every_front_end_accepts_under_one_rule(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app.seed(tos_world()).await.unwrap();
    let t = |k: &str| user_token(&s, k, "t");
    let fish = s["tos"]["fish_tos"]["id"].as_i64().unwrap();
    let manc = s["tos"]["manc_tos"]["id"].as_i64().unwrap();
    let b = browser();
    let activate = |tos: i64| {
        b.post(app.url("/activate"))
            .header("cookie", format!("dsg_token={}", t("sc")))
            .form(&[("tos_id", tos.to_string())])
            .send()
    };
    let accepted = |app: &TestApp| {
        let store = app.store.clone();
        async move {
            store
                .audit_entries(&dsg_store::audit::AuditFilter {
                    action: Some("tos_accepted".into()),
                    ..Default::default()
                })
                .await
                .unwrap()
                .len()
        }
    };
    let before = accepted(&app).await;
    let r = activate(fish).await.unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v,
        json!({"error": "fish2 is invite-only: ask its administrator for access."})
    );
    assert_eq!(accepted(&app).await, before, "nothing recorded");
    let r = activate(manc).await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        cache_for(&app, &t("sc"), None).await["permissions_v2"]["manc"],
        json!(["view"])
    );
    let (st, v) = call(
        &app,
        "POST",
        &format!("/api/v1/tos/{fish}/accept"),
        &t("root"),
        None,
    )
    .await;
    assert_eq!(st, 200, "{v}");
    let sql = "SELECT COUNT(*) FROM tos_acceptance WHERE ip_address = '127.0.0.1'";
    let n: i64 = match app.store.db() {
        dsg_store::Db::Sqlite(p) => sqlx::query_scalar(sql).fetch_one(p).await.unwrap(),
        dsg_store::Db::Postgres(p) => sqlx::query_scalar(sql).fetch_one(p).await.unwrap(),
    };
    assert_eq!(n, 2, "ngauth's and the API's acceptances");
    app.shutdown().await;
}
both_backends!(
    every_front_end_accepts_under_one_rule,
    super::every_front_end_accepts_under_one_rule
);
