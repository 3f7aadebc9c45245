//! `GET /api/public/doctors/{id}/freebusy` and its `.ics` variant: free time is the doctor's
//! free slots (the same stitched availability as the slot search) merged, busy the rest; the
//! iCalendar text is read back with the `ical` crate, a parser other than the generator.

use chrono::{DateTime, Days, Utc};
use ical::parser::ical::component::IcalCalendar;
use serde_json::Value;

use super::{Bookable, app_on, bookable, get_json, partner_of, sandbox};
use crate::common::TestApp;

/// The free/busy path of `target` for `from..=to` (with its clinic and type).
fn path(target: &Bookable, suffix: &str, from: impl ToString, to: impl ToString) -> String {
    format!(
        "/api/public/doctors/{}/freebusy{suffix}?clinic_id={}&appointment_type_id={}&from={}&to={}",
        target.doctor_id,
        target.clinic_id,
        target.appointment_type_id,
        from.to_string(),
        to.to_string()
    )
}

fn at(raw: &str) -> DateTime<Utc> {
    raw.parse().unwrap()
}

/// `(start, end)` of each period in a JSON list.
fn spans(list: &Value) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                at(p["starts_at"].as_str().unwrap()),
                at(p["ends_at"].as_str().unwrap()),
            )
        })
        .collect()
}

async fn partner(app: &TestApp, sandbox: &clinicgate_cliniko_sandbox::Sandbox) -> String {
    partner_of(
        app,
        sandbox,
        "harbour",
        "au1",
        &["doctors:read", "slots:read"],
    )
    .await
}

#[tokio::test]
async fn free_time_is_the_merged_free_slots_and_busy_the_rest_of_the_range() {
    let sandbox = sandbox();
    let app = app_on(&sandbox, |f| f).await;
    let token = partner(&app, &sandbox).await;
    let target = bookable(&app, &token, "Eleanor").await;
    let from = target.tomorrow();
    let to = from.checked_add_days(Days::new(8)).unwrap();

    let (status, body) = get_json(&app, &path(&target, "", from, to), &token).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["doctor_id"], target.doctor_id.as_str());
    assert_eq!(body["time_zone"], target.zone.name());
    let free = spans(&body["free"]);
    let busy = spans(&body["busy"]);
    assert!(!free.is_empty() && !busy.is_empty(), "{body}");

    // Free and busy alternate without gaps or overlaps from the first clinic midnight to the
    // one after the last day.
    let mut all: Vec<_> = free.iter().chain(&busy).copied().collect();
    all.sort();
    assert_eq!(all[0].0, at(body["from"].as_str().unwrap()));
    assert_eq!(all.last().unwrap().1, at(body["to"].as_str().unwrap()));
    assert!(all.windows(2).all(|w| w[0].1 == w[1].0), "{body}");

    // Every free slot of the slot search lies in a free period, and every free period starts
    // with one: free time is the slots, nothing else. The slot search pages over the same range.
    let mut starts = Vec::new();
    for page in 1.. {
        let (_, slots) = get_json(&app, &target.slots_path(from, to, page), &token).await;
        starts.extend(spans(&slots["data"]));
        if slots["links"]["next"].is_null() {
            break;
        }
    }
    assert!(starts.len() > 20, "{}", starts.len());
    for (start, end) in &starts {
        assert!(
            free.iter().any(|(s, e)| s <= start && end <= e),
            "slot {start} outside every free period"
        );
    }
    assert!(
        free.iter()
            .all(|(s, _)| starts.iter().any(|(start, _)| start == s))
    );
}

/// The one calendar in `text`, as the `ical` crate reads it.
fn parse(text: &str) -> IcalCalendar {
    let mut calendars = ical::IcalParser::new(text.as_bytes());
    let calendar = calendars
        .next()
        .expect("one calendar")
        .unwrap_or_else(|err| panic!("the feed does not parse: {err}\n{text}"));
    assert!(calendars.next().is_none(), "a single VCALENDAR");
    calendar
}

