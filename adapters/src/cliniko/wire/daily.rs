//! Daily availabilities as Cliniko writes them: a weekday and its spans as local `HH:MM` times.

use chrono::{DateTime, NaiveTime, Utc};
use clinicgate_core::cliniko::{AvailabilitySpan, ClinikoId, DailyAvailability};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};

use super::{datetime, link_id, through_mirror};

#[derive(Deserialize)]
#[serde(remote = "DailyAvailability")]
struct DailyAvailabilityDef {
    id: ClinikoId,
    #[serde(rename = "practitioner", default, deserialize_with = "link_id")]
    practitioner_id: Option<ClinikoId>,
    #[serde(rename = "business", default, deserialize_with = "link_id")]
    business_id: Option<ClinikoId>,
    #[serde(default)]
    day_of_week: Option<u32>,
    #[serde(default, deserialize_with = "spans")]
    availabilities: Vec<AvailabilitySpan>,
    #[serde(default, deserialize_with = "datetime")]
    created_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "datetime")]
    updated_at: Option<DateTime<Utc>>,
}
through_mirror!(from DailyAvailability => DailyAvailabilityDef);

/// `[{"starts_at": "09:00", "ends_at": "12:30"}, …]` (seconds accepted), or `null`.
fn spans<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<AvailabilitySpan>, D::Error> {
    #[derive(Deserialize)]
    struct Span {
        starts_at: String,
        ends_at: String,
    }
    let clock = |text: &str| {
        NaiveTime::parse_from_str(text, "%H:%M")
            .or_else(|_| NaiveTime::parse_from_str(text, "%H:%M:%S"))
            .map_err(|_| D::Error::custom("a time of day that is not HH:MM"))
    };
    Option::<Vec<Span>>::deserialize(d)?
        .unwrap_or_default()
        .iter()
        .map(|span| {
            Ok(AvailabilitySpan {
                starts_at: clock(&span.starts_at)?,
                ends_at: clock(&span.ends_at)?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cliniko::wire::Wire;

    #[test]
    fn a_daily_availability_reads_its_links_and_local_spans() {
        let Wire(day): Wire<DailyAvailability> = serde_json::from_str(
            r#"{"id": "7", "day_of_week": 3,
                "availabilities": [{"starts_at": "09:00", "ends_at": "12:30:00"}],
                "practitioner": {"links": {"self": "https://api.au1.cliniko.com/v1/practitioners/11"}},
                "business": {"links": {"self": "https://api.au1.cliniko.com/v1/businesses/21"}},
                "updated_at": "2030-01-01T00:00:00Z"}"#,
        )
        .unwrap();
        assert_eq!(day.practitioner_id, ClinikoId::parse("11"));
        assert_eq!(day.day_of_week, Some(3));
        assert_eq!(day.availabilities[0].ends_at.to_string(), "12:30:00");
        assert!(
            serde_json::from_str::<Wire<DailyAvailability>>(
                r#"{"id": "7", "availabilities": [{"starts_at": "9am", "ends_at": "noon"}]}"#
            )
            .is_err()
        );
    }
}
