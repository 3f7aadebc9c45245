//! Patients and their medical alerts: patient data (PHI). Never cached beyond one request, never
//! logged: every type here has a `Debug` that shows only ids.

use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::{ClinikoId, reference::join_names, wire};

/// A patient as Cliniko returns it.
#[derive(Clone, PartialEq, Eq, Deserialize)]
pub struct Patient {
    /// Cliniko's id.
    pub id: ClinikoId,
    /// Title, e.g. `Ms`.
    #[serde(default, deserialize_with = "wire::text")]
    pub title: Option<String>,
    /// First name.
    #[serde(default, deserialize_with = "wire::text")]
    pub first_name: Option<String>,
    /// Last name.
    #[serde(default, deserialize_with = "wire::text")]
    pub last_name: Option<String>,
    /// The name the patient goes by.
    #[serde(default, deserialize_with = "wire::text")]
    pub preferred_first_name: Option<String>,
    /// Date of birth.
    #[serde(default, deserialize_with = "wire::date")]
    pub date_of_birth: Option<NaiveDate>,
    /// E-mail address.
    #[serde(default, deserialize_with = "wire::text")]
    pub email: Option<String>,
    /// Sex.
    #[serde(default, deserialize_with = "wire::text")]
    pub sex: Option<String>,
    /// Gender identity.
    #[serde(default, deserialize_with = "wire::text")]
    pub gender_identity: Option<String>,
    /// Pronouns.
    #[serde(default, deserialize_with = "wire::text")]
    pub pronouns: Option<String>,
    /// Address line 1.
    #[serde(default, deserialize_with = "wire::text")]
    pub address_1: Option<String>,
    /// Address line 2.
    #[serde(default, deserialize_with = "wire::text")]
    pub address_2: Option<String>,
    /// Address line 3.
    #[serde(default, deserialize_with = "wire::text")]
    pub address_3: Option<String>,
    /// City.
    #[serde(default, deserialize_with = "wire::text")]
    pub city: Option<String>,
    /// State.
    #[serde(default, deserialize_with = "wire::text")]
    pub state: Option<String>,
    /// Post code.
    #[serde(default, deserialize_with = "wire::text")]
    pub post_code: Option<String>,
    /// Country (deprecated by Cliniko in favour of `country_code`).
    #[serde(default, deserialize_with = "wire::text")]
    pub country: Option<String>,
    /// ISO 3166-1 country code.
    #[serde(default, deserialize_with = "wire::text")]
    pub country_code: Option<String>,
    /// The patient's IANA time zone.
    #[serde(default, deserialize_with = "wire::text")]
    pub time_zone: Option<String>,
    /// Phone numbers.
    #[serde(rename = "patient_phone_numbers", default)]
    pub phone_numbers: Option<Vec<PhoneNumber>>,
    /// Emergency contact (free text).
    #[serde(default, deserialize_with = "wire::text")]
    pub emergency_contact: Option<String>,
    /// Occupation.
    #[serde(default, deserialize_with = "wire::text")]
    pub occupation: Option<String>,
    /// Notes.
    #[serde(default, deserialize_with = "wire::text")]
    pub notes: Option<String>,
    /// Medicare number.
    #[serde(default, deserialize_with = "wire::text")]
    pub medicare: Option<String>,
    /// Medicare reference number.
    #[serde(default, deserialize_with = "wire::text")]
    pub medicare_reference_number: Option<String>,
    /// An id from another system (partners store theirs here).
    #[serde(default, deserialize_with = "wire::text")]
    pub old_reference_id: Option<String>,
    /// `SMS & Email`, `SMS`, `Email` or `None`.
    #[serde(default, deserialize_with = "wire::text")]
    pub reminder_type: Option<String>,
    /// `null` means the patient did not answer.
    #[serde(default, deserialize_with = "wire::flag")]
    pub accepted_privacy_policy: Option<bool>,
    /// Consent to e-mail marketing.
    #[serde(default, deserialize_with = "wire::flag")]
    pub accepted_email_marketing: Option<bool>,
    /// Consent to SMS marketing.
    #[serde(default, deserialize_with = "wire::flag")]
    pub accepted_sms_marketing: Option<bool>,
    /// When archived (merged patients are archived too).
    #[serde(default, deserialize_with = "wire::datetime")]
    pub archived_at: Option<DateTime<Utc>>,
    /// When deleted.
    #[serde(default, deserialize_with = "wire::datetime")]
    pub deleted_at: Option<DateTime<Utc>>,
    /// Created.
    #[serde(default, deserialize_with = "wire::datetime")]
    pub created_at: Option<DateTime<Utc>>,
    /// Last changed.
    #[serde(default, deserialize_with = "wire::datetime")]
    pub updated_at: Option<DateTime<Utc>>,
}

impl Patient {
    /// `first last` (preferred first name when given).
    pub fn name(&self) -> String {
        let first = self
            .preferred_first_name
            .as_deref()
            .or(self.first_name.as_deref());
        join_names(first, self.last_name.as_deref())
    }

