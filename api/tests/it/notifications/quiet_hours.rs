//! Quiet hours: a confirmation to the patient that comes due inside the clinic's quiet hours
//! (practice time) waits in the queue, unsent and without an attempt, and goes once the app's
//! clock passes the window's end; a staff message goes regardless. Bad windows are refused.

use chrono::{Duration, Timelike as _};
use chrono_tz::Tz;
use reqwest::Method;
use serde_json::{Value, json};

use super::sink::SmtpSink;
use super::{book_slot, call, finished, history};
use crate::polling::{connected, roomy_sandbox};
use crate::public_api::{app_on, send_json};
use crate::webhooks::Partner;

const SCOPES: &[&str] = &[
    "appointments:read",
    "appointments:write",
    "patients:read",
    "doctors:read",
    "slots:read",
];

/// Puts the settings with `quiet_hours` and a patient and a staff confirmation; status, body.
async fn save(partner: &Partner, quiet_hours: Value) -> (u16, Value) {
    call(
        &partner.app,
        &partner.clinic,
        Method::PUT,
        "/api/tenant/notifications/settings",
        Some(json!({
            "staff_email": "desk@clinic.example",
            "quiet_hours": quiet_hours,
            "rules": [
                {"event": "appointment.created", "channel": "email", "audience": "patient"},
                {"event": "appointment.created", "channel": "email", "audience": "staff"},
            ],
        })),
    )
    .await
}

/// `HH:MM` of `minute` of the day (wrapped).
fn hh_mm(minute: i64) -> String {
    let minute = minute.rem_euclid(24 * 60);
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

#[tokio::test]
async fn a_patient_confirmation_due_in_quiet_hours_waits_until_they_end_and_staff_are_told_at_once()
{
    let sink = SmtpSink::start().await;
    let sandbox = roomy_sandbox();
    let app = app_on(&sandbox, |f| sink.relay_for(f)).await;
    let clinic = connected(&app, &sandbox, "harbour", "au1").await;
    let partner = Partner::on_clinic(app, clinic.owner, SCOPES).await;

    // Bad windows: 422 naming the field, nothing saved.
    for bad in [
        json!({"start": "25:00", "end": "08:00"}),
        json!({"start": "21:00", "end": "21:00"}),
        json!({"start": "9pm", "end": "08:00"}),
    ] {
        let (status, body) = save(&partner, bad.clone()).await;
        assert_eq!(status, 422, "{bad}: {body}");
        assert_eq!(body["errors"][0]["field"], "quiet_hours", "{body}");
    }
    let (status, body) = save(&partner, json!("21:00")).await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = save(&partner, Value::Null).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["quiet_hours"], Value::Null, "{body}");

    // Book once to learn the practice's zone, with quiet hours off: it goes at once.
    let (first, _) = book_slot(
        &partner,
        |free| free[0].clone(),
        |b| b["patient"]["email"] = json!("aroha@example.org"),
    )
    .await;
    sink.wait_for("aroha@example.org", "").await;
    let (status, read) = send_json(
        &partner.app,
        Method::GET,
        &format!("/api/public/appointments/{first}"),
        &partner.token,
        None,
        &Value::Null,
    )
    .await;
    assert_eq!(status, 200, "{read}");
    let zone: Tz = read["time_zone"].as_str().unwrap().parse().unwrap();

    // Quiet from an hour ago to two hours from now, practice time.
    let clock = &partner.app.state.clock;
    let local = clock.now().with_timezone(&zone);
    let minute = i64::from(local.hour() * 60 + local.minute());
    let window = json!({"start": hh_mm(minute - 60), "end": hh_mm(minute + 120)});
    let (status, body) = save(&partner, window.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["quiet_hours"], window, "{body}");

    let (_, _) = book_slot(
        &partner,
        |free| free[1].clone(),
        |b| b["patient"]["email"] = json!("kiri@example.org"),
    )
    .await;
    // Staff hear of both bookings at once; the patient's second confirmation waits.
    finished(&partner.app, &partner.clinic, 3).await;
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    let entries = history(&partner.app, &partner.clinic).await;
    let waiting: Vec<&Value> = entries
        .iter()
        .filter(|e| e["status"] == "pending")
        .collect();
    assert_eq!(waiting.len(), 1, "{entries:?}");
    assert_eq!(waiting[0]["rule"]["audience"], "patient", "{entries:?}");
    assert_eq!(waiting[0]["attempts"], 0, "{entries:?}");
    assert!(
        !sink
            .messages()
            .iter()
            .any(|m| m.to.iter().any(|t| t == "kiri@example.org")),
        "nothing to the patient in quiet hours"
    );
    assert_eq!(
        sink.messages()
            .iter()
            .filter(|m| m.to.iter().any(|t| t == "desk@clinic.example"))
            .count(),
        2
    );

    // Past the window's end (a minute's rounding aside), the confirmation goes, once.
    clock.advance(Duration::minutes(122));
    sink.wait_for("kiri@example.org", "").await;
    let entries = finished(&partner.app, &partner.clinic, 4).await;
    assert!(
        entries.iter().all(|e| e["status"] == "delivered"),
        "{entries:?}"
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let to_kiri = sink
        .messages()
        .iter()
        .filter(|m| m.to.iter().any(|t| t == "kiri@example.org"))
        .count();
    assert_eq!(to_kiri, 1);
}
