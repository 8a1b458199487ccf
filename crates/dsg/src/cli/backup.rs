//! `dsg backup` and `dsg restore`: writing and restoring backup bundles. A
//! bundle is `dsg-backup-<YYYYMMDDTHHMMSSZ>.tar.gz` (or `.tar.gz.age` when
//! encrypted to age recipients) holding the database — an online SQLite
//! snapshot (`VACUUM INTO`, then `PRAGMA integrity_check`) or a plain
//! `pg_dump` of the schema — and `manifest.json` with the SHA-256 of every
//! file and the row count of every table. Next to it, an unencrypted
//! `….meta.json` names the artifact and its checksum. `--keep N` removes all
//! but the N newest bundles. `dsg restore` verifies a bundle and, only with
//! `--apply`, replaces the database with it; running servers drop their
//! caches on their next request.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail, ensure};
use clap::Args;
use dsg_core::Timestamp;
use dsg_server::Config;
use dsg_store::write::Actor;
use dsg_store::{Backend, DatabaseTarget, Store};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::database::open_store;

/// Bundle format written in manifests.
const FORMAT: &str = "dsg-backup/1";
const SQLITE_FILE: &str = "db.sqlite3";
const PG_FILE: &str = "db.sql";
const MANIFEST: &str = "manifest.json";

/// `dsg backup`.
#[derive(Debug, Args)]
pub struct BackupArgs {
    /// Directory the bundle is written to (default: `<data_dir>/backups`).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// After writing, keep only the N newest bundles in the directory (N ≥ 1).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    keep: Option<u16>,
    /// Encrypt to this age recipient (`age1…`) or to every recipient listed
    /// in this file; repeatable.
    #[arg(long, value_name = "R")]
    age_recipient: Vec<String>,
}

/// `dsg restore`.
#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The bundle (`….tar.gz` or `….tar.gz.age`).
    bundle: PathBuf,
    /// Replace the database (without it, only verify and report).
    #[arg(long)]
    apply: bool,
    /// age identity file (`AGE-SECRET-KEY-…` lines) for encrypted bundles.
    #[arg(long, value_name = "FILE")]
    age_identity: Option<PathBuf>,
}

fn sha256_file(path: &Path) -> Result<(String, u64)> {
    let mut f = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut h = Sha256::new();
    let n = std::io::copy(&mut f, &mut h)?;
    Ok((hex::encode(h.finalize()), n))
}

#[cfg(unix)]
fn private(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("chmod 600 {}", path.display()))
}

#[cfg(not(unix))]
fn private(_: &Path) -> Result<()> {
    Ok(())
}

/// `YYYYMMDDTHHMMSSZ` of an instant.
fn stamp(t: Timestamp) -> String {
    let s = t.to_rfc3339();
    format!(
        "{}{}{}T{}{}{}Z",
        &s[0..4],
        &s[5..7],
        &s[8..10],
        &s[11..13],
        &s[14..16],
        &s[17..19]
    )
}

/// Row counts of every table in an SQLite file, after `PRAGMA integrity_check`.
fn check_sqlite(path: &Path) -> Result<BTreeMap<String, i64>> {
    let conn =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .with_context(|| format!("opening the snapshot {}", path.display()))?;
    let check: Vec<String> = conn
        .prepare("PRAGMA integrity_check")?
        .query_map([], |r| r.get(0))?
        .collect::<std::result::Result<_, _>>()?;
    ensure!(
        check == ["ok"],
        "integrity check of {} failed: {}",
        path.display(),
        check.join("; ")
    );
    let names: Vec<String> = conn
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
        )?
        .query_map([], |r| r.get(0))?
        .collect::<std::result::Result<_, _>>()?;
    let mut out = BTreeMap::new();
    for n in names {
        let count: i64 = conn.query_row(
            &format!("SELECT COUNT(*) FROM \"{}\"", n.replace('"', "\"\"")),
            [],
            |r| r.get(0),
        )?;
        out.insert(n, count);
    }
    Ok(out)
}

