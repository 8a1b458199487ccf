//! DatasetGateway as an OpenID Connect provider (docs/oidc-provider.md):
//! WebKnossos's requests replayed exactly, a standard relying-party flow
//! (PKCE, state, nonce, userinfo, refresh), the refusal matrix, and key
//! rotation with its overlap.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use dsg_testkit::{Backend, TestApp, spawn_app, user_token};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const WK_CALLBACK: &str = "https://wk.example.org/api/auth/oidc/callback";
const SPA_CALLBACK: &str = "http://localhost:3000/cb";

fn world() -> Value {
    json!({
        "datasets": [{"name": "hemibrain"}, {"name": "manc"}, {"name": "secret"}],
        "users": [
            {"key": "ada", "email": "ada@example.org", "name": "Ada King Lovelace",
             "tokens": [{"key": "login"}]},
            {"key": "bob", "email": "bob.smith@example.org", "tokens": [{"key": "login"}]}
        ],
        "groups": [{"name": "lab", "members": [{"user": "ada"}],
                    "permissions": [{"dataset": "manc", "permission": "view"}]}],
        "grants": [{"user": "ada", "dataset": "hemibrain", "permission": "edit"},
                   {"user": "ada", "dataset": "secret", "permission": "view"}],
        "oidc_clients": [
            {"key": "wk", "name": "WebKnossos", "redirect_uris": [WK_CALLBACK],
             "datasets": ["hemibrain", "manc"]},
            {"key": "spa", "name": "Viewer", "public": true, "redirect_uris": [SPA_CALLBACK],
             "post_logout_redirect_uris": ["http://localhost:3000/bye"],
             "scopes": ["openid", "email", "profile"]}
        ]
    })
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// GET the authorization endpoint as the person's browser; the `Location`.
async fn authorize(app: &TestApp, login: Option<&str>, query: &str) -> (u16, String, String) {
    let mut r = http().get(app.url(&format!("/oidc/authorize?{query}")));
    if let Some(t) = login {
        r = r.header("cookie", format!("dsg_token={t}"));
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    let location = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, location, r.text().await.unwrap())
}

fn param(location: &str, name: &str) -> Option<String> {
    let q = location.split_once('?')?.1;
    url::form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

async fn token(app: &TestApp, basic: Option<(&str, &str)>, form: &[(&str, &str)]) -> (u16, Value) {
    let mut r = http().post(app.url("/oidc/token")).form(form);
    if let Some((id, secret)) = basic {
        r = r.header(
            "authorization",
            format!("Basic {}", STANDARD.encode(format!("{id}:{secret}"))),
        );
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Verifies a JWT as WebKnossos does: the first JWKS key with `kty` RSA and
/// `use` sig, with that key's `alg`.
async fn verify(app: &TestApp, jwt: &str) -> Value {
    let jwks: Value = http()
        .get(app.url("/oidc/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kty"] == "RSA" && k["use"] == "sig")
        .expect("an RSA signing key");
    assert_eq!(key["alg"], "RS256");
    let decoding =
        DecodingKey::from_rsa_components(key["n"].as_str().unwrap(), key["e"].as_str().unwrap())
            .unwrap();
    let mut v = Validation::new(Algorithm::RS256);
    v.validate_aud = false;
    v.set_issuer(&[app.address.as_str()]);
    let header = jsonwebtoken::decode_header(jwt).unwrap();
    assert_eq!(header.kid.as_deref(), key["kid"].as_str());
    jsonwebtoken::decode::<Value>(jwt, &decoding, &v)
        .unwrap()
        .claims
}

/// WebKnossos: discovery from `providerUrl + ".well-known/openid-configuration"`,
/// no state, nonce or PKCE, `+` for spaces, Basic plus `client_id` and
/// `scope` in the form, the access token verified with the first RSA key.
async fn webknossos_signs_in(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app.seed(world()).await.unwrap();
    let wk = &s["oidc_clients"]["wk"];
    let (id, secret) = (
        wk["client_id"].as_str().unwrap(),
        wk["client_secret"].as_str().unwrap(),
    );
    let provider_url = format!("{}/", app.address);
    let discovery: Value = http()
        .get(format!("{provider_url}.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(discovery["issuer"], app.address);
    for k in [
        "authorization_endpoint",
        "token_endpoint",
        "userinfo_endpoint",
        "jwks_uri",
        "end_session_endpoint",
    ] {
        assert!(
            discovery[k].as_str().unwrap().starts_with(&app.address),
            "{k}"
        );
    }
    assert!(
        discovery["code_challenge_methods_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("S256"))
    );
    let auth = discovery["authorization_endpoint"].as_str().unwrap();
    assert!(!auth.contains('?'));

    let ada = user_token(&s, "ada", "login");
    let query = format!(
        "client_id={id}&redirect_uri={}&scope=openid+profile+email&response_type=code",
        urlencode(WK_CALLBACK)
    );
    let (status, location, _) = authorize(&app, Some(&ada), &query).await;
    assert_eq!(status, 302);
    assert!(location.starts_with(WK_CALLBACK), "{location}");
    assert!(param(&location, "state").is_none());
    let code = param(&location, "code").unwrap();
    let (status, t) = token(
        &app,
        Some((id, secret)),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", WK_CALLBACK),
            ("client_id", id),
            ("scope", "openid profile email"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{t}");
    assert_eq!(t["token_type"], "Bearer");
    assert!(t["refresh_token"].is_string());
    let access = verify(&app, t["access_token"].as_str().unwrap()).await;
    let id_token = verify(&app, t["id_token"].as_str().unwrap()).await;
    for claims in [&access, &id_token] {
        assert_eq!(claims["email"], "ada@example.org");
        assert_eq!(claims["given_name"], "Ada King");
        assert_eq!(claims["family_name"], "Lovelace");
        assert_eq!(claims["email_verified"], true);
        assert!(claims["sub"].is_string());
    }
    assert_eq!(id_token["aud"], id);
    assert!(id_token.get("nonce").is_none());
    // The code is single-use.
    let (status, e) = token(
        &app,
        Some((id, secret)),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", WK_CALLBACK),
        ],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(e["error"], "invalid_grant");
    app.shutdown().await;
}
both_backends!(webknossos_tests, super::webknossos_signs_in);

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn pkce() -> (String, String) {
    let verifier = URL_SAFE_NO_PAD.encode(Sha256::digest(b"a verifier of enough entropy"));
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// A standard relying party: PKCE, state, nonce, userinfo, refresh
/// rotation, scoped claims, revocation and end-session; a visitor without
/// a session goes through DSG's login first.
async fn a_standard_relying_party_flow(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app.seed(world()).await.unwrap();
    let wk = &s["oidc_clients"]["wk"];
    let (id, secret) = (
        wk["client_id"].as_str().unwrap(),
        wk["client_secret"].as_str().unwrap(),
    );
    let ada = user_token(&s, "ada", "login");
    let (verifier, challenge) = pkce();
    let query = format!(
        "response_type=code&client_id={id}&redirect_uri={}&scope={}&state=xyz%201&nonce=n-0S6&code_challenge={challenge}&code_challenge_method=S256",
        urlencode(WK_CALLBACK),
        urlencode("openid email profile groups datasets")
    );
    // No session: to DSG's login, which comes back here; never to the client.
    let (status, location, _) = authorize(&app, None, &query).await;
    assert_eq!(status, 302);
    assert!(
        location.starts_with("/auth/login?next=%2Foidc%2Fauthorize"),
        "{location}"
    );
    let (status, location, _) = authorize(&app, Some(&ada), &query).await;
    assert_eq!(status, 302);
    assert_eq!(param(&location, "state").as_deref(), Some("xyz 1"));
    let code = param(&location, "code").unwrap();
    // client_secret_post.
    let (status, t) = token(
        &app,
        None,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", WK_CALLBACK),
            ("code_verifier", &verifier),
            ("client_id", id),
            ("client_secret", secret),
        ],
    )
    .await;
    assert_eq!(status, 200, "{t}");
    let id_token = verify(&app, t["id_token"].as_str().unwrap()).await;
    assert_eq!(id_token["nonce"], "n-0S6");
    assert_eq!(id_token["groups"], json!(["lab"]));
    assert_eq!(
        id_token["datasets"],
        json!({"hemibrain": ["view", "edit"], "manc": ["view"]}),
        "only the datasets the client serves"
    );
    let access = t["access_token"].as_str().unwrap().to_owned();
    let userinfo = |token: String| {
        let url = app.url("/oidc/userinfo");
        async move {
            let r = http().get(url).bearer_auth(token).send().await.unwrap();
            (
                r.status().as_u16(),
                r.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let (status, info) = userinfo(access.clone()).await;
    assert_eq!(status, 200);
    assert_eq!(info["sub"], id_token["sub"]);
    assert_eq!(info["datasets"]["hemibrain"], json!(["view", "edit"]));

    // A revoked grant shows on the next userinfo and refresh.
    let hemibrain = app
        .store
        .dataset_by_name("hemibrain")
        .await
        .unwrap()
        .unwrap();
    let grant = app.store.dataset_grants(hemibrain.id).await.unwrap()[0].id;
    let mut tx = app
        .store
        .begin(dsg_store::write::Actor::cli("test"))
        .await
        .unwrap();
    tx.revoke_grant(grant, "test").await.unwrap();
    let events = tx.commit().await.unwrap();
    app.state.committed(&events);
    let gone = dsg_testkit::eventually(std::time::Duration::from_secs(5), || {
        let check = userinfo(access.clone());
        async move { check.await.1["datasets"].get("hemibrain").is_none() }
    })
    .await;
    assert!(gone, "a revoked grant shows on the next userinfo call");

    // Refresh: rotated; the old refresh token is dead.
    let refresh = t["refresh_token"].as_str().unwrap().to_owned();
    let (status, r2) = token(
        &app,
        Some((id, secret)),
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    )
    .await;
    assert_eq!(status, 200, "{r2}");
    assert_ne!(r2["refresh_token"], t["refresh_token"]);
    let (status, e) = token(
        &app,
        Some((id, secret)),
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    )
    .await;
    assert_eq!((status, e["error"].as_str()), (400, Some("invalid_grant")));
    // Revocation, then the refresh token is refused.
    let r = http()
        .post(app.url("/oidc/revoke"))
        .basic_auth(id, Some(secret))
        .form(&[("token", r2["refresh_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (status, _) = token(
        &app,
        Some((id, secret)),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", r2["refresh_token"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(status, 400);

    // A public client: PKCE required, no secret, no refresh token.
    let spa = s["oidc_clients"]["spa"]["client_id"].as_str().unwrap();
    let base = format!(
        "response_type=code&client_id={spa}&redirect_uri={}&scope=openid+email",
        urlencode(SPA_CALLBACK)
    );
    let (status, location, _) = authorize(&app, Some(&ada), &base).await;
    assert_eq!(status, 302);
    assert_eq!(
        param(&location, "error").as_deref(),
        Some("invalid_request")
    );
    let (status, location, _) = authorize(
        &app,
        Some(&ada),
        &format!("{base}&code_challenge={challenge}&code_challenge_method=S256"),
    )
    .await;
    assert_eq!(status, 302);
    let code = param(&location, "code").unwrap();
    let (status, t) = token(
        &app,
        None,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", SPA_CALLBACK),
            ("client_id", spa),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(status, 200, "{t}");
    assert!(t.get("refresh_token").is_none());
    let claims = verify(&app, t["id_token"].as_str().unwrap()).await;
    assert!(claims.get("groups").is_none(), "no groups scope");

    // End session: to a registered post-logout URI only.
    let r = http()
        .get(app.url(&format!(
            "/oidc/logout?client_id={spa}&post_logout_redirect_uri={}&state=s1",
            urlencode("http://localhost:3000/bye")
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    assert_eq!(
        r.headers()["location"],
        "http://localhost:3000/bye?state=s1"
    );
    let r = http()
        .get(app.url(&format!(
            "/oidc/logout?client_id={spa}&post_logout_redirect_uri={}",
            urlencode("https://evil.example/")
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    app.shutdown().await;
}
both_backends!(standard_flow_tests, super::a_standard_relying_party_flow);

/// Refusals: OAuth errors with 400/401, never a token, never a redirect to
/// an unregistered URI, never a 5xx; each audited.
async fn the_refusal_matrix(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app.seed(world()).await.unwrap();
    let wk = &s["oidc_clients"]["wk"];
    let (id, secret) = (
        wk["client_id"].as_str().unwrap().to_owned(),
        wk["client_secret"].as_str().unwrap().to_owned(),
    );
    let ada = user_token(&s, "ada", "login");
    let (verifier, challenge) = pkce();
    let code_for = |query: String| {
        let (app, ada) = (&app, ada.clone());
        async move {
            let (status, location, body) = authorize(app, Some(&ada), &query).await;
            assert_eq!(status, 302, "{body}");
            param(&location, "code").unwrap()
        }
    };
    let plain = format!(
        "response_type=code&client_id={id}&redirect_uri={}&scope=openid",
        urlencode(WK_CALLBACK)
    );

    // Unregistered redirect URI, unknown client: a page, never a redirect.
    for q in [
        format!(
            "response_type=code&client_id={id}&redirect_uri={}&scope=openid",
            urlencode("https://evil.example/cb")
        ),
        format!(
            "response_type=code&client_id=nope&redirect_uri={}&scope=openid",
            urlencode(WK_CALLBACK)
        ),
    ] {
        let (status, location, _) = authorize(&app, Some(&ada), &q).await;
        assert_eq!(status, 400, "{q}");
        assert!(location.is_empty(), "{q}: {location}");
    }
    // Wrong secret; unknown client at the token endpoint.
    let code = code_for(plain.clone()).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", WK_CALLBACK),
    ];
    let (status, e) = token(&app, Some((&id, "wrong")), &form).await;
    assert_eq!((status, e["error"].as_str()), (401, Some("invalid_client")));
    let (status, e) = token(&app, Some(("nope", "x")), &form).await;
    assert_eq!((status, e["error"].as_str()), (401, Some("invalid_client")));
    // The code was not spent by those refusals; a different redirect URI is.
    let (status, e) = token(
        &app,
        Some((&id, &secret)),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "https://wk.example.org/other"),
        ],
    )
    .await;
    assert_eq!((status, e["error"].as_str()), (400, Some("invalid_grant")));
    // Reused code.
    let (status, _) = token(&app, Some((&id, &secret)), &form).await;
    assert_eq!(status, 400);
    // Wrong PKCE verifier.
    let code = code_for(format!(
        "{plain}&code_challenge={challenge}&code_challenge_method=S256"
    ))
    .await;
    let (status, e) = token(
        &app,
        Some((&id, &secret)),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", WK_CALLBACK),
            (
                "code_verifier",
                "wrong-verifier-wrong-verifier-wrong-verifier",
            ),
        ],
    )
    .await;
    assert_eq!((status, e["error"].as_str()), (400, Some("invalid_grant")));
    let _ = verifier;
    // Expired code.
    let code = code_for(plain.clone()).await;
    app.clock.advance_secs(61);
    let (status, e) = token(
        &app,
        Some((&id, &secret)),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", WK_CALLBACK),
        ],
    )
    .await;
    assert_eq!((status, e["error"].as_str()), (400, Some("invalid_grant")));
    // Unsupported grant type; a JSON body.
    let (status, e) = token(&app, Some((&id, &secret)), &[("grant_type", "password")]).await;
    assert_eq!(
        (status, e["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );
    let r = http()
        .post(app.url("/oidc/token"))
        .json(&json!({"grant_type": "authorization_code"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // Disabled user: no tokens.
    let code = code_for(plain.clone()).await;
    disable(&app, s["users"]["ada"]["id"].as_i64().unwrap()).await;
    let (status, e) = token(
        &app,
        Some((&id, &secret)),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", WK_CALLBACK),
        ],
    )
    .await;
    assert_eq!(
        (status, e["error"].as_str()),
        (400, Some("invalid_grant")),
        "{e}"
    );
    // Disabled client.
    let (ok, _, err) = dsg_testkit::cli::dsg(&app, &["oidc-client", "disable", &id], None);
    assert!(ok, "{err}");
    let (status, _, _) = authorize(&app, Some(&user_token(&s, "bob", "login")), &plain).await;
    assert_eq!(status, 400);
    let (status, e) = token(&app, Some((&id, &secret)), &form).await;
    assert_eq!((status, e["error"].as_str()), (401, Some("invalid_client")));
    let refused = app
        .store
        .audit_entries(&dsg_store::audit::AuditFilter {
            action: Some("oidc_token_refused".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(refused.len() >= 5, "{}", refused.len());
    app.shutdown().await;
}
both_backends!(refusal_tests, super::the_refusal_matrix);

async fn disable(app: &TestApp, user_id: i64) {
    const OFF: &str = "UPDATE dsg_user SET is_active = FALSE WHERE id = $1";
    match app.store.db() {
        dsg_store::Db::Sqlite(p) => sqlx::query(OFF).bind(user_id).execute(p).await.map(|_| ()),
        dsg_store::Db::Postgres(p) => sqlx::query(OFF).bind(user_id).execute(p).await.map(|_| ()),
    }
    .unwrap();
}

/// Key rotation with an overlap: the new key is published at once and signs
/// only after the overlap; tokens signed by the old key stay verifiable.
async fn keys_rotate_with_an_overlap(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app.seed(world()).await.unwrap();
    let jwks = || async {
        http()
            .get(app.url("/oidc/jwks"))
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    };
    let first = jwks().await;
    assert_eq!(first["keys"].as_array().unwrap().len(), 1);
    let old_kid = first["keys"][0]["kid"].clone();
    assert!(first["keys"][0].get("d").is_none(), "public keys only");
    let (ok, out, err) =
        dsg_testkit::cli::dsg(&app, &["oidc-key", "rotate", "--overlap", "60s"], None);
    assert!(ok, "{err}");
    app.state.oidc_keys.clear();
    let both = jwks().await;
    let kids: Vec<&Value> = both["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| &k["kid"])
        .collect();
    assert_eq!(kids.len(), 2);
    assert_eq!(kids[0], &old_kid, "the signing key first");
    assert_eq!(kids[1].as_str(), Some(out.trim()));
    // The CLI dates the overlap by the system clock; the server's test
    // clock started a little earlier.
    app.clock.advance_secs(120);
    app.state.oidc_keys.clear();
    let after = jwks().await;
    assert_eq!(
        after["keys"][0]["kid"].as_str(),
        Some(out.trim()),
        "the new key signs now"
    );
    let _ = s;
    app.shutdown().await;
}
both_backends!(rotation_tests, super::keys_rotate_with_an_overlap);

/// A real relying-party library (npm `openid-client`, from the lockfile in
/// `crates/dsg/tests/oidc`) signs in: discovery, PKCE S256, state, nonce,
/// id-token validation, userinfo and a refresh.
async fn openid_client_signs_in(backend: Backend) {
    let app = spawn_app(backend).await.unwrap();
    let s = app.seed(world()).await.unwrap();
    let wk = &s["oidc_clients"]["wk"];
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/oidc");
    assert!(
        std::path::Path::new(dir)
            .join("node_modules/openid-client")
            .exists(),
        "openid-client is not installed: run `npm ci` in {dir} (scripts/test does)"
    );
    let out = tokio::process::Command::new("node")
        .arg("rp.mjs")
        .args([
            app.address.as_str(),
            wk["client_id"].as_str().unwrap(),
            wk["client_secret"].as_str().unwrap(),
            WK_CALLBACK,
            &user_token(&s, "ada", "login"),
        ])
        .current_dir(dir)
        .output()
        .await
        .expect("node must be installed");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(seen["claims"]["email"], "ada@example.org");
    assert_eq!(seen["claims"]["iss"], app.address);
    assert_eq!(seen["userinfo"]["sub"], seen["claims"]["sub"]);
    assert_eq!(seen["userinfo"]["groups"], json!(["lab"]));
    assert_eq!(seen["userinfo"]["datasets"]["manc"], json!(["view"]));
    assert_eq!(seen["refreshed"]["claims"]["sub"], seen["claims"]["sub"]);
    assert_eq!(seen["refreshed"]["new_refresh_token"], true);
    app.shutdown().await;
}
both_backends!(openid_client_tests, super::openid_client_signs_in);

/// Authorization requests without a session start a login: they count
/// toward `rate_limit.login`; a signed-in person's are not throttled by it.
async fn login_starts_are_rate_limited(backend: Backend) {
    let app = dsg_testkit::spawn_app_with(backend, |c| {
        c.rate_limit.login = dsg_server::config::LimitConfig::per_minute(2);
    })
    .await
    .unwrap();
    let s = app.seed(world()).await.unwrap();
    let id = s["oidc_clients"]["wk"]["client_id"].as_str().unwrap();
    let query = format!(
        "response_type=code&client_id={id}&redirect_uri={}&scope=openid",
        urlencode(WK_CALLBACK)
    );
    let ada = user_token(&s, "ada", "login");
    for _ in 0..4 {
        assert_eq!(authorize(&app, Some(&ada), &query).await.0, 302);
    }
    assert_eq!(authorize(&app, None, &query).await.0, 302);
    assert_eq!(authorize(&app, None, &query).await.0, 302);
    assert_eq!(authorize(&app, None, &query).await.0, 429);
    app.shutdown().await;
}
both_backends!(login_limit_tests, super::login_starts_are_rate_limited);
