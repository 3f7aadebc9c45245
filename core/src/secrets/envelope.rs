//! The cryptography of envelope encryption, with no storage: a clinic's random data key seals its
//! secrets (AES-256-GCM, a fresh 96-bit nonce per secret) and is itself sealed ("wrapped") by a
//! master key.
//!
//! Every ciphertext is bound by its associated data to the clinic and, for secrets, to the
//! purpose it was stored for: a ciphertext copied into another clinic's row, or into another
//! column of the same clinic, fails authentication instead of decrypting.
//!
//! Layout of every ciphertext: `version (1 byte) ‖ nonce (12 bytes) ‖ AES-GCM ciphertext+tag`.

use std::fmt;

use aes_gcm::aead::{Aead as _, Generate as _, KeyInit as _, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use hmac::{Hmac, Mac as _};
use secrecy::{ExposeSecret as _, SecretBox};
use sha2::Sha256;

use crate::crypto::{MasterKey, MasterKeyId, MasterKeyring};
use crate::ids::TenantId;
use crate::{Error, Result};

/// Format version of every ciphertext written by this module.
const FORMAT_V1: u8 = 1;
/// AES-GCM's standard nonce length.
const NONCE_LEN: usize = 12;
/// Length of a data key.
const DATA_KEY_LEN: usize = 32;

/// What a secret is for; part of its associated data so ciphertexts cannot be swapped between
/// purposes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretPurpose {
    /// The clinic's Cliniko API key.
    ClinikoApiKey,
    /// A public API response kept for idempotent replay (may hold appointment notes).
    IdempotentResponse,
    /// An event's data (patients, appointments), kept for delivery and recovery.
    EventData,
    /// A webhook endpoint's signing secret (`whsec_…`), current or in its rotation grace.
    WebhookSecret,
    /// What the Cliniko poller keeps of a record to diff its next version (appointment notes
    /// and patient ids; fingerprints of patients), sealed or keyed per clinic.
    PollSnapshot,
    /// A FHIR searchset's paging cursor (the search and the page), sealed so a partner can
    /// neither read the search terms in it nor change them, nor use it at another clinic.
    FhirCursor,
    /// The credential ClinicGate presents to a partner's patient API (a bearer token or a
    /// header's value) when it syncs patients there.
    PatientSyncCredential,
    /// What ClinicGate authenticates to a clinic's FHIR server with: an OAuth client secret, or
    /// the private key of a SMART Backend Services key pair.
    FhirDestinationCredential,
    /// A staff member's TOTP secret (base32), shared with their authenticator app.
    TotpSecret,
    /// The sealed state between a correct password and the MFA code at login.
    MfaPendingLogin,
    /// A clinic's OpenID Connect client secret (single sign-on).
    SsoClientSecret,
    /// The sealed state of a single sign-on login between the redirect and the callback.
    SsoLoginState,
    /// A notification's unsubscribe link (the patient's Cliniko id and the channel), sealed so
    /// the URL shows nothing of the patient and cannot be altered or used at another clinic.
    UnsubscribeLink,
    /// A clinic's SMS provider auth token (Twilio), for notification text messages.
    SmsAuthToken,
}

impl SecretPurpose {
    /// The stable name bound into the ciphertext.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ClinikoApiKey => "cliniko_api_key",
            Self::IdempotentResponse => "idempotent_response",
            Self::EventData => "event_data",
            Self::WebhookSecret => "webhook_secret",
            Self::PollSnapshot => "poll_snapshot",
            Self::FhirCursor => "fhir_cursor",
            Self::PatientSyncCredential => "patient_sync_credential",
            Self::FhirDestinationCredential => "fhir_destination_credential",
            Self::TotpSecret => "totp_secret",
            Self::MfaPendingLogin => "mfa_pending_login",
            Self::SsoClientSecret => "sso_client_secret",
            Self::SsoLoginState => "sso_login_state",
            Self::UnsubscribeLink => "unsubscribe_link",
            Self::SmsAuthToken => "sms_auth_token",
        }
    }
}

