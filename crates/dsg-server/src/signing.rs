//! The OpenID Connect provider's keys: RS256 signing keys (2048-bit RSA,
//! created here, their private halves sealed with ChaCha20-Poly1305 under a
//! key derived from the server secret before they reach the database, so
//! every replica signs with the same key and a database copy alone cannot),
//! JWT signing and verification, and the public JWK each key publishes.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey};
use rsa::traits::PublicKeyParts;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

/// Seals and opens the signing keys' private halves. `Debug` is redacted.
#[derive(Clone)]
pub struct SealingKey(ChaCha20Poly1305);

impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealingKey(<redacted>)")
    }
}

impl SealingKey {
    /// HKDF-SHA-256 of the server's key material, info `dsg oidc signing key v1`.
    pub fn derive(material: &[u8]) -> Self {
        let mut okm = [0u8; 32];
        hkdf::Hkdf::<Sha256>::new(None, material)
            .expand(b"dsg oidc signing key v1", &mut okm)
            .unwrap_or_else(|_| unreachable!("32 bytes is a valid HKDF-SHA-256 length"));
        Self(ChaCha20Poly1305::new(&okm.into()))
    }

    /// nonce ‖ ciphertext.
    fn seal(&self, plain: &[u8]) -> Result<Vec<u8>, String> {
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce).map_err(|e| format!("OS random source: {e}"))?;
        let sealed = self
            .0
            .encrypt(Nonce::from_slice(&nonce), plain)
            .map_err(|_| "sealing a signing key failed".to_owned())?;
        Ok([nonce.as_slice(), &sealed].concat())
    }

    fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, String> {
        if sealed.len() < 12 {
            return Err("a sealed signing key is too short".into());
        }
        let (nonce, body) = sealed.split_at(12);
        self.0.decrypt(Nonce::from_slice(nonce), body).map_err(|_| {
            "a signing key cannot be opened: server.secret_key changed since it was made \
             (run `dsg oidc-key rotate` to make a new one)"
                .to_owned()
        })
    }
}

/// A signing key ready to use: its id, its private half (PKCS#1 DER) and its JWK.
#[derive(Clone)]
pub struct SigningKey {
    /// `kid`: the RFC 7638 thumbprint of the public key.
    pub kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    /// The public JWK (`kty`, `use`, `alg`, `kid`, `n`, `e`).
    pub jwk: serde_json::Value,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({})", self.kid)
    }
}

/// A new key: the key and its sealed private half for the database.
pub struct NewKey {
    /// The key.
    pub key: SigningKey,
    /// nonce ‖ sealed PKCS#1 DER.
    pub sealed: Vec<u8>,
}

impl SigningKey {
    /// Makes a 2048-bit RSA key and seals it.
    ///
    /// # Errors
    /// The OS random source failed.
    pub fn generate(sealing: &SealingKey) -> Result<NewKey, String> {
        let private = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048)
            .map_err(|e| format!("making an RSA key: {e}"))?;
        let der = private
            .to_pkcs1_der()
            .map_err(|e| format!("encoding an RSA key: {e}"))?;
        let sealed = sealing.seal(der.as_bytes())?;
        Ok(NewKey {
            key: Self::from_private(&private, der.as_bytes())?,
            sealed,
        })
    }

    /// Opens a key stored sealed.
    ///
    /// # Errors
    /// The sealing key changed, or the stored bytes are not a key.
    pub fn open(sealing: &SealingKey, sealed: &[u8]) -> Result<Self, String> {
        let der = sealing.open(sealed)?;
        let private = rsa::RsaPrivateKey::from_pkcs1_der(&der)
            .map_err(|e| format!("a stored signing key is not an RSA key: {e}"))?;
        Self::from_private(&private, &der)
    }

    fn from_private(private: &rsa::RsaPrivateKey, der: &[u8]) -> Result<Self, String> {
        let n = URL_SAFE_NO_PAD.encode(private.n().to_bytes_be());
        let e = URL_SAFE_NO_PAD.encode(private.e().to_bytes_be());
        // RFC 7638: the thumbprint of the required members in lexical order.
        let canonical = format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#);
        let kid = URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()));
        let decoding = DecodingKey::from_rsa_components(&n, &e)
            .map_err(|err| format!("an RSA public key: {err}"))?;
        Ok(Self {
            jwk: serde_json::json!({"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid, "n": n, "e": e}),
            kid,
            encoding: EncodingKey::from_rsa_der(der),
            decoding,
        })
    }

    /// A JWT of `claims`, RS256, naming this key's `kid`.
    ///
    /// # Errors
    /// Signing failed (never for a well-formed key).
    pub fn sign<T: Serialize>(&self, claims: &T, typ: &str) -> Result<String, String> {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        header.typ = Some(typ.to_owned());
        jsonwebtoken::encode(&header, claims, &self.encoding).map_err(|e| format!("signing: {e}"))
    }

    /// The claims of a JWT this key signed, checked for `iss` and `exp`.
    ///
    /// # Errors
    /// A bad signature, another issuer, an expired token.
    pub fn verify<T: DeserializeOwned>(&self, token: &str, issuer: &str) -> Result<T, String> {
        self.check(token, issuer, true)
    }

    /// As [`SigningKey::verify`] but accepting an expired token (an
    /// end-session `id_token_hint` names its client even when old).
    ///
    /// # Errors
    /// A bad signature, another issuer.
    pub fn verify_ignoring_expiry<T: DeserializeOwned>(
        &self,
        token: &str,
        issuer: &str,
    ) -> Result<T, String> {
        self.check(token, issuer, false)
    }

    fn check<T: DeserializeOwned>(
        &self,
        token: &str,
        issuer: &str,
        expiry: bool,
    ) -> Result<T, String> {
        let mut v = Validation::new(Algorithm::RS256);
        v.set_issuer(&[issuer]);
        v.validate_aud = false;
        v.validate_exp = expiry;
        if !expiry {
            v.required_spec_claims.remove("exp");
        }
        v.leeway = 0;
        jsonwebtoken::decode::<T>(token, &self.decoding, &v)
            .map(|d| d.claims)
            .map_err(|e| e.to_string())
    }
}

