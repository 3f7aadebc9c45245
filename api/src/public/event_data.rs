//! Event data in the public API's shapes: an appointment event's `data` is an
//! [`AppointmentOut`], as the appointments API returns it; patient and doctor events have the
//! shapes below (for the OpenAPI document's `webhooks` section).

use clinicgate_core::Result;
use clinicgate_core::error::Error;
use clinicgate_core::events::{
    AvailabilityChange, DoctorQueue, EventData, PatientRecord, QueueEntry,
};
use serde::Serialize;
use utoipa::ToSchema;

use super::appointments::AppointmentOut;
use super::listing::utc;

/// A patient, as `patient.*` events carry it. Patient data: deliveries go only to clients holding
/// `patients:read`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": "836447129235883061", "title": "Ms", "first_name": "Jane", "last_name": "Citizen",
    "preferred_first_name": null, "date_of_birth": "1984-03-02", "sex": "Female",
    "gender_identity": null, "pronouns": null, "email": "jane@example.org",
    "phones": [{"kind": "Mobile", "number": "61444444444"}],
    "address": {"lines": ["1 High Street"], "city": "Sydney", "state": "NSW", "post_code": "2000", "country_code": "AU"},
    "external_id": "EXT-00042", "archived_at": null,
    "created_at": "2030-05-01T10:00:00Z", "updated_at": "2030-05-02T08:00:00Z"
}))]
pub struct PatientEventOut {
    /// Cliniko's patient id.
    pub id: String,
    /// Title, e.g. `Ms`.
    pub title: Option<String>,
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// The name the patient goes by.
    pub preferred_first_name: Option<String>,
    /// Date of birth (`YYYY-MM-DD`).
    pub date_of_birth: Option<String>,
    /// Sex.
    pub sex: Option<String>,
    /// Gender identity.
    pub gender_identity: Option<String>,
    /// Pronouns.
    pub pronouns: Option<String>,
    /// E-mail address.
    pub email: Option<String>,
    /// Phone numbers.
    pub phones: Vec<PatientPhoneOut>,
    /// Postal address.
    pub address: PatientAddressEventOut,
    /// The partner's own id for the patient (Cliniko's `old_reference_id`).
    pub external_id: Option<String>,
    /// When the patient was archived in Cliniko, UTC.
    pub archived_at: Option<String>,
    /// Created, UTC.
    pub created_at: Option<String>,
    /// Last changed, UTC.
    pub updated_at: Option<String>,
}

/// One phone number.
#[derive(Debug, Serialize, ToSchema)]
pub struct PatientPhoneOut {
    /// `Mobile`, `Home`, `Work`, `Fax` or `Other`.
    pub kind: Option<String>,
    /// The number as entered in Cliniko.
    pub number: String,
}

/// A patient's postal address.
#[derive(Debug, Serialize, ToSchema)]
pub struct PatientAddressEventOut {
    /// Address lines, in order, without empty ones.
    pub lines: Vec<String>,
    /// City.
    pub city: Option<String>,
    /// State or region.
    pub state: Option<String>,
    /// Post code.
    pub post_code: Option<String>,
    /// ISO 3166-1 country code.
    pub country_code: Option<String>,
}

impl From<PatientRecord> for PatientEventOut {
    fn from(p: PatientRecord) -> Self {
        Self {
            id: p.id.to_string(),
            title: p.title,
            first_name: p.first_name,
            last_name: p.last_name,
            preferred_first_name: p.preferred_first_name,
            date_of_birth: p.date_of_birth.map(|d| d.format("%Y-%m-%d").to_string()),
            sex: p.sex,
            gender_identity: p.gender_identity,
            pronouns: p.pronouns,
            email: p.email,
            phones: p
                .phones
                .into_iter()
                .map(|phone| PatientPhoneOut {
                    kind: phone.kind,
                    number: phone.number,
                })
                .collect(),
            address: PatientAddressEventOut {
                lines: p.address_lines,
                city: p.city,
                state: p.state,
                post_code: p.post_code,
                country_code: p.country_code,
            },
            external_id: p.external_id,
            archived_at: p.archived_at.map(utc),
            created_at: p.created_at.map(utc),
            updated_at: p.updated_at.map(utc),
        }
    }
}

/// A doctor's bookable time changed (`doctor.availability_changed`): read
/// `GET /api/public/available-slots` for the doctor again.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "doctor_id": "836447129235007919",
    "from": "2030-05-21T08:00:00Z", "until": "2030-06-04T08:00:00Z"
}))]
pub struct DoctorAvailabilityOut {
    /// The doctor.
    pub doctor_id: String,
    /// Start of the window whose slots may have changed, UTC.
    pub from: String,
    /// End of that window (14 days later), UTC.
    pub until: String,
}

impl From<AvailabilityChange> for DoctorAvailabilityOut {
    fn from(change: AvailabilityChange) -> Self {
        Self {
            doctor_id: change.doctor_id.to_string(),
            from: utc(change.from),
            until: utc(change.until),
        }
    }
}

/// A doctor's queue for a day (`doctor.queue_updated`).
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "doctor_id": "836447129235007919", "day": "2030-05-21", "time_zone": "Australia/Sydney",
    "now_serving": 1,
    "entries": [
        {"token": 1, "appointment_id": "836447129235991234", "clinic_id": "836447129235031676",
         "starts_at": "2030-05-20T23:00:00Z", "ends_at": "2030-05-20T23:30:00Z",
         "arrived_at": "2030-05-20T22:52:10Z", "status": "being_seen"},
        {"token": 2, "appointment_id": "836447129235991301", "clinic_id": "836447129235031676",
         "starts_at": "2030-05-20T23:30:00Z", "ends_at": "2030-05-21T00:00:00Z",
         "arrived_at": "2030-05-20T22:58:41Z", "status": "waiting"}
    ]
}))]
pub struct DoctorQueueOut {
    /// The doctor.
    pub doctor_id: String,
    /// The day, in the clinic's time zone (`YYYY-MM-DD`).
    pub day: String,
    /// The clinic's IANA time zone.
    pub time_zone: String,
    /// The token being seen, if any.
    pub now_serving: Option<u32>,
    /// The patients who have arrived, in arrival order.
    pub entries: Vec<QueueEntryOut>,
}

