//! The vault: seals and opens clinics' secrets with their data keys, creating a clinic's data key
//! on first use, and re-wraps every data key when the master key is rotated.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use moka::future::Cache;
use secrecy::{ExposeSecret as _, SecretString};

use super::envelope::{DataKey, MacKey, SecretPurpose, WrappedDataKey};
use crate::crypto::{MasterKey, MasterKeyId, MasterKeyring};
use crate::ids::TenantId;
use crate::{Error, Result};

/// Version of the data key that sealed a secret, stored beside the ciphertext. Each clinic has
/// one data key today (version 1); the column lets a future data-key rotation tell old
/// ciphertexts from new ones.
pub const DATA_KEY_VERSION: i32 = 1;

/// Storage of wrapped data keys, one per clinic.
#[async_trait]
pub trait DataKeyRepository: Send + Sync + std::fmt::Debug {
    /// The clinic's wrapped data key, if it has one yet.
    async fn find(&self, tenant: TenantId) -> Result<Option<WrappedDataKey>>;
    /// Stores `wrapped` unless the clinic already has a data key; returns the one stored (so two
    /// instances racing to create a clinic's first data key agree on one).
    async fn insert_if_absent(
        &self,
        tenant: TenantId,
        wrapped: WrappedDataKey,
    ) -> Result<WrappedDataKey>;
    /// Up to `limit` data keys not wrapped by `master_key_id`, in clinic-id order, after `after`.
    async fn not_wrapped_by(
        &self,
        master_key_id: &MasterKeyId,
        after: Option<TenantId>,
        limit: u64,
    ) -> Result<Vec<(TenantId, WrappedDataKey)>>;
    /// Replaces `current` by `replacement` if the row still holds `current`; false otherwise.
    async fn replace(
        &self,
        tenant: TenantId,
        current: &WrappedDataKey,
        replacement: &WrappedDataKey,
    ) -> Result<bool>;
}

/// A sealed secret as stored: the ciphertext and the data-key version that sealed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedSecret {
    /// `version ‖ nonce ‖ ciphertext+tag`.
    pub ciphertext: Vec<u8>,
    /// See [`DATA_KEY_VERSION`].
    pub key_version: i32,
}

/// How many clinics' unwrapped data keys a vault keeps in memory.
const UNWRAPPED_KEYS: u64 = 10_000;

/// How long an unwrapped data key stays in memory after its last use. A data key never changes
/// once created (a master-key rotation re-wraps it, the key itself stays), so this bounds how
/// long key material lingers in memory, not staleness.
const UNWRAPPED_KEY_IDLE: Duration = Duration::from_secs(15 * 60);

/// Seals and opens clinics' secrets.
#[derive(Debug, Clone)]
pub struct Vault {
    keyring: Arc<MasterKeyring>,
    keys: Arc<dyn DataKeyRepository>,
    /// Unwrapped data keys by clinic: every event a delivery sends and every endpoint secret it
    /// signs with is opened here, and a database read per open was a third of a delivery's
    /// round trips.
    unwrapped: Cache<TenantId, Arc<DataKey>>,
}

impl Vault {
    /// A vault over `keys`, wrapping with `keyring`'s current key.
    pub fn new(keyring: Arc<MasterKeyring>, keys: Arc<dyn DataKeyRepository>) -> Self {
        Self {
            keyring,
            keys,
            unwrapped: Cache::builder()
                .max_capacity(UNWRAPPED_KEYS)
                .time_to_idle(UNWRAPPED_KEY_IDLE)
                .build(),
        }
    }

    /// The clinic's data key, created (and wrapped by the current master key) on first use.
    async fn data_key(&self, tenant: TenantId) -> Result<Arc<DataKey>> {
        if let Some(key) = self.unwrapped.get(&tenant).await {
            return Ok(key);
        }
        // Two callers missing at once both read (or race to create, which `insert_if_absent`
        // settles): harmless, and simpler than coalescing loads whose errors are not `Clone`.
        let key = Arc::new(match self.keys.find(tenant).await? {
            Some(wrapped) => DataKey::unwrap(&self.keyring, tenant, &wrapped)?,
            None => {
                let fresh = DataKey::generate();
                let wrapped = fresh.wrap(self.keyring.current(), tenant)?;
                let stored = self.keys.insert_if_absent(tenant, wrapped.clone()).await?;
                if stored == wrapped {
                    fresh
                } else {
                    DataKey::unwrap(&self.keyring, tenant, &stored)?
                }
            }
        });
        self.unwrapped.insert(tenant, Arc::clone(&key)).await;
        Ok(key)
    }

    /// The clinic's existing data key: opening a secret never creates one.
    async fn existing_data_key(&self, tenant: TenantId) -> Result<Arc<DataKey>> {
        if let Some(key) = self.unwrapped.get(&tenant).await {
            return Ok(key);
        }
        let wrapped = self.keys.find(tenant).await?.ok_or_else(|| {
            Error::internal(format!("clinic {tenant} has a secret but no data key"))
        })?;
        let key = Arc::new(DataKey::unwrap(&self.keyring, tenant, &wrapped)?);
        self.unwrapped.insert(tenant, Arc::clone(&key)).await;
        Ok(key)
    }

