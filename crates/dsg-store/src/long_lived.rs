//! The person's stable long-lived token (dsg-native-v1 §8.1–8.2). Tokens are
//! stored only as hashes, so the value cannot be read back: it is derived
//! from a server key, the user id and a generation (the derivation is the
//! server's, passed in as a [`TokenDeriver`]), and one row per person keeps its hash
//! and generation. A per-person counter hands out generations, so a revoked
//! or rotated value never comes back; taking a generation locks the
//! person's counter row, so concurrent first calls end with one token.

use dsg_core::token::{ApiToken, TokenHash};

use crate::events::CacheEvent;
use crate::tokens::NewToken;
use crate::{Result, Store, WriteTx, on_db, on_tx};

/// Description of a person's long-lived token (the original's words).
pub const LONG_LIVED_DESCRIPTION: &str = "Default long-lived API token";

/// How the server derives the tokens it can show again from its key: the
/// long-lived token of (user id, generation), and a delegated key from its
/// salt. The key lives with the server, never in the database.
pub trait TokenDeriver: Send + Sync {
    /// The long-lived token of `user_id` at `generation`.
    fn long_lived(&self, user_id: i64, generation: i64) -> ApiToken;
    /// A delegated key's value from its salt.
    fn delegated(&self, salt: &[u8]) -> ApiToken;
}

/// The deriver as the writers take it.
pub type Derive<'a> = &'a dyn TokenDeriver;

/// What [`WriteTx::issue_long_lived`] found.
#[derive(Debug)]
pub enum Issue {
    /// The live token matches the key: nothing was written (roll back).
    Current(ApiToken),
    /// A new generation was written (the first one, or one replacing a
    /// token derived under another key).
    Issued(ApiToken),
}

/// What [`WriteTx::rotate_long_lived`] did.
#[derive(Debug)]
pub enum Rotation {
    /// The old token(s) are gone and this is the new one.
    Rotated {
        /// Row id of the new token.
        id: i64,
        /// Its value.
        token: ApiToken,
    },
    /// The presented token is no longer a long-lived token of this person
    /// (another rotation got there first).
    Stale,
    /// The presented token is an older long-lived token while a derived one
    /// is current.
    NotCurrent,
}

/// A long-lived row: id, stored hash, generation (none before derivation).
type Row = (i64, Vec<u8>, Option<i64>);

const ROWS: &str = "SELECT id, key_hash, generation FROM api_key \
     WHERE user_id = $1 AND long_lived ORDER BY created, id";

impl Store {
    /// The person's derived long-lived token as stored: (generation, hash).
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn long_lived_token(&self, user_id: i64) -> Result<Option<(i64, TokenHash)>> {
        const SQL: &str = "SELECT generation, key_hash FROM api_key WHERE user_id = $1 AND generation IS NOT NULL";
        let row: Option<(i64, Vec<u8>)> = on_db!(self.db(), pool => {
            sqlx::query_as(SQL).bind(user_id).fetch_optional(pool).await
        })?;
        Ok(row.and_then(|(g, h)| TokenHash::from_slice(&h).map(|h| (g, h))))
    }
}

impl WriteTx {
    /// Returns the person's long-lived token, writing generation 0 on the
    /// first call, or the next generation when the stored one was derived
    /// under another key (audited `api_token_rotated`, reason `key_changed`).
    ///
    /// # Errors
    /// The database is unreachable; the user does not exist.
    pub async fn issue_long_lived(&mut self, user_id: i64, derive: Derive<'_>) -> Result<Issue> {
        let next = self.take_generation(user_id).await?;
        let rows = self.long_lived_rows(user_id).await?;
        let derived = rows
            .iter()
            .find_map(|(id, hash, g)| g.map(|g| (*id, hash, g)));
        match derived {
            Some((_, hash, g)) if derive.long_lived(user_id, g).hash().0[..] == hash[..] => {
                Ok(Issue::Current(derive.long_lived(user_id, g)))
            }
            Some((id, _, g)) => {
                self.delete_long_lived(&[id]).await?;
                let g = self.settle_generation(user_id, next, Some(g)).await?;
                let (new_id, token) = self.insert_long_lived(user_id, derive, g).await?;
                self.audit_rotation(user_id, new_id, g, &[id], Some("key_changed"))
                    .await?;
                Ok(Issue::Issued(token))
            }
            None => {
                let new = long_lived_token(user_id, derive, next);
                let (_, token) = self.create_user_token(user_id, new).await?;
                Ok(Issue::Issued(token))
            }
        }
    }

