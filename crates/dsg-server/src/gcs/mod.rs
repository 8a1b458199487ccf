//! Google Cloud Storage credentials: the gateway's service-account token
//! (JWT-bearer grant signed with the key file), downscoping it through the
//! STS token exchange to read-only on one bucket, and bucket IAM policies.
//!
//! Every Google URL comes from `[gcs]` so a deployment can point elsewhere and
//! tests point at a stub. The service-account token is cached until it has
//! less than `refresh_margin_secs` left: a downscoped token dies with its
//! source token, so handing out one minted from an almost-expired source
//! would give Neuroglancer a credential that expires within minutes.
//! Downscoped tokens are not cached (authorization is decided per call).

pub mod iam;

use std::sync::Arc;
use std::time::Duration;

use dsg_core::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::json;

pub use crate::config::GcsConfig;

/// Why a Google call failed, in the terms `/gcs_token` answers with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GcsError {
    /// No key file configured.
    #[error("no service-account credentials configured")]
    NotConfigured,
    /// Google could not be reached, timed out, answered 5xx, or refused the
    /// gateway's own credentials (503: the client may retry).
    #[error("credential service unavailable: {0}")]
    Unavailable(String),
    /// Google refused the exchange or answered something unusable (502).
    #[error("credential exchange failed: {0}")]
    Rejected(String),
    /// A bucket IAM write lost a race (stale etag); retried by callers.
    #[error("IAM policy changed concurrently")]
    Conflict,
}

/// The fields of a service-account key file that matter here.
#[derive(Clone, Deserialize)]
pub struct ServiceAccountKey {
    /// Must be `service_account`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The account's e-mail (JWT `iss`).
    pub client_email: String,
    /// PKCS#8 PEM RSA key.
    pub private_key: String,
    /// Key id (JWT `kid`).
    #[serde(default)]
    pub private_key_id: String,
    /// OAuth token endpoint (JWT `aud`).
    #[serde(default)]
    pub token_uri: String,
}

impl std::fmt::Debug for ServiceAccountKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccountKey")
            .field("client_email", &self.client_email)
            .field("private_key", &"<redacted>")
            .finish()
    }
}

struct Configured {
    http: reqwest::Client,
    email: String,
    key_id: String,
    signing_key: jsonwebtoken::EncodingKey,
    token_url: String,
    sts_url: String,
    storage_url: String,
    refresh_margin_secs: i64,
    cached: tokio::sync::Mutex<Option<(String, Timestamp)>>,
    bucket_locks:
        parking_lot::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    last_contact: parking_lot::Mutex<Option<Contact>>,
}

/// Whether Google's token endpoints answered, for `/readyz`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reachability {
    /// No service-account key configured (`/gcs_token` answers 503).
    NotConfigured,
    /// Configured, no call made yet.
    NotContacted,
    /// The last call.
    Contacted(Contact),
}

/// The outcome of the last call to Google's token endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    /// When it was made.
    pub at: Timestamp,
    /// `None` when Google answered; else why it was unavailable.
    pub unavailable: Option<String>,
}

/// The Google client (cheap to clone). Unconfigured when no key file is set.
#[derive(Clone)]
pub struct Gcs {
    inner: Option<Arc<Configured>>,
    /// IAM sync enabled.
    pub iam_sync: bool,
}

/// Scope of the service-account token.
pub const CLOUD_PLATFORM_SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
/// JWT-bearer grant type.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// STS grant type.
pub const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// STS subject / requested token type.
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
/// The role granted on buckets and used in access boundaries.
pub const OBJECT_VIEWER: &str = "roles/storage.objectViewer";

/// The Credential Access Boundary limiting a token to reading one bucket.
pub fn access_boundary(bucket: &str) -> serde_json::Value {
    json!({"accessBoundary": {"accessBoundaryRules": [{
        "availableResource": format!("//storage.googleapis.com/projects/_/buckets/{bucket}"),
        "availablePermissions": [format!("inRole:{OBJECT_VIEWER}")],
    }]}})
}

/// Most rules a Credential Access Boundary may hold.
pub const MAX_BOUNDARY_RULES: usize = 10;

