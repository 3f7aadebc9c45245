//! Cliniko's reference data: practitioners, businesses, appointment types and account settings.
//! These change rarely and hold no patient data, so the adapter may cache them per clinic.
//!
//! Every model ignores fields it does not know, reads `""` as empty and reads related records
//! from their `links.self` (see [`super::wire`]).

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::{ClinikoId, time_zones, wire};

/// A practitioner (someone appointments can be booked with).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Practitioner {
    /// Cliniko's id.
    pub id: ClinikoId,
    /// Whether the practitioner is active (absent in old accounts).
    #[serde(default, deserialize_with = "wire::flag")]
    pub active: Option<bool>,
    /// Title, e.g. `Dr`.
    #[serde(default, deserialize_with = "wire::text")]
    pub title: Option<String>,
    /// First name.
    #[serde(default, deserialize_with = "wire::text")]
    pub first_name: Option<String>,
    /// Last name.
    #[serde(default, deserialize_with = "wire::text")]
    pub last_name: Option<String>,
    /// The name shown to patients.
    #[serde(default, deserialize_with = "wire::text")]
    pub display_name: Option<String>,
    /// Full name as Cliniko labels it.
    #[serde(default, deserialize_with = "wire::text")]
    pub label: Option<String>,
    /// Designation, e.g. `Physiotherapist`.
    #[serde(default, deserialize_with = "wire::text")]
    pub designation: Option<String>,
    /// Free-text description.
    #[serde(default, deserialize_with = "wire::text")]
    pub description: Option<String>,
    /// Whether the practitioner takes online bookings.
    #[serde(default, deserialize_with = "wire::flag")]
    pub show_in_online_bookings: Option<bool>,
    /// The Cliniko user behind the practitioner.
    #[serde(rename = "user", default, deserialize_with = "wire::link_id")]
    pub user_id: Option<ClinikoId>,
    /// The practitioner's default appointment type.
    #[serde(
        rename = "default_appointment_type",
        default,
        deserialize_with = "wire::link_id"
    )]
    pub default_appointment_type_id: Option<ClinikoId>,
    /// Created.
    #[serde(default, deserialize_with = "wire::datetime")]
    pub created_at: Option<DateTime<Utc>>,
    /// Last changed.
    #[serde(default, deserialize_with = "wire::datetime")]
    pub updated_at: Option<DateTime<Utc>>,
}

impl Practitioner {
    /// The best name Cliniko gave: display name, label, or first and last name.
    pub fn name(&self) -> String {
        self.display_name
            .clone()
            .or_else(|| self.label.clone())
            .unwrap_or_else(|| join_names(self.first_name.as_deref(), self.last_name.as_deref()))
    }
}

/// A business (a clinic location), with its own time zone.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Business {
    /// Cliniko's id.
    pub id: ClinikoId,
    /// Business name.
    #[serde(default, deserialize_with = "wire::text")]
    pub business_name: Option<String>,
    /// Name shown to patients.
    #[serde(default, deserialize_with = "wire::text")]
    pub display_name: Option<String>,
    /// Label.
    #[serde(default, deserialize_with = "wire::text")]
    pub label: Option<String>,
    /// Address line 1.
    #[serde(default, deserialize_with = "wire::text")]
    pub address_1: Option<String>,
    /// Address line 2.
    #[serde(default, deserialize_with = "wire::text")]
    pub address_2: Option<String>,
    /// City.
    #[serde(default, deserialize_with = "wire::text")]
    pub city: Option<String>,
    /// State or region.
    #[serde(default, deserialize_with = "wire::text")]
    pub state: Option<String>,
    /// Post code.
    #[serde(default, deserialize_with = "wire::text")]
    pub post_code: Option<String>,
    /// Country name.
    #[serde(default, deserialize_with = "wire::text")]
    pub country: Option<String>,
    /// ISO 3166-1 country code.
    #[serde(default, deserialize_with = "wire::text")]
    pub country_code: Option<String>,
    /// Contact details as free text.
    #[serde(default, deserialize_with = "wire::text")]
    pub contact_information: Option<String>,
    /// Website.
    #[serde(default, deserialize_with = "wire::text")]
    pub website_address: Option<String>,
    /// Whether the business takes online bookings.
    #[serde(default, deserialize_with = "wire::flag")]
    pub show_in_online_bookings: Option<bool>,
    /// Cliniko's time-zone label, e.g. `Melbourne` (not IANA).
    #[serde(default, deserialize_with = "wire::text")]
    pub time_zone: Option<String>,
    /// The IANA time zone, e.g. `Australia/Melbourne` (newer accounts).
    #[serde(default, deserialize_with = "wire::text")]
    pub time_zone_identifier: Option<String>,
    /// Appointment types offered here.
    #[serde(default, deserialize_with = "wire::ids")]
    pub appointment_type_ids: Vec<ClinikoId>,
    /// When it was archived.
    #[serde(default, deserialize_with = "wire::datetime")]
    pub archived_at: Option<DateTime<Utc>>,
    /// Created.
    #[serde(default, deserialize_with = "wire::datetime")]
    pub created_at: Option<DateTime<Utc>>,
    /// Last changed.
    #[serde(default, deserialize_with = "wire::datetime")]
    pub updated_at: Option<DateTime<Utc>>,
}

