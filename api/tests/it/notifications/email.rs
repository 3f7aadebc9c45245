//! E-mails through the local SMTP sink: a booking through the public API sends the patient a
//! confirmation with an `.ics` invitation (checked with the independent `ical` parser) and the
//! staff address a copy; a cancellation in Cliniko, found by the poller, sends the withdrawal.
//! Refusals: a recipient the relay does not know fails at once, a temporary refusal is retried,
//! an opted-out patient gets nothing, and without a relay the history says so.

use figment::providers::Serialized;
use mail_parser::MimeHeaders as _;
use serde_json::{Value, json};

use super::sink::{Received, SmtpSink};
use super::{book_slot, enable, finished};
use crate::calendar_feeds::{parse, property};
use crate::polling::{Reception, baseline, connected, polling_on, roomy_sandbox};
use crate::public_api::app_on;
use crate::webhooks::Partner;

const SCOPES: &[&str] = &[
    "appointments:read",
    "appointments:write",
    "patients:read",
    "doctors:read",
    "slots:read",
];

/// Books the `nth` free slot of Marcus through the public API for a new patient at `email`;
/// the appointment's id.
async fn book(partner: &Partner, nth: usize, email: &str) -> String {
    book_for(partner, nth, |booking| {
        booking["patient"]["email"] = json!(email);
    })
    .await
}

/// Books the `nth` free slot of Marcus through the public API, with `shape` applied to the
/// booking body; the appointment's id.
async fn book_for(partner: &Partner, nth: usize, shape: impl FnOnce(&mut Value)) -> String {
    book_slot(partner, |free| free[nth].clone(), shape).await.0
}

/// The message's calendar attachment: its `method` parameter and its text.
fn invitation(message: &Received) -> (String, String) {
    let parsed = message.parsed();
    let part = parsed
        .attachments()
        .find(|part| {
            part.content_type()
                .is_some_and(|ct| ct.ctype() == "text" && ct.subtype() == Some("calendar"))
        })
        .expect("a text/calendar attachment");
    let method = part
        .content_type()
        .unwrap()
        .attribute("method")
        .unwrap_or_default()
        .to_owned();
    (method, String::from_utf8(part.contents().to_vec()).unwrap())
}

