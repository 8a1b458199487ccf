//! Bearer tokens: 256 random bits shown once, stored only as SHA-256.
//!
//! A token is 64 lower-case hex characters (the original's format, so clients
//! that validate its shape keep working). The server keeps only
//! [`TokenHash`]; looking a token up means hashing what was presented. Since
//! the hash is not attacker-steerable, lookups by hash need no constant-time
//! comparison.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::DomainError;

/// Longest credential accepted from a request (JWTs included); longer ones are
/// rejected before hashing.
pub const MAX_PRESENTED_LEN: usize = 8192;

/// A freshly generated plaintext token. Never logged: `Debug` is redacted and
/// there is no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiToken(String);

impl ApiToken {
    /// 32 bytes from the operating system's RNG, hex-encoded.
    ///
    /// # Errors
    /// Fails only if the OS random source is unavailable.
    pub fn generate() -> Result<Self, DomainError> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)
            .map_err(|e| DomainError::Internal(format!("OS random source: {e}").into()))?;
        Ok(Self(hex::encode(bytes)))
    }

    /// 32 random bytes from the operating system (e.g. a derivation salt).
    ///
    /// # Errors
    /// Fails only if the OS random source is unavailable.
    pub fn random_bytes() -> Result<[u8; 32], DomainError> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)
            .map_err(|e| DomainError::Internal(format!("OS random source: {e}").into()))?;
        Ok(bytes)
    }

    /// A token whose 32 bytes were derived rather than drawn (the stable
    /// long-lived token): the same format as [`ApiToken::generate`].
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(hex::encode(bytes))
    }

    /// Wraps an operator-supplied literal token (fixtures); must be a sane credential.
    ///
    /// # Errors
    /// [`DomainError::Invalid`] when the value is shorter than 32 characters,
    /// longer than [`MAX_PRESENTED_LEN`] or contains anything but visible ASCII.
    pub fn from_literal(value: &str) -> Result<Self, DomainError> {
        if value.len() < 32 || value.len() > MAX_PRESENTED_LEN {
            return Err(DomainError::Invalid(
                "a literal token must be 32 to 8192 characters".into(),
            ));
        }
        if !value.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(DomainError::Invalid(
                "a literal token may contain only visible ASCII characters".into(),
            ));
        }
        Ok(Self(value.to_owned()))
    }

    /// The plaintext, for showing once to its owner.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The value stored in the database.
    pub fn hash(&self) -> TokenHash {
        TokenHash::of(&self.0)
    }

    /// First characters, safe to show in listings to tell tokens apart.
    pub fn prefix(&self) -> String {
        self.0.chars().take(8).collect()
    }
}

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiToken(<redacted>)")
    }
}

/// SHA-256 of a token's text: what the database stores and caches key on.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TokenHash(pub [u8; 32]);

impl TokenHash {
    /// Hashes a presented credential.
    pub fn of(token: &str) -> Self {
        Self(Sha256::digest(token.as_bytes()).into())
    }

    /// Lower-case hex, as used in invalidation messages.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses the hex form.
    pub fn from_hex(s: &str) -> Option<Self> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).ok()?;
        Some(Self(out))
    }

    /// Builds from stored bytes; `None` unless exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        <[u8; 32]>::try_from(bytes).ok().map(Self)
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenHash({}…)", &self.to_hex()[..12])
    }
}

/// Checks the shape of a credential taken from a request before any lookup.
/// Returns `None` for values no token could have (empty, oversized, control
/// or non-ASCII characters), which callers answer with 401.
pub fn presented(value: &str) -> Option<&str> {
    if value.is_empty() || value.len() > MAX_PRESENTED_LEN {
        return None;
    }
    value.bytes().all(|b| b.is_ascii_graphic()).then_some(value)
}

/// Constant-time equality for secrets compared directly (not via a hash lookup).
pub fn secrets_equal(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_are_64_hex_chars_and_distinct() {
        let a = ApiToken::generate().unwrap();
        let b = ApiToken::generate().unwrap();
        assert_eq!(a.expose().len(), 64);
        assert!(
            a.expose()
                .bytes()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_ne!(a, b);
        assert_ne!(a.hash(), b.hash());
    }

    #[test]
    fn debug_output_never_contains_the_secret() {
        let t = ApiToken::generate().unwrap();
        assert!(!format!("{t:?}").contains(t.expose()));
    }

    #[test]
    fn hash_hex_round_trips() {
        let h = TokenHash::of("abc");
        assert_eq!(TokenHash::from_hex(&h.to_hex()), Some(h));
        assert_eq!(
            h.to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn presented_rejects_empty_oversized_and_control_characters() {
        assert!(presented("").is_none());
        assert!(presented("a b").is_none());
        assert!(presented("tok\u{e9}n").is_none());
        assert!(presented(&"a".repeat(MAX_PRESENTED_LEN + 1)).is_none());
        assert_eq!(presented("abc.def-ghi"), Some("abc.def-ghi"));
    }

    #[test]
    fn secrets_equal_needs_the_whole_value() {
        assert!(secrets_equal(b"abc", b"abc"));
        assert!(!secrets_equal(b"abc", b"abd"));
        assert!(!secrets_equal(b"abc", b"ab"));
        assert!(!secrets_equal(b"", b"a"));
    }

    #[test]
    fn literal_tokens_must_be_long_enough() {
        assert!(ApiToken::from_literal("short").is_err());
        assert!(ApiToken::from_literal(&"x".repeat(40)).is_ok());
    }
}
