//! Registered web clients (dsg-native-v1 §2.6, §9): web applications at an
//! exact origin that receive delegated keys through the sign-in popup, the
//! people's remembered consents, and the delegated keys themselves (at most
//! [`MAX_LIVE_KEYS`] live per person and client; their values are derived
//! from the server's key and a per-key salt, so a remembered site can be
//! handed its key again while only hashes are stored).

use dsg_core::token::{ApiToken, TokenHash};
use dsg_core::{DomainError, Timestamp};
use serde::Serialize;

use crate::tokens::NewToken;
use crate::{Result, Store, WriteTx, now_micros, on_db, on_tx};

/// Live delegated keys one person keeps per client; older ones are evicted.
pub const MAX_LIVE_KEYS: usize = 10;

/// Description of a delegated key.
pub const DELEGATED_DESCRIPTION: &str = "Browser sign-in key";

/// Why a delegated key was revoked when a newer one pushed it out.
const EVICTED: &str = "delegated_key_limit";

/// A registered web client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RegisteredClient {
    /// Row id.
    pub id: i64,
    /// Exact serialized origin, e.g. `https://coda.example.org`.
    pub origin: String,
    /// Shown on the consent page.
    pub name: String,
    /// Free-text contact.
    pub owner: String,
    /// Disabled clients get no keys (their live keys keep working).
    pub enabled: bool,
    /// Reserved: stored, not enforced.
    pub allowed_services: Vec<String>,
    /// Registration time.
    pub created: Timestamp,
}

/// A client to register.
#[derive(Debug, Clone, Default)]
pub struct NewClient {
    /// Exact origin (validated by the caller).
    pub origin: String,
    /// Display name.
    pub name: String,
    /// Contact.
    pub owner: String,
    /// Enabled at once.
    pub enabled: bool,
    /// Reserved list of services.
    pub allowed_services: Vec<String>,
}

/// A remembered "don't ask again for this site".
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Consent {
    /// The client.
    pub client: RegisteredClient,
    /// When the person ticked it.
    pub created: Timestamp,
}

/// A live delegated key that can be delivered again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKey {
    /// Row id.
    pub id: i64,
    /// The key's stored hash.
    pub hash: TokenHash,
    /// What its value is derived from.
    pub salt: Vec<u8>,
}

type ClientRow = (i64, String, String, String, bool, String, i64);

const CLIENT_COLUMNS: &str =
    "c.id, c.origin, c.name, c.owner, c.enabled, c.allowed_services, c.created";

fn client((id, origin, name, owner, enabled, services, created): ClientRow) -> RegisteredClient {
    RegisteredClient {
        id,
        origin,
        name,
        owner,
        enabled,
        allowed_services: serde_json::from_str(&services).unwrap_or_default(),
        created: Timestamp(created),
    }
}

impl Store {
    /// Every registered client, by origin.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn registered_clients(&self) -> Result<Vec<RegisteredClient>> {
        let sql = format!("SELECT {CLIENT_COLUMNS} FROM registered_client c ORDER BY c.origin");
        let rows: Vec<ClientRow> = on_db!(self.db(), pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(pool).await
        })?;
        Ok(rows.into_iter().map(client).collect())
    }

    /// The client registered at exactly this origin.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn registered_client(&self, origin: &str) -> Result<Option<RegisteredClient>> {
        let sql = format!("SELECT {CLIENT_COLUMNS} FROM registered_client c WHERE c.origin = $1");
        let row: Option<ClientRow> = on_db!(self.db(), pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(origin).fetch_optional(pool).await
        })?;
        Ok(row.map(client))
    }

    /// The person's remembered sites, by origin.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn consents(&self, user_id: i64) -> Result<Vec<Consent>> {
        let sql = format!(
            "SELECT {CLIENT_COLUMNS}, k.created FROM client_consent k \
             JOIN registered_client c ON c.id = k.client_id WHERE k.user_id = $1 ORDER BY c.origin"
        );
        type Row = (i64, String, String, String, bool, String, i64, i64);
        let rows: Vec<Row> = on_db!(self.db(), pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(user_id).fetch_all(pool).await
        })?;
        Ok(rows
            .into_iter()
            .map(|(id, o, n, ow, e, s, c, at)| Consent {
                client: client((id, o, n, ow, e, s, c)),
                created: Timestamp(at),
            })
            .collect())
    }

    /// The person's most recently created live delegated key for a client.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn newest_delegated_key(
        &self,
        user_id: i64,
        client_id: i64,
        now: Timestamp,
    ) -> Result<Option<StoredKey>> {
        const SQL: &str = "SELECT id, key_hash, derivation_salt FROM api_key \
             WHERE user_id = $1 AND delegated_client_id = $2 AND derivation_salt IS NOT NULL \
             AND (expires_at IS NULL OR expires_at > $3) ORDER BY created DESC, id DESC LIMIT 1";
        let row: Option<(i64, Vec<u8>, Vec<u8>)> = on_db!(self.db(), pool => {
            sqlx::query_as(SQL).bind(user_id).bind(client_id).bind(now.0).fetch_optional(pool).await
        })?;
        Ok(row.and_then(|(id, hash, salt)| {
            TokenHash::from_slice(&hash).map(|hash| StoredKey { id, hash, salt })
        }))
    }

    /// Marks a delegated key used now (delivered again by the popup).
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn touch_token(&self, token_id: i64, now: Timestamp) -> Result<()> {
        const SQL: &str = "UPDATE api_key SET last_used = $2 WHERE id = $1";
        on_db!(&self.write_db, pool => {
            sqlx::query(SQL).bind(token_id).bind(now.0).execute(pool).await.map(|r| r.rows_affected())
        })?;
        Ok(())
    }
}

