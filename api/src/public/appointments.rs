//! Appointments: `POST /api/public/appointments` and `PATCH /api/public/appointments/{id}`
//! (`appointments:write`, with an `Idempotency-Key`), and `GET …/{id}/status`
//! (`appointments:read`; reading and listing are in `appointment_reads`). Bookings and
//! reschedules go through the booking guard (`clinicgate_core::booking`); every answer is
//! `Cache-Control: no-store` (patient data).

use std::collections::BTreeSet;

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, patch, post, web};
use chrono::{DateTime, Days, Utc};
use chrono_tz::Tz;
use clinicgate_core::booking::{
    AppointmentChange, AppointmentStatus, BookedAppointment, BookingRequest, NewPatient,
    PatientChoice,
};
use clinicgate_core::cliniko::{Appointment, Cancellation, CancellationReason, ClinikoId};
use clinicgate_core::ledger::{Categories, Category, Channel};
use clinicgate_core::tenancy::TenantContext;
use clinicgate_core::{Error, FieldError};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::idempotent::{Answer, key_of, run_once};
use super::listing::{check, local, parse_date, parse_id, parse_time, utc};
use super::{ApiCaller, AppointmentsRead, AppointmentsWrite};
use crate::http::extract::invalid_body;
use crate::http::phi::request_meta;
use crate::http::problem::ApiError;
use crate::http::responses::{BearerErrors, ClinikoErrors, JsonBodyErrors, route_problems};
use crate::state::AppState;

/// The longest notes accepted.
pub const MAX_NOTES: usize = 4000;

/// Someone to book for who may not be a patient of the clinic yet: matched to an existing
/// Cliniko patient by e-mail and date of birth, else created.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"first_name": "Jane", "last_name": "Citizen", "date_of_birth": "1984-03-02", "email": "jane@example.org", "phone": "+61 444 444 444"}))]
pub struct PatientIn {
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Date of birth, `YYYY-MM-DD`.
    pub date_of_birth: String,
    /// E-mail; with the date of birth, how an existing patient is recognised.
    pub email: Option<String>,
    /// Mobile phone number.
    pub phone: Option<String>,
}

/// A booking. Give exactly one of `patient_id` and `patient`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "doctor_id": "836447129235007919", "clinic_id": "836447129235031676",
    "appointment_type_id": "836447129235023757", "starts_at": "2030-05-21T23:00:00Z",
    "notes": "First visit, referred by GP",
    "patient": {"first_name": "Jane", "last_name": "Citizen", "date_of_birth": "1984-03-02", "email": "jane@example.org"}
}))]
pub struct AppointmentIn {
    /// The doctor.
    pub doctor_id: String,
    /// The clinic.
    pub clinic_id: String,
    /// The appointment type.
    pub appointment_type_id: String,
    /// The start, RFC 3339 (any offset): one of the slots' `starts_at`.
    pub starts_at: String,
    /// Notes for the clinic.
    pub notes: Option<String>,
    /// An existing patient of the clinic.
    pub patient_id: Option<String>,
    /// A person to match or create as a patient.
    pub patient: Option<PatientIn>,
}

/// Why an appointment is cancelled (Cliniko's reasons).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CancellationReasonIn {
    /// Feeling better (Cliniko 10).
    FeelingBetter,
    /// Condition worse (20).
    ConditionWorse,
    /// Sick (30).
    Sick,
    /// COVID-19 related (31).
    #[serde(rename = "covid_19")]
    Covid19,
    /// Away (40).
    Away,
    /// Other (50).
    Other,
    /// Work (60).
    Work,
}

impl From<CancellationReasonIn> for CancellationReason {
    fn from(reason: CancellationReasonIn) -> Self {
        match reason {
            CancellationReasonIn::FeelingBetter => Self::FeelingBetter,
            CancellationReasonIn::ConditionWorse => Self::ConditionWorse,
            CancellationReasonIn::Sick => Self::Sick,
            CancellationReasonIn::Covid19 => Self::Covid19Related,
            CancellationReasonIn::Away => Self::Away,
            CancellationReasonIn::Other => Self::Other,
            CancellationReasonIn::Work => Self::Work,
        }
    }
}

impl From<CancellationReason> for CancellationReasonIn {
    fn from(reason: CancellationReason) -> Self {
        match reason {
            CancellationReason::FeelingBetter => Self::FeelingBetter,
            CancellationReason::ConditionWorse => Self::ConditionWorse,
            CancellationReason::Sick => Self::Sick,
            CancellationReason::Covid19Related => Self::Covid19,
            CancellationReason::Away => Self::Away,
            CancellationReason::Other => Self::Other,
            CancellationReason::Work => Self::Work,
        }
    }
}

