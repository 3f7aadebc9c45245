//! Cliniko's reference data: practitioners, businesses, appointment types and account settings.
//! These change rarely and hold no patient data, so the adapter may cache them per clinic.

use chrono::{DateTime, Utc};

use super::{ClinikoId, time_zones};

/// A practitioner (someone appointments can be booked with).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Practitioner {
    /// Cliniko's id.
    pub id: ClinikoId,
    /// Whether the practitioner is active (absent in old accounts).
    pub active: Option<bool>,
    /// Title, e.g. `Dr`.
    pub title: Option<String>,
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// The name shown to patients.
    pub display_name: Option<String>,
    /// Full name as Cliniko labels it.
    pub label: Option<String>,
    /// Designation, e.g. `Physiotherapist`.
    pub designation: Option<String>,
    /// Free-text description.
    pub description: Option<String>,
    /// Whether the practitioner takes online bookings.
    pub show_in_online_bookings: Option<bool>,
    /// The Cliniko user behind the practitioner.
    pub user_id: Option<ClinikoId>,
    /// The practitioner's default appointment type.
    pub default_appointment_type_id: Option<ClinikoId>,
    /// Created.
    pub created_at: Option<DateTime<Utc>>,
    /// Last changed.
    pub updated_at: Option<DateTime<Utc>>,
}

impl Practitioner {
    /// A practitioner known only by its id: every other field absent.
    pub fn new(id: ClinikoId) -> Self {
        Self {
            id,
            active: None,
            title: None,
            first_name: None,
            last_name: None,
            display_name: None,
            label: None,
            designation: None,
            description: None,
            show_in_online_bookings: None,
            user_id: None,
            default_appointment_type_id: None,
            created_at: None,
            updated_at: None,
        }
    }

    /// The best name Cliniko gave: display name, label, or first and last name.
    pub fn name(&self) -> String {
        self.display_name
            .clone()
            .or_else(|| self.label.clone())
            .unwrap_or_else(|| join_names(self.first_name.as_deref(), self.last_name.as_deref()))
    }
}

/// A business (a clinic location), with its own time zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Business {
    /// Cliniko's id.
    pub id: ClinikoId,
    /// Business name.
    pub business_name: Option<String>,
    /// Name shown to patients.
    pub display_name: Option<String>,
    /// Label.
    pub label: Option<String>,
    /// Address line 1.
    pub address_1: Option<String>,
    /// Address line 2.
    pub address_2: Option<String>,
    /// City.
    pub city: Option<String>,
    /// State or region.
    pub state: Option<String>,
    /// Post code.
    pub post_code: Option<String>,
    /// Country name.
    pub country: Option<String>,
    /// ISO 3166-1 country code.
    pub country_code: Option<String>,
    /// Contact details as free text.
    pub contact_information: Option<String>,
    /// Website.
    pub website_address: Option<String>,
    /// Whether the business takes online bookings.
    pub show_in_online_bookings: Option<bool>,
    /// Cliniko's time-zone label, e.g. `Melbourne` (not IANA).
    pub time_zone: Option<String>,
    /// The IANA time zone, e.g. `Australia/Melbourne` (newer accounts).
    pub time_zone_identifier: Option<String>,
    /// Appointment types offered here.
    pub appointment_type_ids: Vec<ClinikoId>,
    /// When it was archived.
    pub archived_at: Option<DateTime<Utc>>,
    /// Created.
    pub created_at: Option<DateTime<Utc>>,
    /// Last changed.
    pub updated_at: Option<DateTime<Utc>>,
}

impl Business {
    /// A business known only by its id: every other field absent.
    pub fn new(id: ClinikoId) -> Self {
        Self {
            id,
            business_name: None,
            display_name: None,
            label: None,
            address_1: None,
            address_2: None,
            city: None,
            state: None,
            post_code: None,
            country: None,
            country_code: None,
            contact_information: None,
            website_address: None,
            show_in_online_bookings: None,
            time_zone: None,
            time_zone_identifier: None,
            appointment_type_ids: Vec::new(),
            archived_at: None,
            created_at: None,
            updated_at: None,
        }
    }

    /// The best name Cliniko gave.
    pub fn name(&self) -> &str {
        self.display_name
            .as_deref()
            .or(self.business_name.as_deref())
            .or(self.label.as_deref())
            .unwrap_or("")
    }

