//! The public REST API through the real HTTP surface, against the Cliniko sandbox (behaviour)
//! and wiremock (faults): directory, slots, bookings with the guard and idempotency, status.

mod appointments;
mod budget_share;
mod directory;
mod faults;
mod freebusy;
mod overload;
mod patients;
mod reads;
mod slots;

use std::net::TcpListener;

use chrono::{DateTime, Days, NaiveDate, Utc};
use chrono_tz::Tz;
use clinicgate_cliniko_sandbox::{Sandbox, SandboxConfig, SandboxKey};
use figment::Figment;
use figment::providers::Serialized;
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{TestApp, spawn_app_with};
use crate::tokens::{Clinic, clinic, create_client, token};

/// Every scope the public API has.
pub const ALL_SCOPES: &[&str] = &[
    "doctors:read",
    "slots:read",
    "appointments:read",
    "appointments:write",
];

/// A running sandbox.
pub fn sandbox() -> Sandbox {
    Sandbox::start(
        TcpListener::bind("127.0.0.1:0").unwrap(),
        &SandboxConfig::default(),
    )
    .unwrap()
}

/// Test settings pointing the Cliniko client at `base_url` (a sandbox's, with `{shard}`).
pub fn cliniko_settings(figment: Figment, base_url: &str) -> Figment {
    figment
        .merge(Serialized::default("cliniko.base_url", base_url.to_owned()))
        .merge(Serialized::default(
            "cliniko.user_agent",
            "ClinicGate Tests (tests@clinicgate.dev)",
        ))
        // Tests make many calls in quick succession; the sandbox still allows 200 a minute.
        .merge(Serialized::default("cliniko.budget_per_minute", 150))
        .merge(Serialized::default("cliniko.budget_burst", 40))
}

/// An app whose Cliniko is `sandbox`, with `customise` on top.
pub async fn app_on(sandbox: &Sandbox, customise: impl FnOnce(Figment) -> Figment) -> TestApp {
    let base = sandbox.base_url();
    spawn_app_with(move |f| customise(cliniko_settings(f, &base))).await
}

/// The sandbox's administrator key of the account on `shard`.
pub fn admin_key(sandbox: &Sandbox, shard: &str) -> SandboxKey {
    sandbox
        .keys()
        .iter()
        .find(|k| k.shard == shard && k.role == "administrator")
        .unwrap()
        .clone()
}

