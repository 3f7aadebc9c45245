//! Notifications (issue 20): the clinic's settings API, and e-mails sent through a local SMTP
//! sink when appointments are booked through the API or cancelled in Cliniko.

mod email;
mod settings;
pub use crate::common::smtp_sink as sink;

use reqwest::Method;
use serde_json::{Value, json};

use crate::common::TestApp;
use crate::tokens::Clinic;

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
