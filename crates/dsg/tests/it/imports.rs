//! `dsg import …` on real sample files (fixtures/imports/): each import run
//! as a dry run first (same report, database untouched), then for real, then
//! again (nothing changes and it says so); a running server sees the result.

use dsg_testkit::cli::{dsg, fresh};
use dsg_testkit::store::dump;
use dsg_testkit::{Backend, TestApp, spawn_app, user_token};
use serde_json::{Value, json};

const NOTHING: &str = "Nothing to change: the database already holds everything in this file.";

fn fixture(name: &str) -> String {
    format!(
        "{}/tests/it/fixtures/imports/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// The report without the dry-run banner and the closing line.
fn body(report: &str) -> String {
    let report = report
        .strip_prefix("DRY RUN — no changes will be made\n")
        .unwrap_or(report);
    let mut lines: Vec<&str> = report.trim_end().lines().collect();
    lines.pop();
    lines.join("\n")
}

/// Dry run, real run, second run; returns the real run's report.
async fn three_runs(app: &TestApp, args: &[&str]) -> String {
    let before = dump(app).await;
    let mut dry_args = args.to_vec();
    dry_args.push("--dry-run");
    let (ok, dry, err) = dsg(app, &dry_args, None);
    assert!(ok, "{dry}{err}");
    assert!(
        dry.starts_with("DRY RUN — no changes will be made\n"),
        "{dry}"
    );
    assert!(dry.trim_end().ends_with("nothing was written."), "{dry}");
    assert_eq!(dump(app).await, before, "a dry run writes nothing");

    let (ok, real, err) = dsg(app, args, None);
    assert!(ok, "{real}{err}");
    assert!(real.trim_end().ends_with("change(s) committed."), "{real}");
    assert_eq!(
        body(&dry),
        body(&real),
        "the dry run printed what the real run did"
    );
    let after = dump(app).await;
    assert_ne!(after, before);

    let (ok, again, err) = dsg(app, args, None);
    assert!(ok, "{again}{err}");
    assert_eq!(again.trim_end().lines().last(), Some(NOTHING), "{again}");
    assert_eq!(dump(app).await, after, "a second run changes nothing");
    real
}

fn lines(report: &str) -> Vec<&str> {
    report.lines().collect()
}

async fn bulk_import_audit(app: &TestApp, target: &str) -> Vec<Value> {
    let entries = app
        .store
        .audit_entries(&dsg_store::audit::AuditFilter {
            action: Some("bulk_import".into()),
            target_id: Some(target.into()),
            ..Default::default()
        })
        .await
        .unwrap();
    entries.into_iter().filter_map(|e| e.after_state).collect()
}

async fn neuprint_auth(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app
        .seed(json!({
            "datasets": [{"name": "hemibrain"}],
            "users": [{"key": "c", "email": "carol@example.org", "tokens": [{"key": "t"}]}],
            "grants": [{"user": "c", "dataset": "hemibrain", "permission": "view"}]
        }))
        .await
        .unwrap();
    let carol = user_token(&s, "c", "t");
    let file = fixture("neuprint_authorized.json");
    let report = three_runs(
        &app,
        &[
            "import",
            "neuprint-auth",
            &file,
            "--datasets",
            "hemibrain",
            "manc",
        ],
    )
    .await;
    let l = lines(&report);
    for expected in [
        "  Exists dataset: hemibrain",
        "  Created dataset: manc",
        "Dataset: hemibrain",
        "  Added: Dave@Example.org (view), bob@example.org (edit)",
        "  Already existed: carol@example.org (view)",
        "Dataset: manc",
        "  Added: Dave@Example.org (view), bob@example.org (edit), carol@example.org (view)",
        "Global admins",
        "  Set admin=True: alice@example.org",
        "Imported 4 users across 2 datasets.",
    ] {
        assert!(l.contains(&expected), "{expected:?} missing in\n{report}");
    }
    let skipped = l.iter().find(|l| l.starts_with("Skipped: ")).unwrap();
    assert!(
        skipped.contains("eve@example.org (unknown level 'superuser')"),
        "{skipped}"
    );
    assert!(
        skipped.contains("frank@example.org (level 3 is not a string)"),
        "{skipped}"
    );
    assert!(skipped.contains("not-an-email"), "{skipped}");
    assert!(
        fresh(backend, || async {
            app.user_cache(&carol).await.unwrap().1["permissions_v2"]
                == json!({"hemibrain": ["view"], "manc": ["view"]})
        })
        .await
    );
    let audits = bulk_import_audit(&app, "import_neuprint_auth").await;
    assert_eq!(
        audits.len(),
        1,
        "one bulk_import row: dry and second runs write none"
    );
    assert_eq!(audits[0]["users"], json!(4));
    assert_eq!(audits[0]["admins_added"], json!(1));
    // Malformed files are clear errors that write nothing.
    let dir = tempfile::tempdir().unwrap();
    let before = dump(&app).await;
    for (name, text, message) in [
        ("list.json", "[\"a@x.org\"]", "expected a JSON object"),
        ("broken.json", "{\"a@x.org\": ", "not valid JSON"),
    ] {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        let (ok, _, err) = dsg(
            &app,
            &[
                "import",
                "neuprint-auth",
                p.to_str().unwrap(),
                "--datasets",
                "x",
            ],
            None,
        );
        assert!(!ok && err.contains(message) && err.contains(name), "{err}");
    }
    let (ok, _, err) = dsg(&app, &["import", "neuprint-auth", &file], None);
    assert!(!ok && err.contains("--datasets"), "{err}");
    let clio = dir.path().join("clio.json");
    std::fs::write(
        &clio,
        r#"{"users": {"a@x.org": {"global_roles": "admin"}}}"#,
    )
    .unwrap();
    let (ok, _, err) = dsg(&app, &["import", "clio-auth", clio.to_str().unwrap()], None);
    assert!(!ok && err.contains("Clio export"), "{err}");
    assert_eq!(dump(&app).await, before);
    let alice = app
        .store
        .user_id_by_email("alice@example.org")
        .await
        .unwrap()
        .unwrap();
    assert!(
        app.store
            .load_user(alice)
            .await
            .unwrap()
            .unwrap()
            .facts
            .admin
    );
    app.shutdown().await;
}
both_backends!(neuprint_auth, super::neuprint_auth);

async fn clio_auth(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app
        .seed(
            json!({"users": [{"key": "b", "email": "ben@example.org", "tokens": [{"key": "t"}]}]}),
        )
        .await
        .unwrap();
    let ben = user_token(&s, "b", "t");
    let file = fixture("clio_export.json");
    let report = three_runs(&app, &["import", "clio-auth", &file]).await;
    let l = lines(&report);
    for expected in [
        "  Created dataset: hemibrain",
        "    Granted view on hemibrain to 'user' group (public)",
        "  Created dataset: manc",
        "  Created user: ann@example.org (admin=True)",
        "    Global clio_general → view on all datasets",
        "  Created dataset (from user ref): optic-lobe",
        "  Updated user: ben@example.org (admin=False)",
        "    Global clio_write → edit on all datasets",
        "    manc: admin grant",
        "    optic-lobe: unknown role 'tea_maker' skipped",
        "  Created user: cat@example.org (admin=False)",
        "    Group: proofreaders",
        "Imported 3 users and 4 datasets.",
    ] {
        assert!(l.contains(&expected), "{expected:?} missing in\n{report}");
    }
    assert!(
        l.iter().any(|l| l.starts_with("Skipped: broken")),
        "{report}"
    );
    assert!(
        fresh(backend, || async {
            let doc = app.user_cache(&ben).await.unwrap().1;
            doc["permissions_v2"]
                == json!({"hemibrain": ["edit", "view"], "manc": ["admin", "edit", "manage", "view"],
                          "optic-lobe": ["view"], "vnc": ["edit", "view"]})
                && doc["datasets_admin"] == json!(["manc"])
        })
        .await
    );
    let cat = app
        .store
        .user_id_by_email("cat@example.org")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(app.store.user_is_active(cat).await.unwrap(), Some(false));
    assert_eq!(bulk_import_audit(&app, "import_clio_auth").await.len(), 1);
    app.shutdown().await;
}
both_backends!(clio_auth, super::clio_auth);

async fn csv_users(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let file = fixture("users.csv");
    let report = three_runs(&app, &["import", "csv", &file, "--dataset", "fly"]).await;
    let l = lines(&report);
    for expected in [
        "  Created dataset: fly",
        "  Created user: ann@example.org (notes='first, with comma', affiliation='Janelia')",
        "  Created user: ben@example.org (notes='two\\nlines')",
        "  Updated user: ann@example.org (affiliation='HHMI')",
        "  Created user: dan@example.org",
        "  Added view grants: ann@example.org, ben@example.org, dan@example.org",
        "  Already had view grants: ann@example.org",
        "  Skipped line 5: 2 field(s), the header has 4",
        "  Skipped line 7: no e-mail",
        "  Skipped line 8: \"not-an-email\" is not a valid e-mail address",
        "  Skipped line 9: 5 field(s), the header has 4",
        "Imported 4 users for dataset fly.",
    ] {
        assert!(l.contains(&expected), "{expected:?} missing in\n{report}");
    }
    let mut tx = app
        .store
        .begin(dsg_store::write::Actor::cli("test"))
        .await
        .unwrap();
    let ben = tx.require_user("ben@example.org").await.unwrap();
    let profile = tx.user_profile(ben).await.unwrap();
    drop(tx);
    assert_eq!(profile.name, "Ben \"the\" B");
    assert_eq!(profile.notes, "two\nlines");
    let audits = bulk_import_audit(&app, "import_csv").await;
    assert_eq!(audits.len(), 1);
    assert_eq!(audits[0]["grants_added"], json!(3));

    // Bad files are clear errors, not crashes.
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.csv");
    std::fs::write(&empty, "").unwrap();
    let (ok, _, err) = dsg(
        &app,
        &["import", "csv", empty.to_str().unwrap(), "--dataset", "fly"],
        None,
    );
    assert!(!ok && err.contains("CSV file is empty"), "{err}");
    let no_email = dir.path().join("h.csv");
    std::fs::write(&no_email, "mail,name\nx@y.org,X\n").unwrap();
    let (ok, _, err) = dsg(
        &app,
        &[
            "import",
            "csv",
            no_email.to_str().unwrap(),
            "--dataset",
            "fly",
        ],
        None,
    );
    assert!(
        !ok && err.contains("CSV must contain an 'email' column. Found: ['mail', 'name']"),
        "{err}"
    );
    app.shutdown().await;
}
both_backends!(csv_users, super::csv_users);

/// Builds a Django DatasetGateway SQLite database from the fixture script.
async fn django_db(path: &std::path::Path, extra: &str) {
    let opts = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .foreign_keys(false);
    let pool = sqlx::SqlitePool::connect_with(opts).await.unwrap();
    let script = std::fs::read_to_string(fixture("django_dsg.sql")).unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("{script}\n{extra}")))
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
}