    /// The business's IANA time zone: `time_zone_identifier`, else its label translated.
    pub fn iana_time_zone(&self) -> Option<&str> {
        self.time_zone_identifier
            .as_deref()
            .or_else(|| time_zones::iana_for_label(self.time_zone.as_deref()?))
    }
}

/// A kind of appointment (its duration, whether it is bookable online).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppointmentType {
    /// Cliniko's id.
    pub id: ClinikoId,
    /// Name, e.g. `Initial consultation`.
    pub name: Option<String>,
    /// Category.
    pub category: Option<String>,
    /// Colour (`#RGB` or `#RRGGBB`).
    pub color: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Length in minutes (0–1440).
    pub duration_in_minutes: Option<u32>,
    /// Attendees per appointment (group types have more than one).
    pub max_attendees: Option<u32>,
    /// Whether it is bookable online.
    pub show_in_online_bookings: Option<bool>,
    /// Whether it is held by video.
    pub telehealth_enabled: Option<bool>,
    /// Minimum hours between booking online and the appointment.
    pub online_bookings_lead_time_hours: Option<u32>,
    /// When it was archived.
    pub archived_at: Option<DateTime<Utc>>,
    /// Created.
    pub created_at: Option<DateTime<Utc>>,
    /// Last changed.
    pub updated_at: Option<DateTime<Utc>>,
}

impl AppointmentType {
    /// An appointment type known only by its id: every other field absent.
    pub fn new(id: ClinikoId) -> Self {
        Self {
            id,
            name: None,
            category: None,
            color: None,
            description: None,
            duration_in_minutes: None,
            max_attendees: None,
            show_in_online_bookings: None,
            telehealth_enabled: None,
            online_bookings_lead_time_hours: None,
            archived_at: None,
            created_at: None,
            updated_at: None,
        }
    }
}

/// The account settings ClinicGate uses (`GET /settings`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClinikoSettings {
    /// The account.
    pub account: AccountSettings,
    /// Calendar settings, when the key's role may see them.
    pub calendar: Option<CalendarSettings>,
}

/// `settings.account`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountSettings {
    /// Cliniko's id of the account.
    pub id: Option<ClinikoId>,
    /// Account name.
    pub name: Option<String>,
    /// Country.
    pub country: Option<String>,
    /// Time-zone label, e.g. `Melbourne`.
    pub time_zone: Option<String>,
    /// IANA time zone, when Cliniko gives it.
    pub time_zone_identifier: Option<String>,
    /// Currency symbol.
    pub currency_symbol: Option<String>,
    /// The account's Cliniko subdomain.
    pub subdomain: Option<String>,
}

impl AccountSettings {
    /// The account's IANA time zone: the identifier, else the label translated.
    pub fn iana_time_zone(&self) -> Option<&str> {
        self.time_zone_identifier
            .as_deref()
            .or_else(|| time_zones::iana_for_label(self.time_zone.as_deref()?))
    }
}

/// `settings.calendar`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarSettings {
    /// Size of a calendar slot in minutes.
    pub timeslot_size_in_minutes: Option<u32>,
}

/// `first last`, skipping missing parts.
pub(crate) fn join_names(first: Option<&str>, last: Option<&str>) -> String {
    [first, last]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(raw: &str) -> ClinikoId {
        ClinikoId::parse(raw).unwrap()
    }

    #[test]
    fn a_practitioner_s_name_is_the_best_one_cliniko_gave() {
        let ada = Practitioner {
            first_name: Some("Ada".into()),
            last_name: Some("Lovelace".into()),
            ..Practitioner::new(id("836447129235883061"))
        };
        assert_eq!(ada.name(), "Ada Lovelace");
        let labelled = Practitioner {
            label: Some("Dr Ada Lovelace".into()),
            ..ada.clone()
        };
        assert_eq!(labelled.name(), "Dr Ada Lovelace");
        let displayed = Practitioner {
            display_name: Some("Ada".into()),
            ..labelled
        };
        assert_eq!(displayed.name(), "Ada");
    }

    #[test]
    fn a_business_without_an_identifier_uses_its_label() {
        let business = Business {
            business_name: Some("North".into()),
            time_zone: Some("Perth".into()),
            ..Business::new(id("5"))
        };
        assert_eq!(business.iana_time_zone(), Some("Australia/Perth"));
        assert_eq!(business.name(), "North");
        let identified = Business {
            time_zone_identifier: Some("Australia/Sydney".into()),
            ..business
        };
        assert_eq!(identified.iana_time_zone(), Some("Australia/Sydney"));
    }
}
