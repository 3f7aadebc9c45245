//! `GET /api/public/available-slots`: any range up to the maximum, stitched from Cliniko's 7-day
//! windows in the clinic's time zone; bad ranges and ids are 422.

use std::collections::BTreeSet;

use chrono::Days;

use super::{admin_key, app_on, at, bookable, cliniko_get, get_json, partner_of, sandbox};

#[tokio::test]
async fn slots_for_thirteen_days_are_the_union_of_clinikos_seven_day_windows() {
    let sandbox = sandbox();
    let app = app_on(&sandbox, |f| f).await;
    let token = partner_of(
        &app,
        &sandbox,
        "harbour",
        "au1",
        &["doctors:read", "slots:read"],
    )
    .await;
    let target = bookable(&app, &token, "Eleanor").await;

    let ours: BTreeSet<String> = target.free_starts(&app, &token).await.into_iter().collect();

    let from = target.tomorrow();
    let key = admin_key(&sandbox, "au1");
    let mut theirs = BTreeSet::new();
    for (start, end) in [(0, 6), (7, 12)] {
        let window = |days| from.checked_add_days(Days::new(days)).unwrap();
        let path = format!(
            "/businesses/{}/practitioners/{}/appointment_types/{}/available_times?from={}&to={}&per_page=100",
            target.clinic_id,
            target.doctor_id,
            target.appointment_type_id,
            window(start),
            window(end)
        );
        let mut next = Some(path);
        while let Some(path) = next.take() {
            let page = cliniko_get(&sandbox, &key, &path).await;
            for time in page["available_times"].as_array().unwrap() {
                theirs.insert(time["appointment_start"].as_str().unwrap().to_owned());
            }
            next = page["links"]["next"].as_str().map(|url| {
                let url = url::Url::parse(url).unwrap();
                let path = url.path().split_once("/v1").unwrap().1.to_owned();
                format!("{path}?{}", url.query().unwrap_or_default())
            });
        }
    }
    assert!(
        theirs.len() > 50,
        "a fortnight of a full-time doctor: {}",
        theirs.len()
    );
    assert_eq!(ours, theirs);

    let (_, first_page) = get_json(&app, &target.slots_path(from, from, 1), &token).await;
    if let Some(slot) = first_page["data"].as_array().unwrap().first() {
        let start = at(slot["starts_at"].as_str().unwrap());
        assert!(slot["starts_at"].as_str().unwrap().ends_with('Z'));
        assert_eq!(slot["time_zone"], "Australia/Sydney");
        assert_eq!(
            at(slot["starts_at_local"].as_str().unwrap()),
            start,
            "the local time names the same instant"
        );
        assert!(slot["starts_at_local"].as_str().unwrap().ends_with(":00"));
        assert!(at(slot["ends_at"].as_str().unwrap()) > start);
    }
}

#[tokio::test]
async fn slot_searches_refuse_past_days_bad_dates_long_ranges_and_unrelated_ids() {
    let sandbox = sandbox();
    let app = app_on(&sandbox, |f| f).await;
    let token = partner_of(
        &app,
        &sandbox,
        "harbour",
        "au1",
        &["doctors:read", "slots:read"],
    )
    .await;
    let target = bookable(&app, &token, "Eleanor").await;
    let today = target.tomorrow().pred_opt().unwrap();
    let yesterday = today.pred_opt().unwrap();
    let day = |n| today.checked_add_days(Days::new(n)).unwrap();

    let field_codes = |body: &serde_json::Value| -> Vec<(String, String)> {
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
    let (status, body) = get_json(&app, &target.slots_path(yesterday, day(3), 1), &token).await;
    assert_eq!(status, 422);
    assert_eq!(field_codes(&body), [("from".into(), "in_past".into())]);
    let (status, body) = get_json(&app, &target.slots_path(day(5), day(2), 1), &token).await;
    assert_eq!(
        (status, field_codes(&body)),
        (422, vec![("to".into(), "before_from".into())])
    );
    let (status, body) = get_json(&app, &target.slots_path(today, day(62), 1), &token).await;
    assert_eq!(
        (status, field_codes(&body)),
        (422, vec![("to".into(), "range_too_long".into())])
    );
    let (status, _) = get_json(&app, &target.slots_path(today, day(61), 1), &token).await;
    assert_eq!(status, 200, "62 days is the default maximum");

    let (status, body) = get_json(
        &app,
        "/api/public/available-slots?doctor_id=x&from=2030-13-01",
        &token,
    )
    .await;
    assert_eq!(status, 422);
    let fields: Vec<_> = field_codes(&body).into_iter().map(|(f, _)| f).collect();
    assert_eq!(
        fields,
        [
            "doctor_id",
            "clinic_id",
            "appointment_type_id",
            "from",
            "to"
        ]
    );

    // Marcus works in Sydney only: the Perth clinic does not go with him.
    let marcus = bookable(&app, &token, "Marcus").await;
    let (_, clinics) = get_json(&app, "/api/public/clinics", &token).await;
    let perth = clinics["data"][0]["id"].as_str().unwrap();
    let path = format!(
        "/api/public/available-slots?doctor_id={}&clinic_id={perth}&appointment_type_id={}&from={today}&to={}",
        marcus.doctor_id,
        marcus.appointment_type_id,
        day(2)
    );
    let (status, body) = get_json(&app, &path, &token).await;
    assert_eq!(
        (status, field_codes(&body)),
        (422, vec![("clinic_id".into(), "not_offered".into())])
    );
}
