//! Login identities: a user is found by the pair (issuer, subject) of an
//! OpenID Connect login, linked by a *verified* e-mail to an existing user,
//! or created when the sign-up policy allows it.

use dsg_core::DomainError;
use serde_json::json;

use crate::events::CacheEvent;
use crate::users::NewUser;
use crate::{Result, Store, WriteTx, now_micros, on_db, on_tx};

/// What the identity provider asserted (after ID-token verification).
#[derive(Debug, Clone, Default)]
pub struct LoginIdentity {
    /// `iss`.
    pub issuer: String,
    /// `sub`.
    pub subject: String,
    /// `email`.
    pub email: String,
    /// `email_verified`.
    pub email_verified: bool,
    /// `name`.
    pub name: String,
    /// `picture`.
    pub picture: String,
}

/// Who may get an account at first login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignupPolicy {
    /// Anyone with a verified e-mail.
    Anyone,
    /// Verified e-mails of these domains (lower case).
    Domains(Vec<String>),
    /// Nobody: only existing users.
    Existing,
}

/// How a login resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginUser {
    /// Known identity.
    Known(i64),
    /// Existing user, identity linked now by verified e-mail.
    Linked(i64),
    /// New user created now.
    Created(i64),
}

impl LoginUser {
    /// The user id.
    pub fn id(self) -> i64 {
        match self {
            Self::Known(id) | Self::Linked(id) | Self::Created(id) => id,
        }
    }
}

impl SignupPolicy {
    fn allows(&self, email: &str) -> bool {
        match self {
            Self::Anyone => true,
            Self::Existing => false,
            Self::Domains(ds) => email.rsplit_once('@').is_some_and(|(_, d)| {
                let d = d.to_ascii_lowercase();
                ds.iter().any(|x| x.eq_ignore_ascii_case(&d))
            }),
        }
    }
}

impl Store {
    /// The user holding the identity (issuer, subject).
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn user_id_by_identity(&self, issuer: &str, subject: &str) -> Result<Option<i64>> {
        const SQL: &str = "SELECT user_id FROM user_identity WHERE issuer = $1 AND subject = $2";
        Ok(on_db!(self.db(), pool => {
            sqlx::query_scalar(SQL).bind(issuer).bind(subject).fetch_optional(pool).await
        })?)
    }

    /// Whether the user may authenticate (`None`: no such user).
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn user_is_active(&self, user_id: i64) -> Result<Option<bool>> {
        const SQL: &str = "SELECT is_active FROM dsg_user WHERE id = $1";
        Ok(on_db!(self.db(), pool => {
            sqlx::query_scalar(SQL).bind(user_id).fetch_optional(pool).await
        })?)
    }
}

