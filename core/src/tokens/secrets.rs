use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit as _, Mac as _};
use rand::RngCore as _;
use secrecy::{ExposeSecret as _, SecretString};
use sha2::Sha256;

use crate::crypto::MasterKeyring;
use crate::secrets::{ServiceKeyPurpose, ServiceKeyRepository, load_hmac_key};

/// Prefix of every client secret, so leaked secrets are recognisable by secret scanners and people.
pub const CLIENT_SECRET_PREFIX: &str = "cgsk_";
/// Random bytes in a client secret (256 bits).
const SECRET_BYTES: usize = 32;

/// An API client's secret as shown once to the clinic and presented by the partner.
pub struct ClientSecret(SecretString);

impl ClientSecret {
    /// A fresh secret: the prefix and 256 random bits, base64url.
    pub fn generate() -> Self {
        let mut bytes = [0u8; SECRET_BYTES];
        rand::rng().fill_bytes(&mut bytes);
        Self(SecretString::from(format!(
            "{CLIENT_SECRET_PREFIX}{}",
            URL_SAFE_NO_PAD.encode(bytes)
        )))
    }

    /// Wraps a secret presented by a caller.
    pub fn from_presented(raw: &str) -> Self {
        Self(SecretString::from(raw.to_owned()))
    }

    /// The secret itself: only for the one response that shows it.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret([REDACTED])")
    }
}

/// Keyed hashing of client secrets (HMAC-SHA256). Only the hash is stored: checking is one HMAC
/// (fast, unlike a password hash, which is fine because the secret has 256 bits of entropy), and a
/// leaked database is useless without the server's key.
pub struct SecretHasher {
    mac: Hmac<Sha256>,
}

impl SecretHasher {
    /// A hasher keyed with 32 bytes of server secret.
    pub fn new(key: &[u8; 32]) -> crate::Result<Self> {
        let mac = Hmac::<Sha256>::new_from_slice(key).map_err(crate::Error::internal)?;
        Ok(Self { mac })
    }

    /// The stored form of `secret`: lowercase hex of its HMAC.
    pub fn hash(&self, secret: &ClientSecret) -> String {
        let mut mac = self.mac.clone();
        mac.update(secret.expose().as_bytes());
        crate::crypto::hex(&mac.finalize().into_bytes())
    }

    /// Whether `secret` matches `stored_hex`, compared in constant time.
    pub fn verify(&self, secret: &ClientSecret, stored_hex: &str) -> bool {
        let Some(stored) = hex::decode(stored_hex).ok() else {
            return false;
        };
        let mut mac = self.mac.clone();
        mac.update(secret.expose().as_bytes());
        mac.verify_slice(&stored).is_ok()
    }
}

impl fmt::Debug for SecretHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretHasher([REDACTED])")
    }
}

/// The deployment's client-secret hasher, keyed with its own service key (see
/// [`load_hmac_key`]).
///
/// # Errors
/// Storage failures; a stored key no configured master key can open.
pub async fn load_secret_hasher(
    keyring: &MasterKeyring,
    repo: &dyn ServiceKeyRepository,
) -> crate::Result<SecretHasher> {
    let key = load_hmac_key(keyring, repo, ServiceKeyPurpose::ClientSecretHashing).await?;
    SecretHasher::new(key.expose_secret())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_has_its_prefix_and_256_bits() {
        let secret = ClientSecret::generate();
        let body = secret.expose().strip_prefix(CLIENT_SECRET_PREFIX).unwrap();
        assert_eq!(URL_SAFE_NO_PAD.decode(body).unwrap().len(), 32);
        assert_ne!(secret.expose(), ClientSecret::generate().expose());
        assert_eq!(format!("{secret:?}"), "ClientSecret([REDACTED])");
    }

    #[test]
    fn only_the_right_secret_under_the_right_key_verifies() {
        let hasher = SecretHasher::new(&[7; 32]).unwrap();
        let secret = ClientSecret::generate();
        let stored = hasher.hash(&secret);
        assert_eq!(stored.len(), 64);
        assert!(!stored.contains(secret.expose()));
        assert!(hasher.verify(&ClientSecret::from_presented(secret.expose()), &stored));
        assert!(!hasher.verify(&ClientSecret::generate(), &stored));
        assert!(
            !SecretHasher::new(&[8; 32])
                .unwrap()
                .verify(&secret, &stored)
        );
        assert!(!hasher.verify(&secret, "not-hex"));
        assert!(!hasher.verify(&secret, &stored[..62]));
    }
}
