//! Recognising a Cliniko key that another clinic already connected, without storing anything
//! that reveals the key.
//!
//! Each clinic's key is sealed with the clinic's own data key, so two clinics' ciphertexts of the
//! same key differ and cannot be compared. A fingerprint can: an HMAC-SHA256 of the key under a
//! key of the deployment (a service key sealed by the master key, like the client-secret hashing
//! key). A plain hash would not do: Cliniko keys are guessable enough in bulk, and a leaked
//! database with plain hashes would let anyone confirm a key they hold or crack. The database
//! holds the fingerprint under a unique index, which is what refuses a second clinic, even two
//! connecting at the same moment on different instances.

use std::fmt;

use hmac::{Hmac, KeyInit as _, Mac as _};
use secrecy::ExposeSecret as _;
use sha2::Sha256;

use crate::cliniko::ClinikoApiKey;
use crate::crypto::MasterKeyring;
use crate::secrets::{ServiceKeyPurpose, ServiceKeyRepository, load_hmac_key};
use crate::{Error, Result};

/// A Cliniko key's fingerprint: 64 lowercase hex characters of its HMAC.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct KeyFingerprint(String);

impl KeyFingerprint {
    /// A fingerprint as stored.
    pub fn from_stored(hex: String) -> Self {
        Self(hex)
    }

    /// The stored form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for KeyFingerprint {
    // Short enough to correlate log lines, too short to be worth anything else.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyFingerprint({}…)", &self.0[..self.0.len().min(8)])
    }
}

/// Computes fingerprints under the deployment's fingerprint key.
pub struct KeyFingerprinter {
    mac: Hmac<Sha256>,
}

impl KeyFingerprinter {
    /// A fingerprinter keyed with 32 bytes of deployment secret.
    pub fn new(key: &[u8; 32]) -> Result<Self> {
        let mac = Hmac::<Sha256>::new_from_slice(key).map_err(Error::internal)?;
        Ok(Self { mac })
    }

    /// The fingerprint of `key`. The key's body is what Cliniko authenticates (the suffix only
    /// routes it), so a key pasted without its shard suffix and the same key with `-au1` have
    /// one fingerprint.
    pub fn fingerprint(&self, key: &ClinikoApiKey) -> KeyFingerprint {
        let raw = key.expose();
        let body = raw.rsplit_once('-').map_or(raw, |(body, _)| body);
        let mut mac = self.mac.clone();
        mac.update(body.as_bytes());
        mac.update(b"\0");
        mac.update(key.shard().as_str().as_bytes());
        KeyFingerprint(crate::crypto::hex(&mac.finalize().into_bytes()))
    }
}

impl fmt::Debug for KeyFingerprinter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyFingerprinter([REDACTED])")
    }
}

/// The deployment's fingerprinter, keyed with its own service key (created on first start).
///
/// # Errors
/// Storage failures; a stored key no configured master key can open.
pub async fn load_key_fingerprinter(
    keyring: &MasterKeyring,
    repo: &dyn ServiceKeyRepository,
) -> Result<KeyFingerprinter> {
    let key = load_hmac_key(keyring, repo, ServiceKeyPurpose::ClinikoKeyFingerprint).await?;
    KeyFingerprinter::new(key.expose_secret())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(raw: &str) -> ClinikoApiKey {
        ClinikoApiKey::parse(raw).unwrap()
    }

    #[test]
    fn one_key_has_one_fingerprint_however_it_was_pasted() {
        let fingerprinter = KeyFingerprinter::new(&[7; 32]).unwrap();
        let a = fingerprinter.fingerprint(&key("MS0xMjM0NTY3ODkwYWJjZGVm-au2"));
        assert_eq!(
            a,
            fingerprinter.fingerprint(&key("  MS0xMjM0NTY3ODkwYWJjZGVm-au2\n"))
        );
        assert_eq!(
            fingerprinter.fingerprint(&key("MS0xMjM0NTY3ODkwYWJjZGVm")),
            fingerprinter.fingerprint(&key("MS0xMjM0NTY3ODkwYWJjZGVm-au1"))
        );
        assert_eq!(a.as_str().len(), 64);
        assert!(a.as_str().bytes().all(|b| b.is_ascii_hexdigit()));
    }

    #[test]
    fn fingerprints_depend_on_the_key_its_shard_and_the_deployment() {
        let fingerprinter = KeyFingerprinter::new(&[7; 32]).unwrap();
        let a = fingerprinter.fingerprint(&key("MS0xMjM0NTY3ODkwYWJjZGVm-au2"));
        assert_ne!(
            a,
            fingerprinter.fingerprint(&key("MS0xMjM0NTY3ODkwYWJjZGVn-au2"))
        );
        assert_ne!(
            a,
            fingerprinter.fingerprint(&key("MS0xMjM0NTY3ODkwYWJjZGVm-uk2"))
        );
        let elsewhere = KeyFingerprinter::new(&[8; 32]).unwrap();
        assert_ne!(
            a,
            elsewhere.fingerprint(&key("MS0xMjM0NTY3ODkwYWJjZGVm-au2"))
        );
        assert!(!a.as_str().contains("MS0x"));
        assert!(!format!("{a:?}").contains(a.as_str()));
        assert_eq!(format!("{fingerprinter:?}"), "KeyFingerprinter([REDACTED])");
    }
}
