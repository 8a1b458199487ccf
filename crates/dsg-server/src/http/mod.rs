//! Request plumbing shared by every front-end, below all of them: finding
//! the credential and authenticating it, the login cookie, CSRF and `Origin`
//! checks, request ids and the access log, the client address behind trusted
//! proxies, path prefixes, JSON bodies and the request extractors. Nothing
//! here names a front-end.

mod auth;
pub mod body;
pub mod cookie;
pub mod credentials;
pub mod csrf;
pub mod extract;
pub mod forwarded;
pub mod origin;
pub mod pipeline;
pub mod prefix;
pub mod redirect;
pub mod request_id;
pub mod request_log;
