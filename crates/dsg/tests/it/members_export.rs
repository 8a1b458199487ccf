//! The members export `GET /web/grants/{dataset}/export.csv` (dsg-native-v1
//! §10): who may export, the columns and their order, formula defusing,
//! exclusions, the audit row, and the link on the members page.

use dsg_store::audit::AuditFilter;
use dsg_testkit::web::Visitor;
use dsg_testkit::{Backend, spawn_app, user_token};
use serde_json::json;

fn world() -> serde_json::Value {
    json!({
        "permissions": ["view", "edit", "manage", "admin"],
        "services": [{"name": "clio"}],
        "datasets": [
            {"name": "fish", "buckets": ["fish-b", "fish-a"], "versions": [
                {"version": "v2", "ordinal": 2}, {"version": "v1", "ordinal": 1},
                {"version": "draft"}, {"version": "exp", "branch": "dev", "ordinal": 1, "is_public": true}]},
            {"name": "other"}
        ],
        "users": [
            {"key": "root", "email": "root@x.org", "admin": true, "tokens": [{"key": "t"}]},
            {"key": "lead", "email": "lead@x.org", "name": "Lead Person", "tokens": [{"key": "t"}],
             "affiliations": ["Zoo Lab", "Alpha Inst"]},
            {"key": "vman", "email": "vman@x.org", "tokens": [{"key": "t"}]},
            {"key": "gman", "email": "gman@x.org", "tokens": [{"key": "t"}]},
            {"key": "viewer", "email": "viewer@x.org", "name": "=cmd|' /C calc'!A0", "tokens": [{"key": "t"}]},
            {"key": "elsewhere", "email": "elsewhere@x.org", "tokens": [{"key": "t"}]},
            {"key": "off", "email": "off@x.org", "active": false, "tokens": [{"key": "t"}]},
            {"key": "late", "email": "late@x.org"}
        ],
        "groups": [
            {"name": "user", "members": [{"user": "viewer"}, {"user": "gman"}, {"user": "off"}, {"user": "root"}],
             "permissions": [{"dataset": "fish", "permission": "view"}]},
            {"name": "managers", "members": [{"user": "gman"}],
             "permissions": [{"dataset": "fish", "permission": "manage"}]},
            {"name": "team"}
        ],
        "grants": [
            {"user": "lead", "dataset": "fish", "permission": "manage"},
            {"user": "lead", "dataset": "fish", "permission": "edit", "version": "v1", "group": "team"},
            {"user": "lead", "dataset": "fish", "permission": "edit", "service": "clio"},
            {"user": "lead", "dataset": "fish", "permission": "view", "buckets": ["fish-b", "fish-a"]},
            {"user": "vman", "dataset": "fish", "permission": "admin", "version": "v2"},
            {"user": "viewer", "dataset": "fish", "permission": "edit", "version": "draft"},
            {"user": "elsewhere", "dataset": "other", "permission": "admin"},
            {"user": "off", "dataset": "fish", "permission": "view"},
            {"user": "late", "dataset": "fish", "permission": "view", "expires_in_s": -60}
        ],
        "service_accounts": [{"key": "ci", "name": "ci-bot", "grants": [{"dataset": "fish", "permission": "view"}]}]
    })
}

