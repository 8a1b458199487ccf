//! The request extractors of the JSON APIs: content negotiation, the
//! cross-site check for cookie-authenticated changes, and eager
//! authentication ([`ApiRequest`]).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};

use crate::cache::Authenticated;
use crate::error::ApiError;
use crate::http::credentials;
use crate::http::forwarded::ClientIp;
use crate::state::AppState;

/// True when the `Accept` header admits JSON (absent counts as yes).
pub fn accepts_json(headers: &HeaderMap) -> bool {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    accept.split(',').any(|part| {
        let media = part.split(';').next().unwrap_or_default().trim();
        matches!(media, "" | "*/*" | "application/*" | "application/json")
    })
}

/// Every API request: content negotiation, then eager authentication.
/// Handlers check the method afterwards, as the original does.
pub struct ApiRequest {
    /// The principal, if a credential was presented.
    pub auth: Option<Authenticated>,
    /// HTTP method.
    pub method: Method,
    /// The request id, on routes behind the request-id layer (for audit rows).
    pub request_id: Option<String>,
}

impl ApiRequest {
    /// The principal, or 401 "not provided".
    ///
    /// # Errors
    /// 401 when anonymous.
    pub fn principal(&self) -> Result<&Authenticated, ApiError> {
        self.auth.as_ref().ok_or_else(ApiError::not_provided)
    }

    /// A human user's id, 403 for service accounts.
    ///
    /// # Errors
    /// 401 when anonymous, 403 for a service account.
    pub fn human(&self) -> Result<(i64, &Authenticated), ApiError> {
        let a = self.principal()?;
        match a.token.principal {
            dsg_store::tokens::PrincipalRef::User(id) => Ok((id, a)),
            dsg_store::tokens::PrincipalRef::ServiceAccount(_) => Err(ApiError::forbidden()),
        }
    }

    /// 405 unless the method is one of `allowed` (HEAD counts as GET).
    ///
    /// # Errors
    /// 405 in the original's words.
    pub fn allow(&self, allowed: &[Method]) -> Result<(), ApiError> {
        let m = if self.method == Method::HEAD {
            &Method::GET
        } else {
            &self.method
        };
        if allowed.contains(m) {
            Ok(())
        } else {
            Err(ApiError::method_not_allowed(&self.method))
        }
    }
}

impl FromRequestParts<AppState> for ApiRequest {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if !accepts_json(&parts.headers) {
            return Err(ApiError::Detail(
                axum::http::StatusCode::NOT_ACCEPTABLE,
                "Could not satisfy the request Accept header.".into(),
            ));
        }
        // The login cookie rides along on requests other sites' pages make
        // (it is `SameSite=None` for Neuroglancer), and a bodiless form post
        // needs no CORS preflight: a change it authenticates must come from
        // this server's own pages. Bearer and query tokens are not sent by
        // browsers on their own, so they are not checked.
        if !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS)
            && credentials::from_cookie(&parts.headers, &state.config.auth.cookie_names)
            && !crate::http::csrf::origin_ok(state, &parts.headers)
        {
            return Err(ApiError::Detail(
                axum::http::StatusCode::FORBIDDEN,
                crate::error::msg::CROSS_SITE.into(),
            ));
        }
        let client = parts.extensions.get::<ClientIp>().copied();
        let auth = state
            .authenticate(&parts.headers, parts.uri.query(), None, client)
            .await?;
        Ok(Self {
            auth,
            method: parts.method.clone(),
            request_id: parts
                .extensions
                .get::<crate::http::request_id::RequestId>()
                .map(|r| r.0.clone()),
        })
    }
}
