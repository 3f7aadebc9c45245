//! Patients: `patient.created` for a new one, `patient.updated` when what a subscriber sees of it
//! ([`PatientRecord`]) changed; nothing is kept but the fingerprint of that.

use super::Prior;
use super::fingerprint::{Fingerprint, Fingerprints};
use crate::Result;
use crate::events::{EventType, PatientRecord};

/// The fingerprint of what a subscriber sees of a patient.
///
/// # Errors
/// `Internal` when it cannot be serialised.
pub fn visible(fingerprints: &Fingerprints, patient: &PatientRecord) -> Result<Fingerprint> {
    fingerprints.of("patient", patient)
}

/// The event a version of a patient with fingerprint `now` means.
pub fn diff(prior: Prior<'_, Fingerprint>, now: Fingerprint) -> Option<EventType> {
    match prior {
        Prior::New => Some(EventType::PatientCreated),
        Prior::Known(before) if *before != now => Some(EventType::PatientUpdated),
        Prior::Unseen => Some(EventType::PatientUpdated),
        Prior::Known(_) | Prior::Adopted => None,
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};

    use super::*;
    use crate::cliniko::{ClinikoId, Patient};
    use crate::polling::fingerprint::test_fingerprints;

    fn jane() -> Patient {
        Patient {
            first_name: Some("Jane".into()),
            last_name: Some("Citizen".into()),
            email: Some("jane@example.org".into()),
            updated_at: Some("2030-01-01T00:00:00Z".parse().unwrap()),
            ..Patient::new(ClinikoId::parse("5").unwrap())
        }
    }

    fn fp(patient: &Patient) -> Fingerprint {
        visible(&test_fingerprints(), &PatientRecord::from(patient)).unwrap()
    }

    #[test]
    fn only_a_change_a_subscriber_sees_is_an_update() {
        let before = fp(&jane());
        assert_eq!(diff(Prior::New, before), Some(EventType::PatientCreated));
        assert_eq!(diff(Prior::Adopted, before), None);
        let later: DateTime<Utc> = "2030-02-01T00:00:00Z".parse().unwrap();
        let invisible = Patient {
            notes: Some("private clinical note".into()),
            medicare: Some("1234".into()),
            accepted_sms_marketing: Some(true),
            updated_at: Some(later),
            ..jane()
        };
        assert_eq!(diff(Prior::Known(&before), fp(&invisible)), None);
        for visible_change in [
            Patient {
                email: Some("jane@new.example".into()),
                ..jane()
            },
            Patient {
                archived_at: Some(later),
                ..jane()
            },
            Patient {
                old_reference_id: Some("EXT-1".into()),
                ..jane()
            },
        ] {
            assert_eq!(
                diff(Prior::Known(&before), fp(&visible_change)),
                Some(EventType::PatientUpdated)
            );
        }
    }
}
