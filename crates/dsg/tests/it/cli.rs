//! The `dsg` binary in another process changes data; the running server
//! shows it on the very next request (SQLite) or within a second (PostgreSQL).

use std::process::Command;
use std::time::Duration;

use dsg_testkit::cli::{dsg, fresh, run_dsg};
use dsg_testkit::{Backend, spawn_app, user_token};
use serde_json::json;

async fn seed_and_revoke_in_another_process_show_on_the_next_request(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app
        .seed(json!({
            "datasets": [{"name": "fish2"}],
            "users": [{"key": "a", "email": "a@example.org", "tokens": [{"key": "main"}]}]
        }))
        .await
        .unwrap();
    let token = user_token(&s, "a", "main");
    let (_, doc) = app.user_cache(&token).await.unwrap();
    assert_eq!(doc["permissions_v2"], json!({}));

    let (ok, out, err) = dsg(
        &app,
        &["seed", "-"],
        Some(
            r#"{"grants": [{"user": "a@example.org", "dataset": "fish2", "permission": "edit"}]}"#,
        ),
    );
    assert!(ok, "{out}{err}");
    assert!(
        fresh(backend, || async {
            app.user_cache(&token).await.unwrap().1["permissions_v2"]
                == json!({"fish2": ["edit", "view"]})
        })
        .await
    );

    let (ok, out, err) = dsg(
        &app,
        &["token", "list", "--json", "--user", "a@example.org"],
        None,
    );
    assert!(ok, "{err}");
    let list: serde_json::Value = serde_json::from_str(&out).unwrap();
    let id = list[0]["id"].as_i64().unwrap().to_string();
    assert!(!out.contains(&token), "token list must never print secrets");
    let (ok, _, err) = dsg(&app, &["token", "revoke", &id], None);
    assert!(ok, "{err}");
    assert!(
        fresh(backend, || async {
            app.user_cache(&token).await.unwrap().0 == 401
        })
        .await
    );
    app.shutdown().await;
}
both_backends!(
    seed_and_revoke_in_another_process_show_on_the_next_request,
    super::seed_and_revoke_in_another_process_show_on_the_next_request
);

async fn token_create_and_make_admin(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let (ok, out, err) = dsg(&app, &["make-admin", "boss@example.org"], None);
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "Created new admin user: boss@example.org");
    let (ok, out, _) = dsg(&app, &["make-admin", "boss@example.org"], None);
    assert!(ok);
    assert_eq!(out.trim(), "User boss@example.org is already an admin.");
    let (ok, token, err) = dsg(
        &app,
        &[
            "token",
            "create",
            "--user",
            "boss@example.org",
            "--expires-in",
            "1d",
        ],
        None,
    );
    assert!(ok, "{err}");
    let token = token.trim().to_owned();
    assert_eq!(token.len(), 64, "token alone on stdout: {token:?}");
    let ok_admin = fresh(backend, || async {
        app.user_cache(&token).await.unwrap().1["admin"] == json!(true)
    })
    .await;
    assert!(ok_admin);
    let (ok, out, _) = dsg(&app, &["make-admin", "--remove", "boss@example.org"], None);
    assert!(ok);
    assert_eq!(out.trim(), "Revoked admin status from boss@example.org.");
    assert!(
        fresh(backend, || async {
            app.user_cache(&token).await.unwrap().1["admin"] == json!(false)
        })
        .await
    );
    let (ok, _, err) = dsg(
        &app,
        &["token", "create", "--user", "nobody@example.org"],
        None,
    );
    assert!(!ok && err.contains("nobody@example.org"), "{err}");
    // Without --expires-in a token lives 30 days, as one made in the web UI.
    let (ok, _, err) = dsg(
        &app,
        &[
            "token",
            "create",
            "--user",
            "boss@example.org",
            "--description",
            "default life",
        ],
        None,
    );
    assert!(ok, "{err}");
    let (ok, out, _) = dsg(
        &app,
        &["token", "list", "--json", "--user", "boss@example.org"],
        None,
    );
    assert!(ok);
    let list: serde_json::Value = serde_json::from_str(&out).unwrap();
    let made = list
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["description"] == "default life")
        .unwrap();
    let created: dsg_core::Timestamp = serde_json::from_value(made["created"].clone()).unwrap();
    let expires: dsg_core::Timestamp = serde_json::from_value(made["expires_at"].clone()).unwrap();
    assert_eq!(
        (expires.as_secs() - created.as_secs() + 60) / 86_400,
        30,
        "{made}"
    );
    app.shutdown().await;
}
both_backends!(
    token_create_and_make_admin,
    super::token_create_and_make_admin
);

async fn a_failing_seed_writes_nothing(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let bad = r#"{"datasets": [{"name": "d1"}], "users": [{"key": "u", "email": "u@example.org"}],
                  "grants": [{"user": "u", "dataset": "missing", "permission": "view"}]}"#;
    let (ok, out, err) = dsg(&app, &["seed", "-"], Some(bad));
    assert!(!ok);
    assert!(out.is_empty() && err.contains("missing"), "{out} / {err}");
    assert_eq!(
        app.store.user_id_by_email("u@example.org").await.unwrap(),
        None
    );
    assert!(app.store.load_catalog().await.unwrap().datasets.is_empty());
    let (ok, _, err) = dsg(&app, &["seed", "-"], Some("{not json"));
    assert!(!ok && err.contains("fixture"), "{err}");
    app.shutdown().await;
}
both_backends!(
    a_failing_seed_writes_nothing,
    super::a_failing_seed_writes_nothing
);

