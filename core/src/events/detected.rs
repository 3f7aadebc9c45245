//! The data of events about patients and doctors (detected by polling Cliniko): what a
//! subscriber sees of a patient, a change of a doctor's bookable time, and a doctor's queue for a
//! day. Patient data is PHI: `Debug` shows ids only.

use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::Serialize;

use crate::cliniko::{ClinikoId, Patient};

/// What a subscriber sees of a patient (`patient.*` events). Only these fields count when
/// deciding whether a patient changed: an edit of anything else in Cliniko (notes, Medicare
/// numbers, marketing consents) emits nothing. `updated_at` is reported but is not a change.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct PatientRecord {
    /// Cliniko's id.
    pub id: ClinikoId,
    /// Title, e.g. `Ms`.
    pub title: Option<String>,
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// The name the patient goes by.
    pub preferred_first_name: Option<String>,
    /// Date of birth.
    pub date_of_birth: Option<NaiveDate>,
    /// Sex.
    pub sex: Option<String>,
    /// Gender identity.
    pub gender_identity: Option<String>,
    /// Pronouns.
    pub pronouns: Option<String>,
    /// E-mail address.
    pub email: Option<String>,
    /// Phone numbers, in Cliniko's order.
    pub phones: Vec<PatientPhone>,
    /// Address lines, without empty ones.
    pub address_lines: Vec<String>,
    /// City.
    pub city: Option<String>,
    /// State or region.
    pub state: Option<String>,
    /// Post code.
    pub post_code: Option<String>,
    /// ISO 3166-1 country code.
    pub country_code: Option<String>,
    /// Another system's id for the patient (Cliniko's `old_reference_id`).
    pub external_id: Option<String>,
    /// When Cliniko archived the patient.
    pub archived_at: Option<DateTime<Utc>>,
    /// Created.
    pub created_at: Option<DateTime<Utc>>,
    /// Last changed in Cliniko (reported, never compared).
    #[serde(skip)]
    pub updated_at: Option<DateTime<Utc>>,
}

/// One phone number of a patient.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct PatientPhone {
    /// `Mobile`, `Home`, `Work`, `Fax` or `Other`.
    pub kind: Option<String>,
    /// The number as entered.
    pub number: String,
}

impl From<&Patient> for PatientRecord {
    fn from(p: &Patient) -> Self {
        Self {
            id: p.id.clone(),
            title: p.title.clone(),
            first_name: p.first_name.clone(),
            last_name: p.last_name.clone(),
            preferred_first_name: p.preferred_first_name.clone(),
            date_of_birth: p.date_of_birth,
            sex: p.sex.clone(),
            gender_identity: p.gender_identity.clone(),
            pronouns: p.pronouns.clone(),
            email: p.email.clone(),
            phones: p
                .phones()
                .iter()
                .filter_map(|phone| {
                    Some(PatientPhone {
                        kind: phone.phone_type.clone(),
                        number: phone.number.clone()?,
                    })
                })
                .collect(),
            address_lines: [&p.address_1, &p.address_2, &p.address_3]
                .into_iter()
                .flatten()
                .cloned()
                .collect(),
            city: p.city.clone(),
            state: p.state.clone(),
            post_code: p.post_code.clone(),
            country_code: p.country_code.clone(),
            external_id: p.old_reference_id.clone(),
            archived_at: p.archived_at.or(p.deleted_at),
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

impl fmt::Debug for PatientRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PatientRecord")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for PatientPhone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PatientPhone")
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

/// A doctor's bookable time in a window changed (`doctor.availability_changed`): something that
/// decides their free slots changed — a booking, a cancellation, a move, or their hours. Fetch
/// `GET /api/public/available-slots` for the new slots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvailabilityChange {
    /// The doctor (Cliniko practitioner id).
    pub doctor_id: ClinikoId,
    /// The window's start: when the change was noticed.
    pub from: DateTime<Utc>,
    /// The window's end (14 days later).
    pub until: DateTime<Utc>,
}

/// Where a patient in a doctor's queue stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueStatus {
    /// Arrived; their appointment has not started.
    Waiting,
    /// With the doctor: the first arrived patient whose appointment is under way.
    BeingSeen,
    /// Their appointment has ended.
    Seen,
}

impl QueueStatus {
    /// The API's spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::BeingSeen => "being_seen",
            Self::Seen => "seen",
        }
    }
}

/// One arrived patient in a doctor's queue, by appointment (the patient's identity needs the
/// appointment and `appointments:read`; the queue itself is doctor data).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueueEntry {
    /// Position in arrival order, from 1: the clinic's "token".
    pub token: u32,
    /// The appointment.
    pub appointment_id: ClinikoId,
    /// Where (Cliniko business id).
    pub clinic_id: Option<ClinikoId>,
    /// The appointment's start.
    pub starts_at: DateTime<Utc>,
    /// The appointment's end.
    pub ends_at: Option<DateTime<Utc>>,
    /// When the arrival was recorded in Cliniko (as far as ClinicGate can tell: Cliniko keeps a
    /// flag, not a time).
    pub arrived_at: DateTime<Utc>,
    /// Where the patient stands.
    pub status: QueueStatus,
}

/// A doctor's queue for one day (`doctor.queue_updated`): the patients who have arrived, in
/// arrival order, and who is being seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DoctorQueue {
    /// The doctor (Cliniko practitioner id).
    pub doctor_id: ClinikoId,
    /// The day, in the clinic's time zone.
    pub day: NaiveDate,
    /// The clinic's time zone.
    #[serde(serialize_with = "zone_name")]
    pub time_zone: Tz,
    /// Arrived patients, in arrival order.
    pub entries: Vec<QueueEntry>,
    /// The token being seen, if any.
    pub now_serving: Option<u32>,
}

fn zone_name<S: serde::Serializer>(zone: &Tz, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(zone.name())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cliniko::PhoneNumber;

    #[test]
    fn a_patient_record_keeps_what_subscribers_see_and_debug_shows_only_the_id() {
        let patient = Patient {
            first_name: Some("Jane".into()),
            last_name: Some("Citizen".into()),
            address_1: Some("1 High St".into()),
            address_3: Some("Rear".into()),
            phone_numbers: Some(vec![
                PhoneNumber {
                    phone_type: Some("Mobile".into()),
                    number: Some("61444444444".into()),
                },
                PhoneNumber {
                    phone_type: Some("Home".into()),
                    number: None,
                },
            ]),
            notes: Some("private".into()),
            ..Patient::new(ClinikoId::parse("77").unwrap())
        };
        let record = PatientRecord::from(&patient);
        assert_eq!(record.address_lines, ["1 High St", "Rear"]);
        assert_eq!(record.phones.len(), 1);
        let printed = format!("{record:?} {:?}", record.phones);
        assert!(printed.contains("77"));
        for secret in ["Jane", "Citizen", "High", "61444"] {
            assert!(!printed.contains(secret), "{printed}");
        }
    }
}
