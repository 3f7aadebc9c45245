//! Reference data as Cliniko writes it: practitioners, businesses, appointment types, the account
//! settings and the key's user.

use chrono::{DateTime, Utc};
use clinicgate_core::cliniko::{
    AccountSettings, AppointmentType, Business, CalendarSettings, ClinikoId, ClinikoSettings,
    ClinikoUser, Practitioner,
};
use serde::{Deserialize, Deserializer};

use super::{datetime, flag, ids, link_id, text, through_mirror};

#[derive(Deserialize)]
#[serde(remote = "Practitioner")]
struct PractitionerDef {
    id: ClinikoId,
    #[serde(default, deserialize_with = "flag")]
    active: Option<bool>,
    #[serde(default, deserialize_with = "text")]
    title: Option<String>,
    #[serde(default, deserialize_with = "text")]
    first_name: Option<String>,
    #[serde(default, deserialize_with = "text")]
    last_name: Option<String>,
    #[serde(default, deserialize_with = "text")]
    display_name: Option<String>,
    #[serde(default, deserialize_with = "text")]
    label: Option<String>,
    #[serde(default, deserialize_with = "text")]
    designation: Option<String>,
    #[serde(default, deserialize_with = "text")]
    description: Option<String>,
    #[serde(default, deserialize_with = "flag")]
    show_in_online_bookings: Option<bool>,
    #[serde(rename = "user", default, deserialize_with = "link_id")]
    user_id: Option<ClinikoId>,
    #[serde(
        rename = "default_appointment_type",
        default,
        deserialize_with = "link_id"
    )]
    default_appointment_type_id: Option<ClinikoId>,
    #[serde(default, deserialize_with = "datetime")]
    created_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "datetime")]
    updated_at: Option<DateTime<Utc>>,
}
through_mirror!(from Practitioner => PractitionerDef);

#[derive(Deserialize)]
#[serde(remote = "Business")]
struct BusinessDef {
    id: ClinikoId,
    #[serde(default, deserialize_with = "text")]
    business_name: Option<String>,
    #[serde(default, deserialize_with = "text")]
    display_name: Option<String>,
    #[serde(default, deserialize_with = "text")]
    label: Option<String>,
    #[serde(default, deserialize_with = "text")]
    address_1: Option<String>,
    #[serde(default, deserialize_with = "text")]
    address_2: Option<String>,
    #[serde(default, deserialize_with = "text")]
    city: Option<String>,
    #[serde(default, deserialize_with = "text")]
    state: Option<String>,
    #[serde(default, deserialize_with = "text")]
    post_code: Option<String>,
    #[serde(default, deserialize_with = "text")]
    country: Option<String>,
    #[serde(default, deserialize_with = "text")]
    country_code: Option<String>,
    #[serde(default, deserialize_with = "text")]
    contact_information: Option<String>,
    #[serde(default, deserialize_with = "text")]
    website_address: Option<String>,
    #[serde(default, deserialize_with = "flag")]
    show_in_online_bookings: Option<bool>,
    #[serde(default, deserialize_with = "text")]
    time_zone: Option<String>,
    #[serde(default, deserialize_with = "text")]
    time_zone_identifier: Option<String>,
    #[serde(default, deserialize_with = "ids")]
    appointment_type_ids: Vec<ClinikoId>,
    #[serde(default, deserialize_with = "datetime")]
    archived_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "datetime")]
    created_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "datetime")]
    updated_at: Option<DateTime<Utc>>,
}
through_mirror!(from Business => BusinessDef);

#[derive(Deserialize)]
#[serde(remote = "AppointmentType")]
struct AppointmentTypeDef {
    id: ClinikoId,
    #[serde(default, deserialize_with = "text")]
    name: Option<String>,
    #[serde(default, deserialize_with = "text")]
    category: Option<String>,
    #[serde(default, deserialize_with = "text")]
    color: Option<String>,
    #[serde(default, deserialize_with = "text")]
    description: Option<String>,
    #[serde(default)]
    duration_in_minutes: Option<u32>,
    #[serde(default)]
    max_attendees: Option<u32>,
    #[serde(default, deserialize_with = "flag")]
    show_in_online_bookings: Option<bool>,
    #[serde(default, deserialize_with = "flag")]
    telehealth_enabled: Option<bool>,
    #[serde(default)]
    online_bookings_lead_time_hours: Option<u32>,
    #[serde(default, deserialize_with = "datetime")]
    archived_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "datetime")]
    created_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "datetime")]
    updated_at: Option<DateTime<Utc>>,
}
through_mirror!(from AppointmentType => AppointmentTypeDef);

