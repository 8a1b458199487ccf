//! One OpenID Connect provider for browser login: endpoints (built in for
//! Google, discovered for the others), the authorization URL, the code
//! exchange and ID-token verification.

use std::sync::Arc;

use jsonwebtoken::Algorithm;
use parking_lot::RwLock;
use serde::Deserialize;
use serde_json::Value;

use super::jwks::JwksCache;
use super::jwt::{self, Expect};

/// What discovery tells us.
#[derive(Debug, Clone, Deserialize)]
pub struct Discovery {
    /// `issuer`, which must equal the configured one.
    pub issuer: String,
    /// `authorization_endpoint`.
    #[serde(default)]
    pub authorization_endpoint: String,
    /// `token_endpoint`.
    #[serde(default)]
    pub token_endpoint: String,
    /// `jwks_uri`.
    pub jwks_uri: String,
}

/// Fetches `{issuer}/.well-known/openid-configuration`.
///
/// # Errors
/// Unreachable, not JSON, or naming another issuer.
pub async fn discover(http: &reqwest::Client, issuer: &str) -> Result<Discovery, String> {
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let r = http
        .get(&url)
        .send()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    if !r.status().is_success() {
        return Err(format!("GET {url}: HTTP {}", r.status()));
    }
    let d: Discovery = r
        .json()
        .await
        .map_err(|e| format!("{url}: not an OpenID configuration: {e}"))?;
    if d.issuer.trim_end_matches('/') != issuer.trim_end_matches('/') {
        return Err(format!("{url} names issuer {:?}, not {issuer:?}", d.issuer));
    }
    Ok(d)
}

#[derive(Debug, Clone)]
struct Endpoints {
    authorization: String,
    token: String,
}

/// A login provider.
pub struct OidcProvider {
    /// `google` or the configured name.
    pub name: String,
    /// Configured issuer.
    pub issuer: String,
    /// Accepted `iss` values (Google uses two spellings).
    issuers: Vec<String>,
    /// OAuth client id.
    pub client_id: String,
    client_secret: String,
    scopes: String,
    extra_params: Vec<(&'static str, &'static str)>,
    trust_email: bool,
    endpoints: RwLock<Option<Endpoints>>,
    /// Signing keys.
    pub jwks: JwksCache,
    error: RwLock<Option<String>>,
}

/// Claims of a verified ID token that login uses.
#[derive(Debug, Clone)]
pub struct IdClaims {
    /// `iss`.
    pub issuer: String,
    /// `sub`.
    pub subject: String,
    /// `email` (may be empty).
    pub email: String,
    /// `email_verified`.
    pub email_verified: bool,
    /// `name`.
    pub name: String,
    /// `picture`.
    pub picture: String,
}

/// Why a code could not be turned into an identity.
#[derive(Debug)]
pub enum ExchangeError {
    /// The provider refused the code (replayed, expired, wrong verifier): 400.
    Refused(String),
    /// The provider could not be reached: 502.
    Unreachable(String),
    /// The ID token failed verification: 400.
    BadIdToken(String),
}

const ALGS: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
];

impl OidcProvider {
    /// Google, from `[google]` (no network needed).
    pub fn google(g: &crate::config::GoogleConfig, id: String, secret: String) -> Arc<Self> {
        let mut issuers = vec![g.issuer.clone()];
        if let Some(bare) = g.issuer.strip_prefix("https://") {
            issuers.push(bare.to_owned());
        }
        Arc::new(Self {
            name: "google".into(),
            issuer: g.issuer.clone(),
            issuers,
            client_id: id,
            client_secret: secret,
            scopes: "openid email profile".into(),
            extra_params: vec![("access_type", "online")],
            trust_email: false,
            endpoints: RwLock::new(Some(Endpoints {
                authorization: g.authorization_endpoint.clone(),
                token: g.token_endpoint.clone(),
            })),
            jwks: JwksCache::new(Some(g.jwks_uri.clone())),
            error: RwLock::new(None),
        })
    }

    /// A generic issuer; endpoints arrive with [`OidcProvider::discover`].
    pub fn generic(p: &crate::config::ProviderConfig) -> Arc<Self> {
        let mut scopes: Vec<&str> = vec!["openid"];
        scopes.extend(
            p.scopes
                .iter()
                .map(String::as_str)
                .filter(|s| *s != "openid"),
        );
        Arc::new(Self {
            name: p.name.clone(),
            issuer: p.issuer.clone(),
            issuers: vec![p.issuer.clone()],
            client_id: p.client_id.clone(),
            client_secret: p.client_secret.clone(),
            scopes: scopes.join(" "),
            extra_params: Vec::new(),
            trust_email: p.trust_email,
            endpoints: RwLock::new(None),
            jwks: JwksCache::new(None),
            error: RwLock::new(Some("not discovered yet".into())),
        })
    }