#[tokio::test]
async fn the_ics_variant_is_one_vfreebusy_with_the_same_periods() {
    let sandbox = sandbox();
    let app = app_on(&sandbox, |f| f).await;
    let token = partner(&app, &sandbox).await;
    let target = bookable(&app, &token, "Eleanor").await;
    let from = target.tomorrow();
    let to = from.checked_add_days(Days::new(2)).unwrap();
    let (_, json) = get_json(&app, &path(&target, "", from, to), &token).await;

    let response = crate::tokens::get_with(&app, &path(&target, ".ics", from, to), &token).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/calendar; charset=utf-8"
    );
    assert_eq!(response.headers()["cache-control"], "no-store");
    let text = response.text().await.unwrap();
    assert!(text.lines().all(|line| line.len() <= 75), "{text}");
    let calendar = parse(&text);
    assert!(calendar.events.is_empty());
    assert_eq!(calendar.free_busys.len(), 1, "{text}");
    let component = &calendar.free_busys[0];
    let value = |name: &str| {
        component
            .properties
            .iter()
            .find(|p| p.name == name)
            .and_then(|p| p.value.clone())
            .unwrap_or_else(|| panic!("no {name} in {text}"))
    };
    let ics_time = |raw: &str| {
        chrono::NaiveDateTime::parse_from_str(raw, "%Y%m%dT%H%M%SZ")
            .unwrap()
            .and_utc()
    };
    assert!(value("UID").contains(&target.doctor_id));
    value("DTSTAMP");
    assert_eq!(
        ics_time(&value("DTSTART")),
        at(json["from"].as_str().unwrap())
    );
    assert_eq!(ics_time(&value("DTEND")), at(json["to"].as_str().unwrap()));

    let mut free = Vec::new();
    let mut busy = Vec::new();
    for property in component.properties.iter().filter(|p| p.name == "FREEBUSY") {
        let params = property.params.clone().unwrap_or_default();
        let kind = params
            .iter()
            .find(|(name, _)| name == "FBTYPE")
            .map(|(_, values)| values[0].clone())
            .unwrap();
        let raw = property.value.as_deref().unwrap();
        let (start, end) = raw.split_once('/').unwrap();
        let span = (ics_time(start), ics_time(end));
        match kind.as_str() {
            "FREE" => free.push(span),
            "BUSY" => busy.push(span),
            other => panic!("FBTYPE={other}"),
        }
    }
    assert_eq!(free, spans(&json["free"]));
    assert_eq!(busy, spans(&json["busy"]));
}

#[tokio::test]
async fn bad_ranges_are_422_unknown_doctors_404_and_the_scope_is_slots_read() {
    let sandbox = sandbox();
    let app = app_on(&sandbox, |f| f).await;
    let token = partner(&app, &sandbox).await;
    let target = bookable(&app, &token, "Eleanor").await;
    let today = target.tomorrow().checked_sub_days(Days::new(1)).unwrap();
    let day = |n| today.checked_add_days(Days::new(n)).unwrap();
    let codes = |body: &Value| -> Vec<(String, String)> {
        body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["field"].as_str().unwrap().to_owned(),
                    e["code"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    for suffix in ["", ".ics"] {
        let (status, body) = get_json(&app, &path(&target, suffix, day(3), day(1)), &token).await;
        assert_eq!(
            (status, codes(&body)),
            (422, vec![("to".into(), "before_from".into())])
        );
        let (status, body) = get_json(&app, &path(&target, suffix, day(0), day(62)), &token).await;
        assert_eq!(
            (status, codes(&body)),
            (422, vec![("to".into(), "range_too_long".into())])
        );
        let yesterday = today.checked_sub_days(Days::new(1)).unwrap();
        let (status, body) =
            get_json(&app, &path(&target, suffix, yesterday, day(1)), &token).await;
        assert_eq!(
            (status, codes(&body)),
            (422, vec![("from".into(), "in_past".into())])
        );
        let (status, body) = get_json(
            &app,
            &format!(
                "/api/public/doctors/{}/freebusy{suffix}?from=2030-13-01",
                target.doctor_id
            ),
            &token,
        )
        .await;
        assert_eq!(
            (status, codes(&body)),
            (
                422,
                vec![
                    ("from".into(), "invalid_date".into()),
                    ("to".into(), "required".into())
                ]
            )
        );
        for unknown in ["999999999", "not-an-id"] {
            let (status, body) = get_json(
                &app,
                &format!(
                    "/api/public/doctors/{unknown}/freebusy{suffix}?from={}&to={}",
                    day(1),
                    day(2)
                ),
                &token,
            )
            .await;
            assert_eq!(
                (status, &body["code"]),
                (404, &"not_found".into()),
                "{body}"
            );
        }
    }

    // Without slots:read, nothing.
    let doctors_only = partner_of(&app, &sandbox, "meadow", "uk1", &["doctors:read"]).await;
    let (status, _) = get_json(&app, &path(&target, "", day(1), day(2)), &doctors_only).await;
    assert_eq!(status, 403);
}
