//! `Appointment` writes (`appointments:write`) through the same booking guard as
//! `POST /api/public/appointments`: one booking per slot across every instance, the slot
//! checked against Cliniko's available times, conflicts found after booking undone.
//!
//! - `POST /fhir/r4/Appointment` books: status `booked`, a `Patient` participant (an existing
//!   Cliniko patient), and either one `slot` reference (a `Slot` id from a Slot search, which
//!   names the practitioner, location, service type and start) or `start` with `Practitioner`
//!   and `Location` participants and a `serviceType` coding. `If-None-Exist` (FHIR's
//!   conditional create: one match answers it with 200, several with 412) and `Idempotency-Key`
//!   (a retry gets the first answer) make retries safe.
//! - `PUT /fhir/r4/Appointment/{id}` changes what can change: `status` to `cancelled` (with a
//!   Cliniko reason coded in `cancelationReason`, else "other"), a new `start` (moved through
//!   the guard), `comment`. Other elements must stay as they are. `If-Match` guards against
//!   lost updates; putting what is already there changes nothing.

use actix_web::body::to_bytes;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, post, put, web};
use chrono::{DateTime, Utc};
use clinicgate_core::booking::{
    AppointmentChange, BookedAppointment, BookingRequest, PatientChoice,
};
use clinicgate_core::cliniko::{
    Appointment, Cancellation, CancellationReason, ClinikoId, Lane, PageRequest,
};
use clinicgate_core::tenancy::TenantContext;
use clinicgate_core::{Error, FieldError};
use serde_json::Value;

use super::appointment::{PARAMS, categories, query, to_fhir};
use super::outcome::FHIR_JSON;
use super::search::{Search, base_url, invalid};
use super::slot::SlotRef;
use super::{disclose, path_id, system, with_cliniko};
use crate::http::phi::phi_headers;
use crate::http::problem::ApiError;
use crate::public::idempotent::{Answer, key_of, run_once};
use crate::public::{ApiCaller, AppointmentsWrite, MAX_NOTES};
use crate::state::AppState;

/// FHIR's conditional create header.
const IF_NONE_EXIST: &str = "if-none-exist";

/// A body that is not a JSON resource, or whose id is not the URL's: 400.
#[derive(Debug, Clone, Copy)]
struct Malformed(&'static str);

impl From<Malformed> for ApiError {
    fn from(Malformed(why): Malformed) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "malformed_json", why)
    }
}

/// The body as a JSON object (its type is checked with the other fields).
fn resource_of(body: &[u8]) -> Result<Value, Malformed> {
    serde_json::from_slice::<Value>(body)
        .ok()
        .filter(Value::is_object)
        .ok_or(Malformed("the body is not a JSON FHIR resource"))
}

/// Collects an error unless `resource` is an `Appointment`.
fn check_type(resource: &Value, errors: &mut Vec<FieldError>) {
    if resource["resourceType"] != "Appointment" {
        errors.push(FieldError::new(
            "resourceType",
            "wrong_type",
            "send an Appointment",
        ));
    }
}

/// The id of the participant whose actor refers to a `resource`, if any (several: an error).
fn participant(resource: &Value, kind: &str, errors: &mut Vec<FieldError>) -> Option<ClinikoId> {
    let prefix = format!("{kind}/");
    let ids: Vec<&str> = resource["participant"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["actor"]["reference"].as_str())
        .filter_map(|r| r.rsplit_once(&prefix).map(|(_, id)| id))
        .collect();
    let field = format!("participant.{}", kind.to_ascii_lowercase());
    match ids.as_slice() {
        [] => None,
        [one] => {
            let id = ClinikoId::parse(one);
            if id.is_none() {
                errors.push(FieldError::new(
                    field,
                    "unknown",
                    format!("{kind}/{one} is not a {kind} of this server"),
                ));
            }
            id
        }
        _ => {
            errors.push(FieldError::new(
                field,
                "several",
                format!("an appointment has one {kind} participant"),
            ));
            None
        }
    }
}

/// The appointment type in `serviceType` (a code of this server's appointment-type system, or
/// a bare code).
fn service_type(resource: &Value) -> Option<ClinikoId> {
    let ours = system("appointment-type");
    resource["serviceType"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| c["coding"].as_array().into_iter().flatten())
        .filter(|c| c["system"].as_str().is_none_or(|s| s == ours))
        .find_map(|c| c["code"].as_str().and_then(ClinikoId::parse))
}

