//! Request bodies of the native API's creating operations, as the OpenAPI
//! document describes them. The handlers read the JSON object field by field
//! (so an error names the field); these types exist for the document only,
//! and give clients and schemathesis' stateful phase bodies that create
//! something, so the links of `openapi::links` are followed with real ids.
#![allow(dead_code)]

use utoipa::ToSchema;

/// `POST /api/v1/datasets`.
#[derive(ToSchema)]
pub struct NewDataset {
    /// 1–100 letters, digits, `-` or `_`; unique.
    #[schema(pattern = "^[A-Za-z0-9_-]{1,100}$")]
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// `closed` (default) or `public`.
    pub access_mode: Option<AccessMode>,
}

/// Who may see a dataset without a grant.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum AccessMode {
    /// Only holders of a grant (the default).
    Closed,
    /// Everyone, even anonymous callers.
    Public,
}

/// `POST /api/v1/tos`.
#[derive(ToSchema)]
pub struct NewTos {
    /// Title shown to users.
    #[schema(min_length = 1)]
    pub name: String,
    /// Markdown text.
    #[schema(min_length = 1)]
    pub text: String,
    /// The dataset whose terms these are (or `service`).
    pub dataset: Option<String>,
    /// A version of that dataset.
    pub version: Option<String>,
    /// The service whose terms these are.
    pub service: Option<String>,
}