const ANN: &str = "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1";
const BEN: &str = "b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2";
const BEN_CASED: &str = "d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4d4";
const EXPIRED: &str = "c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3";
const ROOT: &str = "e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5";
const PIPELINE: &str = "f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6f6";

async fn django_dsg(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("db.sqlite3");
    django_db(&src, "").await;
    let src_s = src.to_str().unwrap();
    for t in [ANN, BEN, ROOT, PIPELINE] {
        assert_eq!(
            app.user_cache(t).await.unwrap().0,
            401,
            "unknown before the import"
        );
    }
    let report = three_runs(&app, &["import", "django-dsg", src_s]).await;
    let l = lines(&report);
    let row = |t: &str| {
        l.iter()
            .find(|x| x.split_whitespace().next() == Some(t))
            .map(|x| x.split_whitespace().skip(1).collect::<Vec<_>>().join(" "))
            .unwrap_or_default()
    };
    assert_eq!(row("dsg_user"), "5 0 2", "{report}");
    assert_eq!(row("dataset"), "3 0 0", "{report}");
    assert_eq!(row("grant"), "5 0 2", "{report}");
    assert_eq!(row("api_key"), "4 0 2", "{report}");
    assert_eq!(row("service_account"), "1 0 1", "{report}");
    assert_eq!(row("service_account_token"), "1 0 0", "{report}");
    assert_eq!(row("tos_document"), "2 0 0", "{report}");
    for expected in [
        "  dsg_user #4 (Ben@Example.org): merged into ben@example.org: e-mail addresses here are unique regardless of case",
        "  dsg_user #5 (not an email): \"not an email\" is not a valid e-mail address",
        "  grant #2: duplicate of grant #1",
        "  grant #7: its user, dataset or permission was not imported",
        "  api_key #3 (ben@example.org, 'old'): expired",
        "  api_key #4 (root@example.org, 'set in /admin/'): a literal token must be 32 to 8192 characters; its owner must create a new token",
        "  affiliation #3 (Nowhere): its user was not imported",
    ] {
        assert!(l.contains(&expected), "{expected:?} missing in\n{report}");
    }
    assert!(
        l.iter()
            .any(|x| x.starts_with("  service_account #2 (bad name!): ")),
        "{report}"
    );

    // The old tokens answer user/cache with the permissions they had.
    let check = || async {
        let (s1, ann) = app.user_cache(ANN).await.unwrap();
        let (s2, ben) = app.user_cache(BEN).await.unwrap();
        let (s3, ben2) = app.user_cache(BEN_CASED).await.unwrap();
        let (s4, root) = app.user_cache(ROOT).await.unwrap();
        let (s5, sa) = app.user_cache(PIPELINE).await.unwrap();
        [s1, s2, s3, s4, s5] == [200; 5]
            && ann["permissions_v2"] == json!({"fish2": ["edit", "view"], "hemibrain": ["view"]})
            && ann["groups_admin"] == json!(["flyem"])
            && ann["missing_tos"] == json!([])
            && ann["name"] == json!("Dr. Ann")
            && ben["permissions_v2"]["fish2"] == json!(["admin", "manage", "view"])
            && ben["permissions_v2"].get("hemibrain").is_none()
            && ben["permissions_v2_ignore_tos"]["hemibrain"] == json!(["manage", "view"])
            && ben["datasets_admin"] == json!(["fish2"])
            && ben2["id"] == ben["id"]
            && root["admin"] == json!(true)
            && sa["service_account"] == json!(true)
            && sa["permissions_v2"]["hemibrain"] == json!(["edit", "view"])
    };
    assert!(
        fresh(backend, check).await,
        "{:?}",
        app.user_cache(BEN).await.unwrap()
    );
    assert_eq!(app.user_cache(EXPIRED).await.unwrap().0, 401);
    let mut ann_doc = app.user_cache(ANN).await.unwrap().1;
    let mut affiliations: Vec<Value> = ann_doc["affiliations"].as_array().unwrap().clone();
    affiliations.sort_by_key(|v| v.to_string());
    assert_eq!(affiliations, vec![json!("HHMI"), json!("Janelia")]);
    ann_doc["groups"]
        .as_array_mut()
        .unwrap()
        .sort_by_key(|v| v.to_string());
    assert_eq!(ann_doc["groups"], json!(["flyem", "user"]));
    // Landing-page tokens and the legacy parent link survive.
    assert!(
        app.store
            .tos_by_invite("hemibrain-invite-token-0123456789abcdefghijklmnopq")
            .await
            .unwrap()
            .is_some()
    );
    let bot = app
        .store
        .user_id_by_email("bot@example.org")
        .await
        .unwrap()
        .unwrap();
    let ann_id = app
        .store
        .user_id_by_email("ann@example.org")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        app.store
            .load_user(bot)
            .await
            .unwrap()
            .unwrap()
            .facts
            .parent_id,
        Some(ann_id)
    );
    assert_eq!(bulk_import_audit(&app, "import_django_dsg").await.len(), 1);
    let (ok, list, err) = dsg(
        &app,
        &["token", "list", "--json", "--user", "ann@example.org"],
        None,
    );
    assert!(ok, "{err}");
    let list: Value = serde_json::from_str(&list).unwrap();
    assert_eq!(
        list[0]["description"],
        json!("Default long-lived API token")
    );
    assert_eq!(
        list[0]["created"],
        json!(
            dsg_core::Timestamp::parse("2024-03-02T10:00:00Z")
                .unwrap()
                .0
        ),
        "the token keeps its creation time"
    );
    let everything = format!("{:?}", dump(&app).await);
    for t in [ANN, BEN, ROOT, PIPELINE] {
        assert!(!everything.contains(t), "only token hashes are stored");
    }

    // An older database (before service accounts existed) imports too, and says what it lacked.
    let old = dir.path().join("old.sqlite3");
    django_db(
        &old,
        "DROP TABLE service_account_grant; DROP TABLE service_account_token; DROP TABLE service_account;",
    )
    .await;
    let (ok, out, err) = dsg(&app, &["import", "django-dsg", old.to_str().unwrap()], None);
    assert!(ok, "{out}{err}");
    assert!(out.contains("Not in the source (an older schema; nothing to import): service_account, service_account_token, service_account_grant"), "{out}");
    assert_eq!(out.trim_end().lines().last(), Some(NOTHING), "{out}");
    let (ok, _, err) = dsg(
        &app,
        &[
            "import",
            "django-dsg",
            dir.path().join("missing.sqlite3").to_str().unwrap(),
        ],
        None,
    );
    assert!(!ok && err.contains("no such file"), "{err}");
    app.shutdown().await;
}
both_backends!(django_dsg, super::django_dsg);