impl WriteTx {
    /// Registers a client (audited `registered_client_created`).
    ///
    /// # Errors
    /// The origin is taken (conflict); the database is unreachable.
    pub async fn add_client(&mut self, new: &NewClient) -> Result<RegisteredClient> {
        const SQL: &str = "INSERT INTO registered_client (origin, name, owner, enabled, \
             allowed_services, created) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id";
        let services = serde_json::to_string(&new.allowed_services).unwrap_or_else(|_| "[]".into());
        let created = now_micros();
        let id: i64 = on_tx!(&mut self.tx, conn => {
            sqlx::query_scalar(SQL)
                .bind(&new.origin)
                .bind(&new.name)
                .bind(&new.owner)
                .bind(new.enabled)
                .bind(&services)
                .bind(created)
                .fetch_one(conn)
                .await
        })
        .map_err(|e| {
            let e = crate::StoreError::from(e);
            if e.is_unique_violation() {
                DomainError::Conflict(format!("a client is already registered at {}", new.origin))
                    .into()
            } else {
                e
            }
        })?;
        let c = RegisteredClient {
            id,
            origin: new.origin.clone(),
            name: new.name.clone(),
            owner: new.owner.clone(),
            enabled: new.enabled,
            allowed_services: new.allowed_services.clone(),
            created: Timestamp(created),
        };
        self.audit(
            "registered_client_created",
            "RegisteredClient",
            id,
            None,
            Some(serde_json::json!(c)),
        )
        .await?;
        Ok(c)
    }

