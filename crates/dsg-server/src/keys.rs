//! Keys derived from `server.secret_key`, each with its own label so no two
//! purposes ever share a key: the HMAC key of the Neuroglancer user token,
//! and the [`DerivationKey`] of the tokens whose values are derived rather
//! than drawn (the stable long-lived token, delegated keys). `Debug` never
//! shows a key.

use std::path::Path;

use dsg_core::token::ApiToken;
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

/// The key stored tokens are derived from (dsg-native-v1 §8.1): HKDF-SHA-256
/// of `[auth] long_lived_token_key`, else of `server.secret_key`, else (local
/// mode without a secret) of a random key kept in `<data_dir>/secret.key`,
/// never in the database, so a copy of the database alone yields no token.
/// Changing it invalidates every long-lived token and delegated key.
#[derive(Clone)]
pub struct DerivationKey(HmacSha256);

impl std::fmt::Debug for DerivationKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DerivationKey(<redacted>)")
    }
}

/// Name of the local-mode key file under `database.data_dir`.
pub const LOCAL_KEY_FILE: &str = "secret.key";

impl DerivationKey {
    /// Derives the key from the first non-empty of `explicit` and `secret`,
    /// else reads (or creates) `<data_dir>/secret.key`.
    ///
    /// # Errors
    /// The key file cannot be read or written, or holds too little.
    pub fn load(explicit: &str, secret: &str, data_dir: &Path) -> Result<Self, String> {
        let material = if explicit.is_empty() {
            server_material(secret, data_dir)?
        } else {
            explicit.as_bytes().to_vec()
        };
        Ok(Self::from_material(&material))
    }

    fn from_material(material: &[u8]) -> Self {
        let mut okm = [0u8; 32];
        hkdf::Hkdf::<Sha256>::new(None, material)
            .expand(b"dsg long-lived token v1", &mut okm)
            .unwrap_or_else(|_| unreachable!("32 bytes is a valid HKDF-SHA-256 length"));
        match HmacSha256::new_from_slice(&okm) {
            Ok(mac) => Self(mac),
            Err(_) => unreachable!("HMAC takes keys of any length"),
        }
    }

    /// The long-lived token of `user_id` at `generation`:
    /// HMAC(K, "dsg-long-lived-token\0" ‖ user ‖ "\0" ‖ generation).
    pub fn long_lived(&self, user_id: i64, generation: i64) -> ApiToken {
        let mut mac = self.0.clone();
        mac.update(b"dsg-long-lived-token\0");
        mac.update(user_id.to_string().as_bytes());
        mac.update(b"\0");
        mac.update(generation.to_string().as_bytes());
        ApiToken::from_bytes(mac.finalize().into_bytes().into())
    }

    /// A delegated key's value from its stored salt.
    pub fn delegated(&self, salt: &[u8]) -> ApiToken {
        let mut mac = self.0.clone();
        mac.update(b"dsg-delegated-key\0");
        mac.update(salt);
        ApiToken::from_bytes(mac.finalize().into_bytes().into())
    }
}

impl dsg_store::long_lived::TokenDeriver for DerivationKey {
    fn long_lived(&self, user_id: i64, generation: i64) -> ApiToken {
        Self::long_lived(self, user_id, generation)
    }

    fn delegated(&self, salt: &[u8]) -> ApiToken {
        Self::delegated(self, salt)
    }
}

/// The server's key material: `server.secret_key`, else (local mode
/// without a secret) the random key kept in `<data_dir>/secret.key`.
///
/// # Errors
/// The key file cannot be read or written, or holds too little.
pub fn server_material(secret: &str, data_dir: &Path) -> Result<Vec<u8>, String> {
    if secret.is_empty() {
        local_key(&data_dir.join(LOCAL_KEY_FILE))
    } else {
        Ok(secret.as_bytes().to_vec())
    }
}

/// Reads the local key file, creating it (32 random bytes, hex, mode 0600)
/// when missing; a file another process created first is read.
fn local_key(path: &Path) -> Result<Vec<u8>, String> {
    use std::io::Write;
    let fail = |e: std::io::Error| format!("local token key {}: {e}", path.display());
    match std::fs::read_to_string(path) {
        Ok(text) => return checked_key(text.trim(), path),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(fail(e)),
        Err(_) => {}
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| format!("OS random source: {e}"))?;
    let text = hex::encode(bytes);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(mut f) => {
            f.write_all(text.as_bytes()).map_err(fail)?;
            f.sync_all().map_err(fail)?;
            Ok(text.into_bytes())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let text = std::fs::read_to_string(path).map_err(fail)?;
            checked_key(text.trim(), path)
        }
        Err(e) => Err(fail(e)),
    }
}

fn checked_key(text: &str, path: &Path) -> Result<Vec<u8>, String> {
    if text.len() < 32 {
        return Err(format!(
            "local token key {} holds fewer than 32 characters: delete it to make a new one \
             (every long-lived token then changes) or set server.secret_key",
            path.display()
        ));
    }
    Ok(text.as_bytes().to_vec())
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

    #[test]
    fn derivation_is_stable_per_key_and_separates_users_generations_and_kinds() {
        let dir = tempfile::tempdir().unwrap();
        let a = DerivationKey::load("", "secret-a-secret-a-secret-a-secret-a", dir.path()).unwrap();
        let again =
            DerivationKey::load("", "secret-a-secret-a-secret-a-secret-a", dir.path()).unwrap();
        let b = DerivationKey::load("", "secret-b-secret-b-secret-b-secret-b", dir.path()).unwrap();
        let t = a.long_lived(7, 0);
        assert_eq!(t.expose().len(), 64);
        assert_eq!(t, again.long_lived(7, 0));
        assert_ne!(t, b.long_lived(7, 0));
        assert_ne!(t, a.long_lived(7, 1));
        assert_ne!(t, a.long_lived(70, 0));
        // "1\0" ‖ "10" and "11\0" ‖ "0" must not collide.
        assert_ne!(a.long_lived(1, 10), a.long_lived(11, 0));
        assert_ne!(a.delegated(b"salt"), a.delegated(b"salu"));
        // An explicit key wins over the secret.
        let e = DerivationKey::load(
            "explicit-explicit-explicit-explicit",
            "secret-a-secret-a-secret-a-secret-a",
            dir.path(),
        )
        .unwrap();
        assert_ne!(e.long_lived(7, 0), t);
        assert!(!dir.path().join(LOCAL_KEY_FILE).exists());
    }

    #[test]
    fn local_mode_keeps_one_private_key_file() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let a = DerivationKey::load("", "", &data).unwrap();
        let b = DerivationKey::load("", "", &data).unwrap();
        assert_eq!(a.long_lived(1, 0), b.long_lived(1, 0));
        let file = data.join(LOCAL_KEY_FILE);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&file, "short").unwrap();
        let e = DerivationKey::load("", "", &data).unwrap_err();
        assert!(e.contains("fewer than 32"), "{e}");
    }
}
