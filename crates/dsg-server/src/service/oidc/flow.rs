//! The authorization-code flow: the authorization request (the person is
//! DSG's own browser session; no consent page for an administrator's
//! clients), the token endpoint (`authorization_code`, `refresh_token`;
//! `client_secret_basic`, `client_secret_post`, public clients with PKCE
//! S256), userinfo, revocation and the end-session target. Codes are
//! single-use, short-lived and bound to the client, the redirect URI and the
//! PKCE challenge; refresh tokens rotate on use; every issuance and refusal
//! is audited.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use dsg_core::token::{ApiToken, TokenHash, secrets_equal};
use dsg_store::oidc::{NewCode, OidcClient};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::super::ServiceError;
use super::{OAuthError, claims, keys};
use crate::state::AppState;

/// An authorization request, as sent.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct AuthorizeRequest {
    /// Must be `code`.
    pub response_type: Option<String>,
    /// The client.
    pub client_id: Option<String>,
    /// One of the client's redirect URIs, exactly.
    pub redirect_uri: Option<String>,
    /// Space-separated scopes (must include `openid`).
    pub scope: Option<String>,
    /// Echoed to the client.
    pub state: Option<String>,
    /// Echoed in the id token.
    pub nonce: Option<String>,
    /// PKCE challenge.
    pub code_challenge: Option<String>,
    /// `S256` (the only one).
    pub code_challenge_method: Option<String>,
}

/// What the authorization endpoint does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authorize {
    /// A page: the redirect URI is not to be trusted (unknown client, URI
    /// not registered, malformed request).
    Page {
        /// 400 or 403.
        status: u16,
        /// What went wrong, for people.
        message: String,
    },
    /// Send the visitor to DSG's login, which brings them back.
    Login,
    /// 302 to the client's redirect URI (a code, or an OAuth error).
    Redirect(String),
}

fn with_params(uri: &str, params: &[(&str, &str)]) -> String {
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    let sep = if uri.contains('?') { '&' } else { '?' };
    format!("{uri}{sep}{query}")
}

async fn audit(state: &AppState, action: &str, client: Option<&str>, detail: Value) {
    let write = async {
        let mut tx = state
            .store
            .begin(dsg_store::write::Actor::system("oidc"))
            .await?;
        tx.record_oidc_event(action, client, detail).await?;
        tx.commit().await
    };
    if let Err(e) = write.await {
        tracing::warn!(error = %e, action, "OpenID audit row not written");
    }
}