/// One arrived patient, by appointment (`appointments:read` reads whose it is).
#[derive(Debug, Serialize, ToSchema)]
pub struct QueueEntryOut {
    /// Position in arrival order, from 1.
    pub token: u32,
    /// The appointment.
    pub appointment_id: String,
    /// The clinic.
    pub clinic_id: Option<String>,
    /// The appointment's start, UTC.
    pub starts_at: String,
    /// The appointment's end, UTC.
    pub ends_at: Option<String>,
    /// When the arrival was recorded in Cliniko, UTC (as ClinicGate first saw it: Cliniko keeps
    /// a flag, not a time).
    pub arrived_at: String,
    /// `waiting`, `being_seen` (the first arrived patient whose appointment is under way) or
    /// `seen` (the appointment has ended).
    pub status: String,
}

impl From<QueueEntry> for QueueEntryOut {
    fn from(entry: QueueEntry) -> Self {
        Self {
            token: entry.token,
            appointment_id: entry.appointment_id.to_string(),
            clinic_id: entry.clinic_id.map(|id| id.to_string()),
            starts_at: utc(entry.starts_at),
            ends_at: entry.ends_at.map(utc),
            arrived_at: utc(entry.arrived_at),
            status: entry.status.as_str().to_owned(),
        }
    }
}

impl From<DoctorQueue> for DoctorQueueOut {
    fn from(queue: DoctorQueue) -> Self {
        Self {
            doctor_id: queue.doctor_id.to_string(),
            day: queue.day.format("%Y-%m-%d").to_string(),
            time_zone: queue.time_zone.name().to_owned(),
            now_serving: queue.now_serving,
            entries: queue.entries.into_iter().map(QueueEntryOut::from).collect(),
        }
    }
}

fn json(value: impl Serialize) -> Result<serde_json::Value> {
    serde_json::to_value(value)
        .map_err(|err| Error::internal(format!("event data is not serialisable: {err}")))
}

/// The `data` of an event, in the public API's shape for what it carries.
///
/// # Errors
/// `Internal` when it cannot be serialised.
pub fn render_event(data: &EventData) -> Result<serde_json::Value> {
    match data.clone() {
        EventData::Appointment(booked) => json(AppointmentOut::from(booked)),
        EventData::Patient(patient) => json(PatientEventOut::from(patient)),
        EventData::DoctorAvailability(change) => json(DoctorAvailabilityOut::from(change)),
        EventData::DoctorQueue(queue) => json(DoctorQueueOut::from(queue)),
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, NaiveDate, Utc};
    use clinicgate_core::cliniko::{ClinikoId, Patient, PhoneNumber};
    use clinicgate_core::events::QueueStatus;
    use serde_json::json;

    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn a_patient_event_shows_what_subscribers_see_and_nothing_else() {
        let patient = Patient {
            first_name: Some("Jane".into()),
            last_name: Some("Citizen".into()),
            date_of_birth: NaiveDate::from_ymd_opt(1984, 3, 2),
            phone_numbers: Some(vec![PhoneNumber {
                phone_type: Some("Mobile".into()),
                number: Some("61444444444".into()),
            }]),
            notes: Some("private clinical note".into()),
            medicare: Some("2123 45670 1".into()),
            updated_at: Some(at("2030-05-02T08:00:00Z")),
            ..Patient::new(ClinikoId::parse("77").unwrap())
        };
        let data = render_event(&EventData::Patient(PatientRecord::from(&patient))).unwrap();
        assert_eq!(data["id"], "77");
        assert_eq!(data["date_of_birth"], "1984-03-02");
        assert_eq!(
            data["phones"],
            json!([{"kind": "Mobile", "number": "61444444444"}])
        );
        assert_eq!(data["updated_at"], "2030-05-02T08:00:00Z");
        let text = data.to_string();
        assert!(
            !text.contains("private") && !text.contains("2123"),
            "{text}"
        );
    }

    #[test]
    fn a_queue_event_lists_tokens_with_their_status() {
        let queue = DoctorQueue {
            doctor_id: ClinikoId::parse("11").unwrap(),
            day: NaiveDate::from_ymd_opt(2030, 5, 21).unwrap(),
            time_zone: chrono_tz::Australia::Sydney,
            entries: vec![QueueEntry {
                token: 1,
                appointment_id: ClinikoId::parse("9").unwrap(),
                clinic_id: ClinikoId::parse("21"),
                starts_at: at("2030-05-20T23:00:00Z"),
                ends_at: Some(at("2030-05-20T23:30:00Z")),
                arrived_at: at("2030-05-20T22:52:10Z"),
                status: QueueStatus::BeingSeen,
            }],
            now_serving: Some(1),
        };
        let data = render_event(&EventData::DoctorQueue(queue)).unwrap();
        assert_eq!(data["time_zone"], "Australia/Sydney");
        assert_eq!(data["entries"][0]["status"], "being_seen");
        assert_eq!(data["entries"][0]["appointment_id"], "9");
        assert_eq!(data["now_serving"], 1);
    }
}
