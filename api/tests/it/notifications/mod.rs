//! Notifications (issue 20): the clinic's settings API, e-mails sent through a local SMTP sink
//! when appointments are booked through the API or cancelled in Cliniko, text messages through
//! a wiremock Twilio, and queue progress when patients arrive in the sandbox.

mod email;
mod queue;
mod quiet_hours;
mod reminders;
mod settings;
mod sms;
mod templates;
mod unsubscribe;
pub use crate::common::smtp_sink as sink;

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::TestApp;
use crate::public_api::{bookable, new_key, send_json};
use crate::tokens::Clinic;
use crate::webhooks::Partner;

/// `method path` on the clinic's host with its owner's session: status and JSON body.
pub async fn call(
    app: &TestApp,
    clinic: &Clinic,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = app.on(method, clinic.sub(), path, Some(&clinic.cookie));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Turns on e-mails for `rules` (`(event, audience)`), staff ones to `staff`.
pub async fn enable(app: &TestApp, clinic: &Clinic, rules: &[(&str, &str)], staff: Option<&str>) {
    let rules: Vec<Value> = rules
        .iter()
        .map(|(event, audience)| json!({"event": event, "channel": "email", "audience": audience}))
        .collect();
    let (status, body) = call(
        app,
        clinic,
        Method::PUT,
        "/api/tenant/notifications/settings",
        Some(json!({"staff_email": staff, "rules": rules})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

/// The clinic's notification history.
pub async fn history(app: &TestApp, clinic: &Clinic) -> Vec<Value> {
    let (status, body) = call(
        app,
        clinic,
        Method::GET,
        "/api/tenant/notifications/history",
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body.as_array().unwrap().clone()
}

/// Waits until the history holds `n` finished entries; the entries.
pub async fn finished(app: &TestApp, owner: &Clinic, n: usize) -> Vec<Value> {
    for _ in 0..300 {
        let entries = history(app, owner).await;
        if entries.iter().filter(|e| e["status"] != "pending").count() >= n {
            return entries;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!(
        "fewer than {n} finished notifications: {:?}",
        history(app, owner).await
    );
}

/// Books the free slot of Marcus that `pick` chooses from the free starts, through the public
/// API, with `shape` applied to the booking body; the appointment's id and start.
pub async fn book_slot(
    partner: &Partner,
    pick: impl FnOnce(&[String]) -> String,
    shape: impl FnOnce(&mut Value),
) -> (String, String) {
    let target = bookable(&partner.app, &partner.token, "Marcus").await;
    let free = target.free_starts(&partner.app, &partner.token).await;
    let start = pick(&free);
    let mut booking = target.booking(&start, "unused@example.org");
    shape(&mut booking);
    let (status, booked) = send_json(
        &partner.app,
        Method::POST,
        "/api/public/appointments",
        &partner.token,
        Some(&new_key()),
        &booking,
    )
    .await;
    assert_eq!(status, 201, "{booked}");
    (booked["id"].as_str().unwrap().to_owned(), start)
}
