//! Queue progress by SMS: when a patient is marked arrived in the sandbox, the poller's
//! `doctor.queue_updated` tells each waiting patient their place, once per place: a later
//! arrival behind them leaves their place as it was and sends them nothing more.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use chrono_tz::Tz;
use figment::providers::Serialized;
use reqwest::Method;
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer};

use super::sms::{app_with_twilio, created, form, messages_path, save_account};
use super::{call, history};
use crate::polling::{Reception, a_few_polls, baseline, connected, polling_on, roomy_sandbox};

/// The practice's zone: the sandbox's `au1` businesses are in Sydney. A doctor's queue is one
/// practice day's.
const PRACTICE: Tz = chrono_tz::Australia::Sydney;

/// The practice day of `at`.
fn day(at: DateTime<Utc>) -> chrono::NaiveDate {
    at.with_timezone(&PRACTICE).date_naive()
}

/// `starts` moved by `step` (repeatedly) until they all fall on one practice day: a test run
/// at the practice's midnight must not split one queue into two days.
fn on_one_day(mut starts: Vec<DateTime<Utc>>, step: Duration) -> Vec<DateTime<Utc>> {
    while starts.iter().any(|at| day(*at) != day(starts[0])) {
        for at in &mut starts {
            *at += step;
        }
    }
    starts
}

#[test]
fn starts_split_by_the_practices_midnight_move_onto_one_day() {
    // Sydney's midnight of 8 December 2026 (AEDT, +11) is 13:00 UTC on the 7th.
    let at = |t: &str| {
        format!("2026-12-07T{t}:00Z")
            .parse::<DateTime<Utc>>()
            .unwrap()
    };
    assert_eq!(
        on_one_day(vec![at("12:58"), at("13:01")], Duration::minutes(-10)),
        [at("12:48"), at("12:51")]
    );
    assert_eq!(
        on_one_day(vec![at("12:10"), at("13:10")], Duration::hours(1)),
        [at("13:10"), at("14:10")]
    );
    assert_eq!(
        on_one_day(vec![at("14:00")], Duration::hours(1)),
        [at("14:00")]
    );
}

/// Marks not arrived every appointment of today (practice day) that the sandbox seeded as
/// arrived for the practitioner the desk books with, before the baseline: the queue then holds
/// only the test's patients, whatever the hour (during practice hours the sandbox's own
/// arrivals would be seen, or being seen, ahead of them).
async fn empty_todays_queue(desk: &Reception) {
    let (practitioner, _, _) = desk.bookable().await;
    let today = day(Utc::now());
    let bound = |date: chrono::NaiveDate| {
        date.and_hms_opt(0, 0, 0)
            .unwrap()
            .and_local_timezone(PRACTICE)
            .earliest()
            .unwrap()
            .with_timezone(&Utc)
            .to_rfc3339_opts(SecondsFormat::Secs, true)
    };
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("per_page", "100")
        .append_pair("q[]", &format!("practitioner_id:={practitioner}"))
        .append_pair("q[]", &format!("starts_at:>={}", bound(today)))
        .append_pair(
            "q[]",
            &format!("starts_at:<{}", bound(today.succ_opt().unwrap())),
        )
        .finish();
    let page = desk.get(&format!("/individual_appointments?{query}")).await;
    assert!(
        page["total_entries"].as_u64().unwrap() <= 100,
        "one page holds a day"
    );
    for appointment in page["individual_appointments"].as_array().unwrap() {
        if appointment["patient_arrived"] == json!(true) {
            let id = appointment["id"].as_str().unwrap();
            desk.patch(
                &format!("/individual_appointments/{id}"),
                json!({"patient_arrived": false}),
            )
            .await;
        }
    }
}

/// The text messages Twilio received for `to`.
async fn texts_to(twilio: &MockServer, to: &str) -> Vec<String> {
    twilio
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(form)
        .filter(|fields| fields.iter().any(|(k, v)| k == "To" && v == to))
        .filter_map(|fields| {
            fields
                .into_iter()
                .find(|(k, _)| k == "Body")
                .map(|(_, body)| body)
        })
        .collect()
}