/// A change: `starts_at` (reschedule, guarded like a booking) and/or `notes`; or `cancelled:
/// true` with a `cancellation_reason` (and optionally a note), alone.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"cancelled": true, "cancellation_reason": "sick", "cancellation_note": "Flu"}))]
pub struct AppointmentPatchIn {
    /// A new start, RFC 3339: one of the slots' `starts_at`.
    pub starts_at: Option<String>,
    /// New notes.
    pub notes: Option<String>,
    /// `true` cancels the appointment.
    pub cancelled: Option<bool>,
    /// Required with `cancelled`.
    pub cancellation_reason: Option<CancellationReasonIn>,
    /// Optional with `cancelled`.
    pub cancellation_note: Option<String>,
}

/// Where an appointment stands, derived from Cliniko's fields: `cancelled` (cancelled, archived or
/// deleted), `did_not_arrive` (marked so), `completed` (arrived and the end has passed),
/// `arrived` (arrived, not yet ended), else `booked`.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StatusOut {
    /// Booked and not yet attended.
    Booked,
    /// Cancelled.
    Cancelled,
    /// The patient has arrived.
    Arrived,
    /// The patient did not come.
    DidNotArrive,
    /// Attended and over.
    Completed,
}

impl From<AppointmentStatus> for StatusOut {
    fn from(status: AppointmentStatus) -> Self {
        match status {
            AppointmentStatus::Booked => Self::Booked,
            AppointmentStatus::Cancelled => Self::Cancelled,
            AppointmentStatus::Arrived => Self::Arrived,
            AppointmentStatus::DidNotArrive => Self::DidNotArrive,
            AppointmentStatus::Completed => Self::Completed,
        }
    }
}

/// An appointment.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "836447129235991234", "status": "booked",
    "doctor_id": "836447129235007919", "clinic_id": "836447129235031676",
    "appointment_type_id": "836447129235023757", "patient_id": "836447129235555555",
    "starts_at": "2030-05-21T23:00:00Z", "ends_at": "2030-05-21T23:30:00Z",
    "starts_at_local": "2030-05-22T09:00:00+10:00", "ends_at_local": "2030-05-22T09:30:00+10:00",
    "time_zone": "Australia/Sydney", "notes": "First visit, referred by GP",
    "cancelled_at": null, "cancellation_reason": null, "cancellation_note": null,
    "created_at": "2030-05-01T10:00:00Z", "updated_at": "2030-05-01T10:00:00Z"
}))]
pub struct AppointmentOut {
    /// Cliniko's appointment id.
    pub id: String,
    /// Where it stands.
    pub status: StatusOut,
    /// The doctor.
    pub doctor_id: Option<String>,
    /// The clinic.
    pub clinic_id: Option<String>,
    /// The appointment type.
    pub appointment_type_id: Option<String>,
    /// The patient.
    pub patient_id: Option<String>,
    /// Start, UTC.
    pub starts_at: String,
    /// End, UTC.
    pub ends_at: Option<String>,
    /// Start in the clinic's time zone.
    pub starts_at_local: String,
    /// End in the clinic's time zone.
    pub ends_at_local: Option<String>,
    /// The clinic's IANA time zone.
    pub time_zone: String,
    /// Notes.
    pub notes: Option<String>,
    /// When cancelled, UTC.
    pub cancelled_at: Option<String>,
    /// Why cancelled.
    pub cancellation_reason: Option<CancellationReasonIn>,
    /// Cancellation note.
    pub cancellation_note: Option<String>,
    /// Created, UTC.
    pub created_at: Option<String>,
    /// Last changed, UTC.
    pub updated_at: Option<String>,
}

fn id_text(id: Option<&ClinikoId>) -> Option<String> {
    id.map(ToString::to_string)
}

