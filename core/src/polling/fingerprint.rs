//! Fingerprints: keyed hashes (HMAC-SHA256 under a key derived from the clinic's data key) of what
//! a subscriber sees of a record, so the poller can tell "changed" from "unchanged" without
//! keeping patient data, and a fingerprint of a name and birth date cannot be confirmed by
//! guessing without the clinic's key.

use std::fmt;

use serde::Serialize;

use crate::secrets::MacKey;
use crate::{Error, Result};

/// A keyed hash of a record's visible fields.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// A stored fingerprint; `None` unless exactly 32 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    /// The bytes, for storage.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for Fingerprint {
    // A prefix is enough to tell two apart in a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({}…)", hex::encode(&self.0[..4]))
    }
}

/// Computes one clinic's fingerprints.
#[derive(Debug, Clone)]
pub struct Fingerprints {
    key: MacKey,
}

impl Fingerprints {
    /// Fingerprints under `key` (the clinic's key for `SecretPurpose::PollSnapshot`).
    pub fn new(key: MacKey) -> Self {
        Self { key }
    }

    /// The fingerprint of `value` as `kind` (kinds never collide: the kind is hashed first).
    ///
    /// # Errors
    /// `Internal` when `value` cannot be serialised.
    pub fn of(&self, kind: &str, value: &impl Serialize) -> Result<Fingerprint> {
        let bytes = serde_json::to_vec(value)
            .map_err(|err| Error::internal(format!("a {kind} cannot be fingerprinted: {err}")))?;
        Ok(Fingerprint(self.key.mac(&[kind.as_bytes(), b"\0", &bytes])))
    }
}

#[cfg(test)]
pub(crate) fn test_fingerprints() -> Fingerprints {
    Fingerprints::new(MacKey::from_bytes(&[7; 32]).unwrap())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_values_agree_and_kinds_or_keys_tell_them_apart() {
        let fingerprints = test_fingerprints();
        let a = fingerprints.of("patient", &("Jane", 1984)).unwrap();
        assert_eq!(a, fingerprints.of("patient", &("Jane", 1984)).unwrap());
        assert_ne!(a, fingerprints.of("patient", &("Jane", 1985)).unwrap());
        assert_ne!(a, fingerprints.of("queue", &("Jane", 1984)).unwrap());
        let other = Fingerprints::new(MacKey::from_bytes(&[8; 32]).unwrap());
        assert_ne!(a, other.of("patient", &("Jane", 1984)).unwrap());
        assert_eq!(Fingerprint::from_bytes(a.as_bytes()), Some(a));
        assert_eq!(Fingerprint::from_bytes(&[1, 2]), None);
        assert!(!format!("{a:?}").contains("Jane"));
    }
}