/// An instant element, if present (a malformed one is an error).
fn instant_of(resource: &Value, name: &str, errors: &mut Vec<FieldError>) -> Option<DateTime<Utc>> {
    let raw = resource.get(name)?;
    let parsed = raw
        .as_str()
        .and_then(|raw| DateTime::parse_from_rfc3339(raw).ok())
        .map(|at| at.with_timezone(&Utc));
    if parsed.is_none() {
        errors.push(FieldError::new(
            name,
            "invalid_instant",
            format!("{name} is a FHIR instant with a time zone, e.g. 2030-05-21T08:45:00Z"),
        ));
    }
    parsed
}

/// `comment` as Cliniko notes (bounded like the REST API's notes).
fn comment(resource: &Value, errors: &mut Vec<FieldError>) -> Option<String> {
    let comment = resource.get("comment")?;
    let Some(text) = comment.as_str() else {
        errors.push(FieldError::new("comment", "invalid", "comment is a string"));
        return None;
    };
    if text.chars().count() > MAX_NOTES {
        errors.push(FieldError::new(
            "comment",
            "too_long",
            format!("comment holds at most {MAX_NOTES} characters"),
        ));
    }
    Some(text.to_owned())
}

/// Fails with every collected error, or passes.
fn checked(errors: Vec<FieldError>) -> Result<(), Error> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::Validation(errors))
    }
}

/// The booking a new `Appointment` asks for.
fn booking_request(resource: &Value) -> Result<BookingRequest, Error> {
    let mut errors = Vec::new();
    check_type(resource, &mut errors);
    if resource["status"] != "booked" {
        errors.push(FieldError::new(
            "status",
            "only_booked",
            "a new appointment has status booked",
        ));
    }
    let patient = participant(resource, "Patient", &mut errors);
    if patient.is_none() {
        errors.push(FieldError::new(
            "participant.patient",
            "required",
            "name the patient as a participant (actor Patient/{id})",
        ));
    }
    let notes = comment(resource, &mut errors);
    let start = instant_of(resource, "start", &mut errors);
    let practitioner = participant(resource, "Practitioner", &mut errors);
    let location = participant(resource, "Location", &mut errors);
    let kind = service_type(resource);
    let slots: Vec<&Value> = resource["slot"].as_array().into_iter().flatten().collect();
    let (doctor_id, clinic_id, appointment_type_id, starts_at) = match slots.as_slice() {
        [] => {
            for (field, given) in [
                ("start", resource.get("start").is_some()),
                ("participant.practitioner", practitioner.is_some()),
                ("participant.location", location.is_some()),
                ("serviceType", kind.is_some()),
            ] {
                if !given {
                    errors.push(FieldError::new(
                        field,
                        "required",
                        "without a slot, give start, the Practitioner and Location participants \
                         and a serviceType (the appointment type)",
                    ));
                }
            }
            (practitioner, location, kind, start)
        }
        [one] => match one["reference"].as_str().and_then(SlotRef::parse) {
            Some(slot) => {
                // What the slot names decides; anything else given must agree with it.
                let agrees = start.is_none_or(|s| s == slot.starts_at)
                    && practitioner.as_ref().is_none_or(|p| *p == slot.doctor_id)
                    && location.as_ref().is_none_or(|l| *l == slot.clinic_id)
                    && kind.as_ref().is_none_or(|k| *k == slot.type_id);
                if !agrees {
                    errors.push(FieldError::new(
                        "slot",
                        "disagrees",
                        "start, participants and serviceType must match the slot",
                    ));
                }
                (
                    Some(slot.doctor_id),
                    Some(slot.clinic_id),
                    Some(slot.type_id),
                    Some(slot.starts_at),
                )
            }
            None => {
                errors.push(FieldError::new(
                    "slot",
                    "unknown",
                    "the slot reference is not a Slot of this server (search Slot to find one)",
                ));
                (None, None, None, None)
            }
        },
        _ => {
            errors.push(FieldError::new(
                "slot",
                "several",
                "book one slot per appointment",
            ));
            (None, None, None, None)
        }
    };
    checked(errors)?;
    match (
        doctor_id,
        clinic_id,
        appointment_type_id,
        starts_at,
        patient,
    ) {
        (Some(doctor_id), Some(clinic_id), Some(appointment_type_id), Some(starts_at), Some(p)) => {
            Ok(BookingRequest {
                doctor_id,
                clinic_id,
                appointment_type_id,
                starts_at,
                notes,
                patient: PatientChoice::Existing(p),
            })
        }
        _ => Err(Error::internal("a booking passed validation incomplete")),
    }
}

