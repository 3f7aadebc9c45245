//! Free appointment times: which practitioner, at which business, for which appointment type.

use chrono::{DateTime, NaiveDate, Utc};

use super::ClinikoId;

/// The longest range [`super::ClinikoClient::available_times`] serves at once (13 weeks): longer
/// ranges would spend a clinic's budget on one request.
pub const MAX_AVAILABILITY_DAYS: i64 = 91;

/// What can be booked: an appointment type with a practitioner at a business.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Bookable {
    /// The business (location); its time zone decides what "a day" is.
    pub business_id: ClinikoId,
    /// The practitioner.
    pub practitioner_id: ClinikoId,
    /// The appointment type.
    pub appointment_type_id: ClinikoId,
}

/// Free times of a [`Bookable`] on the days `from..=to`, in the business's time zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvailabilityQuery {
    /// What to book.
    pub bookable: Bookable,
    /// First day (business-local). Days before today are skipped: Cliniko refuses them.
    pub from: NaiveDate,
    /// Last day (business-local), inclusive.
    pub to: NaiveDate,
}

/// One free start time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AvailableTime {
    /// When the appointment would start (UTC).
    pub appointment_start: DateTime<Utc>,
}
