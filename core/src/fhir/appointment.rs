//! `Appointment` from a Cliniko appointment.

use serde_json::{Value, json};

use super::{identifier, instant, meta, prune, system, text};
use crate::cliniko::{Appointment, CancellationReason, ClinikoId};

/// The statuses a Cliniko appointment can have in FHIR, each once.
pub const STATUSES: [&str; 4] = ["booked", "arrived", "noshow", "cancelled"];

/// FHIR's status of a Cliniko appointment (one of [`STATUSES`]).
pub fn status(a: &Appointment) -> &'static str {
    if a.cancelled_at.is_some() {
        "cancelled"
    } else if a.did_not_arrive == Some(true) {
        "noshow"
    } else if a.patient_arrived == Some(true) {
        "arrived"
    } else {
        "booked"
    }
}

/// A participant referring to `resource/id`.
fn participant(resource: &str, id: Option<&ClinikoId>) -> Option<Value> {
    id.map(|id| {
        json!({
            "actor": {"reference": format!("{resource}/{id}")},
            "required": "required",
            "status": "accepted",
        })
    })
}

/// A Cliniko appointment as a FHIR `Appointment`.
pub fn appointment(a: &Appointment) -> Value {
    let participants: Vec<Value> = [
        participant("Patient", a.patient_id.as_ref()),
        participant("Practitioner", a.practitioner_id.as_ref()),
        participant("Location", a.business_id.as_ref()),
    ]
    .into_iter()
    .flatten()
    .collect();
    let service_type = a.appointment_type_id.as_ref().map(
        |id| json!([{"coding": [{"system": system("appointment-type"), "code": id.as_str()}]}]),
    );
    let minutes = a
        .ends_at
        .map(|end| (end - a.starts_at).num_minutes())
        .filter(|m| *m > 0);
    // Cliniko's own reason code, so a client can send it back when cancelling (see booking).
    let cancelation = a.cancelled_at.map(|_| {
        let coding = a
            .cancellation_reason
            .and_then(CancellationReason::from_code)
            .map(|reason| {
                json!([{"system": system("cancellation-reason"), "code": reason.code().to_string(),
                        "display": reason.description()}])
            });
        json!({"coding": coding, "text": text(a.cancellation_reason_description.as_deref())})
    });
    prune(json!({
        "resourceType": "Appointment",
        "id": a.id.as_str(),
        "meta": meta(a.updated_at),
        "identifier": identifier("appointment", &a.id),
        "status": status(a),
        "cancelationReason": cancelation,
        "serviceType": service_type,
        "start": instant(a.starts_at),
        "end": a.ends_at.map(instant),
        "minutesDuration": minutes,
        "created": a.created_at.map(instant),
        "participant": participants,
    }))
}
