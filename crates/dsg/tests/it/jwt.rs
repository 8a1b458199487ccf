//! JWT bearer tokens from an external issuer: a valid token gets the same
//! `user/cache` document as the user's own token; every bad token is a 401
//! (never a 500). Tokens are signed here; the issuer's discovery document
//! and JWKS are served by a small axum server on a random port.

use std::sync::Arc;

use base64::Engine;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use parking_lot::RwLock;
use serde_json::{Value, json};

use dsg_testkit::{Backend, spawn_app_with, user_token};

const KEYS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/keys");

fn pem(name: &str) -> Vec<u8> {
    std::fs::read(format!("{KEYS}/{name}")).unwrap()
}

fn jwk(name: &str) -> Jwk {
    let key = EncodingKey::from_rsa_pem(&pem(&format!("{name}.pem"))).unwrap();
    let mut j = Jwk::from_encoding_key(&key, Algorithm::RS256).unwrap();
    j.common.key_id = Some(name.into());
    j
}

/// A tiny issuer: discovery + a JWKS that the test can rotate.
struct Issuer {
    url: String,
    keys: Arc<RwLock<JwkSet>>,
}

async fn start_issuer(initial: &[&str]) -> Issuer {
    use axum::routing::get;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let keys = Arc::new(RwLock::new(JwkSet {
        keys: initial.iter().map(|k| jwk(k)).collect(),
    }));
    let (u, k) = (url.clone(), keys.clone());
    let app = axum::Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(move || {
                let u = u.clone();
                async move { axum::Json(json!({"issuer": u, "jwks_uri": format!("{u}/jwks")})) }
            }),
        )
        .route(
            "/jwks",
            get(move || {
                let k = k.clone();
                async move { axum::Json(serde_json::to_value(&*k.read()).unwrap()) }
            }),
        );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Issuer { url, keys }
}

fn sign(kid: &str, claims: &Value) -> String {
    let mut h = Header::new(Algorithm::RS256);
    h.kid = Some(kid.into());
    let key = EncodingKey::from_rsa_pem(&pem(&format!("{kid}.pem"))).unwrap();
    jsonwebtoken::encode(&h, claims, &key).unwrap()
}

