//! The clinic-wide choices an owner makes about staff sign-in and partners: whether every staff
//! member must use two-step login ([`ClinicSettings::mfa_required`]), and which Cliniko patient
//! field a partner's own id is also written into ([`PartnerIdField`]). Reading them is for any
//! staff member of the clinic (the login gate reads them on every request); changing them is for
//! owners only, as they decide how the whole clinic signs in.

use std::sync::Arc;

use async_trait::async_trait;

use crate::ids::TenantId;
use crate::tenancy::{Actor, TenantContext};
use crate::users::Role;
use crate::{Error, Result};

/// A Cliniko patient field a partner's id may be written into, so Cliniko's own users see it.
///
/// A closed list: only free-text fields with no clinical meaning, which ClinicGate may overwrite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartnerIdField {
    /// `old_reference_id`, Cliniko's "reference from a previous system" field.
    OldReferenceId,
}

impl PartnerIdField {
    /// The Cliniko field's name (also the stored and API value).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::OldReferenceId => "old_reference_id",
        }
    }

    /// Parses a field name; `None` for a field that may not be written.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "old_reference_id" => Some(Self::OldReferenceId),
            _ => None,
        }
    }

    /// Parses the field name a caller sent.
    ///
    /// # Errors
    /// `Validation` on `partner_id_field` for any other name.
    pub fn from_input(value: &str) -> Result<Self> {
        Self::parse(value).ok_or_else(|| {
            Error::invalid(
                "partner_id_field",
                "unsupported_field",
                "the partner id can be written into `old_reference_id` only",
            )
        })
    }
}

/// A clinic's settings; [`Default`] for a clinic that never changed them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClinicSettings {
    /// Staff without two-step login must set it up before they can do anything else.
    pub mfa_required: bool,
    /// Where a partner's id is also written in Cliniko, if anywhere.
    pub partner_id_field: Option<PartnerIdField>,
}

/// A change to some settings; `None` leaves a setting as it is.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClinicSettingsPatch {
    /// The new value of [`ClinicSettings::mfa_required`].
    pub mfa_required: Option<bool>,
    /// The new value of [`ClinicSettings::partner_id_field`] (`Some(None)` writes none).
    pub partner_id_field: Option<Option<PartnerIdField>>,
}

impl ClinicSettingsPatch {
    /// The settings with this patch applied.
    pub fn apply(self, mut settings: ClinicSettings) -> ClinicSettings {
        if let Some(required) = self.mfa_required {
            settings.mfa_required = required;
        }
        if let Some(field) = self.partner_id_field {
            settings.partner_id_field = field;
        }
        settings
    }

    /// Whether it changes nothing.
    pub fn is_empty(&self) -> bool {
        self.mfa_required.is_none() && self.partner_id_field.is_none()
    }
}

/// Storage of clinics' settings.
#[async_trait]
pub trait ClinicSettingsRepository: Send + Sync + std::fmt::Debug {
    /// The clinic's settings ([`Default`] when it never saved any).
    async fn get(&self, tenant: TenantId) -> Result<ClinicSettings>;
    /// Stores the clinic's settings, replacing what was there.
    async fn save(&self, tenant: TenantId, settings: ClinicSettings) -> Result<()>;
}

/// Reads and changes clinics' settings.
#[derive(Debug, Clone)]
pub struct ClinicSettingsService {
    repo: Arc<dyn ClinicSettingsRepository>,
}

impl ClinicSettingsService {
    /// Uses `repo`.
    pub fn new(repo: Arc<dyn ClinicSettingsRepository>) -> Self {
        Self { repo }
    }

    /// The settings of the clinic `tenant`. Takes a bare id because the login gate reads them
    /// before the session's context is handed to anything.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn of_clinic(&self, tenant: TenantId) -> Result<ClinicSettings> {
        self.repo.get(tenant).await
    }

    /// The settings of the caller's clinic.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn get(&self, ctx: &TenantContext) -> Result<ClinicSettings> {
        self.repo.get(ctx.tenant_id()).await
    }

    /// Changes the caller's clinic's settings; owners only.
    ///
    /// # Errors
    /// `Forbidden` for anyone but an owner, `Validation` for an empty patch.
    pub async fn update(
        &self,
        ctx: &TenantContext,
        patch: ClinicSettingsPatch,
    ) -> Result<ClinicSettings> {
        require_owner(ctx)?;
        if patch.is_empty() {
            return Err(Error::invalid(
                "body",
                "nothing_to_change",
                "send `mfa_required` or `partner_id_field`",
            ));
        }
        let settings = patch.apply(self.repo.get(ctx.tenant_id()).await?);
        self.repo.save(ctx.tenant_id(), settings).await?;
        Ok(settings)
    }
}

/// Only owners decide how the whole clinic signs in and what partners write into Cliniko.
fn require_owner(ctx: &TenantContext) -> Result<()> {
    ctx.require_manager()?;
    match ctx.actor() {
        Actor::Staff {
            role: Role::Owner, ..
        } => Ok(()),
        _ => Err(Error::Forbidden(
            "only the clinic's owners can change these settings".to_owned(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::UserId;

    #[test]
    fn a_patch_changes_only_what_it_names() {
        let before = ClinicSettings {
            mfa_required: true,
            partner_id_field: Some(PartnerIdField::OldReferenceId),
        };
        let cleared = ClinicSettingsPatch {
            mfa_required: None,
            partner_id_field: Some(None),
        }
        .apply(before);
        assert!(cleared.mfa_required);
        assert_eq!(cleared.partner_id_field, None);
        assert!(ClinicSettingsPatch::default().is_empty());
    }

    #[test]
    fn only_known_free_text_fields_may_hold_a_partner_id() {
        assert_eq!(
            PartnerIdField::parse("old_reference_id"),
            Some(PartnerIdField::OldReferenceId)
        );
        assert!(PartnerIdField::from_input("notes").is_err());
        assert!(PartnerIdField::from_input("").is_err());
    }

    #[test]
    fn only_owners_change_the_settings() {
        let ctx = |role| TenantContext::new(TenantId::new(), UserId::new(), role);
        assert!(require_owner(&ctx(Role::Owner)).is_ok());
        assert!(matches!(
            require_owner(&ctx(Role::Admin)),
            Err(Error::Forbidden(_))
        ));
        assert!(matches!(
            require_owner(&ctx(Role::Clinician)),
            Err(Error::Forbidden(_))
        ));
    }
}
