//! `/web/explain-access`: why someone can or cannot reach a dataset — the
//! decision of `explain-access` and every rule it considered, as a small
//! table. About oneself: anyone; about another user (`user` = e-mail):
//! managers of the dataset and global admins. The form updates the result
//! in place with htmx (and works without script as a plain GET). The
//! decision, and who may ask about whom, are [`crate::service::access`]'s.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::Uri;
use axum::response::Response;
use axum::routing::get;
use dsg_core::permissions::explain::Effect;

use super::{Chrome, PageError, Stamp, Web, WebUser, render};
use crate::service::ServiceError;
use crate::service::access::{self, Named};
use crate::state::AppState;
use dsg_core::Timestamp;

pub(super) fn routes(r: Router<AppState>) -> Router<AppState> {
    r.route("/web/explain-access", get(show_explain))
}

struct RuleLine {
    rule: String,
    effect: &'static str,
    level: String,
    detail: String,
}

struct Outcome {
    subject: String,
    allowed: bool,
    reason: String,
    rules: Vec<RuleLine>,
}

#[derive(Template)]
#[template(path = "web/explain.html")]
struct ExplainPage {
    chrome: Chrome,
    datasets: Vec<String>,
    dataset: String,
    permission: String,
    version: String,
    service: String,
    user: String,
    error: Option<String>,
    outcome: Option<Outcome>,
}

fn effect(e: Effect) -> &'static str {
    match e {
        Effect::Allows => "allows",
        Effect::Insufficient => "not enough",
        Effect::Blocks => "blocks",
        Effect::NoEffect => "no effect",
    }
}

async fn show_explain(
    State(state): State<AppState>,
    web: Web,
    uri: Uri,
) -> Result<Response, PageError> {
    let (me, chrome) = web.split()?;
    let q = |n: &str| {
        uri.query()
            .and_then(|q| crate::http::credentials::query_param(q, n))
            .map(|v| v.trim().to_owned())
            .unwrap_or_default()
    };
    let (dataset, version, service, user) = (q("dataset"), q("version"), q("service"), q("user"));
    let permission = match q("permission") {
        p if p.is_empty() => "view".to_owned(),
        p => p,
    };
    let all = state.store.all_datasets().await?;
    let mut error = None;
    let mut outcome = None;
    if !dataset.is_empty() {
        outcome = match explain(
            &state,
            &me,
            &dataset,
            &version,
            &permission,
            &service,
            &user,
        )
        .await
        {
            Ok(o) => Some(o),
            Err(Refused::Page(e)) => return Err(e),
            Err(Refused::Message(m)) => {
                error = Some(m);
                None
            }
        };
    }
    let page = ExplainPage {
        chrome,
        datasets: all.into_iter().map(|d| d.name).collect(),
        dataset,
        permission,
        version,
        service,
        user,
        error,
        outcome,
    };
    Ok(render(&state, &page.chrome, &page))
}

/// Why the view shows no decision.
enum Refused {
    /// An error page (403 for asking about others without managing the dataset).
    Page(PageError),
    /// A message above the form.
    Message(String),
}

impl From<ServiceError> for Refused {
    fn from(e: ServiceError) -> Self {
        Self::Page(e.into())
    }
}

async fn explain(
    state: &AppState,
    me: &WebUser,
    dataset: &str,
    version: &str,
    permission: &str,
    service: &str,
    user: &str,
) -> Result<Outcome, Refused> {
    let given = |v: &str| (!v.is_empty()).then(|| v.to_owned());
    // A mistyped service would silently ask about no service at all.
    if !service.is_empty() {
        let catalog = state
            .cache
            .current_catalog()
            .await
            .map_err(ServiceError::from)?;
        if !catalog.services.contains_key(service) {
            let mut known: Vec<&str> = catalog.services.keys().map(String::as_str).collect();
            known.sort_unstable();
            return Err(Refused::Message(if known.is_empty() {
                format!(
                    "Unknown service: {service}. No services are registered; leave the field empty."
                )
            } else {
                format!(
                    "Unknown service: {service}. Known services: {}.",
                    known.join(", ")
                )
            }));
        }
    }
    let asked = match access::ask(
        state,
        dataset,
        given(version),
        Some(permission.to_owned()),
        given(service),
    )
    .await
    {
        Ok(a) => a,
        Err(ServiceError::NotFound(_)) => {
            return Err(Refused::Message(format!("Dataset not found: {dataset}")));
        }
        Err(e) => return Err(e.into()),
    };
    let named = if user.is_empty() {
        Named::Caller
    } else {
        Named::User(user)
    };
    let subject = match access::subject(state, &me.view, &asked, named).await {
        Ok(s) => Some(s),
        Err(ServiceError::NotFound(_)) => None,
        Err(e) => return Err(e.into()),
    };
    if dsg_core::Level::parse(permission).is_none() {
        return Err(Refused::Message(
            "Choose view, edit, manage or admin.".into(),
        ));
    }
    let Some(subject) = subject else {
        return Err(Refused::Message(format!("User not found: {user}")));
    };
    let decision = access::decide(state, &subject, &asked).await?;
    Ok(Outcome {
        subject: if user.is_empty() {
            me.email.clone()
        } else {
            user.to_owned()
        },
        allowed: decision.allowed,
        reason: dsg_core::permissions::explain::reason_text(decision.reason).to_owned(),
        rules: decision
            .rules
            .into_iter()
            .map(|r| {
                let mut detail = Vec::new();
                if let Some(n) = r.name {
                    detail.push(n);
                }
                if let Some(v) = r.version {
                    detail.push(format!("version {v}"));
                }
                if let Some(s) = r.service {
                    detail.push(format!("service {s}"));
                }
                if let Some(e) = r.expires_at {
                    let when = Timestamp::parse(&e).map_or(e, |t| Stamp::of(t).text);
                    detail.push(format!("expires {when}"));
                }
                RuleLine {
                    rule: dsg_core::permissions::explain::rule_text(r.rule).to_owned(),
                    effect: effect(r.effect),
                    level: r.level.unwrap_or_default(),
                    detail: detail.join(", "),
                }
            })
            .collect(),
    })
}
