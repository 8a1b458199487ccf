//! `dsg backup` / `dsg restore`: a restored bundle holds exactly the rows of
//! every table at backup time; a running server sees the restored data on
//! its next request; bundles are verified, encrypted and rotated.

use std::path::{Path, PathBuf};

use dsg_testkit::cli::{dsg, fresh};
use dsg_testkit::store::dump;
use dsg_testkit::{Backend, spawn_app, user_token};
use serde_json::json;

fn bundles(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.to_string_lossy();
            n.ends_with(".tar.gz") || n.ends_with(".tar.gz.age")
        })
        .collect();
    v.sort();
    v
}

async fn backup_then_restore_gives_back_every_row(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app
        .seed(json!({
            "datasets": [{"name": "fish2", "buckets": ["fish2-raw"], "versions": [{"version": "v1", "buckets": ["fish2-raw"]}]}],
            "users": [{"key": "a", "email": "a@example.org", "affiliations": ["HHMI"], "tokens": [{"key": "t"}]}],
            "groups": [{"name": "lab", "members": [{"user": "a"}], "permissions": [{"dataset": "fish2", "permission": "view"}]}],
            "grants": [{"user": "a", "dataset": "fish2", "permission": "edit"}]
        }))
        .await
        .unwrap();
    let token = user_token(&s, "a", "t");
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().to_str().unwrap();
    let (ok, stdout, err) = dsg(&app, &["backup", "--out", out], None);
    assert!(ok, "{stdout}{err}");
    assert!(stdout.starts_with("Backup complete: "), "{stdout}");
    assert!(stdout.contains("UNENCRYPTED"), "{stdout}");
    let at_backup = dump(&app).await;
    let bundle = bundles(out_dir.path()).pop().unwrap();
    let meta = bundle.to_string_lossy().replace(".tar.gz", ".meta.json");
    let meta: serde_json::Value = serde_json::from_slice(&std::fs::read(meta).unwrap()).unwrap();
    assert_eq!(meta["backend"], json!(backend_name(backend)));
    assert_eq!(meta["encrypted"], json!(false));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&bundle).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    // Change things after the backup: a token revoked, a user and a grant added.
    let (ok, list, err) = dsg(&app, &["token", "list", "--json"], None);
    assert!(ok, "{err}");
    let id = serde_json::from_str::<serde_json::Value>(&list).unwrap()[0]["id"].to_string();
    assert!(dsg(&app, &["token", "revoke", &id], None).0);
    app.seed(json!({"users": [{"email": "late@example.org"}]}))
        .await
        .unwrap();
    assert!(
        fresh(backend, || async {
            app.user_cache(&token).await.unwrap().0 == 401
        })
        .await
    );
    let changed = dump(&app).await;
    assert_ne!(changed, at_backup);

    // Dry run: a report, nothing written.
    let b = bundle.to_str().unwrap();
    let (ok, report, err) = dsg(&app, &["restore", b], None);
    assert!(ok, "{report}{err}");
    assert!(
        report.contains("Verified 1 file checksum(s) against manifest."),
        "{report}"
    );
    assert!(report.contains("Would replace the database"), "{report}");
    let users_line = report
        .lines()
        .find(|l| l.trim_start().starts_with("dsg_user "))
        .unwrap();
    assert_eq!(
        users_line.split_whitespace().collect::<Vec<_>>(),
        ["dsg_user", "1", "2"],
        "{report}"
    );
    assert!(
        report
            .trim_end()
            .ends_with("Verify OK (dry run). Re-run with --apply to restore.")
    );
    assert_eq!(dump(&app).await, changed, "a dry run writes nothing");

    // Apply: every table is back as it was, plus the restore's own audit row and cache event.
    let (ok, report, err) = dsg(&app, &["restore", b, "--apply"], None);
    assert!(ok, "{report}{err}");
    assert!(report.contains("Restored "), "{report}");
    let restored = dump(&app).await;
    assert_eq!(
        restored.keys().collect::<Vec<_>>(),
        at_backup.keys().collect::<Vec<_>>()
    );
    for (table, rows) in &at_backup {
        let now = &restored[table];
        match table.as_str() {
            "audit_log" | "cache_event" => {
                let extra: Vec<&String> = now.iter().filter(|r| !rows.contains(r)).collect();
                assert!(rows.iter().all(|r| now.contains(r)), "{table} lost rows");
                assert!(!extra.is_empty(), "{table}: the restore adds its own row");
                if table == "audit_log" {
                    assert!(
                        extra.len() == 1 && extra[0].contains("database_restored"),
                        "{extra:?}"
                    );
                }
            }
            _ => assert_eq!(now, rows, "table {table} differs after restore"),
        }
    }
    // The running server sees the restored data on its next request.
    assert!(
        fresh(backend, || async {
            let (status, doc) = app.user_cache(&token).await.unwrap();
            status == 200 && doc["permissions_v2"] == json!({"fish2": ["edit", "view"]})
        })
        .await,
        "the restored token works again"
    );
    assert_eq!(
        app.store
            .user_id_by_email("late@example.org")
            .await
            .unwrap(),
        None
    );
    app.shutdown().await;
}
both_backends!(
    backup_then_restore_gives_back_every_row,
    super::backup_then_restore_gives_back_every_row
);

