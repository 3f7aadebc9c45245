//! Which Cliniko records the public API shows: the one place the "publicly bookable" rule lives.
//!
//! Today the rule is Cliniko's own online-bookings switch. A clinic will be able to change it in
//! its settings later (e.g. list practitioners who are not yet bookable online), so every reader
//! of the directory goes through [`Visibility`] instead of testing the fields itself.

use crate::cliniko::{AppointmentType, Business, Practitioner};

/// Decides which practitioners, businesses and appointment types are public.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Visibility {
    _rule: (),
}

impl Visibility {
    /// The rule every clinic has today: what Cliniko itself shows in online bookings.
    pub const fn online_bookings() -> Self {
        Self { _rule: () }
    }

    /// An active practitioner shown in online bookings. A missing `active` counts as active (old
    /// accounts do not send it); a missing `show_in_online_bookings` counts as hidden, because
    /// publishing someone who did not opt in is the worse mistake.
    pub fn practitioner(&self, practitioner: &Practitioner) -> bool {
        practitioner.active != Some(false) && practitioner.show_in_online_bookings == Some(true)
    }

    /// A business shown in online bookings and not archived.
    pub fn business(&self, business: &Business) -> bool {
        business.archived_at.is_none() && business.show_in_online_bookings == Some(true)
    }

    /// An appointment type shown in online bookings and not archived.
    pub fn appointment_type(&self, appointment_type: &AppointmentType) -> bool {
        appointment_type.archived_at.is_none()
            && appointment_type.show_in_online_bookings == Some(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cliniko::ClinikoId;

    fn id(raw: &str) -> ClinikoId {
        ClinikoId::parse(raw).unwrap()
    }

    fn practitioner(active: Option<bool>, shown: Option<bool>) -> Practitioner {
        Practitioner {
            active,
            show_in_online_bookings: shown,
            ..Practitioner::new(id("1"))
        }
    }

    #[test]
    fn only_active_practitioners_shown_in_online_bookings_are_public() {
        let rule = Visibility::online_bookings();
        assert!(rule.practitioner(&practitioner(Some(true), Some(true))));
        assert!(rule.practitioner(&practitioner(None, Some(true))));
        assert!(!rule.practitioner(&practitioner(Some(false), Some(true))));
        assert!(!rule.practitioner(&practitioner(Some(true), Some(false))));
        assert!(!rule.practitioner(&practitioner(Some(true), None)));
    }

    #[test]
    fn archived_or_hidden_businesses_and_types_are_not_public() {
        let rule = Visibility::online_bookings();
        let business = Business {
            show_in_online_bookings: Some(true),
            archived_at: "2030-01-01T00:00:00Z".parse().ok(),
            ..Business::new(id("2"))
        };
        assert!(!rule.business(&business));
        let shown = AppointmentType {
            show_in_online_bookings: Some(true),
            ..AppointmentType::new(id("3"))
        };
        let hidden = AppointmentType {
            show_in_online_bookings: Some(false),
            ..AppointmentType::new(id("3"))
        };
        assert!(rule.appointment_type(&shown));
        assert!(!rule.appointment_type(&hidden));
    }
}
