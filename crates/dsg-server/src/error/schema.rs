//! The error bodies as the OpenAPI document describes them.

/// The `{"detail": …}` envelope: authentication, permission, method, content
/// negotiation and body-parse errors.
#[derive(utoipa::ToSchema)]
pub struct Detail {
    /// Message.
    pub detail: String,
}

/// The `{"error": …}` envelope: endpoint-specific failures (400, 404, 409).
#[derive(utoipa::ToSchema)]
pub struct ErrorMessage {
    /// Message.
    pub error: String,
}

/// The check-access envelope of a refused question.
#[derive(utoipa::ToSchema)]
pub struct Refusal {
    /// Always `false`.
    pub allowed: bool,
    /// Why.
    pub reason: String,
}