    /// Enables or disables the client at `origin` (audited
    /// `registered_client_updated`); returns it, `None` if unknown.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn set_client_enabled(
        &mut self,
        origin: &str,
        enabled: bool,
    ) -> Result<Option<RegisteredClient>> {
        let sql = format!("SELECT {CLIENT_COLUMNS} FROM registered_client c WHERE c.origin = $1");
        let row: Option<ClientRow> = on_tx!(&mut self.tx, conn => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(origin).fetch_optional(conn).await
        })?;
        let Some(before) = row.map(client) else {
            return Ok(None);
        };
        if before.enabled == enabled {
            return Ok(Some(before));
        }
        const UPDATE: &str = "UPDATE registered_client SET enabled = $2 WHERE id = $1";
        on_tx!(&mut self.tx, conn => {
            sqlx::query(UPDATE).bind(before.id).bind(enabled).execute(conn).await.map(|r| r.rows_affected())
        })?;
        let after = RegisteredClient {
            enabled,
            ..before.clone()
        };
        self.audit(
            "registered_client_updated",
            "RegisteredClient",
            before.id,
            Some(serde_json::json!({"enabled": before.enabled})),
            Some(serde_json::json!({"enabled": enabled, "origin": origin})),
        )
        .await?;
        Ok(Some(after))
    }

    /// The id of the client registered at exactly `origin`.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn client_id_by_origin(&mut self, origin: &str) -> Result<Option<i64>> {
        const SQL: &str = "SELECT id FROM registered_client WHERE origin = $1";
        Ok(on_tx!(&mut self.tx, conn => {
            sqlx::query_scalar(SQL).bind(origin).fetch_optional(conn).await
        })?)
    }

    /// The origin of a client, for audit rows.
    pub(crate) async fn client_origin(&mut self, client_id: i64) -> Result<Option<String>> {
        const SQL: &str = "SELECT origin FROM registered_client WHERE id = $1";
        Ok(on_tx!(&mut self.tx, conn => {
            sqlx::query_scalar(SQL).bind(client_id).fetch_optional(conn).await
        })?)
    }

    /// Mints a delegated key for (person, client): deletes the person's
    /// expired keys for that client, writes the new one (audited
    /// `api_token_created` with the client's origin) and revokes the oldest
    /// live ones beyond [`MAX_LIVE_KEYS`].
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn mint_delegated_key(
        &mut self,
        user_id: i64,
        client_id: i64,
        expires_at: Timestamp,
        salt: Vec<u8>,
        derive: crate::long_lived::Derive<'_>,
    ) -> Result<(i64, ApiToken)> {
        const EXPIRED: &str = "SELECT id FROM api_key WHERE user_id = $1 \
             AND delegated_client_id = $2 AND expires_at IS NOT NULL AND expires_at <= $3";
        const LIVE: &str = "SELECT id FROM api_key WHERE user_id = $1 AND delegated_client_id = $2 \
             ORDER BY created DESC, id DESC";
        let now = now_micros();
        let expired: Vec<i64> = on_tx!(&mut self.tx, conn => {
            sqlx::query_scalar(EXPIRED).bind(user_id).bind(client_id).bind(now).fetch_all(conn).await
        })?;
        for id in expired {
            self.revoke_user_token_for(id, Some("expired")).await?;
        }
        let new = NewToken {
            description: DELEGATED_DESCRIPTION.into(),
            expires_at: Some(expires_at),
            literal: Some(derive.delegated(&salt)),
            delegated_client: Some(client_id),
            salt: Some(salt),
            scope: dsg_core::permissions::TokenScope {
                delegated: true,
                ..Default::default()
            },
            ..NewToken::default()
        };
        let (id, token) = self.create_user_token(user_id, new).await?;
        let live: Vec<i64> = on_tx!(&mut self.tx, conn => {
            sqlx::query_scalar(LIVE).bind(user_id).bind(client_id).fetch_all(conn).await
        })?;
        for old in live.iter().skip(MAX_LIVE_KEYS) {
            self.revoke_user_token_for(*old, Some(EVICTED)).await?;
        }
        Ok((id, token))
    }

    /// Remembers "don't ask again" for (person, client); audited
    /// `client_consent_created` when new. Returns whether it was new.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn remember_consent(&mut self, user_id: i64, client_id: i64) -> Result<bool> {
        const SQL: &str = "INSERT INTO client_consent (user_id, client_id, created) \
             VALUES ($1, $2, $3) ON CONFLICT (user_id, client_id) DO NOTHING RETURNING id";
        let id: Option<i64> = on_tx!(&mut self.tx, conn => {
            sqlx::query_scalar(SQL).bind(user_id).bind(client_id).bind(now_micros())
                .fetch_optional(conn).await
        })?;
        let Some(id) = id else {
            return Ok(false);
        };
        let origin = self.client_origin(client_id).await?;
        self.audit(
            "client_consent_created",
            "ClientConsent",
            id,
            None,
            Some(serde_json::json!({"user_id": user_id, "client_origin": origin})),
        )
        .await?;
        Ok(true)
    }

    /// Forgets the person's consent for a client (audited
    /// `client_consent_forgotten`); false when there was none.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn forget_consent(&mut self, user_id: i64, client_id: i64) -> Result<bool> {
        const SQL: &str =
            "DELETE FROM client_consent WHERE user_id = $1 AND client_id = $2 RETURNING id";
        let id: Option<i64> = on_tx!(&mut self.tx, conn => {
            sqlx::query_scalar(SQL).bind(user_id).bind(client_id).fetch_optional(conn).await
        })?;
        let Some(id) = id else {
            return Ok(false);
        };
        let origin = self.client_origin(client_id).await?;
        self.audit(
            "client_consent_forgotten",
            "ClientConsent",
            id,
            Some(serde_json::json!({"user_id": user_id, "client_origin": origin})),
            None,
        )
        .await?;
        Ok(true)
    }
}

/// `value` when it is an exact origin ([`dsg_core::origin::is_exact`]).
pub fn exact_origin(value: &str) -> Option<String> {
    dsg_core::origin::is_exact(value).then(|| value.to_owned())
}

/// Checks a fixture's or an operator's client before it is written.
///
/// # Errors
/// An empty name.
pub fn check_client(new: &NewClient) -> Result<(), DomainError> {
    if new.name.trim().is_empty() {
        return Err(DomainError::Invalid(
            "a registered client needs a name".into(),
        ));
    }
    Ok(())
}