    /// Replaces the person's long-lived token(s) by the next generation,
    /// provided `presented` is the current one (`None`: the owner asked from
    /// the account page, whatever the current one is); audited
    /// `api_token_rotated` with the revoked ids (never a value).
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn rotate_long_lived(
        &mut self,
        user_id: i64,
        presented: Option<&TokenHash>,
        derive: Derive<'_>,
    ) -> Result<Rotation> {
        let next = self.take_generation(user_id).await?;
        let rows = self.long_lived_rows(user_id).await?;
        let derived = rows.iter().find_map(|(_, _, g)| *g);
        if let Some(presented) = presented {
            let Some((_, _, presented_generation)) =
                rows.iter().find(|(_, hash, _)| hash[..] == presented.0[..])
            else {
                return Ok(Rotation::Stale);
            };
            if derived.is_some() && presented_generation.is_none() {
                return Ok(Rotation::NotCurrent);
            }
        }
        let ids: Vec<i64> = rows.iter().map(|(id, _, _)| *id).collect();
        self.delete_long_lived(&ids).await?;
        let g = self.settle_generation(user_id, next, derived).await?;
        let (id, token) = self.insert_long_lived(user_id, derive, g).await?;
        self.audit_rotation(user_id, id, g, &ids, None).await?;
        Ok(Rotation::Rotated { id, token })
    }

    /// Takes the person's next generation, locking their counter row until
    /// the transaction ends.
    async fn take_generation(&mut self, user_id: i64) -> Result<i64> {
        const SQL: &str = "INSERT INTO long_lived_generation (user_id, next) VALUES ($1, 1) \
             ON CONFLICT (user_id) DO UPDATE SET next = long_lived_generation.next + 1 \
             RETURNING next - 1";
        Ok(on_tx!(&mut self.tx, conn => {
            sqlx::query_scalar(SQL).bind(user_id).fetch_one(conn).await
        })?)
    }

    /// The generation to write: `next`, or past `replaced` when a row
    /// outlived the counter (rows written before it existed); the counter
    /// moves past whatever is chosen.
    async fn settle_generation(
        &mut self,
        user_id: i64,
        next: i64,
        replaced: Option<i64>,
    ) -> Result<i64> {
        const SQL: &str = "UPDATE long_lived_generation SET next = $2 WHERE user_id = $1";
        let g = replaced.map_or(next, |r| next.max(r + 1));
        if g != next {
            on_tx!(&mut self.tx, conn => {
                sqlx::query(SQL).bind(user_id).bind(g + 1).execute(conn).await.map(|r| r.rows_affected())
            })?;
        }
        Ok(g)
    }

    async fn long_lived_rows(&mut self, user_id: i64) -> Result<Vec<Row>> {
        Ok(on_tx!(&mut self.tx, conn => {
            sqlx::query_as(ROWS).bind(user_id).fetch_all(conn).await
        })?)
    }

    /// Deletes long-lived rows (no audit row: the rotation's names them).
    async fn delete_long_lived(&mut self, ids: &[i64]) -> Result<()> {
        const SQL: &str = "DELETE FROM api_key WHERE id = $1 RETURNING key_hash";
        for id in ids {
            let hash: Option<Vec<u8>> = on_tx!(&mut self.tx, conn => {
                sqlx::query_scalar(SQL).bind(*id).fetch_optional(conn).await
            })?;
            if let Some(h) = hash.as_deref().and_then(TokenHash::from_slice) {
                self.invalidate(CacheEvent::Token(h));
            }
        }
        Ok(())
    }

    async fn insert_long_lived(
        &mut self,
        user_id: i64,
        derive: Derive<'_>,
        generation: i64,
    ) -> Result<(i64, ApiToken)> {
        let new = long_lived_token(user_id, derive, generation);
        self.insert_user_token(user_id, &new).await
    }

    async fn audit_rotation(
        &mut self,
        user_id: i64,
        new_id: i64,
        generation: i64,
        revoked: &[i64],
        reason: Option<&str>,
    ) -> Result<()> {
        let mut before = serde_json::json!({"revoked_token_ids": revoked});
        if let Some(r) = reason {
            before["reason"] = r.into();
        }
        let after = serde_json::json!({
            "user_id": user_id,
            "description": LONG_LIVED_DESCRIPTION,
            "generation": generation,
        });
        self.audit(
            "api_token_rotated",
            "APIKey",
            new_id,
            Some(before),
            Some(after),
        )
        .await
    }
}

/// The row of generation `g`'s token.
fn long_lived_token(user_id: i64, derive: Derive<'_>, generation: i64) -> NewToken {
    NewToken {
        description: LONG_LIVED_DESCRIPTION.into(),
        literal: Some(derive.long_lived(user_id, generation)),
        long_lived: true,
        generation: Some(generation),
        ..NewToken::default()
    }
}