/// Row counts of every table in a plain `pg_dump` file (rows of its `COPY` blocks).
fn pg_dump_counts(path: &Path) -> Result<BTreeMap<String, i64>> {
    let text = std::fs::read_to_string(path)?;
    ensure!(
        text.contains("-- PostgreSQL database dump complete"),
        "{} is not a complete pg_dump (the end marker is missing)",
        path.display()
    );
    let mut out = BTreeMap::new();
    let mut current: Option<(String, i64)> = None;
    for line in text.lines() {
        if let Some((name, n)) = current.as_mut() {
            if line == "\\." {
                out.insert(std::mem::take(name), *n);
                current = None;
            } else {
                *n += 1;
            }
        } else if let Some(rest) = line.strip_prefix("COPY ")
            && line.ends_with("FROM stdin;")
        {
            let qualified = rest.split_whitespace().next().unwrap_or_default();
            let table = qualified
                .rsplit('.')
                .next()
                .unwrap_or(qualified)
                .trim_matches('"');
            current = Some((table.to_owned(), 0));
        }
    }
    Ok(out)
}

fn pg_url(config: &Config) -> Result<String> {
    match config.database_target()? {
        DatabaseTarget::Postgres(url) => Ok(url),
        DatabaseTarget::Sqlite(_) => bail!("not a PostgreSQL database"),
    }
}

fn run_tool(cmd: &mut Command, what: &str) -> Result<()> {
    let out = cmd.output().with_context(|| {
        format!("running {what} (is the PostgreSQL client installed and on PATH?)")
    })?;
    ensure!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(())
}

fn recipients(args: &[String]) -> Result<Vec<age::x25519::Recipient>> {
    let mut out = Vec::new();
    for r in args {
        let text = if r.starts_with("age1") {
            r.clone()
        } else {
            std::fs::read_to_string(r).with_context(|| {
                format!("--age-recipient {r:?} is neither an age1… key nor a readable file")
            })?
        };
        for line in text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            out.push(
                line.parse::<age::x25519::Recipient>()
                    .map_err(|e| anyhow::anyhow!("age recipient {line:?}: {e}"))?,
            );
        }
    }
    Ok(out)
}

/// Runs `dsg backup` on the configured database.
///
/// # Errors
/// See [`write_bundle`]; also an unreachable database.
pub async fn backup(config: &Config, args: BackupArgs) -> Result<()> {
    let store = open_store(config).await?;
    let out = write_bundle(config, &store, args).await;
    store.close().await;
    out
}

