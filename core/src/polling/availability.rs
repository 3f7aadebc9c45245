//! Coalescing `doctor.availability_changed`: at most one event per doctor per minute. A change
//! seen within a minute of the last event is held and sent when that minute is over, so a burst
//! of bookings makes two events (the first at once, one for the rest), never zero.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::appointments::AVAILABILITY_HORIZON;
use crate::cliniko::ClinikoId;
use crate::events::AvailabilityChange;

/// The least time between two events for one doctor.
pub const COALESCE_WINDOW: Duration = Duration::minutes(1);

/// What is kept per doctor between polls.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AvailabilityMark {
    /// When the last event was emitted.
    pub emitted_at: Option<DateTime<Utc>>,
    /// A change is held back since then (emitted when the window is over).
    pub held_since: Option<DateTime<Utc>>,
}

impl AvailabilityMark {
    /// A change was seen at `now`: `true` when the event goes now, `false` when it is held.
    pub fn changed(&mut self, now: DateTime<Utc>) -> bool {
        if self
            .emitted_at
            .is_some_and(|last| now - last < COALESCE_WINDOW)
        {
            self.held_since.get_or_insert(now);
            false
        } else {
            self.emitted_at = Some(now);
            self.held_since = None;
            true
        }
    }

    /// When a held change is due.
    pub fn due_at(&self) -> Option<DateTime<Utc>> {
        self.held_since?;
        self.emitted_at.map(|last| last + COALESCE_WINDOW)
    }

    /// `true` when a held change is due at `now` (and is now emitted).
    pub fn flush(&mut self, now: DateTime<Utc>) -> bool {
        if self.due_at().is_some_and(|due| due <= now) {
            self.emitted_at = Some(now);
            self.held_since = None;
            true
        } else {
            false
        }
    }
}

/// The event's data for `doctor` at `now`.
pub fn change(doctor: ClinikoId, now: DateTime<Utc>) -> AvailabilityChange {
    AvailabilityChange {
        doctor_id: doctor,
        from: now,
        until: now + AVAILABILITY_HORIZON,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + Duration::seconds(1_900_000_000 + secs)
    }

    #[test]
    fn the_first_change_goes_at_once_and_a_burst_within_the_minute_makes_one_more() {
        let mut mark = AvailabilityMark::default();
        assert!(mark.changed(at(0)));
        assert_eq!(mark.due_at(), None);
        assert!(!mark.changed(at(10)));
        assert!(!mark.changed(at(30)));
        assert_eq!(mark.due_at(), Some(at(60)));
        assert!(!mark.flush(at(59)));
        assert!(mark.flush(at(61)));
        assert!(!mark.flush(at(200)), "nothing left to send");
        assert!(!mark.changed(at(100)), "within a minute of the flush");
        assert!(mark.flush(at(121)));
        assert!(mark.changed(at(300)));
    }
}
