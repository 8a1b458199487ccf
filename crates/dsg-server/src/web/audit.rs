//! `/web/audit`: the audit log as sentences ("gadmin granted view on fanc
//! to alice"), with links to the dataset and the person, filters by actor,
//! affected person, dataset, action and date range, and `?format=csv` for
//! the same rows as CSV. Global admins see everything; a dataset's managers
//! see the history of a dataset they manage
//! ([`crate::service::audit_log`]).

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::{Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use dsg_core::Timestamp;

use super::{Chrome, PageError, Stamp, Web, render};
use crate::http::credentials::query_param;
use crate::service::ServiceError;
use crate::service::audit_log::{self, AuditQuery, ReadableEntry};
use crate::state::AppState;

pub(super) fn routes(r: Router<AppState>) -> Router<AppState> {
    r.route("/web/audit", get(show_audit))
}

/// Most rows on one page (and in one CSV).
const ROWS: i64 = 500;

struct Line {
    when: Stamp,
    sentence: String,
    action: String,
    dataset: Option<String>,
    affected: Option<String>,
    request_id: String,
}

#[derive(Template)]
#[template(path = "web/audit.html")]
struct AuditPage {
    chrome: Chrome,
    actor: String,
    affected: String,
    dataset: String,
    action: String,
    since: String,
    until: String,
    /// Datasets the visitor manages (the filter's choices for non-admins).
    datasets: Vec<String>,
    lines: Vec<Line>,
    csv_link: String,
    error: Option<String>,
}

fn day(q: &str, key: &str) -> Result<Option<Timestamp>, String> {
    match query_param(q, key).filter(|v| !v.trim().is_empty()) {
        None => Ok(None),
        Some(v) => Timestamp::parse(v.trim())
            .map(Some)
            .ok_or_else(|| format!("Enter the {key} date as 2026-06-01.")),
    }
}

/// One CSV field, quoted, with formula triggers defused.
fn csv_field(v: &str) -> String {
    let v = if v.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{v}")
    } else {
        v.to_owned()
    };
    format!("\"{}\"", v.replace('"', "\"\""))
}

fn csv(rows: &[ReadableEntry]) -> String {
    let mut out = String::from(
        "time_utc,actor,action,sentence,dataset,affected,target_type,target_id,request_id\n",
    );
    for r in rows {
        let e = &r.entry;
        let fields = [
            e.timestamp.to_rfc3339(),
            e.actor.clone(),
            e.action.clone(),
            r.sentence.clone(),
            r.dataset.clone().unwrap_or_default(),
            r.affected.clone().unwrap_or_default(),
            e.target_type.clone(),
            e.target_id.clone(),
            e.request_id.clone().unwrap_or_default(),
        ];
        out.push_str(
            &fields
                .iter()
                .map(|f| csv_field(f))
                .collect::<Vec<_>>()
                .join(","),
        );
        out.push('\n');
    }
    out
}

async fn show_audit(
    State(state): State<AppState>,
    web: Web,
    uri: Uri,
) -> Result<Response, PageError> {
    let (user, chrome) = web.split()?;
    let q = uri.query().unwrap_or_default();
    let text = |k: &str| {
        query_param(q, k)
            .map(|v| v.trim().to_owned())
            .unwrap_or_default()
    };
    let opt = |k: &str| Some(text(k)).filter(|v| !v.is_empty());
    let datasets: Vec<String> = state
        .store
        .all_datasets()
        .await?
        .into_iter()
        .map(|d| d.name)
        .filter(|d| user.view.can_manage(d))
        .collect();
    if datasets.is_empty() && !user.view.is_admin() {
        return Err(PageError::Denied);
    }
    // People who are not global admins look at one of their datasets.
    let dataset = opt("dataset").or_else(|| {
        (!user.view.is_admin())
            .then(|| datasets.first().cloned())
            .flatten()
    });
    let mut error = None;
    let (since, until) = match (day(q, "since"), day(q, "until")) {
        (Ok(s), Ok(u)) => (s, u.map(|t| t.plus_secs(86_400))),
        (Err(m), _) | (_, Err(m)) => {
            error = Some(m);
            (None, None)
        }
    };
    let query = AuditQuery {
        actor: opt("actor"),
        affected: opt("affected"),
        dataset: dataset.clone(),
        action: opt("action"),
        since,
        until,
        limit: ROWS,
    };
    let rows = if error.is_some() {
        Vec::new()
    } else {
        match audit_log::read(&state, &user.view, query).await {
            Ok(r) => r,
            Err(ServiceError::NotFound(m)) => {
                error = Some(m.to_owned());
                Vec::new()
            }
            Err(e) => return Err(e.into()),
        }
    };
    if text("format") == "csv" {
        return Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"audit.csv\"".to_owned(),
                ),
                (header::CACHE_CONTROL, "no-store".to_owned()),
            ],
            csv(&rows),
        )
            .into_response());
    }
    let csv_link = if q.is_empty() {
        "/web/audit?format=csv".to_owned()
    } else {
        format!("/web/audit?{q}&format=csv")
    };
    let page = AuditPage {
        chrome,
        actor: text("actor"),
        affected: text("affected"),
        dataset: dataset.unwrap_or_default(),
        action: text("action"),
        since: text("since"),
        until: text("until"),
        datasets,
        lines: rows
            .into_iter()
            .map(|r| Line {
                when: Stamp::of(r.entry.timestamp),
                sentence: r.sentence,
                action: r.entry.action,
                dataset: r.dataset,
                affected: r.affected,
                request_id: r.entry.request_id.unwrap_or_default(),
            })
            .collect(),
        csv_link,
        error,
    };
    Ok(render(&state, &page.chrome, &page))
}

#[cfg(test)]
mod tests {
    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        assert_eq!(super::csv_field("a\"b"), "\"a\"\"b\"");
        assert_eq!(super::csv_field("=cmd()"), "\"'=cmd()\"");
    }
}