/// Run from a folder without a database, a one-off command refuses with a
/// hint instead of creating a fresh empty one at the default relative path;
/// `migrate` creates it, and then every command says which database it uses.
#[test]
fn commands_refuse_a_missing_sqlite_database_instead_of_creating_one() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_dsg"))
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .current_dir(dir.path())
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let db = dir.path().join("data").join("dsg.sqlite3");
    for args in [
        &["token", "list"][..],
        &["make-admin", "a@x.org"],
        &["audit"],
        &["service-account", "list"],
    ] {
        let (ok, _, err) = run(args);
        assert!(!ok, "{args:?} must fail");
        assert!(
            err.contains("no database at") && err.contains("hint:"),
            "{args:?}: {err}"
        );
        assert!(
            err.contains(&db.display().to_string()),
            "names the path: {err}"
        );
        assert!(!db.exists(), "{args:?} created {}", db.display());
    }
    // An absolute path was named on purpose: created, and said so.
    let other = dir.path().join("elsewhere.sqlite3");
    let out = Command::new(env!("CARGO_BIN_EXE_dsg"))
        .args(["make-admin", "a@x.org"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_PATH", &other)
        .current_dir(dir.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && other.exists(), "{err}");
    assert!(err.contains("creating new database"), "{err}");
    assert!(!db.exists());
    let (ok, _, err) = run(&["migrate"]);
    assert!(ok && db.exists(), "{err}");
    let (ok, out, err) = run(&["make-admin", "a@x.org"]);
    assert!(ok, "{err}");
    assert!(out.contains("a@x.org"));
    assert!(
        err.contains("using database sqlite:") && err.contains("dsg.sqlite3"),
        "{err}"
    );
}

/// A bad `log.level` stops the start with a message naming the key.
#[test]
fn a_bad_log_level_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    for cmd in [&["config", "check"][..], &["serve"]] {
        let out = Command::new(env!("CARGO_BIN_EXE_dsg"))
            .args(cmd)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("LOG_LEVEL", "loud")
            .env("DSG_SERVER__BIND", "127.0.0.1:0")
            .current_dir(dir.path())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{cmd:?}");
        assert!(err.contains("log.level") && err.contains("loud"), "{err}");
    }
}

/// `dsg serve` logs every request at info: method, path (never the query,
/// which may carry a token), status, latency and request id.
#[test]
fn serve_logs_each_request_with_its_id() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let port = dsg_testkit::free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_dsg"))
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DSG_SERVER__BIND", format!("127.0.0.1:{port}"))
        .env("DSG_LOG__FORMAT", "json")
        .current_dir(dir.path())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in lines.map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    let wait_for = |what: &dyn Fn(&serde_json::Value) -> bool| {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
            let Ok(line) = rx.recv_timeout(left) else {
                break;
            };
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line)
                && what(&v)
            {
                return Some(v);
            }
        }
        None
    };
    let started = wait_for(&|v| v["fields"]["message"] == "DatasetGateway listening");
    assert!(started.is_some(), "server did not start");
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    std::io::Write::write_all(
        &mut stream,
        b"GET /api/v1/user/cache?dsg_token=secretvalue HTTP/1.1\r\nHost: x\r\nX-Request-Id: req-77\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let mut reply = String::new();
    let _ = std::io::Read::read_to_string(&mut stream, &mut reply);
    assert!(reply.contains("x-request-id: req-77"), "{reply}");
    let line = wait_for(&|v| v["fields"]["request_id"] == "req-77");
    let _ = child.kill();
    let _ = child.wait();
    let line = line.expect("an access-log line for the request");
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["fields"]["method"], "GET");
    assert_eq!(line["fields"]["path"], "/api/v1/user/cache");
    assert_eq!(line["fields"]["status"], 401);
    assert!(line["fields"]["latency_us"].is_u64());
    assert_eq!(line["fields"]["client"], "127.0.0.1");
    assert!(!line.to_string().contains("secretvalue"));
}

