//! Keys derived from `server.secret_key`, each with its own label so no two
//! purposes ever share a key: the HMAC key of the Neuroglancer user token.
//! `Debug` never shows a key.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The HMAC key, kept as a keyed MAC state cloned per use. `Debug` is redacted.
#[derive(Clone)]
pub struct TokenKey(HmacSha256);

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKey(<redacted>)")
    }
}

impl TokenKey {
    /// Uses raw key bytes (the original used the first 32 bytes of its secret).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, String> {
        HmacSha256::new_from_slice(bytes)
            .map(Self)
            .map_err(|e| format!("ngauth key: {e}"))
    }

    /// Derives the ngauth key from the server secret; a random per-process key
    /// when the secret is empty (local mode: tokens then die with the process).
    ///
    /// # Errors
    /// The OS random source is unavailable.
    pub fn derive(secret: &str) -> Result<Self, String> {
        let mut out = [0u8; 32];
        if secret.is_empty() {
            getrandom::fill(&mut out).map_err(|e| format!("OS random source: {e}"))?;
            return Self::from_bytes(&out);
        }
        let mut mac = HmacSha256::new_from_slice(secret.as_bytes())
            .map_err(|e| format!("ngauth key: {e}"))?;
        mac.update(b"dsg ngauth user token v1");
        Self::from_bytes(&mac.finalize().into_bytes())
    }

    /// A fresh MAC state under this key.
    pub(crate) fn mac(&self) -> HmacSha256 {
        self.0.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(key: &TokenKey) -> Vec<u8> {
        let mut m = key.mac();
        m.update(b"payload");
        m.finalize().into_bytes().to_vec()
    }

    #[test]
    fn the_key_never_shows_in_debug_output() {
        let key = TokenKey::from_bytes(b"0123456789abcdef0123456789abcdef").unwrap();
        assert_eq!(format!("{key:?}"), "TokenKey(<redacted>)");
    }

    #[test]
    fn derived_keys_differ_by_secret_and_empty_secret_is_random() {
        let a = TokenKey::derive("secret-a-secret-a-secret-a-secret-a").unwrap();
        let b = TokenKey::derive("secret-b-secret-b-secret-b-secret-b").unwrap();
        assert_ne!(tag(&a), tag(&b));
        let r1 = TokenKey::derive("").unwrap();
        let r2 = TokenKey::derive("").unwrap();
        assert_ne!(tag(&r1), tag(&r2));
    }
}
