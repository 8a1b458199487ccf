//! The OpenID Connect provider's records: registered clients (secrets only
//! as SHA-256), the RS256 signing keys (sealed by the server, which holds
//! the sealing key), single-use authorization codes and rotating refresh
//! tokens (only hashes stored). Every change is audited in its transaction.

use dsg_core::token::TokenHash;
use dsg_core::{DomainError, Timestamp};
use serde::Serialize;

use crate::{Result, Store, WriteTx, now_micros, on_db, on_tx};

/// A registered OpenID Connect client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OidcClient {
    /// Row id.
    pub id: i64,
    /// Public identifier (`client_id`).
    pub client_id: String,
    /// Display name.
    pub name: String,
    /// No secret; must use PKCE S256.
    pub public: bool,
    /// Exact redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Exact URIs `end_session` may send the browser back to.
    pub post_logout_redirect_uris: Vec<String>,
    /// Scopes it may be granted.
    pub scopes: Vec<String>,
    /// The datasets it serves (names).
    pub datasets: Vec<String>,
    /// Disabled clients are refused everywhere.
    pub enabled: bool,
    /// Registration time.
    pub created: Timestamp,
    /// SHA-256 of the secret (never shown).
    #[serde(skip)]
    pub secret_hash: Option<TokenHash>,
}

/// A client to register.
#[derive(Debug, Clone, Default)]
pub struct NewOidcClient {
    /// Public identifier.
    pub client_id: String,
    /// Display name.
    pub name: String,
    /// Hash of the secret; `None` for a public client.
    pub secret_hash: Option<TokenHash>,
    /// Exact redirect URIs (at least one).
    pub redirect_uris: Vec<String>,
    /// Exact post-logout URIs.
    pub post_logout_redirect_uris: Vec<String>,
    /// Allowed scopes.
    pub scopes: Vec<String>,
    /// Dataset names it serves.
    pub datasets: Vec<String>,
}

/// A signing key as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSigningKey {
    /// Key id (`kid`).
    pub kid: String,
    /// The sealed private key.
    pub sealed: Vec<u8>,
    /// The public JWK (JSON text).
    pub public_jwk: String,
    /// Signs from this instant.
    pub signs_from: Timestamp,
    /// Stopped signing at.
    pub retired_at: Option<Timestamp>,
    /// Leaves the JWKS at.
    pub unpublish_at: Option<Timestamp>,
}

/// An authorization code, as issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCode<'a> {
    /// Hash of the code.
    pub hash: TokenHash,
    /// Client row id.
    pub client: i64,
    /// The person.
    pub user_id: i64,
    /// The exact redirect URI of the request.
    pub redirect_uri: &'a str,
    /// Granted scopes, space-separated.
    pub scope: &'a str,
    /// `nonce` to echo in the id token.
    pub nonce: Option<&'a str>,
    /// PKCE S256 challenge.
    pub code_challenge: Option<&'a str>,
    /// Expiry.
    pub expires_at: Timestamp,
}

/// A code taken for exchange (it can never be taken again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TakenCode {
    /// Client row id.
    pub client: i64,
    /// The person.
    pub user_id: i64,
    /// Redirect URI it was issued for.
    pub redirect_uri: String,
    /// Granted scopes.
    pub scope: String,
    /// Nonce.
    pub nonce: Option<String>,
    /// PKCE challenge.
    pub code_challenge: Option<String>,
    /// Expiry.
    pub expires_at: Timestamp,
}

/// A refresh token taken for rotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TakenRefresh {
    /// Client row id.
    pub client: i64,
    /// The person.
    pub user_id: i64,
    /// Granted scopes.
    pub scope: String,
    /// Expiry.
    pub expires_at: Timestamp,
}

type ClientRow = (
    i64,
    String,
    String,
    Option<Vec<u8>>,
    bool,
    String,
    String,
    String,
    bool,
    i64,
);

