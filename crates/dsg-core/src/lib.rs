//! DatasetGateway's domain: who may see which dataset, decided without I/O.
//!
//! This crate owns the permission levels, the rules that turn grants, group
//! permissions and terms-of-service acceptances into a permission document, and
//! the token rules (generation, hashing, scopes). It deliberately knows nothing
//! about databases, HTTP or clocks: callers pass in facts and `now`.

pub mod error;
pub mod level;
pub mod permissions;
pub mod scim;
pub mod time;
pub mod token;

pub use error::DomainError;
pub use level::Level;
pub use time::Timestamp;
