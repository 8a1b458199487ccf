//! Browser sessions: signing out revokes the login token a browser carries.

use dsg_core::token::TokenHash;
use dsg_store::tokens::PrincipalRef;
use dsg_store::write::Actor;

use super::{ServiceError, commit};
use crate::state::AppState;

/// Revokes each of these login-token values that belongs to a user (values
/// that are malformed, unknown or already revoked are ignored).
///
/// # Errors
/// Database failures.
pub async fn revoke_login_tokens(
    state: &AppState,
    values: impl IntoIterator<Item = String>,
    request_id: Option<String>,
) -> Result<(), ServiceError> {
    for value in values {
        if dsg_core::token::presented(&value).is_none() {
            continue;
        }
        let hash = TokenHash::of(&value);
        if let Some(rec) = state.store.lookup_token(&hash).await?
            && let PrincipalRef::User(user_id) = rec.principal
        {
            let mut tx = state
                .store
                .begin(Actor::user(user_id, "", request_id.clone()))
                .await?;
            tx.revoke_user_token_by_hash(&hash).await?;
            commit(state, tx).await?;
        }
    }
    Ok(())
}