impl WriteTx {
    /// Whether the user may authenticate, inside the transaction.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn user_is_active(&mut self, user_id: i64) -> Result<bool> {
        const SQL: &str = "SELECT is_active FROM dsg_user WHERE id = $1";
        let v: Option<bool> = on_tx!(&mut self.tx, conn => {
            sqlx::query_scalar(SQL).bind(user_id).fetch_optional(conn).await
        })?;
        Ok(v.unwrap_or(false))
    }

    /// Resolves a login to a user: known (issuer, subject) → that user;
    /// else a verified e-mail matching a user → link; else, if `policy`
    /// allows the verified e-mail, a new active user.
    ///
    /// # Errors
    /// [`DomainError::Forbidden`] when the e-mail is unverified or sign-up is
    /// not allowed; database failures.
    pub async fn login_user(
        &mut self,
        id: &LoginIdentity,
        policy: &SignupPolicy,
    ) -> Result<LoginUser> {
        const FIND: &str = "SELECT user_id FROM user_identity WHERE issuer = $1 AND subject = $2";
        const TOUCH: &str = "UPDATE user_identity SET last_login = $1, email = $2 \
             WHERE issuer = $3 AND subject = $4";
        let now = now_micros();
        let known: Option<i64> = on_tx!(&mut self.tx, conn => {
            sqlx::query_scalar(FIND).bind(&id.issuer).bind(&id.subject).fetch_optional(conn).await
        })?;
        if let Some(user_id) = known {
            on_tx!(&mut self.tx, conn => sqlx::query(TOUCH).bind(now).bind(&id.email)
                .bind(&id.issuer).bind(&id.subject).execute(conn).await.map(|r| r.rows_affected()))?;
            return Ok(LoginUser::Known(user_id));
        }
        if id.email.is_empty() {
            return Err(DomainError::Invalid("No email in token".into()).into());
        }
        if !id.email_verified {
            return Err(DomainError::Forbidden(
                "the identity provider has not verified this e-mail address".into(),
            )
            .into());
        }
        let outcome = match self.user_id_by_email(&id.email).await? {
            Some(user_id) => LoginUser::Linked(user_id),
            None => {
                if !policy.allows(&id.email) {
                    return Err(DomainError::Forbidden(
                        "sign-up is closed for this e-mail address; ask an administrator for access"
                            .into(),
                    )
                    .into());
                }
                let local = id.email.split('@').next().unwrap_or_default();
                let name = if id.name.is_empty() { local } else { &id.name };
                let user_id = self
                    .create_user(&NewUser {
                        email: id.email.clone(),
                        name: name.to_owned(),
                        display_name: name.to_owned(),
                        active: true,
                        picture_url: id.picture.clone(),
                        ..NewUser::default()
                    })
                    .await?;
                LoginUser::Created(user_id)
            }
        };
        self.link_identity(outcome.id(), id).await?;
        Ok(outcome)
    }

    /// Deletes the user's expired tokens with this description (old login
    /// keys), so logins do not pile up rows; returns how many went.
    ///
    /// # Errors
    /// The database is unreachable.
    pub async fn prune_expired_tokens(
        &mut self,
        user_id: i64,
        description: &str,
        now: dsg_core::Timestamp,
    ) -> Result<u64> {
        const SQL: &str = "DELETE FROM api_key WHERE user_id = $1 AND description = $2 \
             AND expires_at IS NOT NULL AND expires_at <= $3 RETURNING key_hash";
        let hashes: Vec<Vec<u8>> = on_tx!(&mut self.tx, conn => {
            sqlx::query_scalar(SQL).bind(user_id).bind(description).bind(now.0).fetch_all(conn).await
        })?;
        if hashes.is_empty() {
            return Ok(0);
        }
        for h in &hashes {
            if let Some(h) = dsg_core::token::TokenHash::from_slice(h) {
                self.invalidate(CacheEvent::Token(h));
            }
        }
        let n = hashes.len() as u64;
        self.audit(
            "api_tokens_pruned",
            "User",
            user_id,
            None,
            Some(json!({"description": description, "expired_tokens_deleted": n})),
        )
        .await?;
        Ok(n)
    }

    /// Records that (issuer, subject) belongs to `user_id`.
    ///
    /// # Errors
    /// The identity already belongs to someone; database failures.
    pub async fn link_identity(&mut self, user_id: i64, id: &LoginIdentity) -> Result<()> {
        const SQL: &str = "INSERT INTO user_identity (user_id, issuer, subject, email, created, last_login) \
             VALUES ($1, $2, $3, $4, $5, $5) RETURNING id";
        let row: i64 = on_tx!(&mut self.tx, conn => {
            sqlx::query_scalar(SQL).bind(user_id).bind(&id.issuer).bind(&id.subject)
                .bind(&id.email).bind(now_micros()).fetch_one(conn).await
        })?;
        self.invalidate(CacheEvent::User(user_id));
        self.audit(
            "identity_linked",
            "UserIdentity",
            row,
            None,
            Some(json!({"user_id": user_id, "issuer": id.issuer, "subject": id.subject, "email": id.email})),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signup_policies() {
        assert!(SignupPolicy::Anyone.allows("a@x.org"));
        assert!(!SignupPolicy::Existing.allows("a@x.org"));
        let d = SignupPolicy::Domains(vec!["x.org".into()]);
        assert!(d.allows("a@X.org") && !d.allows("a@y.org") && !d.allows("a@evil.x.org"));
    }
}