impl AppointmentOut {
    fn new(appointment: Appointment, zone: Tz) -> Self {
        let status = AppointmentStatus::of(&appointment, Utc::now()).into();
        Self {
            id: appointment.id.to_string(),
            status,
            doctor_id: id_text(appointment.practitioner_id.as_ref()),
            clinic_id: id_text(appointment.business_id.as_ref()),
            appointment_type_id: id_text(appointment.appointment_type_id.as_ref()),
            patient_id: id_text(appointment.patient_id.as_ref()),
            starts_at: utc(appointment.starts_at),
            ends_at: appointment.ends_at.map(utc),
            starts_at_local: local(appointment.starts_at, zone),
            ends_at_local: appointment.ends_at.map(|at| local(at, zone)),
            time_zone: zone.name().to_owned(),
            notes: appointment.notes,
            cancelled_at: appointment.cancelled_at.map(utc),
            cancellation_reason: appointment
                .cancellation_reason
                .and_then(CancellationReason::from_code)
                .map(CancellationReasonIn::from),
            cancellation_note: appointment.cancellation_note,
            created_at: appointment.created_at.map(utc),
            updated_at: appointment.updated_at.map(utc),
        }
    }
}

impl From<BookedAppointment> for AppointmentOut {
    fn from(booked: BookedAppointment) -> Self {
        Self::new(booked.appointment, booked.time_zone)
    }
}

