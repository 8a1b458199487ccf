//! placeholder

use axum::Router;

use crate::state::AppState;

pub(super) fn routes(r: Router<AppState>) -> Router<AppState> {
    r
}