fn b64(v: &Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

async fn jwt_bearer_tokens_and_the_bad_token_matrix(backend: Backend) {
    let issuer = start_issuer(&["k1"]).await;
    let iss = issuer.url.clone();
    let app = spawn_app_with(backend, |c| {
        c.auth.enabled = true;
        c.auth.issuer = iss.clone();
        c.auth.audience = "dsg-api".into();
        c.auth.algorithms = vec!["RS256".into(), "ES256".into()];
        c.auth.read_scopes = vec!["datasets:read".into()];
        c.auth.reload_scopes = vec!["datasets:write".into()];
        c.auth.tenant_claim = "/tid".into();
        c.auth.allowed_tenants = vec!["t1".into()];
        c.auth.start_degraded = false;
    })
    .await
    .unwrap();
    let seeded = app
        .seed(json!({
            "datasets": [{"name": "fish2"}],
            "users": [{"key": "a", "email": "alice@example.org", "tokens": [{"key": "t"}]}],
            "grants": [{"user": "a", "dataset": "fish2", "permission": "edit"}]
        }))
        .await
        .unwrap();
    let own = user_token(&seeded, "a", "t");
    let now = app.clock.now().as_secs();
    let base = json!({
        "iss": iss, "aud": "dsg-api", "sub": "u-1", "email": "alice@example.org",
        "iat": now, "nbf": now - 10, "exp": now + 600,
        "scope": "openid datasets:read", "tid": "t1"
    });
    let with = |k: &str, v: Value| {
        let mut c = base.clone();
        c[k] = v;
        c
    };

    // Without the reload scope a JWT acts as a read-only token: view only.
    let (s, read_only) = app.user_cache(&sign("k1", &base)).await.unwrap();
    assert_eq!(s, 200, "{read_only}");
    assert_eq!(
        read_only["permissions_v2"]["fish2"],
        json!(["view"]),
        "{read_only}"
    );

    // With it: the same document as the user's own token, via header or query.
    let base = with("scope", json!("openid datasets:read datasets:write"));
    let with = |k: &str, v: Value| {
        let mut c = base.clone();
        c[k] = v;
        c
    };
    let (s, by_token) = app.user_cache(&own).await.unwrap();
    assert_eq!(s, 200);
    assert_eq!(by_token["permissions_v2"]["fish2"], json!(["edit", "view"]));
    let good = sign("k1", &base);
    let (s, by_jwt) = app.user_cache(&good).await.unwrap();
    assert_eq!(s, 200, "{by_jwt}");
    assert_eq!(by_jwt, by_token);
    let r = app
        .get(&format!("/api/v1/user/cache?dsg_token={good}"), None)
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);

    // Other endpoints (eager authentication) and the cookie accept it too.
    let r = app.get("/api/v1/user/token", Some(&good)).await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let r = reqwest::Client::new()
        .get(app.url("/api/v1/user/cache"))
        .header("cookie", format!("dsg_token={good}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let expired = sign("k1", &with("exp", json!(now - 3600)));
    let r = app.get("/api/v1/user/token", Some(&expired)).await.unwrap();
    assert_eq!(r.status().as_u16(), 401);

    let hs256 = {
        let mut h = Header::new(Algorithm::HS256);
        h.kid = Some("k1".into());
        jsonwebtoken::encode(&h, &base, &EncodingKey::from_secret(&pem("k1.pub.pem"))).unwrap()
    };
    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT", "kid": "k1"})),
        b64(&base)
    );
    let mut scopes_missing = base.clone();
    scopes_missing.as_object_mut().unwrap().remove("scope");
    let matrix: Vec<(&str, String)> = vec![
        ("expired", sign("k1", &with("exp", json!(now - 3600)))),
        ("no exp", {
            let mut c = base.clone();
            c.as_object_mut().unwrap().remove("exp");
            sign("k1", &c)
        }),
        (
            "nbf in the future",
            sign("k1", &with("nbf", json!(now + 3600))),
        ),
        (
            "wrong iss",
            sign("k1", &with("iss", json!("http://127.0.0.1:1"))),
        ),
        ("wrong aud", sign("k1", &with("aud", json!("someone-else")))),
        ("alg none", none),
        ("HS256 signed with the public key", hs256),
        ("unknown kid", sign("k3", &base)),
        ("wrong tenant", sign("k1", &with("tid", json!("t2")))),
        ("missing scope", sign("k1", &scopes_missing)),
        (
            "wrong scope",
            sign("k1", &with("scope", json!("datasets:write"))),
        ),
        (
            "unknown user",
            sign("k1", &with("email", json!("nobody@example.org"))),
        ),
        ("garbage", "eyJhbGciOi.e30.xx".into()),
        ("tampered payload", {
            let parts: Vec<&str> = good.split('.').collect();
            format!(
                "{}.{}.{}",
                parts[0],
                b64(&with("email", json!("root@example.org"))),
                parts[2]
            )
        }),
    ];
    for (what, token) in &matrix {
        let (s, body) = app.user_cache(token).await.unwrap();
        assert_eq!(s, 401, "{what}: {body}");
        assert_eq!(body["detail"], "Invalid or expired token.", "{what}");
    }

    // Key rotation at the issuer: the new kid is fetched once and accepted.
    issuer.keys.write().keys = vec![jwk("k2")];
    let rotated = sign("k2", &base);
    let (s, body) = app.user_cache(&rotated).await.unwrap();
    assert_eq!(s, 200, "rotated key: {body}");
    assert_eq!(body, by_token);

    // Readiness names the issuer as loaded (nothing missing).
    let r: Value = app
        .get("/readyz", None)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["status"], "ready", "{r}");
    assert_eq!(
        r["identity_providers"]["jwt"][0]["keys_loaded"], true,
        "{r}"
    );
    app.shutdown().await;
}
both_backends!(
    jwt_matrix,
    crate::jwt::jwt_bearer_tokens_and_the_bad_token_matrix
);

