//! Who may use SCIM: a dedicated SCIM token (`dsg scim token create NAME`),
//! or a global admin's own token. Only `Authorization: Bearer` counts — no
//! cookie, no query parameter — and service-account tokens never do.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use dsg_core::token::TokenHash;
use dsg_store::tokens::PrincipalRef;
use dsg_store::write::Actor;

use crate::cache::Rejection;
use crate::error::scim::ScimError;
use crate::http::forwarded::ClientIp;
use crate::state::AppState;

/// An authorised SCIM caller, as the audit log will name it.
pub struct ScimCaller {
    /// The actor for write transactions.
    pub actor: Actor,
}

fn request_id(parts: &Parts) -> Option<String> {
    crate::http::request_id::request_id_of(&parts.headers)
}

impl FromRequestParts<AppState> for ScimCaller {
    type Rejection = ScimError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ScimError> {
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            return Err(ScimError::unauthorized(
                "Authentication credentials were not provided.",
            ));
        };
        let text = value.to_str().unwrap_or_default();
        let token = match text.split_once(' ') {
            Some((scheme, t)) if scheme.eq_ignore_ascii_case("bearer") => t.trim(),
            _ => {
                return Err(ScimError::unauthorized(
                    "Authentication credentials were not provided.",
                ));
            }
        };
        let client = parts.extensions.get::<ClientIp>().copied();
        let invalid = async || match state.limits.failed_auth(client.map(|c| c.0)).await {
            Ok(()) => ScimError::unauthorized("Invalid token."),
            Err(l) => l.into(),
        };
        if dsg_core::token::presented(token).is_none() {
            return Err(invalid().await);
        }
        // SCIM tokens are not cached: every lookup waits on the failed-auth limit.
        state
            .limits
            .failed_auth_blocked(client.map(|c| c.0))
            .await?;
        let rid = request_id(parts);
        if let Some((_, name)) = state.store.scim_token(&TokenHash::of(token)).await? {
            return Ok(Self {
                actor: Actor {
                    id: None,
                    label: format!("scim:{name}"),
                    request_id: rid,
                },
            });
        }
        state.cache.sync().await?;
        match state
            .cache
            .authenticate(token, None, state.clock.now())
            .await?
        {
            // A delegated key never reaches SCIM (spec 9.2).
            Ok(a) if a.token.scope.delegated => Err(invalid().await),
            Ok(a) => match a.token.principal {
                PrincipalRef::User(id) if a.document.info.admin => Ok(Self {
                    actor: Actor::user(id, &a.document.info.email, rid),
                }),
                PrincipalRef::User(_) => Err(ScimError::new(
                    StatusCode::FORBIDDEN,
                    "SCIM access requires admin privileges.",
                )),
                PrincipalRef::ServiceAccount(_) => Err(ScimError::unauthorized("Invalid token.")),
            },
            Err(Rejection::UserDisabled) => {
                Err(ScimError::unauthorized("User account is disabled."))
            }
            Err(Rejection::InvalidToken) => Err(invalid().await),
            Err(Rejection::ServiceAccountDisabled) => {
                Err(ScimError::unauthorized("Invalid token."))
            }
        }
    }
}