const CLIENT_SQL: &str = "SELECT id, client_id, name, secret_hash, public, redirect_uris, \
     post_logout_redirect_uris, scopes, enabled, created FROM oidc_client";

/// A fresh `client_id`: 24 random hex characters.
///
/// # Errors
/// The OS random source failed.
pub fn new_client_id() -> Result<String> {
    Ok(dsg_core::token::ApiToken::generate()?.expose()[..24].to_owned())
}

/// A fresh client secret (256 random bits), shown once; store its hash.
///
/// # Errors
/// The OS random source failed.
pub fn new_secret() -> Result<dsg_core::token::ApiToken> {
    Ok(dsg_core::token::ApiToken::generate()?)
}

fn list(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_default()
}

fn json_list(items: &[String]) -> String {
    serde_json::to_string(items).unwrap_or_else(|_| "[]".into())
}

impl Store {
    async fn client_datasets(&self, id: i64) -> Result<Vec<String>> {
        const SQL: &str = "SELECT d.name FROM oidc_client_dataset c JOIN dataset d ON d.id = c.dataset_id \
             WHERE c.client_id = $1 ORDER BY d.name";
        Ok(on_db!(self.db(), pool => sqlx::query_scalar(SQL).bind(id).fetch_all(pool).await)?)
    }

    async fn client_of(&self, row: ClientRow) -> Result<OidcClient> {
        let (id, client_id, name, secret, public, uris, logout, scopes, enabled, created) = row;
        Ok(OidcClient {
            datasets: self.client_datasets(id).await?,
            id,
            client_id,
            name,
            secret_hash: secret.as_deref().and_then(TokenHash::from_slice),
            public,
            redirect_uris: list(&uris),
            post_logout_redirect_uris: list(&logout),
            scopes: list(&scopes),
            enabled,
            created: Timestamp(created),
        })
    }

    /// The client with this `client_id` (enabled or not).
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn oidc_client(&self, client_id: &str) -> Result<Option<OidcClient>> {
        let sql = format!("{CLIENT_SQL} WHERE client_id = $1");
        let row: Option<ClientRow> = on_db!(self.db(), pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(client_id).fetch_optional(pool).await
        })?;
        match row {
            Some(r) => self.client_of(r).await.map(Some),
            None => Ok(None),
        }
    }

    /// The client with this row id.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn oidc_client_by_id(&self, id: i64) -> Result<Option<OidcClient>> {
        let sql = format!("{CLIENT_SQL} WHERE id = $1");
        let row: Option<ClientRow> = on_db!(self.db(), pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(pool).await
        })?;
        match row {
            Some(r) => self.client_of(r).await.map(Some),
            None => Ok(None),
        }
    }

    /// Every client, by `client_id`.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn oidc_clients(&self) -> Result<Vec<OidcClient>> {
        let sql = format!("{CLIENT_SQL} ORDER BY client_id");
        let rows: Vec<ClientRow> = on_db!(self.db(), pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(pool).await
        })?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            out.push(self.client_of(r).await?);
        }
        Ok(out)
    }

    /// Every signing key still published, newest first.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn oidc_signing_keys(&self, now: Timestamp) -> Result<Vec<StoredSigningKey>> {
        const SQL: &str = "SELECT kid, sealed_key, public_jwk, signs_from, retired_at, unpublish_at \
             FROM oidc_signing_key WHERE unpublish_at IS NULL OR unpublish_at > $1 \
             ORDER BY signs_from DESC, id DESC";
        type Row = (String, Vec<u8>, String, i64, Option<i64>, Option<i64>);
        let rows: Vec<Row> =
            on_db!(self.db(), pool => sqlx::query_as(SQL).bind(now.0).fetch_all(pool).await)?;
        Ok(rows
            .into_iter()
            .map(
                |(kid, sealed, public_jwk, from, retired, unpublish)| StoredSigningKey {
                    kid,
                    sealed,
                    public_jwk,
                    signs_from: Timestamp(from),
                    retired_at: retired.map(Timestamp),
                    unpublish_at: unpublish.map(Timestamp),
                },
            )
            .collect())
    }
}

