//! Secrets of the deployment itself rather than of a clinic: the key that hashes API client
//! secrets, the key that fingerprints Cliniko keys, and the keys that sign access tokens.
//!
//! Each is sealed directly by the master key (AES-256-GCM, associated data binding it to its
//! purpose and id), exactly as a clinic's data key is: they are keys, so a data key in between
//! would add nothing. Only the master key can open them, and `clinicgate rotate-master-key`
//! re-wraps them with [`rotate_service_keys`], so they survive a master-key rotation unchanged
//! (every stored client-secret hash and every issued token stays valid).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rand::RngCore as _;
use secrecy::{ExposeSecret as _, SecretBox};

use super::envelope::{WrappedDataKey, open_with, seal_with};
use super::vault::{ROTATION_BATCH, RotationReport, rotation_readers};
use crate::crypto::{MasterKey, MasterKeyId, MasterKeyring};
use crate::{Error, Result};

/// What a service key is for; bound into its ciphertext.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServiceKeyPurpose {
    /// The HMAC key of API client secrets (one, generation 1).
    ClientSecretHashing,
    /// An Ed25519 key signing access tokens (one per generation; rotated).
    TokenSigning,
    /// The HMAC key of Cliniko key fingerprints (one, generation 1): a key of its own so that
    /// neither use can ever be turned into the other.
    ClinikoKeyFingerprint,
}

impl ServiceKeyPurpose {
    /// The value stored in the database and bound into the ciphertext.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretHashing => "client_secret_hashing",
            Self::TokenSigning => "token_signing",
            Self::ClinikoKeyFingerprint => "cliniko_key_fingerprint",
        }
    }

    /// Parses a stored value.
    pub fn parse(value: &str) -> Option<Self> {
        [
            Self::ClientSecretHashing,
            Self::TokenSigning,
            Self::ClinikoKeyFingerprint,
        ]
        .into_iter()
        .find(|p| p.as_str() == value)
    }
}

/// A service key as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredServiceKey {
    /// Its id (for signing keys, the `kid`).
    pub id: String,
    /// What it is for.
    pub purpose: ServiceKeyPurpose,
    /// 1, 2, 3… per purpose; `(purpose, generation)` is unique, which is what stops two
    /// instances from creating the same generation at once.
    pub generation: i64,
    /// The key material sealed by a master key.
    pub wrapped: WrappedDataKey,
    /// The public half, for signing keys (published without opening the private key).
    pub public_key: Option<Vec<u8>>,
    /// When it was created (UTC).
    pub created_at: DateTime<Utc>,
}

/// Storage of service keys.
#[async_trait]
pub trait ServiceKeyRepository: Send + Sync + std::fmt::Debug {
    /// Every key of `purpose`, oldest generation first.
    async fn list(&self, purpose: ServiceKeyPurpose) -> Result<Vec<StoredServiceKey>>;
    /// Stores `key`; `false` (nothing stored) when its `(purpose, generation)` already exists.
    async fn insert(&self, key: &StoredServiceKey) -> Result<bool>;
    /// Deletes the key `id` (absent is fine).
    async fn delete(&self, id: &str) -> Result<()>;
    /// Up to `limit` keys not wrapped by `master_key_id`, in id order, after `after`.
    async fn not_wrapped_by(
        &self,
        master_key_id: &MasterKeyId,
        after: Option<&str>,
        limit: u64,
    ) -> Result<Vec<StoredServiceKey>>;
    /// Replaces `current` by `replacement` if the row still holds `current`; false otherwise.
    async fn replace(
        &self,
        id: &str,
        current: &WrappedDataKey,
        replacement: &WrappedDataKey,
    ) -> Result<bool>;
}

/// Associated data of a service key: binds it to its purpose and id.
fn aad(purpose: ServiceKeyPurpose, id: &str) -> Vec<u8> {
    let mut aad = b"clinicgate/service-key/v1\0".to_vec();
    aad.extend_from_slice(purpose.as_str().as_bytes());
    aad.push(0);
    aad.extend_from_slice(id.as_bytes());
    aad
}

/// Seals key material under `master` for `purpose` and `id`.
pub fn seal_service_key(
    master: &MasterKey,
    purpose: ServiceKeyPurpose,
    id: &str,
    material: &[u8],
) -> Result<WrappedDataKey> {
    Ok(WrappedDataKey {
        master_key_id: master.id(),
        ciphertext: seal_with(master.expose_bytes(), &aad(purpose, id), material)?,
    })
}

/// Opens a stored service key with whichever configured master key sealed it.
///
/// # Errors
/// `Internal` when no configured master key has its id or the ciphertext does not authenticate.
pub fn open_service_key(
    keyring: &MasterKeyring,
    key: &StoredServiceKey,
) -> Result<SecretBox<Vec<u8>>> {
    let master = keyring.find(&key.wrapped.master_key_id).ok_or_else(|| {
        Error::internal(format!(
            "service key {} is wrapped by master key {}, which is not configured \
             (set CLINICGATE_MASTER_KEY or CLINICGATE_PREVIOUS_MASTER_KEY to it)",
            key.id, key.wrapped.master_key_id
        ))
    })?;
    open_with(
        master.expose_bytes(),
        &aad(key.purpose, &key.id),
        &key.wrapped.ciphertext,
    )
    .map(|plain| SecretBox::new(Box::new(plain)))
}

