//! The sealed body of an arrived appointment: what rendering its `appointment.completed` needs
//! when only time has passed (no new version from Cliniko to render). Patient data: sealed with
//! the clinic's data key, and kept only until the appointment completes.

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};

use crate::cliniko::{Appointment, ClinikoId};
use crate::ids::TenantId;
use crate::secrets::{SealedSecret, SecretPurpose, Vault};
use crate::{Error, Result};

/// The fields an appointment's public shape shows.
#[derive(Serialize, Deserialize)]
struct Body {
    id: ClinikoId,
    starts_at: DateTime<Utc>,
    ends_at: Option<DateTime<Utc>>,
    patient_id: Option<ClinikoId>,
    practitioner_id: Option<ClinikoId>,
    business_id: Option<ClinikoId>,
    appointment_type_id: Option<ClinikoId>,
    notes: Option<String>,
    cancelled_at: Option<DateTime<Utc>>,
    cancellation_reason: Option<i64>,
    cancellation_note: Option<String>,
    did_not_arrive: Option<bool>,
    patient_arrived: Option<bool>,
    archived_at: Option<DateTime<Utc>>,
    deleted_at: Option<DateTime<Utc>>,
    created_at: Option<DateTime<Utc>>,
    updated_at: Option<DateTime<Utc>>,
}

/// Seals what rendering `appointment` later needs.
pub(super) async fn seal(
    vault: &Vault,
    tenant: TenantId,
    appointment: &Appointment,
) -> Result<SealedSecret> {
    let a = appointment.clone();
    let body = Body {
        id: a.id,
        starts_at: a.starts_at,
        ends_at: a.ends_at,
        patient_id: a.patient_id,
        practitioner_id: a.practitioner_id,
        business_id: a.business_id,
        appointment_type_id: a.appointment_type_id,
        notes: a.notes,
        cancelled_at: a.cancelled_at,
        cancellation_reason: a.cancellation_reason,
        cancellation_note: a.cancellation_note,
        did_not_arrive: a.did_not_arrive,
        patient_arrived: a.patient_arrived,
        archived_at: a.archived_at,
        deleted_at: a.deleted_at,
        created_at: a.created_at,
        updated_at: a.updated_at,
    };
    let json = serde_json::to_string(&body).map_err(Error::internal)?;
    vault
        .seal(
            tenant,
            SecretPurpose::PollSnapshot,
            &SecretString::from(json),
        )
        .await
}

/// Opens a body sealed by [`seal`].
pub(super) async fn open(
    vault: &Vault,
    tenant: TenantId,
    sealed: &SealedSecret,
) -> Result<Appointment> {
    let json = vault
        .open(tenant, SecretPurpose::PollSnapshot, sealed)
        .await?;
    let body: Body = serde_json::from_str(json.expose_secret())
        .map_err(|_| Error::internal("a sealed appointment body is malformed"))?;
    Ok(Appointment {
        ends_at: body.ends_at,
        patient_id: body.patient_id,
        practitioner_id: body.practitioner_id,
        business_id: body.business_id,
        appointment_type_id: body.appointment_type_id,
        notes: body.notes,
        cancelled_at: body.cancelled_at,
        cancellation_reason: body.cancellation_reason,
        cancellation_note: body.cancellation_note,
        did_not_arrive: body.did_not_arrive,
        patient_arrived: body.patient_arrived,
        archived_at: body.archived_at,
        deleted_at: body.deleted_at,
        created_at: body.created_at,
        updated_at: body.updated_at,
        ..Appointment::new(body.id, body.starts_at)
    })
}
