//! The FHIR resource a `patient.*` or `appointment.*` event is pushed as. An event's data is the
//! public API's JSON of the record; it is read back into the Cliniko record and built by the
//! facade's own mapping ([`crate::fhir`]), so a destination holds what `/fhir/r4` would show.
//! Two things differ for a foreign server: the resource carries no `id` or `meta` (the server
//! keeps its own ids and versions; ours is the identifier the conditional update matches), and
//! references to other records are logical, by identifier, since `Patient/{cliniko id}` means
//! nothing there.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::FhirResource;
use crate::cliniko::{Appointment, ClinikoId, Patient, PhoneNumber};
use crate::events::EventType;
use crate::fhir;

/// What a delivery puts on a destination.
#[derive(Debug, Clone, PartialEq)]
pub struct PushResource {
    /// Its type.
    pub resource: FhirResource,
    /// The Cliniko id its identifier carries.
    pub cliniko_id: ClinikoId,
    /// The identifier system of that id.
    pub system: String,
    /// The resource (PHI: never logged).
    pub body: Value,
}

#[derive(Deserialize)]
struct EventPatient {
    id: String,
    title: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    preferred_first_name: Option<String>,
    date_of_birth: Option<NaiveDate>,
    sex: Option<String>,
    email: Option<String>,
    #[serde(default)]
    phones: Vec<EventPhone>,
    #[serde(default)]
    address: EventAddress,
    archived_at: Option<DateTime<Utc>>,
    updated_at: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
struct EventPhone {
    kind: Option<String>,
    number: String,
}

#[derive(Deserialize, Default)]
struct EventAddress {
    #[serde(default)]
    lines: Vec<String>,
    city: Option<String>,
    state: Option<String>,
    post_code: Option<String>,
    country_code: Option<String>,
}

#[derive(Deserialize)]
struct EventAppointment {
    id: String,
    status: String,
    doctor_id: Option<String>,
    clinic_id: Option<String>,
    appointment_type_id: Option<String>,
    patient_id: Option<String>,
    starts_at: DateTime<Utc>,
    ends_at: Option<DateTime<Utc>>,
    cancelled_at: Option<DateTime<Utc>>,
    cancellation_reason: Option<String>,
    cancellation_note: Option<String>,
    created_at: Option<DateTime<Utc>>,
    updated_at: Option<DateTime<Utc>>,
}

fn id(raw: Option<&str>) -> Option<ClinikoId> {
    raw.and_then(ClinikoId::parse)
}

fn patient(data: &str) -> Option<Patient> {
    let p: EventPatient = serde_json::from_str(data).ok()?;
    let mut lines = p.address.lines.into_iter();
    Some(Patient {
        title: p.title,
        first_name: p.first_name,
        last_name: p.last_name,
        preferred_first_name: p.preferred_first_name,
        date_of_birth: p.date_of_birth,
        sex: p.sex,
        email: p.email,
        phone_numbers: Some(
            p.phones
                .into_iter()
                .map(|phone| PhoneNumber {
                    phone_type: phone.kind,
                    number: Some(phone.number),
                })
                .collect(),
        ),
        address_1: lines.next(),
        address_2: lines.next(),
        address_3: lines.next(),
        city: p.address.city,
        state: p.address.state,
        post_code: p.address.post_code,
        country_code: p.address.country_code,
        archived_at: p.archived_at,
        updated_at: p.updated_at,
        ..Patient::new(ClinikoId::parse(&p.id)?)
    })
}

/// Cliniko's code of a public API cancellation reason.
fn reason_code(name: &str) -> Option<i64> {
    Some(match name {
        "feeling_better" => 10,
        "condition_worse" => 20,
        "sick" => 30,
        "covid_19" => 31,
        "away" => 40,
        "other" => 50,
        "work" => 60,
        _ => return None,
    })
}

fn appointment(data: &str) -> Option<Appointment> {
    let a: EventAppointment = serde_json::from_str(data).ok()?;
    Some(Appointment {
        ends_at: a.ends_at,
        patient_id: id(a.patient_id.as_deref()),
        practitioner_id: id(a.doctor_id.as_deref()),
        business_id: id(a.clinic_id.as_deref()),
        appointment_type_id: id(a.appointment_type_id.as_deref()),
        cancelled_at: a.cancelled_at,
        cancellation_reason: a.cancellation_reason.as_deref().and_then(reason_code),
        cancellation_reason_description: a.cancellation_note,
        did_not_arrive: Some(a.status == "did_not_arrive"),
        patient_arrived: Some(matches!(a.status.as_str(), "arrived" | "completed")),
        created_at: a.created_at,
        updated_at: a.updated_at,
        ..Appointment::new(ClinikoId::parse(&a.id)?, a.starts_at)
    })
}

/// The references of a participant made logical: `{type, identifier}` with the Cliniko id
/// under its system, instead of `{reference: "Patient/…"}`.
fn logical_references(resource: &mut Value) {
    let Some(participants) = resource["participant"].as_array_mut() else {
        return;
    };
    for participant in participants {
        let Some(reference) = participant["actor"]["reference"].as_str() else {
            continue;
        };
        let Some((kind, id)) = reference.split_once('/') else {
            continue;
        };
        let system_kind = match kind {
            "Patient" => "patient",
            "Practitioner" => "practitioner",
            "Location" => "business",
            _ => continue,
        };
        participant["actor"] = json!({
            "type": kind,
            "identifier": {"system": fhir::system(system_kind), "value": id},
        });
    }
}

/// Strips what belongs to ClinicGate's own server (`id`, `meta`).
fn foreign(mut body: Value) -> Value {
    if let Some(map) = body.as_object_mut() {
        map.remove("id");
        map.remove("meta");
    }
    body
}

/// The resource an event is pushed as: `None` for an event no FHIR resource carries, or data
/// that is not the record its type says (never expected: the publisher renders both).
pub fn resource_of(event_type: EventType, data: &str) -> Option<PushResource> {
    match event_type {
        EventType::PatientCreated | EventType::PatientUpdated => {
            let patient = patient(data)?;
            Some(PushResource {
                resource: FhirResource::Patient,
                system: fhir::system("patient"),
                body: foreign(fhir::patient(&patient).ok()?),
                cliniko_id: patient.id,
            })
        }
        EventType::AppointmentCreated
        | EventType::AppointmentUpdated
        | EventType::AppointmentCancelled
        | EventType::AppointmentPatientArrived
        | EventType::AppointmentDidNotArrive
        | EventType::AppointmentCompleted => {
            let appointment = appointment(data)?;
            let mut body = foreign(fhir::appointment(&appointment));
            logical_references(&mut body);
            Some(PushResource {
                resource: FhirResource::Appointment,
                system: fhir::system("appointment"),
                body,
                cliniko_id: appointment.id,
            })
        }
        EventType::DoctorAvailabilityChanged | EventType::DoctorQueueUpdated => None,
    }
}

/// The resource type an event is pushed as, if any.
pub(super) const fn resource_type_of(event_type: EventType) -> Option<FhirResource> {
    match event_type {
        EventType::PatientCreated | EventType::PatientUpdated => Some(FhirResource::Patient),
        EventType::DoctorAvailabilityChanged | EventType::DoctorQueueUpdated => None,
        _ => Some(FhirResource::Appointment),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_patient_event_becomes_a_patient_without_our_id_but_with_our_identifier() {
        let data = json!({
            "id": "77", "title": "Ms", "first_name": "Jane", "last_name": "Citizen",
            "preferred_first_name": null, "date_of_birth": "1984-03-02", "sex": "Female",
            "email": "jane@example.org", "phones": [{"kind": "Mobile", "number": "61444444444"}],
            "address": {"lines": ["1 High Street"], "city": "Sydney", "state": "NSW",
                        "post_code": "2000", "country_code": "AU"},
            "archived_at": null, "created_at": null, "updated_at": "2030-05-02T08:00:00Z"
        })
        .to_string();
        let pushed = resource_of(EventType::PatientCreated, &data).unwrap();
        assert_eq!(pushed.resource, FhirResource::Patient);
        assert_eq!(pushed.cliniko_id.as_str(), "77");
        let body = pushed.body;
        assert_eq!(body["resourceType"], "Patient");
        assert!(
            body.get("id").is_none() && body.get("meta").is_none(),
            "{body}"
        );
        assert_eq!(body["identifier"][0]["value"], "77");
        assert_eq!(body["gender"], "female");
        assert_eq!(body["birthDate"], "1984-03-02");
        assert_eq!(body["address"][0]["line"][0], "1 High Street");
        assert_eq!(body["telecom"][0]["use"], "mobile");
    }

    #[test]
    fn an_appointment_refers_to_its_patient_by_identifier() {
        let data = json!({
            "id": "9", "status": "cancelled", "doctor_id": "5", "clinic_id": "6",
            "appointment_type_id": "7", "patient_id": "77",
            "starts_at": "2030-05-21T23:00:00Z", "ends_at": "2030-05-21T23:30:00Z",
            "cancelled_at": "2030-05-20T10:00:00Z", "cancellation_reason": "sick",
            "cancellation_note": null, "created_at": null, "updated_at": null
        })
        .to_string();
        let pushed = resource_of(EventType::AppointmentCancelled, &data).unwrap();
        let body = pushed.body;
        assert_eq!(body["status"], "cancelled");
        assert_eq!(body["cancelationReason"]["coding"][0]["code"], "30");
        let patient = &body["participant"][0]["actor"];
        assert_eq!(patient["type"], "Patient");
        assert_eq!(patient["identifier"]["value"], "77");
        assert!(patient.get("reference").is_none());
    }

    #[test]
    fn events_without_a_resource_push_nothing() {
        assert!(resource_of(EventType::DoctorQueueUpdated, "{}").is_none());
        assert!(resource_of(EventType::PatientCreated, r#"{"id":"not a number"}"#).is_none());
    }
}