    /// True when the endpoints are known.
    pub fn ready(&self) -> bool {
        self.endpoints.read().is_some()
    }

    /// Why the provider is not ready.
    pub fn error(&self) -> Option<String> {
        self.error.read().clone()
    }

    /// Runs discovery (no-op when the endpoints are known) and loads the keys.
    ///
    /// # Errors
    /// Discovery failed; the reason is also kept for `/readyz`.
    pub async fn discover(&self, http: &reqwest::Client) -> Result<(), String> {
        if self.ready() {
            return Ok(());
        }
        match discover(http, &self.issuer).await {
            Ok(d) => {
                self.jwks.set_uri(d.jwks_uri.clone());
                if d.authorization_endpoint.is_empty() || d.token_endpoint.is_empty() {
                    let e = "discovery lacks authorization_endpoint or token_endpoint".to_owned();
                    *self.error.write() = Some(e.clone());
                    return Err(e);
                }
                *self.endpoints.write() = Some(Endpoints {
                    authorization: d.authorization_endpoint,
                    token: d.token_endpoint,
                });
                *self.error.write() = None;
                if let Err(e) = self.jwks.refresh(http).await {
                    tracing::warn!(provider = %self.name, error = %e, "loading signing keys failed; retried on first login");
                }
                Ok(())
            }
            Err(e) => {
                *self.error.write() = Some(e.clone());
                Err(e)
            }
        }
    }

    /// The URL to send the browser to, or `None` while not discovered.
    pub fn authorization_url(
        &self,
        redirect_uri: &str,
        state: &str,
        nonce: &str,
        challenge: &str,
    ) -> Option<String> {
        let ep = self.endpoints.read().clone()?;
        let mut url = url::Url::parse(&ep.authorization).ok()?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("client_id", &self.client_id)
                .append_pair("redirect_uri", redirect_uri)
                .append_pair("response_type", "code")
                .append_pair("scope", &self.scopes)
                .append_pair("state", state)
                .append_pair("nonce", nonce)
                .append_pair("code_challenge", challenge)
                .append_pair("code_challenge_method", "S256");
            for (k, v) in &self.extra_params {
                q.append_pair(k, v);
            }
        }
        Some(url.into())
    }

    /// Exchanges the code (with the PKCE verifier) and verifies the ID token.
    ///
    /// # Errors
    /// See [`ExchangeError`].
    pub async fn exchange(
        &self,
        http: &reqwest::Client,
        code: &str,
        redirect_uri: &str,
        verifier: &str,
        nonce: &str,
        now_secs: i64,
    ) -> Result<IdClaims, ExchangeError> {
        let Some(ep) = self.endpoints.read().clone() else {
            return Err(ExchangeError::Unreachable(format!(
                "provider {} not discovered",
                self.name
            )));
        };
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier),
            ("client_id", self.client_id.as_str()),
        ];
        if !self.client_secret.is_empty() {
            form.push(("client_secret", self.client_secret.as_str()));
        }
        let r = http
            .post(&ep.token)
            .form(&form)
            .send()
            .await
            .map_err(|e| ExchangeError::Unreachable(format!("POST {}: {e}", ep.token)))?;
        let status = r.status();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            return Err(if status.is_client_error() {
                ExchangeError::Refused(format!("HTTP {status}: {body}"))
            } else {
                ExchangeError::Unreachable(format!("HTTP {status}"))
            });
        }
        let id_token = body
            .get("id_token")
            .and_then(Value::as_str)
            .ok_or_else(|| ExchangeError::BadIdToken("no id_token in the response".into()))?;
        let claims = jwt::verify(
            &self.jwks,
            http,
            id_token,
            &Expect {
                issuers: &self.issuers,
                audience: Some(&self.client_id),
                algorithms: ALGS,
                leeway_secs: 60,
                now_secs,
            },
        )
        .await
        .map_err(ExchangeError::BadIdToken)?;
        let s = |k: &str| {
            claims
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let token_nonce = s("nonce");
        if !bool::from(subtle::ConstantTimeEq::ct_eq(
            token_nonce.as_bytes(),
            nonce.as_bytes(),
        )) {
            return Err(ExchangeError::BadIdToken("nonce mismatch".into()));
        }
        let subject = s("sub");
        if subject.is_empty() {
            return Err(ExchangeError::BadIdToken("no sub claim".into()));
        }
        let email_verified = self.trust_email
            || match claims.get("email_verified") {
                Some(Value::Bool(b)) => *b,
                Some(Value::String(v)) => v == "true",
                _ => false,
            };
        Ok(IdClaims {
            issuer: self.issuer.clone(),
            subject,
            email: s("email"),
            email_verified,
            name: s("name"),
            picture: s("picture"),
        })
    }
}
