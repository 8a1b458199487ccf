//! `dsg import django-dsg PATH`: everything in a Django DatasetGateway SQLite
//! database (the tables of spec §2), so a deployment can switch over.
//!
//! Users, groups, memberships, datasets with buckets and versions, services,
//! service tables and public roots, TOS documents (with their landing-page
//! tokens) and acceptances, group permissions, grants, service accounts with
//! their grants, and **every API key and service-account token**: the
//! original stores them in plaintext; here each is stored as its SHA-256, so
//! the same token keeps authenticating. Entities are matched by their natural
//! keys (e-mail case-insensitively, names, invite tokens, token hashes), so a
//! second run finds everything present. Rows that cannot be imported are
//! listed with the reason.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use dsg_core::token::ApiToken;
use dsg_core::{DomainError, Timestamp};
use rusqlite::types::Value as Sql;
use rusqlite::{Connection, OpenFlags};
use serde_json::json;

use super::{ImportReport, Log, finish, repr, why};
use crate::datasets::NewTos;
use crate::events::CacheEvent;
use crate::grants::NewGrant;
use crate::service_accounts::validate_slug;
use crate::tokens::NewToken;
use crate::users::{NewUser, validate_email};
use crate::{Result, Store, WriteTx, now_micros, on_tx};

/// One source row: column name → value (missing columns read as NULL).
#[derive(Debug, Clone, Default)]
pub struct Row(HashMap<String, Sql>);

impl Row {
    fn get(&self, c: &str) -> &Sql {
        self.0.get(c).unwrap_or(&Sql::Null)
    }

    fn i(&self, c: &str) -> Option<i64> {
        match self.get(c) {
            Sql::Integer(v) => Some(*v),
            Sql::Text(t) => t.trim().parse().ok(),
            _ => None,
        }
    }

    fn id(&self) -> i64 {
        self.i("id").unwrap_or_default()
    }

    fn s(&self, c: &str) -> String {
        match self.get(c) {
            Sql::Text(t) => t.clone(),
            Sql::Integer(v) => v.to_string(),
            Sql::Real(v) => v.to_string(),
            Sql::Blob(b) => String::from_utf8_lossy(b).into_owned(),
            Sql::Null => String::new(),
        }
    }

    fn opt_s(&self, c: &str) -> Option<String> {
        Some(self.s(c)).filter(|s| !s.is_empty())
    }

    fn b(&self, c: &str, default: bool) -> bool {
        match self.get(c) {
            Sql::Integer(v) => *v != 0,
            Sql::Text(t) => matches!(t.trim().to_lowercase().as_str(), "1" | "true" | "t"),
            Sql::Null => default,
            _ => default,
        }
    }

    /// A Django datetime (`2025-01-02 03:04:05.123456`, UTC, offset optional).
    fn t(&self, c: &str) -> Option<Timestamp> {
        let s = self.s(c);
        let s = s.trim();
        if s.is_empty() {
            return None;
        }
        Timestamp::parse(s).or_else(|| Timestamp::parse(&format!("{s}Z")))
    }
}

/// The source database, read into memory.
#[derive(Debug, Default)]
pub struct DjangoDb {
    tables: BTreeMap<&'static str, Vec<Row>>,
    missing: Vec<&'static str>,
}

/// Tables read from the source, in import order.
const TABLES: &[&str] = &[
    "permission",
    "dsg_user",
    "affiliation",
    "dsg_group",
    "user_group",
    "service",
    "dataset",
    "dataset_bucket",
    "dataset_version",
    "dataset_version_buckets",
    "tos_document",
    "tos_acceptance",
    "service_table",
    "public_root",
    "group_dataset_permission",
    "grant",
    "api_key",
    "service_account",
    "service_account_token",
    "service_account_grant",
    // Newer upstream (migrations 0010/0014): per-service names of datasets.
    "dataset_translation",
    "dataset_alias",
];

/// Reads every table of §2 from the SQLite file at `path` (opened read-only).
///
/// # Errors
/// [`DomainError::Invalid`] when the file is missing, not SQLite, or has no `dsg_user` table.
pub fn read(path: &Path) -> Result<DjangoDb, DomainError> {
    let bad = |e: rusqlite::Error| DomainError::Invalid(format!("{}: {e}", path.display()));
    if !path.is_file() {
        return Err(DomainError::Invalid(format!(
            "{}: no such file",
            path.display()
        )));
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(bad)?;
    let present: HashSet<String> = {
        let mut st = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
            .map_err(bad)?;
        st.query_map([], |r| r.get::<_, String>(0))
            .map_err(bad)?
            .collect::<std::result::Result<_, _>>()
            .map_err(bad)?
    };
    if !present.contains("dsg_user") {
        return Err(DomainError::Invalid(format!(
            "{} is not a Django DatasetGateway database (it has no dsg_user table)",
            path.display()
        )));
    }
    let mut db = DjangoDb::default();
    for &table in TABLES {
        if !present.contains(table) {
            db.missing.push(table);
            continue;
        }
        let mut st = conn
            .prepare(&format!("SELECT * FROM \"{table}\" ORDER BY 1"))
            .map_err(bad)?;
        let cols: Vec<String> = st.column_names().iter().map(|c| (*c).to_owned()).collect();
        let rows = st
            .query_map([], |r| {
                let mut m = HashMap::new();
                for (i, c) in cols.iter().enumerate() {
                    m.insert(c.clone(), r.get::<_, Sql>(i)?);
                }
                Ok(Row(m))
            })
            .map_err(bad)?
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(bad)?;
        db.tables.insert(table, rows);
    }
    Ok(db)
}

/// Per-table tallies for the report.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    new: usize,
    present: usize,
    skipped: usize,
}