async fn a_strict_unreachable_issuer_refuses_to_start(backend: Backend) {
    let dead = format!("http://127.0.0.1:{}", dsg_testkit::free_port());
    let r = spawn_app_with(backend, |c| {
        c.auth.enabled = true;
        c.auth.issuer = dead.clone();
        c.auth.start_degraded = false;
    })
    .await;
    let e = r.err().expect("must not start").to_string();
    assert!(e.contains("start_degraded"), "{e}");
    // Degraded start: serves, and /readyz names the issuer.
    let app = spawn_app_with(backend, |c| {
        c.auth.enabled = true;
        c.auth.issuer = dead.clone();
    })
    .await
    .unwrap();
    // Other readiness checks (the PostgreSQL change listener) may still be
    // connecting on a loaded machine: wait for them, then the issuer alone
    // keeps the status at "degraded".
    let settled = dsg_testkit::eventually(std::time::Duration::from_secs(10), || async {
        app.readyz().await.unwrap().1["status"] == "degraded"
    })
    .await;
    let r: Value = app.readyz().await.unwrap().1;
    assert!(settled, "{r}");
    assert_eq!(r["status"], "degraded", "{r}");
    assert_eq!(
        r["identity_providers"]["jwt"][0]["keys_loaded"], false,
        "{r}"
    );
    assert!(
        r["identity_providers_not_ready"]
            .to_string()
            .contains(&dead),
        "{r}"
    );
    app.shutdown().await;
}
both_backends!(
    jwt_strict_start,
    crate::jwt::a_strict_unreachable_issuer_refuses_to_start
);

async fn several_issuers_each_with_their_own_keys_and_user_claim(backend: Backend) {
    let a = start_issuer(&["k1"]).await;
    let b = start_issuer(&["k2"]).await;
    let (ia, ib) = (a.url.clone(), b.url.clone());
    let app = spawn_app_with(backend, |c| {
        c.auth.enabled = true;
        c.auth.issuer = ia.clone();
        c.auth.issuers = vec![dsg_server::config::JwtIssuerConfig {
            issuer: ib.clone(),
            audience: "b-aud".into(),
            user_claim: "sub".into(),
            ..Default::default()
        }];
    })
    .await
    .unwrap();
    let seeded = app
        .seed(json!({"users": [{"key": "a", "email": "alice@example.org", "tokens": [{"key": "t"}]}]}))
        .await
        .unwrap();
    let uid = seeded["users"]["a"]["id"].as_i64().unwrap();
    let mut tx = app
        .store
        .begin(dsg_store::write::Actor::cli("test"))
        .await
        .unwrap();
    tx.link_identity(
        uid,
        &dsg_store::identities::LoginIdentity {
            issuer: ib.clone(),
            subject: "b-123".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    app.state.committed(&tx.commit().await.unwrap());
    let now = app.clock.now().as_secs();
    let claims = |iss: &str, aud: &str, sub: &str| json!({"iss": iss, "aud": aud, "sub": sub, "email": "alice@example.org", "exp": now + 600});
    let (_, own) = app
        .user_cache(&user_token(&seeded, "a", "t"))
        .await
        .unwrap();
    // Issuer A: e-mail claim, no audience configured.
    let (s, doc) = app
        .user_cache(&sign("k1", &claims(&ia, "x", "whatever")))
        .await
        .unwrap();
    assert_eq!((s, &doc), (200, &own));
    // Issuer B: its own key, audience, and the linked subject.
    let (s, doc) = app
        .user_cache(&sign("k2", &claims(&ib, "b-aud", "b-123")))
        .await
        .unwrap();
    assert_eq!((s, &doc), (200, &own));
    for (what, token) in [
        (
            "B's claims signed with A's key",
            sign("k1", &claims(&ib, "b-aud", "b-123")),
        ),
        (
            "A's claims signed with B's key",
            sign("k2", &claims(&ia, "x", "whatever")),
        ),
        (
            "unlinked subject at B",
            sign("k2", &claims(&ib, "b-aud", "b-999")),
        ),
        (
            "wrong audience at B",
            sign("k2", &claims(&ib, "x", "b-123")),
        ),
    ] {
        assert_eq!(app.user_cache(&token).await.unwrap().0, 401, "{what}");
    }
    app.shutdown().await;
}
both_backends!(
    jwt_several_issuers,
    crate::jwt::several_issuers_each_with_their_own_keys_and_user_claim
);