impl WriteTx {
    /// Registers a client (audited `oidc_client_created`, never the secret).
    ///
    /// # Errors
    /// A `client_id` in use (conflict); an unknown dataset.
    pub async fn add_oidc_client(&mut self, new: &NewOidcClient) -> Result<i64> {
        const SQL: &str = "INSERT INTO oidc_client (client_id, name, secret_hash, public, redirect_uris, \
             post_logout_redirect_uris, scopes, enabled, created) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, TRUE, $8) RETURNING id";
        let id: i64 = on_tx!(&mut self.tx, conn => {
            sqlx::query_scalar(SQL)
                .bind(&new.client_id)
                .bind(&new.name)
                .bind(new.secret_hash.map(|h| h.0.to_vec()))
                .bind(new.secret_hash.is_none())
                .bind(json_list(&new.redirect_uris))
                .bind(json_list(&new.post_logout_redirect_uris))
                .bind(json_list(&new.scopes))
                .bind(now_micros())
                .fetch_one(conn)
                .await
        })
        .map_err(|e| {
            let e = crate::StoreError::from(e);
            if e.is_unique_violation() {
                DomainError::Conflict(format!("client_id {:?} is taken", new.client_id)).into()
            } else {
                e
            }
        })?;
        self.set_oidc_client_datasets(id, &new.datasets).await?;
        self.audit(
            "oidc_client_created",
            "OidcClient",
            id,
            None,
            Some(serde_json::json!({
                "client_id": new.client_id, "name": new.name, "public": new.secret_hash.is_none(),
                "redirect_uris": new.redirect_uris, "scopes": new.scopes, "datasets": new.datasets,
                "post_logout_redirect_uris": new.post_logout_redirect_uris,
            })),
        )
        .await?;
        Ok(id)
    }

    async fn set_oidc_client_datasets(&mut self, id: i64, datasets: &[String]) -> Result<()> {
        const SQL: &str = "INSERT INTO oidc_client_dataset (client_id, dataset_id) \
             SELECT $1, id FROM dataset WHERE name = $2";
        for name in datasets {
            let n = on_tx!(&mut self.tx, conn => {
                sqlx::query(SQL).bind(id).bind(name).execute(conn).await.map(|r| r.rows_affected())
            })?;
            if n == 0 {
                return Err(
                    DomainError::not_found(dsg_core::error::EntityKind::Dataset, name).into(),
                );
            }
        }
        Ok(())
    }

