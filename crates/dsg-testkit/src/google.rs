//! Local stand-ins for Google: a wiremock server for the OAuth token
//! endpoint (JWT-bearer grant) and STS, and a small stateful bucket IAM
//! server that answers 412 to a write carrying a stale etag. The test
//! service-account key lives in `crates/dsg/tests/it/fixtures/`.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// The test service account's e-mail.
pub const SA_EMAIL: &str = "gateway@test-project.iam.gserviceaccount.com";
/// The access token the OAuth stub hands out first.
pub const SA_TOKEN: &str = "sa-token-1";

/// Test RSA key (PKCS#8 PEM) and its public half.
pub const PRIVATE_KEY: &str = include_str!("../../dsg/tests/it/fixtures/test_sa_key.pem");
const PUBLIC_KEY: &str = include_str!("../../dsg/tests/it/fixtures/test_sa_key.pub.pem");

/// OAuth + STS stub.
pub struct GoogleStub {
    /// The wiremock server.
    pub server: MockServer,
    _dir: tempfile::TempDir,
    /// Service-account key file pointing at the stub.
    pub key_file: PathBuf,
}

impl GoogleStub {
    /// Starts the stub: OAuth answers `SA_TOKEN`; STS answers
    /// `ds-<bucket>` for buckets except the failure buckets
    /// `sts-refuses` (400) and `sts-broken` (500).
    pub async fn start() -> Self {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/oauth/token"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "access_token": SA_TOKEN, "expires_in": 3599, "token_type": "Bearer"
            })))
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/v1/token"))
            .and(body_string_contains("sts-refuses"))
            .respond_with(ResponseTemplate::new(400).set_body_json(json!({
                "error": "invalid_request", "error_description": "nope"
            })))
            .with_priority(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/v1/token"))
            .and(body_string_contains("sts-broken"))
            .respond_with(ResponseTemplate::new(500))
            .with_priority(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/v1/token"))
            .respond_with(|req: &wiremock::Request| {
                let form = form(&req.body);
                let options: Value = serde_json::from_str(&form["options"]).unwrap_or(Value::Null);
                let resource =
                    options["accessBoundary"]["accessBoundaryRules"][0]["availableResource"]
                        .as_str()
                        .unwrap_or("")
                        .to_owned();
                let bucket = resource.rsplit('/').next().unwrap_or("").to_owned();
                ResponseTemplate::new(200).set_body_json(json!({
                    "access_token": format!("ds-{bucket}"),
                    "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
                    "token_type": "Bearer", "expires_in": 3599
                }))
            })
            .with_priority(5)
            .mount(&server)
            .await;
        let dir = tempfile::tempdir().unwrap();
        let key_file = dir.path().join("sa.json");
        std::fs::write(
            &key_file,
            json!({
                "type": "service_account",
                "project_id": "test-project",
                "private_key_id": "kid-1",
                "private_key": PRIVATE_KEY,
                "client_email": SA_EMAIL,
                "token_uri": format!("{}/oauth/token", server.uri()),
            })
            .to_string(),
        )
        .unwrap();
        Self {
            server,
            _dir: dir,
            key_file,
        }
    }

    /// The STS URL to configure.
    pub fn sts_url(&self) -> String {
        format!("{}/v1/token", self.server.uri())
    }

    /// Requests received on a path, as parsed forms (plus the raw request).
    pub async fn forms(&self, on: &str) -> Vec<(HashMap<String, String>, wiremock::Request)> {
        self.server
            .received_requests()
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r.url.path() == on)
            .map(|r| (form(&r.body), r))
            .collect()
    }
}

