//! Step 3 of the booking guard: one booking attempt per (clinic, doctor, start) at a time, across
//! every instance.
//!
//! The port is implemented over the database (a uniqueness rule), not the shared cache: without
//! Redis the cache is in-process, so two instances sharing only a database would each grant the
//! same slot. The database is the one store every deployment's instances share.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::Result;
use crate::cliniko::ClinikoId;
use crate::ids::TenantId;

/// The slot a claim is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SlotKey {
    /// The clinic (Cliniko business).
    pub clinic_id: ClinikoId,
    /// The doctor (Cliniko practitioner).
    pub doctor_id: ClinikoId,
    /// The start (UTC, whole seconds as Cliniko keeps them).
    pub starts_at: DateTime<Utc>,
}

impl SlotKey {
    /// A stable text form, unique per slot: `{clinic}:{doctor}:{unix seconds}`.
    pub fn as_key(&self) -> String {
        format!(
            "{}:{}:{}",
            self.clinic_id,
            self.doctor_id,
            self.starts_at.timestamp()
        )
    }
}

/// Claims on slots, shared by every instance.
#[async_trait]
pub trait SlotClaims: Send + Sync + std::fmt::Debug {
    /// Claims `slot` for `ttl` unless an unexpired claim holds it; whether this call got it.
    /// An expired claim (its holder crashed, or its booking settled long ago) is replaced.
    async fn claim(&self, tenant: TenantId, slot: &SlotKey, ttl: Duration) -> Result<bool>;

    /// Releases a claim (absent claims are fine).
    async fn release(&self, tenant: TenantId, slot: &SlotKey) -> Result<()>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_key_keeps_every_digit_of_the_ids() {
        let slot = SlotKey {
            clinic_id: ClinikoId::parse("836447129235883061").unwrap(),
            doctor_id: ClinikoId::parse("9007199254740993").unwrap(),
            starts_at: "2030-05-21T08:45:00Z".parse().unwrap(),
        };
        assert_eq!(
            slot.as_key(),
            "836447129235883061:9007199254740993:1905583500"
        );
    }
}
