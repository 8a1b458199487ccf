//! The CAVE-compatible JSON API under `/api/v1` (also served under
//! `/auth/api/v1`, where caveclient looks for it): same paths, status codes
//! and keys as the original.

mod directory;
mod tables;
mod tokens;
mod user_cache;

use axum::Router;
use axum::routing::any;

use crate::state::AppState;

/// The OpenAPI description of these routes.
pub(crate) fn openapi() -> utoipa::openapi::OpenApi {
    #[derive(utoipa::OpenApi)]
    #[openapi(paths(
        user_cache::get_user_cache,
        tables::get_table_dataset,
        tables::get_has_public,
        tables::get_root_is_public,
        tables::post_roots_all_public,
        tokens::list_tokens,
        tokens::create_token,
        tokens::long_lived_token,
        tokens::rotate_long_lived_token,
        tokens::refresh_token,
        tokens::logout,
        directory::list_usernames,
        directory::list_users,
        directory::get_user,
        directory::get_user_permissions,
        directory::list_group_member_emails,
        directory::list_group_users,
    ))]
    struct Doc;
    <Doc as utoipa::OpenApi>::openapi()
}

/// Where the API lives.
pub const BASE: &str = "/api/v1";

/// Registers the API's routes under [`BASE`] (full paths, not `nest`: nesting
/// rebuilds the URI of every request, and `user/cache` is the hot path).
pub fn routes(router: Router<AppState>) -> Router<AppState> {
    let p = |path: &str| format!("{BASE}{path}");
    router
        .route(&p("/user/cache"), any(user_cache::get_user_cache))
        .route(
            &p("/service/{namespace}/table/{table}/dataset"),
            any(tables::get_table_dataset),
        )
        .route(&p("/user/token"), any(tokens::list_tokens))
        .route(
            &p("/user/{id}/permissions"),
            any(directory::get_user_permissions),
        )
        .route(&p("/user/{id}"), any(directory::get_user))
        .route(&p("/user"), any(directory::list_users))
        .route(&p("/username"), any(directory::list_usernames))
        .route(
            &p("/groups/{name}/members"),
            any(directory::list_group_member_emails),
        )
        .route(&p("/group/{id}/user"), any(directory::list_group_users))
        .route(&p("/table/{table}/has_public"), any(tables::get_has_public))
        .route(
            &p("/table/{table}/root/{root}/is_public"),
            any(tables::get_root_is_public),
        )
        .route(
            &p("/table/{table}/root_all_public"),
            any(tables::post_roots_all_public),
        )
        .route(&p("/create_token"), any(tokens::create_token))
        .route(&p("/long_lived_token"), any(tokens::long_lived_token))
        .route(
            &p("/long_lived_token/rotate"),
            any(tokens::rotate_long_lived_token),
        )
        .route(&p("/refresh_token"), any(tokens::refresh_token))
        .route(&p("/logout"), any(tokens::logout))
}
