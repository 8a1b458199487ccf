//! SCIM 2.0 under `/auth/scim/v2`: discovery, authentication, CRUD with
//! ETags, filters evaluated in SQL, paging, and freshness of `user/cache`.

use dsg_testkit::store::scim_token;
use dsg_testkit::{Backend, TestApp, spawn_app, user_token};
use reqwest::Method;
use serde_json::{Value, json};

const EXT: &str = "urn:ietf:params:scim:schemas:extension:neuroglancer:2.0:User";
const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

struct Reply {
    status: u16,
    etag: Option<String>,
    content_type: String,
    body: Value,
}

async fn scim_with(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> Reply {
    let mut r = app
        .client
        .request(method, app.url(&format!("/auth/scim/v2{path}")));
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    if let Some(b) = body {
        r = r
            .header("content-type", "application/scim+json")
            .body(b.to_string());
    }
    let resp = r.send().await.unwrap();
    let status = resp.status().as_u16();
    let etag = resp
        .headers()
        .get("etag")
        .map(|v| v.to_str().unwrap().to_owned());
    let content_type = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let text = resp.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    Reply {
        status,
        etag,
        content_type,
        body,
    }
}

async fn scim(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> Reply {
    scim_with(app, method, path, Some(token), body, &[]).await
}

fn assert_error(r: &Reply, status: u16, scim_type: Option<&str>) {
    assert_eq!(r.status, status, "{}", r.body);
    assert_eq!(r.body["schemas"], json!([ERROR]), "{}", r.body);
    assert_eq!(r.body["status"], json!(status.to_string()));
    assert_eq!(r.body["scimType"].as_str(), scim_type, "{}", r.body);
    assert!(r.content_type.starts_with("application/scim+json"));
}

fn world() -> Value {
    json!({
        "datasets": [{"name": "fish2"}],
        "users": [
            {"key": "root", "email": "root@example.org", "admin": true, "tokens": [{"key": "t"}]},
            {"key": "bob", "email": "bob@example.org", "name": "Bob", "tokens": [{"key": "t"}]}
        ],
        "groups": [{"name": "lab", "members": [{"user": "bob"}]}],
        "grants": [{"user": "bob", "dataset": "fish2", "permission": "view"}],
        "service_accounts": [{"key": "svc", "name": "pcg", "tokens": [{"key": "t"}]}]
    })
}

async fn discovery_and_authentication(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app.seed(world()).await.unwrap();
    let root = user_token(&s, "root", "t");
    let bob = user_token(&s, "bob", "t");
    let svc = s["service_accounts"]["svc"]["tokens"]["t"]
        .as_str()
        .unwrap()
        .to_owned();

    // Discovery is anonymous (RFC 7644 §4) and answers ListResponses.
    let r = scim_with(&app, Method::GET, "/ServiceProviderConfig", None, None, &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["etag"]["supported"], true);
    assert_eq!(r.body["filter"]["maxResults"], 1000);
    let r = scim_with(&app, Method::GET, "/ResourceTypes", None, None, &[]).await;
    assert_eq!(r.body["totalResults"], 3);
    assert_eq!(
        r.body["Resources"][2]["schema"],
        "urn:ietf:params:scim:schemas:neuroglancer:2.0:Dataset"
    );
    let r = scim_with(&app, Method::GET, "/Schemas", None, None, &[]).await;
    assert_eq!(r.body["totalResults"], 4);
    assert_eq!(r.body["Resources"][1]["id"], EXT);
    let r = scim_with(
        &app,
        Method::GET,
        &format!("/Schemas/{EXT}"),
        None,
        None,
        &[],
    )
    .await;
    let names: Vec<&str> = r.body["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["admin", "pi", "gdprConsent", "serviceAccount"]);
    assert_eq!(
        scim_with(&app, Method::GET, "/ResourceTypes/Group", None, None, &[])
            .await
            .body["endpoint"],
        "/Groups"
    );
    // The user extension is optional (spec §9.6, RFC 7643 §6).
    let r = scim_with(&app, Method::GET, "/ResourceTypes/User", None, None, &[]).await;
    assert_eq!(
        r.body["schemaExtensions"],
        json!([{"schema": EXT, "required": false}])
    );

    // Authentication failures are SCIM errors with WWW-Authenticate.
    let r = scim_with(&app, Method::GET, "/Users", None, None, &[]).await;
    assert_error(&r, 401, None);
    assert_eq!(
        r.body["detail"],
        "Authentication credentials were not provided."
    );
    assert_error(
        &scim(&app, Method::GET, "/Users", &"0".repeat(64), None).await,
        401,
        None,
    );
    assert_error(
        &scim(&app, Method::GET, "/Users", &svc, None).await,
        401,
        None,
    );
    let r = scim(&app, Method::GET, "/Users", &bob, None).await;
    assert_error(&r, 403, None);
    assert_eq!(r.body["detail"], "SCIM access requires admin privileges.");
    // A query-string or cookie token does not count.
    let r = app
        .client
        .get(app.url(&format!("/auth/scim/v2/Users?dsg_token={root}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // A global admin's token and a dedicated SCIM token both work; revocation is immediate.
    assert_eq!(
        scim(&app, Method::GET, "/Users", &root, None).await.status,
        200
    );
    let okta = scim_token(&app, "okta").await;
    let r = scim(&app, Method::GET, "/Users", &okta, None).await;
    assert_eq!(r.status, 200);
    assert!(r.content_type.starts_with("application/scim+json"));
    assert_eq!(r.body["totalResults"], 2);
    let mut tx = app
        .store
        .begin(dsg_store::write::Actor::cli("test"))
        .await
        .unwrap();
    assert!(tx.revoke_scim_token("okta").await.unwrap());
    tx.commit().await.unwrap();
    assert_error(
        &scim(&app, Method::GET, "/Users", &okta, None).await,
        401,
        None,
    );

    // Negotiation, unknown paths, methods.
    assert_error(
        &scim_with(
            &app,
            Method::GET,
            "/Users",
            Some(&root),
            None,
            &[("accept", "text/html")],
        )
        .await,
        406,
        None,
    );
    assert_eq!(
        scim_with(
            &app,
            Method::GET,
            "/Users",
            Some(&root),
            None,
            &[("accept", "application/json")]
        )
        .await
        .status,
        200
    );
    assert_error(
        &scim(&app, Method::GET, "/Nope", &root, None).await,
        404,
        None,
    );
    assert_error(
        &scim(&app, Method::DELETE, "/Schemas", &root, None).await,
        405,
        None,
    );
    let r = app
        .client
        .post(app.url("/auth/scim/v2/Users"))
        .bearer_auth(&root)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 415);
    let r = app
        .client
        .post(app.url("/auth/scim/v2/Users"))
        .bearer_auth(&root)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["scimType"],
        "invalidSyntax"
    );
    // The CAVE API under /auth/api is still rewritten; SCIM is not.
    assert_eq!(
        app.get("/auth/api/v1/user/cache", Some(&bob))
            .await
            .unwrap()
            .status(),
        200
    );
    app.shutdown().await;
}
both_backends!(
    discovery_and_authentication_follow_the_rfc,
    super::discovery_and_authentication
);

async fn users_lifecycle(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app.seed(world()).await.unwrap();
    let root = user_token(&s, "root", "t");
    let bob = user_token(&s, "bob", "t");

    // Users created elsewhere have stable ids that resolve.
    let list = scim(
        &app,
        Method::GET,
        "/Users?filter=userName%20eq%20%22BOB@example.org%22",
        &root,
        None,
    )
    .await;
    assert_eq!(list.body["totalResults"], 1);
    let bob_id = list.body["Resources"][0]["id"].as_str().unwrap().to_owned();
    let got = scim(&app, Method::GET, &format!("/Users/{bob_id}"), &root, None).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body["groups"][0]["display"], "lab");
    assert_eq!(got.body["name"]["givenName"], "Bob");
    assert_eq!(got.etag.as_deref(), got.body["meta"]["version"].as_str());

    // An invitation waiting for Carol's address becomes a grant when the
    // identity provider creates her.
    let mut tx = app
        .store
        .begin(dsg_store::write::Actor::cli("test"))
        .await
        .unwrap();
    let fish2 = tx.dataset_id("fish2").await.unwrap();
    tx.create_invitation(&dsg_store::invitations::NewInvitation {
        email: "carol@example.org",
        dataset_id: fish2,
        version_id: None,
        permission: "edit",
        grant_expires_at: None,
        expires_at: None,
    })
    .await
    .unwrap();
    tx.commit().await.unwrap();

    // Create.
    let created = scim(
        &app,
        Method::POST,
        "/Users",
        &root,
        Some(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "carol@example.org",
            "externalId": "okta-1", "name": {"givenName": "Carol", "familyName": "C"}, "displayName": "Carol C",
            EXT: {"pi": "Prof X", "gdprConsent": true}})),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let carol = created.body["id"].as_str().unwrap().to_owned();
    assert_eq!(created.body["active"], true);
    assert_eq!(created.body["groups"], json!([]), "always present");
    assert_eq!(
        created.body[EXT],
        json!({"admin": false, "pi": "Prof X", "gdprConsent": true, "serviceAccount": false})
    );
    assert_eq!(
        created.body["emails"],
        json!([{"value": "carol@example.org", "type": "work", "primary": true}])
    );
    let audit = app
        .store
        .audit_entries(&dsg_store::audit::AuditFilter {
            action: Some("user_created".into()),
            limit: 5,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(audit[0].actor, "root@example.org");
    assert!(
        audit[0].request_id.is_some(),
        "SCIM writes carry a request id"
    );
    assert_eq!(audit[0].after_state.as_ref().unwrap()["via"], "scim");

    let carol_uid = app
        .store
        .user_id_by_email("carol@example.org")
        .await
        .unwrap()
        .unwrap();
    let mut tx = app
        .store
        .begin(dsg_store::write::Actor::cli("test"))
        .await
        .unwrap();
    let (_, carol_token) = tx
        .create_user_token(carol_uid, Default::default())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let doc = app.user_cache(carol_token.expose()).await.unwrap().1;
    assert_eq!(doc["permissions_v2"]["fish2"], json!(["edit", "view"]));

    // Uniqueness conflicts are 409, never 500; bad input is 400.
    for body in [
        json!({"userName": "CAROL@example.org"}),
        json!({"userName": "d@example.org", "externalId": "okta-1"}),
    ] {
        assert_error(
            &scim(&app, Method::POST, "/Users", &root, Some(body)).await,
            409,
            Some("uniqueness"),
        );
    }
    let r = scim(
        &app,
        Method::POST,
        "/Users",
        &root,
        Some(json!({"displayName": "x"})),
    )
    .await;
    assert_error(&r, 400, Some("invalidValue"));
    assert_eq!(r.body["detail"], "userName is required");
    assert_error(
        &scim(
            &app,
            Method::POST,
            "/Users",
            &root,
            Some(json!({"userName": "x@y.org", "active": 7})),
        )
        .await,
        400,
        Some("invalidValue"),
    );

    // PUT is a full replacement: attributes left out are cleared.
    let put = scim(
        &app,
        Method::PUT,
        &format!("/Users/{carol}"),
        &root,
        Some(json!({"userName": "carol@example.org", "displayName": "Caroline"})),
    )
    .await;
    assert_eq!(put.status, 200, "{}", put.body);
    assert!(put.body.get("name").is_none());
    assert!(put.body.get("externalId").is_none());
    assert_eq!(put.body["displayName"], "Caroline");
    assert_ne!(put.etag, created.etag);

    // PATCH with and without paths.
    let patch = |ops: Value| json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops});
    let r = scim(
        &app,
        Method::PATCH,
        &format!("/Users/{bob_id}"),
        &root,
        Some(patch(json!([
            {"op": "replace", "path": "displayName", "value": "Robert"},
            {"op": "add", "path": "name.familyName", "value": "Builder"},
            {"op": "replace", "path": format!("{EXT}:admin"), "value": true},
            {"op": "Replace", "value": {"active": "False"}}
        ]))),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["displayName"], "Robert");
    assert_eq!(
        r.body["name"],
        json!({"givenName": "Bob", "familyName": "Builder"})
    );
    assert_eq!(r.body[EXT]["admin"], true);
    assert_eq!(r.body["active"], false);
    // Freshness: bob's own token stops working at once.
    let (status, _) = app.user_cache(&bob).await.unwrap();
    assert_eq!(status, 401);
    let r = scim(&app, Method::PATCH, &format!("/Users/{bob_id}"), &root, Some(patch(json!([
        {"op": "replace", "path": "active", "value": true}, {"op": "replace", "path": format!("{EXT}:admin"), "value": false}
    ])))).await;
    assert_eq!(r.body["active"], true);
    let (status, doc) = app.user_cache(&bob).await.unwrap();
    assert_eq!(
        (status, doc["name"].clone(), doc["admin"].clone()),
        (200, json!("Robert"), json!(false))
    );
    for (ops, kind) in [
        (
            json!([{"op": "replace", "path": "emails[type eq \"work\"].value", "value": "x@y.org"}]),
            "mutability",
        ),
        (
            json!([{"op": "replace", "path": "nope", "value": 1}]),
            "invalidPath",
        ),
        (json!([{"op": "remove"}]), "noTarget"),
        (
            json!([{"op": "jump", "path": "displayName"}]),
            "invalidSyntax",
        ),
        (
            json!([{"op": "replace", "path": "groups[value eq", "value": 1}]),
            "invalidPath",
        ),
        (
            json!([{"op": "replace", "path": "active", "value": "maybe"}]),
            "invalidValue",
        ),
    ] {
        assert_error(
            &scim(
                &app,
                Method::PATCH,
                &format!("/Users/{bob_id}"),
                &root,
                Some(patch(ops)),
            )
            .await,
            400,
            Some(kind),
        );
    }

    // DELETE deactivates: the SCIM id answers 404, the user cannot sign in, the row stays.
    let r = scim(
        &app,
        Method::DELETE,
        &format!("/Users/{bob_id}"),
        &root,
        None,
    )
    .await;
    assert_eq!(r.status, 204);
    assert_error(
        &scim(&app, Method::GET, &format!("/Users/{bob_id}"), &root, None).await,
        404,
        None,
    );
    assert_error(
        &scim(
            &app,
            Method::DELETE,
            &format!("/Users/{bob_id}"),
            &root,
            None,
        )
        .await,
        404,
        None,
    );
    assert_eq!(app.user_cache(&bob).await.unwrap().0, 401);
    assert!(
        app.store
            .user_id_by_email("bob@example.org")
            .await
            .unwrap()
            .is_some()
    );
    let list = scim(&app, Method::GET, "/Users", &root, None).await;
    assert_eq!(list.body["totalResults"], 2);
    let groups = scim(&app, Method::GET, "/Groups", &root, None).await;
    assert!(groups.body["Resources"][0].get("members").is_none());
    // The seeded (non-SCIM) group resolves by its listed id too.
    let lab = groups.body["Resources"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = scim(&app, Method::GET, &format!("/Groups/{lab}"), &root, None).await;
    assert_eq!(
        (r.status, r.body["displayName"].clone()),
        (200, json!("lab"))
    );
    // Provisioning the same userName again revives the row under a new id.
    let again = scim(
        &app,
        Method::POST,
        "/Users",
        &root,
        Some(json!({"userName": "bob@example.org"})),
    )
    .await;
    assert_eq!(again.status, 201);
    assert_ne!(again.body["id"].as_str().unwrap(), bob_id);
    assert_eq!(app.user_cache(&bob).await.unwrap().0, 200);
    // The identity provider's userName is authoritative: one that is not an
    // e-mail address (a UUID, an employee number) is accepted as given.
    let opaque = scim(
        &app,
        Method::POST,
        "/Users",
        &root,
        Some(
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "69612559-48f9-400a-aad3-594111f7e379"}),
        ),
    )
    .await;
    assert_eq!(opaque.status, 201, "{}", opaque.body);
    app.shutdown().await;
}
both_backends!(
    users_are_created_replaced_patched_and_deactivated,
    super::users_lifecycle
);

async fn groups_and_datasets(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app.seed(json!({
        "datasets": [{"name": "fish2", "service_tables": [{"service": "datastack", "table": "t0"}]}],
        "tos": [{"key": "tos1", "name": "Terms", "text": "Be nice", "dataset": "fish2"}],
        "users": [
            {"key": "root", "email": "root@example.org", "admin": true, "tokens": [{"key": "t"}]},
            {"key": "amy", "email": "amy@example.org", "tokens": [{"key": "t"}]},
            {"key": "ben", "email": "ben@example.org", "tokens": [{"key": "t"}]}
        ]
    })).await.unwrap();
    let root = user_token(&s, "root", "t");
    let amy = user_token(&s, "amy", "t");
    let ids: Vec<String> = {
        let l = scim(&app, Method::GET, "/Users?sortBy=userName", &root, None).await;
        l.body["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let (amy_id, ben_id) = (ids[0].clone(), ids[1].clone());

    let g = scim(
        &app,
        Method::POST,
        "/Groups",
        &root,
        Some(json!({"displayName": "Tracers", "members": [{"value": amy_id}]})),
    )
    .await;
    assert_eq!(g.status, 201, "{}", g.body);
    let gid = g.body["id"].as_str().unwrap().to_owned();
    assert_eq!(g.body["members"][0]["value"], amy_id.as_str());
    assert!(g.body["members"][0].get("display").is_none());
    assert_eq!(
        g.body["members"][0]["$ref"].as_str().unwrap(),
        app.url(&format!("/auth/scim/v2/Users/{amy_id}"))
    );
    assert_eq!(
        app.user_cache(&amy).await.unwrap().1["groups"],
        json!(["Tracers"])
    );
    let with_display = scim(
        &app,
        Method::GET,
        &format!("/Groups/{gid}?attributes=members.display"),
        &root,
        None,
    )
    .await;
    assert_eq!(with_display.body["members"][0]["display"], "amy");
    assert_error(
        &scim(
            &app,
            Method::POST,
            "/Groups",
            &root,
            Some(json!({"displayName": "tracers"})),
        )
        .await,
        409,
        Some("uniqueness"),
    );
    // Unknown member ids are skipped (an IdP may add a member before creating the user).
    let x = scim(
        &app,
        Method::POST,
        "/Groups",
        &root,
        Some(json!({"displayName": "X", "members": [{"value": "nope"}]})),
    )
    .await;
    assert_eq!(x.status, 201);
    assert!(x.body.get("members").is_none());

    let patch = |ops: Value| json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops});
    let r = scim(
        &app,
        Method::PATCH,
        &format!("/Groups/{gid}"),
        &root,
        Some(patch(json!([
            {"op": "add", "path": "members", "value": [{"value": ben_id}]},
            {"op": "remove", "path": format!("members[value eq \"{amy_id}\"]")}
        ]))),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["members"],
        json!([{"value": ben_id, "$ref": app.url(&format!("/auth/scim/v2/Users/{ben_id}"))}])
    );
    assert_eq!(app.user_cache(&amy).await.unwrap().1["groups"], json!([]));
    // Entra ID style: remove by value list, add again; Okta style: path-less replace with `id`.
    let r = scim(
        &app,
        Method::PATCH,
        &format!("/Groups/{gid}"),
        &root,
        Some(patch(json!([
            {"op": "Add", "path": "members", "value": [{"value": amy_id}]},
            {"op": "Remove", "path": "members", "value": [{"value": ben_id}]},
            {"op": "replace", "value": {"id": gid, "displayName": "Tracers"}}
        ]))),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["members"][0]["value"], amy_id.as_str());
    assert_eq!(r.body["members"].as_array().unwrap().len(), 1);
    assert_eq!(
        app.user_cache(&amy).await.unwrap().1["groups"],
        json!(["Tracers"])
    );
    let r = scim(
        &app,
        Method::PATCH,
        &format!("/Groups/{gid}"),
        &root,
        Some(patch(json!([
            {"op": "add", "path": "members", "value": [{"value": ben_id}]},
            {"op": "remove", "path": format!("members[value eq \"{amy_id}\"]")}
        ]))),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(app.user_cache(&amy).await.unwrap().1["groups"], json!([]));
    let f = scim(
        &app,
        Method::GET,
        &format!("/Groups?filter=members%5Bvalue%20eq%20%22{ben_id}%22%5D"),
        &root,
        None,
    )
    .await;
    assert_eq!(f.body["totalResults"], 1);
    let u = scim(
        &app,
        Method::GET,
        "/Users?filter=groups.display%20eq%20%22tracers%22",
        &root,
        None,
    )
    .await;
    assert_eq!(u.body["Resources"][0]["id"], ben_id.as_str());
    let audit = app
        .store
        .audit_entries(&dsg_store::audit::AuditFilter {
            action: Some("member_removed".into()),
            limit: 5,
            ..Default::default()
        })
        .await
        .unwrap();
    // amy removed, ben removed (by value list), amy removed again.
    assert_eq!(audit.len(), 3);
    assert_eq!(
        scim(&app, Method::DELETE, &format!("/Groups/{gid}"), &root, None)
            .await
            .status,
        204
    );
    assert_error(
        &scim(&app, Method::GET, &format!("/Groups/{gid}"), &root, None).await,
        404,
        None,
    );

    // Datasets.
    let tos_id = s["tos"]["tos1"]["id"].as_i64().unwrap();
    let d = scim(&app, Method::POST, "/Datasets", &root, Some(json!({
        "schemas": ["urn:ietf:params:scim:schemas:neuroglancer:1.0:Dataset"],
        "name": "zebra", "description": "Zebrafish", "tosId": tos_id,
        "serviceTables": [{"serviceName": "datastack", "tableName": "t0"}, {"serviceName": "datastack", "tableName": "t1"}]
    }))).await;
    assert_eq!(d.status, 201, "{}", d.body);
    let did = d.body["id"].as_str().unwrap().to_owned();
    assert_eq!(d.body["tosId"], tos_id);
    // The existing mapping moved to the new dataset.
    let r = app
        .get("/api/v1/service/datastack/table/t0/dataset", Some(&amy))
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap(), json!("zebra"));
    assert_error(
        &scim(
            &app,
            Method::POST,
            "/Datasets",
            &root,
            Some(json!({"name": "zebra"})),
        )
        .await,
        409,
        Some("uniqueness"),
    );
    assert_error(
        &scim(
            &app,
            Method::POST,
            "/Datasets",
            &root,
            Some(json!({"name": "q", "tosId": 999_999})),
        )
        .await,
        400,
        Some("invalidValue"),
    );
    let r = scim(
        &app,
        Method::PATCH,
        &format!("/Datasets/{did}"),
        &root,
        Some(patch(json!([
            {"op": "remove", "path": "serviceTables[tableName eq \"t0\"]"},
            {"op": "replace", "path": "description", "value": "Danio"}
        ]))),
    )
    .await;
    assert_eq!(
        r.body["serviceTables"],
        json!([{"serviceName": "datastack", "tableName": "t1"}])
    );
    assert_eq!(r.body["description"], "Danio");
    let f = scim(
        &app,
        Method::GET,
        &format!(
            "/Datasets?filter=tosId%20eq%20{tos_id}%20and%20serviceTables.tableName%20eq%20%22t1%22"
        ),
        &root,
        None,
    )
    .await;
    assert_eq!(f.body["totalResults"], 1);
    assert_eq!(
        scim(
            &app,
            Method::DELETE,
            &format!("/Datasets/{did}"),
            &root,
            None
        )
        .await
        .status,
        204
    );
    assert_eq!(
        app.get("/api/v1/service/datastack/table/t1/dataset", Some(&amy))
            .await
            .unwrap()
            .status(),
        404
    );
    app.shutdown().await;
}
both_backends!(
    groups_and_datasets_round_trip_and_stay_fresh,
    super::groups_and_datasets
);

async fn etags(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app.seed(world()).await.unwrap();
    let root = user_token(&s, "root", "t");
    let c = scim(
        &app,
        Method::POST,
        "/Users",
        &root,
        Some(json!({"userName": "e@example.org"})),
    )
    .await;
    let id = c.body["id"].as_str().unwrap().to_owned();
    let v1 = c.etag.clone().unwrap();
    assert!(v1.starts_with("W/\""));
    let r = scim_with(
        &app,
        Method::GET,
        &format!("/Users/{id}"),
        Some(&root),
        None,
        &[("if-none-match", &v1)],
    )
    .await;
    assert_eq!(r.status, 304);
    let r = scim_with(
        &app,
        Method::GET,
        &format!("/Users/{id}"),
        Some(&root),
        None,
        &[("if-none-match", "W/\"other\"")],
    )
    .await;
    assert_eq!(r.status, 200);
    let body = json!({"userName": "e@example.org", "displayName": "E"});
    let r = scim_with(
        &app,
        Method::PUT,
        &format!("/Users/{id}"),
        Some(&root),
        Some(body.clone()),
        &[("if-match", "W/\"stale\"")],
    )
    .await;
    assert_error(&r, 412, None);
    let r = scim_with(
        &app,
        Method::PUT,
        &format!("/Users/{id}"),
        Some(&root),
        Some(body.clone()),
        &[("if-match", &v1)],
    )
    .await;
    assert_eq!(r.status, 200);
    let v2 = r.etag.unwrap();
    assert_ne!(v1, v2);
    let r = scim_with(
        &app,
        Method::DELETE,
        &format!("/Users/{id}"),
        Some(&root),
        None,
        &[("if-match", &v1)],
    )
    .await;
    assert_error(&r, 412, None);
    let r = scim_with(
        &app,
        Method::DELETE,
        &format!("/Users/{id}"),
        Some(&root),
        None,
        &[("if-match", &v2)],
    )
    .await;
    assert_eq!(r.status, 204);
    app.shutdown().await;
}
both_backends!(etags_guard_writes_and_answer_not_modified, super::etags);

async fn filters_sorting_paging(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let mut users = vec![
        json!({"key": "root", "email": "root@example.org", "admin": true, "tokens": [{"key": "t"}]}),
    ];
    for (i, (email, name)) in [
        ("ann@lab.org", "Ann"),
        ("bea@lab.org", "Bea"),
        ("cy@corp.com", "Cy"),
        ("dee@Corp.com", "dee"),
        ("eve_1@lab.org", "Eve"),
    ]
    .iter()
    .enumerate()
    {
        users.push(json!({"key": format!("u{i}"), "email": email, "name": name}));
    }
    let s = app.seed(json!({"users": users})).await.unwrap();
    let root = user_token(&s, "root", "t");
    let q = |f: &str| {
        let f = f
            .replace('%', "%25")
            .replace(' ', "%20")
            .replace('"', "%22")
            .replace('[', "%5B")
            .replace(']', "%5D")
            .replace('&', "%26")
            .replace('+', "%2B");
        format!("/Users?filter={f}&sortBy=userName&attributes=userName")
    };
    let names = |r: &Reply| -> Vec<String> {
        r.body["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["userName"].as_str().unwrap().to_owned())
            .collect()
    };
    for (filter, want) in [
        (
            r#"userName ew "@corp.com""#,
            vec!["cy@corp.com", "dee@Corp.com"],
        ),
        (r#"userName sw "B""#, vec!["bea@lab.org"]),
        (r#"userName co "_""#, vec!["eve_1@lab.org"]),
        (r#"userName co "%""#, vec![]),
        (
            r#"userName eq "x' OR '1'='1" or displayName sw "') --""#,
            vec![],
        ),
        (r#"userName co "\\" or name.givenName ew "_""#, vec![]),
        (
            r#"emails[type eq "work"].value ew "lab.org" and not (name.givenName eq "bea")"#,
            vec!["ann@lab.org", "eve_1@lab.org"],
        ),
        (
            r#"name.givenName gt "C" or userName eq "ROOT@example.org""#,
            vec![
                "cy@corp.com",
                "dee@Corp.com",
                "eve_1@lab.org",
                "root@example.org",
            ],
        ),
        (r#"displayName pr"#, vec![]),
        (
            r#"urn:ietf:params:scim:schemas:extension:neuroglancer:2.0:User:admin eq true"#,
            vec!["root@example.org"],
        ),
        (
            r#"(active eq true) and (meta.lastModified ge "2000-01-01T00:00:00Z") and userName sw "a""#,
            vec!["ann@lab.org"],
        ),
        (r#"meta.created lt "2000-01-01T00:00:00Z""#, vec![]),
        (r#"id ne "x" and externalId pr"#, vec![]),
    ] {
        let r = scim(&app, Method::GET, &q(filter), &root, None).await;
        assert_eq!(r.status, 200, "{filter}: {}", r.body);
        assert_eq!(names(&r), want, "{filter}");
        assert_eq!(r.body["totalResults"], want.len(), "{filter}");
    }
    for bad in [
        r#"userName eq"#,
        r#"active gt true"#,
        r#"nope eq "x""#,
        r#"meta.version eq "x""#,
        r#"groups.$ref eq "x""#,
    ] {
        let r = scim(&app, Method::GET, &q(bad), &root, None).await;
        assert_error(&r, 400, Some("invalidFilter"));
    }
    for bad in [
        "/Users?sortBy=emails.value",
        "/Users?sortBy=nope",
        "/Users?sortBy=userName&sortOrder=up",
    ] {
        assert_error(
            &scim(&app, Method::GET, bad, &root, None).await,
            400,
            Some("invalidValue"),
        );
    }
    // Paging: totalResults counts everything; itemsPerPage what is returned.
    let r = scim(
        &app,
        Method::GET,
        "/Users?sortBy=userName&sortOrder=descending&startIndex=2&count=2",
        &root,
        None,
    )
    .await;
    assert_eq!(
        (
            r.body["totalResults"].clone(),
            r.body["itemsPerPage"].clone(),
            r.body["startIndex"].clone()
        ),
        (json!(6), json!(2), json!(2))
    );
    assert_eq!(r.body["Resources"][0]["userName"], "eve_1@lab.org");
    let r = scim(&app, Method::GET, "/Users?count=0", &root, None).await;
    assert_eq!(
        (r.body["totalResults"].clone(), r.body["Resources"].clone()),
        (json!(6), json!([]))
    );
    let r = scim(
        &app,
        Method::GET,
        "/Users?startIndex=0&count=abc&excludedAttributes=emails,meta",
        &root,
        None,
    )
    .await;
    assert_eq!(r.body["itemsPerPage"], 6);
    assert!(
        r.body["Resources"][0].get("emails").is_none()
            && r.body["Resources"][0].get("meta").is_none()
    );
    assert!(r.body["Resources"][0].get("id").is_some());
    // POST .search takes the same parameters.
    let r = scim(&app, Method::POST, "/Users/.search", &root, Some(json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
        "filter": "userName ew \"lab.org\"", "sortBy": "name.givenName", "sortOrder": "descending", "count": 1, "attributes": ["userName"]}))).await;
    assert_eq!(r.body["totalResults"], 3);
    let only = &r.body["Resources"][0];
    assert_eq!(only["userName"], "eve_1@lab.org");
    assert!(only.get("emails").is_none() && only.get("meta").is_none());
    app.shutdown().await;
}
both_backends!(filters_sort_and_page_in_sql, super::filters_sorting_paging);

fn dsg(app: &TestApp, args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dsg"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", &app.database_url)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

async fn cli_tokens(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let (ok, out) = dsg(&app, &["scim", "token", "create", "entra"]);
    assert!(ok);
    let token = out.trim().to_owned();
    assert_eq!(token.len(), 64);
    assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
    // Stored as SHA-256 only.
    let stored: Vec<u8> = match app.store.db() {
        dsg_store::Db::Sqlite(p) => sqlx::query_scalar("SELECT key_hash FROM scim_token")
            .fetch_one(p)
            .await
            .unwrap(),
        dsg_store::Db::Postgres(p) => sqlx::query_scalar("SELECT key_hash FROM scim_token")
            .fetch_one(p)
            .await
            .unwrap(),
    };
    assert_eq!(stored, dsg_core::token::TokenHash::of(&token).0.to_vec());
    let r = scim(
        &app,
        Method::POST,
        "/Users",
        &token,
        Some(json!({"userName": "idp@example.org"})),
    )
    .await;
    assert_eq!(r.status, 201);
    let audit = app
        .store
        .audit_entries(&dsg_store::audit::AuditFilter {
            action: Some("user_created".into()),
            limit: 1,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(audit[0].actor, "scim:entra");
    assert!(
        !dsg(&app, &["scim", "token", "create", "entra"]).0,
        "names are unique"
    );
    let (ok, out) = dsg(&app, &["scim", "token", "list", "--json"]);
    assert!(ok);
    let list: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(list[0]["name"], "entra");
    assert!(list[0]["last_used"].is_number());
    assert!(!out.contains(&token));
    assert!(dsg(&app, &["scim", "token", "revoke", "entra"]).0);
    assert_error(
        &scim(&app, Method::GET, "/Users", &token, None).await,
        401,
        None,
    );
    assert!(!dsg(&app, &["scim", "token", "revoke", "entra"]).0);
    app.shutdown().await;
}
both_backends!(
    scim_tokens_are_created_listed_and_revoked_from_the_cli,
    super::cli_tokens
);

/// Replaces `http://127.0.0.1:<port>` and volatile values so snapshots are stable.
fn stable(v: &Value, app: &TestApp) -> Value {
    let text = v.to_string().replace(&app.address, "http://HOST");
    let mut v: Value = serde_json::from_str(&text).unwrap();
    fn uuid_like(s: &str) -> bool {
        s.len() == 36 && s.bytes().filter(|b| *b == b'-').count() == 4
    }
    fn walk(v: &mut Value) {
        match v {
            Value::Object(m) => {
                for (k, x) in m.iter_mut() {
                    let text = x.as_str().unwrap_or_default().to_owned();
                    if matches!(k.as_str(), "created" | "lastModified" | "version")
                        || uuid_like(&text)
                    {
                        *x = json!("[redacted]");
                    } else if (k == "location" || k == "$ref")
                        && text.rsplit_once('/').is_some_and(|(_, id)| uuid_like(id))
                    {
                        let keep = text.rsplit_once('/').map_or("", |(a, _)| a);
                        *x = json!(format!("{keep}/[id]"));
                    } else {
                        walk(x);
                    }
                }
            }
            Value::Array(a) => a.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut v);
    v
}

async fn discovery_snapshot(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app.seed(world()).await.unwrap();
    let root = user_token(&s, "root", "t");
    let mut out = serde_json::Map::new();
    for path in ["/ServiceProviderConfig", "/ResourceTypes", "/Schemas"] {
        out.insert(
            path.into(),
            scim(&app, Method::GET, path, &root, None).await.body,
        );
    }
    let bob = scim(
        &app,
        Method::GET,
        "/Users?filter=userName%20eq%20%22bob@example.org%22",
        &root,
        None,
    )
    .await;
    out.insert("/Users?filter=…".into(), bob.body);
    let lab = scim(
        &app,
        Method::GET,
        "/Groups?attributes=displayName,members.display,members.value",
        &root,
        None,
    )
    .await;
    out.insert("/Groups?attributes=…".into(), lab.body);
    out.insert(
        "401".into(),
        scim_with(&app, Method::GET, "/Users", None, None, &[])
            .await
            .body,
    );
    insta::assert_json_snapshot!("scim_published_surface", stable(&Value::Object(out), &app));
    app.shutdown().await;
}
both_backends!(published_surface_is_pinned, super::discovery_snapshot);

async fn concurrent_patches(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app.seed(world()).await.unwrap();
    let root = user_token(&s, "root", "t");
    let mut ids = Vec::new();
    for i in 0..8 {
        let r = scim(
            &app,
            Method::POST,
            "/Users",
            &root,
            Some(json!({"userName": format!("p{i}@example.org")})),
        )
        .await;
        ids.push(r.body["id"].as_str().unwrap().to_owned());
    }
    let g = scim(
        &app,
        Method::POST,
        "/Groups",
        &root,
        Some(json!({"displayName": "crowd"})),
    )
    .await;
    let gid = g.body["id"].as_str().unwrap().to_owned();
    // Identity providers send membership changes in parallel: none may be lost.
    let path = format!("/Groups/{gid}");
    let replies = futures::future::join_all(ids.iter().map(|id| {
        let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "add", "path": "members", "value": [{"value": id}]}]});
        scim(&app, Method::PATCH, &path, &root, Some(body))
    }))
    .await;
    assert!(
        replies.iter().all(|r| r.status == 200),
        "{:?}",
        replies.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    let g = scim(&app, Method::GET, &format!("/Groups/{gid}"), &root, None).await;
    assert_eq!(g.body["members"].as_array().unwrap().len(), ids.len());
    app.shutdown().await;
}
both_backends!(concurrent_patches_lose_no_update, super::concurrent_patches);