/// State of one run: tallies, skip reasons and source-id → local-id maps.
#[derive(Default)]
struct Run {
    tally: BTreeMap<&'static str, Tally>,
    skipped: Vec<String>,
    notes: Vec<String>,
    perms: HashMap<i64, String>,
    users: HashMap<i64, i64>,
    emails: HashMap<i64, String>,
    new_users: HashSet<i64>,
    groups: HashMap<i64, i64>,
    services: HashMap<i64, i64>,
    datasets: HashMap<i64, i64>,
    buckets: HashMap<i64, i64>,
    versions: HashMap<i64, i64>,
    tos: HashMap<i64, i64>,
    tables: HashMap<i64, i64>,
    sas: HashMap<i64, i64>,
}

impl Run {
    fn added(&mut self, t: &'static str, log: &mut Log) {
        self.tally.entry(t).or_default().new += 1;
        log.changed();
    }

    fn present(&mut self, t: &'static str) {
        self.tally.entry(t).or_default().present += 1;
    }

    fn skip(&mut self, t: &'static str, id: i64, what: &str, reason: impl std::fmt::Display) {
        self.tally.entry(t).or_default().skipped += 1;
        let what = if what.is_empty() {
            String::new()
        } else {
            format!(" ({what})")
        };
        self.skipped.push(format!("  {t} #{id}{what}: {reason}"));
    }

    fn user(&self, r: &Row, c: &str) -> Option<i64> {
        r.i(c).and_then(|id| self.users.get(&id).copied())
    }

    fn perm(&self, r: &Row) -> Option<String> {
        r.i("permission_id")
            .and_then(|id| self.perms.get(&id).cloned())
    }
}

/// Runs a lookup query returning an optional id inside the transaction.
macro_rules! lookup {
    ($tx:expr, $sql:expr $(, $arg:expr)*) => {{
        let v: Option<i64> = on_tx!(&mut $tx.tx, conn => sqlx::query_scalar($sql)$(.bind($arg))*.fetch_optional(conn).await)?;
        v
    }};
}