/// The answer to a write: the resource with its `Location`, `ETag` and `Last-Modified`, as
/// FHIR JSON. Works on answers replayed for an `Idempotency-Key` too (their body is stored).
async fn written(response: HttpResponse, state: &AppState) -> Result<HttpResponse, ApiError> {
    let status = response.status();
    let replayed = response.headers().get("idempotent-replayed").cloned();
    let body = to_bytes(response.into_body())
        .await
        .map_err(|_| Error::internal("an answer could not be read back"))?;
    let resource: Value = serde_json::from_slice(&body).map_err(Error::internal)?;
    let mut answer = super::read_response(&resource, true);
    *answer.status_mut() = status;
    if let Some(id) = resource["id"].as_str() {
        let location = format!("{}/{id}", base_url(state, "Appointment"));
        if let Ok(value) = header::HeaderValue::from_str(&location) {
            answer.headers_mut().insert(header::LOCATION, value.clone());
            answer.headers_mut().insert(header::CONTENT_LOCATION, value);
        }
    }
    if let Some(replayed) = replayed {
        answer.headers_mut().insert(
            header::HeaderName::from_static("idempotent-replayed"),
            replayed,
        );
    }
    phi_headers(&mut answer);
    answer.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(FHIR_JSON),
    );
    Ok(answer)
}

/// Runs `work` once per `Idempotency-Key` when the request carries one, else once.
async fn once<F, Fut>(
    state: &AppState,
    ctx: &TenantContext,
    req: &HttpRequest,
    body: &Value,
    work: F,
) -> Result<HttpResponse, ApiError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Answer>,
{
    let response = if req.headers().contains_key("idempotency-key") {
        run_once(state, ctx, req, key_of(req)?, body, work).await?
    } else {
        let (status, resource) = work().await?;
        HttpResponse::build(status).body(resource.to_string())
    };
    written(response, state).await
}

/// The appointment `If-None-Exist` finds, if its criteria match exactly one (412 for several).
async fn existing(
    state: &AppState,
    ctx: &TenantContext,
    criteria: &str,
) -> Result<Option<Appointment>, ApiError> {
    let criteria = criteria.trim().trim_start_matches('?');
    // Criteria that cannot be read are a bad request (400), not a business rule.
    let query = Search::criteria("Appointment", criteria, PARAMS)
        .and_then(|search| query(&search))
        .and_then(|(query, residual)| match residual {
            None => Ok(query),
            // Cliniko's count would include appointments these criteria do not match.
            Some(_) => Err(invalid(
                "status",
                "a status that tells booked from arrived cannot be a condition (Cliniko cannot \
                 filter on arrival); use cancelled, noshow or no status",
            )),
        })
        .map_err(|err| match err {
            Error::Validation(found) => {
                let why: Vec<&str> = found.iter().map(|f| f.message.as_str()).collect();
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_criteria",
                    format!("If-None-Exist: {}", why.join("; ")),
                )
            }
            other => other.into(),
        })?;
    let cliniko = &state.cliniko;
    let found = with_cliniko(state, ctx, |account| async move {
        cliniko
            .appointments_page(&account, Lane::Api, &query, PageRequest::new(1, 2))
            .await
    })
    .await?;
    match found.total {
        0 => Ok(None),
        1 => Ok(found.items.into_iter().next()),
        _ => Err(ApiError::new(
            StatusCode::PRECONDITION_FAILED,
            "several_matches",
            "If-None-Exist matches more than one appointment; make the criteria narrower",
        )),
    }
}

/// Records the disclosure of an appointment's patient, then answers with it.
async fn disclosed(
    state: &AppState,
    req: &HttpRequest,
    ctx: &TenantContext,
    status: StatusCode,
    appointment: &Appointment,
) -> Answer {
    if let Some(patient) = &appointment.patient_id {
        disclose(state, req, ctx, categories(), std::slice::from_ref(patient)).await?;
    }
    Ok((status, to_fhir(appointment)))
}

