//! The DSG-native API `/api/dsg/v1`, driven the way neuPrintHTTP ≥ 1.9 and
//! clio-store drive it (dsg-native-v1 §12): identity with each token kind
//! and each failure, neuPrint's drop-down batch, Clio's batch with its
//! exact echo check, anonymous public reads, terms of service accepted
//! between two calls, service accounts, translations, service-scoped
//! grants and version ordinals.

use dsg_testkit::native::call;
use dsg_testkit::{Backend, TestApp, spawn_app, user_token};
use serde_json::{Value, json};

fn world() -> Value {
    json!({
        "permissions": ["view", "edit", "manage", "admin", "annotation_editor"],
        "services": [
            {"name": "neuprint"},
            {"name": "clio"},
            {"name": "dvid", "version_eval_mode": "dag"}
        ],
        "datasets": [
            {"name": "hemibrain", "versions": [
                {"version": "v1.0", "ordinal": 1},
                {"version": "v1.1", "ordinal": 2},
                {"version": "v1.2.1", "ordinal": 3},
                {"version": "exp", "branch": "dev", "ordinal": 1},
                {"version": "draft"}
            ]},
            {"name": "manc", "access_mode": "public", "tos": "manc_terms"},
            {"name": "optic", "versions": [
                {"version": "o1", "ordinal": 1},
                {"version": "o2", "ordinal": 2, "is_public": true},
                {"version": "o3", "ordinal": 3}
            ]},
            {"name": "secret"}
        ],
        "translations": [
            {"service": "clio", "client_name": "hb", "dataset": "hemibrain"},
            {"service": "clio", "client_name": "hb", "client_version": "release-2",
             "dataset": "hemibrain", "version": "v1.1"}
        ],
        "tos": [{"key": "manc_terms", "name": "MANC terms", "text": "Be nice."},
                {"key": "np_terms", "name": "neuPrint terms", "text": "Cite us.",
                 "dataset": "secret", "service": "neuprint"}],
        "users": [
            {"key": "root", "email": "root@example.org", "name": "Root", "admin": true,
             "tokens": [{"key": "t"}, {"key": "ro", "read_only": true}]},
            {"key": "alice", "email": "alice@example.org", "name": "Alice",
             "picture_url": "https://pics.example.org/a.png",
             "tokens": [{"key": "t"}, {"key": "old", "expires_in_s": -10}]},
            {"key": "bob", "email": "bob@example.org", "read_only": true, "tokens": [{"key": "t"}]},
            {"key": "off", "email": "off@example.org", "active": false, "tokens": [{"key": "t"}]}
        ],
        "groups": [
            {"name": "lab", "members": [{"user": "alice"}, {"user": "bob"}, {"user": "off"}],
             "permissions": [{"dataset": "secret", "permission": "view", "service": "neuprint"}]},
            {"name": "team", "members": [{"user": "alice"}]}
        ],
        "grants": [
            {"user": "alice", "dataset": "hemibrain", "permission": "edit", "version": "v1.1"},
            {"user": "alice", "dataset": "hemibrain", "permission": "annotation_editor"},
            {"user": "alice", "dataset": "hemibrain", "permission": "edit", "version": "exp"},
            {"user": "bob", "dataset": "hemibrain", "permission": "admin"},
            {"user": "alice", "dataset": "optic", "permission": "manage", "service": "clio"}
        ],
        "service_accounts": [
            {"key": "ci", "name": "ci-bot", "tokens": [{"key": "t"}],
             "grants": [{"dataset": "hemibrain", "permission": "view", "version": "v1.0"}]},
            {"key": "gone", "name": "gone-bot", "active": false, "tokens": [{"key": "t"}]}
        ]
    })
}

fn sa_token(seeded: &Value, sa: &str) -> String {
    seeded["service_accounts"][sa]["tokens"]["t"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// POST `/api/dsg/v1/authorize` as the clients do: a bearer when there is a
/// token, no `Authorization` header at all when anonymous.
async fn authorize(app: &TestApp, token: Option<&str>, body: Value) -> (u16, Value) {
    let mut r = app
        .client
        .post(app.url("/api/dsg/v1/authorize"))
        .json(&body);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    assert_eq!(
        r.headers()["content-type"],
        "application/json",
        "JSON on every answer"
    );
    assert!(r.headers().contains_key("x-request-id"));
    (status, r.json().await.unwrap())
}

fn decisions(v: &Value) -> Vec<(String, Value)> {
    v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["decision"].as_str().unwrap().to_owned(),
                e["roles"].clone(),
            )
        })
        .collect()
}

