//! `dsg import csv FILE --dataset D`: users from a spreadsheet get `view` on D.
//!
//! A header row names the columns (trimmed, case-insensitive): `email`
//! (required), `name`, `affiliation`, `notes`. Cells are trimmed. Rows whose
//! field count differs from the header's, rows with no e-mail and rows whose
//! e-mail is malformed are reported by line number and skipped. Unlike the
//! original, notes already present are not appended again, so a second run
//! of the same file changes nothing.

use dsg_core::DomainError;
use serde_json::json;

use super::{ImportReport, Log, finish, repr, why};
use crate::users::validate_email;
use crate::{Result, Store};

/// One usable data row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvRow {
    /// Line number in the file (1-based; the header is line 1).
    pub line: u64,
    /// E-mail.
    pub email: String,
    /// `name` column, may be empty.
    pub name: String,
    /// `affiliation` column, may be empty.
    pub affiliation: String,
    /// `notes` column, may be empty.
    pub notes: String,
}

/// A parsed file: the usable rows and the lines skipped, with reasons.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CsvFile {
    /// Usable rows, in file order.
    pub rows: Vec<CsvRow>,
    /// `(line, reason)` of every skipped row.
    pub skipped: Vec<(u64, String)>,
}

/// Parses the file's bytes.
///
/// # Errors
/// [`DomainError::Invalid`] for an empty file or a header without `email`.
pub fn parse(bytes: &[u8], path: &str) -> Result<CsvFile, DomainError> {
    let mut reader = ::csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let mut records = reader.byte_records();
    let header = loop {
        match records.next() {
            None => return Err(DomainError::Invalid(format!("CSV file is empty: {path}"))),
            Some(Err(e)) => return Err(DomainError::Invalid(format!("{path}: {e}"))),
            Some(Ok(r)) if r.iter().all(|f| f.iter().all(u8::is_ascii_whitespace)) => {}
            Some(Ok(r)) => break r,
        }
    };
    let original: Vec<String> = header
        .iter()
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .collect();
    let names: Vec<String> = original
        .iter()
        .map(|h| h.trim_start_matches('\u{feff}').trim().to_lowercase())
        .collect();
    let col = |n: &str| names.iter().position(|h| h == n);
    let Some(email_col) = col("email") else {
        return Err(DomainError::Invalid(format!(
            "CSV must contain an 'email' column. Found: [{}]",
            original
                .iter()
                .map(|h| repr(h))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    };
    let (name_col, aff_col, notes_col) = (col("name"), col("affiliation"), col("notes"));
    // The reader's own line counter skips blank lines and line breaks inside
    // quotes; count from the byte offset instead.
    let line_at = |p: Option<&::csv::Position>| {
        p.map_or(0, |p| {
            // A record's position can sit on the end of the line before it
            // (the `\n` of a `\r\n`, or blank lines): step over those.
            let mut start = usize::try_from(p.byte())
                .unwrap_or(usize::MAX)
                .min(bytes.len());
            while bytes.get(start).is_some_and(|b| matches!(b, b'\r' | b'\n')) {
                start += 1;
            }
            bytes[..start].iter().filter(|b| **b == b'\n').count() as u64 + 1
        })
    };
    let mut out = CsvFile::default();
    for rec in records {
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                let line = line_at(e.position());
                out.skipped.push((line, format!("unreadable row: {e}")));
                continue;
            }
        };
        let line = line_at(rec.position());
        if rec.len() == 1 && rec.iter().all(<[u8]>::is_empty) {
            continue; // blank line
        }
        if rec.len() != names.len() {
            out.skipped.push((
                line,
                format!("{} field(s), the header has {}", rec.len(), names.len()),
            ));
            continue;
        }
        let cell = |i: Option<usize>| -> std::result::Result<String, String> {
            match i.and_then(|i| rec.get(i)) {
                None => Ok(String::new()),
                Some(b) => std::str::from_utf8(b)
                    .map(|s| s.trim().to_owned())
                    .map_err(|_| "not valid UTF-8".to_owned()),
            }
        };
        let row = [Some(email_col), name_col, aff_col, notes_col]
            .into_iter()
            .map(cell)
            .collect::<std::result::Result<Vec<String>, String>>()
            .map(|mut v| {
                let notes = v.pop().unwrap_or_default();
                let affiliation = v.pop().unwrap_or_default();
                let name = v.pop().unwrap_or_default();
                let email = v.pop().unwrap_or_default();
                CsvRow {
                    line,
                    email,
                    name,
                    affiliation,
                    notes,
                }
            });
        match row {
            Err(reason) => out.skipped.push((line, reason)),
            Ok(r) if r.email.is_empty() => out.skipped.push((line, "no e-mail".into())),
            Ok(r) => match validate_email(&r.email) {
                Ok(()) => out.rows.push(r),
                Err(e) => out.skipped.push((line, why(&e))),
            },
        }
    }
    Ok(out)
}

impl Store {
    /// Imports a parsed CSV: every row's user gets `view` on `dataset` and
    /// membership of the `user` group.
    ///
    /// # Errors
    /// The database is unreachable; nothing is written then.
    pub async fn import_csv(
        &self,
        file: &CsvFile,
        source: &str,
        dataset: &str,
        dry_run: bool,
    ) -> Result<ImportReport> {
        let mut tx = self.begin_import("import csv").await?;
        let mut log = Log::default();
        tx.ensure_permission("view").await?;
        let (user_group, created) = tx.ensure_group("user").await?;
        if log.count(created) {
            log.line("  Created group: user");
        }
        let (dataset_id, created) = tx.ensure_dataset(dataset).await?;
        log.dataset(dataset, created);
        let (mut added, mut had) = (Vec::new(), Vec::new());
        for r in &file.rows {
            let (user_id, created) = tx.ensure_user(&r.email, &r.name).await?;
            let mut what = Vec::new();
            let before = tx.user_profile(user_id).await?;
            let mut profile = before.clone();
            if profile.name.is_empty() && !r.name.is_empty() {
                profile.name.clone_from(&r.name);
                what.push(format!("name={}", repr(&r.name)));
            }
            if !r.notes.is_empty() && !profile.notes.contains(&r.notes) {
                if !profile.notes.is_empty() {
                    profile.notes.push('\n');
                }
                profile.notes.push_str(&r.notes);
                what.push(format!("notes={}", repr(&r.notes)));
            }
            let mut changed = tx.update_user_profile(user_id, &profile).await?;
            if !r.affiliation.is_empty() && !tx.has_affiliation(user_id, &r.affiliation).await? {
                tx.add_affiliation(user_id, &r.affiliation).await?;
                what.push(format!("affiliation={}", repr(&r.affiliation)));
                changed = true;
            }
            changed |= tx.ensure_member(user_id, user_group, false).await?;
            if tx.ensure_grant(user_id, dataset_id, "view").await? {
                added.push(r.email.clone());
                changed = true;
            } else {
                had.push(r.email.clone());
            }
            let details = if what.is_empty() {
                String::new()
            } else {
                format!(" ({})", what.join(", "))
            };
            if created {
                log.changed();
                log.line(format!("  Created user: {}{details}", r.email));
            } else if changed {
                log.changed();
                log.line(format!("  Updated user: {}{details}", r.email));
            } else {
                log.line(format!("  Unchanged user: {}", r.email));
            }
        }
        log.line("");
        if !added.is_empty() {
            log.line(format!("  Added view grants: {}", added.join(", ")));
        }
        if !had.is_empty() {
            log.line(format!("  Already had view grants: {}", had.join(", ")));
        }
        for (line, reason) in &file.skipped {
            log.line(format!("  Skipped line {line}: {reason}"));
        }
        log.line("");
        log.line(format!(
            "Imported {} users for dataset {dataset}.",
            file.rows.len()
        ));
        let summary = json!({"source": source, "dataset": dataset, "users": file.rows.len(),
                             "grants_added": added.len(), "skipped_lines": file.skipped.len()});
        finish(tx, "import_csv", summary, log, dry_run).await
    }
}

impl crate::WriteTx {
    /// Whether the user has this affiliation.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn has_affiliation(&mut self, user_id: i64, name: &str) -> Result<bool> {
        const SQL: &str = "SELECT COUNT(*) FROM affiliation WHERE user_id = $1 AND name = $2";
        let n: i64 = crate::on_tx!(&mut self.tx, conn => sqlx::query_scalar(SQL).bind(user_id).bind(name).fetch_one(conn).await)?;
        Ok(n > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ragged_blank_and_bad_rows_are_reported_by_line() {
        let text = "\u{feff}Email , Name,Notes\n\
                    a@x.org, Ann ,\"multi\nline\"\n\
                    b@x.org,Bob\n\
                    \n\
                    ,Nobody,\n\
                    not-an-email,X,\n\
                    c@x.org,\"Carl, Jr.\",n,extra\n\
                    d@x.org,D,\n";
        let f = parse(text.as_bytes(), "f.csv").unwrap();
        assert_eq!(
            f.rows
                .iter()
                .map(|r| (r.line, r.email.as_str()))
                .collect::<Vec<_>>(),
            vec![(2, "a@x.org"), (9, "d@x.org")]
        );
        assert_eq!(f.rows[0].name, "Ann");
        assert_eq!(f.rows[0].notes, "multi\nline");
        let lines: Vec<u64> = f.skipped.iter().map(|s| s.0).collect();
        assert_eq!(lines, vec![4, 6, 7, 8]);
        assert!(f.skipped[0].1.contains("2 field(s), the header has 3"));
    }

    #[test]
    fn header_errors() {
        assert!(
            parse(b"", "e.csv")
                .unwrap_err()
                .to_string()
                .contains("CSV file is empty: e.csv")
        );
        let e = parse(b"mail,name\n", "h.csv").unwrap_err().to_string();
        assert!(
            e.contains("CSV must contain an 'email' column. Found: ['mail', 'name']"),
            "{e}"
        );
    }
}