impl Business {
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
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AppointmentType {
    /// Cliniko's id.
    pub id: ClinikoId,
    /// Name, e.g. `Initial consultation`.
    #[serde(default, deserialize_with = "wire::text")]
    pub name: Option<String>,
    /// Category.
    #[serde(default, deserialize_with = "wire::text")]
    pub category: Option<String>,
    /// Colour (`#RGB` or `#RRGGBB`).
    #[serde(default, deserialize_with = "wire::text")]
    pub color: Option<String>,
    /// Description.
    #[serde(default, deserialize_with = "wire::text")]
    pub description: Option<String>,
    /// Length in minutes (0–1440).
    #[serde(default)]
    pub duration_in_minutes: Option<u32>,
    /// Attendees per appointment (group types have more than one).
    #[serde(default)]
    pub max_attendees: Option<u32>,
    /// Whether it is bookable online.
    #[serde(default, deserialize_with = "wire::flag")]
    pub show_in_online_bookings: Option<bool>,
    /// Whether it is held by video.
    #[serde(default, deserialize_with = "wire::flag")]
    pub telehealth_enabled: Option<bool>,
    /// Minimum hours between booking online and the appointment.
    #[serde(default)]
    pub online_bookings_lead_time_hours: Option<u32>,
    /// When it was archived.
    #[serde(default, deserialize_with = "wire::datetime")]
    pub archived_at: Option<DateTime<Utc>>,
    /// Created.
    #[serde(default, deserialize_with = "wire::datetime")]
    pub created_at: Option<DateTime<Utc>>,
    /// Last changed.
    #[serde(default, deserialize_with = "wire::datetime")]
    pub updated_at: Option<DateTime<Utc>>,
}

/// The account settings ClinicGate uses (`GET /settings`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ClinikoSettings {
    /// The account.
    pub account: AccountSettings,
    /// Calendar settings, when the key's role may see them.
    #[serde(default)]
    pub calendar: Option<CalendarSettings>,
}

/// `settings.account`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AccountSettings {
    /// Cliniko's id of the account.
    #[serde(default)]
    pub id: Option<ClinikoId>,
    /// Account name.
    #[serde(default, deserialize_with = "wire::text")]
    pub name: Option<String>,
    /// Country.
    #[serde(default, deserialize_with = "wire::text")]
    pub country: Option<String>,
    /// Time-zone label, e.g. `Melbourne`.
    #[serde(default, deserialize_with = "wire::text")]
    pub time_zone: Option<String>,
    /// IANA time zone, when Cliniko gives it.
    #[serde(default, deserialize_with = "wire::text")]
    pub time_zone_identifier: Option<String>,
    /// Currency symbol.
    #[serde(default, deserialize_with = "wire::text")]
    pub currency_symbol: Option<String>,
    /// The account's Cliniko subdomain.
    #[serde(default, deserialize_with = "wire::text")]
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
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CalendarSettings {
    /// Size of a calendar slot in minutes.
    #[serde(default)]
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

    #[test]
    fn a_practitioner_with_unknown_fields_and_links_parses() {
        let practitioner: Practitioner = serde_json::from_str(
            r#"{"id": "836447129235883061", "first_name": "Ada", "last_name": "Lovelace",
                "display_name": "", "new_field_2030": {"x": 1},
                "user": {"links": {"self": "https://api.au1.cliniko.com/v1/users/77"}},
                "appointments": {"links": {"self": "https://api.au1.cliniko.com/v1/practitioners/1/appointments"}},
                "created_at": "2020-01-01T00:00:00Z", "updated_at": ""}"#,
        )
        .unwrap();
        assert_eq!(practitioner.name(), "Ada Lovelace");
        assert_eq!(practitioner.user_id.unwrap().as_str(), "77");
        assert!(practitioner.updated_at.is_none());
    }

    #[test]
    fn a_business_without_an_identifier_uses_its_label() {
        let business: Business = serde_json::from_str(
            r#"{"id": "5", "business_name": "North", "time_zone": "Perth", "time_zone_identifier": ""}"#,
        )
        .unwrap();
        assert_eq!(business.iana_time_zone(), Some("Australia/Perth"));
        assert_eq!(business.name(), "North");
    }
}