/// The access log is written off the request path, and a clean stop
/// (SIGTERM) writes every queued line before the process exits: a burst of
/// requests answered just before the signal all appear in the log, and
/// `/metrics` counts the lines dropped for a full queue (none here).
#[test]
fn sigterm_flushes_every_access_log_line() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let port = dsg_testkit::free_port();
    let log = dir.path().join("serve.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_dsg"))
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DSG_SERVER__BIND", format!("127.0.0.1:{port}"))
        .env("DSG_SERVER__DRAIN_SECS", "0")
        .env("DSG_LOG__FORMAT", "json")
        .current_dir(dir.path())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut stream = loop {
        if let Ok(s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            break s;
        }
        assert!(std::time::Instant::now() < deadline, "server did not start");
        std::thread::sleep(Duration::from_millis(50));
    };
    // 2,000 requests on one keep-alive connection, sent at once; the last
    // one closes it, so reading to the end waits for every answer.
    let mut burst = Vec::new();
    for i in 0..2_000 {
        let close = if i == 1_999 {
            "Connection: close\r\n"
        } else {
            ""
        };
        write!(
            burst,
            "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-Id: burst-{i}\r\n{close}\r\n"
        )
        .unwrap();
    }
    stream.write_all(&burst).unwrap();
    let mut replies = Vec::new();
    stream.read_to_end(&mut replies).unwrap();
    let answered = String::from_utf8_lossy(&replies)
        .matches("HTTP/1.1 200")
        .count();
    assert_eq!(answered, 2_000);
    let mut m = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    m.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut metrics = String::new();
    m.read_to_string(&mut metrics).unwrap();
    assert!(
        metrics.contains("dsg_access_log_dropped_lines_total 0"),
        "{metrics}"
    );
    let pid = rustix::process::Pid::from_raw(i32::try_from(child.id()).unwrap()).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    assert!(child.wait().unwrap().success());
    let text = std::fs::read_to_string(&log).unwrap();
    let ids: std::collections::HashSet<String> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["target"] == "dsg::access")
        .filter_map(|v| v["fields"]["request_id"].as_str().map(str::to_owned))
        .filter(|id| id.starts_with("burst-"))
        .collect();
    assert_eq!(ids.len(), 2_000, "{} of 2000 lines logged", ids.len());
    // The stop message comes after the flush.
    let last = text.lines().last().unwrap_or_default();
    assert!(last.contains("DatasetGateway stopped"), "{last}");
}

fn dsg_in(dir: &std::path::Path, port: u16, args: &[&str]) -> (bool, String, String) {
    let bind = format!("127.0.0.1:{port}");
    run_dsg(Some(dir), &[("DSG_SERVER__BIND", &bind)], args, None)
}

/// `serve --detach` returns once the server listens, writing `serve.pid` and
/// appending to `serve.log`; a second one is refused; `dsg stop` lets an
/// in-flight request finish (SIGTERM drains), removes the PID file and is
/// tolerant of missing and stale ones.
#[test]
fn serve_detach_and_stop() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let port = dsg_testkit::free_port();
    let (ok, out, err) = dsg_in(dir.path(), port, &["serve", "--detach"]);
    assert!(ok, "{out}{err}");
    let pid: u32 = std::fs::read_to_string(dir.path().join("serve.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(out.contains(&format!("PID {pid}")), "{out}");
    let (ok, _, err) = dsg_in(dir.path(), port, &["serve", "--detach"]);
    assert!(!ok && err.contains("already running"), "{err}");

    let (ok, token, err) = dsg_in(dir.path(), port, &["scim", "token", "create", "okta"]);
    assert!(ok, "{err}");
    let body = r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"drain@example.org"}"#;
    let (first, rest) = body.split_at(20);
    let mut conn = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        conn,
        "POST /auth/scim/v2/Users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/scim+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{first}",
        token.trim(),
        body.len()
    )
    .unwrap();
    conn.flush().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let stopper = {
        let dir = dir.path().to_owned();
        std::thread::spawn(move || dsg_in(&dir, port, &["stop", "--timeout", "30"]))
    };
    std::thread::sleep(Duration::from_millis(300));
    conn.write_all(rest.as_bytes()).unwrap();
    let mut reply = String::new();
    let _ = conn.read_to_string(&mut reply);
    assert!(reply.starts_with("HTTP/1.1 201"), "{reply}");
    let (ok, out, err) = stopper.join().unwrap();
    assert!(
        ok && out.contains(&format!("server PID {pid} stopped")),
        "{out}{err}"
    );
    assert!(!dir.path().join("serve.pid").exists());
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
    let log = std::fs::read_to_string(dir.path().join("serve.log")).unwrap();
    assert!(log.contains("DatasetGateway stopped"), "{log}");
    assert!(
        !log.contains('\u{1b}'),
        "no terminal colours in the log file"
    );

    let (ok, out, _) = dsg_in(dir.path(), port, &["stop"]);
    assert!(ok && out.contains("no server to stop"), "{out}");
    std::fs::write(dir.path().join("serve.pid"), "4194999\n").unwrap();
    let (ok, out, _) = dsg_in(dir.path(), port, &["stop-serve"]);
    assert!(ok && out.contains("no server was running"), "{out}");
    assert!(!dir.path().join("serve.pid").exists());
}

/// A detached server that cannot start says why (the log's last lines) and
/// leaves no PID file.
#[test]
fn serve_detach_reports_a_failed_start() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let (ok, _, err) = dsg_in(
        dir.path(),
        port,
        &["serve", "--detach", "--log-file", "x.log"],
    );
    assert!(!ok, "{err}");
    assert!(
        err.contains("stopped at once") && err.contains(&port.to_string()),
        "{err}"
    );
    assert!(!dir.path().join("serve.pid").exists());
    assert!(dir.path().join("x.log").exists());
}