    /// The phone numbers (none when Cliniko sent `null`).
    pub fn phones(&self) -> &[PhoneNumber] {
        self.phone_numbers.as_deref().unwrap_or_default()
    }
}

impl fmt::Debug for Patient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Patient")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// One phone number of a patient.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhoneNumber {
    /// `Mobile`, `Home`, `Work`, `Fax` or `Other`.
    #[serde(default, deserialize_with = "wire::text")]
    pub phone_type: Option<String>,
    /// The number as entered.
    #[serde(default, deserialize_with = "wire::text")]
    pub number: Option<String>,
}

impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PhoneNumber")
            .field("phone_type", &self.phone_type)
            .finish_non_exhaustive()
    }
}

/// Fields to create or change a patient. `None` leaves a field alone (or unset on create);
/// Cliniko requires `first_name` and `last_name` on create and answers 422 without them.
#[derive(Clone, Default, PartialEq, Eq, Serialize)]
pub struct PatientFields {
    /// Title.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// First name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    /// Last name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// Preferred first name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preferred_first_name: Option<String>,
    /// Date of birth.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date_of_birth: Option<NaiveDate>,
    /// E-mail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Sex.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sex: Option<String>,
    /// Address line 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address_1: Option<String>,
    /// Address line 2.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address_2: Option<String>,
    /// City.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    /// State.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Post code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub post_code: Option<String>,
    /// ISO 3166-1 country code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country_code: Option<String>,
    /// IANA time zone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// Phone numbers (replaces the list when given).
    #[serde(
        rename = "patient_phone_numbers",
        skip_serializing_if = "Option::is_none"
    )]
    pub phone_numbers: Option<Vec<PhoneNumber>>,
    /// Notes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    /// Another system's id for the patient.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_reference_id: Option<String>,
}

impl fmt::Debug for PatientFields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PatientFields").finish_non_exhaustive()
    }
}

/// A medical alert on a patient (e.g. an allergy).
#[derive(Clone, PartialEq, Eq, Deserialize)]
pub struct MedicalAlert {
    /// Cliniko's id.
    pub id: ClinikoId,
    /// The alert text.
    #[serde(default, deserialize_with = "wire::text")]
    pub name: Option<String>,
    /// The patient it belongs to.
    #[serde(rename = "patient", default, deserialize_with = "wire::link_id")]
    pub patient_id: Option<ClinikoId>,
    /// Created.
    #[serde(default, deserialize_with = "wire::datetime")]
    pub created_at: Option<DateTime<Utc>>,
    /// Last changed.
    #[serde(default, deserialize_with = "wire::datetime")]
    pub updated_at: Option<DateTime<Utc>>,
    /// When deleted.
    #[serde(default, deserialize_with = "wire::datetime")]
    pub deleted_at: Option<DateTime<Utc>>,
}

impl fmt::Debug for MedicalAlert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MedicalAlert")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATIENT: &str = r#"{
        "id": "1000000000000000007", "first_name": "Jane", "last_name": "Citizen",
        "preferred_first_name": "", "date_of_birth": "1984-03-02", "email": "jane@example.org",
        "patient_phone_numbers": [{"phone_type": "Mobile", "number": "61444444444"}],
        "archived_at": "", "deleted_at": null, "medical_alerts": {"links": {"self": "x"}},
        "custom_fields": {"sections": []}, "created_at": "2024-01-01T00:00:00Z"
    }"#;

    #[test]
    fn a_patient_parses_with_empty_dates_and_unknown_fields() {
        let patient: Patient = serde_json::from_str(PATIENT).unwrap();
        assert_eq!(patient.name(), "Jane Citizen");
        assert_eq!(patient.phones()[0].number.as_deref(), Some("61444444444"));
        assert!(patient.archived_at.is_none());
        assert_eq!(patient.date_of_birth.unwrap().to_string(), "1984-03-02");
    }

    #[test]
    fn debug_output_never_shows_patient_data() {
        let patient: Patient = serde_json::from_str(PATIENT).unwrap();
        let printed = format!("{patient:?} {:?}", patient.phones());
        for secret in ["Jane", "Citizen", "1984", "jane@", "61444"] {
            assert!(!printed.contains(secret), "{printed}");
        }
        let fields = PatientFields {
            first_name: Some("Jane".into()),
            ..PatientFields::default()
        };
        assert!(!format!("{fields:?}").contains("Jane"));
    }

    #[test]
    fn fields_send_only_what_is_set() {
        let fields = PatientFields {
            first_name: Some("Jane".into()),
            date_of_birth: NaiveDate::from_ymd_opt(1984, 3, 2),
            ..PatientFields::default()
        };
        assert_eq!(
            serde_json::to_value(&fields).unwrap(),
            serde_json::json!({"first_name": "Jane", "date_of_birth": "1984-03-02"})
        );
    }
}