impl Store {
    /// Imports a Django DatasetGateway database read by [`read`].
    ///
    /// # Errors
    /// The database is unreachable; nothing is written then.
    pub async fn import_django(
        &self,
        src: &DjangoDb,
        source: &str,
        dry_run: bool,
    ) -> Result<ImportReport> {
        let mut tx = self.begin_import("import django-dsg").await?;
        let mut log = Log::default();
        let mut run = Run::default();
        let rows = |t: &str| src.tables.get(t).map_or(&[][..], Vec::as_slice);
        let now = Timestamp(now_micros());

        for r in rows("permission") {
            let name = r.s("name");
            if name.is_empty() {
                continue;
            }
            if tx.permission_id(&name).await.is_err() {
                tx.ensure_permission(&name).await?;
                run.added("permission", &mut log);
            } else {
                run.present("permission");
            }
            run.perms.insert(r.id(), name);
        }
        if run.perms.is_empty() {
            for (i, p) in ["view", "edit", "manage", "admin"].iter().enumerate() {
                run.perms.insert(i as i64 + 1, (*p).to_owned());
            }
        }

        import_users(&mut tx, &mut run, &mut log, rows("dsg_user")).await?;

        for r in rows("affiliation") {
            let name = r.s("name");
            match run.user(r, "user_id") {
                None => run.skip("affiliation", r.id(), &name, "its user was not imported"),
                Some(_) if name.trim().is_empty() => {
                    run.skip("affiliation", r.id(), "", "empty name")
                }
                Some(uid) if tx.has_affiliation(uid, &name).await? => run.present("affiliation"),
                Some(uid) => {
                    tx.add_affiliation(uid, &name).await?;
                    run.added("affiliation", &mut log);
                }
            }
        }

        for r in rows("dsg_group") {
            let name = r.s("name");
            if name.trim().is_empty() {
                run.skip("dsg_group", r.id(), "", "empty name");
                continue;
            }
            let (gid, created) = tx.ensure_group(&name).await?;
            if created {
                run.added("dsg_group", &mut log);
                tx.keep_scim_ids("dsg_group", gid, r.opt_s("scim_id"), r.opt_s("external_id"))
                    .await?;
            } else {
                run.present("dsg_group");
            }
            run.groups.insert(r.id(), gid);
        }
        for r in rows("user_group") {
            let (Some(uid), Some(gid)) = (
                run.user(r, "user_id"),
                r.i("group_id").and_then(|g| run.groups.get(&g).copied()),
            ) else {
                run.skip(
                    "user_group",
                    r.id(),
                    "",
                    "its user or group was not imported",
                );
                continue;
            };
            if tx.ensure_member(uid, gid, r.b("is_admin", false)).await? {
                run.added("user_group", &mut log);
            } else {
                run.present("user_group");
            }
        }

        for r in rows("service") {
            let name = r.s("name");
            match lookup!(tx, "SELECT id FROM service WHERE name = $1", &name) {
                Some(id) => {
                    run.present("service");
                    run.services.insert(r.id(), id);
                }
                None if name.trim().is_empty() => run.skip("service", r.id(), "", "empty name"),
                None => {
                    let id = tx
                        .create_service(
                            &name,
                            &r.s("display_name"),
                            &r.s("base_url"),
                            dsg_core::permissions::VersionEvalMode::parse(
                                &r.s("version_eval_mode"),
                            )
                            .unwrap_or_default(),
                        )
                        .await?;
                    run.added("service", &mut log);
                    run.services.insert(r.id(), id);
                }
            }
        }

        for r in rows("dataset") {
            let name = r.s("name");
            match lookup!(tx, "SELECT id FROM dataset WHERE name = $1", &name) {
                Some(id) => {
                    run.present("dataset");
                    run.datasets.insert(r.id(), id);
                }
                None if name.trim().is_empty() => run.skip("dataset", r.id(), "", "empty name"),
                None => {
                    let mut mode = r.s("access_mode");
                    if !matches!(mode.as_str(), "closed" | "public") {
                        run.notes.push(format!(
                            "  dataset {name}: access mode {} imported as 'closed'",
                            repr(&mode)
                        ));
                        mode = "closed".into();
                    }
                    let id = tx.create_dataset(&name, &r.s("description"), &mode).await?;
                    tx.keep_scim_ids("dataset", id, r.opt_s("scim_id"), r.opt_s("external_id"))
                        .await?;
                    run.added("dataset", &mut log);
                    run.datasets.insert(r.id(), id);
                }
            }
        }
        for r in rows("dataset_bucket") {
            let name = r.s("name");
            let Some(did) = r
                .i("dataset_id")
                .and_then(|d| run.datasets.get(&d).copied())
            else {
                run.skip(
                    "dataset_bucket",
                    r.id(),
                    &name,
                    "its dataset was not imported",
                );
                continue;
            };
            match lookup!(
                tx,
                "SELECT id FROM dataset_bucket WHERE dataset_id = $1 AND name = $2",
                did,
                &name
            ) {
                Some(id) => {
                    run.present("dataset_bucket");
                    run.buckets.insert(r.id(), id);
                }
                None => {
                    let id = tx.add_bucket(did, &name).await?;
                    run.added("dataset_bucket", &mut log);
                    run.buckets.insert(r.id(), id);
                }
            }
        }
        let links = rows("dataset_version_buckets");
        for r in rows("dataset_version") {
            let version = r.s("version");
            let Some(did) = r
                .i("dataset_id")
                .and_then(|d| run.datasets.get(&d).copied())
            else {
                run.skip(
                    "dataset_version",
                    r.id(),
                    &version,
                    "its dataset was not imported",
                );
                continue;
            };
            match lookup!(
                tx,
                "SELECT id FROM dataset_version WHERE dataset_id = $1 AND version = $2",
                did,
                &version
            ) {
                Some(id) => {
                    run.present("dataset_version");
                    run.versions.insert(r.id(), id);
                }
                None => {
                    let buckets: Vec<i64> = links
                        .iter()
                        .filter(|l| l.i("datasetversion_id") == Some(r.id()))
                        .filter_map(|l| {
                            l.i("datasetbucket_id")
                                .and_then(|b| run.buckets.get(&b).copied())
                        })
                        .collect();
                    let id = tx
                        .add_version(
                            did,
                            &version,
                            &r.s("prefix"),
                            r.b("is_public", false),
                            &buckets,
                            &crate::datasets::VersionPlace {
                                branch: r
                                    .opt_s("branch")
                                    .filter(|b| !b.trim().is_empty())
                                    .unwrap_or_else(|| "main".into()),
                                ordinal: r.i("ordinal"),
                            },
                        )
                        .await?;
                    run.added("dataset_version", &mut log);
                    run.versions.insert(r.id(), id);
                }
            }
        }

        // Translations: the table's name before and after upstream's rename.
        for table in ["dataset_translation", "dataset_alias"] {
            import_translations(&mut tx, &mut run, &mut log, table, rows(table)).await?;
        }

        import_tos(&mut tx, &mut run, &mut log, rows("tos_document"), now).await?;
        for r in rows("dataset") {
            let (Some(did), Some(tid)) = (
                run.datasets.get(&r.id()).copied(),
                r.i("tos_id").and_then(|t| run.tos.get(&t).copied()),
            ) else {
                continue;
            };
            let current: Option<Option<i64>> = on_tx!(&mut tx.tx, conn => sqlx::query_scalar("SELECT tos_id FROM dataset WHERE id = $1")
                .bind(did).fetch_optional(conn).await)?;
            let current = current.flatten();
            match current {
                Some(c) if c == tid => {}
                Some(_) => run.notes.push(format!(
                    "  dataset {}: already gated by another terms-of-service document here; left as it is",
                    r.s("name")
                )),
                None => {
                    tx.set_dataset_tos(did, Some(tid)).await?;
                    log.changed();
                    run.notes.push(format!("  dataset {}: gated by its terms of service", r.s("name")));
                }
            }
        }
        for r in rows("tos_acceptance") {
            let (Some(uid), Some(tid)) = (
                run.user(r, "user_id"),
                r.i("tos_document_id")
                    .and_then(|t| run.tos.get(&t).copied()),
            ) else {
                run.skip(
                    "tos_acceptance",
                    r.id(),
                    "",
                    "its user or document was not imported",
                );
                continue;
            };
            if lookup!(
                tx,
                "SELECT id FROM tos_acceptance WHERE user_id = $1 AND tos_document_id = $2",
                uid,
                tid
            )
            .is_some()
            {
                run.present("tos_acceptance");
            } else {
                let ip = r.opt_s("ip_address");
                tx.accept_tos(uid, tid, ip.as_deref()).await?;
                run.added("tos_acceptance", &mut log);
            }
        }

        for r in rows("service_table") {
            let (svc, table) = (r.s("service_name"), r.s("table_name"));
            let what = format!("{svc}/{table}");
            let Some(did) = r
                .i("dataset_id")
                .and_then(|d| run.datasets.get(&d).copied())
            else {
                run.skip(
                    "service_table",
                    r.id(),
                    &what,
                    "its dataset was not imported",
                );
                continue;
            };
            let found: Option<(i64, i64)> = on_tx!(&mut tx.tx, conn => sqlx::query_as(
                "SELECT id, dataset_id FROM service_table WHERE service_name = $1 AND table_name = $2")
                .bind(&svc).bind(&table).fetch_optional(conn).await)?;
            match found {
                Some((id, d)) if d == did => {
                    run.present("service_table");
                    run.tables.insert(r.id(), id);
                }
                Some(_) => run.skip(
                    "service_table",
                    r.id(),
                    &what,
                    "mapped to another dataset here",
                ),
                None => {
                    let id = tx.add_service_table(did, &svc, &table).await?;
                    run.added("service_table", &mut log);
                    run.tables.insert(r.id(), id);
                }
            }
        }
        for r in rows("public_root") {
            let root = r.i("root_id");
            let (Some(st), Some(root)) = (
                r.i("service_table_id")
                    .and_then(|s| run.tables.get(&s).copied()),
                root,
            ) else {
                run.skip(
                    "public_root",
                    r.id(),
                    "",
                    "its service table was not imported",
                );
                continue;
            };
            if lookup!(
                tx,
                "SELECT id FROM public_root WHERE service_table_id = $1 AND root_id = $2",
                st,
                root
            )
            .is_some()
            {
                run.present("public_root");
            } else {
                tx.add_public_root(st, root).await?;
                run.added("public_root", &mut log);
            }
        }

        for r in rows("group_dataset_permission") {
            let (Some(gid), Some(did), Some(perm)) = (
                r.i("group_id").and_then(|g| run.groups.get(&g).copied()),
                r.i("dataset_id")
                    .and_then(|d| run.datasets.get(&d).copied()),
                run.perm(r),
            ) else {
                run.skip(
                    "group_dataset_permission",
                    r.id(),
                    "",
                    "its group, dataset or permission was not imported",
                );
                continue;
            };
            let service = r
                .i("service_id")
                .and_then(|s| run.services.get(&s).copied());
            if tx.ensure_group_permission(gid, did, &perm, service).await? {
                run.added("group_dataset_permission", &mut log);
            } else {
                run.present("group_dataset_permission");
            }
        }

        import_grants(&mut tx, &mut run, &mut log, rows("grant")).await?;
        import_tokens(&mut tx, &mut run, &mut log, rows("api_key"), now).await?;
        import_service_accounts(&mut tx, &mut run, &mut log, src).await?;

        // The report.
        log.line(format!("Source: {source} (Django DatasetGateway database)"));
        log.line("");
        log.line(format!(
            "  {:<26} {:>8} {:>8} {:>8}",
            "TABLE", "NEW", "PRESENT", "SKIPPED"
        ));
        for t in TABLES {
            if let Some(c) = run.tally.get(t) {
                log.line(format!(
                    "  {t:<26} {:>8} {:>8} {:>8}",
                    c.new, c.present, c.skipped
                ));
            }
        }
        if !run.notes.is_empty() {
            log.line("");
            log.line("Notes:");
            for n in &run.notes {
                log.line(n.clone());
            }
        }
        if !run.skipped.is_empty() {
            log.line("");
            log.line(format!("Skipped ({}):", run.skipped.len()));
            for s in &run.skipped {
                log.line(s.clone());
            }
        }
        let missing: Vec<&str> = src
            .missing
            .iter()
            .copied()
            .filter(|t| *t != "dataset_version_buckets")
            .collect();
        if !missing.is_empty() {
            log.line("");
            log.line(format!(
                "Not in the source (an older schema; nothing to import): {}",
                missing.join(", ")
            ));
        }
        let new: BTreeMap<&str, usize> = run.tally.iter().map(|(k, v)| (*k, v.new)).collect();
        let summary = json!({"source": source, "new": new, "skipped": run.skipped.len()});
        tx.invalidate(CacheEvent::All);
        finish(tx, "import_django_dsg", summary, log, dry_run).await
    }
}

