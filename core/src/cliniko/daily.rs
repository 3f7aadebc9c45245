//! A practitioner's weekly hours at a business, as Cliniko keeps them: one "daily availability"
//! per weekday, with that day's spans in the business's local clock. Changing them changes the
//! practitioner's free times. No patient data.

use chrono::{DateTime, NaiveTime, Utc};

use super::ClinikoId;

/// One weekday's hours of a practitioner at a business.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DailyAvailability {
    /// Cliniko's id.
    pub id: ClinikoId,
    /// Whose hours.
    pub practitioner_id: Option<ClinikoId>,
    /// Where.
    pub business_id: Option<ClinikoId>,
    /// ISO weekday, 1 = Monday … 7 = Sunday.
    pub day_of_week: Option<u32>,
    /// The day's spans, business-local.
    pub availabilities: Vec<AvailabilitySpan>,
    /// Created.
    pub created_at: Option<DateTime<Utc>>,
    /// Last changed.
    pub updated_at: Option<DateTime<Utc>>,
}

/// One span of a day's hours, business-local.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct AvailabilitySpan {
    /// Start.
    pub starts_at: NaiveTime,
    /// End.
    pub ends_at: NaiveTime,
}

impl DailyAvailability {
    /// A daily availability known only by its id: every other field absent.
    pub fn new(id: ClinikoId) -> Self {
        Self {
            id,
            practitioner_id: None,
            business_id: None,
            day_of_week: None,
            availabilities: Vec::new(),
            created_at: None,
            updated_at: None,
        }
    }
}