    /// Replaces a confidential client's secret hash (audited
    /// `oidc_client_secret_rotated`); its refresh tokens are revoked.
    /// False when there is no such confidential client.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn rotate_oidc_secret(&mut self, client_id: &str, hash: &TokenHash) -> Result<bool> {
        const SQL: &str = "UPDATE oidc_client SET secret_hash = $2 WHERE client_id = $1 AND NOT public \
             RETURNING id";
        let id: Option<i64> = on_tx!(&mut self.tx, conn => {
            sqlx::query_scalar(SQL).bind(client_id).bind(&hash.0[..]).fetch_optional(conn).await
        })?;
        let Some(id) = id else { return Ok(false) };
        self.delete_refresh_where("client_id = $1", id).await?;
        self.audit(
            "oidc_client_secret_rotated",
            "OidcClient",
            id,
            None,
            Some(serde_json::json!({"client_id": client_id})),
        )
        .await?;
        Ok(true)
    }

    /// Enables or disables a client (audited `oidc_client_updated`);
    /// disabling revokes its refresh tokens. False when unknown.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn set_oidc_client_enabled(
        &mut self,
        client_id: &str,
        enabled: bool,
    ) -> Result<bool> {
        const SQL: &str = "UPDATE oidc_client SET enabled = $2 WHERE client_id = $1 RETURNING id";
        let id: Option<i64> = on_tx!(&mut self.tx, conn => {
            sqlx::query_scalar(SQL).bind(client_id).bind(enabled).fetch_optional(conn).await
        })?;
        let Some(id) = id else { return Ok(false) };
        if !enabled {
            self.delete_refresh_where("client_id = $1", id).await?;
        }
        self.audit(
            "oidc_client_updated",
            "OidcClient",
            id,
            None,
            Some(serde_json::json!({"client_id": client_id, "enabled": enabled})),
        )
        .await?;
        Ok(true)
    }

    /// Deletes a client with its codes and refresh tokens (audited
    /// `oidc_client_deleted`). False when unknown.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn delete_oidc_client(&mut self, client_id: &str) -> Result<bool> {
        const SQL: &str = "DELETE FROM oidc_client WHERE client_id = $1 RETURNING id";
        let id: Option<i64> = on_tx!(&mut self.tx, conn => {
            sqlx::query_scalar(SQL).bind(client_id).fetch_optional(conn).await
        })?;
        let Some(id) = id else { return Ok(false) };
        self.audit(
            "oidc_client_deleted",
            "OidcClient",
            id,
            Some(serde_json::json!({"client_id": client_id})),
            None,
        )
        .await?;
        Ok(true)
    }

    /// Stores a new signing key (audited `oidc_signing_key_created`); with
    /// `retire_others`, the keys signing now stop at `signs_from` and leave
    /// the JWKS `keep_published_secs` later.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn add_oidc_signing_key(
        &mut self,
        key: &StoredSigningKey,
        retire_others: bool,
        keep_published_secs: i64,
    ) -> Result<()> {
        const RETIRE: &str = "UPDATE oidc_signing_key SET retired_at = $1, unpublish_at = $2 \
             WHERE retired_at IS NULL";
        const SQL: &str = "INSERT INTO oidc_signing_key (kid, sealed_key, public_jwk, created, signs_from) \
             VALUES ($1, $2, $3, $4, $5)";
        if retire_others {
            let until = key.signs_from.plus_secs(keep_published_secs);
            on_tx!(&mut self.tx, conn => {
                sqlx::query(RETIRE).bind(key.signs_from.0).bind(until.0).execute(conn).await.map(|r| r.rows_affected())
            })?;
        }
        on_tx!(&mut self.tx, conn => {
            sqlx::query(SQL)
                .bind(&key.kid)
                .bind(&key.sealed)
                .bind(&key.public_jwk)
                .bind(now_micros())
                .bind(key.signs_from.0)
                .execute(conn)
                .await
                .map(|r| r.rows_affected())
        })?;
        self.audit(
            "oidc_signing_key_created",
            "OidcSigningKey",
            &key.kid,
            None,
            Some(serde_json::json!({"kid": key.kid, "signs_from": key.signs_from.to_rfc3339()})),
        )
        .await
    }

    /// Stores an authorization code (audited `oidc_code_issued`).
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn add_oidc_code(&mut self, code: &NewCode<'_>) -> Result<()> {
        const SQL: &str = "INSERT INTO oidc_code (code_hash, client_id, user_id, redirect_uri, scope, nonce, \
             code_challenge, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
        const PRUNE: &str = "DELETE FROM oidc_code WHERE expires_at < $1";
        on_tx!(&mut self.tx, conn => {
            sqlx::query(PRUNE).bind(now_micros() - 3_600_000_000).execute(conn).await.map(|r| r.rows_affected())
        })?;
        on_tx!(&mut self.tx, conn => {
            sqlx::query(SQL)
                .bind(&code.hash.0[..])
                .bind(code.client)
                .bind(code.user_id)
                .bind(code.redirect_uri)
                .bind(code.scope)
                .bind(code.nonce)
                .bind(code.code_challenge)
                .bind(code.expires_at.0)
                .execute(conn)
                .await
                .map(|r| r.rows_affected())
        })?;
        self.audit(
            "oidc_code_issued",
            "OidcClient",
            code.client,
            None,
            Some(serde_json::json!({"user_id": code.user_id, "scope": code.scope, "redirect_uri": code.redirect_uri})),
        )
        .await
    }

    /// Marks a code used and returns it; `None` when unknown or already
    /// used (a code is taken at most once, whatever happens next).
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn take_oidc_code(&mut self, hash: &TokenHash) -> Result<Option<TakenCode>> {
        const SQL: &str = "UPDATE oidc_code SET used = TRUE WHERE code_hash = $1 AND NOT used \
             RETURNING client_id, user_id, redirect_uri, scope, nonce, code_challenge, expires_at";
        type Row = (
            i64,
            i64,
            String,
            String,
            Option<String>,
            Option<String>,
            i64,
        );
        let row: Option<Row> = on_tx!(&mut self.tx, conn => {
            sqlx::query_as(SQL).bind(&hash.0[..]).fetch_optional(conn).await
        })?;
        Ok(row.map(
            |(client, user_id, redirect_uri, scope, nonce, code_challenge, exp)| TakenCode {
                client,
                user_id,
                redirect_uri,
                scope,
                nonce,
                code_challenge,
                expires_at: Timestamp(exp),
            },
        ))
    }

    /// Stores a refresh token (no audit row: the issuance that made it has one).
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn add_oidc_refresh(
        &mut self,
        hash: &TokenHash,
        client: i64,
        user_id: i64,
        scope: &str,
        expires_at: Timestamp,
    ) -> Result<()> {
        const SQL: &str = "INSERT INTO oidc_refresh_token (token_hash, client_id, user_id, scope, created, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)";
        on_tx!(&mut self.tx, conn => {
            sqlx::query(SQL).bind(&hash.0[..]).bind(client).bind(user_id).bind(scope)
                .bind(now_micros()).bind(expires_at.0).execute(conn).await.map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// Deletes a refresh token and returns it (rotation, revocation);
    /// `None` when unknown.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn take_oidc_refresh(&mut self, hash: &TokenHash) -> Result<Option<TakenRefresh>> {
        const SQL: &str = "DELETE FROM oidc_refresh_token WHERE token_hash = $1 \
             RETURNING client_id, user_id, scope, expires_at";
        let row: Option<(i64, i64, String, i64)> = on_tx!(&mut self.tx, conn => {
            sqlx::query_as(SQL).bind(&hash.0[..]).fetch_optional(conn).await
        })?;
        Ok(row.map(|(client, user_id, scope, exp)| TakenRefresh {
            client,
            user_id,
            scope,
            expires_at: Timestamp(exp),
        }))
    }

    /// Revokes every refresh token of a person (with their other tokens).
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn revoke_oidc_refresh_of_user(&mut self, user_id: i64) -> Result<u64> {
        self.delete_refresh_where("user_id = $1", user_id).await
    }

    async fn delete_refresh_where(&mut self, condition: &'static str, id: i64) -> Result<u64> {
        // Safe: `condition` is one of this module's constants; the value is bound.
        let sql = format!("DELETE FROM oidc_refresh_token WHERE {condition}");
        Ok(on_tx!(&mut self.tx, conn => {
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).execute(conn).await.map(|r| r.rows_affected())
        })?)
    }

    /// Audits a refusal or an issuance of the provider (`oidc_…`), which
    /// writes nothing else.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn record_oidc_event(
        &mut self,
        action: &str,
        client: Option<&str>,
        detail: serde_json::Value,
    ) -> Result<()> {
        let mut after = detail;
        if let Some(c) = client {
            after["client_id"] = c.into();
        }
        self.audit(
            action,
            "OidcClient",
            client.unwrap_or("-"),
            None,
            Some(after),
        )
        .await
    }
}
