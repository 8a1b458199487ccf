//! The CAVE-compatible JSON API under `/api/v1` (also served under
//! `/auth/api/v1`, where caveclient looks for it): same paths, status codes
//! and keys as the original.

mod body;
mod directory;
mod tables;
mod tokens;
mod user_cache;

use axum::Router;
use axum::routing::any;

use crate::state::AppState;

/// Routes of the API, to be nested under `/api/v1`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/user/cache", any(user_cache::get_user_cache))
        .route(
            "/service/{namespace}/table/{table}/dataset",
            any(tables::get_table_dataset),
        )
        .route("/user/token", any(tokens::list_tokens))
        .route(
            "/user/{id}/permissions",
            any(directory::get_user_permissions),
        )
        .route("/user/{id}", any(directory::get_user))
        .route("/user", any(directory::list_users))
        .route("/username", any(directory::list_usernames))
        .route(
            "/groups/{name}/members",
            any(directory::list_group_member_emails),
        )
        .route("/group/{id}/user", any(directory::list_group_users))
        .route("/table/{table}/has_public", any(tables::get_has_public))
        .route(
            "/table/{table}/root/{root}/is_public",
            any(tables::get_root_is_public),
        )
        .route(
            "/table/{table}/root_all_public",
            any(tables::post_roots_all_public),
        )
        .route("/create_token", any(tokens::create_token))
        .route("/long_lived_token", any(tokens::long_lived_token))
        .route("/refresh_token", any(tokens::refresh_token))
        .route("/logout", any(tokens::logout))
}
