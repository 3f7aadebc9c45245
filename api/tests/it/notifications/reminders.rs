//! Reminders N hours before an appointment: the reminder's delivery waits in the database until
//! it is due (time moved forward with the app's clock), is sent by another instance after a
//! restart, once per appointment however many events scheduled it, and not at all for an
//! appointment cancelled in Cliniko meanwhile. The settings refuse a reminder without hours.

use chrono::{DateTime, Duration, Utc};
use reqwest::Method;
use serde_json::{Value, json};

use super::sink::SmtpSink;
use super::{book_slot, call, finished, history};
use crate::common::PASSWORD;
use crate::polling::{Reception, connected, roomy_sandbox};
use crate::public_api::{app_on, cliniko_settings, new_key, send_json};
use crate::tokens::Clinic;
use crate::webhooks::Partner;

const SCOPES: &[&str] = &[
    "appointments:read",
    "appointments:write",
    "patients:read",
    "doctors:read",
    "slots:read",
];

/// The free starts at least 25 hours away.
fn a_day_ahead(free: &[String]) -> Vec<String> {
    let from = Utc::now() + Duration::hours(25);
    free.iter()
        .filter(|start| start.parse::<DateTime<Utc>>().unwrap() >= from)
        .cloned()
        .collect()
}

/// Puts `rules` as the clinic's settings; the status and body.
async fn save(partner: &Partner, rules: Value) -> (u16, Value) {
    call(
        &partner.app,
        &partner.clinic,
        Method::PUT,
        "/api/tenant/notifications/settings",
        Some(json!({"staff_email": null, "rules": rules})),
    )
    .await
}