async fn import_users(tx: &mut WriteTx, run: &mut Run, log: &mut Log, rows: &[Row]) -> Result<()> {
    let mut by_lower: HashMap<String, (i64, String)> = HashMap::new();
    for r in rows {
        let email = r.s("email").trim().to_owned();
        if let Err(e) = validate_email(&email) {
            run.skip("dsg_user", r.id(), &email, why(&e));
            continue;
        }
        if let Some((first, first_email)) = by_lower.get(&email.to_lowercase()) {
            // E-mails are unique regardless of case here: merge into the first.
            run.users.insert(r.id(), *first);
            run.emails.insert(r.id(), email.clone());
            run.skip(
                "dsg_user",
                r.id(),
                &email,
                format!(
                    "merged into {first_email}: e-mail addresses here are unique regardless of case"
                ),
            );
            continue;
        }
        let id = match tx.user_id_by_email(&email).await? {
            Some(id) => {
                run.present("dsg_user");
                id
            }
            None => {
                let id = tx
                    .create_user(&NewUser {
                        email: email.clone(),
                        name: r.s("name"),
                        display_name: r.s("display_name"),
                        admin: r.b("admin", false),
                        active: r.b("is_active", true),
                        read_only: r.b("read_only", false),
                        pi: r.s("pi"),
                        picture_url: r.s("picture_url"),
                        parent_id: None,
                        ..NewUser::default()
                    })
                    .await?;
                let notes = r.s("notes");
                if !notes.is_empty() {
                    let mut p = tx.user_profile(id).await?;
                    p.notes = notes;
                    tx.update_user_profile(id, &p).await?;
                }
                tx.keep_scim_ids("dsg_user", id, r.opt_s("scim_id"), r.opt_s("external_id"))
                    .await?;
                run.added("dsg_user", log);
                run.new_users.insert(id);
                id
            }
        };
        by_lower.insert(email.to_lowercase(), (id, email.clone()));
        run.users.insert(r.id(), id);
        run.emails.insert(r.id(), email);
    }
    for r in rows {
        let (Some(child), Some(parent)) = (run.user(r, "id"), run.user(r, "parent_id")) else {
            continue;
        };
        if run.new_users.contains(&child) && child != parent {
            tx.set_parent(child, parent).await?;
            log.changed();
        }
    }
    Ok(())
}

