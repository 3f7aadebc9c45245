//! Cliniko's daily availabilities: a practitioner's hours at a business on one weekday (ISO
//! 1 = Monday), as business-local `HH:MM` pairs. They are the source of the practitioner's free
//! times: a change here (`PATCH /daily_availabilities/{id}`) bumps the record's `updated_at` and
//! rewrites the hours the free-time computation reads.

use chrono::NaiveTime;
use serde_json::{Map, Value, json};

use crate::data::{Account, Shift};
use crate::records::{Record, Ref};

/// The clock format of an availability's bounds.
const CLOCK: &str = "%H:%M";

/// A daily availability record for `pair` = (practitioner, business) on `weekday`.
pub(crate) fn record<'a>(
    id: i64,
    (practitioner, business): (i64, i64),
    weekday: u32,
    shifts: impl Iterator<Item = &'a Shift>,
    at: &str,
) -> Record {
    Record::new(
        id,
        json!({
            "day_of_week": weekday,
            "availabilities": shifts.map(|s| json!({
                "starts_at": s.start.format(CLOCK).to_string(),
                "ends_at": s.end.format(CLOCK).to_string(),
            })).collect::<Vec<_>>(),
            "created_at": at, "updated_at": at,
        }),
        vec![
            Ref {
                name: "practitioner",
                collection: "practitioners",
                id: practitioner,
            },
            Ref {
                name: "business",
                collection: "businesses",
                id: business,
            },
        ],
    )
}

/// What a `PATCH` of a daily availability may fail with.
#[derive(Debug, PartialEq)]
pub(crate) enum PatchError {
    /// No such record.
    NotFound,
    /// Cliniko's 422 field messages.
    Invalid(Map<String, Value>),
}

/// Replaces the hours of daily availability `id` with `input["availabilities"]`, bumps its
/// `updated_at` to `at`, and rewrites the practitioner's hours at that business.
pub(crate) fn patch<'a>(
    account: &'a mut Account,
    id: i64,
    input: &Map<String, Value>,
    at: &str,
) -> Result<&'a Record, PatchError> {
    let index = account
        .daily_availabilities
        .iter()
        .position(|r| r.id == id)
        .ok_or(PatchError::NotFound)?;
    let spans = match input.get("availabilities") {
        Some(value) => parse_spans(value).ok_or_else(|| {
            PatchError::Invalid(Map::from_iter([(
                "availabilities".to_owned(),
                json!("is invalid"),
            )]))
        })?,
        None => Vec::new(),
    };
    let pair = {
        let record = &mut account.daily_availabilities[index];
        if input.contains_key("availabilities") {
            record.fields.insert(
                "availabilities".into(),
                Value::Array(
                    spans
                        .iter()
                        .map(|(start, end)| {
                            json!({"starts_at": start.format(CLOCK).to_string(),
                                   "ends_at": end.format(CLOCK).to_string()})
                        })
                        .collect(),
                ),
            );
        }
        record.fields.insert("updated_at".into(), json!(at));
        (record.ref_id("practitioner"), record.ref_id("business"))
    };
    if let (Some(practitioner), Some(business)) = pair {
        rebuild_hours(account, practitioner, business);
    }
    Ok(&account.daily_availabilities[index])
}

/// `[{"starts_at": "09:00", "ends_at": "12:30"}, …]` with each start before its end.
fn parse_spans(value: &Value) -> Option<Vec<(NaiveTime, NaiveTime)>> {
    value
        .as_array()?
        .iter()
        .map(|span| {
            let clock =
                |name: &str| NaiveTime::parse_from_str(span.get(name)?.as_str()?, CLOCK).ok();
            let (start, end) = (clock("starts_at")?, clock("ends_at")?);
            (start < end).then_some((start, end))
        })
        .collect()
}

/// The practitioner's weekly hours at `business`, read back from their daily availabilities.
fn rebuild_hours(account: &mut Account, practitioner: i64, business: i64) {
    let shifts: Vec<Shift> = account
        .daily_availabilities
        .iter()
        .filter(|r| {
            r.ref_id("practitioner") == Some(practitioner) && r.ref_id("business") == Some(business)
        })
        .flat_map(|r| {
            let weekday = r
                .fields
                .get("day_of_week")
                .and_then(Value::as_u64)
                .and_then(|d| u32::try_from(d).ok())
                .unwrap_or_default();
            parse_spans(r.fields.get("availabilities").unwrap_or(&Value::Null))
                .unwrap_or_default()
                .into_iter()
                .map(move |(start, end)| Shift {
                    weekday,
                    start,
                    end,
                })
        })
        .collect();
    account.hours.insert((practitioner, business), shifts);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::generate;

    #[test]
    fn a_patch_replaces_the_hours_free_times_are_computed_from() {
        let mut account = generate(1, "2030-03-13T01:00:00Z".parse().unwrap()).remove(0);
        let first = account.daily_availabilities[0].clone();
        let pair = (
            first.ref_id("practitioner").unwrap(),
            first.ref_id("business").unwrap(),
        );
        let weekday = first.fields["day_of_week"].as_u64().unwrap();
        let body = json!({"availabilities": [{"starts_at": "10:00", "ends_at": "11:00"}]});
        let patched = patch(
            &mut account,
            first.id,
            body.as_object().unwrap(),
            "2030-03-13T02:00:00Z",
        )
        .unwrap();
        assert_eq!(patched.text("updated_at"), Some("2030-03-13T02:00:00Z"));
        let that_day: Vec<&Shift> = account.hours[&pair]
            .iter()
            .filter(|s| u64::from(s.weekday) == weekday)
            .collect();
        assert_eq!(that_day.len(), 1);
        assert_eq!(that_day[0].start.format(CLOCK).to_string(), "10:00");

        let bad = json!({"availabilities": [{"starts_at": "12:00", "ends_at": "11:00"}]});
        assert!(matches!(
            patch(&mut account, first.id, bad.as_object().unwrap(), "x"),
            Err(PatchError::Invalid(_))
        ));
        assert_eq!(
            patch(&mut account, 1, &Map::new(), "x").err(),
            Some(PatchError::NotFound)
        );
    }
}
