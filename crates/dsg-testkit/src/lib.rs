//! Test kit: boots a real DatasetGateway on a random loopback port with a
//! fresh database — a temporary SQLite file, or a throwaway schema in the
//! PostgreSQL named by `DSG_TEST_PG_URL` (default: the local server's `test`
//! database) — and hands the test an HTTP client and the `DATABASE_URL` that
//! CLI subprocesses use to reach the same data.
//!
//! Besides the server ([`spawn_app`], [`TestApp`], …, re-exported from
//! `app`), the modules hold the helpers several integration tests share:
//! driving the `dsg` binary ([`cli`]), headless Chromium ([`browser`]), the
//! admin console ([`console`]) and web UI ([`web`]) over HTTP, the native API
//! ([`native`]), the store ([`store`]), a Google stub ([`google`]) with
//! servers wired to it ([`ngauth`]), and a real OpenID provider ([`idp`]).

mod app;
pub mod browser;
pub mod cli;
pub mod console;
pub mod google;
pub mod idp;
pub mod native;
pub mod ngauth;
pub mod store;
pub mod web;

pub use app::{
    Backend, T0, TestApp, drop_pg_schema, empty_database, eventually, free_port, pg_base_url,
    redis_url, spawn_app, spawn_app_with, unique_redis_prefix, user_token,
};
