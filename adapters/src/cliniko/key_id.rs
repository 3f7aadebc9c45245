//! A short, non-reversible name for a Cliniko API key, used wherever a key must be told apart
//! from another (budget and pause keys in the shared store) without ever writing the key down.

use std::fmt;

use clinicgate_core::cliniko::ClinikoApiKey;
use sha2::{Digest as _, Sha256};

/// The first 12 hex digits (48 bits) of the key's SHA-256: enough to keep keys apart, useless for
/// recovering one (keys carry far more entropy than that).
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct KeyId(String);

impl KeyId {
    /// The id of `key`.
    pub(crate) fn of(key: &ClinikoApiKey) -> Self {
        let digest = Sha256::digest(key.expose().as_bytes());
        Self(hex::encode(&digest[..6]))
    }

    /// The 12 hex digits.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_is_stable_short_and_does_not_contain_the_key() {
        let key = ClinikoApiKey::parse("MxJrZXkiOiI1Njd1amJmZTQ1NyJ9-au2").unwrap();
        let id = KeyId::of(&key);
        assert_eq!(id, KeyId::of(&key));
        assert_eq!(id.as_str().len(), 12);
        assert!(id.as_str().bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(!key.expose().contains(id.as_str()));
        let other = ClinikoApiKey::parse("MxJrZXkiOiI1Njd1amJmZTQ1NyJ8-au2").unwrap();
        assert_ne!(KeyId::of(&other), id);
    }
}