fn rows(csv: &str) -> Vec<Vec<String>> {
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(csv.as_bytes());
    r.records()
        .map(|rec| rec.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

async fn the_members_export(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app.seed(world()).await.unwrap();
    let web = |k: &str| Visitor::new(&app, Some(&user_token(&s, k, "t")));

    // A direct manager (dataset-wide) exports.
    let r = web("lead").get("/web/grants/fish/export.csv").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let h = |n: &str| {
        r.headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    assert_eq!(h("content-type"), "text/csv; charset=utf-8");
    assert_eq!(h("cache-control"), "no-store");
    let d = h("content-disposition");
    assert!(
        d.starts_with("attachment; filename=\"fish-members-") && d.ends_with(".csv\""),
        "{d}"
    );
    assert!(
        r.body
            .starts_with("\"email\",\"full_name\",\"permissions\""),
        "every field quoted"
    );
    let table = rows(&r.body);
    assert_eq!(
        table[0],
        [
            "email",
            "full_name",
            "permissions",
            "versions",
            "grant_details",
            "access_via",
            "groups",
            "affiliations"
        ]
    );
    let emails: Vec<&str> = table[1..].iter().map(|r| r[0].as_str()).collect();
    // Sorted; no disabled user, expired grant, service account, other
    // dataset's grantee; the global admin is listed only as a group member.
    assert_eq!(
        emails,
        [
            "gman@x.org",
            "lead@x.org",
            "root@x.org",
            "viewer@x.org",
            "vman@x.org"
        ]
    );
    let lead = &table[2];
    assert_eq!(lead[1], "Lead Person");
    assert_eq!(lead[2], "view; edit; manage");
    assert_eq!(lead[3], "all; v1");
    assert_eq!(
        lead[4],
        "view@all {fish-a,fish-b}; edit@all [clio]; edit@v1; manage@all"
    );
    assert_eq!(lead[5], "direct");
    assert_eq!(lead[6], "team");
    assert_eq!(lead[7], "Alpha Inst; Zoo Lab");
    let gman = &table[1];
    assert_eq!(gman[2], "view; manage");
    assert_eq!(
        gman[4],
        "manage@all via group:managers; view@all via group:user"
    );
    assert_eq!(gman[5], "group:managers; group:user");
    let viewer = &table[4];
    assert_eq!(table[5][3], "v2");
    assert_eq!(table[5][4], "admin@v2");
    assert!(
        viewer[1].starts_with('\t'),
        "formula defused: {:?}",
        viewer[1]
    );
    assert_eq!(viewer[4], "edit@draft; view@all via group:user");
    assert_eq!(viewer[5], "direct; group:user");
    let audit = app
        .store
        .audit_entries(&AuditFilter {
            action: Some("grants_exported".into()),
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(
        audit[0].after_state,
        Some(json!({"dataset": "fish", "rows": 5}))
    );

    // A version-scoped admin and a global admin export too.
    assert_eq!(
        web("vman").get("/web/grants/fish/export.csv").await.status,
        200
    );
    assert_eq!(
        web("root").get("/web/grants/fish/export.csv").await.status,
        200
    );
    // Group-only managers, view/edit grantees, other datasets' admins: denied.
    for k in ["gman", "viewer", "elsewhere"] {
        let r = web(k).get("/web/grants/fish/export.csv").await;
        assert_eq!(r.status, 403, "{k}");
        assert!(r.body.contains("Access Denied"), "{k}: {}", r.body);
    }
    // Not signed in: to the login, back to the members page.
    let r = Visitor::new(&app, None)
        .get("/web/grants/fish/export.csv")
        .await;
    assert_eq!(r.status, 302);
    assert_eq!(r.location, "/auth/login?next=%2Fweb%2Fgrants%2Ffish");
    // A disabled user's cookie: to the login as well.
    let r = web("off").get("/web/grants/fish/export.csv").await;
    assert_eq!(r.status, 302);
    // Unknown dataset: a 404 page.
    let r = web("root").get("/web/grants/nope/export.csv").await;
    assert_eq!(r.status, 404);
    let count = app
        .store
        .audit_entries(&AuditFilter {
            action: Some("grants_exported".into()),
            ..AuditFilter::default()
        })
        .await
        .unwrap()
        .len();
    assert_eq!(count, 3, "only the three exports were audited");

    // The members page links it for exporters and names public audiences.
    let page = web("lead").get("/web/grants/fish").await;
    assert!(page.body.contains("/web/grants/fish/export.csv"));
    assert!(
        page.body.contains("Public versions, open to everyone: exp"),
        "{}",
        page.body
    );
    let page = web("gman").get("/web/grants/fish").await;
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("export.csv"));
    app.shutdown().await;
}
both_backends!(export_tests, super::the_members_export);