/// A CEL string literal (single-quoted) for `s`.
fn cel_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// The boundary limiting a token to reading objects under `prefixes` of
/// `bucket` (one rule per prefix; rules combine as a union): object reads
/// under the prefix, and listings whose prefix lies under it.
pub fn prefix_access_boundary(bucket: &str, prefixes: &[String]) -> serde_json::Value {
    let rules: Vec<serde_json::Value> = prefixes
        .iter()
        .map(|p| {
            let objects = cel_string(&format!("projects/_/buckets/{bucket}/objects/{p}"));
            let listing = cel_string(p);
            json!({
                "availableResource": format!("//storage.googleapis.com/projects/_/buckets/{bucket}"),
                "availablePermissions": [format!("inRole:{OBJECT_VIEWER}")],
                "availabilityCondition": {
                    "title": "dataset version prefix",
                    "expression": format!(
                        "resource.name.startsWith({objects}) || \
                         api.getAttribute('storage.googleapis.com/objectListPrefix', '').startsWith({listing})"
                    ),
                },
            })
        })
        .collect();
    json!({"accessBoundary": {"accessBoundaryRules": rules}})
}

/// True for a plausible GCS bucket name (3–222 of `a-z 0-9 - _ .`, starting
/// and ending with a letter or digit), so it can be placed in URLs and
/// resource names as is.
pub fn valid_bucket_name(name: &str) -> bool {
    let b = name.as_bytes();
    (3..=222).contains(&b.len())
        && b.iter().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'-' | b'_' | b'.')
        })
        && b.first().is_some_and(u8::is_ascii_alphanumeric)
        && b.last().is_some_and(u8::is_ascii_alphanumeric)
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<i64>,
}

#[derive(Serialize)]
struct JwtClaims<'a> {
    iss: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
}

