//! `/api/tenant/settings`: the clinic-wide settings (see `clinicgate_core::clinic_settings`).
//! Every staff member of the clinic reads them; only owners change them.

use actix_web::{get, patch, web};
use clinicgate_core::Error;
use clinicgate_core::clinic_settings::{ClinicSettings, ClinicSettingsPatch, PartnerIdField};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::http::extract::explicit_null;
use crate::http::problem::ApiError;
use crate::http::responses::{JsonBodyErrors, SessionErrors, route_problems};
use crate::sessions::Authenticated;
use crate::state::AppState;

/// The clinic's settings.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClinicSettingsOut {
    /// Every staff member must use two-step login: those without it are sent to set it up right
    /// after logging in and can use nothing else until they have (JSON routes answer 403
    /// `mfa_enrolment_required`).
    pub mfa_required: bool,
    /// The Cliniko patient field a partner's own id is also written into when a partner creates
    /// or links a patient (`POST /api/public/patients`), so Cliniko's users see it; `null`
    /// writes it nowhere in Cliniko (ClinicGate keeps the link either way).
    #[schema(example = "old_reference_id")]
    pub partner_id_field: Option<String>,
}

impl From<ClinicSettings> for ClinicSettingsOut {
    fn from(settings: ClinicSettings) -> Self {
        Self {
            mfa_required: settings.mfa_required,
            partner_id_field: settings.partner_id_field.map(|f| f.as_str().to_owned()),
        }
    }
}

/// A change to the settings; absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClinicSettingsPatchIn {
    /// Require two-step login of every staff member.
    pub mfa_required: Option<bool>,
    /// `old_reference_id` (the only field offered), or `null` to stop writing partner ids into
    /// Cliniko.
    #[serde(default, deserialize_with = "explicit_null")]
    #[schema(value_type = Option<String>, example = "old_reference_id")]
    pub partner_id_field: Option<Option<String>>,
}

impl TryFrom<ClinicSettingsPatchIn> for ClinicSettingsPatch {
    type Error = Error;

    fn try_from(body: ClinicSettingsPatchIn) -> Result<Self, Error> {
        let partner_id_field = match body.partner_id_field {
            Some(Some(field)) => Some(Some(PartnerIdField::from_input(&field)?)),
            Some(None) => Some(None),
            None => None,
        };
        Ok(Self {
            mfa_required: body.mfa_required,
            partner_id_field,
        })
    }
}

/// The clinic's settings (any staff member).
#[utoipa::path(
    tag = "clinic",
    responses(
        (status = 200, description = "The settings", body = ClinicSettingsOut),
        SessionErrors,
    ),
    security(("session" = []))
)]
#[get("/api/tenant/settings")]
pub async fn get_clinic_settings(
    auth: Authenticated,
    state: web::Data<AppState>,
) -> Result<web::Json<ClinicSettingsOut>, ApiError> {
    Ok(web::Json(
        state.clinic_settings.get(auth.ctx()).await?.into(),
    ))
}

route_problems!(
    /// What `PATCH /api/tenant/settings` answers itself.
    UpdateClinicSettingsProblems {
        422 => "A field ClinicGate cannot write the partner id into (`partner_id_field`), or nothing to change; or JSON of the wrong shape (`invalid_body`)",
    }
);

/// Changes the clinic's settings (owners only; admins and clinicians get 403).
///
/// Requiring MFA applies at once to every session of the clinic, on every instance.
#[utoipa::path(
    tag = "clinic",
    request_body = ClinicSettingsPatchIn,
    responses(
        (status = 200, description = "Changed", body = ClinicSettingsOut),
        SessionErrors, JsonBodyErrors,
        UpdateClinicSettingsProblems,
    ),
    security(("session" = []))
)]
#[patch("/api/tenant/settings")]
pub async fn update_clinic_settings(
    auth: Authenticated,
    state: web::Data<AppState>,
    body: web::Json<ClinicSettingsPatchIn>,
) -> Result<web::Json<ClinicSettingsOut>, ApiError> {
    let patch = ClinicSettingsPatch::try_from(body.into_inner())?;
    let settings = state.clinic_settings.update(auth.ctx(), patch).await?;
    Ok(web::Json(settings.into()))
}
