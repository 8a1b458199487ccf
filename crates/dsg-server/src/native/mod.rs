//! The DatasetGateway-native API (spec §5.3 and beyond): datasets, versions,
//! buckets, grants, memberships, check-access / explain-access, tokens,
//! service accounts, terms of service, access requests, invitations and the
//! audit log.
//!
//! The request id ([`crate::http::request_log`]) is recorded in the audit row of
//! any mutation a request makes. Authority (spec §4.9,
//! with its bugs fixed) is decided from the presenting token's own permission
//! document, so a read-only or dataset-limited token can never manage more
//! than it can see.

mod access;
mod audit;
mod clients;
mod datasets;
mod grants;
mod oidc_clients;
mod requests;
mod service_accounts;
mod tokens;
mod tos;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::Response;
use dsg_core::Timestamp;

use crate::cache::Authenticated;
use crate::error::ApiError;
use crate::http::extract::ApiRequest;
use crate::service::authority::Caller;
use crate::state::AppState;

pub use crate::http::request_id::{REQUEST_ID, RequestId, request_id_of};

/// Registers the native routes (merged, so the CAVE routes keep their fast path).
pub fn routes(router: Router<AppState>) -> Router<AppState> {
    let native = Router::new();
    let native = audit::routes(native);
    let native = datasets::routes(native);
    let native = access::routes(native);
    let native = grants::routes(native);
    let native = tokens::routes(native);
    let native = service_accounts::routes(native);
    let native = clients::routes(native);
    let native = oidc_clients::routes(native);
    let native = tos::routes(native);
    let native = requests::routes(native);
    router.merge(native)
}

/// The OpenAPI description of the native routes.
pub(crate) fn openapi() -> utoipa::openapi::OpenApi {
    #[derive(utoipa::OpenApi)]
    #[openapi(paths(
        audit::list,
        datasets::whoami,
        datasets::datasets,
        datasets::versions,
        datasets::buckets,
        datasets::translations,
        datasets::translation,
        access::check_access,
        access::explain_access,
        grants::dataset_grants,
        grants::grant,
        grants::memberships,
        grants::membership,
        tokens::tokens,
        tokens::token,
        service_accounts::list_or_create,
        service_accounts::detail,
        service_accounts::add,
        service_accounts::remove,
        clients::registered_clients,
        clients::registered_client,
        oidc_clients::oidc_clients,
        oidc_clients::oidc_client,
        oidc_clients::oidc_client_secret,
        tos::services,
        tos::create_tos,
        tos::get_tos,
        tos::retire,
        tos::accept,
        requests::dataset_requests,
        requests::own_requests,
        requests::decide,
        requests::invitations,
        requests::invitation,
    ))]
    struct Doc;
    <Doc as utoipa::OpenApi>::openapi()
}

/// An authenticated native-API request: the caller and the method.
pub(crate) struct Ctx {
    pub(crate) caller: Caller,
    pub(crate) method: axum::http::Method,
}

impl FromRequestParts<AppState> for Ctx {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let req = ApiRequest::from_request_parts(parts, state).await?;
        let auth = req.principal()?.clone();
        Ok(Self {
            caller: Caller::new(auth, req.request_id),
            method: req.method,
        })
    }
}

impl Ctx {
    /// The caller, whose authority decides.
    pub(crate) fn view(&self) -> &Caller {
        &self.caller
    }

    /// The authentication (document and token).
    pub(crate) fn auth(&self) -> &Authenticated {
        self.caller.authenticated()
    }

    /// A person's id; 403 for service accounts (the original's code) and
    /// delegated keys (spec 9.2: they manage no tokens, requests or accounts).
    pub(crate) fn human(&self) -> Result<i64, ApiError> {
        Ok(self.caller.person()?)
    }

    /// 405 unless the method is one of `allowed`.
    pub(crate) fn allow(&self, allowed: &[axum::http::Method]) -> Result<(), ApiError> {
        if allowed.contains(&self.method)
            || (self.method == axum::http::Method::HEAD
                && allowed.contains(&axum::http::Method::GET))
        {
            Ok(())
        } else {
            Err(ApiError::method_not_allowed(&self.method))
        }
    }
}

/// 403 unless `ok`.
pub(crate) fn require(ok: bool) -> Result<(), ApiError> {
    if ok {
        Ok(())
    } else {
        Err(ApiError::forbidden())
    }
}

/// Times as the API shows them.
pub(crate) fn rfc(t: Option<Timestamp>) -> Option<String> {
    t.map(Timestamp::to_rfc3339)
}

/// 201 with a JSON body.
pub(crate) fn created(body: serde_json::Value) -> Response {
    use axum::response::IntoResponse;
    (StatusCode::CREATED, axum::Json(body)).into_response()
}