/// Writes a bundle of `store`'s database.
///
/// # Errors
/// Snapshot, integrity, dump, encryption or file-system failures; nothing
/// is left in the output directory then.
async fn write_bundle(config: &Config, store: &Store, args: BackupArgs) -> Result<()> {
    let keys = recipients(&args.age_recipient)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| config.database.data_dir.join("backups"));
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let ext = if keys.is_empty() {
        "tar.gz"
    } else {
        "tar.gz.age"
    };
    let (created, name) = loop {
        let now = Timestamp(dsg_store::now_micros());
        let name = format!("dsg-backup-{}", stamp(now));
        if !out.join(format!("{name}.tar.gz")).exists()
            && !out.join(format!("{name}.tar.gz.age")).exists()
        {
            break (now, name);
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    let staging = tempfile::Builder::new()
        .prefix(".dsg-backup-")
        .tempdir_in(&out)?;
    let backend = store.backend();
    let (file, tables) = match backend {
        Backend::Sqlite => {
            let p = staging.path().join(SQLITE_FILE);
            store
                .sqlite_snapshot(&p)
                .await
                .context("snapshot (VACUUM INTO)")?;
            (SQLITE_FILE, check_sqlite(&p)?)
        }
        Backend::Postgres => {
            let url = pg_url(config)?;
            let schema = store.current_schema().await?;
            let p = staging.path().join(PG_FILE);
            run_tool(
                Command::new("pg_dump")
                    .arg(format!("--dbname={url}"))
                    .arg(format!("--schema={schema}"))
                    .args(["--no-owner", "--no-privileges", "--clean", "--if-exists"])
                    .arg(format!("--file={}", p.display())),
                "pg_dump",
            )?;
            (PG_FILE, pg_dump_counts(&p)?)
        }
    };
    let (sha, bytes) = sha256_file(&staging.path().join(file))?;
    let (applied, _) = store.migration_status().await?;
    let manifest = json!({
        "format": FORMAT,
        "name": name,
        "created_utc": created.to_rfc3339(),
        "dsg_version": env!("CARGO_PKG_VERSION"),
        "backend": backend.as_str(),
        "migrations": applied,
        "tables": tables,
        "files": [{"name": file, "sha256": sha, "bytes": bytes}],
    });
    std::fs::write(
        staging.path().join(MANIFEST),
        serde_json::to_vec_pretty(&manifest)?,
    )?;

    let artifact = out.join(format!("{name}.{ext}"));
    let partial = staging.path().join("bundle.partial");
    let sink = BufWriter::new(File::create(&partial)?);
    let files = [MANIFEST, file];
    let sink = if keys.is_empty() {
        write_tar(sink, staging.path(), &files)?
    } else {
        let enc = age::Encryptor::with_recipients(keys.iter().map(|k| k as &dyn age::Recipient))
            .map_err(|e| anyhow::anyhow!("age: {e}"))?;
        write_tar(enc.wrap_output(sink)?, staging.path(), &files)?.finish()?
    };
    sink.into_inner()
        .map_err(|e| anyhow::anyhow!("writing {}: {}", partial.display(), e.error()))?
        .sync_all()?;
    private(&partial)?;
    std::fs::rename(&partial, &artifact)?;
    let (artifact_sha, size) = sha256_file(&artifact)?;
    let meta = out.join(format!("{name}.meta.json"));
    std::fs::write(
        &meta,
        serde_json::to_vec_pretty(&json!({
            "name": name, "created_utc": created.to_rfc3339(), "backend": backend.as_str(),
            "encrypted": !keys.is_empty(),
            "artifact": artifact.file_name().map(|f| f.to_string_lossy().into_owned()),
            "artifact_sha256": artifact_sha, "artifact_size_bytes": size,
        }))?,
    )?;
    private(&meta)?;
    println!(
        "Backup complete: {} ({size} bytes, sha256 {}…, {})",
        artifact.display(),
        &artifact_sha[..12],
        if keys.is_empty() {
            "UNENCRYPTED"
        } else {
            "encrypted"
        }
    );
    if let Some(keep) = args.keep {
        prune(&out, usize::from(keep))?;
    }
    Ok(())
}

/// Writes a gzipped tar of `files` (from `dir`) into `w` and returns `w`.
fn write_tar<W: Write>(w: W, dir: &Path, files: &[&str]) -> Result<W> {
    let gz = flate2::write::GzEncoder::new(w, flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    for f in files {
        tar.append_path_with_name(dir.join(f), f)?;
    }
    Ok(tar.into_inner()?.finish()?)
}

/// Deletes all but the `keep` newest bundles (and their sidecars) in `dir`.
fn prune(dir: &Path, keep: usize) -> Result<()> {
    let mut stems: Vec<String> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter_map(|n| {
            let stem = n
                .strip_suffix(".tar.gz.age")
                .or_else(|| n.strip_suffix(".tar.gz"))?;
            stem.starts_with("dsg-backup-").then(|| stem.to_owned())
        })
        .collect();
    stems.sort();
    stems.dedup();
    stems.reverse(); // newest first: the stamps sort as text
    let (mut bundles, mut files) = (0, 0);
    for stem in stems.iter().skip(keep) {
        bundles += 1;
        for ext in ["tar.gz", "tar.gz.age", "meta.json"] {
            let p = dir.join(format!("{stem}.{ext}"));
            if p.exists() {
                std::fs::remove_file(&p).with_context(|| format!("removing {}", p.display()))?;
                files += 1;
            }
        }
    }
    if bundles > 0 {
        println!(
            "Pruned {bundles} bundle(s) ({files} file(s)); {} retained.",
            stems.len().min(keep)
        );
    }
    Ok(())
}

fn identities(path: &Path) -> Result<Vec<age::x25519::Identity>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let ids: Vec<_> = text
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("AGE-SECRET-KEY-"))
        .map(|l| {
            l.parse::<age::x25519::Identity>()
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
        })
        .collect::<Result<_>>()?;
    ensure!(
        !ids.is_empty(),
        "{} holds no AGE-SECRET-KEY- line",
        path.display()
    );
    Ok(ids)
}

