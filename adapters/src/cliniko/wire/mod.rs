//! Cliniko's JSON, read and written here and nowhere else: core's Cliniko types are plain domain
//! types, and each has a mirror in this module (serde's "remote" derive) that says how Cliniko
//! spells it. The compiler holds each mirror to its domain type field by field.
//!
//! Cliniko writes values loosely and this module reads them leniently: `""` or `null` for an
//! empty date or text, related records given only as `{"links": {"self": URL}}`, unknown fields
//! ignored. It writes timestamps as Cliniko's filters and bodies expect them: UTC, seconds, `Z`.
//!
//! - [`reference`]: practitioners, businesses, appointment types, settings, the key's user;
//! - [`patients`]: patients, phone numbers, medical alerts, and patient fields to send;
//! - [`appointments`]: appointments, available times, and bookings, changes and cancellations
//!   to send;
//! - [`daily`]: practitioners' daily availabilities.
//!
//! The Cliniko sandbox (`clinicgate-cliniko-sandbox`) writes the same JSON from its own records,
//! independently of this module, so the tests against it check this reading.

mod appointments;
mod daily;
mod patients;
mod reference;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use clinicgate_core::cliniko::ClinikoId;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub(crate) use appointments::{Conflicts, NextAvailableTime};

/// A core type read from Cliniko's JSON through its mirror in this module.
pub(crate) trait FromWire: Sized {
    /// Reads `Self` as Cliniko writes it.
    fn from_wire<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error>;
}

/// A core type sent to Cliniko as a JSON body through its mirror in this module.
pub(crate) trait ToWire {
    /// Writes `self` as Cliniko reads it.
    fn to_wire<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error>;
}

/// A core type in Cliniko's spelling: `Wire<T>` deserialises a `T` from Cliniko's JSON and
/// `Wire<&T>` serialises one into it.
#[derive(Debug)]
pub(crate) struct Wire<T>(pub(crate) T);

impl<'de, T: FromWire> Deserialize<'de> for Wire<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        T::from_wire(d).map(Wire)
    }
}

impl<T: ToWire + ?Sized> Serialize for Wire<&T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.to_wire(s)
    }
}

/// Implements [`FromWire`] (and [`ToWire`] with `both`) for a core type through its remote
/// mirror.
macro_rules! through_mirror {
    (from $domain:ty => $mirror:ty) => {
        impl $crate::cliniko::wire::FromWire for $domain {
            fn from_wire<'de, D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                <$mirror>::deserialize(d)
            }
        }
    };
    (to $domain:ty => $mirror:ty) => {
        impl $crate::cliniko::wire::ToWire for $domain {
            fn to_wire<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                <$mirror>::serialize(self, s)
            }
        }
    };
}
use through_mirror;

/// A datetime that may be `null`, absent or `""` (old Cliniko examples use `""`).
fn datetime<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    match Option::<String>::deserialize(d)?.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => DateTime::parse_from_rfc3339(text)
            .map(|at| Some(at.with_timezone(&Utc)))
            .map_err(|_| D::Error::custom("a datetime that is not ISO 8601")),
    }
}

/// A required datetime (`""` is refused).
fn required_datetime<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    datetime(d)?.ok_or_else(|| D::Error::custom("a required datetime is empty"))
}

/// A `YYYY-MM-DD` date that may be `null`, absent or `""`.
fn date<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NaiveDate>, D::Error> {
    match Option::<String>::deserialize(d)?.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .map(Some)
            .map_err(|_| D::Error::custom("a date that is not YYYY-MM-DD")),
    }
}

/// Text where `""` and whitespace mean "not given".
fn text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.filter(|value| !value.trim().is_empty()))
}

/// The id of a related record, from its `links.self` (the last path segment). A link that does
/// not end in an id (a filtered collection link) reads as absent.
fn link_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<ClinikoId>, D::Error> {
    #[derive(Deserialize)]
    struct Linked {
        links: Option<Links>,
    }
    #[derive(Deserialize)]
    struct Links {
        #[serde(rename = "self")]
        self_: Option<String>,
    }
    let linked = Option::<Linked>::deserialize(d)?;
    Ok(linked
        .and_then(|linked| linked.links)
        .and_then(|links| links.self_)
        .and_then(|url| id_from_url(&url)))
}

/// A list of ids that may be `null` or absent.
fn ids<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ClinikoId>, D::Error> {
    Ok(Option::<Vec<ClinikoId>>::deserialize(d)?.unwrap_or_default())
}

/// A boolean that may be `null` or absent.
fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Option::<bool>::deserialize(d)
}

/// The last path segment of a record URL, if it is an id.
fn id_from_url(url: &str) -> Option<ClinikoId> {
    let path = url.split(['?', '#']).next()?;
    ClinikoId::parse(path.trim_end_matches('/').rsplit('/').next()?)
}

/// A UTC timestamp the way Cliniko's bodies expect it: seconds precision, `Z`.
fn write_datetime<S: Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&at.to_rfc3339_opts(SecondsFormat::Secs, true))
}

/// An optional timestamp as [`write_datetime`] (callers skip `None`).
fn write_optional_datetime<S: Serializer>(
    at: &Option<DateTime<Utc>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => write_datetime(at, s),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Sample {
        #[serde(default, deserialize_with = "datetime")]
        at: Option<DateTime<Utc>>,
        #[serde(default, deserialize_with = "date")]
        on: Option<NaiveDate>,
        #[serde(default, deserialize_with = "link_id")]
        practitioner: Option<ClinikoId>,
        #[serde(default, deserialize_with = "text")]
        email: Option<String>,
    }

    #[test]
    fn empty_strings_nulls_and_absent_fields_are_all_empty() {
        for json in [
            r#"{"at": "", "on": "", "practitioner": null, "email": ""}"#,
            r#"{"at": null, "on": null, "email": "  "}"#,
            "{}",
        ] {
            let sample: Sample = serde_json::from_str(json).unwrap();
            assert!(sample.at.is_none() && sample.on.is_none(), "{json}");
            assert!(
                sample.practitioner.is_none() && sample.email.is_none(),
                "{json}"
            );
        }
    }

    #[test]
    fn a_related_record_is_read_from_the_last_segment_of_its_link() {
        let sample: Sample = serde_json::from_str(
            r#"{"at": "2014-08-30T18:00:00Z", "on": "1980-02-29",
                "practitioner": {"links": {"self": "https://api.au1.cliniko.com/v1/practitioners/836447129235883061"}}}"#,
        )
        .unwrap();
        assert_eq!(sample.practitioner.unwrap().as_str(), "836447129235883061");
        assert_eq!(
            sample
                .at
                .unwrap()
                .to_rfc3339_opts(SecondsFormat::Secs, true),
            "2014-08-30T18:00:00Z"
        );
        assert_eq!(sample.on.unwrap().to_string(), "1980-02-29");
    }

    #[test]
    fn a_collection_link_is_not_mistaken_for_an_id() {
        assert_eq!(
            id_from_url(
                "https://api.au1.cliniko.com/v1/practitioners?q%5B%5D=appointment_type_id%3A%3D1"
            ),
            None
        );
        assert_eq!(
            id_from_url("https://x/v1/patients/12/"),
            ClinikoId::parse("12")
        );
    }

    #[test]
    fn a_malformed_datetime_is_an_error_not_a_silent_gap() {
        assert!(serde_json::from_str::<Sample>(r#"{"at": "yesterday"}"#).is_err());
    }
}
