//! Enrolling, confirming, verifying and turning off a staff member's TOTP MFA.
//!
//! Rules: a code counts once (a step at or before the last accepted one is a replay); failures
//! are counted per user in the shared login throttle, so a stolen password plus guessing codes
//! is locked out after a few tries on every instance; every failure answers the same.

use std::net::IpAddr;
use std::sync::Arc;

use chrono::Utc;
use secrecy::SecretString;

use super::pending::{self, PendingLogin};
use super::totp::TotpSecret;
use super::{MfaRecord, MfaRepository, recovery};
use crate::ids::{TenantId, UserId};
use crate::secrets::{SecretPurpose, Vault};
use crate::sessions::{LoginThrottle, ThrottleKeys};
use crate::tenancy::TenantContext;
use crate::users::{Role, User, UserRepository, password};
use crate::{Error, FieldError, Result};

/// What an enrolment shows once: the secret for the app, as a URI to scan and as text to type.
#[derive(Debug)]
pub struct Enrolment {
    /// The `otpauth://totp/…` URI (the QR code's content).
    pub otpauth_uri: SecretString,
    /// The base32 secret, for manual entry.
    pub secret: SecretString,
}

/// TOTP MFA for staff.
#[derive(Debug, Clone)]
pub struct MfaService {
    mfa: Arc<dyn MfaRepository>,
    users: Arc<dyn UserRepository>,
    vault: Vault,
    throttle: LoginThrottle,
}

fn wrong_code() -> Error {
    Error::invalid("code", "incorrect", "the code is incorrect or already used")
}

fn now_unix() -> u64 {
    u64::try_from(Utc::now().timestamp()).unwrap_or(0)
}

fn staff_of(ctx: &TenantContext) -> Result<UserId> {
    ctx.user_id()
        .ok_or_else(|| Error::Forbidden("only staff members have MFA".to_owned()))
}

impl MfaService {
    /// A service over `mfa` state and `users`, sealing with `vault`, counting failures in
    /// `throttle`.
    pub fn new(
        mfa: Arc<dyn MfaRepository>,
        users: Arc<dyn UserRepository>,
        vault: Vault,
        throttle: LoginThrottle,
    ) -> Self {
        Self {
            mfa,
            users,
            vault,
            throttle,
        }
    }

    /// Whether `user` has confirmed MFA (and so needs a code to log in).
    pub async fn is_enabled(&self, tenant: TenantId, user: UserId) -> Result<bool> {
        Ok(self
            .mfa
            .find_in_tenant(tenant, user)
            .await?
            .is_some_and(|record| record.confirmed_at.is_some()))
    }

    /// Starts an enrolment for the caller with a fresh secret (replacing an unconfirmed one),
    /// labelled `issuer` in their app.
    ///
    /// # Errors
    /// `Conflict { code: "mfa_already_enabled" }` when MFA is already on.
    #[tracing::instrument(skip_all, fields(tenant_id = %ctx.tenant_id()))]
    pub async fn begin_enrolment(&self, ctx: &TenantContext, issuer: &str) -> Result<Enrolment> {
        let tenant = ctx.tenant_id();
        let user_id = staff_of(ctx)?;
        let user = self
            .users
            .find_in_tenant(tenant, user_id)
            .await?
            .ok_or(Error::NotFound { resource: "user" })?;
        let secret = TotpSecret::generate();
        let sealed = self
            .vault
            .seal(tenant, SecretPurpose::TotpSecret, secret.as_secret())
            .await?;
        self.mfa.begin_in_tenant(tenant, user_id, sealed).await?;
        Ok(Enrolment {
            otpauth_uri: secret.otpauth_uri(issuer, user.email.as_str())?,
            secret: secret.as_secret().clone(),
        })
    }

    /// Confirms the caller's enrolment with a code from their app; returns the recovery codes
    /// (shown once, stored as digests).
    ///
    /// # Errors
    /// `Validation` on `code` when it is wrong; `Conflict { code: "no_enrolment" }` when no
    /// enrolment is in progress.
    #[tracing::instrument(skip_all, fields(tenant_id = %ctx.tenant_id()))]
    pub async fn confirm_enrolment(&self, ctx: &TenantContext, code: &str) -> Result<Vec<String>> {
        let tenant = ctx.tenant_id();
        let user = staff_of(ctx)?;
        let no_enrolment = || Error::Conflict {
            code: "no_enrolment",
            detail: "start an enrolment first".to_owned(),
        };
        let record = self
            .mfa
            .find_in_tenant(tenant, user)
            .await?
            .filter(|record| record.confirmed_at.is_none())
            .ok_or_else(no_enrolment)?;
        let step = self
            .secret_of(tenant, &record)
            .await?
            .matching_step(code, now_unix())?
            .ok_or_else(wrong_code)?;
        let codes = recovery::generate();
        let digests = codes.iter().map(|code| recovery::digest(code)).collect();
        let step = i64::try_from(step).map_err(Error::internal)?;
        if !self
            .mfa
            .confirm_in_tenant(tenant, user, step, digests)
            .await?
        {
            return Err(no_enrolment());
        }
        tracing::info!(user_id = %user, "MFA enabled");
        Ok(codes)
    }