/// Opens a bundle for reading, decrypting `.age` bundles.
fn open_bundle(path: &Path, identity: Option<&Path>) -> Result<Box<dyn Read>> {
    let name = path.to_string_lossy();
    if !name.ends_with(".tar.gz") && !name.ends_with(".tar.gz.age") {
        bail!(
            "{}: a bundle ends in .tar.gz or .tar.gz.age",
            path.display()
        );
    }
    let file =
        BufReader::new(File::open(path).with_context(|| format!("opening {}", path.display()))?);
    if name.ends_with(".tar.gz.age") {
        let Some(id) = identity else {
            bail!("{} is encrypted: pass --age-identity FILE", path.display());
        };
        let ids = identities(id)?;
        let dec = age::Decryptor::new_buffered(file)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let reader = dec
            .decrypt(ids.iter().map(|i| i as &dyn age::Identity))
            .map_err(|e| anyhow::anyhow!("cannot decrypt {}: {e}", path.display()))?;
        Ok(Box::new(reader))
    } else {
        Ok(Box::new(file))
    }
}

/// Extracts the bundle's known files into `dir`, refusing anything else.
fn extract(reader: Box<dyn Read>, dir: &Path) -> Result<()> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(reader));
    for entry in archive.entries().context("reading the bundle")? {
        let mut entry = entry?;
        let name = entry.path()?.to_string_lossy().into_owned();
        ensure!(
            entry.header().entry_type().is_file()
                && [MANIFEST, SQLITE_FILE, PG_FILE].contains(&name.as_str()),
            "unexpected entry {name:?} in the bundle; refusing it"
        );
        let mut out = File::create(dir.join(&name))?;
        std::io::copy(&mut entry, &mut out)?;
    }
    Ok(())
}

/// Runs `dsg restore` on the configured database.
///
/// # Errors
/// See [`restore_bundle`]; also an unreachable database.
pub async fn restore(config: &Config, args: RestoreArgs) -> Result<()> {
    let store = open_store(config).await?;
    let out = restore_bundle(config, &store, args).await;
    store.close().await;
    out
}