/// Records in the PHI access ledger that a response discloses patients' appointments (their
/// notes and times, by patient id) to the API client, before the response is sent: an
/// appointment whose disclosure cannot be recorded is not shown.
pub(super) async fn record_disclosure(
    state: &AppState,
    ctx: &TenantContext,
    req: &HttpRequest,
    shown: &[BookedAppointment],
) -> Result<(), Error> {
    let patients: Vec<ClinikoId> = shown
        .iter()
        .filter_map(|booked| booked.appointment.patient_id.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if patients.is_empty() {
        return Ok(());
    }
    state
        .ledger
        .record(
            ctx,
            Channel::Api,
            Categories::of(&[Category::Appointments]),
            &patients,
            &request_meta(req, state),
        )
        .await
}

/// An appointment's status.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "836447129235991234", "status": "cancelled", "starts_at": "2030-05-21T23:00:00Z", "updated_at": "2030-05-02T08:00:00Z"}))]
pub struct AppointmentStatusOut {
    /// Cliniko's appointment id.
    pub id: String,
    /// Where it stands.
    pub status: StatusOut,
    /// Start, UTC.
    pub starts_at: String,
    /// Last changed, UTC.
    pub updated_at: Option<String>,
}

fn notes(raw: Option<String>, errors: &mut Vec<FieldError>) -> Option<String> {
    let notes = raw?;
    if notes.chars().count() > MAX_NOTES {
        errors.push(FieldError::new(
            "notes",
            "too_long",
            format!("notes hold at most {MAX_NOTES} characters"),
        ));
    }
    Some(notes)
}

fn field<T>(result: Result<T, FieldError>, errors: &mut Vec<FieldError>) -> Option<T> {
    result.map_err(|e| errors.push(e)).ok()
}

impl AppointmentIn {
    fn into_request(self) -> Result<BookingRequest, Error> {
        let mut errors = Vec::new();
        let doctor_id = field(parse_id("doctor_id", &self.doctor_id), &mut errors);
        let clinic_id = field(parse_id("clinic_id", &self.clinic_id), &mut errors);
        let appointment_type_id = field(
            parse_id("appointment_type_id", &self.appointment_type_id),
            &mut errors,
        );
        let starts_at = field(parse_time("starts_at", &self.starts_at), &mut errors);
        let notes = notes(self.notes, &mut errors);
        let patient = match (self.patient_id, self.patient) {
            (Some(id), None) => {
                field(parse_id("patient_id", &id), &mut errors).map(PatientChoice::Existing)
            }
            (None, Some(person)) => person_choice(person, &mut errors),
            _ => {
                errors.push(FieldError::new(
                    "patient",
                    "exactly_one",
                    "give exactly one of patient_id (an existing patient) and patient (a person to match or create)",
                ));
                None
            }
        };
        check(errors)?;
        match (
            doctor_id,
            clinic_id,
            appointment_type_id,
            starts_at,
            patient,
        ) {
            (
                Some(doctor_id),
                Some(clinic_id),
                Some(appointment_type_id),
                Some(starts_at),
                Some(patient),
            ) => Ok(BookingRequest {
                doctor_id,
                clinic_id,
                appointment_type_id,
                starts_at,
                notes,
                patient,
            }),
            // Every missing value was reported above.
            _ => Err(Error::internal(
                "a booking field passed validation without a value",
            )),
        }
    }
}

fn person_choice(person: PatientIn, errors: &mut Vec<FieldError>) -> Option<PatientChoice> {
    let born = field(
        parse_date("patient.date_of_birth", &person.date_of_birth),
        errors,
    )?;
    // A day of slack: "today" differs across time zones.
    let today = Utc::now()
        .date_naive()
        .checked_add_days(Days::new(1))
        .unwrap_or_else(|| Utc::now().date_naive());
    match NewPatient::new(
        &person.first_name,
        &person.last_name,
        born,
        person.email.as_deref(),
        person.phone.as_deref(),
        today,
    ) {
        Ok(person) => Some(PatientChoice::New(person)),
        Err(Error::Validation(found)) => {
            errors.extend(found);
            None
        }
        Err(_) => None,
    }
}

impl AppointmentPatchIn {
    fn into_change(self) -> Result<AppointmentChange, Error> {
        let mut errors = Vec::new();
        let starts_at: Option<DateTime<Utc>> = self
            .starts_at
            .as_deref()
            .and_then(|raw| field(parse_time("starts_at", raw), &mut errors));
        let notes = notes(self.notes, &mut errors);
        let change = match self.cancelled {
            Some(true) => {
                if self.starts_at.is_some() || notes.is_some() {
                    errors.push(FieldError::new(
                        "cancelled",
                        "exclusive",
                        "cancel in a request of its own, without starts_at or notes",
                    ));
                }
                match self.cancellation_reason {
                    Some(reason) => Some(AppointmentChange::Cancel(Cancellation {
                        reason: reason.into(),
                        note: self.cancellation_note,
                    })),
                    None => {
                        errors.push(FieldError::new(
                            "cancellation_reason",
                            "required",
                            "say why: feeling_better, condition_worse, sick, covid_19, away, other or work",
                        ));
                        None
                    }
                }
            }
            Some(false) => {
                errors.push(FieldError::new(
                    "cancelled",
                    "only_true",
                    "a cancellation cannot be undone; book a new appointment instead",
                ));
                None
            }
            None => {
                if self.cancellation_reason.is_some() || self.cancellation_note.is_some() {
                    errors.push(FieldError::new(
                        "cancellation_reason",
                        "without_cancelled",
                        "send cancellation_reason and cancellation_note with cancelled: true",
                    ));
                }
                if self.starts_at.is_none() && notes.is_none() {
                    errors.push(FieldError::new(
                        "body",
                        "nothing_to_change",
                        "send starts_at and/or notes, or cancelled: true with a cancellation_reason",
                    ));
                }
                Some(AppointmentChange::Update { starts_at, notes })
            }
        };
        check(errors)?;
        change.ok_or_else(|| Error::internal("a change passed validation without a value"))
    }
}

/// The appointment id in a path; any malformed id names nothing (404).
pub(super) fn appointment_id(raw: &str) -> Result<ClinikoId, Error> {
    parse_id("id", raw).map_err(|_| Error::NotFound {
        resource: "appointment",
    })
}

fn to_value(out: &impl Serialize) -> Result<Value, Error> {
    serde_json::to_value(out).map_err(Error::internal)
}

route_problems!(
    /// What `POST /api/public/appointments` answers itself.
    CreateAppointmentProblems {
        400 => "No or a malformed `Idempotency-Key` (`idempotency_key_missing`, `invalid_idempotency_key`), or malformed JSON (`malformed_json`)",
        409 => "`slot_unavailable`, `slot_taken`, `idempotency_in_progress` or `cliniko_not_connected`",
        422 => "Invalid fields, ids that do not go together, an unknown patient, Cliniko's own validation messages (`validation_failed`, `invalid_body`), or a reused key (`idempotency_key_reused`)",
    }
);

/// Books an appointment through the booking guard: the doctor must offer the type at the
/// clinic (else 422), the start must be a free slot in Cliniko right now (else 409
/// `slot_unavailable`), only one booking of a slot runs at a time on any instance (else 409
/// `slot_taken`), and if Cliniko shows a conflict after booking (someone booked the slot
/// meanwhile in Cliniko), the new appointment is cancelled and the answer is 409 `slot_taken`.
///
/// Requires `Idempotency-Key`: a retry with the same key and body gets the same answer (with
/// `Idempotent-Replayed: true`) and books nothing; the same key with another body is 422
/// `idempotency_key_reused`. Only successful answers are kept (24 h): after an error, retry
/// with the same key.
#[utoipa::path(
    tag = "public",
    request_body = AppointmentIn,
    params(("Idempotency-Key" = String, Header, description = "A unique key per booking, e.g. a UUID; reuse it when retrying", example = "0b6f5c1e-3f7e-4c44-9c7d-2d3a0f5b8e11")),
    responses(
        (status = 201, description = "Booked", body = AppointmentOut),
        BearerErrors, JsonBodyErrors, ClinikoErrors,
        CreateAppointmentProblems,
    ),
    security(("bearer" = ["appointments:write"]))
)]
#[post("/api/public/appointments")]
pub async fn create_appointment(
    caller: ApiCaller<AppointmentsWrite>,
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let key = key_of(&req)?;
    let body = body.into_inner();
    let input: AppointmentIn =
        serde_json::from_value(body.clone()).map_err(|e| invalid_body(&e))?;
    let request = input.into_request()?;
    let ctx = caller.ctx();
    run_once(&state, ctx, &req, key, &body, || async {
        let booked = state.booking.book(ctx, request).await?;
        record_disclosure(&state, ctx, &req, std::slice::from_ref(&booked)).await?;
        let answer: Answer = Ok((
            StatusCode::CREATED,
            to_value(&AppointmentOut::from(booked))?,
        ));
        answer
    })
    .await
}

