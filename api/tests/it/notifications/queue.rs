//! Queue progress by SMS: when a patient is marked arrived in the sandbox, the poller's
//! `doctor.queue_updated` tells each waiting patient their place, once per place: a later
//! arrival behind them leaves their place as it was and sends them nothing more.

use chrono::{Duration, Utc};
use figment::providers::Serialized;
use reqwest::Method;
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer};

use super::sms::{app_with_twilio, created, form, messages_path, save_account};
use super::{call, history};
use crate::polling::{Reception, a_few_polls, baseline, connected, polling_on, roomy_sandbox};

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
    baseline(&app, clinic.tenant).await;

    let desk = Reception::at(&sandbox, &clinic.key);
    let patient = |first: &str, mobile: &str| {
        json!({"first_name": first, "last_name": "Queue", "email": format!("{first}@mail.example"),
               "patient_phone_numbers": [{"phone_type": "Mobile", "number": mobile}]})
    };
    let ana = desk
        .post("/patients", patient("Ana", "+61 466 666 601"))
        .await;
    let ana = ana["id"].as_str().unwrap().to_owned();
    let starts = Utc::now() + Duration::hours(3);
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
    let later = starts + Duration::hours(1);
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
            {"event": "doctor.queue_updated", "channel": "sms", "audience": "patient"},
        ]})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    baseline(&app, clinic.tenant).await;

    // The first patient's visit ended 15 minutes ago; the second, due 45 minutes ago, has been
    // seen only since then: 30 minutes late. The third, due 44 minutes ago, waits behind them.
    // (Their starts lie within six minutes, so all three are on one practice day.)
    let desk = Reception::at(&sandbox, &clinic.key);
    let now = Utc::now();
    let mut booked = Vec::new();
    for (first, mobile, from, until) in [
        ("Aru", "+61 488 888 801", -50, -15),
        ("Bea", "+61 488 888 802", -45, 20),
        ("Cai", "+61 488 888 803", -44, 30),
    ] {
        let created = desk
            .post(
                "/patients",
                json!({"first_name": first, "last_name": "Late", "email": format!("{first}@mail.example"),
                       "patient_phone_numbers": [{"phone_type": "Mobile", "number": mobile}]}),
            )
            .await;
        let patient = created["id"].as_str().unwrap().to_owned();
        booked.push(
            desk.book(
                &patient,
                now + Duration::minutes(from),
                now + Duration::minutes(until),
            )
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