/// `GET /settings` (the client unwraps a `{"settings": …}` envelope first).
#[derive(Deserialize)]
#[serde(remote = "ClinikoSettings")]
struct ClinikoSettingsDef {
    #[serde(with = "AccountSettingsDef")]
    account: AccountSettings,
    #[serde(default, deserialize_with = "calendar")]
    calendar: Option<CalendarSettings>,
}
through_mirror!(from ClinikoSettings => ClinikoSettingsDef);

#[derive(Deserialize)]
#[serde(remote = "AccountSettings")]
struct AccountSettingsDef {
    #[serde(default)]
    id: Option<ClinikoId>,
    #[serde(default, deserialize_with = "text")]
    name: Option<String>,
    #[serde(default, deserialize_with = "text")]
    country: Option<String>,
    #[serde(default, deserialize_with = "text")]
    time_zone: Option<String>,
    #[serde(default, deserialize_with = "text")]
    time_zone_identifier: Option<String>,
    #[serde(default, deserialize_with = "text")]
    currency_symbol: Option<String>,
    #[serde(default, deserialize_with = "text")]
    subdomain: Option<String>,
}

#[derive(Deserialize)]
#[serde(remote = "CalendarSettings")]
struct CalendarSettingsDef {
    #[serde(default)]
    timeslot_size_in_minutes: Option<u32>,
}

/// `settings.calendar`, absent when the key's role may not see it.
fn calendar<'de, D: Deserializer<'de>>(d: D) -> Result<Option<CalendarSettings>, D::Error> {
    #[derive(Deserialize)]
    struct Calendar(#[serde(with = "CalendarSettingsDef")] CalendarSettings);
    Ok(Option::<Calendar>::deserialize(d)?.map(|Calendar(settings)| settings))
}

/// `GET /user`.
#[derive(Deserialize)]
#[serde(remote = "ClinikoUser")]
struct ClinikoUserDef {
    id: ClinikoId,
    first_name: Option<String>,
    last_name: Option<String>,
    email: Option<String>,
    role: Option<String>,
    #[serde(alias = "user_active")]
    active: Option<bool>,
}
through_mirror!(from ClinikoUser => ClinikoUserDef);

#[cfg(test)]
mod tests {
    use super::super::Wire;
    use super::*;

    #[test]
    fn a_practitioner_with_unknown_fields_and_links_parses() {
        let Wire(practitioner): Wire<Practitioner> = serde_json::from_str(
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
        let Wire(business): Wire<Business> = serde_json::from_str(
            r#"{"id": "5", "business_name": "North", "time_zone": "Perth", "time_zone_identifier": ""}"#,
        )
        .unwrap();
        assert_eq!(business.iana_time_zone(), Some("Australia/Perth"));
        assert_eq!(business.name(), "North");
        assert!(business.appointment_type_ids.is_empty());
    }

    #[test]
    fn settings_read_with_or_without_a_calendar_and_users_with_either_active_flag() {
        let Wire(settings): Wire<ClinikoSettings> = serde_json::from_str(
            r#"{"account": {"id": 7, "time_zone": "Melbourne", "currency_symbol": ""},
                "calendar": {"timeslot_size_in_minutes": 15}}"#,
        )
        .unwrap();
        assert_eq!(
            settings.account.iana_time_zone(),
            Some("Australia/Melbourne")
        );
        assert_eq!(settings.account.currency_symbol, None);
        assert_eq!(
            settings.calendar.and_then(|c| c.timeslot_size_in_minutes),
            Some(15)
        );
        let Wire(bare): Wire<ClinikoSettings> = serde_json::from_str(r#"{"account": {}}"#).unwrap();
        assert_eq!(bare.calendar, None);

        let Wire(user): Wire<ClinikoUser> =
            serde_json::from_str(r#"{"id": "5", "role": "receptionist", "user_active": true}"#)
                .unwrap();
        assert_eq!(user.active, Some(true));
        assert_eq!(user.first_name, None);
    }
}