/// `POST /fhir/r4/Appointment`: books (see the module documentation).
#[post("/Appointment")]
pub async fn create_appointment(
    caller: ApiCaller<AppointmentsWrite>,
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let ctx = caller.ctx();
    let resource = resource_of(&body)?;
    let request = booking_request(&resource)?;
    let criteria = req
        .headers()
        .get(IF_NONE_EXIST)
        .map(|v| v.to_str().map(str::to_owned))
        .transpose()
        .map_err(|_| Malformed("If-None-Exist is not a query string"))?;
    once(&state, ctx, &req, &resource, || async {
        if let Some(criteria) = criteria
            && let Some(found) = existing(&state, ctx, &criteria).await?
        {
            return disclosed(&state, &req, ctx, StatusCode::OK, &found).await;
        }
        let booked: BookedAppointment = state.booking.book(ctx, request).await?;
        disclosed(&state, &req, ctx, StatusCode::CREATED, &booked.appointment).await
    })
    .await
}

/// The Cliniko reason coded in `cancelationReason` (this server's system, Cliniko's numeric
/// codes), else "other"; its `text` becomes the note.
fn cancellation(resource: &Value) -> Cancellation {
    let reason = &resource["cancelationReason"];
    let ours = system("cancellation-reason");
    let code = reason["coding"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["system"] == ours.as_str())
        .find_map(|c| c["code"].as_str()?.parse::<i64>().ok())
        .and_then(CancellationReason::from_code);
    Cancellation {
        reason: code.unwrap_or(CancellationReason::Other),
        note: reason["text"]
            .as_str()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned),
    }
}

/// What a `PUT` changes, compared with the appointment as Cliniko has it now: `None` when it
/// changes nothing.
fn change_of(resource: &Value, current: &Appointment) -> Result<Option<AppointmentChange>, Error> {
    let mut errors = Vec::new();
    check_type(resource, &mut errors);
    let now = to_fhir(current);
    let status = resource["status"].as_str().unwrap_or("");
    for (element, kind) in [
        ("participant.patient", "Patient"),
        ("participant.practitioner", "Practitioner"),
        ("participant.location", "Location"),
    ] {
        let mut ignored = Vec::new();
        if participant(resource, kind, &mut ignored) != participant(&now, kind, &mut ignored) {
            errors.push(FieldError::new(
                element,
                "unchangeable",
                "participants cannot change; cancel and book a new appointment",
            ));
        }
    }
    if resource.get("serviceType").is_some() && service_type(resource) != service_type(&now) {
        errors.push(FieldError::new(
            "serviceType",
            "unchangeable",
            "the appointment type cannot change; cancel and book a new appointment",
        ));
    }
    let start = instant_of(resource, "start", &mut errors);
    let notes = comment(resource, &mut errors);
    let change = match status {
        "cancelled" if current.cancelled_at.is_some() => None,
        "cancelled" => Some(AppointmentChange::Cancel(cancellation(resource))),
        _ if status == now["status"] => {
            let moved = start.filter(|s| *s != current.starts_at);
            let noted = notes.filter(|n| current.notes.as_deref() != Some(n.as_str()));
            (moved.is_some() || noted.is_some()).then_some(AppointmentChange::Update {
                starts_at: moved,
                notes: noted,
            })
        }
        _ => {
            errors.push(FieldError::new(
                "status",
                "unsupported_transition",
                format!(
                    "an appointment that is {} can only be cancelled here (arrival and no-show are \
                     recorded in Cliniko)",
                    now["status"].as_str().unwrap_or("booked")
                ),
            ));
            None
        }
    };
    checked(errors)?;
    Ok(change)
}