/// A clinic's data key: 32 random bytes that never leave the process unwrapped.
pub struct DataKey(SecretBox<[u8; DATA_KEY_LEN]>);

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey([REDACTED])")
    }
}

/// A key for keyed hashes (HMAC-SHA256) of one clinic's data for one purpose, derived from the
/// clinic's data key: a fingerprint of patient data made with it cannot be confirmed by guessing
/// without the key, unlike a plain hash of a name and a date of birth.
#[derive(Clone)]
pub struct MacKey(Hmac<Sha256>);

impl fmt::Debug for MacKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MacKey([REDACTED])")
    }
}

impl MacKey {
    /// A key from raw bytes (tests, and the derivation from a data key).
    ///
    /// # Errors
    /// `Internal` if HMAC refuses the key (it takes any length, so never in practice).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(bytes)
            .map(Self)
            .map_err(|_| Error::internal("HMAC refused a key"))
    }

    /// HMAC-SHA256 of the concatenation of `parts` under this key.
    pub fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = self.0.clone();
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }
}

/// A data key sealed by a master key, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrappedDataKey {
    /// Which master key sealed it.
    pub master_key_id: MasterKeyId,
    /// `version ‖ nonce ‖ ciphertext+tag`.
    pub ciphertext: Vec<u8>,
}

fn cipher(key: &[u8; DATA_KEY_LEN]) -> Aes256Gcm {
    Aes256Gcm::new(&Key::<Aes256Gcm>::from(*key))
}

