//! The edge's error answers, one type per response shape: [`ApiError`] for
//! the JSON APIs (the original's `{"detail": …}` / `{"error": …}`
//! envelopes) and [`scim::ScimError`] for SCIM (RFC 7644 §3.12). Each turns a
//! lower layer's error into its shape in one `From` impl; 5xx are logged
//! once here and answered with a generic message.

mod api;
pub mod schema;
pub mod scim;

pub use api::{ApiError, msg};
