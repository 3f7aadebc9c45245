//! Partner links: the id an API client (a partner system) gives a clinic's Cliniko patient, and
//! the partner's patient API built on it (`/api/public/patients`). ClinicGate is the database of
//! record for these external identifiers; Cliniko only holds the patient.
//!
//! A partner id is unique per (clinic, client). Creating a patient by partner id is idempotent
//! across instances: the id is *claimed* in the database before Cliniko is called (as the booking
//! guard claims a slot), so concurrent creates with one partner id make one Cliniko patient; a
//! create that fails releases its claim, so no half-made link stays behind.
//!
//! This module knows no HTTP or database: the store is the [`PartnerLinks`] port.

mod details;
mod service;

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub use details::{PatientDetails, PostalAddress};
pub use service::{LinkedPatient, PartnerPatientService};

use crate::Result;
use crate::cliniko::ClinikoId;
use crate::error::FieldError;
use crate::ids::TenantId;
use crate::tokens::ClientId;

/// The longest partner id accepted (the column's width).
pub const MAX_PARTNER_ID: usize = 255;

/// A partner's own id for a patient: 1 to [`MAX_PARTNER_ID`] visible ASCII characters, as the
/// partner sent them (compared exactly). Partner ids can be personal (some systems use record
/// numbers), so `Debug` does not show them and they are never logged.
#[derive(Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct PartnerId(String);

impl PartnerId {
    /// Parses a partner id.
    ///
    /// # Errors
    /// A [`FieldError`] on `field` when empty, too long, or not visible ASCII.
    pub fn parse(field: &str, raw: &str) -> std::result::Result<Self, FieldError> {
        let valid = !raw.is_empty()
            && raw.len() <= MAX_PARTNER_ID
            && raw.bytes().all(|b| b.is_ascii_graphic());
        if valid {
            Ok(Self(raw.to_owned()))
        } else {
            Err(FieldError::new(
                field,
                "invalid",
                format!("give 1 to {MAX_PARTNER_ID} visible ASCII characters (no spaces)"),
            ))
        }
    }

    /// The id as the partner sent it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PartnerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PartnerId(..)")
    }
}

/// What claiming a partner id found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This call holds the claim: create the patient, then [`PartnerLinks::settle`] or
    /// [`PartnerLinks::release`].
    Claimed,
    /// The partner id is already linked to this Cliniko patient.
    Linked(ClinikoId),
    /// Another request holds an unexpired claim: its create is under way.
    Busy,
}

/// A settled link, as the clinic's Partners page lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartnerLink {
    /// The partner's id of the patient.
    pub partner_id: PartnerId,
    /// The Cliniko patient.
    pub patient: ClinikoId,
    /// When the link was made.
    pub linked_at: DateTime<Utc>,
}

/// The links of partner ids to Cliniko patients, shared by every instance (the database).
#[async_trait]
pub trait PartnerLinks: Send + Sync + fmt::Debug {
    /// Claims `partner_id` for `client` in `tenant` for `ttl`, unless it is linked or claimed.
    /// A claim whose holder died (expired, never settled) is taken over.
    async fn claim(
        &self,
        tenant: TenantId,
        client: &ClientId,
        partner_id: &PartnerId,
        ttl: Duration,
    ) -> Result<Claim>;

    /// Completes a claim: `partner_id` now names `patient`.
    async fn settle(
        &self,
        tenant: TenantId,
        client: &ClientId,
        partner_id: &PartnerId,
        patient: &ClinikoId,
    ) -> Result<()>;

    /// Drops an unsettled claim (a settled link is left alone).
    async fn release(
        &self,
        tenant: TenantId,
        client: &ClientId,
        partner_id: &PartnerId,
    ) -> Result<()>;

    /// Records the link a partner reported when a patient was synced to it (its answer to
    /// ClinicGate's create): `partner_id` of `client` names `patient`. Idempotent; when the
    /// patient or the partner id is already linked, the existing link stays (ids never move
    /// between patients silently).
    async fn link(
        &self,
        tenant: TenantId,
        client: &ClientId,
        partner_id: &PartnerId,
        patient: &ClinikoId,
    ) -> Result<()>;

    /// The Cliniko patient `partner_id` names for `client`, once settled.
    async fn patient_of(
        &self,
        tenant: TenantId,
        client: &ClientId,
        partner_id: &PartnerId,
    ) -> Result<Option<ClinikoId>>;

    /// The partner id `client` gave `patient`, if any.
    async fn partner_id_of(
        &self,
        tenant: TenantId,
        client: &ClientId,
        patient: &ClinikoId,
    ) -> Result<Option<PartnerId>>;

    /// Up to `limit` of `client`'s settled links in partner-id order, after `after` (the last
    /// partner id of the previous page).
    async fn linked(
        &self,
        tenant: TenantId,
        client: &ClientId,
        after: Option<&PartnerId>,
        limit: u64,
    ) -> Result<Vec<PartnerLink>>;
}

/// Limits of the partner patient API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartnerPolicy {
    /// How long a claim lives: longer than a Cliniko create takes (with its timeout).
    pub claim_ttl: Duration,
    /// How long a second request with the same partner id waits for the first to finish before
    /// it is answered 409 `partner_id_in_progress`.
    pub wait_for_claim: Duration,
}

impl Default for PartnerPolicy {
    fn default() -> Self {
        Self {
            claim_ttl: Duration::from_secs(120),
            wait_for_claim: Duration::from_secs(10),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partner_id_is_visible_ascii_of_bounded_length_and_never_printed() {
        assert!(PartnerId::parse("partner_id", "pat_12345678").is_ok());
        assert!(PartnerId::parse("partner_id", "").is_err());
        assert!(PartnerId::parse("partner_id", "has space").is_err());
        assert!(PartnerId::parse("partner_id", "é").is_err());
        assert!(PartnerId::parse("partner_id", &"x".repeat(MAX_PARTNER_ID)).is_ok());
        assert!(PartnerId::parse("partner_id", &"x".repeat(MAX_PARTNER_ID + 1)).is_err());
        let id = PartnerId::parse("partner_id", "MRN-0042").unwrap();
        assert!(!format!("{id:?}").contains("0042"));
    }
}
