//! Input values checked once, by the rules every use case shares: an expiry
//! lies in the future, a level is one of the four, an e-mail is an e-mail.

use dsg_core::{Level, Timestamp};

use super::Invalid;

/// An optional expiry that lies after the moment it was checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expiry(Option<Timestamp>);

impl Expiry {
    /// No expiry.
    pub const NEVER: Self = Self(None);

    /// Checks that `at`, when given, lies after `now`; `field` names it in
    /// the error.
    ///
    /// # Errors
    /// [`Invalid::NotInFuture`].
    pub fn future(
        at: Option<Timestamp>,
        now: Timestamp,
        field: &'static str,
    ) -> Result<Self, Invalid> {
        match at {
            Some(t) if t <= now => Err(Invalid::NotInFuture { field }),
            other => Ok(Self(other)),
        }
    }

    /// The instant, if any.
    pub fn at(self) -> Option<Timestamp> {
        self.0
    }
}

/// A permission level by name.
///
/// # Errors
/// An unknown name, naming `field`.
pub fn level(name: &str, field: &'static str) -> Result<Level, Invalid> {
    Level::parse(name).ok_or_else(|| Invalid::Rule {
        field: Some(field),
        message: format!("{field} must be one of view, edit, manage, admin"),
    })
}

/// A service's version evaluation mode (`linear` when not given).
///
/// # Errors
/// Anything but `linear` or `dag`, naming `field`.
pub fn eval_mode(
    name: Option<&str>,
    field: &'static str,
) -> Result<dsg_core::permissions::VersionEvalMode, Invalid> {
    match name {
        None => Ok(dsg_core::permissions::VersionEvalMode::default()),
        Some(n) => dsg_core::permissions::VersionEvalMode::parse(n).ok_or_else(|| Invalid::Rule {
            field: Some(field),
            message: format!("{field} must be \"linear\" or \"dag\""),
        }),
    }
}

/// An e-mail address as the store accepts it.
///
/// # Errors
/// The store's reason, naming `field`.
pub fn email(address: &str, field: &'static str) -> Result<(), Invalid> {
    dsg_store::users::validate_email(address).map_err(|e| Invalid::Rule {
        field: Some(field),
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_expiry_must_lie_after_now() {
        let now = Timestamp::from_secs(100);
        assert_eq!(Expiry::future(None, now, "x").map(Expiry::at), Ok(None));
        assert_eq!(
            Expiry::future(Some(Timestamp::from_secs(101)), now, "x").map(Expiry::at),
            Ok(Some(Timestamp::from_secs(101)))
        );
        for at in [100, 99] {
            assert_eq!(
                Expiry::future(Some(Timestamp::from_secs(at)), now, "expires_at"),
                Err(Invalid::NotInFuture {
                    field: "expires_at"
                })
            );
        }
        assert_eq!(
            Invalid::NotInFuture {
                field: "expires_at"
            }
            .to_string(),
            "expires_at must be in the future"
        );
    }
}
