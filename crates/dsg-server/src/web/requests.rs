//! `/web/access-requests`: the inbox of pending access requests on datasets
//! the user administers (approve, optionally time-limited, or deny, with a
//! note), and the user's own requests (withdraw). Approval creates the grant
//! in the same transaction ([`crate::service::access_requests`]).
//! POST `action=approve|deny` (`request_id`, `expires_at`, `note`),
//! `action=withdraw` (`request_id`).

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::Uri;
use axum::response::Response;
use axum::routing::get;
use dsg_store::access_requests::AccessRequest;

use super::{
    Chrome, Flash, PageError, Pager, Posted, Stamp, Web, back, page_number, paginate, render,
    service_flash,
};
use crate::service::access_requests::{self, Decision};
use crate::service::{Invalid, ServiceError};
use crate::state::AppState;

const PATH: &str = "/web/access-requests";

pub(super) fn routes(r: Router<AppState>) -> Router<AppState> {
    r.route(PATH, get(show_requests).post(act))
}

struct Line {
    id: i64,
    email: String,
    dataset: String,
    version: String,
    permission: String,
    message: String,
    status: String,
    created: Stamp,
    note: String,
}

fn line(r: AccessRequest) -> Line {
    Line {
        id: r.id,
        email: r.email,
        dataset: r.dataset,
        version: r.version.unwrap_or_else(|| "All".into()),
        permission: r.permission,
        message: r.message,
        status: r.status,
        created: Stamp::of(r.created),
        note: r.decision_note,
    }
}

#[derive(Template)]
#[template(path = "web/access_requests.html")]
struct RequestsPage {
    chrome: Chrome,
    inbox: Vec<Line>,
    pager: Pager,
    mine: Vec<Line>,
}

async fn show_requests(
    State(state): State<AppState>,
    web: Web,
    uri: Uri,
) -> Result<Response, PageError> {
    let (user, chrome) = web.split()?;
    let pending: Vec<Line> = access_requests::inbox(&state, &user.view)
        .await?
        .into_iter()
        .map(line)
        .collect();
    let (inbox, pager) = paginate(pending, page_number(uri.query()), PATH);
    let mine = access_requests::mine(&state, &user.view)
        .await?
        .into_iter()
        .map(line)
        .collect();
    let page = RequestsPage {
        chrome,
        inbox,
        pager,
        mine,
    };
    Ok(render(&state, &page.chrome, &page))
}

async fn act(State(state): State<AppState>, posted: Posted) -> Result<Response, PageError> {
    let flash = decide(&state, &posted).await?;
    Ok(back(&state, PATH, &[flash]))
}

async fn decide(state: &AppState, posted: &Posted) -> Result<Flash, PageError> {
    let form = &posted.form;
    let caller = &posted.user.view;
    let not_found = || Ok(Flash::error("Access request not found."));
    let r = match form.id("request_id") {
        Some(id) => match access_requests::find(state, id).await {
            Ok(r) => r,
            Err(ServiceError::NotFound(_)) => return not_found(),
            Err(e) => return Err(e.into()),
        },
        None => return not_found(),
    };
    let action = form.get("action");
    let done = match action {
        "withdraw" => access_requests::withdraw(state, caller, &r).await,
        "approve" | "deny" => {
            let expires_at = match form.instant("expires_at") {
                Ok(t) => t,
                // A malformed date matters only to those who may decide.
                Err(m) if caller.may_decide_requests(&r.dataset) => return Ok(Flash::error(m)),
                Err(_) => return not_found(),
            };
            let decision = Decision {
                approve: action == "approve",
                note: form.get("note").to_owned(),
                expires_at,
            };
            access_requests::decide(state, caller, &r, decision).await
        }
        _ => return Ok(Flash::error("Unknown action.")),
    };
    Ok(match done {
        Ok(_) if action == "withdraw" => Flash::success("Request withdrawn."),
        Ok(_) if action == "approve" => Flash::success(format!(
            "Approved: {} gets {} on {}.",
            r.email, r.permission, r.dataset
        )),
        Ok(_) => Flash::success(format!("Denied {}'s request for {}.", r.email, r.dataset)),
        // Only dataset administrators may decide: to them, a level they may
        // not hand out; to everyone else, no such request.
        Err(ServiceError::Forbidden(_))
            if action == "approve" && caller.may_decide_requests(&r.dataset) =>
        {
            Flash::error(format!(
                "You cannot grant {} on {}.",
                r.permission, r.dataset
            ))
        }
        Err(ServiceError::NotFound(_) | ServiceError::Forbidden(_)) => {
            Flash::error("Access request not found.")
        }
        Err(ServiceError::Invalid(Invalid::NotInFuture { .. })) => {
            Flash::error("The expiry date must be in the future.")
        }
        Err(e) => return service_flash(e),
    })
}
