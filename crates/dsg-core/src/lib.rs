//! DatasetGateway's domain: who may see which dataset, decided without I/O.
//!
//! This crate owns the permission levels, the rules that turn grants, group
//! permissions and terms-of-service acceptances into a permission document, and
//! the token rules (generation, hashing, scopes), and the parsers for what
//! arrives from outside: credentials, JWT headers, path prefixes, SCIM
//! filters and PATCH paths, seed fixtures (all fuzzed, see docs/fuzzing.md).
//! It deliberately knows nothing about databases, HTTP or clocks: callers pass
//! in facts (raw header bytes, path text) and `now`.

pub mod audit_text;
pub mod credentials;
pub mod error;
pub mod jwt;
pub mod level;
pub mod members;
pub mod oidc;
pub mod origin;
pub mod permissions;
pub mod prefix;
pub mod redirect;
pub mod scim;
pub mod seed;
pub mod time;
pub mod token;

pub use error::DomainError;
pub use level::Level;
pub use time::Timestamp;
