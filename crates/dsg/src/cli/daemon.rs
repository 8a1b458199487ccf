//! Running the server in the background, for `dsg serve --detach` and
//! `dsg stop` (their flags and the foreground server are in `serve`):
//! [`detach`] starts a second `dsg serve` in its own process group, logging
//! to a file, and returns once it listens; [`stop`] ends it (SIGTERM, then
//! SIGKILL after a timeout). The PID file exists exactly while a server
//! listens: the server writes it after binding and removes it when it stops.
//! A helper module: it imports no command.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// Default PID file (relative to the working directory, as the original's `serve.pid`).
pub const DEFAULT_PID_FILE: &str = "serve.pid";
/// Default log file of a detached server.
pub const DEFAULT_LOG_FILE: &str = "serve.log";

/// The state a PID file describes.
#[derive(Debug, PartialEq, Eq)]
enum Recorded {
    /// No file.
    Missing,
    /// The file names no running `dsg serve` (or holds no PID).
    Stale(String),
    /// A running server.
    Running(i32),
}

fn read_pid_file(path: &Path) -> Result<Recorded> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Recorded::Missing),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let Ok(pid) = text.trim().parse::<i32>() else {
        return Ok(Recorded::Stale(format!(
            "it holds no PID ({:?})",
            text.trim()
        )));
    };
    if pid <= 0 {
        return Ok(Recorded::Stale(format!("it holds no valid PID ({pid})")));
    }
    if !sys::alive(pid) {
        return Ok(Recorded::Stale(format!("PID {pid} is not running")));
    }
    if !sys::is_dsg_server(pid) {
        return Ok(Recorded::Stale(format!(
            "PID {pid} is now another program, not `dsg serve`"
        )));
    }
    Ok(Recorded::Running(pid))
}

/// Writes `pid` to `path` atomically (temporary file, then rename).
///
/// # Errors
/// The folder is missing or not writable.
pub fn write_pid_file(path: &Path) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("creating the PID file {}", path.display()))?;
    std::io::Write::write_all(&mut tmp, format!("{}\n", std::process::id()).as_bytes())?;
    tmp.persist(path)
        .with_context(|| format!("writing the PID file {}", path.display()))?;
    Ok(())
}

/// Removes the PID file if it still names this process.
pub fn remove_own_pid_file(path: &Path) {
    let ours = std::fs::read_to_string(path)
        .ok()
        .and_then(|t| t.trim().parse::<u32>().ok())
        == Some(std::process::id());
    if ours && let Err(e) = std::fs::remove_file(path) {
        tracing::warn!(path = %path.display(), error = %e, "could not remove the PID file");
    }
}

/// Refuses to start a second server on the same PID file; clears a stale one.
///
/// # Errors
/// A server already runs under this PID file.
pub fn claim_pid_file(path: &Path) -> Result<()> {
    match read_pid_file(path)? {
        Recorded::Missing => Ok(()),
        Recorded::Stale(why) => {
            eprintln!("removing stale PID file {}: {why}", path.display());
            std::fs::remove_file(path).with_context(|| format!("removing {}", path.display()))
        }
        Recorded::Running(pid) => bail!(
            "a server is already running (PID {pid}, from {}); stop it with `dsg stop --pid-file {}`",
            path.display(),
            path.display()
        ),
    }
}

/// Starts `dsg serve` in the background and waits until it listens.
///
/// # Errors
/// A server already runs, the log file cannot be opened, or the server
/// stopped or did not listen in time (the log's last lines are included).
pub fn detach(
    config: Option<&Path>,
    pid_file: Option<&Path>,
    log_file: Option<&Path>,
    start_timeout: u64,
    bind: &str,
) -> Result<()> {
    let pid_file = absolute(pid_file.unwrap_or(DEFAULT_PID_FILE.as_ref()))?;
    let log_file = absolute(log_file.unwrap_or(DEFAULT_LOG_FILE.as_ref()))?;
    claim_pid_file(&pid_file)?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_file)
        .with_context(|| format!("opening the log file {}", log_file.display()))?;
    let start_of_run = log.metadata().map_or(0, |m| m.len());
    let exe = std::env::current_exe().context("finding the dsg executable")?;
    let mut cmd = std::process::Command::new(exe);
    if let Some(c) = config {
        cmd.arg("--config").arg(absolute(c)?);
    }
    cmd.arg("serve")
        .arg("--pid-file")
        .arg(&pid_file)
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    sys::own_process_group(&mut cmd);
    let mut child = cmd.spawn().context("starting the background server")?;
    let deadline = Instant::now() + Duration::from_secs(start_timeout);
    loop {
        if let Some(status) = child.try_wait()? {
            bail!(
                "the background server stopped at once ({status}); from {}:\n{}",
                log_file.display(),
                log_tail(&log_file, start_of_run)
            );
        }
        if read_pid_file(&pid_file)? == Recorded::Running(child_pid(&child)) {
            println!(
                "DatasetGateway running in the background: PID {}, listening on {bind}\n  \
                 log: {}\n  stop it with: dsg stop --pid-file {}",
                child.id(),
                log_file.display(),
                pid_file.display()
            );
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "the background server (PID {}) did not listen within {} s; it keeps running, \
                 see {} or stop it with `kill {}`:\n{}",
                child.id(),
                start_timeout,
                log_file.display(),
                child.id(),
                log_tail(&log_file, start_of_run)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn child_pid(child: &std::process::Child) -> i32 {
    i32::try_from(child.id()).unwrap_or(-1)
}

/// Stops the server named by the PID file `path`, waiting `timeout` seconds
/// after SIGTERM before SIGKILL.
///
/// # Errors
/// The server survived SIGKILL, or the PID file cannot be read or removed.
pub fn stop(path: &Path, timeout: u64) -> Result<()> {
    let pid = match read_pid_file(path)? {
        Recorded::Missing => {
            println!("no PID file at {}: no server to stop", path.display());
            return Ok(());
        }
        Recorded::Stale(why) => {
            std::fs::remove_file(path).with_context(|| format!("removing {}", path.display()))?;
            println!("no server was running ({why}); removed {}", path.display());
            return Ok(());
        }
        Recorded::Running(pid) => pid,
    };
    sys::terminate(pid)?;
    let deadline = Instant::now() + Duration::from_secs(timeout);
    while sys::alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let how = if sys::alive(pid) {
        sys::kill(pid)?;
        let deadline = Instant::now() + Duration::from_secs(5);
        while sys::alive(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        if sys::alive(pid) {
            bail!("PID {pid} survived SIGKILL");
        }
        format!("killed (it did not stop within {timeout} s of SIGTERM)")
    } else {
        "stopped".to_owned()
    };
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {} // removed by the server
        Err(e) => return Err(e).with_context(|| format!("removing {}", path.display())),
    }
    println!("server PID {pid} {how}");
    Ok(())
}

fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("resolving {}", path.display()))
}