/// Decides an authorization request for `user` (the signed-in person, if any).
///
/// # Errors
/// The store's.
pub async fn authorize(
    state: &AppState,
    req: &AuthorizeRequest,
    user: Option<i64>,
) -> Result<Authorize, ServiceError> {
    let page = |status: u16, message: &str| Authorize::Page {
        status,
        message: message.to_owned(),
    };
    let client_id = req.client_id.as_deref().unwrap_or_default();
    let client = match state.store.oidc_client(client_id).await? {
        Some(c) if c.enabled => c,
        _ => {
            audit(
                state,
                "oidc_authorize_refused",
                None,
                json!({"reason": "unknown_client"}),
            )
            .await;
            return Ok(page(400, "Unknown or disabled client."));
        }
    };
    let Some(redirect_uri) = req
        .redirect_uri
        .as_deref()
        .filter(|u| client.redirect_uris.iter().any(|r| r == u))
    else {
        audit(
            state,
            "oidc_authorize_refused",
            Some(&client.client_id),
            json!({"reason": "redirect_uri"}),
        )
        .await;
        return Ok(page(
            400,
            "This redirect URI is not registered for the client.",
        ));
    };
    let back = |error: &str, description: &str| {
        let mut params = vec![("error", error), ("error_description", description)];
        if let Some(s) = req.state.as_deref() {
            params.push(("state", s));
        }
        Authorize::Redirect(with_params(redirect_uri, &params))
    };
    let refuse = async |reason: &str| {
        audit(
            state,
            "oidc_authorize_refused",
            Some(&client.client_id),
            json!({"reason": reason}),
        )
        .await;
    };
    if req.response_type.as_deref() != Some("code") {
        refuse("response_type").await;
        return Ok(back(
            "unsupported_response_type",
            "only response_type=code is supported",
        ));
    }
    let requested: Vec<&str> = req
        .scope
        .as_deref()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    if !requested.contains(&"openid") {
        refuse("scope").await;
        return Ok(back("invalid_scope", "the scope must include openid"));
    }
    let granted: Vec<String> = client
        .scopes
        .iter()
        .filter(|s| requested.contains(&s.as_str()))
        .cloned()
        .collect();
    match (
        req.code_challenge.as_deref(),
        req.code_challenge_method.as_deref(),
    ) {
        (Some(c), Some("S256")) if c.len() == 43 && URL_SAFE_NO_PAD.decode(c).is_ok() => {}
        (None, None) if !client.public => {}
        _ => {
            refuse("pkce").await;
            return Ok(back(
                "invalid_request",
                if client.public {
                    "a public client must send code_challenge with code_challenge_method=S256"
                } else {
                    "code_challenge must be a S256 challenge (43 base64url characters)"
                },
            ));
        }
    }
    let Some(user_id) = user else {
        return Ok(Authorize::Login);
    };
    let code = ApiToken::generate().map_err(|e| ServiceError::Store(e.into()))?;
    let scope = granted.join(" ");
    let mut tx = state
        .store
        .begin(dsg_store::write::Actor::system("oidc"))
        .await?;
    tx.add_oidc_code(&NewCode {
        hash: code.hash(),
        client: client.id,
        user_id,
        redirect_uri,
        scope: &scope,
        nonce: req.nonce.as_deref(),
        code_challenge: req.code_challenge.as_deref(),
        expires_at: state
            .clock
            .now()
            .plus_secs(state.config.oidc_provider.code_secs),
    })
    .await?;
    super::super::commit(state, tx).await?;
    let mut params = vec![("code", code.expose())];
    if let Some(s) = req.state.as_deref() {
        params.push(("state", s));
    }
    Ok(Authorize::Redirect(with_params(redirect_uri, &params)))
}

/// A token request's form, as sent.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct TokenRequest {
    /// `authorization_code` or `refresh_token`.
    pub grant_type: Option<String>,
    /// The code.
    pub code: Option<String>,
    /// The redirect URI the code was issued for.
    pub redirect_uri: Option<String>,
    /// PKCE verifier.
    pub code_verifier: Option<String>,
    /// The refresh token.
    pub refresh_token: Option<String>,
    /// `client_secret_post` (and public clients): the client.
    pub client_id: Option<String>,
    /// `client_secret_post`: the secret.
    pub client_secret: Option<String>,
    /// Narrower scopes on refresh (ignored otherwise).
    pub scope: Option<String>,
    /// Revocation: the token.
    pub token: Option<String>,
}

