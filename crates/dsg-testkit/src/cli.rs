//! The `dsg` binary in another process: run a command against a test
//! server's database, or keep a process environment (`dsg serve` replicas)
//! and stop its servers however a test ends.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use crate::{Backend, TestApp, eventually};

/// The `dsg` binary to run: `DSG_TEST_DSG_BIN` names another build to run
/// instead (`bench/crash.sh`: a release binary); else `CARGO_BIN_EXE_dsg`
/// if the runner sets it at run time; else the `dsg` Cargo built next to the
/// running test binary (`target/<profile>/dsg` beside `deps/`: Cargo builds
/// a package's binaries before its integration tests).
pub fn dsg_bin() -> PathBuf {
    if let Some(bin) =
        std::env::var_os("DSG_TEST_DSG_BIN").or_else(|| std::env::var_os("CARGO_BIN_EXE_dsg"))
    {
        return bin.into();
    }
    let exe = std::env::current_exe().expect("path of the running test binary");
    let dir = exe.parent().expect("test binary directory");
    let dir = if dir.ends_with("deps") {
        dir.parent().expect("target profile directory")
    } else {
        dir
    };
    let bin = dir.join(format!("dsg{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "no dsg binary at {} (set DSG_TEST_DSG_BIN)",
        bin.display()
    );
    bin
}

/// Runs `dsg args` on `app`'s database: (success, stdout, stderr).
pub fn dsg(app: &TestApp, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
    let data_dir = app.data_dir.display().to_string();
    run_dsg(
        None,
        &[
            ("DATABASE_URL", &app.database_url),
            ("DSG_DATABASE__DATA_DIR", &data_dir),
        ],
        args,
        stdin,
    )
}

/// Runs the `dsg` binary ([`dsg_bin`]) with only `PATH` and `env` set, in
/// `dir` (else here), feeding it `stdin`: (success, stdout, stderr).
pub fn run_dsg(
    dir: Option<&std::path::Path>,
    env: &[(&str, &str)],
    args: &[&str],
    stdin: Option<&str>,
) -> (bool, String, String) {
    use std::io::Write;
    let mut cmd = Command::new(dsg_bin());
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    if let Some(d) = dir {
        cmd.current_dir(d);
    }
    let mut child = cmd.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Whether a change made in another process shows: SQLite must be fresh on
/// the next request; PostgreSQL within one second.
pub async fn fresh<F, Fut>(backend: Backend, check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let mut check = check;
    match backend {
        Backend::Sqlite => check().await,
        Backend::Postgres => eventually(Duration::from_secs(1), check).await,
    }
}

/// A `dsg` process environment: its working directory (PID and log files)
/// and its variables (replicas and the crash test).
pub struct Proc {
    /// Working directory.
    pub dir: std::path::PathBuf,
    /// Environment variables.
    pub env: Vec<(String, String)>,
}

impl Proc {
    /// Runs `dsg args` in this environment: (success, stdout, stderr).
    pub fn dsg(&self, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
        let env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        run_dsg(Some(&self.dir), &env, args, stdin)
    }
}

/// Stops every replica however the test ends (also on a failed assertion).
pub struct StopAll(pub Vec<Arc<Proc>>);

impl Drop for StopAll {
    fn drop(&mut self) {
        for p in &self.0 {
            let (ok, out, err) = p.dsg(&["stop", "--timeout", "5"], None);
            if !ok {
                eprintln!("stopping a replica in {}: {out}{err}", p.dir.display());
            }
        }
    }
}