/// The `kid` a JWT names in its header, if any.
pub fn kid_of(token: &str) -> Option<String> {
    jsonwebtoken::decode_header(token).ok()?.kid
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_seal_sign_and_verify_and_a_changed_secret_cannot_open_them() {
        let sealing = SealingKey::derive(b"secret-a-secret-a-secret-a-secret-a");
        let made = SigningKey::generate(&sealing).unwrap();
        let opened = SigningKey::open(&sealing, &made.sealed).unwrap();
        assert_eq!(opened.kid, made.key.kid);
        assert_eq!(made.key.jwk["kty"], "RSA");
        assert_eq!(made.key.jwk["use"], "sig");
        assert_eq!(made.key.jwk["alg"], "RS256");
        let exp = jsonwebtoken::get_current_timestamp() + 60;
        let jwt = made
            .key
            .sign(
                &serde_json::json!({"iss": "https://dsg", "sub": "1", "exp": exp}),
                "JWT",
            )
            .unwrap();
        assert_eq!(kid_of(&jwt).as_deref(), Some(made.key.kid.as_str()));
        let claims: serde_json::Value = opened.verify(&jwt, "https://dsg").unwrap();
        assert_eq!(claims["sub"], "1");
        assert!(
            opened
                .verify::<serde_json::Value>(&jwt, "https://other")
                .is_err()
        );
        let other = SealingKey::derive(b"secret-b-secret-b-secret-b-secret-b");
        assert!(
            SigningKey::open(&other, &made.sealed)
                .unwrap_err()
                .contains("secret_key changed")
        );
        assert!(!format!("{sealing:?}").contains("secret"));
    }
}

/// A key as the provider uses it: published from `signs_from` on (and
/// before it, during the overlap), signing while it is the newest key
/// whose `signs_from` has passed.
#[derive(Debug, Clone)]
pub struct PublishedKey {
    /// The key.
    pub key: SigningKey,
    /// When it starts signing.
    pub signs_from: dsg_core::Timestamp,
}

/// The published keys, cached per replica (reloaded from the database at
/// least every [`KeyRing::MAX_AGE`], and whenever a token names an unknown
/// `kid`).
#[derive(Debug, Default)]
pub struct KeyRing {
    cached: parking_lot::RwLock<Option<(std::time::Instant, std::sync::Arc<Vec<PublishedKey>>)>>,
}

impl KeyRing {
    /// Longest a replica serves its cached keys without reading the database.
    pub const MAX_AGE: std::time::Duration = std::time::Duration::from_secs(30);

    /// The cached keys, unless stale.
    pub fn fresh(&self) -> Option<std::sync::Arc<Vec<PublishedKey>>> {
        let guard = self.cached.read();
        let (at, keys) = guard.as_ref()?;
        (at.elapsed() < Self::MAX_AGE).then(|| keys.clone())
    }

    /// Replaces the cache.
    pub fn set(&self, keys: Vec<PublishedKey>) -> std::sync::Arc<Vec<PublishedKey>> {
        let keys = std::sync::Arc::new(keys);
        *self.cached.write() = Some((std::time::Instant::now(), keys.clone()));
        keys
    }

    /// Forgets the cache (a key was added).
    pub fn clear(&self) {
        *self.cached.write() = None;
    }
}
