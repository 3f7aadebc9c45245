//! Key material held by the service. The master key wraps every clinic's data key (envelope
//! encryption); it must never be printed, logged or serialised.
//!
//! A [`MasterKeyring`] holds the current master key and, during a rotation, the previous one, so
//! data keys wrapped by either can be read while `clinicgate rotate-master-key` re-wraps them.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore as _;
use secrecy::{ExposeSecret, SecretBox, SecretString};
use sha2::{Digest as _, Sha256};
use tracing::Instrument as _;

use crate::Error;

/// Length of the master key in bytes (AES-256).
pub const MASTER_KEY_LEN: usize = 32;

/// The key-encryption key: 32 random bytes, configured as standard base64.
pub struct MasterKey(SecretBox<[u8; MASTER_KEY_LEN]>);

/// Why a configured master key was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum MasterKeyError {
    /// Not standard base64.
    #[error("it is not valid base64")]
    NotBase64,
    /// Decodes to the wrong number of bytes.
    #[error("it decodes to {0} bytes; exactly 32 are needed")]
    WrongLength(usize),
}

impl MasterKey {
    /// Generates a fresh random key (`rand`'s thread RNG is a CSPRNG seeded from the OS).
    pub fn generate() -> Self {
        let mut bytes = [0u8; MASTER_KEY_LEN];
        rand::rng().fill_bytes(&mut bytes);
        Self(SecretBox::new(Box::new(bytes)))
    }

    /// Wraps raw key bytes (a copy of a key this process already holds).
    pub(crate) fn from_bytes(bytes: [u8; MASTER_KEY_LEN]) -> Self {
        Self(SecretBox::new(Box::new(bytes)))
    }

    /// Parses the base64 form (surrounding whitespace, such as a file's newline, is ignored).
    pub fn from_base64(encoded: &SecretString) -> Result<Self, MasterKeyError> {
        let decoded = STANDARD
            .decode(encoded.expose_secret().trim())
            .map_err(|_| MasterKeyError::NotBase64)?;
        let bytes: [u8; MASTER_KEY_LEN] = decoded
            .as_slice()
            .try_into()
            .map_err(|_| MasterKeyError::WrongLength(decoded.len()))?;
        Ok(Self(SecretBox::new(Box::new(bytes))))
    }

    /// The base64 form, for writing a generated key to its file.
    pub fn to_base64(&self) -> SecretString {
        SecretString::from(STANDARD.encode(self.0.expose_secret()))
    }

    /// The raw key bytes, for the envelope-encryption code only.
    pub fn expose_bytes(&self) -> &[u8; MASTER_KEY_LEN] {
        self.0.expose_secret()
    }

    /// The key's public identifier, stored beside every data key it wraps so the right key is
    /// picked when several are configured. A domain-separated SHA-256 of a 256-bit random key
    /// reveals nothing usable about the key.
    pub fn id(&self) -> MasterKeyId {
        let digest = Sha256::new()
            .chain_update(b"clinicgate/master-key-id/v1\0")
            .chain_update(self.expose_bytes())
            .finalize();
        MasterKeyId(hex(&digest[..8]))
    }
}

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

/// Identifies a master key without revealing it: 16 lowercase hex characters.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct MasterKeyId(String);

impl MasterKeyId {
    /// Wraps an id read back from storage.
    pub fn from_stored(id: String) -> Self {
        Self(id)
    }

    /// The id as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MasterKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The master keys this process may use: new data keys are wrapped by `current`; data keys
/// wrapped by `previous` can still be unwrapped, which keeps every secret readable while a
/// rotation re-wraps them (see `clinicgate rotate-master-key`).
#[derive(Debug)]
pub struct MasterKeyring {
    current: MasterKey,
    previous: Option<MasterKey>,
}

impl MasterKeyring {
    /// A keyring with only `current`.
    pub fn new(current: MasterKey) -> Self {
        Self {
            current,
            previous: None,
        }
    }

    /// Adds the key being rotated away from; ignored when it is the current key itself.
    #[must_use]
    pub fn with_previous(mut self, previous: MasterKey) -> Self {
        if previous.id() != self.current.id() {
            self.previous = Some(previous);
        }
        self
    }

    /// The key that wraps new data keys.
    pub fn current(&self) -> &MasterKey {
        &self.current
    }

    /// The previous key, during a rotation.
    pub fn previous(&self) -> Option<&MasterKey> {
        self.previous.as_ref()
    }

    /// The configured key with this id, if any.
    pub fn find(&self, id: &MasterKeyId) -> Option<&MasterKey> {
        std::iter::once(&self.current)
            .chain(self.previous.as_ref())
            .find(|key| &key.id() == id)
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey([REDACTED])")
    }
}

/// Runs `work` (CPU-heavy: password hashing, key generation) on the blocking pool inside the
/// caller's span, so it never stalls the async workers.
///
/// # Errors
/// `Internal` when the blocking task panicked or was cancelled.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> crate::Result<T> {
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || span.in_scope(work))
        .instrument(tracing::Span::current())
        .await
        .map_err(Error::internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_round_trips_through_base64() {
        let key = MasterKey::generate();
        let again = MasterKey::from_base64(&key.to_base64()).unwrap();
        assert_eq!(key.expose_bytes(), again.expose_bytes());
    }

    #[test]
    fn debug_output_never_contains_the_key() {
        let key = MasterKey::generate();
        let encoded = key.to_base64();
        let printed = format!("{key:?}");
        assert!(!printed.contains(encoded.expose_secret()));
        assert_eq!(printed, "MasterKey([REDACTED])");
    }

    #[test]
    fn a_key_id_is_stable_and_differs_between_keys() {
        let key = MasterKey::generate();
        let again = MasterKey::from_base64(&key.to_base64()).unwrap();
        assert_eq!(key.id(), again.id());
        assert_eq!(key.id().as_str().len(), 16);
        assert_ne!(key.id(), MasterKey::generate().id());
    }

    #[test]
    fn a_keyring_finds_its_current_and_previous_keys_only() {
        let (current, previous, stranger) = (
            MasterKey::generate(),
            MasterKey::generate(),
            MasterKey::generate(),
        );
        let (current_id, previous_id) = (current.id(), previous.id());
        let ring = MasterKeyring::new(current).with_previous(previous);
        assert!(ring.find(&current_id).is_some());
        assert!(ring.find(&previous_id).is_some());
        assert!(ring.find(&stranger.id()).is_none());
        assert!(!format!("{ring:?}").contains(ring.current().to_base64().expose_secret()));
    }

    #[test]
    fn keys_of_the_wrong_size_or_encoding_are_refused() {
        let short = SecretString::from(STANDARD.encode([0u8; 16]));
        assert_eq!(
            MasterKey::from_base64(&short).unwrap_err(),
            MasterKeyError::WrongLength(16)
        );
        let garbage = SecretString::from("not base64!".to_owned());
        assert_eq!(
            MasterKey::from_base64(&garbage).unwrap_err(),
            MasterKeyError::NotBase64
        );
    }
}