/// Encrypts `plaintext` under `key` with a fresh random nonce.
pub(super) fn seal_with(key: &[u8; DATA_KEY_LEN], aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
    let nonce = Nonce::generate();
    let sealed = cipher(key)
        .encrypt(
            &nonce,
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| Error::internal("AES-GCM encryption failed"))?;
    let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
    out.push(FORMAT_V1);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// Decrypts what [`seal_with`] produced; any tampering, wrong key or wrong AAD fails.
pub(super) fn open_with(key: &[u8; DATA_KEY_LEN], aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>> {
    let undecryptable = || Error::internal("a stored ciphertext could not be decrypted");
    let (&version, rest) = sealed.split_first().ok_or_else(undecryptable)?;
    if version != FORMAT_V1 || rest.len() < NONCE_LEN {
        return Err(undecryptable());
    }
    let (nonce, body) = rest.split_at(NONCE_LEN);
    let nonce = Nonce::try_from(nonce).map_err(|_| undecryptable())?;
    cipher(key)
        .decrypt(&nonce, Payload { msg: body, aad })
        .map_err(|_| undecryptable())
}

/// Associated data of a wrapped data key: binds it to its clinic.
fn wrap_aad(tenant: TenantId) -> Vec<u8> {
    let mut aad = b"clinicgate/data-key/v1\0".to_vec();
    aad.extend_from_slice(tenant.as_uuid().as_bytes());
    aad
}

/// Associated data of a secret: binds it to its clinic and its purpose.
fn secret_aad(tenant: TenantId, purpose: SecretPurpose) -> Vec<u8> {
    let mut aad = b"clinicgate/secret/v1\0".to_vec();
    aad.extend_from_slice(tenant.as_uuid().as_bytes());
    aad.push(0);
    aad.extend_from_slice(purpose.as_str().as_bytes());
    aad
}

impl DataKey {
    /// A fresh random data key (from the OS CSPRNG).
    pub fn generate() -> Self {
        let key: [u8; DATA_KEY_LEN] = Key::<Aes256Gcm>::generate().into();
        Self(SecretBox::new(Box::new(key)))
    }

    /// Seals `plaintext` for `tenant` and `purpose`.
    pub fn seal(
        &self,
        tenant: TenantId,
        purpose: SecretPurpose,
        plaintext: &[u8],
    ) -> Result<Vec<u8>> {
        seal_with(
            self.0.expose_secret(),
            &secret_aad(tenant, purpose),
            plaintext,
        )
    }

    /// Opens a secret sealed for the same `tenant` and `purpose`.
    pub fn open(
        &self,
        tenant: TenantId,
        purpose: SecretPurpose,
        sealed: &[u8],
    ) -> Result<SecretBox<Vec<u8>>> {
        open_with(self.0.expose_secret(), &secret_aad(tenant, purpose), sealed)
            .map(|plain| SecretBox::new(Box::new(plain)))
    }

    /// The keyed-hash key for `tenant` and `purpose`, derived from this data key (HMAC with a
    /// label binding both, so it differs per clinic and purpose and reveals nothing of the data
    /// key).
    ///
    /// # Errors
    /// `Internal` if HMAC refuses a key (never in practice).
    pub fn mac_key(&self, tenant: TenantId, purpose: SecretPurpose) -> Result<MacKey> {
        let derived = MacKey::from_bytes(self.0.expose_secret())?.mac(&[
            b"clinicgate/mac-key/v1\0",
            tenant.as_uuid().as_bytes(),
            b"\0",
            purpose.as_str().as_bytes(),
        ]);
        MacKey::from_bytes(&derived)
    }

    /// Wraps this data key under `master` for `tenant`.
    pub fn wrap(&self, master: &MasterKey, tenant: TenantId) -> Result<WrappedDataKey> {
        Ok(WrappedDataKey {
            master_key_id: master.id(),
            ciphertext: seal_with(
                master.expose_bytes(),
                &wrap_aad(tenant),
                self.0.expose_secret(),
            )?,
        })
    }

    /// Unwraps a data key of `tenant` with whichever key of `keyring` wrapped it.
    ///
    /// # Errors
    /// `Internal` when no configured master key has the stored id (a rotation finished without
    /// this process being given the new key) or the ciphertext does not authenticate.
    pub fn unwrap(
        keyring: &MasterKeyring,
        tenant: TenantId,
        wrapped: &WrappedDataKey,
    ) -> Result<Self> {
        let master = keyring.find(&wrapped.master_key_id).ok_or_else(|| {
            Error::internal(format!(
                "the data key of clinic {tenant} is wrapped by master key {}, which is not configured \
                 (set CLINICGATE_MASTER_KEY or CLINICGATE_PREVIOUS_MASTER_KEY to it)",
                wrapped.master_key_id
            ))
        })?;
        let plain = open_with(
            master.expose_bytes(),
            &wrap_aad(tenant),
            &wrapped.ciphertext,
        )?;
        let key: [u8; DATA_KEY_LEN] = plain
            .as_slice()
            .try_into()
            .map_err(|_| Error::internal("an unwrapped data key has the wrong length"))?;
        Ok(Self(SecretBox::new(Box::new(key))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyring() -> MasterKeyring {
        MasterKeyring::new(MasterKey::generate())
    }

    #[test]
    fn a_sealed_secret_opens_for_its_clinic_and_purpose() {
        let tenant = TenantId::new();
        let key = DataKey::generate();
        let sealed = key
            .seal(tenant, SecretPurpose::ClinikoApiKey, b"MS0xMjM0-au1")
            .unwrap();
        assert!(!sealed.windows(8).any(|w| w == b"MS0xMjM0"));
        let opened = key
            .open(tenant, SecretPurpose::ClinikoApiKey, &sealed)
            .unwrap();
        assert_eq!(opened.expose_secret().as_slice(), b"MS0xMjM0-au1");
    }

    #[test]
    fn a_ciphertext_moved_to_another_clinic_fails_to_decrypt() {
        let key = DataKey::generate();
        let sealed = key
            .seal(TenantId::new(), SecretPurpose::ClinikoApiKey, b"secret")
            .unwrap();
        assert!(
            key.open(TenantId::new(), SecretPurpose::ClinikoApiKey, &sealed)
                .is_err()
        );
    }

    #[test]
    fn a_ciphertext_moved_to_another_purpose_fails_to_decrypt() {
        let tenant = TenantId::new();
        let key = DataKey::generate();
        let sealed = key
            .seal(tenant, SecretPurpose::ClinikoApiKey, b"secret")
            .unwrap();
        assert!(
            key.open(tenant, SecretPurpose::WebhookSecret, &sealed)
                .is_err()
        );
        assert!(
            open_with(
                key.0.expose_secret(),
                &secret_aad(tenant, SecretPurpose::ClinikoApiKey),
                &sealed
            )
            .is_ok()
        );
    }

    #[test]
    fn sealing_twice_uses_fresh_nonces() {
        let tenant = TenantId::new();
        let key = DataKey::generate();
        let a = key
            .seal(tenant, SecretPurpose::ClinikoApiKey, b"same")
            .unwrap();
        let b = key
            .seal(tenant, SecretPurpose::ClinikoApiKey, b"same")
            .unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn a_tampered_ciphertext_fails_to_decrypt() {
        let tenant = TenantId::new();
        let key = DataKey::generate();
        let mut sealed = key
            .seal(tenant, SecretPurpose::ClinikoApiKey, b"secret")
            .unwrap();
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert!(
            key.open(tenant, SecretPurpose::ClinikoApiKey, &sealed)
                .is_err()
        );
        assert!(key.open(tenant, SecretPurpose::ClinikoApiKey, &[]).is_err());
        assert!(
            key.open(tenant, SecretPurpose::ClinikoApiKey, &[9, 1, 2])
                .is_err()
        );
    }

    #[test]
    fn a_wrapped_data_key_unwraps_only_for_its_clinic_with_a_configured_key() {
        let ring = keyring();
        let tenant = TenantId::new();
        let key = DataKey::generate();
        let wrapped = key.wrap(ring.current(), tenant).unwrap();
        assert_eq!(wrapped.master_key_id, ring.current().id());

        let again = DataKey::unwrap(&ring, tenant, &wrapped).unwrap();
        let sealed = key
            .seal(tenant, SecretPurpose::ClinikoApiKey, b"x")
            .unwrap();
        assert!(
            again
                .open(tenant, SecretPurpose::ClinikoApiKey, &sealed)
                .is_ok()
        );

        assert!(DataKey::unwrap(&ring, TenantId::new(), &wrapped).is_err());
        assert!(DataKey::unwrap(&keyring(), tenant, &wrapped).is_err());
    }

    #[test]
    fn a_key_wrapped_by_the_previous_master_key_still_unwraps_during_a_rotation() {
        let old = MasterKey::generate();
        let tenant = TenantId::new();
        let wrapped = DataKey::generate().wrap(&old, tenant).unwrap();
        let rotating = MasterKeyring::new(MasterKey::generate()).with_previous(old);
        assert!(DataKey::unwrap(&rotating, tenant, &wrapped).is_ok());
    }

    #[test]
    fn debug_output_never_shows_a_data_key() {
        assert_eq!(format!("{:?}", DataKey::generate()), "DataKey([REDACTED])");
        let mac = DataKey::generate()
            .mac_key(TenantId::new(), SecretPurpose::PollSnapshot)
            .unwrap();
        assert_eq!(format!("{mac:?}"), "MacKey([REDACTED])");
    }

    #[test]
    fn mac_keys_differ_per_clinic_and_purpose_and_are_stable() {
        let key = DataKey::generate();
        let (a, b) = (TenantId::new(), TenantId::new());
        let mac = |tenant, purpose| {
            key.mac_key(tenant, purpose)
                .unwrap()
                .mac(&[b"Jane Citizen 1984-03-02"])
        };
        assert_eq!(
            mac(a, SecretPurpose::PollSnapshot),
            mac(a, SecretPurpose::PollSnapshot)
        );
        assert_ne!(
            mac(a, SecretPurpose::PollSnapshot),
            mac(b, SecretPurpose::PollSnapshot)
        );
        assert_ne!(
            mac(a, SecretPurpose::PollSnapshot),
            mac(a, SecretPurpose::EventData)
        );
        assert_ne!(
            mac(a, SecretPurpose::PollSnapshot),
            DataKey::generate()
                .mac_key(a, SecretPurpose::PollSnapshot)
                .unwrap()
                .mac(&[b"Jane Citizen 1984-03-02"])
        );
    }
}
