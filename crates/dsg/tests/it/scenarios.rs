//! Declarative permission scenarios: every `tests/scenarios/*.yaml` file is a
//! world (the `dsg seed` fixture format, plus `expires_in_s` on grants and
//! memberships and `read_only` / `datasets` on tokens) and a list of checks
//! "principal, dataset, version → expected levels and missing TOS", asked of
//! the real server through `user/cache` (and `check-access` where a check
//! lists decisions). One test runs them all, on each database.

use std::collections::BTreeMap;
use std::path::PathBuf;

use dsg_core::Timestamp;
use dsg_testkit::{Backend, spawn_app};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioFile {
    #[allow(dead_code)]
    description: String,
    world: Value,
    checks: Vec<Check>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Check {
    name: String,
    /// A user key, or `sa:<key>` for a service account.
    principal: String,
    /// Token key (default `t`).
    token: Option<String>,
    dataset: String,
    version: Option<String>,
    service: Option<String>,
    /// Seconds after seeding at which to ask (the server's clock is moved).
    at_s: Option<i64>,
    /// Expected `user/cache` status (default 200).
    status: Option<u16>,
    /// `permissions_v2[dataset]`, or `version_permissions[dataset][version]`.
    levels: Option<Vec<String>>,
    /// `permissions_v2_ignore_tos[dataset]`.
    ignore_tos: Option<Vec<String>>,
    /// TOS keys listed in `missing_tos` for the dataset.
    missing_tos: Option<Vec<String>>,
    /// `permissions[dataset]` (absent counts as 0).
    numeric: Option<u8>,
    admin: Option<bool>,
    service_account: Option<bool>,
    datasets_admin: Option<Vec<String>>,
    groups: Option<Vec<String>>,
    /// check-access: permission → expected reason.
    check: Option<BTreeMap<String, String>>,
    /// Listed by `GET /api/v1/datasets` (§4.11).
    listed: Option<bool>,
    /// May manage the dataset's grants (§4.9: `GET …/grants` answers 200).
    can_manage: Option<bool>,
    /// Is a dataset admin (§4.9: `GET …/access-requests` answers 200).
    dataset_admin: Option<bool>,
}

fn scenario_files() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

fn list(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

async fn permission_scenarios(backend: Backend) {
    let mut failures = Vec::new();
    let mut count = 0;
    for file in scenario_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        let sc: ScenarioFile =
            serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let fname = file.file_name().unwrap().to_string_lossy().into_owned();
        let app = spawn_app(backend).await.unwrap();
        let base = Timestamp(dsg_store::now_micros());
        app.clock.set(base);
        let seeded = app.seed(sc.world.clone()).await.unwrap();
        let tos_key: BTreeMap<i64, String> = seeded["tos"]
            .as_object()
            .map(|o| {
                o.iter()
                    .map(|(k, v)| (v["id"].as_i64().unwrap(), k.clone()))
                    .collect()
            })
            .unwrap_or_default();
        let mut last_at = i64::MIN;
        for c in &sc.checks {
            count += 1;
            // Time only moves forward, as in production: order checks by `at_s`.
            let at = c.at_s.unwrap_or(0);
            assert!(
                at >= last_at,
                "{fname} / {}: at_s must not decrease",
                c.name
            );
            last_at = at;
            let mut fail = |what: String| failures.push(format!("{fname} / {}: {what}", c.name));
            app.clock.set(base.plus_secs(at));
            let tk = c.token.as_deref().unwrap_or("t");
            let token = match c.principal.strip_prefix("sa:") {
                Some(k) => &seeded["service_accounts"][k]["tokens"][tk],
                None => &seeded["users"][&c.principal]["tokens"][tk],
            };
            let Some(token) = token.as_str() else {
                fail(format!("no token {tk} for {}", c.principal));
                continue;
            };
            let path = match &c.service {
                Some(s) => format!("/api/v1/user/cache?service={s}"),
                None => "/api/v1/user/cache".to_owned(),
            };
            let r = app.get(&path, Some(token)).await.unwrap();
            let status = r.status().as_u16();
            let doc: Value = r.json().await.unwrap();
            if status != c.status.unwrap_or(200) {
                fail(format!("status {status}: {doc}"));
                continue;
            }
            if status != 200 {
                continue;
            }
            let d = &c.dataset;
            let levels = match &c.version {
                Some(v) => &doc["version_permissions"][d][v],
                None => &doc["permissions_v2"][d],
            };
            let mut expect = |what: &str, got: Value, want: Value| {
                if got != want {
                    fail(format!("{what}: got {got}, want {want}"));
                }
            };
            if let Some(l) = &c.levels {
                expect("levels", json!(list(levels)), json!(l));
            }
            if let Some(l) = &c.ignore_tos {
                expect(
                    "ignore_tos",
                    json!(list(&doc["permissions_v2_ignore_tos"][d])),
                    json!(l),
                );
            }
            if let Some(m) = &c.missing_tos {
                let mut got: Vec<String> = doc["missing_tos"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|e| e["dataset_name"] == json!(d))
                    .map(|e| {
                        tos_key
                            .get(&e["tos_id"].as_i64().unwrap())
                            .cloned()
                            .unwrap_or_default()
                    })
                    .collect();
                got.sort();
                let mut want = m.clone();
                want.sort();
                expect("missing_tos", json!(got), json!(want));
            }
            if let Some(n) = c.numeric {
                expect(
                    "numeric",
                    json!(doc["permissions"][d].as_u64().unwrap_or(0)),
                    json!(n),
                );
            }
            if let Some(a) = c.admin {
                expect("admin", doc["admin"].clone(), json!(a));
            }
            if let Some(a) = c.service_account {
                expect("service_account", doc["service_account"].clone(), json!(a));
            }
            if let Some(a) = &c.datasets_admin {
                expect("datasets_admin", doc["datasets_admin"].clone(), json!(a));
            }
            if let Some(g) = &c.groups {
                expect("groups", doc["groups"].clone(), json!(g));
            }
            if let Some(l) = c.listed {
                let v: Value = app
                    .get("/api/v1/datasets", Some(token))
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                let got = v.as_array().unwrap().iter().any(|x| x["name"] == json!(d));
                expect("listed", json!(got), json!(l));
            }
            for (want, path) in [
                (c.can_manage, format!("/api/v1/datasets/{d}/grants")),
                (
                    c.dataset_admin,
                    format!("/api/v1/datasets/{d}/access-requests"),
                ),
            ] {
                if let Some(w) = want {
                    let st = app.get(&path, Some(token)).await.unwrap().status().as_u16();
                    expect(&path, json!(st == 200), json!(w));
                }
            }
            for (perm, reason) in c.check.iter().flatten() {
                let body = json!({"dataset": d, "version": c.version, "permission": perm, "service": c.service});
                let r = app
                    .client
                    .post(app.url("/api/v1/check-access"))
                    .bearer_auth(token)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                let v: Value = r.json().await.unwrap();
                expect(
                    &format!("check-access {perm}"),
                    v["reason"].clone(),
                    json!(reason),
                );
            }
        }
        app.shutdown().await;
    }
    assert!(
        failures.is_empty(),
        "{} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(count >= 40, "only {count} scenarios");
    eprintln!("{count} permission scenarios passed on {backend:?}");
}
both_backends!(permission_scenarios, super::permission_scenarios);