/// Parses an `application/x-www-form-urlencoded` body.
pub fn form(body: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

/// Checks a JWT-bearer assertion: RS256 signature by the test key, claims.
pub fn check_assertion(assertion: &str, token_url: &str) {
    #[derive(serde::Deserialize)]
    struct Claims {
        iss: String,
        scope: String,
        aud: String,
        iat: i64,
        exp: i64,
    }
    let key = jsonwebtoken::DecodingKey::from_rsa_pem(PUBLIC_KEY.as_bytes()).unwrap();
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.set_audience(&[token_url]);
    let data = jsonwebtoken::decode::<Claims>(assertion, &key, &v).unwrap();
    assert_eq!(data.header.kid.as_deref(), Some("kid-1"));
    assert_eq!(data.claims.iss, SA_EMAIL);
    assert_eq!(data.claims.aud, token_url);
    assert_eq!(
        data.claims.scope,
        "https://www.googleapis.com/auth/cloud-platform"
    );
    assert!(data.claims.exp - data.claims.iat <= 3600 && data.claims.exp > data.claims.iat);
}

/// A stateful bucket IAM server: policies with etags, 412 on a stale etag.
#[derive(Clone, Default)]
pub struct IamStub {
    inner: Arc<IamState>,
}

#[derive(Default)]
struct IamState {
    policies: parking_lot::Mutex<HashMap<String, (u64, Value)>>,
    /// Writes to answer as if someone else had written first.
    races: AtomicU32,
    puts: AtomicU32,
    conflicts: AtomicU32,
}

impl IamStub {
    /// Serves on a random loopback port; returns the base URL.
    pub async fn start(&self) -> String {
        let app = axum::Router::new()
            .route(
                "/storage/v1/b/{bucket}/iam",
                axum::routing::get(get_policy).put(put_policy),
            )
            .with_state(self.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        format!("http://{addr}")
    }

    /// Sets a bucket's bindings (etag bumps).
    pub fn set_bindings(&self, bucket: &str, bindings: Value) {
        let mut p = self.inner.policies.lock();
        let e = p.get(bucket).map_or(1, |(e, _)| e + 1);
        p.insert(
            bucket.into(),
            (e, json!({"version": 1, "bindings": bindings})),
        );
    }

    /// The bucket's bindings now.
    pub fn bindings(&self, bucket: &str) -> Value {
        self.inner
            .policies
            .lock()
            .get(bucket)
            .map_or(json!([]), |(_, p)| p["bindings"].clone())
    }

    /// Sorted objectViewer `user:` members.
    pub fn viewers(&self, bucket: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .bindings(bucket)
            .as_array()
            .into_iter()
            .flatten()
            .filter(|b| b["role"] == "roles/storage.objectViewer")
            .flat_map(|b| b["members"].as_array().cloned().unwrap_or_default())
            .filter_map(|m| m.as_str().map(str::to_owned))
            .collect();
        v.sort();
        v
    }

    /// Makes the next `n` writes lose a race (the policy changes underneath).
    pub fn lose_races(&self, n: u32) {
        self.inner.races.store(n, Ordering::SeqCst);
    }

    /// (successful writes, 412 answers).
    pub fn counts(&self) -> (u32, u32) {
        (
            self.inner.puts.load(Ordering::SeqCst),
            self.inner.conflicts.load(Ordering::SeqCst),
        )
    }
}

fn authorized(h: &HeaderMap) -> bool {
    h.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {SA_TOKEN}"))
}

async fn get_policy(
    State(s): State<IamStub>,
    Path(bucket): Path<String>,
    headers: HeaderMap,
) -> Response {
    if !authorized(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    if bucket.starts_with("gone-") {
        return StatusCode::NOT_FOUND.into_response();
    }
    let mut p = s.inner.policies.lock();
    let (etag, policy) = p
        .entry(bucket.clone())
        .or_insert_with(|| (1, json!({"version": 1, "bindings": []})));
    let mut out = policy.clone();
    out["etag"] = json!(format!("E{etag}"));
    out["resourceId"] = json!(format!("projects/_/buckets/{bucket}"));
    axum::Json(out).into_response()
}

async fn put_policy(
    State(s): State<IamStub>,
    Path(bucket): Path<String>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    if !authorized(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let mut p = s.inner.policies.lock();
    let entry = p
        .entry(bucket)
        .or_insert_with(|| (1, json!({"version": 1, "bindings": []})));
    if s.inner
        .races
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        entry.0 += 1; // someone else wrote in between
    }
    if body["etag"] != json!(format!("E{}", entry.0)) {
        s.inner.conflicts.fetch_add(1, Ordering::SeqCst);
        return (
            StatusCode::PRECONDITION_FAILED,
            axum::Json(
                json!({"error": {"code": 412, "message": "Precondition Failed",
                "errors": [{"reason": "conditionNotMet"}]}}),
            ),
        )
            .into_response();
    }
    let bindings = body["bindings"].as_array().cloned().unwrap_or_default();
    let conditional = bindings.iter().any(|b| b.get("condition").is_some());
    if conditional && body["version"] != json!(3) {
        return StatusCode::BAD_REQUEST.into_response();
    }
    entry.0 += 1;
    entry.1 = json!({"version": body["version"].clone(), "bindings": bindings});
    s.inner.puts.fetch_add(1, Ordering::SeqCst);
    let mut out = entry.1.clone();
    out["etag"] = json!(format!("E{}", entry.0));
    axum::Json(out).into_response()
}