/// The client authenticated by HTTP Basic (`basic`: id, secret) or the form.
///
/// # Errors
/// `invalid_client` (401) for an unknown or disabled client, a wrong or
/// missing secret, or Basic and form naming different clients.
pub async fn client_of(
    state: &AppState,
    basic: Option<(String, String)>,
    form: &TokenRequest,
) -> Result<OidcClient, OAuthError> {
    let (client_id, secret) = match (&basic, &form.client_id) {
        (Some((id, _)), Some(form_id)) if id != form_id => {
            return Err(OAuthError::client(
                "client_id differs from the Basic credentials",
            ));
        }
        (Some((id, secret)), _) => (id.clone(), Some(secret.clone())),
        (None, Some(id)) => (id.clone(), form.client_secret.clone()),
        (None, None) => return Err(OAuthError::client("client authentication is required")),
    };
    if let Err(l) = state.limits.oidc_token(&client_id).await {
        return Err(OAuthError {
            status: 429,
            error: "slow_down",
            description: format!("too many requests; retry in {} s", l.retry_after),
        });
    }
    let found = state
        .store
        .oidc_client(&client_id)
        .await
        .map_err(|_| OAuthError::unavailable())?;
    let refuse = async |reason: &str| {
        audit(
            state,
            "oidc_token_refused",
            Some(&client_id),
            json!({"reason": reason}),
        )
        .await;
        OAuthError::client("unknown client or bad credentials")
    };
    let Some(client) = found.filter(|c| c.enabled) else {
        return Err(refuse("unknown_client").await);
    };
    match (&client.secret_hash, secret.as_deref()) {
        (Some(hash), Some(s)) if secrets_equal(&TokenHash::of(s).0, &hash.0) => Ok(client),
        (None, None | Some("")) => Ok(client),
        _ => Err(refuse("bad_secret").await),
    }
}