/// Connects `key` as the clinic's Cliniko key.
pub async fn connect_cliniko(app: &TestApp, owner: &Clinic, key: &str) {
    let response = app
        .on(
            Method::PUT,
            owner.sub(),
            "/api/tenant/cliniko-key",
            Some(&owner.cookie),
        )
        .json(&json!({ "api_key": key }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{:?}", response.text().await);
}

/// A clinic connected to the sandbox account on `shard`, and a token with `scopes`.
pub async fn partner_of(
    app: &TestApp,
    sandbox: &Sandbox,
    subdomain: &str,
    shard: &str,
    scopes: &[&str],
) -> String {
    let owner = clinic(app, subdomain).await;
    connect_cliniko(app, &owner, &admin_key(sandbox, shard).key).await;
    let client = create_client(app, &owner, scopes, None).await;
    token(app, &client).await
}

/// `GET path` with `token`: status and JSON body.
pub async fn get_json(app: &TestApp, path: &str, token: &str) -> (u16, Value) {
    let response = crate::tokens::get_with(app, path, token).await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A write with `token`, an optional `Idempotency-Key` and a JSON body.
pub async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    key: Option<&str>,
    body: &Value,
) -> reqwest::Response {
    let mut request = app
        .client
        .request(method, format!("{}{path}", app.address))
        .bearer_auth(token)
        .json(body);
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    request.send().await.unwrap()
}

/// A write: status and JSON body.
pub async fn send_json(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    key: Option<&str>,
    body: &Value,
) -> (u16, Value) {
    let response = send(app, method, path, token, key, body).await;
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A fresh idempotency key.
pub fn new_key() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// What to book: a doctor at a clinic for an appointment type, as the directory lists them.
#[derive(Debug, Clone)]
pub struct Bookable {
    pub doctor_id: String,
    pub clinic_id: String,
    pub appointment_type_id: String,
    pub zone: Tz,
}

/// The directory's doctor named `name` at their first clinic, for their first appointment type.
pub async fn bookable(app: &TestApp, token: &str, name: &str) -> Bookable {
    let (status, doctors) = get_json(app, &format!("/api/public/doctors?q={name}"), token).await;
    assert_eq!(status, 200, "{doctors}");
    let doctor = &doctors["data"][0];
    let clinic_id = doctor["clinic_ids"][0].as_str().unwrap().to_owned();
    let (_, clinic) = get_json(app, "/api/public/clinics?per_page=100", token).await;
    let zone: Tz = clinic["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == clinic_id.as_str())
        .unwrap()["time_zone"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    Bookable {
        doctor_id: doctor["id"].as_str().unwrap().to_owned(),
        clinic_id,
        appointment_type_id: doctor["appointment_type_ids"][0]
            .as_str()
            .unwrap()
            .to_owned(),
        zone,
    }
}

impl Bookable {
    /// Tomorrow in the clinic's time zone.
    pub fn tomorrow(&self) -> NaiveDate {
        Utc::now()
            .with_timezone(&self.zone)
            .date_naive()
            .checked_add_days(Days::new(1))
            .unwrap()
    }

    /// The slot search path for `from..=to`.
    pub fn slots_path(&self, from: NaiveDate, to: NaiveDate, page: u32) -> String {
        format!(
            "/api/public/available-slots?doctor_id={}&clinic_id={}&appointment_type_id={}&from={from}&to={to}&page={page}&per_page=100",
            self.doctor_id, self.clinic_id, self.appointment_type_id
        )
    }

    /// Every free start over the 13 days from tomorrow, following `next` links.
    pub async fn free_starts(&self, app: &TestApp, token: &str) -> Vec<String> {
        let from = self.tomorrow();
        let to = from.checked_add_days(Days::new(12)).unwrap();
        let mut starts = Vec::new();
        let mut page = 1;
        loop {
            let (status, body) = get_json(app, &self.slots_path(from, to, page), token).await;
            assert_eq!(status, 200, "{body}");
            for slot in body["data"].as_array().unwrap() {
                starts.push(slot["starts_at"].as_str().unwrap().to_owned());
            }
            if body["links"]["next"].is_null() {
                return starts;
            }
            page += 1;
        }
    }

    /// A booking body for `starts_at` and a new patient.
    pub fn booking(&self, starts_at: &str, email: &str) -> Value {
        json!({
            "doctor_id": self.doctor_id, "clinic_id": self.clinic_id,
            "appointment_type_id": self.appointment_type_id, "starts_at": starts_at,
            "notes": "Booked by a partner app",
            "patient": {"first_name": "Jane", "last_name": "Citizen",
                        "date_of_birth": "1984-03-02", "email": email, "phone": "+61 444 444 444"}
        })
    }
}

/// A raw call to the sandbox as Cliniko, with `key` (for comparing with what the API says).
pub async fn cliniko_get(sandbox: &Sandbox, key: &SandboxKey, path: &str) -> Value {
    cliniko_call(sandbox, key, Method::GET, path, None).await
}

/// A raw `POST` to the sandbox as Cliniko, with `key` (to set up records as a clinic would).
pub async fn cliniko_post(sandbox: &Sandbox, key: &SandboxKey, path: &str, body: &Value) -> Value {
    cliniko_call(sandbox, key, Method::POST, path, Some(body)).await
}

/// A raw `PATCH` to the sandbox as Cliniko, with `key` (a change made at the clinic's desk).
pub async fn cliniko_patch(sandbox: &Sandbox, key: &SandboxKey, path: &str, body: &Value) -> Value {
    cliniko_call(sandbox, key, Method::PATCH, path, Some(body)).await
}

async fn cliniko_call(
    sandbox: &Sandbox,
    key: &SandboxKey,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> Value {
    let url = format!(
        "{}{path}",
        sandbox.base_url().replace("{shard}", &key.shard)
    );
    let mut request = reqwest::Client::new()
        .request(method, url)
        .basic_auth(&key.key, Some(""))
        .header("user-agent", "ClinicGate Tests (tests@clinicgate.dev)")
        .header("accept", "application/json");
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.unwrap();
    assert!(
        response.status().is_success(),
        "{path}: {}",
        response.status()
    );
    response.json().await.unwrap()
}

/// Cliniko calls the sandbox accepted for the account of `key` so far.
pub fn cliniko_calls(sandbox: &Sandbox, key: &SandboxKey) -> u64 {
    sandbox
        .stats()
        .get(&key.account)
        .map_or(0, |stats| stats.accepted)
}

/// Parses an RFC 3339 time from the API.
pub fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}
