//! Multi-factor authentication for staff: TOTP (RFC 6238) with recovery codes.
//!
//! - [`totp`]: codes and `otpauth://` URIs (through `totp-rs`).
//! - [`recovery`]: single-use recovery codes, stored as digests.
//! - [`pending`]: the sealed state between the password and the code at login.
//! - [`MfaService`]: enrolment, confirmation, verification (replay refused, throttled per user),
//!   turning it off.
//!
//! The TOTP secret is sealed with the clinic's vault ([`SecretPurpose::TotpSecret`]); every
//! repository method takes the clinic first, so another clinic's user is simply not found.
//!
//! [`SecretPurpose::TotpSecret`]: crate::secrets::SecretPurpose::TotpSecret

pub mod pending;
pub mod recovery;
mod service;
pub mod totp;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub use pending::PendingLogin;
pub use service::{Enrolment, MfaService};
pub use totp::TotpSecret;

use crate::Result;
use crate::ids::{TenantId, UserId};
use crate::secrets::SealedSecret;

/// A user's stored MFA state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MfaRecord {
    /// The TOTP secret, sealed for the clinic.
    pub secret: SealedSecret,
    /// When the user proved their app works; `None` while enrolling (not yet required at login).
    pub confirmed_at: Option<DateTime<Utc>>,
    /// The last TOTP step accepted: a code of this step or an earlier one is a replay.
    pub last_step: Option<i64>,
}

/// Storage of staff MFA state; every method is scoped to one clinic.
#[async_trait]
pub trait MfaRepository: Send + Sync + std::fmt::Debug {
    /// The user's MFA state, if any.
    async fn find_in_tenant(&self, tenant: TenantId, user: UserId) -> Result<Option<MfaRecord>>;
    /// Starts (or restarts) an enrolment with a new sealed secret; an already confirmed MFA is
    /// `Conflict { code: "mfa_already_enabled" }`.
    async fn begin_in_tenant(
        &self,
        tenant: TenantId,
        user: UserId,
        secret: SealedSecret,
    ) -> Result<()>;
    /// Confirms the enrolment at TOTP `step`, storing the recovery codes' digests; false when
    /// there is no enrolment in progress (already confirmed, or none).
    async fn confirm_in_tenant(
        &self,
        tenant: TenantId,
        user: UserId,
        step: i64,
        recovery_digests: Vec<String>,
    ) -> Result<bool>;
    /// Records `step` as used if it is later than the last one used, atomically: of two
    /// logins with the same code, one gets true and the other false.
    async fn accept_step_in_tenant(
        &self,
        tenant: TenantId,
        user: UserId,
        step: i64,
    ) -> Result<bool>;
    /// Spends the unused recovery code with `digest`; false when there is none.
    async fn spend_recovery_code_in_tenant(
        &self,
        tenant: TenantId,
        user: UserId,
        digest: &str,
    ) -> Result<bool>;
    /// Removes the user's MFA and recovery codes (nothing to remove is fine).
    async fn remove_in_tenant(&self, tenant: TenantId, user: UserId) -> Result<()>;
    /// Removes the user's MFA and recovery codes on behalf of `by` (an owner or admin), and
    /// records who did it and when, atomically.
    async fn reset_in_tenant(&self, tenant: TenantId, user: UserId, by: UserId) -> Result<()>;
}
