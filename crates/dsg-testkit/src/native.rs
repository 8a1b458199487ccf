//! The native API (`/api/v1/…`): the data its tests seed and a JSON call.

#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};

use crate::TestApp;

/// Datasets (with TOS, versions, buckets, a public one), users of every
/// role with a token `t`, groups, grants, TOS acceptances, a service account.
pub fn world() -> Value {
    json!({
        "datasets": [
            {"name": "fish2", "tos": "fish_tos", "buckets": ["fish-b"],
             "versions": [{"version": "v1", "buckets": ["fish-b"]}, {"version": "v2"}]},
            {"name": "fanc"},
            {"name": "manc", "access_mode": "public"}
        ],
        "tos": [{"key": "fish_tos", "name": "Fish terms", "text": "t", "dataset": "fish2"}],
        "users": [
            {"key": "lead", "email": "lead@example.org", "tokens": [{"key": "t"}]},
            {"key": "boss", "email": "boss@example.org", "tokens": [{"key": "t"}]},
            {"key": "ro", "email": "ro@example.org", "read_only": true, "tokens": [{"key": "t"}]},
            {"key": "v", "email": "v@example.org", "tokens": [{"key": "t"}]},
            {"key": "sc", "email": "sc@example.org", "tokens": [{"key": "t"}]},
            {"key": "gadmin", "email": "gadmin@example.org", "tokens": [{"key": "t"}]},
            {"key": "root", "email": "root@example.org", "admin": true, "tokens": [{"key": "t"}]}
        ],
        "groups": [
            {"name": "sc", "members": [{"user": "sc"}]},
            {"name": "lab", "members": [{"user": "gadmin", "admin": true}],
             "permissions": [{"dataset": "fanc", "permission": "view"}]},
            {"name": "other", "members": [{"user": "v"}]}
        ],
        "grants": [
            {"user": "lead", "dataset": "fish2", "permission": "manage"},
            {"user": "lead", "dataset": "fanc", "permission": "manage"},
            {"user": "boss", "dataset": "fish2", "permission": "admin"},
            {"user": "ro", "dataset": "fanc", "permission": "manage"},
            {"user": "v", "dataset": "fish2", "permission": "edit", "version": "v1"},
            {"user": "gadmin", "dataset": "fanc", "permission": "manage"}
        ],
        "tos_acceptances": [{"user": "lead", "tos": "fish_tos"}, {"user": "v", "tos": "fish_tos"}],
        "service_accounts": [{"key": "ci", "name": "ci-bot", "tokens": [{"key": "t"}],
                              "grants": [{"dataset": "fanc", "permission": "edit"}]}]
    })
}

/// `method path` with a bearer token and an optional JSON body:
/// (status, JSON body, or the text as a JSON string).
pub async fn call(
    app: &TestApp,
    method: &str,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut r = app
        .client
        .request(method.parse().unwrap(), app.url(path))
        .bearer_auth(token);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}
