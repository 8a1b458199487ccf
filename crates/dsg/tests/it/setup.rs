//! `dsg setup` writes a configuration that `dsg config check` accepts, from
//! flags (scripts) or from answers on standard input (the wizard).

use std::io::Write;
use std::process::{Command, Stdio};

fn dsg(args: &[&str], stdin: &str) -> (bool, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dsg"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn setup_with_flags_writes_a_config_that_passes_config_check() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dsg.toml");
    let creds = dir.path().join("client_credentials.json");
    std::fs::write(
        &creds,
        r#"{"web": {"client_id": "gid.apps.googleusercontent.com", "client_secret": "gs"}}"#,
    )
    .unwrap();
    let dead = format!("http://127.0.0.1:{}", dsg_testkit::free_port());
    let f = file.to_str().unwrap();
    let args = [
        "setup",
        "--non-interactive",
        "--output",
        f,
        "--origin",
        "https://dsg.example.org",
        "--port",
        "9000",
        "--cookie-domain",
        ".example.org",
        "--google-credentials",
        creds.to_str().unwrap(),
        "--oidc-name",
        "kc",
        "--oidc-issuer",
        &dead,
        "--oidc-client-id",
        "dsg",
        "--signup",
        "domains",
        "--signup-domains",
        "example.org, lab.org",
    ];
    let (ok, out, err) = dsg(&args, "");
    assert!(ok, "{out}\n{err}");
    assert!(
        out.contains("https://dsg.example.org/accounts/google/login/callback/"),
        "{out}"
    );
    assert!(
        out.contains("https://dsg.example.org/api/v1/oauth2callback"),
        "{out}"
    );
    assert!(out.contains("not reachable now"), "{out}");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.contains("mode = \"production\"") && text.contains("0.0.0.0:9000"),
        "{text}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let (ok, out, err) = dsg(&["--config", f, "config", "check"], "");
    assert!(ok, "{out}\n{err}");
    assert!(
        out.contains("configuration OK") && out.contains("signup = \"domains\""),
        "{out}"
    );
    assert!(
        !out.contains(
            text.split("secret_key = \"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap()
        ),
        "secret shown"
    );
    // No silent overwrite.
    let (ok, _, err) = dsg(&args, "");
    assert!(!ok && err.contains("--force"), "{err}");
    // A bad answer is refused with what to fix.
    let (ok, _, err) = dsg(
        &[
            "setup",
            "--non-interactive",
            "--force",
            "--output",
            f,
            "--mode",
            "prod",
        ],
        "",
    );
    assert!(!ok && err.contains("mode"), "{err}");
}

#[test]
fn the_interactive_wizard_reads_answers_from_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("conf/dsg.toml");
    let f = file.to_str().unwrap();
    // origin, mode (default), port, database, cookie domain (default),
    // Google JSON (none), Google id, secret, other provider (none), signup.
    let answers = "https://auth.example.org\n\n8300\n\n\n\ngid\ngsecret\n\nexisting\n";
    let (ok, out, err) = dsg(&["setup", "--output", f], answers);
    assert!(ok, "{out}\n{err}");
    let text = std::fs::read_to_string(&file).unwrap();
    for want in [
        "origin = \"https://auth.example.org\"",
        "mode = \"production\"",
        "cookie_domain = \".example.org\"",
        "client_id = \"gid\"",
        "signup = \"existing\"",
    ] {
        assert!(text.contains(want), "{want} missing in\n{text}");
    }
    let (ok, out, err) = dsg(&["--config", f, "config", "check"], "");
    assert!(ok, "{out}\n{err}");
}