impl Gcs {
    /// Builds the client; reads and checks the key file when one is configured.
    ///
    /// # Errors
    /// Unreadable or invalid key file, phrased as what to fix.
    pub fn from_config(config: &GcsConfig) -> Result<Self, String> {
        if config.credentials_file.is_empty() {
            return Ok(Self {
                inner: None,
                iam_sync: false,
            });
        }
        let path = &config.credentials_file;
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("gcs.credentials_file {path}: cannot read: {e}"))?;
        let key: ServiceAccountKey = serde_json::from_str(&text).map_err(|e| {
            format!("gcs.credentials_file {path}: not a service-account key file: {e}")
        })?;
        if key.kind != "service_account" {
            return Err(format!(
                "gcs.credentials_file {path}: \"type\" is {:?}, expected \"service_account\"",
                key.kind
            ));
        }
        let signing_key = jsonwebtoken::EncodingKey::from_rsa_pem(key.private_key.as_bytes())
            .map_err(|e| {
                format!("gcs.credentials_file {path}: private_key is not an RSA PEM key: {e}")
            })?;
        let token_url = if config.token_url.is_empty() {
            key.token_uri.clone()
        } else {
            config.token_url.clone()
        };
        if !(token_url.starts_with("https://") || token_url.starts_with("http://")) {
            return Err(format!(
                "gcs.credentials_file {path}: no token_uri; set gcs.token_url (e.g. https://oauth2.googleapis.com/token)"
            ));
        }
        let http = crate::outbound::client(Duration::from_secs(config.timeout_secs))
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok(Self {
            inner: Some(Arc::new(Configured {
                http,
                email: key.client_email,
                key_id: key.private_key_id,
                signing_key,
                token_url,
                sts_url: config.sts_url.clone(),
                storage_url: config.storage_url.trim_end_matches('/').to_owned(),
                refresh_margin_secs: config.refresh_margin_secs,
                cached: tokio::sync::Mutex::new(None),
                bucket_locks: parking_lot::Mutex::new(std::collections::HashMap::new()),
                last_contact: parking_lot::Mutex::new(None),
            })),
            iam_sync: config.iam_sync,
        })
    }

    /// True when a key file is configured.
    pub fn is_configured(&self) -> bool {
        self.inner.is_some()
    }

    fn configured(&self) -> Result<&Configured, GcsError> {
        self.inner.as_deref().ok_or(GcsError::NotConfigured)
    }

    /// What `/readyz` reports: no credentials, not contacted yet, or the
    /// outcome of the last call to Google's token endpoints.
    pub fn reachability(&self) -> Reachability {
        match self.inner.as_deref() {
            None => Reachability::NotConfigured,
            Some(c) => match c.last_contact.lock().clone() {
                None => Reachability::NotContacted,
                Some(contact) => Reachability::Contacted(contact),
            },
        }
    }

    /// Remembers whether Google was reachable (a refusal of one exchange
    /// is an answer, not an outage).
    fn record<T>(&self, now: Timestamp, result: &Result<T, GcsError>) {
        let Some(c) = self.inner.as_deref() else {
            return;
        };
        let unavailable = match result {
            Err(GcsError::Unavailable(why)) => Some(why.clone()),
            _ => None,
        };
        *c.last_contact.lock() = Some(Contact {
            at: now,
            unavailable,
        });
    }

    /// The service-account access token, from cache while it has more than
    /// the refresh margin left.
    ///
    /// # Errors
    /// [`GcsError::Unavailable`] when the token endpoint fails or refuses.
    pub async fn source_token(&self, now: Timestamp) -> Result<String, GcsError> {
        let c = self.configured()?;
        let mut cached = c.cached.lock().await;
        if let Some((token, expires)) = cached.as_ref()
            && now.plus_secs(c.refresh_margin_secs) < *expires
        {
            return Ok(token.clone());
        }
        let fetched = self.fetch_source_token(c, now).await;
        self.record(now, &fetched);
        let (token, expires) = fetched?;
        *cached = Some((token.clone(), expires));
        Ok(token)
    }

    async fn fetch_source_token(
        &self,
        c: &Configured,
        now: Timestamp,
    ) -> Result<(String, Timestamp), GcsError> {
        let iat = now.as_secs();
        let claims = JwtClaims {
            iss: &c.email,
            scope: CLOUD_PLATFORM_SCOPE,
            aud: &c.token_url,
            iat,
            exp: iat + 3600,
        };
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        if !c.key_id.is_empty() {
            header.kid = Some(c.key_id.clone());
        }
        let assertion = jsonwebtoken::encode(&header, &claims, &c.signing_key)
            .map_err(|e| GcsError::Unavailable(format!("signing the JWT assertion: {e}")))?;
        let resp = c
            .http
            .post(&c.token_url)
            .form(&[("grant_type", JWT_BEARER), ("assertion", &assertion)])
            .send()
            .await
            .map_err(|e| GcsError::Unavailable(format!("OAuth token endpoint: {e}")))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(GcsError::Unavailable(format!(
                "OAuth token endpoint answered {status}"
            )));
        }
        let body: TokenResponse = resp
            .json()
            .await
            .map_err(|e| GcsError::Unavailable(format!("OAuth token endpoint: bad answer: {e}")))?;
        let expires = now.plus_secs(body.expires_in.unwrap_or(3600));
        Ok((body.access_token, expires))
    }

    /// A token that can only read `bucket` (or only the objects under
    /// `prefixes` of it), from the STS token exchange.
    ///
    /// # Errors
    /// [`GcsError::Unavailable`] (unreachable, timeout, 5xx, no credentials)
    /// or [`GcsError::Rejected`] (STS refused or answered garbage).
    pub async fn downscoped_token(
        &self,
        bucket: &str,
        prefixes: Option<&[String]>,
        now: Timestamp,
    ) -> Result<String, GcsError> {
        let c = self.configured()?;
        let source = self.source_token(now).await?;
        let exchanged = self.exchange(c, &source, bucket, prefixes).await;
        self.record(now, &exchanged);
        exchanged
    }

    async fn exchange(
        &self,
        c: &Configured,
        source: &str,
        bucket: &str,
        prefixes: Option<&[String]>,
    ) -> Result<String, GcsError> {
        let options = match prefixes {
            None => access_boundary(bucket),
            Some(p) => prefix_access_boundary(bucket, p),
        }
        .to_string();
        let resp = c
            .http
            .post(&c.sts_url)
            .form(&[
                ("grant_type", TOKEN_EXCHANGE),
                ("subject_token", source),
                ("subject_token_type", ACCESS_TOKEN_TYPE),
                ("requested_token_type", ACCESS_TOKEN_TYPE),
                ("options", options.as_str()),
            ])
            .send()
            .await
            .map_err(|e| GcsError::Unavailable(format!("STS: {e}")))?;
        let status = resp.status();
        if status.is_server_error() {
            return Err(GcsError::Unavailable(format!("STS answered {status}")));
        }
        if !status.is_success() {
            return Err(GcsError::Rejected(format!("STS answered {status}")));
        }
        let body: TokenResponse = resp
            .json()
            .await
            .map_err(|e| GcsError::Rejected(format!("STS: bad answer: {e}")))?;
        if body.access_token.is_empty() {
            return Err(GcsError::Rejected("STS: empty access_token".into()));
        }
        Ok(body.access_token)
    }

    /// A per-bucket lock serialising this process's IAM writes to one bucket.
    fn bucket_lock(&self, bucket: &str) -> Result<Arc<tokio::sync::Mutex<()>>, GcsError> {
        let c = self.configured()?;
        Ok(c.bucket_locks
            .lock()
            .entry(bucket.to_owned())
            .or_default()
            .clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_file(contents: &str) -> (tempfile::TempDir, GcsConfig) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("key.json");
        std::fs::write(&p, contents).unwrap();
        let c = GcsConfig {
            credentials_file: p.display().to_string(),
            ..GcsConfig::default()
        };
        (dir, c)
    }

    #[test]
    fn the_private_key_never_shows_in_debug_output() {
        let key: ServiceAccountKey = serde_json::from_str(
            r#"{"type": "service_account", "client_email": "gw@p.iam", "private_key": "-----BEGIN PRIVATE KEY-----secret-bits"}"#,
        )
        .unwrap();
        let shown = format!("{key:?}");
        assert!(
            shown.contains("gw@p.iam") && !shown.contains("secret-bits"),
            "{shown}"
        );
    }

    #[test]
    fn bad_key_files_are_refused_with_what_to_fix() {
        let missing = GcsConfig {
            credentials_file: "/nonexistent/key.json".into(),
            ..GcsConfig::default()
        };
        let e = Gcs::from_config(&missing).err().unwrap();
        assert!(
            e.contains("/nonexistent/key.json") && e.contains("cannot read"),
            "{e}"
        );
        let (_d, c) = with_file("{}");
        assert!(
            Gcs::from_config(&c)
                .err()
                .unwrap()
                .contains("not a service-account key file")
        );
        let (_d, c) =
            with_file(r#"{"type": "authorized_user", "client_email": "x", "private_key": "y"}"#);
        assert!(
            Gcs::from_config(&c)
                .err()
                .unwrap()
                .contains("expected \"service_account\"")
        );
        let (_d, c) = with_file(
            r#"{"type": "service_account", "client_email": "x", "private_key": "not pem"}"#,
        );
        assert!(
            Gcs::from_config(&c)
                .err()
                .unwrap()
                .contains("not an RSA PEM key")
        );
        assert!(
            !Gcs::from_config(&GcsConfig::default())
                .unwrap()
                .is_configured()
        );
    }

    #[test]
    fn settings_are_checked() {
        let mut c = GcsConfig {
            sts_url: "ftp://x".into(),
            ..GcsConfig::default()
        };
        assert!(c.validate().unwrap_err().contains("gcs.sts_url"));
        c.sts_url = GcsConfig::default().sts_url;
        c.iam_sync = true;
        assert!(c.validate().unwrap_err().contains("credentials_file"));
    }

    #[test]
    fn bucket_names_and_boundaries() {
        assert!(valid_bucket_name("fish2-data.v1_x"));
        for bad in ["ab", "Upper", "a/b", "-ab", "ab-", "a b", ""] {
            assert!(!valid_bucket_name(bad), "{bad}");
        }
        assert_eq!(
            access_boundary("b1").to_string(),
            r#"{"accessBoundary":{"accessBoundaryRules":[{"availablePermissions":["inRole:roles/storage.objectViewer"],"availableResource":"//storage.googleapis.com/projects/_/buckets/b1"}]}}"#
        );
    }
}