route_problems!(
    /// What `PATCH /api/public/appointments/{id}` answers itself.
    UpdateAppointmentProblems {
        400 => "No or a malformed `Idempotency-Key`, or malformed JSON",
        404 => "No such appointment in this clinic (`not_found`)",
        409 => "`appointment_cancelled`, `slot_unavailable`, `slot_taken`, `idempotency_in_progress` or `cliniko_not_connected`",
        422 => "Invalid or conflicting fields (`validation_failed`, `invalid_body`), or a reused key (`idempotency_key_reused`)",
    }
);

/// Reschedules (same guard as booking), changes notes, or cancels an appointment with one of
/// Cliniko's reasons. Requires `Idempotency-Key` (see booking). Another clinic's appointment is
/// 404.
#[utoipa::path(
    tag = "public",
    request_body = AppointmentPatchIn,
    params(
        ("id" = String, Path, description = "The appointment's id", example = "836447129235991234"),
        ("Idempotency-Key" = String, Header, description = "A unique key per change, e.g. a UUID; reuse it when retrying", example = "5f0c3a52-8f7d-4c0e-9a55-0e7d6c1b2a33"),
    ),
    responses(
        (status = 200, description = "The changed appointment", body = AppointmentOut),
        BearerErrors, JsonBodyErrors, ClinikoErrors,
        UpdateAppointmentProblems,
    ),
    security(("bearer" = ["appointments:write"]))
)]
#[patch("/api/public/appointments/{id}")]
pub async fn update_appointment(
    caller: ApiCaller<AppointmentsWrite>,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let key = key_of(&req)?;
    let id = appointment_id(&id)?;
    let body = body.into_inner();
    let input: AppointmentPatchIn =
        serde_json::from_value(body.clone()).map_err(|e| invalid_body(&e))?;
    let change = input.into_change()?;
    let ctx = caller.ctx();
    run_once(&state, ctx, &req, key, &body, || async {
        let changed = state.booking.change(ctx, &id, change).await?;
        record_disclosure(&state, ctx, &req, std::slice::from_ref(&changed)).await?;
        let answer: Answer = Ok((StatusCode::OK, to_value(&AppointmentOut::from(changed))?));
        answer
    })
    .await
}

route_problems!(
    /// What `GET /api/public/appointments/{id}/status` answers itself.
    AppointmentStatusProblems {
        404 => "No such appointment in this clinic (`not_found`)",
    }
);

/// An appointment's status, live from Cliniko (see `StatusOut` for how it is derived).
#[utoipa::path(
    tag = "public",
    params(("id" = String, Path, description = "The appointment's id", example = "836447129235991234")),
    responses(
        (status = 200, description = "The status", body = AppointmentStatusOut),
        BearerErrors, ClinikoErrors,
        AppointmentStatusProblems,
    ),
    security(("bearer" = ["appointments:read"]))
)]
#[get("/api/public/appointments/{id}/status")]
pub async fn appointment_status(
    caller: ApiCaller<AppointmentsRead>,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = appointment_id(&id)?;
    let (appointment, status) = state.booking.status(caller.ctx(), &id).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(AppointmentStatusOut {
            id: appointment.id.to_string(),
            status: status.into(),
            starts_at: utc(appointment.starts_at),
            updated_at: appointment.updated_at.map(utc),
        }))
}