/// Verifies a bundle and, with `--apply`, replaces `store`'s database with it.
///
/// # Errors
/// An unreadable, tampered or mismatched bundle; a failed replacement.
async fn restore_bundle(config: &Config, store: &Store, args: RestoreArgs) -> Result<()> {
    let reader = open_bundle(&args.bundle, args.age_identity.as_deref())?;
    let work = tempfile::tempdir()?;
    extract(reader, work.path())?;
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(work.path().join(MANIFEST)).context("the bundle has no manifest.json")?,
    )
    .context("manifest.json is not JSON")?;
    ensure!(
        manifest["format"] == FORMAT,
        "unknown bundle format {}",
        manifest["format"]
    );
    let files = manifest["files"]
        .as_array()
        .filter(|f| !f.is_empty())
        .context("the manifest lists no files")?;
    for f in files {
        let name = f["name"].as_str().context("manifest file without a name")?;
        let (sha, _) = sha256_file(&work.path().join(name))
            .with_context(|| format!("{name} is missing from the bundle"))?;
        ensure!(
            Some(sha.as_str()) == f["sha256"].as_str(),
            "checksum mismatch for {name}: the bundle is damaged or was altered"
        );
    }
    println!(
        "Verified {} file checksum(s) against manifest.",
        files.len()
    );
    let bundle_backend = manifest["backend"].as_str().unwrap_or_default();
    ensure!(
        bundle_backend == store.backend().as_str(),
        "this bundle holds a {bundle_backend} database; the configured database is {} — restore it into the same kind",
        store.backend().as_str()
    );
    let (_, known) = store.migration_status().await?;
    let bundle_migrations = manifest["migrations"].as_u64().unwrap_or_default();
    ensure!(
        usize::try_from(bundle_migrations).unwrap_or(usize::MAX) <= known,
        "this bundle's database is at migration {bundle_migrations}, newer than this dsg knows ({known}); restore it with a newer dsg"
    );
    let bundle_counts: BTreeMap<String, i64> = match store.backend() {
        Backend::Sqlite => check_sqlite(&work.path().join(SQLITE_FILE))?,
        Backend::Postgres => pg_dump_counts(&work.path().join(PG_FILE))?,
    };
    let now = store.table_counts().await?;
    let target = config.database_target()?.describe();
    println!(
        "Bundle {}: created {}, dsg {}, {} migration(s).",
        manifest["name"].as_str().unwrap_or_default(),
        manifest["created_utc"].as_str().unwrap_or_default(),
        manifest["dsg_version"].as_str().unwrap_or_default(),
        manifest["migrations"]
    );
    println!(
        "{} the database {target}:",
        if args.apply {
            "Replacing"
        } else {
            "Would replace"
        }
    );
    println!("  {:<28} {:>10} {:>10}", "TABLE", "BUNDLE", "NOW");
    let mut names: Vec<&String> = bundle_counts.keys().chain(now.keys()).collect();
    names.sort();
    names.dedup();
    for n in names {
        let show = |m: &BTreeMap<String, i64>| m.get(n).map_or("-".to_owned(), i64::to_string);
        println!("  {n:<28} {:>10} {:>10}", show(&bundle_counts), show(&now));
    }
    if !args.apply {
        println!("Verify OK (dry run). Re-run with --apply to restore.");
        return Ok(());
    }
    let seen = store.latest_event_seq().await?;
    match store.backend() {
        Backend::Sqlite => {
            let live = store.sqlite_path().context("no SQLite path")?.to_owned();
            let snapshot = work.path().join(SQLITE_FILE);
            tokio::task::spawn_blocking(move || -> Result<()> {
                let mut dst = rusqlite::Connection::open(&live)?;
                dst.busy_timeout(std::time::Duration::from_secs(30))?;
                dst.restore(
                    rusqlite::MAIN_DB,
                    &snapshot,
                    None::<fn(rusqlite::backup::Progress)>,
                )?;
                Ok(())
            })
            .await??;
        }
        Backend::Postgres => {
            let url = pg_url(config)?;
            run_tool(
                Command::new("psql")
                    .arg(format!("--dbname={url}"))
                    .args([
                        "--single-transaction",
                        "--quiet",
                        "--no-psqlrc",
                        "-v",
                        "ON_ERROR_STOP=1",
                    ])
                    .arg(format!("--file={}", work.path().join(PG_FILE).display())),
                "psql",
            )?;
        }
    }
    // A bundle from an older version is brought up to this version's schema.
    store.migrate().await?;
    store.resume_events_after(seen).await?;
    let mut tx = store.begin(Actor::cli("restore")).await?;
    tx.invalidate(dsg_store::CacheEvent::All);
    tx.audit(
        "database_restored",
        "Command",
        "restore",
        None,
        Some(json!({"bundle": args.bundle.display().to_string(), "created_utc": manifest["created_utc"],
                    "tables": bundle_counts})),
    )
    .await?;
    tx.commit().await?;
    println!("Restored {target} from {}.", args.bundle.display());
    Ok(())
}
