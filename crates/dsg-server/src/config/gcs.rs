//! `[gcs]`: the Google Cloud Storage service account behind `/gcs_token` and
//! bucket IAM sync; every Google URL is configuration (tests point them at a stub).

use serde::{Deserialize, Serialize};

/// `[gcs]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GcsConfig {
    /// Service-account key file (JSON, `type = "service_account"`);
    /// `GOOGLE_APPLICATION_CREDENTIALS` is honoured. Empty: `/gcs_token`
    /// answers 503 and IAM sync is off.
    pub credentials_file: String,
    /// OAuth token endpoint for the JWT-bearer grant; empty = the key file's
    /// `token_uri`.
    pub token_url: String,
    /// STS token-exchange endpoint (downscoping).
    pub sts_url: String,
    /// Cloud Storage JSON API base, for bucket IAM policies.
    pub storage_url: String,
    /// Timeout of each Google call, in seconds.
    pub timeout_secs: u64,
    /// Refresh the cached service-account token when fewer seconds than this remain.
    pub refresh_margin_secs: i64,
    /// Grant and revoke `roles/storage.objectViewer` on dataset buckets when
    /// access changes (spec §4.12). Needs `storage.buckets.setIamPolicy`.
    pub iam_sync: bool,
    /// Seconds between the IAM sync worker's looks at the change outbox.
    pub iam_sync_interval_secs: u64,
}

impl Default for GcsConfig {
    fn default() -> Self {
        Self {
            credentials_file: String::new(),
            token_url: String::new(),
            sts_url: "https://sts.googleapis.com/v1/token".into(),
            storage_url: "https://storage.googleapis.com".into(),
            timeout_secs: 30,
            refresh_margin_secs: 900,
            iam_sync: false,
            iam_sync_interval_secs: 2,
        }
    }
}

impl GcsConfig {
    /// Checks the settings (the key file itself is read at start-up).
    ///
    /// # Errors
    /// A message saying what to fix.
    pub fn validate(&self) -> Result<(), String> {
        for (name, v) in [
            ("gcs.sts_url", &self.sts_url),
            ("gcs.storage_url", &self.storage_url),
            ("gcs.token_url", &self.token_url),
        ] {
            if v.is_empty() && name == "gcs.token_url" {
                continue;
            }
            match url::Url::parse(v) {
                Ok(u) if matches!(u.scheme(), "http" | "https") => {}
                _ => return Err(format!("{name} {v:?} must be an http(s) URL")),
            }
        }
        if self.timeout_secs == 0 || self.iam_sync_interval_secs == 0 {
            return Err("gcs.timeout_secs and gcs.iam_sync_interval_secs must be positive".into());
        }
        if !(0..3000).contains(&self.refresh_margin_secs) {
            return Err("gcs.refresh_margin_secs must be between 0 and 3000".into());
        }
        if self.iam_sync && self.credentials_file.is_empty() {
            return Err(
                "gcs.iam_sync needs gcs.credentials_file (a service-account key file)".into(),
            );
        }
        Ok(())
    }
}
