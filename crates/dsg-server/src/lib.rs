//! DatasetGateway's HTTP application: configuration, the permission cache,
//! and the front-ends (the CAVE-compatible API first). Handlers are thin:
//! extract, one call into the store or cache, map to a response.

pub mod access_log;
pub mod admin;
pub mod cache;
pub mod cave;
pub mod clock;
pub mod config;
pub mod dsg_v1;
pub mod error;
pub mod feed;
pub mod gcs;
pub mod health;
pub mod http;
pub mod idp;
pub mod keys;
pub mod login;
pub mod metrics;
pub mod native;
pub mod ngauth;
pub mod oidc;
pub mod openapi;
pub mod outbound;
pub mod pages;
pub mod rate_limit;
pub mod redis_link;
pub mod scim;
pub mod service;
pub mod signing;
pub mod startup;
pub mod state;
pub mod web;
pub mod workers;

pub use config::Config;
pub use startup::{Application, Options, StartError};