/// The deployment's 32-byte HMAC key for `purpose`: random, sealed by the master key in
/// `service_keys`, created on first start (concurrent first starts agree on one through the
/// unique generation). Random rather than derived from the master key, so rotating the master
/// key re-wraps it and every stored hash made with it stays valid.
///
/// # Errors
/// Storage failures; a stored key no configured master key can open.
pub async fn load_hmac_key(
    keyring: &MasterKeyring,
    repo: &dyn ServiceKeyRepository,
    purpose: ServiceKeyPurpose,
) -> Result<SecretBox<[u8; 32]>> {
    let stored = match repo.list(purpose).await?.pop() {
        Some(stored) => stored,
        None => {
            let mut key = [0u8; 32];
            rand::rng().fill_bytes(&mut key);
            let id = uuid::Uuid::now_v7().to_string();
            let fresh = StoredServiceKey {
                wrapped: seal_service_key(keyring.current(), purpose, &id, &key)?,
                id,
                purpose,
                generation: 1,
                public_key: None,
                created_at: Utc::now(),
            };
            // `false`: another instance stored generation 1 first; the list below finds it.
            repo.insert(&fresh).await?;
            repo.list(purpose).await?.pop().ok_or_else(|| {
                Error::internal(format!(
                    "the {} key vanished after being stored",
                    purpose.as_str()
                ))
            })?
        }
    };
    let material = open_service_key(keyring, &stored)?;
    let key: [u8; 32] = material
        .expose_secret()
        .as_slice()
        .try_into()
        .map_err(|_| {
            Error::internal(format!("the {} key has the wrong length", purpose.as_str()))
        })?;
    Ok(SecretBox::new(Box::new(key)))
}

/// Re-wraps every service key not yet wrapped by `new`, like
/// [`super::rotate_master_key`] does for clinics' data keys (same guarantees: safe while serving,
/// resumable, compare-and-set per row).
///
/// # Errors
/// Stops at the first key no configured key can open, or on a storage failure.
pub async fn rotate_service_keys(
    keyring: &MasterKeyring,
    new: &MasterKey,
    keys: &dyn ServiceKeyRepository,
) -> Result<RotationReport> {
    let new_id = new.id();
    let readers = rotation_readers(keyring, new);
    let mut report = RotationReport::default();
    let mut after: Option<String> = None;
    loop {
        let batch = keys
            .not_wrapped_by(&new_id, after.as_deref(), ROTATION_BATCH)
            .await?;
        let Some(last) = batch.last() else {
            return Ok(report);
        };
        after = Some(last.id.clone());
        for key in batch {
            let material = open_service_key(&readers, &key)?;
            let replacement = seal_service_key(
                new,
                key.purpose,
                &key.id,
                secrecy::ExposeSecret::expose_secret(&material),
            )?;
            if keys.replace(&key.id, &key.wrapped, &replacement).await? {
                report.rewrapped += 1;
            } else {
                report.skipped += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret as _;

    use super::*;

    fn stored(master: &MasterKey, purpose: ServiceKeyPurpose, id: &str) -> StoredServiceKey {
        StoredServiceKey {
            id: id.to_owned(),
            purpose,
            generation: 1,
            wrapped: seal_service_key(master, purpose, id, b"material").unwrap(),
            public_key: None,
            created_at: Utc::now(),
        }
    }

    #[test]
    fn a_service_key_opens_only_for_its_purpose_and_id_with_a_configured_master_key() {
        let master = MasterKey::generate();
        let id = master.id();
        let key = stored(&master, ServiceKeyPurpose::TokenSigning, "k1");
        assert_eq!(key.wrapped.master_key_id, id);
        let ring = MasterKeyring::new(master);
        assert_eq!(
            open_service_key(&ring, &key)
                .unwrap()
                .expose_secret()
                .as_slice(),
            b"material"
        );
        let moved = StoredServiceKey {
            id: "k2".to_owned(),
            ..key.clone()
        };
        assert!(open_service_key(&ring, &moved).is_err());
        let repurposed = StoredServiceKey {
            purpose: ServiceKeyPurpose::ClientSecretHashing,
            ..key.clone()
        };
        assert!(open_service_key(&ring, &repurposed).is_err());
        assert!(open_service_key(&MasterKeyring::new(MasterKey::generate()), &key).is_err());
    }

    #[test]
    fn purposes_round_trip_through_their_stored_form() {
        for purpose in [
            ServiceKeyPurpose::ClientSecretHashing,
            ServiceKeyPurpose::TokenSigning,
            ServiceKeyPurpose::ClinikoKeyFingerprint,
        ] {
            assert_eq!(ServiceKeyPurpose::parse(purpose.as_str()), Some(purpose));
        }
        assert_eq!(ServiceKeyPurpose::parse("other"), None);
    }
}
