//! `GET /api/tenant/patients/{id}`: a patient's chart as JSON for the clinic's staff. What every
//! patient response shares (the PHI headers, the request facts the access ledger records, the
//! optional `Server-Timing`) is in [`crate::http::phi`], shared with the patient pages.

use std::time::Instant;

use actix_web::http::StatusCode;

use actix_web::{HttpRequest, HttpResponse, ResponseError as _, get, web};
use chrono::{DateTime, NaiveDate, Utc};
use clinicgate_core::cliniko::{ClinikoId, MedicalAlert, Patient, PhoneNumber};
use clinicgate_core::ledger::Channel;
use clinicgate_core::patients::{PatientChart, Visit, age_on};
use serde::Serialize;
use utoipa::ToSchema;

use crate::http::phi::{phi_headers, request_meta, server_timing};
use crate::http::problem::ApiError;
use crate::http::responses::{ClinikoErrors, SessionErrors, route_problems};
use crate::sessions::Authenticated;
use crate::state::AppState;

/// A Cliniko patient id as a request carries it: a positive integer of at most 19 digits.
pub fn parse_patient_id(raw: Option<&str>) -> Option<ClinikoId> {
    raw.and_then(ClinikoId::parse)
}

/// One phone number.
#[derive(Debug, Serialize, ToSchema)]
pub struct PhoneOut {
    /// `Mobile`, `Home`, `Work`, `Fax` or `Other`.
    pub kind: Option<String>,
    /// The number as entered in Cliniko.
    pub number: String,
}

/// A postal address.
#[derive(Debug, Serialize, ToSchema)]
pub struct PatientAddressOut {
    /// Address lines, in order, without empty ones.
    pub lines: Vec<String>,
    /// City.
    pub city: Option<String>,
    /// State or region.
    pub state: Option<String>,
    /// Post code.
    pub post_code: Option<String>,
    /// Country code (ISO 3166-1) or name.
    pub country: Option<String>,
}

/// A medical alert.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertOut {
    /// Cliniko's id.
    pub id: String,
    /// What to be alert to, e.g. `Penicillin allergy`.
    pub name: String,
}

/// An appointment with its names and local time.
#[derive(Debug, Serialize, ToSchema)]
pub struct PatientAppointmentOut {
    /// Cliniko's id.
    pub id: String,
    /// Start, with the business's UTC offset (e.g. `2026-11-24T09:30:00+11:00`).
    pub starts_at: String,
    /// End, with the business's UTC offset.
    pub ends_at: Option<String>,
    /// The business's IANA time zone the times are given in.
    pub time_zone: String,
    /// `booked`, `arrived`, `did_not_arrive` or `cancelled`.
    pub status: &'static str,
    /// Practitioner's name.
    pub practitioner: Option<String>,
    /// Business (location) name.
    pub business: Option<String>,
    /// Appointment type's name.
    pub appointment_type: Option<String>,
    /// Why it was cancelled, for cancelled appointments.
    pub cancellation_reason: Option<String>,
}

/// A patient as the patient page shows it. Patient data: served with `Cache-Control:
/// no-store`, and every response is recorded in the clinic's access ledger.
#[derive(Debug, Serialize, ToSchema)]
pub struct PatientOut {
    /// Cliniko's id (a string: Cliniko ids exceed 2^53).
    #[schema(example = "836447129235883061")]
    pub id: String,
    /// Title, e.g. `Ms`.
    pub title: Option<String>,
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// The name the patient prefers.
    pub preferred_first_name: Option<String>,
    /// Pronouns.
    pub pronouns: Option<String>,
    /// Date of birth.
    pub date_of_birth: Option<NaiveDate>,
    /// Age in whole years today (UTC).
    pub age: Option<u32>,
    /// Sex.
    pub sex: Option<String>,
    /// Gender identity.
    pub gender_identity: Option<String>,
    /// Phone numbers.
    pub phones: Vec<PhoneOut>,
    /// E-mail address.
    pub email: Option<String>,
    /// Postal address, if any part is known.
    pub address: Option<PatientAddressOut>,
    /// Emergency contact (free text).
    pub emergency_contact: Option<String>,
    /// When Cliniko archived the patient, if it did.
    pub archived_at: Option<DateTime<Utc>>,
    /// Medical alerts.
    pub medical_alerts: Vec<AlertOut>,
    /// The next appointments (up to 10), soonest first.
    pub upcoming_appointments: Vec<PatientAppointmentOut>,
    /// The latest past appointments (up to 10), most recent first.
    pub recent_appointments: Vec<PatientAppointmentOut>,
    /// The patient in Cliniko's web app (absent when the connected key may not read the
    /// account's settings).
    pub cliniko_url: Option<String>,
}

