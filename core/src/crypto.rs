//! Key material held by the service. The master key wraps every clinic's data key (envelope
//! encryption); it must never be printed, logged or serialised.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore as _;
use secrecy::{ExposeSecret, SecretBox, SecretString};

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
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey([REDACTED])")
    }
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
