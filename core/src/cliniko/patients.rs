//! Patients and their medical alerts: patient data (PHI). Never cached beyond one request, never
//! logged: every type here has a `Debug` that shows only ids.

use std::fmt;

use super::{ClinikoId, reference::join_names};
use chrono::{DateTime, NaiveDate, Utc};

/// A patient as Cliniko holds it.
#[derive(Clone, PartialEq, Eq)]
pub struct Patient {
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
    /// E-mail address.
    pub email: Option<String>,
    /// Sex.
    pub sex: Option<String>,
    /// Gender identity.
    pub gender_identity: Option<String>,
    /// Pronouns.
    pub pronouns: Option<String>,
    /// Address line 1.
    pub address_1: Option<String>,
    /// Address line 2.
    pub address_2: Option<String>,
    /// Address line 3.
    pub address_3: Option<String>,
    /// City.
    pub city: Option<String>,
    /// State.
    pub state: Option<String>,
    /// Post code.
    pub post_code: Option<String>,
    /// Country (deprecated by Cliniko in favour of `country_code`).
    pub country: Option<String>,
    /// ISO 3166-1 country code.
    pub country_code: Option<String>,
    /// The patient's IANA time zone.
    pub time_zone: Option<String>,
    /// Phone numbers.
    pub phone_numbers: Option<Vec<PhoneNumber>>,
    /// Emergency contact (free text).
    pub emergency_contact: Option<String>,
    /// Occupation.
    pub occupation: Option<String>,
    /// Notes.
    pub notes: Option<String>,
    /// Medicare number.
    pub medicare: Option<String>,
    /// Medicare reference number.
    pub medicare_reference_number: Option<String>,
    /// An id from another system (partners store theirs here).
    pub old_reference_id: Option<String>,
    /// `SMS & Email`, `SMS`, `Email` or `None`.
    pub reminder_type: Option<String>,
    /// `null` means the patient did not answer.
    pub accepted_privacy_policy: Option<bool>,
    /// Consent to e-mail marketing.
    pub accepted_email_marketing: Option<bool>,
    /// Consent to SMS marketing.
    pub accepted_sms_marketing: Option<bool>,
    /// When archived (merged patients are archived too).
    pub archived_at: Option<DateTime<Utc>>,
    /// When deleted.
    pub deleted_at: Option<DateTime<Utc>>,
    /// Created.
    pub created_at: Option<DateTime<Utc>>,
    /// Last changed.
    pub updated_at: Option<DateTime<Utc>>,
}

impl Patient {
    /// A patient known only by its id: every other field absent.
    pub fn new(id: ClinikoId) -> Self {
        Self {
            id,
            title: None,
            first_name: None,
            last_name: None,
            preferred_first_name: None,
            date_of_birth: None,
            email: None,
            sex: None,
            gender_identity: None,
            pronouns: None,
            address_1: None,
            address_2: None,
            address_3: None,
            city: None,
            state: None,
            post_code: None,
            country: None,
            country_code: None,
            time_zone: None,
            phone_numbers: None,
            emergency_contact: None,
            occupation: None,
            notes: None,
            medicare: None,
            medicare_reference_number: None,
            old_reference_id: None,
            reminder_type: None,
            accepted_privacy_policy: None,
            accepted_email_marketing: None,
            accepted_sms_marketing: None,
            archived_at: None,
            deleted_at: None,
            created_at: None,
            updated_at: None,
        }
    }

    /// `first last` (preferred first name when given).
    pub fn name(&self) -> String {
        let first = self
            .preferred_first_name
            .as_deref()
            .or(self.first_name.as_deref());
        join_names(first, self.last_name.as_deref())
    }

    /// The phone numbers (none when Cliniko has none).
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
#[derive(Clone, PartialEq, Eq)]
pub struct PhoneNumber {
    /// `Mobile`, `Home`, `Work`, `Fax` or `Other`.
    pub phone_type: Option<String>,
    /// The number as entered.
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
#[derive(Clone, Default, PartialEq, Eq)]
pub struct PatientFields {
    /// Title.
    pub title: Option<String>,
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// Preferred first name.
    pub preferred_first_name: Option<String>,
    /// Date of birth.
    pub date_of_birth: Option<NaiveDate>,
    /// E-mail.
    pub email: Option<String>,
    /// Sex.
    pub sex: Option<String>,
    /// Address line 1.
    pub address_1: Option<String>,
    /// Address line 2.
    pub address_2: Option<String>,
    /// Address line 3.
    pub address_3: Option<String>,
    /// City.
    pub city: Option<String>,
    /// State.
    pub state: Option<String>,
    /// Post code.
    pub post_code: Option<String>,
    /// ISO 3166-1 country code.
    pub country_code: Option<String>,
    /// IANA time zone.
    pub time_zone: Option<String>,
    /// Phone numbers (replaces the list when given).
    pub phone_numbers: Option<Vec<PhoneNumber>>,
    /// Notes.
    pub notes: Option<String>,
    /// Another system's id for the patient.
    pub old_reference_id: Option<String>,
}

impl fmt::Debug for PatientFields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PatientFields").finish_non_exhaustive()
    }
}

/// A medical alert on a patient (e.g. an allergy).
#[derive(Clone, PartialEq, Eq)]
pub struct MedicalAlert {
    /// Cliniko's id.
    pub id: ClinikoId,
    /// The alert text.
    pub name: Option<String>,
    /// The patient it belongs to.
    pub patient_id: Option<ClinikoId>,
    /// Created.
    pub created_at: Option<DateTime<Utc>>,
    /// Last changed.
    pub updated_at: Option<DateTime<Utc>>,
    /// When deleted.
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

    fn jane() -> Patient {
        Patient {
            first_name: Some("Jane".into()),
            last_name: Some("Citizen".into()),
            date_of_birth: NaiveDate::from_ymd_opt(1984, 3, 2),
            email: Some("jane@example.org".into()),
            phone_numbers: Some(vec![PhoneNumber {
                phone_type: Some("Mobile".into()),
                number: Some("61444444444".into()),
            }]),
            ..Patient::new(ClinikoId::parse("1000000000000000007").unwrap())
        }
    }

    #[test]
    fn the_name_prefers_the_preferred_first_name() {
        let patient = jane();
        assert_eq!(patient.name(), "Jane Citizen");
        let preferred = Patient {
            preferred_first_name: Some("JJ".into()),
            ..patient
        };
        assert_eq!(preferred.name(), "JJ Citizen");
        let unnamed = Patient::new(ClinikoId::parse("8").unwrap());
        assert_eq!(unnamed.name(), "");
        assert!(unnamed.phones().is_empty());
    }

    #[test]
    fn debug_output_never_shows_patient_data() {
        let patient = jane();
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
}
