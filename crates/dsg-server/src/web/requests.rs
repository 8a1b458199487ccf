//! `/web/access-requests`: the inbox of pending access requests on datasets
//! the user administers (approve, optionally time-limited, or deny, with a
//! note), and the user's own requests (withdraw). Approval creates the grant
//! in the same transaction, through the store's `decide_access_request`.
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
    Chrome, Flash, PageError, Pager, Posted, Stamp, Web, back, commit, flash_error, page_number,
    paginate, render,
};
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
    let pending: Vec<Line> = state
        .store
        .access_requests(None, None, Some("pending"))
        .await?
        .into_iter()
        .filter(|r| user.view.is_dataset_admin(&r.dataset))
        .map(line)
        .collect();
    let (inbox, pager) = paginate(pending, page_number(uri.query()), PATH);
    let mine = state
        .store
        .access_requests(None, Some(user.id), None)
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
    let user = &posted.user;
    let request = match form.id("request_id") {
        Some(id) => state.store.access_request(id).await?,
        None => None,
    };
    let Some(r) = request else {
        return Ok(Flash::error("Access request not found."));
    };
    let action = form.get("action");
    let mut tx = state.store.begin(user.actor()).await?;
    let message = match action {
        "withdraw" if r.user_id == user.id => {
            if let Err(e) = tx.withdraw_access_request(r.id, user.id).await {
                return flash_error(e, None);
            }
            "Request withdrawn.".to_owned()
        }
        "approve" | "deny" if user.view.is_dataset_admin(&r.dataset) => {
            let approve = action == "approve";
            if approve
                && !user
                    .view
                    .may_handle_level(&state.config.access, &r.dataset, &r.permission)
            {
                return Ok(Flash::error(format!(
                    "You cannot grant {} on {}.",
                    r.permission, r.dataset
                )));
            }
            let expires_at = match form.instant("expires_at") {
                Ok(Some(t)) if t <= state.clock.now() => {
                    return Ok(Flash::error("The expiry date must be in the future."));
                }
                Ok(t) => t,
                Err(m) => return Ok(Flash::error(m)),
            };
            if let Err(e) = tx
                .decide_access_request(&r, approve, form.get("note"), expires_at)
                .await
            {
                return flash_error(e, None);
            }
            if approve {
                format!(
                    "Approved: {} gets {} on {}.",
                    r.email, r.permission, r.dataset
                )
            } else {
                format!("Denied {}'s request for {}.", r.email, r.dataset)
            }
        }
        "approve" | "deny" | "withdraw" => return Ok(Flash::error("Access request not found.")),
        _ => return Ok(Flash::error("Unknown action.")),
    };
    commit(state, tx).await?;
    Ok(Flash::success(message))
}
