//! Doctors' working hours (Cliniko's daily availabilities): a changed day touches that doctor's
//! bookable time; nothing is kept but a fingerprint of the day.

use super::Prior;
use super::fingerprint::{Fingerprint, Fingerprints};
use crate::Result;
use crate::cliniko::{ClinikoId, DailyAvailability};

/// The fingerprint of a day's hours (whose, where, which weekday, which spans).
///
/// # Errors
/// `Internal` when it cannot be serialised.
pub fn visible(fingerprints: &Fingerprints, day: &DailyAvailability) -> Result<Fingerprint> {
    let mut spans = day.availabilities.clone();
    spans.sort_unstable();
    fingerprints.of(
        "hours",
        &(
            &day.practitioner_id,
            &day.business_id,
            day.day_of_week,
            spans,
        ),
    )
}

/// The doctor whose bookable time a version of `day` (fingerprint `now`) changed, if any.
pub fn diff(
    prior: Prior<'_, Fingerprint>,
    day: &DailyAvailability,
    now: Fingerprint,
) -> Option<ClinikoId> {
    let changed = match prior {
        Prior::New => true,
        Prior::Known(before) => *before != now,
        Prior::Adopted => false,
        // Changed since watching began, from something never read: assume it moved.
        Prior::Unseen => true,
    };
    changed.then(|| day.practitioner_id.clone()).flatten()
}

#[cfg(test)]
mod tests {
    use chrono::NaiveTime;

    use super::*;
    use crate::cliniko::AvailabilitySpan;
    use crate::polling::fingerprint::test_fingerprints;

    fn span(from: u32, to: u32) -> AvailabilitySpan {
        AvailabilitySpan {
            starts_at: NaiveTime::from_hms_opt(from, 0, 0).unwrap(),
            ends_at: NaiveTime::from_hms_opt(to, 0, 0).unwrap(),
        }
    }

    fn monday() -> DailyAvailability {
        DailyAvailability {
            practitioner_id: ClinikoId::parse("11"),
            business_id: ClinikoId::parse("21"),
            day_of_week: Some(1),
            availabilities: vec![span(9, 12), span(13, 17)],
            ..DailyAvailability::new(ClinikoId::parse("3").unwrap())
        }
    }

    #[test]
    fn changed_hours_touch_their_doctor_and_a_resaved_day_does_not() {
        let fingerprints = test_fingerprints();
        let before = visible(&fingerprints, &monday()).unwrap();
        let reordered = DailyAvailability {
            availabilities: vec![span(13, 17), span(9, 12)],
            updated_at: Some("2030-01-01T00:00:00Z".parse().unwrap()),
            ..monday()
        };
        let same = visible(&fingerprints, &reordered).unwrap();
        assert_eq!(diff(Prior::Known(&before), &reordered, same), None);
        let shorter = DailyAvailability {
            availabilities: vec![span(9, 12)],
            ..monday()
        };
        let now = visible(&fingerprints, &shorter).unwrap();
        assert_eq!(
            diff(Prior::Known(&before), &shorter, now),
            ClinikoId::parse("11")
        );
        assert_eq!(diff(Prior::New, &monday(), before), ClinikoId::parse("11"));
        assert_eq!(diff(Prior::Adopted, &monday(), before), None);
    }
}