/// Imports upstream's `DatasetTranslation` rows (`table` is its name in the
/// source: `dataset_translation`, or `dataset_alias` before the rename).
async fn import_translations(
    tx: &mut WriteTx,
    run: &mut Run,
    log: &mut Log,
    table: &'static str,
    rows: &[Row],
) -> Result<()> {
    for r in rows {
        let client_name = r.s("client_name");
        let (Some(service), Some(dataset)) = (
            r.i("service_id")
                .and_then(|s| run.services.get(&s).copied()),
            r.i("dataset_id")
                .and_then(|d| run.datasets.get(&d).copied()),
        ) else {
            run.skip(
                table,
                r.id(),
                &client_name,
                "its service or dataset was not imported",
            );
            continue;
        };
        let client_version = r.opt_s("client_version").filter(|v| !v.is_empty());
        let version = match r.i("dataset_version_id") {
            None => None,
            Some(v) => match run.versions.get(&v) {
                Some(v) => Some(*v),
                None => {
                    run.skip(table, r.id(), &client_name, "its version was not imported");
                    continue;
                }
            },
        };
        let exists = lookup!(
            tx,
            "SELECT id FROM dataset_translation WHERE service_id = $1 AND client_name = $2 \
             AND COALESCE(client_version, '') = $3",
            service,
            &client_name,
            client_version.clone().unwrap_or_default()
        );
        if exists.is_some() {
            run.present(table);
            continue;
        }
        match tx
            .create_translation(&crate::translations::NewTranslation {
                service_id: service,
                client_name: &client_name,
                client_version: client_version.as_deref(),
                dataset_id: dataset,
                version_id: version,
            })
            .await
        {
            Ok(_) => run.added(table, log),
            Err(crate::StoreError::Domain(e)) => run.skip(table, r.id(), &client_name, e),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

async fn import_tos(
    tx: &mut WriteTx,
    run: &mut Run,
    log: &mut Log,
    rows: &[Row],
    now: Timestamp,
) -> Result<()> {
    for r in rows {
        let invite = r.s("invite_token");
        let name = r.s("name");
        if let Some(id) = lookup!(
            tx,
            "SELECT id FROM tos_document WHERE invite_token = $1",
            &invite
        ) {
            run.present("tos_document");
            run.tos.insert(r.id(), id);
            continue;
        }
        let map = |m: &HashMap<i64, i64>, c: &str| r.i(c).map(|v| m.get(&v).copied());
        let (dataset, version, service) = (
            map(&run.datasets, "dataset_id"),
            map(&run.versions, "dataset_version_id"),
            map(&run.services, "service_id"),
        );
        if matches!(dataset, Some(None))
            || matches!(version, Some(None))
            || matches!(service, Some(None))
        {
            run.skip(
                "tos_document",
                r.id(),
                &name,
                "its dataset, version or service was not imported",
            );
            continue;
        }
        if name.trim().is_empty() || r.s("text").is_empty() {
            run.skip(
                "tos_document",
                r.id(),
                &name,
                "a document needs a name and a text",
            );
            continue;
        }
        let (id, _) = tx
            .create_tos(&NewTos {
                name: name.clone(),
                text: r.s("text"),
                dataset_id: dataset.flatten(),
                version_id: version.flatten(),
                service_id: service.flatten(),
                effective_at: r.t("effective_date").unwrap_or(now),
                retired_at: r.t("retired_date"),
            })
            .await?;
        if !invite.is_empty() {
            // Keep the landing-page URL /web/tos/<token>/ working.
            on_tx!(&mut tx.tx, conn => sqlx::query("UPDATE tos_document SET invite_token = $1 WHERE id = $2")
                .bind(&invite).bind(id).execute(conn).await.map(|r| r.rows_affected()))?;
        }
        run.added("tos_document", log);
        run.tos.insert(r.id(), id);
    }
    Ok(())
}

/// (user, dataset, version, permission, group): what makes two grants the same.
type GrantKey = (i64, i64, Option<i64>, String, Option<i64>);

async fn import_grants(tx: &mut WriteTx, run: &mut Run, log: &mut Log, rows: &[Row]) -> Result<()> {
    let mut seen: HashMap<GrantKey, i64> = HashMap::new();
    for r in rows {
        let (Some(uid), Some(did), Some(perm)) = (
            run.user(r, "user_id"),
            r.i("dataset_id")
                .and_then(|d| run.datasets.get(&d).copied()),
            run.perm(r),
        ) else {
            run.skip(
                "grant",
                r.id(),
                "",
                "its user, dataset or permission was not imported",
            );
            continue;
        };
        let version = match r.i("dataset_version_id") {
            None => None,
            Some(v) => match run.versions.get(&v) {
                Some(v) => Some(*v),
                None => {
                    run.skip("grant", r.id(), "", "its dataset version was not imported");
                    continue;
                }
            },
        };
        let group = match r.i("group_id") {
            None => None,
            Some(g) => match run.groups.get(&g) {
                Some(g) => Some(*g),
                None => {
                    run.skip("grant", r.id(), "", "its group was not imported");
                    continue;
                }
            },
        };
        let key = (uid, did, version, perm.clone(), group);
        if let Some(first) = seen.get(&key) {
            run.skip("grant", r.id(), "", format!("duplicate of grant #{first}"));
            continue;
        }
        seen.insert(key, r.id());
        let exists = lookup!(
            tx,
            "SELECT g.id FROM dataset_grant g JOIN permission p ON p.id = g.permission_id \
             WHERE g.user_id = $1 AND g.dataset_id = $2 AND COALESCE(g.dataset_version_id, 0) = $3 \
             AND p.name = $4 AND COALESCE(g.group_id, 0) = $5",
            uid,
            did,
            version.unwrap_or(0),
            &perm,
            group.unwrap_or(0)
        );
        if exists.is_some() {
            run.present("grant");
            continue;
        }
        let mut source = r.s("source");
        if !matches!(source.as_str(), "manual" | "self_service") {
            run.notes.push(format!(
                "  grant #{}: source {} imported as 'manual'",
                r.id(),
                repr(&source)
            ));
            source = "manual".into();
        }
        tx.create_grant(&NewGrant {
            service_id: r
                .i("service_id")
                .and_then(|s| run.services.get(&s).copied()),
            bucket_ids: &[],
            user_id: uid,
            dataset_id: did,
            version_id: version,
            permission: &perm,
            group_id: group,
            granted_by: run.user(r, "granted_by_id"),
            source: &source,
            expires_at: None,
        })
        .await?;
        run.added("grant", log);
    }
    Ok(())
}

/// Checks a plaintext key from the source; `Err(reason)` when it cannot be kept.
fn literal(key: &str) -> std::result::Result<ApiToken, String> {
    ApiToken::from_literal(key)
        .map_err(|e| format!("{}; its owner must create a new token", why(&e)))
}

async fn import_tokens(
    tx: &mut WriteTx,
    run: &mut Run,
    log: &mut Log,
    rows: &[Row],
    now: Timestamp,
) -> Result<()> {
    for r in rows {
        let owner = r
            .i("user_id")
            .and_then(|u| run.emails.get(&u).cloned())
            .unwrap_or_default();
        let what = format!("{owner}, {}", repr(&r.s("description")));
        let Some(uid) = run.user(r, "user_id") else {
            run.skip("api_key", r.id(), &what, "its user was not imported");
            continue;
        };
        let token = match literal(&r.s("key")) {
            Ok(t) => t,
            Err(reason) => {
                run.skip("api_key", r.id(), &what, reason);
                continue;
            }
        };
        let hash = token.hash();
        let found: Option<i64> = lookup!(
            tx,
            "SELECT user_id FROM api_key WHERE key_hash = $1",
            &hash.0[..]
        );
        match found {
            Some(u) if u == uid => {
                run.present("api_key");
                continue;
            }
            Some(_) => {
                run.skip(
                    "api_key",
                    r.id(),
                    &what,
                    "the same token belongs to another user here",
                );
                continue;
            }
            None => {}
        }
        let expires_at = r.t("expires_at");
        if expires_at.is_some_and(|e| e <= now) {
            run.skip("api_key", r.id(), &what, "expired");
            continue;
        }
        let (id, _) = tx
            .create_user_token(
                uid,
                NewToken {
                    description: r.s("description"),
                    expires_at,
                    literal: Some(token),
                    ..NewToken::default()
                },
            )
            .await?;
        tx.keep_token_times(false, id, r.t("created"), r.t("last_used"))
            .await?;
        run.added("api_key", log);
    }
    Ok(())
}

async fn import_service_accounts(
    tx: &mut WriteTx,
    run: &mut Run,
    log: &mut Log,
    src: &DjangoDb,
) -> Result<()> {
    let rows = |t: &str| src.tables.get(t).map_or(&[][..], Vec::as_slice);
    for r in rows("service_account") {
        let name = r.s("name");
        if let Err(e) = validate_slug("service-account name", &name) {
            run.skip("service_account", r.id(), &name, why(&e));
            continue;
        }
        match lookup!(tx, "SELECT id FROM service_account WHERE name = $1", &name) {
            Some(id) => {
                run.present("service_account");
                run.sas.insert(r.id(), id);
            }
            None => {
                let id = tx
                    .create_service_account(&name, &r.s("description"), r.b("is_active", true))
                    .await?;
                run.added("service_account", log);
                run.sas.insert(r.id(), id);
            }
        }
    }
    for r in rows("service_account_token") {
        let what = repr(&r.s("description"));
        let Some(sa) = r
            .i("service_account_id")
            .and_then(|s| run.sas.get(&s).copied())
        else {
            run.skip(
                "service_account_token",
                r.id(),
                &what,
                "its service account was not imported",
            );
            continue;
        };
        let token = match literal(&r.s("key")) {
            Ok(t) => t,
            Err(reason) => {
                run.skip("service_account_token", r.id(), &what, reason);
                continue;
            }
        };
        let hash = token.hash();
        let found: Option<i64> = lookup!(
            tx,
            "SELECT service_account_id FROM service_account_token WHERE key_hash = $1",
            &hash.0[..]
        );
        match found {
            Some(s) if s == sa => run.present("service_account_token"),
            Some(_) => run.skip(
                "service_account_token",
                r.id(),
                &what,
                "the same token belongs to another service account here",
            ),
            None => {
                let (id, _) = tx
                    .create_service_account_token_with(sa, &r.s("description"), Some(token))
                    .await?;
                tx.keep_token_times(true, id, r.t("created"), r.t("last_used"))
                    .await?;
                run.added("service_account_token", log);
            }
        }
    }
    for r in rows("service_account_grant") {
        let (Some(sa), Some(did), Some(perm)) = (
            r.i("service_account_id")
                .and_then(|s| run.sas.get(&s).copied()),
            r.i("dataset_id")
                .and_then(|d| run.datasets.get(&d).copied()),
            run.perm(r),
        ) else {
            run.skip(
                "service_account_grant",
                r.id(),
                "",
                "its service account, dataset or permission was not imported",
            );
            continue;
        };
        let version = match r.i("dataset_version_id") {
            None => None,
            Some(v) => match run.versions.get(&v) {
                Some(v) => Some(*v),
                None => {
                    run.skip(
                        "service_account_grant",
                        r.id(),
                        "",
                        "its dataset version was not imported",
                    );
                    continue;
                }
            },
        };
        let exists = lookup!(
            tx,
            "SELECT g.id FROM service_account_grant g JOIN permission p ON p.id = g.permission_id \
             WHERE g.service_account_id = $1 AND g.dataset_id = $2 AND COALESCE(g.dataset_version_id, 0) = $3 AND p.name = $4",
            sa,
            did,
            version.unwrap_or(0),
            &perm
        );
        if exists.is_some() {
            run.present("service_account_grant");
        } else {
            tx.create_service_account_grant(
                sa,
                did,
                version,
                &perm,
                None,
                r.i("service_id")
                    .and_then(|s| run.services.get(&s).copied()),
            )
            .await?;
            run.added("service_account_grant", log);
        }
    }
    Ok(())
}

impl WriteTx {
    /// Keeps an imported token's creation and last-use times (listings show them).
    async fn keep_token_times(
        &mut self,
        service_account: bool,
        id: i64,
        created: Option<Timestamp>,
        last_used: Option<Timestamp>,
    ) -> Result<()> {
        let sql = if service_account {
            "UPDATE service_account_token SET created = COALESCE($1, created), last_used = $2 WHERE id = $3"
        } else {
            "UPDATE api_key SET created = COALESCE($1, created), last_used = $2 WHERE id = $3"
        };
        on_tx!(&mut self.tx, conn => sqlx::query(sql).bind(created.map(|t| t.0)).bind(last_used.map(|t| t.0))
            .bind(id).execute(conn).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Keeps the SCIM ids an entity had in the source (identity providers
    /// remember them), unless another entity here already uses them.
    async fn keep_scim_ids(
        &mut self,
        table: &'static str,
        id: i64,
        scim_id: Option<String>,
        external_id: Option<String>,
    ) -> Result<()> {
        let (find_scim, set_scim, find_ext, set_ext) = match table {
            "dsg_user" => (
                "SELECT id FROM dsg_user WHERE scim_id = $1",
                "UPDATE dsg_user SET scim_id = $1 WHERE id = $2",
                "SELECT id FROM dsg_user WHERE external_id = $1",
                "UPDATE dsg_user SET external_id = $1 WHERE id = $2",
            ),
            "dsg_group" => (
                "SELECT id FROM dsg_group WHERE scim_id = $1",
                "UPDATE dsg_group SET scim_id = $1 WHERE id = $2",
                "SELECT id FROM dsg_group WHERE external_id = $1",
                "UPDATE dsg_group SET external_id = $1 WHERE id = $2",
            ),
            _ => (
                "SELECT id FROM dataset WHERE scim_id = $1",
                "UPDATE dataset SET scim_id = $1 WHERE id = $2",
                "SELECT id FROM dataset WHERE external_id = $1",
                "UPDATE dataset SET external_id = $1 WHERE id = $2",
            ),
        };
        for (value, find, set) in [
            (scim_id, find_scim, set_scim),
            (external_id, find_ext, set_ext),
        ] {
            let Some(v) = value else { continue };
            if lookup!(self, find, &v).is_none() {
                on_tx!(&mut self.tx, conn => sqlx::query(set).bind(&v).bind(id).execute(conn).await.map(|r| r.rows_affected()))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn django_datetimes_parse_with_or_without_offset() {
        let mut r = Row::default();
        r.0.insert("a".into(), Sql::Text("2025-01-02 03:04:05.123456".into()));
        r.0.insert("b".into(), Sql::Text("2025-01-02 03:04:05+00:00".into()));
        assert_eq!(
            r.t("a").map(|t| t.to_rfc3339()),
            Some("2025-01-02T03:04:05.123456Z".into())
        );
        assert_eq!(r.t("b").map(|t| t.as_secs()), r.t("a").map(|t| t.as_secs()));
        assert_eq!(r.t("missing"), None);
    }
}
