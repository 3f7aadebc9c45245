//! Patients who unsubscribed. Every patient e-mail links to the clinic's host with a sealed
//! token ([`UnsubscribeTokens`]): the patient's Cliniko id and the channel, encrypted and
//! authenticated with the clinic's data key for [`SecretPurpose::UnsubscribeLink`], so the URL
//! reads as noise, cannot be altered into another patient's, and does not open at another
//! clinic. Opening one is the only way to an [`Unsubscribe`], which is what records the opt-out
//! (the token is the patient's authority, as a feed token is a calendar's). The sender withholds
//! messages on an opted-out channel; the clinic lists opt-outs and can clear one, which is kept
//! with who cleared it and when.

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::{ExposeSecret as _, SecretString};

use super::{Channel, NotificationService, OptOut};
use crate::Result;
use crate::clinics::{ClinicRepository, Subdomain};
use crate::cliniko::ClinikoId;
use crate::error::Error;
use crate::ids::TenantId;
use crate::secrets::{DATA_KEY_VERSION, SealedSecret, SecretPurpose, Vault};
use crate::tenancy::TenantContext;

/// The longest token worth trying to open: a sealed `sms:` + 19-digit id is about 80 characters.
const MAX_TOKEN_CHARS: usize = 200;

/// Where a clinic's host is: the api's public URL knows (`https://{subdomain}.{host}`).
pub trait ClinicHosts: Send + Sync + fmt::Debug {
    /// The root URL of the clinic on `subdomain`, without a trailing slash.
    fn clinic_url(&self, subdomain: &Subdomain) -> String;
}

/// Builds the unsubscribe URL of a patient's message: the clinic's host, `/unsubscribe/`, and
/// the sealed token.
#[derive(Debug, Clone)]
pub struct UnsubscribeLinks {
    tokens: UnsubscribeTokens,
    clinics: Arc<dyn ClinicRepository>,
    hosts: Arc<dyn ClinicHosts>,
}

impl UnsubscribeLinks {
    /// Links sealed by `tokens`, on the host (from `hosts`) of each clinic in `clinics`.
    pub fn new(
        tokens: UnsubscribeTokens,
        clinics: Arc<dyn ClinicRepository>,
        hosts: Arc<dyn ClinicHosts>,
    ) -> Self {
        Self {
            tokens,
            clinics,
            hosts,
        }
    }

    /// The URL that unsubscribes `patient` of `tenant` from `channel`.
    ///
    /// # Errors
    /// `NotFound` for a clinic that no longer exists; storage and vault failures.
    pub async fn link(
        &self,
        tenant: TenantId,
        patient: &ClinikoId,
        channel: Channel,
    ) -> Result<String> {
        let clinic = self
            .clinics
            .find_by_id(tenant)
            .await?
            .ok_or(Error::NotFound { resource: "clinic" })?;
        let token = self.tokens.seal(tenant, patient, channel).await?;
        Ok(format!(
            "{}/unsubscribe/{token}",
            self.hosts.clinic_url(&clinic.subdomain)
        ))
    }
}

/// An unsubscribe a patient asked for through a valid link: only [`UnsubscribeTokens::open`]
/// makes one.
#[derive(Clone, PartialEq, Eq)]
pub struct Unsubscribe {
    tenant: TenantId,
    patient: ClinikoId,
    channel: Channel,
}

impl fmt::Debug for Unsubscribe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Unsubscribe")
            .field("tenant", &self.tenant)
            .field("channel", &self.channel)
            .finish_non_exhaustive()
    }
}

impl Unsubscribe {
    /// The channel the patient leaves.
    pub fn channel(&self) -> Channel {
        self.channel
    }
}

/// Seals and opens unsubscribe tokens with the clinics' data keys.
#[derive(Debug, Clone)]
pub struct UnsubscribeTokens {
    vault: Vault,
}

impl UnsubscribeTokens {
    /// Tokens sealed by `vault`.
    pub fn new(vault: Vault) -> Self {
        Self { vault }
    }

    /// The token of `patient` of `tenant` on `channel` (base64url, URL-safe as is).
    ///
    /// # Errors
    /// The vault's failures.
    pub async fn seal(
        &self,
        tenant: TenantId,
        patient: &ClinikoId,
        channel: Channel,
    ) -> Result<String> {
        let plain = SecretString::from(format!("{}:{}", channel.as_str(), patient.as_str()));
        let sealed = self
            .vault
            .seal(tenant, SecretPurpose::UnsubscribeLink, &plain)
            .await?;
        Ok(URL_SAFE_NO_PAD.encode(sealed.ciphertext))
    }

