//! How Cliniko writes values, read leniently: `""` or `null` for an empty date, related records
//! given only as `{"links": {"self": URL}}`, and seconds-precision UTC timestamps when writing.
//!
//! Used through `#[serde(deserialize_with = …)]` by the models in this module; every helper
//! accepts an absent field when combined with `#[serde(default)]`.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serializer};

use super::ClinikoId;

/// A datetime that may be `null`, absent or `""` (old Cliniko examples use `""`).
pub fn datetime<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    match Option::<String>::deserialize(d)?.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => DateTime::parse_from_rfc3339(text)
            .map(|at| Some(at.with_timezone(&Utc)))
            .map_err(|_| D::Error::custom("a datetime that is not ISO 8601")),
    }
}

/// A required datetime (`""` is refused).
pub fn required_datetime<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    datetime(d)?.ok_or_else(|| D::Error::custom("a required datetime is empty"))
}

/// A `YYYY-MM-DD` date that may be `null`, absent or `""`.
pub fn date<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NaiveDate>, D::Error> {
    match Option::<String>::deserialize(d)?.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .map(Some)
            .map_err(|_| D::Error::custom("a date that is not YYYY-MM-DD")),
    }
}

/// Text where `""` and whitespace mean "not given".
pub fn text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.filter(|value| !value.trim().is_empty()))
}

/// The id of a related record, from its `links.self` (the last path segment). A link that does
/// not end in an id (a filtered collection link) reads as absent.
pub fn link_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<ClinikoId>, D::Error> {
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
pub fn ids<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ClinikoId>, D::Error> {
    Ok(Option::<Vec<ClinikoId>>::deserialize(d)?.unwrap_or_default())
}

/// A boolean that may be `null` or absent.
pub fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Option::<bool>::deserialize(d)
}

/// The last path segment of a record URL, if it is an id.
pub fn id_from_url(url: &str) -> Option<ClinikoId> {
    let path = url.split(['?', '#']).next()?;
    ClinikoId::parse(path.trim_end_matches('/').rsplit('/').next()?)
}

/// Writes a UTC timestamp the way Cliniko's filters and bodies expect: seconds precision, `Z`.
pub fn format_datetime(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Serialises a timestamp as [`format_datetime`].
pub fn write_datetime<S: Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_datetime(at))
}

/// Serialises an optional timestamp as [`format_datetime`] (callers skip `None`).
pub fn write_optional_datetime<S: Serializer>(
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
        assert_eq!(format_datetime(&sample.at.unwrap()), "2014-08-30T18:00:00Z");
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