/// `PUT /fhir/r4/Appointment/{id}`: cancels, moves or annotates (see the module documentation).
#[put("/Appointment/{id}")]
pub async fn update_appointment(
    caller: ApiCaller<AppointmentsWrite>,
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let ctx = caller.ctx();
    let id = path_id(&id, "Appointment")?;
    let resource = resource_of(&body)?;
    if resource["id"].as_str() != Some(id.as_str()) {
        return Err(Malformed("the body's id must be the id in the URL").into());
    }
    let precondition = req
        .headers()
        .get(header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    once(&state, ctx, &req, &resource, || async {
        let (current, _) = state.booking.status(ctx, &id).await?;
        if let Some(expected) = precondition {
            let version = to_fhir(&current)["meta"]["versionId"]
                .as_str()
                .map(|v| format!("W/\"{v}\""));
            if version.as_deref() != Some(expected.trim()) {
                return Err(ApiError::new(
                    StatusCode::PRECONDITION_FAILED,
                    "version_conflict",
                    "the appointment changed since that version; read it again and retry",
                ));
            }
        }
        let changed = match change_of(&resource, &current)? {
            Some(change) => state.booking.change(ctx, &id, change).await?.appointment,
            None => current,
        };
        disclosed(&state, &req, ctx, StatusCode::OK, &changed).await
    })
    .await
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::slot::slot_id;
    use super::*;

    fn id(raw: &str) -> ClinikoId {
        ClinikoId::parse(raw).unwrap()
    }

    fn patient_and(extra: Value) -> Value {
        let mut resource = json!({
            "resourceType": "Appointment",
            "status": "booked",
            "participant": [{"actor": {"reference": "Patient/11"}, "status": "accepted"}],
        });
        for (k, v) in extra.as_object().unwrap() {
            resource[k] = v.clone();
        }
        resource
    }

    fn fields(err: Error) -> Vec<String> {
        match err {
            Error::Validation(found) => found.into_iter().map(|f| f.field).collect(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_booking_names_a_slot_or_start_practitioner_location_and_type() {
        let start: DateTime<Utc> = "2030-05-21T08:45:00Z".parse().unwrap();
        let mut by_parts = patient_and(json!({
            "start": "2030-05-21T18:45:00+10:00",
            "serviceType": [{"coding": [{"system": system("appointment-type"), "code": "7"}]}],
        }));
        by_parts["participant"].as_array_mut().unwrap().extend([
            json!({"actor": {"reference": "Practitioner/5"}, "status": "accepted"}),
            json!({"actor": {"reference": "Location/6"}, "status": "accepted"}),
        ]);
        let request = booking_request(&by_parts).unwrap();
        assert_eq!(request.starts_at, start);
        assert_eq!(request.doctor_id.as_str(), "5");
        assert_eq!(request.clinic_id.as_str(), "6");
        assert_eq!(request.appointment_type_id.as_str(), "7");
        assert!(matches!(request.patient, PatientChoice::Existing(ref p) if p.as_str() == "11"));

        let slot = format!("Slot/{}", slot_id(&id("5"), &id("6"), &id("7"), start));
        let by_slot = patient_and(json!({"slot": [{"reference": slot}]}));
        let request = booking_request(&by_slot).unwrap();
        assert_eq!(request.starts_at, start);
        assert_eq!(request.doctor_id.as_str(), "5");

        let disagreeing =
            patient_and(json!({"slot": [{"reference": slot}], "start": "2030-05-21T09:00:00Z"}));
        assert_eq!(fields(booking_request(&disagreeing).unwrap_err()), ["slot"]);
    }

    #[test]
    fn incomplete_or_odd_bookings_name_each_field_to_fix() {
        let bare = json!({"resourceType": "Patient", "status": "proposed"});
        assert_eq!(
            fields(booking_request(&bare).unwrap_err()),
            [
                "resourceType",
                "status",
                "participant.patient",
                "start",
                "participant.practitioner",
                "participant.location",
                "serviceType"
            ]
        );
        let no_patient = json!({"resourceType": "Appointment", "status": "booked",
            "slot": [{"reference": "Slot/1-1-1-1"}]});
        assert_eq!(
            fields(booking_request(&no_patient).unwrap_err()),
            ["participant.patient"]
        );
        let without_slot = patient_and(json!({"start": "tomorrow"}));
        assert_eq!(
            fields(booking_request(&without_slot).unwrap_err()),
            [
                "start",
                "participant.practitioner",
                "participant.location",
                "serviceType"
            ]
        );
        let two_slots = patient_and(
            json!({"slot": [{"reference": "Slot/1-1-1-1"}, {"reference": "Slot/1-1-1-2"}]}),
        );
        assert_eq!(fields(booking_request(&two_slots).unwrap_err()), ["slot"]);
    }

    #[test]
    fn a_cancellation_takes_clinikos_coded_reason_or_other() {
        let coded = json!({"cancelationReason": {"coding": [{"system": system("cancellation-reason"), "code": "30"}], "text": "flu"}});
        let read = cancellation(&coded);
        assert_eq!(read.reason, CancellationReason::Sick);
        assert_eq!(read.note.as_deref(), Some("flu"));
        let foreign = json!({"cancelationReason": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/appointment-cancellation-reason", "code": "pat"}]}});
        assert_eq!(cancellation(&foreign).reason, CancellationReason::Other);
        assert_eq!(cancellation(&json!({})).reason, CancellationReason::Other);
    }
}
