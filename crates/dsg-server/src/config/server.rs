//! `[server]`: the listener, the public origin, the secret, the mode.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// Local development or production.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Plain HTTP, non-`Secure` cookies, generated secret allowed.
    Local,
    /// `Secure` cookies, HSTS, a real secret and an https origin required.
    Production,
}

/// `[server]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// `local` or `production`.
    pub mode: Mode,
    /// Listen address (`DSG_PORT` changes only the port).
    pub bind: SocketAddr,
    /// Public origin, e.g. `https://dsg.example.org` (`DSG_ORIGIN`).
    pub origin: String,
    /// Secret for signing (`DJANGO_SECRET_KEY` is honoured). Empty in local
    /// mode: one is generated and kept in the data directory.
    pub secret_key: String,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Reverse proxies (IP addresses or CIDR ranges, e.g. `127.0.0.1`,
    /// `10.0.0.0/8`) whose `X-Forwarded-For` / `-Proto` / `-Host` are
    /// believed. From any other peer those headers are dropped on arrival.
    pub trusted_proxies: Vec<String>,
    /// On SIGTERM, seconds to keep serving while `/readyz` answers 503
    /// `draining` (and responses carry `Connection: close`), so a load
    /// balancer moves traffic away before the listener closes; in-flight
    /// requests then finish. 0 closes the listener at once.
    pub drain_secs: u64,
    /// Threads serving HTTP, each with its own single-threaded runtime;
    /// 0 (the default) starts one per CPU core.
    pub workers: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            mode: Mode::Local,
            bind: SocketAddr::from(([127, 0, 0, 1], 8200)),
            origin: String::new(),
            secret_key: String::new(),
            max_body_bytes: 1024 * 1024,
            trusted_proxies: Vec::new(),
            drain_secs: 0,
            workers: 0,
        }
    }
}