#[tokio::test]
async fn a_booking_through_the_api_is_confirmed_with_an_invitation_and_a_cancellation_in_cliniko_withdraws_it()
 {
    let sink = SmtpSink::start().await;
    let sandbox = roomy_sandbox();
    let app = app_on(&sandbox, |f| {
        sink.relay_for(polling_on(f))
            .merge(Serialized::default("polling.enabled", true))
    })
    .await;
    let clinic = connected(&app, &sandbox, "harbour", "au1").await;
    let tenant = clinic.tenant;
    enable(
        &app,
        &clinic.owner,
        &[
            ("appointment.created", "patient"),
            ("appointment.created", "staff"),
            ("appointment.cancelled", "patient"),
        ],
        Some("desk@harbour.example"),
    )
    .await;
    let desk = Reception::at(&sandbox, &clinic.key);
    let partner = Partner::on_clinic(app, clinic.owner, SCOPES).await;
    baseline(&partner.app, tenant).await;

    let appointment = book(&partner, 0, "aroha@example.org").await;

    let confirmation = sink
        .wait_for("aroha@example.org", "Your appointment on")
        .await;
    let parsed = confirmation.parsed();
    assert!(parsed.subject().unwrap().ends_with("is booked"));
    assert!(parsed.body_text(0).unwrap().contains("Hello Jane Citizen,"));
    assert!(
        parsed
            .body_html(0)
            .unwrap()
            .contains("<p>Hello Jane Citizen,</p>")
    );
    let (method, ics) = invitation(&confirmation);
    assert_eq!(method, "REQUEST");
    let calendar = parse(&ics);
    assert_eq!(
        property(&calendar.properties, "METHOD").unwrap().0,
        "REQUEST"
    );
    assert_eq!(calendar.events.len(), 1);
    let event = &calendar.events[0];
    assert!(
        property(&event.properties, "UID")
            .unwrap()
            .0
            .contains(&appointment),
        "{ics}"
    );
    assert_eq!(
        property(&event.properties, "STATUS").unwrap().0,
        "CONFIRMED"
    );
    assert_eq!(
        property(&event.properties, "ORGANIZER").unwrap().0,
        "mailto:notify@harbour.example"
    );
    assert_eq!(calendar.timezones.len(), 1, "the clinic's VTIMEZONE");
    let staff = sink
        .wait_for("desk@harbour.example", "Booked: Jane Citizen")
        .await;
    assert_eq!(invitation(&staff).0, "REQUEST");

    // Reception cancels in Cliniko; the poller finds it and the patient hears.
    desk.patch(
        &format!("/individual_appointments/{appointment}/cancel"),
        json!({"cancellation_reason": 40}),
    )
    .await;
    let cancellation = sink
        .wait_for("aroha@example.org", "Your appointment on")
        .await;
    let cancellation = if cancellation
        .parsed()
        .subject()
        .unwrap()
        .ends_with("is cancelled")
    {
        cancellation
    } else {
        let mut found = None;
        for _ in 0..300 {
            found = sink.messages().into_iter().find(|m| {
                m.to == ["aroha@example.org"]
                    && m.parsed()
                        .subject()
                        .is_some_and(|s| s.ends_with("is cancelled"))
            });
            if found.is_some() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        found.expect("a cancellation e-mail")
    };
    let (method, ics) = invitation(&cancellation);
    assert_eq!(method, "CANCEL");
    let calendar = parse(&ics);
    assert_eq!(
        property(&calendar.properties, "METHOD").unwrap().0,
        "CANCEL"
    );
    assert_eq!(
        property(&calendar.events[0].properties, "STATUS")
            .unwrap()
            .0,
        "CANCELLED"
    );

    // Each was sent once, and the history shows them masked.
    let entries = finished(&partner.app, &partner.clinic, 3).await;
    assert_eq!(entries.len(), 3, "{entries:?}");
    assert!(
        entries
            .iter()
            .all(|e| e["status"] == "delivered" && e["attempts"] == 1),
        "{entries:?}"
    );
    assert!(entries.iter().all(|e| e["last_code"] == 250), "{entries:?}");
    let answers: Vec<&str> = entries
        .iter()
        .map(|e| e["answer"].as_str().unwrap())
        .collect();
    assert!(
        answers
            .iter()
            .any(|a| a.starts_with("to a***@e***.org: 250 2.0.0 queued")),
        "{answers:?}"
    );
    assert!(
        answers
            .iter()
            .any(|a| a.starts_with("to d***@h***.example: 250")),
        "{answers:?}"
    );
    let shown = serde_json::to_string(&entries).unwrap();
    assert!(
        !shown.contains("aroha@") && !shown.contains("desk@"),
        "{shown}"
    );
    assert_eq!(sink.messages().len(), 3, "no message twice");
}

#[tokio::test]
async fn a_refused_recipient_fails_once_a_temporary_refusal_is_retried_and_opted_out_patients_get_nothing()
 {
    let sink = SmtpSink::start().await;
    let sandbox = roomy_sandbox();
    let app = app_on(&sandbox, |f| sink.relay_for(f)).await;
    let clinic = connected(&app, &sandbox, "harbour", "au1").await;
    enable(
        &app,
        &clinic.owner,
        &[("appointment.created", "patient")],
        None,
    )
    .await;
    let desk = Reception::at(&sandbox, &clinic.key);
    let partner = Partner::on_clinic(app, clinic.owner, SCOPES).await;

    // The relay does not know the address: failed at the first attempt, never retried.
    book(&partner, 0, "bounce@example.org").await;
    let entries = finished(&partner.app, &partner.clinic, 1).await;
    assert_eq!(entries[0]["status"], "failed", "{entries:?}");
    assert_eq!(entries[0]["attempts"], 1);
    assert_eq!(entries[0]["last_code"], 550);
    assert!(
        entries[0]["answer"]
            .as_str()
            .unwrap()
            .starts_with("to b***@e***.org: 550"),
        "{entries:?}"
    );

    // A temporary refusal is tried again (5 s later) and then delivered.
    sink.fail_next(1);
    book(&partner, 1, "kiri@example.org").await;
    sink.wait_for("kiri@example.org", "Your appointment on")
        .await;
    let entries = finished(&partner.app, &partner.clinic, 2).await;
    let kiri = entries
        .iter()
        .find(|e| e["status"] == "delivered")
        .expect("delivered");
    assert_eq!(kiri["attempts"], 2, "{entries:?}");

    // A patient whose Cliniko reminder type is None gets nothing, and the history says why.
    let tama = desk
        .post(
            "/patients",
            json!({"first_name": "Tama", "last_name": "Wiremu", "email": "tama@example.org", "reminder_type": "None"}),
        )
        .await;
    let tama = tama["id"].as_str().unwrap().to_owned();
    book_for(&partner, 2, |booking| {
        booking.as_object_mut().unwrap().remove("patient");
        booking["patient_id"] = json!(tama);
    })
    .await;
    let entries = finished(&partner.app, &partner.clinic, 3).await;
    let opted_out = entries
        .iter()
        .find(|e| e["last_error"] == "nothing_to_send")
        .unwrap_or_else(|| panic!("{entries:?}"));
    assert_eq!(opted_out["status"], "delivered");
    assert!(opted_out["answer"].as_str().unwrap().contains("opted out"));
    assert!(
        sink.messages().iter().all(|m| m.to != ["tama@example.org"]),
        "nothing sent to the opted-out patient"
    );
    assert_eq!(sink.messages().len(), 1, "kiri's only");
}

#[tokio::test]
async fn without_a_relay_the_history_says_email_is_not_configured() {
    let sandbox = roomy_sandbox();
    let app = app_on(&sandbox, |f| f).await;
    let clinic = connected(&app, &sandbox, "harbour", "au1").await;
    enable(
        &app,
        &clinic.owner,
        &[("appointment.created", "patient")],
        None,
    )
    .await;
    let partner = Partner::on_clinic(app, clinic.owner, SCOPES).await;
    book(&partner, 0, "aroha@example.org").await;
    let entries = finished(&partner.app, &partner.clinic, 1).await;
    assert_eq!(entries[0]["status"], "failed", "{entries:?}");
    assert_eq!(entries[0]["last_error"], "not_configured");
    assert!(
        entries[0]["answer"]
            .as_str()
            .unwrap()
            .contains("not configured")
    );
}
