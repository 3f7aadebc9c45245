//! Secrets at rest (Cliniko keys today; webhook and partner secrets later): envelope encryption
//! with one random data key per clinic, wrapped by the master key.
//!
//! - [`envelope`]: the cryptography alone (AES-256-GCM, associated data binding each ciphertext
//!   to its clinic and purpose).
//! - [`vault`]: the service that finds or creates a clinic's data key through the
//!   [`DataKeyRepository`] port, and the master-key rotation.
//! - [`service_keys`]: the deployment's own keys (client-secret hashing, Cliniko key
//!   fingerprints, token signing), sealed
//!   directly by the master key and re-wrapped by the same rotation.
//!
//! Plaintext secrets only ever exist in memory as `SecretString`s; they are never logged.

mod envelope;
#[cfg(test)]
pub(crate) mod memory;
mod service_keys;
mod vault;

pub use envelope::{DataKey, MacKey, SecretPurpose, WrappedDataKey};
pub use service_keys::{
    ServiceKeyPurpose, ServiceKeyRepository, StoredServiceKey, load_hmac_key, open_service_key,
    rotate_service_keys, seal_service_key,
};
pub use vault::{
    DATA_KEY_VERSION, DataKeyRepository, RotationReport, SealedSecret, Vault, rotate_master_key,
};