    /// The unsubscribe `token` stands for at `tenant`'s host; `None` for anything that is not a
    /// token sealed for this clinic (malformed, altered, another clinic's).
    pub async fn open(&self, tenant: TenantId, token: &str) -> Option<Unsubscribe> {
        if token.len() > MAX_TOKEN_CHARS {
            return None;
        }
        let ciphertext = URL_SAFE_NO_PAD.decode(token).ok()?;
        let sealed = SealedSecret {
            ciphertext,
            key_version: DATA_KEY_VERSION,
        };
        let plain = self
            .vault
            .open(tenant, SecretPurpose::UnsubscribeLink, &sealed)
            .await
            .ok()?;
        let (channel, patient) = plain.expose_secret().split_once(':')?;
        Some(Unsubscribe {
            tenant,
            patient: ClinikoId::parse(patient)?,
            channel: Channel::parse(channel)?,
        })
    }
}

impl NotificationService {
    /// Records `request`: its patient gets no more messages on its channel. Idempotent.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn unsubscribe(&self, request: &Unsubscribe) -> Result<()> {
        self.repo
            .opt_out(request.tenant, &request.patient, request.channel)
            .await
    }

    /// Whether `patient` unsubscribed from `channel`, for the sender.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn opted_out(
        &self,
        tenant: TenantId,
        patient: &ClinikoId,
        channel: Channel,
    ) -> Result<bool> {
        self.repo.opted_out(tenant, patient, channel).await
    }

    /// The clinic's opt-outs, in force and cleared, newest first (owners and admins).
    ///
    /// # Errors
    /// `Forbidden` for anyone else; storage failures.
    pub async fn opt_outs(&self, ctx: &TenantContext) -> Result<Vec<OptOut>> {
        ctx.require_manager()?;
        self.repo.opt_outs(ctx.tenant_id()).await
    }

    /// Clears `patient`'s opt-out of `channel`, recording who and when (owners and admins):
    /// messages go to them again.
    ///
    /// # Errors
    /// `Forbidden` for anyone else (and for a caller that is not a staff member); `NotFound`
    /// when no opt-out of theirs is in force; storage failures.
    pub async fn clear_opt_out(
        &self,
        ctx: &TenantContext,
        patient: &ClinikoId,
        channel: Channel,
    ) -> Result<()> {
        ctx.require_manager()?;
        let by = ctx
            .user_id()
            .ok_or_else(|| Error::Forbidden("only staff clear opt-outs".to_owned()))?;
        if self
            .repo
            .clear_opt_out(ctx.tenant_id(), patient, channel, by)
            .await?
        {
            Ok(())
        } else {
            Err(Error::NotFound {
                resource: "opt-out",
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{MasterKey, MasterKeyring};
    use crate::secrets::memory::MemoryDataKeys;

    fn tokens() -> UnsubscribeTokens {
        UnsubscribeTokens::new(Vault::new(
            Arc::new(MasterKeyring::new(MasterKey::generate())),
            Arc::new(MemoryDataKeys::default()),
        ))
    }

    #[tokio::test]
    async fn a_token_opens_at_its_clinic_only_and_shows_nothing_of_the_patient() {
        let tokens = tokens();
        let (clinic, other) = (TenantId::new(), TenantId::new());
        let patient = ClinikoId::parse("1234567890123456789").unwrap();
        let token = tokens.seal(clinic, &patient, Channel::Email).await.unwrap();
        assert!(!token.contains("1234567890"), "{token}");
        assert!(
            token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        let opened = tokens.open(clinic, &token).await.unwrap();
        assert_eq!(opened.patient, patient);
        assert_eq!(opened.channel(), Channel::Email);
        // Another clinic (with a data key of its own) cannot open it.
        tokens.seal(other, &patient, Channel::Email).await.unwrap();
        assert!(tokens.open(other, &token).await.is_none());
    }

    #[tokio::test]
    async fn an_altered_or_malformed_token_opens_nothing() {
        let tokens = tokens();
        let clinic = TenantId::new();
        let patient = ClinikoId::parse("42").unwrap();
        let token = tokens.seal(clinic, &patient, Channel::Email).await.unwrap();
        let mut bytes = URL_SAFE_NO_PAD.decode(&token).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let altered = URL_SAFE_NO_PAD.encode(bytes);
        assert!(tokens.open(clinic, &altered).await.is_none());
        assert!(tokens.open(clinic, "not a token!").await.is_none());
        assert!(tokens.open(clinic, "").await.is_none());
        assert!(tokens.open(clinic, &"A".repeat(500)).await.is_none());
    }
}