/// The token answer: `access_token`, `token_type`, `expires_in`,
/// `id_token`, `scope`, and a `refresh_token` for confidential clients.
///
/// # Errors
/// OAuth errors (`invalid_grant`, `unsupported_grant_type`, …); 400s only.
pub async fn token(
    state: &AppState,
    client: &OidcClient,
    form: &TokenRequest,
    issuer: &str,
) -> Result<Value, OAuthError> {
    let now = state.clock.now();
    let unavailable = |_| OAuthError::unavailable();
    let grant = |reason: &'static str, text: &str| {
        let text = text.to_owned();
        async move {
            audit(
                state,
                "oidc_token_refused",
                Some(&client.client_id),
                json!({"reason": reason}),
            )
            .await;
            OAuthError::bad("invalid_grant", text)
        }
    };
    let (user_id, scope, nonce) = match form.grant_type.as_deref() {
        Some("authorization_code") => {
            let Some(code) = form.code.as_deref() else {
                return Err(OAuthError::bad("invalid_request", "code is required"));
            };
            let mut tx = state
                .store
                .begin(dsg_store::write::Actor::system("oidc"))
                .await
                .map_err(unavailable)?;
            let taken = tx
                .take_oidc_code(&TokenHash::of(code))
                .await
                .map_err(unavailable)?;
            tx.commit().await.map_err(unavailable)?;
            let Some(c) = taken else {
                return Err(grant("code_unknown_or_used", "the code is unknown or was used").await);
            };
            if c.client != client.id {
                return Err(grant("code_client", "the code was issued to another client").await);
            }
            if c.expires_at <= now {
                return Err(grant("code_expired", "the code has expired").await);
            }
            if form.redirect_uri.as_deref() != Some(c.redirect_uri.as_str()) {
                return Err(grant(
                    "redirect_uri",
                    "redirect_uri differs from the authorization request",
                )
                .await);
            }
            match (&c.code_challenge, form.code_verifier.as_deref()) {
                (Some(challenge), Some(verifier)) => {
                    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
                    if !secrets_equal(computed.as_bytes(), challenge.as_bytes()) {
                        return Err(grant("pkce", "the code_verifier does not match").await);
                    }
                }
                (Some(_), None) => return Err(grant("pkce", "code_verifier is required").await),
                (None, _) => {}
            }
            (c.user_id, c.scope, c.nonce)
        }
        Some("refresh_token") => {
            let Some(presented) = form.refresh_token.as_deref() else {
                return Err(OAuthError::bad(
                    "invalid_request",
                    "refresh_token is required",
                ));
            };
            let mut tx = state
                .store
                .begin(dsg_store::write::Actor::system("oidc"))
                .await
                .map_err(unavailable)?;
            let taken = tx
                .take_oidc_refresh(&TokenHash::of(presented))
                .await
                .map_err(unavailable)?;
            match &taken {
                // Another client's token is left alone.
                Some(r) if r.client == client.id => {
                    tx.commit().await.map_err(unavailable)?;
                }
                _ => drop(tx),
            }
            let Some(r) = taken.filter(|r| r.client == client.id) else {
                return Err(grant(
                    "refresh_unknown",
                    "the refresh token is unknown or was used",
                )
                .await);
            };
            if r.expires_at <= now {
                return Err(grant("refresh_expired", "the refresh token has expired").await);
            }
            let scope = match form.scope.as_deref() {
                Some(narrower) => {
                    let old: Vec<&str> = r.scope.split(' ').collect();
                    let asked: Vec<&str> = narrower.split_whitespace().collect();
                    if asked.iter().any(|s| !old.contains(s)) {
                        return Err(OAuthError::bad(
                            "invalid_scope",
                            "a refresh cannot widen the scope",
                        ));
                    }
                    asked.join(" ")
                }
                None => r.scope.clone(),
            };
            (r.user_id, scope, None)
        }
        _ => {
            return Err(OAuthError::bad(
                "unsupported_grant_type",
                "use authorization_code or refresh_token",
            ));
        }
    };
    let scopes: Vec<String> = scope.split_whitespace().map(str::to_owned).collect();
    let Some(claims) = claims::of(state, user_id, client, &scopes)
        .await
        .map_err(|_| OAuthError::unavailable())?
    else {
        return Err(grant("user_disabled", "the account is disabled").await);
    };
    let signer = keys::signer(state)
        .await
        .map_err(|_| OAuthError::unavailable())?;
    let lifetime = state.config.oidc_provider.access_token_secs;
    let iat = now.as_secs();
    let exp = iat + lifetime;
    let mut access = claims.clone();
    for (k, v) in [
        ("iss", json!(issuer)),
        ("aud", json!(client.client_id)),
        ("client_id", json!(client.client_id)),
        ("scope", json!(scope)),
        ("iat", json!(iat)),
        ("exp", json!(exp)),
        (
            "jti",
            json!(
                ApiToken::generate()
                    .map(|t| t.expose()[..32].to_owned())
                    .unwrap_or_default()
            ),
        ),
    ] {
        access.insert(k.into(), v);
    }
    let mut id = claims;
    for (k, v) in [
        ("iss", json!(issuer)),
        ("aud", json!(client.client_id)),
        ("iat", json!(iat)),
        ("exp", json!(exp)),
    ] {
        id.insert(k.into(), v);
    }
    if let Some(n) = nonce {
        id.insert("nonce".into(), json!(n));
    }
    let sign = |claims: &Map<String, Value>, typ: &str| {
        signer
            .sign(claims, typ)
            .map_err(|_| OAuthError::unavailable())
    };
    let mut out = json!({
        "access_token": sign(&access, "at+jwt")?,
        "token_type": "Bearer",
        "expires_in": lifetime,
        "id_token": sign(&id, "JWT")?,
        "scope": scope,
    });
    if !client.public {
        let refresh = ApiToken::generate().map_err(|_| OAuthError::unavailable())?;
        let mut tx = state
            .store
            .begin(dsg_store::write::Actor::system("oidc"))
            .await
            .map_err(unavailable)?;
        tx.add_oidc_refresh(
            &refresh.hash(),
            client.id,
            user_id,
            &scope,
            now.plus_secs(state.config.oidc_provider.refresh_token_secs),
        )
        .await
        .map_err(unavailable)?;
        tx.record_oidc_event(
            "oidc_tokens_issued",
            Some(&client.client_id),
            json!({"user_id": user_id, "grant_type": form.grant_type, "scope": scope}),
        )
        .await
        .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        out["refresh_token"] = json!(refresh.expose());
    } else {
        audit(
            state,
            "oidc_tokens_issued",
            Some(&client.client_id),
            json!({"user_id": user_id, "grant_type": form.grant_type, "scope": scope}),
        )
        .await;
    }
    Ok(out)
}

