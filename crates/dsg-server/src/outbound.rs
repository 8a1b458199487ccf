//! Outbound HTTP (identity providers, JWKS, Google OAuth/STS/IAM): one
//! `reqwest` client stack on rustls with the ring provider, so no C crypto
//! library or OpenSSL is needed.

use std::time::Duration;

/// Installs ring as the process's rustls provider (idempotent).
pub fn install_crypto_provider() {
    // Fails only when a provider is already installed, which is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A client for calls to other services: bounded time, no redirects followed
/// (token endpoints never redirect; following one could leak credentials).
///
/// # Errors
/// When the TLS stack cannot be initialised.
pub fn client(timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    install_crypto_provider();
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("datasetgateway/", env!("CARGO_PKG_VERSION")))
        .build()
}

#[cfg(test)]
mod tests {
    #[test]
    fn client_builds_with_ring() {
        assert!(super::client(std::time::Duration::from_secs(3)).is_ok());
    }
}
