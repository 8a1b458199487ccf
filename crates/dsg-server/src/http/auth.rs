//! Authentication of a request: the credential it presents (cookie, bearer
//! or query token; an opaque token or an external issuer's JWT) becomes the
//! principal's cached permission document, or a 401. Refusals count towards
//! the failed-authentication rate limit.

use axum::http::HeaderMap;

use crate::cache::{Authenticated, Rejection};
use crate::error::ApiError;
use crate::http::credentials::{self, Credential};
use crate::http::forwarded::ClientIp;
use crate::state::AppState;

impl AppState {
    /// Authenticates a request eagerly: `Ok(None)` when anonymous, 401 when a
    /// presented credential is bad (429 once `client` is over the
    /// failed-authentication limit).
    ///
    /// # Errors
    /// 401 and 429 variants; 500 on database failure.
    pub async fn authenticate(
        &self,
        headers: &HeaderMap,
        query: Option<&str>,
        service: Option<&str>,
        client: Option<ClientIp>,
    ) -> Result<Option<Authenticated>, ApiError> {
        let auth = &self.config.auth;
        match credentials::extract(headers, query, &auth.cookie_names, &auth.query_names) {
            Credential::None => Ok(None),
            Credential::Malformed => Err(self.refused(client).await),
            Credential::Token(t) => self.authenticate_token(&t, service, client).await.map(Some),
        }
    }
}

impl AppState {
    /// A presented token: a JWT from a configured issuer when it looks like
    /// one, else an opaque token looked up by hash in the cache.
    ///
    /// Failed authentications are counted per `client` only when the token
    /// is refused, and a client over that limit is refused (429) before a
    /// token-table lookup only: a token in the cache answers as always.
    ///
    /// # Errors
    /// 401 and 429 variants; 500 on database failure.
    pub async fn authenticate_token(
        &self,
        token: &str,
        service: Option<&str>,
        client: Option<ClientIp>,
    ) -> Result<Authenticated, ApiError> {
        let outcome = if self.idp.accepts_jwt() && crate::idp::jwt::looks_like_jwt(token) {
            self.authenticate_jwt(token, service).await?
        } else {
            self.cache.sync().await?;
            let limits = &self.limits;
            self.cache
                .authenticate_gated(token, service, self.clock.now(), || async move {
                    limits
                        .failed_auth_blocked(client.map(|c| c.0))
                        .await
                        .map_err(ApiError::from)
                })
                .await?
        };
        match outcome {
            Ok(a) => Ok(a),
            Err(Rejection::InvalidToken) => Err(self.refused(client).await),
            Err(r) => Err(r.into()),
        }
    }

    /// The answer to an invalid token: 401, or 429 once `client` is over
    /// the failed-authentication limit.
    pub async fn refused(&self, client: Option<ClientIp>) -> ApiError {
        match self.limits.failed_auth(client.map(|c| c.0)).await {
            Ok(()) => Rejection::InvalidToken.into(),
            Err(l) => l.into(),
        }
    }

    /// A bearer JWT from a configured external issuer: verified, mapped to a
    /// user, and given that user's document.
    async fn authenticate_jwt(
        &self,
        token: &str,
        service: Option<&str>,
    ) -> Result<Result<Authenticated, Rejection>, ApiError> {
        let now = self.clock.now();
        let Some((principal, scope)) = self
            .idp
            .authenticate_jwt(&self.store, token, now.as_secs())
            .await?
        else {
            return Ok(Err(Rejection::InvalidToken));
        };
        self.cache.sync().await?;
        Ok(self
            .cache
            .authenticate_principal(principal, scope, token, service, now)
            .await?)
    }
}