fn phone(p: &PhoneNumber) -> Option<PhoneOut> {
    Some(PhoneOut {
        kind: p.phone_type.clone(),
        number: p.number.clone()?,
    })
}

fn address(p: &Patient) -> Option<PatientAddressOut> {
    let lines: Vec<String> = [&p.address_1, &p.address_2, &p.address_3]
        .into_iter()
        .flatten()
        .cloned()
        .collect();
    let country = p.country_code.clone().or_else(|| p.country.clone());
    let empty = lines.is_empty()
        && p.city.is_none()
        && p.state.is_none()
        && p.post_code.is_none()
        && country.is_none();
    (!empty).then(|| PatientAddressOut {
        lines,
        city: p.city.clone(),
        state: p.state.clone(),
        post_code: p.post_code.clone(),
        country,
    })
}

fn alert(a: &MedicalAlert) -> AlertOut {
    AlertOut {
        id: a.id.to_string(),
        name: a.name.clone().unwrap_or_default(),
    }
}

fn appointment(v: &Visit) -> PatientAppointmentOut {
    let a = &v.appointment;
    PatientAppointmentOut {
        id: a.id.to_string(),
        starts_at: v.local_start().to_rfc3339(),
        ends_at: v.local_end().map(|end| end.to_rfc3339()),
        time_zone: v.time_zone.name().to_owned(),
        status: v.status(),
        practitioner: v.practitioner.clone(),
        business: v.business.clone(),
        appointment_type: v.appointment_type.clone(),
        cancellation_reason: a
            .cancellation_reason_description
            .clone()
            .filter(|_| a.cancelled_at.is_some()),
    }
}

impl From<&PatientChart> for PatientOut {
    fn from(chart: &PatientChart) -> Self {
        let p = &chart.patient;
        Self {
            id: p.id.to_string(),
            title: p.title.clone(),
            first_name: p.first_name.clone(),
            last_name: p.last_name.clone(),
            preferred_first_name: p.preferred_first_name.clone(),
            pronouns: p.pronouns.clone(),
            date_of_birth: p.date_of_birth,
            age: p
                .date_of_birth
                .and_then(|dob| age_on(dob, Utc::now().date_naive())),
            sex: p.sex.clone(),
            gender_identity: p.gender_identity.clone(),
            phones: p.phones().iter().filter_map(phone).collect(),
            email: p.email.clone(),
            address: address(p),
            emergency_contact: p.emergency_contact.clone(),
            archived_at: p.archived_at,
            medical_alerts: chart.alerts.iter().map(alert).collect(),
            upcoming_appointments: chart.upcoming.iter().map(appointment).collect(),
            recent_appointments: chart.recent.iter().map(appointment).collect(),
            cliniko_url: chart.cliniko_url.clone(),
        }
    }
}

/// The problem for a clinic that has not connected Cliniko.
pub fn not_connected() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "cliniko_not_connected",
        "this clinic has not connected Cliniko; an owner or admin can connect it under Settings → Cliniko",
    )
}

route_problems!(
    /// What `GET /api/tenant/patients/{id}` answers itself.
    GetPatientProblems {
        400 => "The id is not a Cliniko id (`invalid_patient_id`)",
        404 => "No such patient in this clinic's Cliniko",
        503 => "The access could not be recorded, so nothing is shown",
    }
);

/// One patient's chart from the clinic's Cliniko: demographics, contact details, medical alerts,
/// upcoming and recent appointments (times in each business's time zone). Every successful
/// response is recorded in the clinic's access ledger (channel `json`); if it cannot be recorded
/// the data is not returned (503).
#[utoipa::path(
    tag = "patients",
    params(("id" = String, Path, description = "The patient's Cliniko id: a positive integer of at most 19 digits", example = "836447129235883061")),
    responses(
        (status = 200, description = "The patient (with `Cache-Control: no-store`)", body = PatientOut),
        SessionErrors, ClinikoErrors,
        GetPatientProblems,
    ),
    security(("session" = []))
)]
#[get("/api/tenant/patients/{id}")]
pub async fn get_patient(
    req: HttpRequest,
    auth: Authenticated,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> HttpResponse {
    let started = Instant::now();
    let result = async {
        let id = parse_patient_id(Some(id.as_str())).ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_patient_id",
                "a patient id is Cliniko's id: a positive integer of at most 19 digits",
            )
        })?;
        let meta = request_meta(&req, &state);
        state
            .patients
            .chart(auth.ctx(), &id, Channel::Json, &meta)
            .await?
            .ok_or_else(not_connected)
    }
    .await;
    let (mut response, cliniko) = match result {
        Ok(chart) => (
            HttpResponse::Ok().json(PatientOut::from(&chart)),
            Some(chart.cliniko_time),
        ),
        Err(err) => (err.error_response(), None),
    };
    phi_headers(&mut response);
    server_timing(&mut response, &state, started, cliniko);
    response
}