/// The last lines the server wrote to `log` since `from`.
fn log_tail(log: &Path, from: u64) -> String {
    let text = std::fs::read(log).unwrap_or_default();
    let start = usize::try_from(from).unwrap_or(0).min(text.len());
    let text = String::from_utf8_lossy(&text[start..]);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

#[cfg(unix)]
mod sys {
    use anyhow::{Context, Result};
    use rustix::process::{Pid, Signal, kill_process, test_kill_process};

    fn pid(raw: i32) -> Option<Pid> {
        Pid::from_raw(raw)
    }

    /// True while `raw` names a process (zombies count as gone where `/proc` says so).
    pub fn alive(raw: i32) -> bool {
        let Some(p) = pid(raw) else { return false };
        if test_kill_process(p).is_err_and(|e| e != rustix::io::Errno::PERM) {
            return false;
        }
        match std::fs::read_to_string(format!("/proc/{raw}/stat")) {
            // State is the field after the parenthesised command name.
            Ok(stat) => !stat
                .rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
            Err(_) => true,
        }
    }

    /// True when `raw` runs `dsg … serve` (where `/proc` can tell; else assumed).
    pub fn is_dsg_server(raw: i32) -> bool {
        match std::fs::read(format!("/proc/{raw}/cmdline")) {
            Ok(cmdline) => cmdline.split(|b| *b == 0).any(|a| a == b"serve"),
            Err(_) => true,
        }
    }

    pub fn terminate(raw: i32) -> Result<()> {
        let p = pid(raw).context("invalid PID")?;
        kill_process(p, Signal::TERM).with_context(|| format!("sending SIGTERM to PID {raw}"))
    }

    pub fn kill(raw: i32) -> Result<()> {
        let p = pid(raw).context("invalid PID")?;
        kill_process(p, Signal::KILL).with_context(|| format!("sending SIGKILL to PID {raw}"))
    }

    /// The child leads its own process group, so a Ctrl-C or hang-up sent
    /// to the terminal's foreground group does not reach it.
    pub fn own_process_group(cmd: &mut std::process::Command) {
        std::os::unix::process::CommandExt::process_group(cmd, 0);
    }
}

#[cfg(not(unix))]
mod sys {
    use anyhow::{Result, bail};

    pub fn alive(_: i32) -> bool {
        false
    }
    pub fn is_dsg_server(_: i32) -> bool {
        false
    }
    pub fn terminate(_: i32) -> Result<()> {
        bail!("`dsg stop` needs a Unix system")
    }
    pub fn kill(_: i32) -> Result<()> {
        bail!("`dsg stop` needs a Unix system")
    }
    pub fn own_process_group(_: &mut std::process::Command) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_files_are_read_as_missing_stale_or_running() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("serve.pid");
        assert_eq!(read_pid_file(&path).unwrap(), Recorded::Missing);
        std::fs::write(&path, "garbage\n").unwrap();
        assert!(matches!(read_pid_file(&path).unwrap(), Recorded::Stale(_)));
        std::fs::write(&path, "0\n").unwrap();
        assert!(matches!(read_pid_file(&path).unwrap(), Recorded::Stale(_)));
        // This test process is alive but is not `dsg serve`.
        std::fs::write(&path, format!("{}\n", std::process::id())).unwrap();
        assert!(
            matches!(read_pid_file(&path).unwrap(), Recorded::Stale(w) if w.contains("another program"))
        );
        claim_pid_file(&path).unwrap();
        assert!(!path.exists());
    }

    #[test]
    fn the_pid_file_is_removed_only_by_its_own_process() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("serve.pid");
        write_pid_file(&path).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!("{}\n", std::process::id())
        );
        remove_own_pid_file(&path);
        assert!(!path.exists());
        std::fs::write(&path, "1\n").unwrap();
        remove_own_pid_file(&path);
        assert!(path.exists());
    }
}
