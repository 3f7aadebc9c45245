//! Text messages through a wiremock Twilio: the clinic's account (its auth token sealed, never
//! answered, stored or logged in clear), a booking's confirmation to the patient's mobile and to
//! the staff phone with Basic auth and the Messages API's form fields, a provider 5xx retried
//! and sent once, an invalid number (Twilio 400, code 21211) failed at once and shown masked,
//! a patient who takes only e-mail or has no mobile reported, and quiet hours holding an SMS.

use base64::Engine as _;
use chrono::Timelike as _;
use chrono_tz::Tz;
use figment::providers::Serialized;
use reqwest::Method;
use serde_json::{Value, json};
use wiremock::matchers::{body_string_contains, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::{book_slot, call, finished, history};
use crate::common::{TestApp, allow_loopback};
use crate::polling::{Reception, connected, roomy_sandbox};
use crate::public_api::app_on;
use crate::secrets_at_rest::{captured_logs, contains, database_contents};
use crate::webhooks::Partner;

const SCOPES: &[&str] = &[
    "appointments:read",
    "appointments:write",
    "patients:read",
    "doctors:read",
    "slots:read",
];

/// The clinic's Twilio account.
pub const SID: &str = "ACa1b2c3d4e5f60718293a4b5c6d7e8f90";
/// Its auth token (a secret: never answered, stored or logged in clear).
pub const TOKEN: &str = "sms-token-6f2c91d0b8e74a35";
const FROM: &str = "+61400000000";
const STAFF: &str = "+61412345678";

/// The Messages resource of [`SID`].
pub fn messages_path() -> String {
    format!("/2010-04-01/Accounts/{SID}/Messages.json")
}

/// An app whose SMS provider is `twilio`, its outbound guard letting loopback through.
pub async fn app_with_twilio(
    sandbox: &clinicgate_cliniko_sandbox::Sandbox,
    twilio: &MockServer,
    more: impl FnOnce(figment::Figment) -> figment::Figment,
) -> TestApp {
    let base = twilio.uri();
    app_on(sandbox, |f| {
        more(allow_loopback(f)).merge(Serialized::default("notifications.twilio_base_url", base))
    })
    .await
}

/// Twilio's answer to a created message.
pub fn created(sid: &str) -> ResponseTemplate {
    ResponseTemplate::new(201).set_body_json(json!({
        "sid": sid, "status": "queued", "account_sid": SID, "body": "…"
    }))
}

/// Saves the clinic's SMS account (with the staff phone).
pub async fn save_account(app: &TestApp, clinic: &crate::tokens::Clinic) -> Value {
    let (status, body) = call(
        app,
        clinic,
        Method::PUT,
        "/api/tenant/notifications/sms",
        Some(json!({
            "account_sid": SID, "auth_token": TOKEN, "from_number": "+61 400 000 000",
            "staff_phone": STAFF,
        })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Turns on SMS for `rules` (`(event, audience)`).
pub async fn enable_sms(
    app: &TestApp,
    clinic: &crate::tokens::Clinic,
    rules: &[(&str, &str)],
    quiet_hours: Value,
) {
    let rules: Vec<Value> = rules
        .iter()
        .map(|(event, audience)| json!({"event": event, "channel": "sms", "audience": audience}))
        .collect();
    let (status, body) = call(
        app,
        clinic,
        Method::PUT,
        "/api/tenant/notifications/settings",
        Some(json!({"rules": rules, "quiet_hours": quiet_hours})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

/// The form fields of a request Twilio received.
pub fn form(request: &wiremock::Request) -> Vec<(String, String)> {
    url::form_urlencoded::parse(&request.body)
        .into_owned()
        .collect()
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

/// Books the `nth` free slot of Marcus for a new patient at `email` with mobile `phone`.
async fn book(partner: &Partner, nth: usize, email: &str, phone: &str) -> String {
    book_slot(
        partner,
        |free| free[nth].clone(),
        |booking| {
            booking["patient"]["email"] = json!(email);
            booking["patient"]["phone"] = json!(phone);
        },
    )
    .await
    .0
}

#[tokio::test]
async fn confirmations_go_by_sms_with_the_clinics_account_retrying_5xx_and_failing_a_bad_number_at_once()
 {
    let logs = captured_logs();
    let twilio = MockServer::start().await;
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{SID}:{TOKEN}"))
    );
    // An invalid number: refused for good.
    Mock::given(method("POST"))
        .and(path(messages_path()))
        .and(body_string_contains("To=%2B61499999999"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "code": 21211, "status": 400,
            "message": "The 'To' number +61499999999 is not a valid phone number.",
            "more_info": "https://www.twilio.com/docs/errors/21211"
        })))
        .mount(&twilio)
        .await;
    // The provider's first answer to the first patient is a 503: retried.
    Mock::given(method("POST"))
        .and(path(messages_path()))
        .and(body_string_contains("To=%2B61444444444"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .mount(&twilio)
        .await;
    Mock::given(method("POST"))
        .and(path(messages_path()))
        .and(header("authorization", basic.as_str()))
        .respond_with(created("SM0123456789abcdef0123456789abcdef"))
        .mount(&twilio)
        .await;

    let sandbox = roomy_sandbox();
    let app = app_with_twilio(&sandbox, &twilio, |f| f).await;
    let clinic = connected(&app, &sandbox, "harbour", "au1").await;
    let other = crate::tokens::clinic(&app, "lakeside").await;

    // An SMS rule before the account is saved: refused, nothing saved.
    let (status, body) = call(
        &app,
        &clinic.owner,
        Method::PUT,
        "/api/tenant/notifications/settings",
        Some(json!({"rules": [{"event": "appointment.created", "channel": "sms", "audience": "patient"}]})),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errors"][0]["code"], "sms_not_set_up", "{body}");

    // Bad accounts: 422 naming each field.
    let (status, body) = call(
        &app,
        &clinic.owner,
        Method::PUT,
        "/api/tenant/notifications/sms",
        Some(json!({"account_sid": "AC12", "from_number": "0400 000 000"})),
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
        ["account_sid", "from_number", "auth_token"],
        "{body}"
    );

    let saved = save_account(&app, &clinic.owner).await;
    assert_eq!(saved["configured"], true);
    assert_eq!(saved["account_sid"], SID);
    assert_eq!(saved["auth_token_set"], true);
    assert_eq!(saved["from_number"], FROM);
    assert_eq!(saved["staff_phone"], STAFF);
    // Saved again without the token: the stored one is kept.
    let (status, kept) = call(
        &app,
        &clinic.owner,
        Method::PUT,
        "/api/tenant/notifications/sms",
        Some(json!({"account_sid": SID, "from_number": FROM, "staff_phone": STAFF})),
    )
    .await;
    assert_eq!(status, 200, "{kept}");
    assert_eq!(kept["auth_token_set"], true);
    let (status, read) = call(
        &app,
        &clinic.owner,
        Method::GET,
        "/api/tenant/notifications/sms",
        None,
    )
    .await;
    assert_eq!(status, 200);
    for answer in [&saved, &kept, &read] {
        assert!(!answer.to_string().contains(TOKEN), "{answer}");
    }
    // Another clinic sees its own (none), and this clinic's session is refused on its host.
    let (status, theirs) = call(
        &app,
        &other,
        Method::GET,
        "/api/tenant/notifications/sms",
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(theirs["configured"], false, "{theirs}");
    let crossed = app
        .on(
            Method::GET,
            other.sub(),
            "/api/tenant/notifications/sms",
            Some(&clinic.owner.cookie),
        )
        .send()
        .await
        .unwrap();
    assert!(
        [401, 403, 404].contains(&crossed.status().as_u16()),
        "{}",
        crossed.status()
    );

    enable_sms(
        &app,
        &clinic.owner,
        &[
            ("appointment.created", "patient"),
            ("appointment.created", "staff"),
        ],
        Value::Null,
    )
    .await;
    let partner = Partner::on_clinic(app, clinic.owner, SCOPES).await;

    // The patient's confirmation: a 503, then sent once; the staff copy at once.
    book(&partner, 0, "aroha@example.org", "+61 444 444 444").await;
    let entries = finished(&partner.app, &partner.clinic, 2).await;
    let patient = entries
        .iter()
        .find(|e| e["rule"]["audience"] == "patient")
        .unwrap();
    assert_eq!(patient["status"], "delivered", "{entries:?}");
    assert_eq!(patient["attempts"], 2, "{entries:?}");
    assert_eq!(patient["last_code"], 201);
    assert_eq!(
        patient["answer"],
        "to +614 *** *** 444: 201 queued SM0123456789abcdef0123456789abcdef"
    );
    let staff = entries
        .iter()
        .find(|e| e["rule"]["audience"] == "staff")
        .unwrap();
    assert_eq!(staff["status"], "delivered", "{entries:?}");
    assert_eq!(staff["attempts"], 1);

    let received = twilio.received_requests().await.unwrap();
    let sent: Vec<Vec<(String, String)>> = received
        .iter()
        .filter(|r| r.headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(&basic))
        .map(form)
        .collect();
    assert_eq!(sent.len(), 3, "one 503 and two sent");
    let to_patient: Vec<_> = sent
        .iter()
        .filter(|f| field(f, "To") == Some("+61444444444"))
        .collect();
    assert_eq!(to_patient.len(), 2, "the 503 and the retry");
    assert_eq!(field(to_patient[1], "From"), Some(FROM));
    let body = field(to_patient[1], "Body").unwrap();
    assert!(body.starts_with("Your appointment on "), "{body}");
    assert!(body.ends_with(" is booked."), "{body}");
    let to_staff = sent
        .iter()
        .find(|f| field(f, "To") == Some(STAFF))
        .expect("the staff copy");
    assert!(
        field(to_staff, "Body")
            .unwrap()
            .starts_with("Booked: Jane Citizen, ")
    );

    // An invalid number: failed at the first attempt, never retried, shown masked.
    book(&partner, 1, "kiri@example.org", "+61 499 999 999").await;
    let entries = finished(&partner.app, &partner.clinic, 4).await;
    let bad = entries
        .iter()
        .find(|e| e["status"] == "failed")
        .unwrap_or_else(|| panic!("{entries:?}"));
    assert_eq!(bad["attempts"], 1, "{entries:?}");
    assert_eq!(bad["last_code"], 400);
    let answer = bad["answer"].as_str().unwrap();
    assert!(
        answer.starts_with("to +614 *** *** 999: 400 code 21211 The 'To' number +614 *** *** 999"),
        "{answer}"
    );
    assert!(!answer.contains("61499999999"), "{answer}");
    tokio::time::sleep(std::time::Duration::from_secs(6)).await;
    let bad_again = history(&partner.app, &partner.clinic)
        .await
        .into_iter()
        .find(|e| e["id"] == bad["id"])
        .unwrap();
    assert_eq!(bad_again["attempts"], 1, "not retried");

    // The token is sealed at rest and never logged; nor is the patient's name.
    let stored = database_contents(&partner.app, &["notification_sms_settings"]).await;
    assert!(!stored.is_empty());
    assert!(!contains(&stored, TOKEN.as_bytes()));
    let logged = logs.lock().unwrap().clone();
    for secret in [TOKEN, "Jane Citizen"] {
        if let Some(at) = logged
            .windows(secret.len())
            .position(|w| w == secret.as_bytes())
        {
            let from = at.saturating_sub(600);
            panic!(
                "{secret} in the logs: {}",
                String::from_utf8_lossy(&logged[from..(at + 200).min(logged.len())])
            );
        }
    }
}

#[tokio::test]
async fn an_email_only_patient_and_one_without_a_mobile_get_no_sms_and_quiet_hours_hold_one() {
    let twilio = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(messages_path()))
        .respond_with(created("SM1"))
        .mount(&twilio)
        .await;
    let sandbox = roomy_sandbox();
    let app = app_with_twilio(&sandbox, &twilio, |f| f).await;
    let clinic = connected(&app, &sandbox, "harbour", "au1").await;
    let desk = Reception::at(&sandbox, &clinic.key);
    save_account(&app, &clinic.owner).await;
    enable_sms(
        &app,
        &clinic.owner,
        &[("appointment.created", "patient")],
        Value::Null,
    )
    .await;
    let partner = Partner::on_clinic(app, clinic.owner, SCOPES).await;

    // Reminder type Email: no SMS (the e-mail channel would still go), and the history says why.
    let tama = desk
        .post(
            "/patients",
            json!({"first_name": "Tama", "last_name": "Wiremu", "email": "tama@example.org",
                   "reminder_type": "Email",
                   "patient_phone_numbers": [{"phone_type": "Mobile", "number": "+61 433 333 333"}]}),
        )
        .await;
    let tama = tama["id"].as_str().unwrap().to_owned();
    let (first, _) = book_slot(
        &partner,
        |free| free[0].clone(),
        |booking| {
            booking.as_object_mut().unwrap().remove("patient");
            booking["patient_id"] = json!(tama);
        },
    )
    .await;
    // No mobile in Cliniko: reported as failed, not retried.
    let hemi = desk
        .post(
            "/patients",
            json!({"first_name": "Hemi", "last_name": "Rua", "email": "hemi@example.org",
                   "patient_phone_numbers": [{"phone_type": "Home", "number": "+61 299 999 999"}]}),
        )
        .await;
    let hemi = hemi["id"].as_str().unwrap().to_owned();
    book_slot(
        &partner,
        |free| free[1].clone(),
        |booking| {
            booking.as_object_mut().unwrap().remove("patient");
            booking["patient_id"] = json!(hemi);
        },
    )
    .await;
    let entries = finished(&partner.app, &partner.clinic, 2).await;
    let answers: Vec<&str> = entries
        .iter()
        .map(|e| e["answer"].as_str().unwrap_or_default())
        .collect();
    let opted_out = entries
        .iter()
        .find(|e| {
            e["answer"]
                .as_str()
                .unwrap_or_default()
                .contains("opted out of sms")
        })
        .unwrap_or_else(|| panic!("{answers:?}"));
    assert_eq!(opted_out["status"], "delivered");
    assert_eq!(opted_out["last_error"], "nothing_to_send");
    let no_mobile = entries
        .iter()
        .find(|e| {
            e["answer"]
                .as_str()
                .unwrap_or_default()
                .contains("no mobile number")
        })
        .unwrap_or_else(|| panic!("{answers:?}"));
    assert_eq!(no_mobile["status"], "failed");
    assert_eq!(no_mobile["attempts"], 1);
    assert!(twilio.received_requests().await.unwrap().is_empty());

    // Quiet from an hour ago to two hours from now, practice time: the SMS waits, then goes.
    let zone: Tz = partner_zone(&partner, &first).await;
    let clock = &partner.app.state.clock;
    let local = clock.now().with_timezone(&zone);
    let minute = i64::from(local.hour() * 60 + local.minute());
    let hh_mm = |m: i64| {
        let m = m.rem_euclid(24 * 60);
        format!("{:02}:{:02}", m / 60, m % 60)
    };
    enable_sms(
        &partner.app,
        &partner.clinic,
        &[("appointment.created", "patient")],
        json!({"start": hh_mm(minute - 60), "end": hh_mm(minute + 120)}),
    )
    .await;
    book(&partner, 2, "mere@example.org", "+61 455 555 555").await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let entries = history(&partner.app, &partner.clinic).await;
    let waiting: Vec<&Value> = entries
        .iter()
        .filter(|e| e["status"] == "pending")
        .collect();
    assert_eq!(waiting.len(), 1, "{entries:?}");
    assert_eq!(waiting[0]["attempts"], 0);
    assert!(twilio.received_requests().await.unwrap().is_empty());
    clock.advance(chrono::Duration::minutes(122));
    let entries = finished(&partner.app, &partner.clinic, 3).await;
    assert!(
        entries.iter().all(|e| e["status"] != "pending"),
        "{entries:?}"
    );
    let received = twilio.received_requests().await.unwrap();
    assert_eq!(received.len(), 1);
    assert_eq!(field(&form(&received[0]), "To"), Some("+61455555555"));
}

/// The practice's time zone, from appointment `id` as the partner reads it.
async fn partner_zone(partner: &Partner, id: &str) -> Tz {
    let (status, read) = crate::public_api::send_json(
        &partner.app,
        Method::GET,
        &format!("/api/public/appointments/{id}"),
        &partner.token,
        None,
        &Value::Null,
    )
    .await;
    assert_eq!(status, 200, "{read}");
    read["time_zone"].as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn a_patient_who_takes_only_sms_gets_the_text_and_not_the_email() {
    let sink = super::sink::SmtpSink::start().await;
    let twilio = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(messages_path()))
        .respond_with(created("SM2"))
        .mount(&twilio)
        .await;
    let sandbox = roomy_sandbox();
    let app = app_with_twilio(&sandbox, &twilio, |f| sink.relay_for(f)).await;
    let clinic = connected(&app, &sandbox, "harbour", "au1").await;
    let desk = Reception::at(&sandbox, &clinic.key);
    save_account(&app, &clinic.owner).await;
    let (status, body) = call(
        &app,
        &clinic.owner,
        Method::PUT,
        "/api/tenant/notifications/settings",
        Some(json!({"rules": [
            {"event": "appointment.created", "channel": "email", "audience": "patient"},
            {"event": "appointment.created", "channel": "sms", "audience": "patient"},
        ]})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let partner = Partner::on_clinic(app, clinic.owner, SCOPES).await;
    let rua = desk
        .post(
            "/patients",
            json!({"first_name": "Rua", "last_name": "Tane", "email": "rua@example.org",
                   "reminder_type": "SMS",
                   "patient_phone_numbers": [{"phone_type": "Mobile", "number": "+61 477 777 777"}]}),
        )
        .await;
    let rua = rua["id"].as_str().unwrap().to_owned();
    book_slot(
        &partner,
        |free| free[0].clone(),
        |booking| {
            booking.as_object_mut().unwrap().remove("patient");
            booking["patient_id"] = json!(rua);
        },
    )
    .await;
    let entries = finished(&partner.app, &partner.clinic, 2).await;
    let email = entries
        .iter()
        .find(|e| e["rule"]["channel"] == "email")
        .unwrap();
    assert_eq!(email["status"], "delivered", "{entries:?}");
    assert_eq!(email["last_error"], "nothing_to_send");
    assert!(
        email["answer"]
            .as_str()
            .unwrap()
            .contains("opted out of email (Cliniko reminder type SMS)"),
        "{entries:?}"
    );
    let sms = entries
        .iter()
        .find(|e| e["rule"]["channel"] == "sms")
        .unwrap();
    assert_eq!(sms["last_code"], 201, "{entries:?}");
    assert!(
        sink.messages().is_empty(),
        "no e-mail to an SMS-only patient"
    );
    let received = twilio.received_requests().await.unwrap();
    assert_eq!(received.len(), 1);
    assert_eq!(field(&form(&received[0]), "To"), Some("+61477777777"));
}