#[tokio::test]
async fn a_24_hour_reminder_waits_in_the_database_survives_a_restart_goes_once_and_never_for_a_cancelled_appointment()
 {
    let sink = SmtpSink::start().await;
    let sandbox = roomy_sandbox();
    let base = sandbox.base_url();
    let app = app_on(&sandbox, |f| sink.relay_for(f)).await;
    let clinic = connected(&app, &sandbox, "harbour", "au1").await;
    let desk = Reception::at(&sandbox, &clinic.key);
    let partner = Partner::on_clinic(app, clinic.owner, SCOPES).await;
    let (status, body) = save(
        &partner,
        json!([{"event": "appointment.reminder", "channel": "email", "audience": "patient", "hours_before": 24}]),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["rules"][0]["hours_before"], 24, "{body}");

    // Two appointments a little over a day ahead, next to each other.
    let (kept, kept_start) = book_slot(
        &partner,
        |free| a_day_ahead(free)[0].clone(),
        |b| b["patient"]["email"] = json!("aroha@example.org"),
    )
    .await;
    let (cancelled, cancelled_start) = book_slot(
        &partner,
        |free| a_day_ahead(free)[0].clone(),
        |b| b["patient"]["email"] = json!("kiri@example.org"),
    )
    .await;
    // A change of notes schedules the kept appointment's reminder a second time.
    let (status, changed) = send_json(
        &partner.app,
        Method::PATCH,
        &format!("/api/public/appointments/{kept}"),
        &partner.token,
        Some(&new_key()),
        &json!({"notes": "Bring your referral"}),
    )
    .await;
    assert_eq!(status, 200, "{changed}");

    // Not due yet: the three deliveries wait, unsent, without an attempt.
    let mut waiting = Vec::new();
    for _ in 0..100 {
        waiting = history(&partner.app, &partner.clinic).await;
        if waiting.len() == 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(waiting.len(), 3, "{waiting:?}");
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let waiting = history(&partner.app, &partner.clinic).await;
    assert!(
        waiting
            .iter()
            .all(|e| e["status"] == "pending" && e["attempts"] == 0),
        "{waiting:?}"
    );
    assert!(sink.messages().is_empty());

    // Reception cancels one in Cliniko (no poller runs: the reminder asks Cliniko when due).
    desk.patch(
        &format!("/individual_appointments/{cancelled}/cancel"),
        json!({"cancellation_reason": 40}),
    )
    .await;

    // The instance stops; a new one on the same database takes over, a day later.
    let restarted = partner
        .app
        .spawn_sibling(|f| sink.relay_for(cliniko_settings(f, &base)))
        .await;
    let Partner { app, clinic, .. } = partner;
    drop(app);
    // Sessions live in the stopped instance's memory without Redis: log in again.
    let clinic = Clinic {
        cookie: restarted
            .log_in(clinic.sub(), &clinic.clinic.owner_email, PASSWORD)
            .await,
        ..clinic
    };
    // An hour inside the kept appointment's reminder hours, then inside the other's.
    let clock = &restarted.state.clock;
    let kept_start: DateTime<Utc> = kept_start.parse().unwrap();
    let cancelled_start: DateTime<Utc> = cancelled_start.parse().unwrap();
    clock.advance(kept_start - Duration::hours(23) - clock.now());
    let reminder = sink
        .wait_for("aroha@example.org", "Reminder: your appointment on")
        .await;
    let parsed = reminder.parsed();
    assert!(
        parsed
            .body_text(0)
            .unwrap()
            .contains("this is a reminder of your appointment"),
        "{:?}",
        parsed.body_text(0)
    );
    finished(&restarted, &clinic, 2).await;
    clock.advance(cancelled_start - Duration::hours(23) - clock.now());
    let entries = finished(&restarted, &clinic, 3).await;
    let sent: Vec<&Value> = entries.iter().filter(|e| e["last_code"] == 250).collect();
    assert_eq!(
        sent.len(),
        1,
        "one reminder for the kept appointment: {entries:?}"
    );
    assert_eq!(sent[0]["rule"]["event"], "appointment.reminder");
    assert!(
        sent[0]["answer"]
            .as_str()
            .unwrap()
            .starts_with("to a***@e***.org: 250"),
        "{entries:?}"
    );
    let answers: Vec<&str> = entries
        .iter()
        .filter_map(|e| e["answer"].as_str())
        .collect();
    assert!(
        answers
            .iter()
            .any(|a| a.contains("reminder was already sent")),
        "{answers:?}"
    );
    assert!(
        answers.iter().any(|a| a.contains("cancelled in Cliniko")),
        "{answers:?}"
    );
    assert!(
        entries.iter().all(|e| e["status"] == "delivered"),
        "{entries:?}"
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let messages = sink.messages();
    assert_eq!(messages.len(), 1, "exactly one message in all");
    assert_eq!(messages[0].to, ["aroha@example.org"]);
}

#[tokio::test]
async fn a_reminder_needs_its_hours_and_only_a_reminder_takes_them() {
    let sandbox = roomy_sandbox();
    let app = app_on(&sandbox, |f| f).await;
    let clinic = connected(&app, &sandbox, "harbour", "au1").await;
    let partner = Partner::on_clinic(app, clinic.owner, SCOPES).await;
    let reminder = |hours: Value| json!([{"event": "appointment.reminder", "channel": "email", "audience": "patient", "hours_before": hours}]);
    for hours in [Value::Null, json!(0), json!(169)] {
        let (status, body) = save(&partner, reminder(hours.clone())).await;
        assert_eq!(status, 422, "{hours}: {body}");
        assert_eq!(
            body["errors"][0]["field"], "rules[0].hours_before",
            "{body}"
        );
    }
    let (status, body) = save(
        &partner,
        json!([{"event": "appointment.created", "channel": "email", "audience": "patient", "hours_before": 2}]),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = save(&partner, reminder(json!(2))).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["events"]
            .as_array()
            .unwrap()
            .contains(&json!("appointment.reminder"))
    );
    // Saved again with other hours, the rule keeps its id and takes them.
    let (status, body) = save(&partner, reminder(json!(48))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["rules"][0]["hours_before"], 48, "{body}");
    let (status, preview) = call(
        &partner.app,
        &partner.clinic,
        Method::POST,
        "/api/tenant/notifications/preview",
        Some(json!({"event": "appointment.reminder", "channel": "email", "audience": "patient"})),
    )
    .await;
    assert_eq!(status, 200, "{preview}");
    assert!(
        preview["subject"]
            .as_str()
            .unwrap()
            .starts_with("Reminder: your appointment on"),
        "{preview}"
    );
}