async fn identity_for_every_token_kind_and_failure(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app.seed(world()).await.unwrap();
    let (st, me) = call(
        &app,
        "GET",
        "/api/dsg/v1/user",
        &user_token(&s, "alice", "t"),
        None,
    )
    .await;
    assert_eq!(st, 200, "{me}");
    let alice_id = s["users"]["alice"]["id"].clone();
    assert_eq!(
        me,
        json!({"id": alice_id, "email": "alice@example.org", "name": "Alice",
               "picture_url": "https://pics.example.org/a.png", "admin": false,
               "service_account": false, "groups": ["lab", "team"]})
    );
    // The same id as user/cache.
    let (_, doc) = app.user_cache(&user_token(&s, "alice", "t")).await.unwrap();
    assert_eq!(doc["id"], me["id"]);

    let (_, root) = call(
        &app,
        "GET",
        "/api/dsg/v1/user",
        &user_token(&s, "root", "t"),
        None,
    )
    .await;
    assert_eq!(root["admin"], true);
    let (_, ro) = call(
        &app,
        "GET",
        "/api/dsg/v1/user",
        &user_token(&s, "root", "ro"),
        None,
    )
    .await;
    assert_eq!(
        ro["admin"], false,
        "a read-only token carries no admin power"
    );

    // Service accounts: synthetic e-mail (Clio refuses an empty one), no picture.
    let (st, sa) = call(&app, "GET", "/api/dsg/v1/user", &sa_token(&s, "ci"), None).await;
    assert_eq!(st, 200);
    assert_eq!(
        sa,
        json!({"id": s["service_accounts"]["ci"]["id"], "email": "ci-bot@service-account.dsg.local",
               "name": "ci-bot", "picture_url": null, "admin": false, "service_account": true,
               "groups": []})
    );

    // Every failing credential is 401 {"detail"}, never 404 or 5xx.
    for token in [
        "not-a-token".to_owned(),
        user_token(&s, "alice", "old"),
        user_token(&s, "off", "t"),
        sa_token(&s, "gone"),
    ] {
        let (st, v) = call(&app, "GET", "/api/dsg/v1/user", &token, None).await;
        assert_eq!(st, 401, "{token}: {v}");
        assert!(v["detail"].is_string(), "{v}");
        let (st, _) = authorize(&app, Some(&token), json!({"entries": []})).await;
        assert_eq!(
            st, 401,
            "authorize never treats a failed credential as anonymous"
        );
    }
    for header in ["Basic YTpi", "Bearer "] {
        let r = app
            .client
            .post(app.url("/api/dsg/v1/authorize"))
            .header("authorization", header)
            .json(&json!({"entries": []}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 401, "{header}");
    }
    // Anonymous: 401 everywhere but authorize.
    for path in [
        "/api/dsg/v1/user",
        "/api/dsg/v1/datasets",
        "/api/dsg/v1/datasets/hemibrain/versions",
        "/api/dsg/v1/groups/lab/members",
    ] {
        let r = app.get(path, None).await.unwrap();
        assert_eq!(r.status().as_u16(), 401, "{path}");
    }
    // Other methods: 405 {"detail"}.
    let (st, v) = call(
        &app,
        "POST",
        "/api/dsg/v1/user",
        &user_token(&s, "alice", "t"),
        None,
    )
    .await;
    assert_eq!((st, v["detail"].is_string()), (405, true));
    let (st, _) = call(
        &app,
        "GET",
        "/api/dsg/v1/authorize",
        &user_token(&s, "alice", "t"),
        None,
    )
    .await;
    assert_eq!(st, 405);
    app.shutdown().await;
}
both_backends!(identity, super::identity_for_every_token_kind_and_failure);

async fn batches_as_neuprint_and_clio_send_them(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app.seed(world()).await.unwrap();
    let alice = user_token(&s, "alice", "t");

    // neuPrint's drop-down: name:version split at the first colon, view.
    let (st, v) = authorize(
        &app,
        Some(&alice),
        json!({"service": "neuprint", "return_url": "https://neuprint.example.org/?dataset=x",
        "entries": [
            {"name": "hemibrain", "version": "v1.0", "permission": "view"},
            {"name": "hemibrain", "version": "v1.2.1", "permission": "view"},
            {"name": "manc", "permission": "view"},
            {"name": "secret", "permission": "view"},
            {"name": "hemibrain", "version": "v1.0", "permission": "view"},
            {"name": "nope", "permission": "view"}
        ]}),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    let d = decisions(&v);
    assert_eq!(d.len(), 6, "one result per entry, duplicates included");
    // v1.1's edit grant reaches the lower ordinal v1.0, not v1.2.1.
    assert_eq!(d[0], ("allow".into(), json!(["view", "edit"])));
    assert_eq!(d[1], ("deny".into(), json!([])));
    assert_eq!(d[4], d[0]);
    // manc is public behind terms; secret's group permission is scoped to
    // neuprint and neuprint has its own terms there.
    assert_eq!(d[2].0, "tos_required");
    assert_eq!(d[2].1, json!(["view"]));
    assert_eq!(d[3].0, "tos_required");
    assert_eq!(d[5], ("deny".into(), json!([])));
    let url = v["entries"][3]["tos_url"].as_str().unwrap();
    assert!(
        url.contains("/web/tos/service-check/?dataset=secret&next=https%3A%2F%2Fneuprint.example.org%2F%3Fdataset%3Dx&service=neuprint"),
        "{url}"
    );
    assert!(url.starts_with("http"), "absolute: {url}");
    // Only the keys sent are echoed, with the values sent; nothing canonical.
    assert_eq!(
        v["entries"][2],
        json!({"name": "manc", "decision": "tos_required", "roles": ["view"],
               "tos_url": v["entries"][2]["tos_url"]})
    );

    // Clio: translated names, an entry without a version, exact echo.
    let (st, v) = authorize(
        &app,
        Some(&alice),
        json!({"service": "clio", "entries": [
            {"name": "hb", "version": "release-2", "permission": "view"},
            {"name": "hb", "permission": "view"},
            {"name": "hb", "version": "v1.0", "permission": "view"},
            {"name": "hb", "version": "nonsense", "permission": "view"},
            {"name": "optic", "permission": "manage"},
            {"name": "hemibrain", "permission": "annotation_editor"}
        ]}),
    )
    .await;
    assert_eq!(st, 200);
    let d = decisions(&v);
    assert_eq!(d[0], ("allow".into(), json!(["view", "edit"])));
    assert_eq!(
        d[1],
        ("deny".into(), json!([])),
        "a version grant never covers the dataset"
    );
    assert_eq!(d[2].0, "allow", "name-level translation, our version name");
    assert_eq!(d[3].0, "deny", "no fall-through to another dataset");
    assert_eq!(
        d[4],
        ("allow".into(), json!(["view", "edit", "manage"])),
        "clio-scoped grant"
    );
    assert_eq!(d[5], ("allow".into(), json!(["annotation_editor"])));
    let sent = ["hb", "hb", "hb", "hb", "optic", "hemibrain"];
    for (e, name) in v["entries"].as_array().unwrap().iter().zip(sent) {
        assert_eq!(e["name"], name, "the client's own name comes back");
        assert!(e.get("dataset").is_none() && e.get("reason").is_none());
    }
    assert!(v["entries"][1].get("version").is_none());
    assert_eq!(v["entries"][0]["version"], "release-2");
    // The clio-scoped grant counts for nothing elsewhere.
    let (_, v) = authorize(
        &app,
        Some(&alice),
        json!({"service": "neuprint", "entries": [{"name": "optic", "permission": "manage"}]}),
    )
    .await;
    assert_eq!(decisions(&v)[0].0, "deny");

    // Read-only users lose edit; global admins get every level, but never
    // for a reference that does not resolve.
    let (_, v) = authorize(
        &app,
        Some(&user_token(&s, "bob", "t")),
        json!({"entries": [{"name": "hemibrain"}]}),
    )
    .await;
    assert_eq!(
        decisions(&v)[0],
        ("allow".into(), json!(["view", "manage", "admin"]))
    );
    let (_, v) = authorize(
        &app,
        Some(&user_token(&s, "root", "t")),
        json!({"entries": [{"name": "secret", "permission": "edit"}, {"name": "nope"}]}),
    )
    .await;
    assert_eq!(
        decisions(&v),
        [
            ("allow".into(), json!(["view", "edit", "manage", "admin"])),
            ("deny".into(), json!([]))
        ]
    );
    app.shutdown().await;
}
both_backends!(batches, super::batches_as_neuprint_and_clio_send_them);

async fn anonymous_service_accounts_ordinals_and_dag(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app.seed(world()).await.unwrap();
    // Anonymous: public view is a 200 allow, everything else a 200 deny.
    let (st, v) = authorize(
        &app,
        None,
        json!({"service": "neuprint", "entries": [
            {"name": "optic", "version": "o1"},
            {"name": "optic", "version": "2"},
            {"name": "optic", "version": "o3"},
            {"name": "optic"},
            {"name": "optic", "version": "o1", "permission": "edit"},
            {"name": "hemibrain"},
            {"name": "manc"}
        ]}),
    )
    .await;
    assert_eq!(st, 200);
    let d: Vec<String> = decisions(&v).into_iter().map(|(d, _)| d).collect();
    assert_eq!(
        d,
        [
            "allow",
            "allow",
            "deny",
            "deny",
            "deny",
            "deny",
            "tos_required"
        ],
        "a public version covers lower ordinals, never the dataset, and only for view"
    );
    // Service accounts: their grants by ordinal; public datasets without terms.
    let (_, v) = authorize(
        &app,
        Some(&sa_token(&s, "ci")),
        json!({"entries": [{"name": "hemibrain", "version": "v1.0"}, {"name": "hemibrain", "version": "v1.1"},
                           {"name": "manc"}]}),
    )
    .await;
    assert_eq!(
        decisions(&v),
        [
            ("allow".into(), json!(["view"])),
            ("deny".into(), json!([])),
            ("allow".into(), json!(["view"]))
        ]
    );
    // A DAG service gets anchors for a grant on another branch; a linear
    // one gets a final answer.
    let alice = user_token(&s, "alice", "t");
    let (_, v) = authorize(
        &app,
        Some(&alice),
        json!({"service": "dvid", "entries": [{"name": "hemibrain", "version": "v1.2.1"}]}),
    )
    .await;
    assert_eq!(
        v["entries"][0],
        json!({"name": "hemibrain", "version": "v1.2.1", "decision": "service_eval",
               "roles": ["view", "edit"],
               "anchors": [{"branch": "dev", "version": 1, "roles": ["view", "edit"]}]})
    );
    // Branch selects the line of an all-digit version.
    let (_, v) = authorize(
        &app,
        Some(&alice),
        json!({"entries": [{"name": "hemibrain", "version": "1", "branch": "dev"},
                           {"name": "hemibrain", "version": "2", "branch": "dev"}]}),
    )
    .await;
    assert_eq!(v["entries"][0]["decision"], "allow");
    assert_eq!(v["entries"][0]["branch"], "dev");
    assert_eq!(v["entries"][1]["decision"], "deny");
    app.shutdown().await;
}
both_backends!(
    anonymous_and_service_accounts,
    super::anonymous_service_accounts_ordinals_and_dag
);

async fn terms_accepted_between_two_calls_show_at_once(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app.seed(world()).await.unwrap();
    let alice = user_token(&s, "alice", "t");
    let body = json!({"service": "neuprint", "entries": [{"name": "manc"}, {"name": "secret"}]});
    let (_, v) = authorize(&app, Some(&alice), body.clone()).await;
    assert_eq!(v["entries"][0]["decision"], "tos_required");
    for key in ["manc_terms", "np_terms"] {
        let id = s["tos"][key]["id"].as_i64().unwrap();
        let (st, r) = call(
            &app,
            "POST",
            &format!("/api/v1/tos/{id}/accept"),
            &alice,
            None,
        )
        .await;
        assert!(st == 200 || st == 201, "{r}");
    }
    let (_, v) = authorize(&app, Some(&alice), body).await;
    assert_eq!(
        decisions(&v),
        [
            ("allow".into(), json!(["view"])),
            ("allow".into(), json!(["view"]))
        ],
        "fresh on the very next request"
    );
    app.shutdown().await;
}
both_backends!(terms, super::terms_accepted_between_two_calls_show_at_once);

async fn bad_input_is_a_clear_4xx(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app.seed(world()).await.unwrap();
    let alice = user_token(&s, "alice", "t");
    for body in [
        json!({}),
        json!({"entries": {"name": "x"}}),
        json!({"entries": "x"}),
    ] {
        let (st, v) = authorize(&app, Some(&alice), body).await;
        assert_eq!((st, v), (400, json!({"error": "entries must be a list"})));
    }
    let (st, v) = authorize(&app, Some(&alice), json!({"entries": []})).await;
    assert_eq!((st, v), (200, json!({"entries": []})));
    let many: Vec<Value> = (0..1001).map(|_| json!({"name": "manc"})).collect();
    let (st, v) = authorize(&app, Some(&alice), json!({"entries": many})).await;
    assert_eq!(st, 400, "{v}");
    assert!(v["error"].as_str().unwrap().contains("1000"));
    let many: Vec<Value> = (0..1000).map(|_| json!({"name": "manc"})).collect();
    let (st, v) = authorize(&app, None, json!({"entries": many})).await;
    assert_eq!((st, v["entries"].as_array().unwrap().len()), (200, 1000));
    // Malformed entries are denied in place; the rest is answered.
    let (st, v) = authorize(
        &app,
        Some(&alice),
        json!({"entries": [
            "hemibrain", {"name": 3}, {"name": "hemibrain", "version": 1},
            {"name": "hemibrain", "permission": ""}, {"name": "hemibrain", "branch": []},
            {"name": "hemibrain", "version": null, "permission": "annotation_editor"}
        ]}),
    )
    .await;
    assert_eq!(st, 200);
    let e = v["entries"].as_array().unwrap();
    assert_eq!(e[0], json!({"decision": "deny", "roles": []}));
    assert_eq!(
        e[1],
        json!({"decision": "deny", "roles": []}),
        "a value that is not a string is not echoed"
    );
    assert_eq!(e[2]["name"], "hemibrain");
    assert!(e[2].get("version").is_none());
    for (i, entry) in e.iter().enumerate().take(5).skip(1) {
        assert_eq!(entry["decision"], "deny", "{i}");
    }
    assert_eq!(
        e[5],
        json!({"name": "hemibrain", "version": null, "decision": "allow", "roles": ["annotation_editor"]})
    );
    // A form body is 415, malformed JSON 400; neither is a 5xx.
    let r = app
        .client
        .post(app.url("/api/dsg/v1/authorize"))
        .bearer_auth(&alice)
        .form(&[("entries", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 415);
    let r = app
        .client
        .post(app.url("/api/dsg/v1/authorize"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let v: Value = r.json().await.unwrap();
    assert!(
        v["error"].is_string(),
        "this route's 400s are {{\"error\"}}: {v}"
    );
    app.shutdown().await;
}
both_backends!(bad_input, super::bad_input_is_a_clear_4xx);

async fn listings(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app.seed(world()).await.unwrap();
    let alice = user_token(&s, "alice", "t");
    let (st, v) = call(&app, "GET", "/api/dsg/v1/datasets", &alice, None).await;
    assert_eq!(st, 200);
    assert_eq!(
        v,
        json!([
            {"name": "hemibrain", "access_mode": "closed", "has_public_versions": false},
            {"name": "manc", "access_mode": "public", "has_public_versions": false},
            {"name": "optic", "access_mode": "closed", "has_public_versions": true},
            {"name": "secret", "access_mode": "closed", "has_public_versions": false}
        ])
    );
    let (_, v) = call(
        &app,
        "GET",
        "/api/dsg/v1/datasets?service=clio",
        &alice,
        None,
    )
    .await;
    assert_eq!(v[0]["name"], "hb", "sorted after translation: {v}");
    let (_, v) = call(
        &app,
        "GET",
        "/api/dsg/v1/datasets",
        &sa_token(&s, "ci"),
        None,
    )
    .await;
    let names: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["hemibrain", "manc", "optic"]);
    let (_, v) = call(
        &app,
        "GET",
        "/api/dsg/v1/datasets",
        &user_token(&s, "root", "t"),
        None,
    )
    .await;
    assert_eq!(v.as_array().unwrap().len(), 4);

    let (st, v) = call(
        &app,
        "GET",
        "/api/dsg/v1/datasets/hemibrain/versions",
        &alice,
        None,
    )
    .await;
    assert_eq!(st, 200);
    let order: Vec<(&str, Value)> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (x["version"].as_str().unwrap(), x["ordinal"].clone()))
        .collect();
    assert_eq!(
        order,
        [
            ("exp", json!(1)),
            ("v1.0", json!(1)),
            ("v1.1", json!(2)),
            ("v1.2.1", json!(3)),
            ("draft", json!(null))
        ],
        "by branch, ordinal with nulls last, name"
    );
    assert_eq!(
        v[1],
        json!({"version": "v1.0", "branch": "main", "ordinal": 1, "is_public": false})
    );
    let (_, v) = call(
        &app,
        "GET",
        "/api/dsg/v1/datasets/hb/versions?service=clio",
        &alice,
        None,
    )
    .await;
    assert_eq!(v[2]["version"], "release-2", "{v}");
    // Invisible and unknown are the same 404.
    for (path, token) in [
        ("/api/dsg/v1/datasets/nope/versions", alice.clone()),
        ("/api/dsg/v1/datasets/secret/versions", sa_token(&s, "ci")),
    ] {
        let (st, v) = call(&app, "GET", path, &token, None).await;
        assert_eq!(
            (st, v),
            (404, json!({"error": "Dataset not found"})),
            "{path}"
        );
    }
    // Group members: active ones, sorted; unknown group 404.
    let (st, v) = call(&app, "GET", "/api/dsg/v1/groups/lab/members", &alice, None).await;
    assert_eq!(
        (st, v),
        (200, json!(["alice@example.org", "bob@example.org"]))
    );
    let (st, v) = call(&app, "GET", "/api/dsg/v1/groups/none/members", &alice, None).await;
    assert_eq!((st, v), (404, json!({"error": "Group not found"})));
    app.shutdown().await;
}
both_backends!(datasets_versions_and_members, super::listings);

async fn managed_through_the_native_api(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app.seed(world()).await.unwrap();
    let root = user_token(&s, "root", "t");
    let alice = user_token(&s, "alice", "t");
    // A version with branch and ordinal, a translation for it, a
    // service-scoped grant on it: the next batch sees all three.
    let (st, v) = call(
        &app,
        "POST",
        "/api/v1/datasets/secret/versions",
        &root,
        Some(json!({"version": "s5", "branch": "main", "ordinal": 5})),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    assert_eq!(
        (v["branch"].clone(), v["ordinal"].clone()),
        (json!("main"), json!(5))
    );
    let (st, v) = call(
        &app,
        "POST",
        "/api/v1/datasets/secret/versions",
        &root,
        Some(json!({"version": "s5-again", "ordinal": 5})),
    )
    .await;
    assert_eq!(st, 409, "an ordinal is unique per branch: {v}");
    let (st, v) = call(
        &app,
        "POST",
        "/api/v1/datasets/secret/translations",
        &root,
        Some(json!({"service": "clio", "client_name": "sec", "client_version": "five", "version": "s5"})),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    let translation = v["id"].as_i64().unwrap();
    for (body, status) in [
        (
            json!({"service": "clio", "client_name": "sec", "client_version": "five", "version": "s5"}),
            409,
        ),
        (json!({"service": "nope", "client_name": "x"}), 400),
        (
            json!({"service": "clio", "client_name": "x", "client_version": "v"}),
            400,
        ),
        (
            json!({"service": "clio", "client_name": "x", "version": "s5"}),
            400,
        ),
        (
            json!({"service": "clio", "client_name": "x", "client_version": "v", "version": "zz"}),
            400,
        ),
    ] {
        let (st, v) = call(
            &app,
            "POST",
            "/api/v1/datasets/secret/translations",
            &root,
            Some(body.clone()),
        )
        .await;
        assert_eq!(st, status, "{body}: {v}");
    }
    let (st, _) = call(
        &app,
        "GET",
        "/api/v1/datasets/hemibrain/translations",
        &alice,
        None,
    )
    .await;
    assert_eq!(st, 403, "only those who configure the dataset");
    let (st, v) = call(
        &app,
        "POST",
        "/api/v1/datasets/secret/grants",
        &root,
        Some(json!({"email": "alice@example.org", "permission": "edit", "version": "s5", "service": "clio"})),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    let (st, v) = call(
        &app,
        "POST",
        "/api/v1/datasets/secret/grants",
        &root,
        Some(json!({"email": "alice@example.org", "permission": "view", "service": "nope"})),
    )
    .await;
    assert_eq!(st, 400, "an unknown service is refused: {v}");
    let batch = json!({"service": "clio", "entries": [
        {"name": "sec", "version": "five", "permission": "edit"},
        {"name": "secret", "version": "4"},
        {"name": "secret", "version": "6"}
    ]});
    let (_, v) = authorize(&app, Some(&alice), batch.clone()).await;
    assert_eq!(
        decisions(&v),
        [
            ("allow".into(), json!(["view", "edit"])),
            ("allow".into(), json!(["view", "edit"])),
            ("deny".into(), json!([]))
        ]
    );
    let (_, v) = authorize(
        &app,
        Some(&alice),
        json!({"entries": [{"name": "secret", "version": "s5"}]}),
    )
    .await;
    assert_eq!(decisions(&v)[0].0, "deny", "the grant is Clio's only");
    // Removing the translation takes effect on the next call.
    let (st, _) = call(
        &app,
        "DELETE",
        &format!("/api/v1/datasets/secret/translations/{translation}"),
        &root,
        None,
    )
    .await;
    assert_eq!(st, 204);
    let (_, v) = authorize(&app, Some(&alice), batch).await;
    assert_eq!(decisions(&v)[0].0, "deny");
    // No user may take the service accounts' e-mail domain.
    let err = app
        .seed(json!({"users": [{"email": "Sneaky@Service-Account.dsg.local"}]}))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("service-account.dsg.local"), "{err}");
    app.shutdown().await;
}
both_backends!(management, super::managed_through_the_native_api);

async fn explain_names_services_translations_and_ordinals(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app.seed(world()).await.unwrap();
    let alice = user_token(&s, "alice", "t");
    let explain = |body: Value| {
        let app = &app;
        let alice = alice.clone();
        async move {
            let (st, v) = call(app, "POST", "/api/v1/explain-access", &alice, Some(body)).await;
            assert_eq!(st, 200, "{v}");
            v
        }
    };
    // v1.1's grant reaches v1.0 by ordinal, through Clio's name for it.
    let v = explain(
        json!({"dataset": "hb", "version": "v1.0", "permission": "edit", "service": "clio"}),
    )
    .await;
    assert_eq!(v["allowed"], true, "{v}");
    let rules = v["rules"].as_array().unwrap();
    assert_eq!(rules[0]["rule"], "translation", "{v}");
    assert_eq!(
        (rules[0]["name"].clone(), rules[0]["service"].clone()),
        (json!("hb"), json!("clio"))
    );
    assert!(
        rules.iter().any(|r| r["rule"] == "direct_grant"
            && r["coverage"] == "ordinal"
            && r["version"] == "v1.1"),
        "{v}"
    );
    // The check agrees with the batch decision.
    let (_, b) = authorize(
        &app,
        Some(&alice),
        json!({"service": "clio", "entries": [{"name": "hb", "version": "v1.0", "permission": "edit"}]}),
    )
    .await;
    assert_eq!(b["entries"][0]["decision"], "allow");
    // A grant scoped to another service is named as such.
    let v =
        explain(json!({"dataset": "optic", "permission": "manage", "service": "neuprint"})).await;
    assert_eq!(v["allowed"], false);
    assert!(
        v["rules"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["rule"] == "service_mismatch" && r["service"] == "clio"),
        "{v}"
    );
    app.shutdown().await;
}
both_backends!(
    explain,
    super::explain_names_services_translations_and_ordinals
);

async fn managers_see_branches_ordinals_and_translations(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app.seed(world()).await.unwrap();
    let root = dsg_testkit::web::Visitor::new(&app, Some(&user_token(&s, "root", "t")));
    let page = root.get("/web/datasets").await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("<th scope=\"col\">Ordinal</th>"),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("<td>exp</td><td>dev</td><td>1</td>"),
        "versions show their branch and ordinal"
    );
    assert!(
        page.body
            .contains("<td>clio</td><td>hb : release-2</td><td>v1.1</td>"),
        "managers see the services' names"
    );
    let alice = dsg_testkit::web::Visitor::new(&app, Some(&user_token(&s, "alice", "t")));
    let page = alice.get("/web/datasets").await;
    assert!(!page.body.contains("hb : release-2"), "not to non-managers");
    app.shutdown().await;
}
both_backends!(
    web_cards,
    super::managers_see_branches_ordinals_and_translations
);

async fn the_admin_console_manages_translations_and_ordinals(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app.seed(world()).await.unwrap();
    let mut c = dsg_testkit::console::Console::new(&app, Some(&user_token(&s, "root", "t")));
    let id = |k: &str, n: &str| s[k][n]["id"].as_i64().unwrap().to_string();
    let (status, loc) = c
        .post(
            "/admin/translations/new",
            &[
                ("service_id", &id("services", "clio")),
                ("client_name", "fb"),
                ("client_version", ""),
                ("dataset_id", &id("datasets", "hemibrain")),
                ("dataset_version_id", ""),
            ],
        )
        .await;
    assert_eq!(status, 303, "{loc}");
    let (status, loc) = c
        .post(
            "/admin/versions/new",
            &[
                ("dataset_id", &id("datasets", "secret")),
                ("version", "s9"),
                ("branch", "lts"),
                ("ordinal", "9"),
                ("prefix", ""),
            ],
        )
        .await;
    assert_eq!(status, 303, "{loc}");
    let bob = user_token(&s, "bob", "t");
    let (_, v) = authorize(
        &app,
        Some(&bob),
        json!({"service": "clio", "entries": [{"name": "fb"}]}),
    )
    .await;
    assert_eq!(v["entries"][0]["decision"], "allow", "{v}");
    let root = user_token(&s, "root", "t");
    let (_, v) = call(
        &app,
        "GET",
        "/api/dsg/v1/datasets/secret/versions",
        &root,
        None,
    )
    .await;
    assert_eq!(
        v,
        json!([{"version": "s9", "branch": "lts", "ordinal": 9, "is_public": false}])
    );
    // Deleting goes through the one translation writer (one audit action).
    let (_, list) = call(
        &app,
        "GET",
        "/api/v1/datasets/hemibrain/translations",
        &root,
        None,
    )
    .await;
    let fb = list
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["client_name"] == "fb")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let (status, _) = c
        .post(&format!("/admin/translations/{fb}/delete"), &[])
        .await;
    assert_eq!(status, 303);
    let (_, v) = authorize(
        &app,
        Some(&bob),
        json!({"service": "clio", "entries": [{"name": "fb"}]}),
    )
    .await;
    assert_eq!(v["entries"][0]["decision"], "deny");
    let rows = app
        .store
        .audit_entries(&dsg_store::audit::AuditFilter {
            action: Some("translation_deleted".into()),
            limit: 5,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    app.shutdown().await;
}
both_backends!(
    console,
    super::the_admin_console_manages_translations_and_ordinals
);

async fn the_service_check_returns_only_to_allowed_origins(backend: Backend) {
    let app = dsg_testkit::spawn_app_with(backend, |c| {
        c.tos.return_allowed_origins = vec!["https://neuprint.example.org".into()];
    })
    .await
    .unwrap();
    let s = app.seed(world()).await.unwrap();
    let alice = user_token(&s, "alice", "t");
    // The tos_url of a batch leads to the page, which accepts and returns
    // to neuPrint's URL exactly as sent (query and fragment kept).
    let back = "https://neuprint.example.org/?dataset=manc#view";
    let (_, v) = authorize(
        &app,
        Some(&alice),
        json!({"service": "neuprint", "return_url": back, "entries": [{"name": "manc"}]}),
    )
    .await;
    let url = v["entries"][0]["tos_url"].as_str().unwrap().to_owned();
    let path = url
        .split_once("/web/")
        .map(|(_, p)| format!("/web/{p}"))
        .unwrap();
    let web = dsg_testkit::web::Visitor::new(&app, Some(&alice));
    let page = web.get(&path).await;
    assert_eq!(page.status, 200, "{path} → {}", page.location);
    assert!(page.body.contains("MANC terms"), "{}", page.body);
    let a = web
        .post(
            "/web/tos/service-check/",
            &[("dataset", "manc"), ("service", "neuprint"), ("next", back)],
        )
        .await;
    assert_eq!((a.status, a.location.as_str()), (302, back));
    let (_, v) = authorize(
        &app,
        Some(&alice),
        json!({"service": "neuprint", "entries": [{"name": "manc"}]}),
    )
    .await;
    assert_eq!(v["entries"][0]["decision"], "allow");
    // Another origin is not followed; a version document is offered when
    // the page names the version.
    let (_, v) = authorize(&app, Some(&alice), json!({"entries": [{"name": "secret"}]})).await;
    assert_eq!(v["entries"][0]["decision"], "deny");
    app.shutdown().await;
}
both_backends!(
    service_check,
    super::the_service_check_returns_only_to_allowed_origins
);

async fn a_privileged_directory_shows_members_to_members_only(backend: Backend) {
    let app = dsg_testkit::spawn_app_with(backend, |c| {
        c.privacy.user_directory = dsg_server::config::Directory::Privileged;
    })
    .await
    .unwrap();
    let s = app.seed(world()).await.unwrap();
    for (who, token, status) in [
        ("a member", user_token(&s, "alice", "t"), 200),
        ("a global admin", user_token(&s, "root", "t"), 200),
        ("a service account", sa_token(&s, "ci"), 200),
        (
            "an admin's read-only token",
            user_token(&s, "root", "ro"),
            403,
        ),
    ] {
        let (st, v) = call(&app, "GET", "/api/dsg/v1/groups/team/members", &token, None).await;
        assert_eq!(st, status, "{who}: {v}");
    }
    // Bob is in lab, not in team.
    let (st, v) = call(
        &app,
        "GET",
        "/api/dsg/v1/groups/team/members",
        &user_token(&s, "bob", "t"),
        None,
    )
    .await;
    assert_eq!(st, 403, "{v}");
    app.shutdown().await;
}
both_backends!(
    privileged_directory,
    super::a_privileged_directory_shows_members_to_members_only
);
