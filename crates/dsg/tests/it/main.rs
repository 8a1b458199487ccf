//! The one integration-test binary. Every test runs twice, on SQLite and on
//! PostgreSQL, against a real server on a random loopback port.

// Test helpers outside #[test] functions unwrap freely: a failure is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

/// Declares `mod $name { sqlite(), postgres() }` running `$body(backend)`.
macro_rules! both_backends {
    ($name:ident, $body:path) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                $body(dsg_testkit::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                $body(dsg_testkit::Backend::Postgres).await
            }
        }
    };
}

mod admin;
mod admin_browser;
mod api;
mod audit;
mod backup;
mod bad_input;
mod browser;
mod cli;
mod clients_browser;
mod crash;
mod dsg_v1;
mod gcs_iam;
mod imports;
mod jwt;
mod login;
mod members_export;
mod metrics;
mod native;
mod ngauth;
mod ngauth_login;
mod oidc_provider;
mod openapi;
mod rate_limits;
mod replicas;
mod scenarios;
mod schema;
mod scim;
mod scim_prop;
mod security;
mod security_doc;
mod service_accounts;
mod setup;
mod snapshots;
mod timed;
mod tokens;
mod tos;
mod user_cache;
mod web;
mod web_browser;
mod web_story;