    /// Encrypts `secret` for `tenant` and `purpose`.
    pub async fn seal(
        &self,
        tenant: TenantId,
        purpose: SecretPurpose,
        secret: &SecretString,
    ) -> Result<SealedSecret> {
        let key = self.data_key(tenant).await?;
        Ok(SealedSecret {
            ciphertext: key.seal(tenant, purpose, secret.expose_secret().as_bytes())?,
            key_version: DATA_KEY_VERSION,
        })
    }

    /// The clinic's keyed-hash key for `purpose` (see [`MacKey`]), for fingerprints of its data
    /// that must not be confirmable by guessing.
    pub async fn mac_key(&self, tenant: TenantId, purpose: SecretPurpose) -> Result<MacKey> {
        self.data_key(tenant).await?.mac_key(tenant, purpose)
    }

    /// Decrypts a secret sealed for `tenant` and `purpose`.
    pub async fn open(
        &self,
        tenant: TenantId,
        purpose: SecretPurpose,
        sealed: &SealedSecret,
    ) -> Result<SecretString> {
        if sealed.key_version != DATA_KEY_VERSION {
            return Err(Error::internal(format!(
                "secret sealed by unknown data-key version {}",
                sealed.key_version
            )));
        }
        let key = self.existing_data_key(tenant).await?;
        let plain = key.open(tenant, purpose, &sealed.ciphertext)?;
        let text = String::from_utf8(plain.expose_secret().clone())
            .map_err(|_| Error::internal("a decrypted secret is not UTF-8"))?;
        Ok(SecretString::from(text))
    }
}

/// The keys a rotation to `new` reads with: the old key (current or previous in the
/// configuration) or, when the configuration already names the new key, the new key itself.
pub(super) fn rotation_readers(keyring: &MasterKeyring, new: &MasterKey) -> MasterKeyring {
    MasterKeyring::new(MasterKey::from_bytes(*keyring.current().expose_bytes())).with_previous(
        match keyring.previous() {
            Some(previous) => MasterKey::from_bytes(*previous.expose_bytes()),
            None => MasterKey::from_bytes(*new.expose_bytes()),
        },
    )
}

/// What a rotation did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RotationReport {
    /// Data keys now wrapped by the new master key that were not before.
    pub rewrapped: u64,
    /// Data keys changed concurrently by someone else and left alone (re-run to pick them up).
    pub skipped: u64,
}

/// How many data keys one rotation step reads.
pub(super) const ROTATION_BATCH: u64 = 100;

/// Re-wraps every data key not yet wrapped by `new` under `new`, reading each with whichever of
/// `keyring`'s keys (or `new` itself) wrapped it. Safe while instances are serving: a data key's
/// value never changes, each row is replaced only if nobody changed it meanwhile, and instances
/// configured with the new key and the old one as previous read both forms.
///
/// # Errors
/// Stops at the first data key no configured key can unwrap (the error names the clinic and the
/// key id it needs), or on a storage failure; the keys re-wrapped so far stay re-wrapped, and running
/// the rotation again continues where it stopped.
pub async fn rotate_master_key(
    keyring: &MasterKeyring,
    new: MasterKey,
    keys: &dyn DataKeyRepository,
) -> Result<RotationReport> {
    let new_id = new.id();
    let mut report = RotationReport::default();
    let mut after = None;
    let readers = rotation_readers(keyring, &new);
    loop {
        let batch = keys.not_wrapped_by(&new_id, after, ROTATION_BATCH).await?;
        let Some((last, _)) = batch.last() else {
            return Ok(report);
        };
        after = Some(*last);
        for (tenant, wrapped) in batch {
            let key = DataKey::unwrap(&readers, tenant, &wrapped)?;
            let replacement = key.wrap(&new, tenant)?;
            if keys.replace(tenant, &wrapped, &replacement).await? {
                report.rewrapped += 1;
            } else {
                report.skipped += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::memory::MemoryDataKeys;

    #[tokio::test]
    async fn a_clinics_data_key_is_read_once_and_opens_from_memory_after() {
        let keys = Arc::new(MemoryDataKeys::default());
        let master = MasterKey::generate();
        let ring = MasterKeyring::new(MasterKey::from_bytes(*master.expose_bytes()));
        let writer = Vault::new(Arc::new(ring), keys.clone());
        let tenant = TenantId::new();
        let secret = SecretString::from("whsec_abc");
        let sealed = writer
            .seal(tenant, SecretPurpose::WebhookSecret, &secret)
            .await
            .unwrap();

        // Another instance's vault: the first open reads the key, the rest do not.
        let reader = Vault::new(Arc::new(MasterKeyring::new(master)), keys.clone());
        let before = keys.finds();
        for _ in 0..5 {
            let opened = reader
                .open(tenant, SecretPurpose::WebhookSecret, &sealed)
                .await
                .unwrap();
            assert_eq!(opened.expose_secret(), "whsec_abc");
        }
        assert_eq!(keys.finds() - before, 1);

        // Another clinic's secret still does not open with this clinic's cached key.
        assert!(
            reader
                .open(TenantId::new(), SecretPurpose::WebhookSecret, &sealed)
                .await
                .is_err()
        );
    }
}
