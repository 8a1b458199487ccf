//! Servers for Neuroglancer's ngauth (`/token`, `/gcs_token`, `/login`)
//! with Google at the [`GoogleStub`], and the data the ngauth tests seed.

#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};

use crate::google::GoogleStub;
use crate::{Backend, TestApp, spawn_app_with};

/// The Neuroglancer origin [`app_with_google`] allows.
pub const NG: &str = "http://localhost:8080";

/// Datasets with buckets (and the STS failure buckets), users with login tokens, grants.
pub fn world() -> Value {
    json!({
        "datasets": [
            {"name": "fish2", "buckets": ["fish2-data", "sts-refuses", "sts-broken"],
             "versions": [{"version": "v1", "buckets": ["fish2-data"], "prefix": "v1/it's"}]},
            {"name": "hemi", "buckets": ["hemi-data"]},
            {"name": "empty"}
        ],
        "users": [
            {"key": "a", "email": "Alice@Example.org", "tokens": [{"key": "login"}, {"key": "old", "expires_in_s": 60}]},
            {"key": "b", "email": "b@example.org", "tokens": [{"key": "login"}]},
            {"key": "off", "email": "off@example.org", "active": false, "tokens": [{"key": "login"}]},
            {"key": "v", "email": "v@example.org", "tokens": [{"key": "login"}]}
        ],
        "grants": [
            {"user": "a", "dataset": "fish2", "permission": "view"},
            {"user": "off", "dataset": "fish2", "permission": "view"},
            {"user": "v", "dataset": "fish2", "permission": "view", "version": "v1"}
        ]
    })
}

/// A server allowing [`NG`], with Google at the stub and bucket IAM at `iam_url`.
pub async fn app_with_google(backend: Backend, google: &GoogleStub, iam_url: &str) -> TestApp {
    app_with(backend, google, iam_url, NG).await
}

/// A server allowing one Neuroglancer origin, with Google at the stub.
pub async fn app_with_google_for(backend: Backend, google: &GoogleStub, origin: &str) -> TestApp {
    app_with(backend, google, "http://127.0.0.1:9", origin).await
}

async fn app_with(backend: Backend, google: &GoogleStub, iam_url: &str, origin: &str) -> TestApp {
    let key = google.key_file.display().to_string();
    let sts = google.sts_url();
    let iam = iam_url.to_owned();
    let origin = origin.to_owned();
    spawn_app_with(backend, move |c| {
        c.ngauth.allowed_origins = vec![origin];
        c.ngauth.allowed_origins_regex = String::new();
        c.gcs.credentials_file = key;
        c.gcs.sts_url = sts;
        c.gcs.storage_url = iam;
    })
    .await
    .unwrap()
}