/// The userinfo answer for an access token: fresh claims.
///
/// # Errors
/// 401 `invalid_token` for a token that is not ours, expired, or whose
/// person or client is gone or disabled.
pub async fn userinfo(state: &AppState, bearer: &str, issuer: &str) -> Result<Value, OAuthError> {
    let invalid = || OAuthError {
        status: 401,
        error: "invalid_token",
        description: "the access token is invalid or expired".into(),
    };
    let kid = crate::signing::kid_of(bearer).ok_or_else(invalid)?;
    let key = keys::by_kid(state, &kid)
        .await
        .map_err(|_| invalid())?
        .ok_or_else(invalid)?;
    let claims: Value = key.verify(bearer, issuer).map_err(|_| invalid())?;
    if claims["exp"]
        .as_i64()
        .is_none_or(|e| e <= state.clock.now().as_secs())
    {
        return Err(invalid());
    }
    let (Some(sub), Some(client_id), Some(scope)) = (
        claims["sub"].as_str().and_then(|s| s.parse::<i64>().ok()),
        claims["client_id"].as_str(),
        claims["scope"].as_str(),
    ) else {
        return Err(invalid());
    };
    let client = state
        .store
        .oidc_client(client_id)
        .await
        .map_err(|_| invalid())?
        .filter(|c| c.enabled)
        .ok_or_else(invalid)?;
    let scopes: Vec<String> = scope.split_whitespace().map(str::to_owned).collect();
    claims::of(state, sub, &client, &scopes)
        .await
        .map_err(|_| invalid())?
        .map(Value::Object)
        .ok_or_else(invalid)
}

/// Revokes a refresh token of `client` (RFC 7009: unknown tokens and access
/// tokens, which expire by themselves, are answered the same way).
///
/// # Errors
/// 503-free: only the store's failure, as `temporarily_unavailable`.
pub async fn revoke(state: &AppState, client: &OidcClient, token: &str) -> Result<(), OAuthError> {
    let unavailable = |_| OAuthError::unavailable();
    let mut tx = state
        .store
        .begin(dsg_store::write::Actor::system("oidc"))
        .await
        .map_err(unavailable)?;
    match tx
        .take_oidc_refresh(&TokenHash::of(token))
        .await
        .map_err(unavailable)?
    {
        Some(r) if r.client == client.id => {
            tx.record_oidc_event(
                "oidc_refresh_revoked",
                Some(&client.client_id),
                json!({"user_id": r.user_id}),
            )
            .await
            .map_err(unavailable)?;
            tx.commit().await.map_err(unavailable)?;
        }
        _ => drop(tx),
    }
    Ok(())
}

/// Where end-session may send the browser: `post_logout_redirect_uri` only
/// when it is registered for the client named by `client_id` or by the
/// `aud` of `id_token_hint` (verified against the published keys).
///
/// # Errors
/// The store's.
pub async fn logout_target(
    state: &AppState,
    client_id: Option<&str>,
    id_token_hint: Option<&str>,
    target: &str,
    issuer: &str,
) -> Result<Option<String>, ServiceError> {
    let mut named = client_id.map(str::to_owned);
    if named.is_none()
        && let Some(hint) = id_token_hint
        && let Some(kid) = crate::signing::kid_of(hint)
        && let Some(key) = keys::by_kid(state, &kid).await?
    {
        // An expired hint still names its client.
        if let Ok(claims) = key.verify_ignoring_expiry::<Value>(hint, issuer) {
            named = claims["aud"].as_str().map(str::to_owned);
        }
    }
    let Some(client_id) = named else {
        return Ok(None);
    };
    let client = state.store.oidc_client(&client_id).await?;
    Ok(client
        .filter(|c| c.post_logout_redirect_uris.iter().any(|u| u == target))
        .map(|_| target.to_owned()))
}