    /// The pending state after a correct password of a user with MFA.
    pub async fn pending_login(&self, tenant: TenantId, user: UserId) -> Result<PendingLogin> {
        pending::issue(&self.vault, tenant, user).await
    }

    /// Completes a pending login with a TOTP or recovery code; returns the user to start a
    /// session for.
    ///
    /// # Errors
    /// `Unauthenticated` for an expired or forged pending token, a wrong or replayed code, or a
    /// user who is gone; `RateLimited` after too many failures.
    #[tracing::instrument(skip_all, fields(tenant_id = %tenant))]
    pub async fn complete_login(
        &self,
        tenant: TenantId,
        pending_token: &str,
        code: &str,
        client_ip: IpAddr,
    ) -> Result<User> {
        let user_id = pending::open(&self.vault, tenant, pending_token).await?;
        if !self.check_code(tenant, user_id, code, client_ip).await? {
            return Err(Error::Unauthenticated);
        }
        match self.users.find_in_tenant(tenant, user_id).await? {
            Some(user) if user.active => Ok(user),
            _ => Err(Error::Unauthenticated),
        }
    }

    /// Turns the caller's MFA off, which takes their password and a current code.
    ///
    /// # Errors
    /// `Validation` on `current_password` or `code` when wrong; `RateLimited` after too many
    /// failed codes.
    #[tracing::instrument(skip_all, fields(tenant_id = %ctx.tenant_id()))]
    pub async fn disable(
        &self,
        ctx: &TenantContext,
        current_password: SecretString,
        code: &str,
        client_ip: IpAddr,
    ) -> Result<()> {
        let tenant = ctx.tenant_id();
        let user_id = staff_of(ctx)?;
        let user = self
            .users
            .find_in_tenant(tenant, user_id)
            .await?
            .ok_or(Error::NotFound { resource: "user" })?;
        let hash = self
            .users
            .credentials_in_tenant(tenant, &user.email)
            .await?
            .map(|(_, hash)| hash);
        if !password::verify(current_password, hash).await? {
            return Err(Error::Validation(vec![FieldError::new(
                "current_password",
                "incorrect",
                "the current password is incorrect",
            )]));
        }
        if !self.check_code(tenant, user_id, code, client_ip).await? {
            return Err(wrong_code());
        }
        self.mfa.remove_in_tenant(tenant, user_id).await?;
        tracing::info!(user_id = %user_id, "MFA turned off");
        Ok(())
    }

    /// Removes staff member `id`'s MFA for them (a lost phone and no recovery codes), recorded
    /// with the caller and the time. Owners and admins only; only owners for owners.
    ///
    /// # Errors
    /// `Forbidden` for other roles, or an admin resetting an owner; `NotFound` for a user of
    /// another clinic.
    #[tracing::instrument(skip_all, fields(tenant_id = %ctx.tenant_id()))]
    pub async fn reset_for(&self, ctx: &TenantContext, id: UserId) -> Result<()> {
        ctx.require_manager()?;
        let by = staff_of(ctx)?;
        let tenant = ctx.tenant_id();
        let target = self
            .users
            .find_in_tenant(tenant, id)
            .await?
            .ok_or(Error::NotFound { resource: "user" })?;
        if target.role == Role::Owner && ctx.role() != Some(Role::Owner) {
            return Err(Error::Forbidden(
                "only an owner can reset an owner's MFA".to_owned(),
            ));
        }
        self.mfa.reset_in_tenant(tenant, id, by).await?;
        tracing::info!(user_id = %id, reset_by = %by, "MFA reset by a manager");
        Ok(())
    }

    /// Whether `code` is a current, unused TOTP code or an unused recovery code of `user`'s
    /// confirmed MFA, counting failures (and refusing once locked).
    async fn check_code(
        &self,
        tenant: TenantId,
        user: UserId,
        code: &str,
        client_ip: IpAddr,
    ) -> Result<bool> {
        let keys = ThrottleKeys::mfa(tenant, user, client_ip);
        let delay = self.throttle.admit(&keys).await?;
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let accepted = match self.mfa.find_in_tenant(tenant, user).await? {
            Some(record) if record.confirmed_at.is_some() => {
                self.accept(tenant, user, &record, code).await?
            }
            _ => false,
        };
        if accepted {
            self.throttle.succeeded(&keys).await?;
        } else {
            self.throttle.failed(&keys).await?;
        }
        Ok(accepted)
    }

    async fn accept(
        &self,
        tenant: TenantId,
        user: UserId,
        record: &MfaRecord,
        code: &str,
    ) -> Result<bool> {
        if recovery::looks_like_one(code) {
            return self
                .mfa
                .spend_recovery_code_in_tenant(tenant, user, &recovery::digest(code))
                .await;
        }
        let Some(step) = self
            .secret_of(tenant, record)
            .await?
            .matching_step(code, now_unix())?
        else {
            return Ok(false);
        };
        let step = i64::try_from(step).map_err(Error::internal)?;
        self.mfa.accept_step_in_tenant(tenant, user, step).await
    }

    async fn secret_of(&self, tenant: TenantId, record: &MfaRecord) -> Result<TotpSecret> {
        let secret = self
            .vault
            .open(tenant, SecretPurpose::TotpSecret, &record.secret)
            .await?;
        Ok(TotpSecret::from_stored(secret))
    }
}
