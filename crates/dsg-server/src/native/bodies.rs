//! Request bodies of the native API's creating operations, as the OpenAPI
//! document describes them. The handlers read the JSON object field by field
//! (so an error names the field); these types exist for the document only,
//! and give clients and schemathesis' stateful phase bodies that create
//! something, so the links of `openapi::links` are followed with real ids.
#![allow(dead_code)]

use utoipa::ToSchema;

/// `POST /api/v1/tokens`.
#[derive(ToSchema)]
pub struct NewToken {
    /// At most 255 characters; default "API token".
    #[schema(max_length = 255)]
    pub description: Option<String>,
    /// RFC 3339 instant in the future; none for no expiry.
    pub expires_at: Option<String>,
    /// The token only reads (`view`), whatever its owner may do.
    pub read_only: Option<bool>,
    /// Dataset names the token is limited to; none for all.
    pub datasets: Option<Vec<String>>,
}

/// `POST /api/v1/service-accounts`.
#[derive(ToSchema)]
pub struct NewServiceAccount {
    /// 1–100 letters, digits, `-` or `_`; unique.
    #[schema(pattern = "^[A-Za-z0-9_-]{1,100}$")]
    pub name: String,
    /// Free text.
    pub description: Option<String>,
}