/// Waits until Twilio has a text for `to`; the texts.
async fn wait_for_text(twilio: &MockServer, to: &str) -> Vec<String> {
    for _ in 0..300 {
        let texts = texts_to(twilio, to).await;
        if !texts.is_empty() {
            return texts;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("no text to {to}");
}

#[tokio::test]
async fn an_arrival_tells_each_waiting_patient_their_place_once() {
    let twilio = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(messages_path()))
        .respond_with(created("SMq"))
        .mount(&twilio)
        .await;
    let sandbox = roomy_sandbox();
    let app = app_with_twilio(&sandbox, &twilio, |f| {
        polling_on(f).merge(Serialized::default("polling.enabled", true))
    })
    .await;
    let clinic = connected(&app, &sandbox, "harbour", "au1").await;
    save_account(&app, &clinic.owner).await;

    // Queue progress is for patients only, and its lateness threshold is bounded.
    let (status, body) = call(
        &app,
        &clinic.owner,
        Method::PUT,
        "/api/tenant/notifications/settings",
        Some(json!({"rules": [
            {"event": "doctor.queue_updated", "channel": "sms", "audience": "staff"},
            {"event": "doctor.queue_updated", "channel": "sms", "audience": "patient", "late_after_minutes": 0},
        ]})),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        ["rules[0].audience", "rules[1].late_after_minutes"],
        "{body}"
    );
    let (status, body) = call(
        &app,
        &clinic.owner,
        Method::PUT,
        "/api/tenant/notifications/settings",
        Some(json!({"rules": [
            {"event": "doctor.queue_updated", "channel": "sms", "audience": "patient", "late_after_minutes": 20},
        ]})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["rules"][0]["late_after_minutes"], 20, "{body}");
    assert!(
        body["events"]
            .as_array()
            .unwrap()
            .contains(&json!("doctor.queue_updated"))
    );
    let desk = Reception::at(&sandbox, &clinic.key);
    empty_todays_queue(&desk).await;
    baseline(&app, clinic.tenant).await;

    let patient = |first: &str, mobile: &str| {
        json!({"first_name": first, "last_name": "Queue", "email": format!("{first}@mail.example"),
               "patient_phone_numbers": [{"phone_type": "Mobile", "number": mobile}]})
    };
    let ana = desk
        .post("/patients", patient("Ana", "+61 466 666 601"))
        .await;
    let ana = ana["id"].as_str().unwrap().to_owned();
    let starts = on_one_day(
        vec![
            Utc::now() + Duration::hours(3),
            Utc::now() + Duration::hours(4),
        ],
        Duration::hours(1),
    );
    let (starts, later) = (starts[0], starts[1]);
    let first = desk
        .book(&ana, starts, starts + Duration::minutes(30))
        .await;
    desk.patch(
        &format!("/individual_appointments/{first}"),
        json!({"patient_arrived": true}),
    )
    .await;
    let texts = wait_for_text(&twilio, "+61466666601").await;
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert!(
        texts[0].starts_with("You are number ") && texts[0].contains(" in the queue for your "),
        "{}",
        texts[0]
    );

    // A second patient arrives behind Ana: they hear their place, Ana hears nothing new.
    let ben = desk
        .post("/patients", patient("Ben", "+61 466 666 602"))
        .await;
    let ben = ben["id"].as_str().unwrap().to_owned();
    let second = desk.book(&ben, later, later + Duration::minutes(30)).await;
    desk.patch(
        &format!("/individual_appointments/{second}"),
        json!({"patient_arrived": true}),
    )
    .await;
    let bens = wait_for_text(&twilio, "+61466666602").await;
    assert!(bens[0].starts_with("You are number "), "{}", bens[0]);
    assert_ne!(bens[0], texts[0], "Ben is behind Ana");
    a_few_polls().await;
    assert_eq!(
        texts_to(&twilio, "+61466666601").await.len(),
        1,
        "once per place"
    );
    assert_eq!(texts_to(&twilio, "+61466666602").await.len(), 1);

    // The history shows each queue message masked.
    let entries = history(&app, &clinic.owner).await;
    let answers: Vec<String> = entries
        .iter()
        .filter_map(|e| e["answer"].as_str().map(str::to_owned))
        .collect();
    assert!(
        answers
            .iter()
            .any(|a| a.contains("to +614 *** *** 601: 201 queued SMq")),
        "{answers:?}"
    );
    assert!(
        answers.iter().all(|a| !a.contains("466666601")),
        "{answers:?}"
    );
}

#[tokio::test]
async fn waiting_patients_hear_the_doctor_is_running_late_once() {
    let twilio = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(messages_path()))
        .respond_with(created("SMl"))
        .mount(&twilio)
        .await;
    let sandbox = roomy_sandbox();
    let app = app_with_twilio(&sandbox, &twilio, |f| {
        polling_on(f).merge(Serialized::default("polling.enabled", true))
    })
    .await;
    let clinic = connected(&app, &sandbox, "harbour", "au1").await;
    save_account(&app, &clinic.owner).await;
    let (status, body) = call(
        &app,
        &clinic.owner,
        Method::PUT,
        "/api/tenant/notifications/settings",
        Some(json!({"rules": [
            {"event": "doctor.queue_updated", "channel": "sms", "audience": "patient", "late_after_minutes": 20},
        ]})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let desk = Reception::at(&sandbox, &clinic.key);
    empty_todays_queue(&desk).await;
    baseline(&app, clinic.tenant).await;

    // The first patient's visit ended 15 minutes ago; the second, due 45 minutes ago, has been
    // seen only since then: 30 minutes late (over the rule's 20). The third, due 44 minutes ago,
    // waits behind them. All three start on one practice day (moved earlier together if the
    // practice's midnight falls between their starts; the ends keep their distance from now).
    let now = Utc::now();
    let starts = on_one_day(
        [-50, -45, -44]
            .into_iter()
            .map(|minutes| now + Duration::minutes(minutes))
            .collect(),
        Duration::minutes(-10),
    );
    let shift = starts[0] - (now + Duration::minutes(-50));
    let mut booked = Vec::new();
    for ((first, mobile, until), starts_at) in [
        ("Aru", "+61 488 888 801", -15 + shift.num_minutes()),
        ("Bea", "+61 488 888 802", 20),
        ("Cai", "+61 488 888 803", 30),
    ]
    .into_iter()
    .zip(starts)
    {
        let created = desk
            .post(
                "/patients",
                json!({"first_name": first, "last_name": "Late", "email": format!("{first}@mail.example"),
                       "patient_phone_numbers": [{"phone_type": "Mobile", "number": mobile}]}),
            )
            .await;
        let patient = created["id"].as_str().unwrap().to_owned();
        booked.push(
            desk.book(&patient, starts_at, now + Duration::minutes(until))
                .await,
        );
    }
    for appointment in &booked {
        desk.patch(
            &format!("/individual_appointments/{appointment}"),
            json!({"patient_arrived": true}),
        )
        .await;
    }
    // Cai hears their place and that the doctor runs late.
    for _ in 0..300 {
        if texts_to(&twilio, "+61488888803").await.len() >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let texts = texts_to(&twilio, "+61488888803").await;
    let late: Vec<&String> = texts
        .iter()
        .filter(|t| t.starts_with("The doctor is running about "))
        .collect();
    assert_eq!(late.len(), 1, "{texts:?}");
    assert!(
        late[0].starts_with("The doctor is running about 30 minutes late."),
        "{texts:?}"
    );
    assert!(
        texts.iter().any(|t| t.starts_with("You are number ")),
        "{texts:?}"
    );
    // Aru was seen and Bea is being seen: neither is told anything.
    assert!(texts_to(&twilio, "+61488888801").await.is_empty());
    assert!(texts_to(&twilio, "+61488888802").await.is_empty());
    a_few_polls().await;
    let again = texts_to(&twilio, "+61488888803").await;
    assert_eq!(
        again
            .iter()
            .filter(|t| t.starts_with("The doctor is running about "))
            .count(),
        1,
        "once: {again:?}"
    );
}