/// A database of newer upstream (migrations 0010–0014): version branches
/// and ordinals, services' evaluation modes, translations, service-scoped
/// grants — imported and then decided on by `/api/dsg/v1/authorize`.
async fn django_dsg_newer_tables(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("db.sqlite3");
    django_db(
        &src,
        "ALTER TABLE dataset_version ADD COLUMN branch varchar(100) NOT NULL DEFAULT 'main';
         ALTER TABLE dataset_version ADD COLUMN ordinal bigint NULL;
         UPDATE dataset_version SET ordinal = 3 - id, is_public = 0 WHERE dataset_id = 1;
         INSERT INTO dsg_user (id, password, email, name, display_name, admin, is_active, gdpr_consent, pi,
             read_only, scim_id, external_id, created, updated, parent_id, notes, picture_url)
             VALUES (8, '', 'vera@example.org', 'Vera', '', 0, 1, 0, '', 0, NULL, NULL,
             '2024-03-01 10:00:00', '2024-03-01 10:00:00', NULL, '', '');
         INSERT INTO api_key (id, key, description, created, last_used, user_id, expires_at)
             VALUES (9, '7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a', 'vera', '2024-03-01 10:00:00', NULL, 8, NULL);
         ALTER TABLE service ADD COLUMN version_eval_mode varchar(10) NOT NULL DEFAULT 'linear';
         CREATE TABLE dataset_translation (id integer PRIMARY KEY, client_name varchar(255) NOT NULL,
             client_version varchar(255) NULL, dataset_id bigint NOT NULL, dataset_version_id bigint NULL,
             service_id bigint NOT NULL);
         INSERT INTO dataset_translation VALUES (1, 'zf', NULL, 1, NULL, 1), (2, 'zf', 'second', 1, 2, 1);
         ALTER TABLE \"grant\" ADD COLUMN service_id bigint NULL;
         INSERT INTO \"grant\" (id, source, created, dataset_id, dataset_version_id, granted_by_id, group_id,
             permission_id, user_id, service_id) VALUES (9, 'manual', '2024-05-01 00:00:00', 1, 1, NULL, NULL, 1, 8, NULL);",
    )
    .await;
    let report = three_runs(&app, &["import", "django-dsg", src.to_str().unwrap()]).await;
    assert!(
        report
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>()
                == ["dataset_translation", "2", "0", "0"]),
        "{report}"
    );
    // Vera holds view on fish2's v1 (ordinal 2): it reaches v2 (ordinal 1)
    // by either name, not ordinal 3.
    let r = app
        .client
        .post(app.url("/api/dsg/v1/authorize"))
        .bearer_auth("7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a7a")
        .json(&json!({"service": "celltyping", "entries": [
            {"name": "zf", "version": "v1"}, {"name": "zf", "version": "second"},
            {"name": "fish2", "version": "1"}, {"name": "fish2", "version": "3"}]}))
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    let d: Vec<&str> = v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["decision"].as_str().unwrap())
        .collect();
    assert_eq!(d, ["allow", "allow", "allow", "deny"], "{v}");
    app.shutdown().await;
}
both_backends!(django_newer, super::django_dsg_newer_tables);
