//! `/web/explain-access`: why someone can or cannot reach a dataset — the
//! decision of `explain-access` and every rule it considered, as a small
//! table. About oneself: anyone; about another user (`user` = e-mail):
//! managers of the dataset and global admins. The form updates the result
//! in place with htmx (and works without script as a plain GET).

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::Uri;
use axum::response::Response;
use axum::routing::get;
use dsg_core::permissions::TokenScope;
use dsg_core::permissions::explain::Effect;
use dsg_store::tokens::PrincipalRef;

use super::{Chrome, PageError, Web, render};
use crate::native::access::{Asked, decide};
use crate::state::AppState;

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
        let found = all.iter().find(|d| d.name == dataset);
        let (principal, scope, subject) = if user.is_empty() || user == me.email {
            (
                PrincipalRef::User(me.id),
                me.auth.token.scope.clone(),
                me.email.clone(),
            )
        } else if !me.view.can_manage(&dataset) {
            return Err(PageError::Denied);
        } else {
            match state.store.user_id_by_email(&user).await? {
                Some(id) => (PrincipalRef::User(id), TokenScope::default(), user.clone()),
                None => {
                    error = Some(format!("User not found: {user}"));
                    (
                        PrincipalRef::User(me.id),
                        TokenScope::default(),
                        String::new(),
                    )
                }
            }
        };
        match found {
            None => error = Some(format!("Dataset not found: {dataset}")),
            Some(_) if dsg_core::Level::parse(&permission).is_none() => {
                error = Some("Choose view, edit, manage or admin.".into());
            }
            Some(d) if error.is_none() => {
                let asked = Asked {
                    dataset_id: d.id,
                    dataset: d.name.clone(),
                    version: (!version.is_empty()).then(|| version.clone()),
                    permission: permission.clone(),
                    service: (!service.is_empty()).then(|| service.clone()),
                };
                let decision = decide(&state, principal, &scope, &asked).await?;
                outcome = Some(Outcome {
                    subject,
                    allowed: decision.allowed,
                    reason: decision.reason.to_owned(),
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
                                detail.push(format!("expires {e}"));
                            }
                            RuleLine {
                                rule: r.rule.replace('_', " "),
                                effect: effect(r.effect),
                                level: r.level.unwrap_or_default(),
                                detail: detail.join(", "),
                            }
                        })
                        .collect(),
                });
            }
            Some(_) => {}
        }
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