fn backend_name(b: Backend) -> &'static str {
    match b {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypted_bundles_rotate_and_damaged_ones_are_refused() {
    use age::secrecy::ExposeSecret;
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    app.seed(json!({"users": [{"email": "a@example.org"}]}))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let identity = age::x25519::Identity::generate();
    let id_file = dir.path().join("key.txt");
    std::fs::write(
        &id_file,
        format!("# test key\n{}\n", identity.to_string().expose_secret()),
    )
    .unwrap();
    let recipients = dir.path().join("recipients.txt");
    std::fs::write(&recipients, format!("# ops\n{}\n", identity.to_public())).unwrap();
    let out = dir.path().join("b");
    let out_s = out.to_str().unwrap();
    let recipient = identity.to_public().to_string();
    for r in [
        recipient.as_str(),
        recipients.to_str().unwrap(),
        recipient.as_str(),
    ] {
        let (ok, stdout, err) = dsg(
            &app,
            &[
                "backup",
                "--out",
                out_s,
                "--keep",
                "2",
                "--age-recipient",
                r,
            ],
            None,
        );
        assert!(ok, "{stdout}{err}");
        assert!(stdout.contains(", encrypted)"), "{stdout}");
    }
    let (ok, _, err) = dsg(&app, &["backup", "--out", out_s, "--keep", "0"], None);
    assert!(
        !ok && err.contains("--keep"),
        "--keep 0 would delete the new bundle: {err}"
    );
    let kept = bundles(&out);
    assert_eq!(kept.len(), 2, "{kept:?}");
    assert!(
        kept.iter()
            .all(|p| p.to_string_lossy().ends_with(".tar.gz.age"))
    );
    let metas = std::fs::read_dir(&out)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".meta.json")
        })
        .count();
    assert_eq!(metas, 2, "sidecars of pruned bundles are removed too");
    let newest = kept[1].to_str().unwrap();
    let bytes = std::fs::read(newest).unwrap();
    assert!(
        !bytes.windows(13).any(|w| w == b"a@example.org"),
        "the bundle is encrypted"
    );

    let (ok, _, err) = dsg(&app, &["restore", newest], None);
    assert!(!ok && err.contains("--age-identity"), "{err}");
    let (ok, report, err) = dsg(
        &app,
        &[
            "restore",
            newest,
            "--age-identity",
            id_file.to_str().unwrap(),
        ],
        None,
    );
    assert!(ok, "{report}{err}");
    assert!(report.contains("Verify OK (dry run)"), "{report}");
    let other = age::x25519::Identity::generate();
    let wrong = dir.path().join("wrong.txt");
    std::fs::write(&wrong, other.to_string().expose_secret()).unwrap();
    let (ok, _, err) = dsg(
        &app,
        &["restore", newest, "--age-identity", wrong.to_str().unwrap()],
        None,
    );
    assert!(!ok && err.contains("cannot decrypt"), "{err}");

    // A plain bundle with one flipped byte is refused, and nothing changes.
    let (ok, stdout, err) = dsg(&app, &["backup", "--out", out_s], None);
    assert!(ok, "{stdout}{err}");
    let plain = bundles(&out)
        .into_iter()
        .find(|p| p.to_string_lossy().ends_with(".tar.gz"))
        .unwrap();
    let mut bytes = std::fs::read(&plain).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    let damaged = dir.path().join("dsg-backup-damaged.tar.gz");
    std::fs::write(&damaged, bytes).unwrap();
    let before = dump(&app).await;
    let (ok, _, err) = dsg(
        &app,
        &["restore", damaged.to_str().unwrap(), "--apply"],
        None,
    );
    assert!(!ok, "{err}");
    assert_eq!(dump(&app).await, before);
    let (ok, _, err) = dsg(&app, &["restore", "/nonexistent/x.zip"], None);
    assert!(!ok && err.contains(".tar.gz"), "{err}");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bundle_of_the_other_backend_is_refused() {
    let pg = spawn_app(Backend::Postgres).await.unwrap();
    let lite = spawn_app(Backend::Sqlite).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let (ok, stdout, err) = dsg(&pg, &["backup", "--out", out], None);
    assert!(ok, "{stdout}{err}");
    let bundle = bundles(dir.path()).pop().unwrap();
    let before = dump(&lite).await;
    let (ok, _, err) = dsg(
        &lite,
        &["restore", bundle.to_str().unwrap(), "--apply"],
        None,
    );
    assert!(!ok && err.contains("holds a postgres database"), "{err}");
    assert_eq!(dump(&lite).await, before);
    pg.shutdown().await;
    lite.shutdown().await;
}
