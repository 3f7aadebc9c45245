//! Change detection over Cliniko through the running app and the Cliniko sandbox: a clinic is
//! connected, its Cliniko is changed directly (as reception would), and the events committed to
//! the outbox are read back and opened, as a webhook would carry them.
//!
//! The poller is started here with [`start_polling`], publishing to one test target through the
//! public API's shapes, so each event also gets a delivery.

mod changes;
mod faults;
mod instances;
mod phone_search;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use clinicgate_adapters::deliveries::SeaDeliveryQueue;
use clinicgate_adapters::polling::SeaPollStore;
use clinicgate_api::polling::{Poller, change_detector, spawn_poller};
use clinicgate_api::public::render_event;
use clinicgate_cliniko_sandbox::{Sandbox, SandboxConfig, SandboxKey};
use clinicgate_core::delivery::{DeliveryQueue as _, OutboundKind, Target};
use clinicgate_core::events::{EventData, EventPublisher, EventType, RenderEvent, Subscribers};
use clinicgate_core::ids::TenantId;
use clinicgate_core::polling::{ChangeDetector, PollStore as _, Resource};
use clinicgate_core::secrets::{SealedSecret, SecretPurpose};
use figment::Figment;
use figment::providers::Serialized;
use sea_orm::ConnectionTrait as _;
use sea_orm::sea_query::{Alias, Expr, ExprTrait as _, Order, Query};
use secrecy::ExposeSecret as _;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::common::TestApp;
use crate::public_api::{admin_key, app_on, connect_cliniko};
use crate::tokens::{Clinic, clinic};

/// The one target every event is delivered to in these tests.
const TARGET: Target = Target {
    kind: OutboundKind::Webhook,
    id: uuid::Uuid::from_u128(0x5eed),
};

/// How long a test waits for something the poller should do within a few polls.
const PATIENCE: Duration = Duration::from_secs(20);

/// A sandbox that lets the tests' pollers call it often.
pub fn roomy_sandbox() -> Sandbox {
    Sandbox::start(
        std::net::TcpListener::bind("127.0.0.1:0").unwrap(),
        &SandboxConfig {
            rate_limit: 5000,
            ..SandboxConfig::default()
        },
    )
    .unwrap()
}

/// Polling quick: a busy clinic every 200 ms, a quiet one every second. The app does not start
/// its own poller (`polling.enabled` stays false): each test starts one publishing to
/// [`TARGET`], or two for two instances.
pub fn polling_on(figment: Figment) -> Figment {
    figment
        .merge(Serialized::default("polling.busy_interval_ms", 200))
        .merge(Serialized::default("polling.idle_interval_secs", 1))
        .merge(Serialized::default("polling.hours_interval_secs", 1))
        .merge(Serialized::default("polling.overlap_secs", 2))
        .merge(Serialized::default("polling.max_backoff_secs", 2))
        .merge(Serialized::default("polling.lease_secs", 10))
        .merge(Serialized::default("polling.schedule_interval_secs", 1))
        .merge(Serialized::default("polling.tick_ms", 50))
        .merge(Serialized::default("cliniko.budget_per_minute", 3000))
        .merge(Serialized::default("cliniko.budget_burst", 100))
}

/// An app on `sandbox` with polling on.
pub async fn watching_app(sandbox: &Sandbox) -> TestApp {
    app_on(sandbox, polling_on).await
}

/// Renders with the public API's shapes.
#[derive(Debug)]
struct PublicShapes;

impl RenderEvent for PublicShapes {
    fn render(&self, data: &EventData) -> clinicgate_core::Result<Value> {
        render_event(data)
    }
}

/// Every event goes to [`TARGET`].
#[derive(Debug)]
struct OneTarget;

#[async_trait]
impl Subscribers for OneTarget {
    async fn targets(
        &self,
        _tenant: TenantId,
        _event_type: EventType,
    ) -> clinicgate_core::Result<Vec<Target>> {
        Ok(vec![TARGET])
    }
}

/// A poller running on `app` until stopped.
pub struct Polling {
    stop: CancellationToken,
    poller: Poller,
}

impl Polling {
    /// Stops it and waits until it has.
    pub async fn stop(self) {
        self.stop.cancel();
        self.poller.finish().await;
    }
}

/// A publisher to [`TARGET`] in the public API's shapes.
fn publisher(app: &TestApp) -> EventPublisher {
    let state = &app.state;
    EventPublisher::new(
        state.vault.clone(),
        Arc::new(SeaDeliveryQueue::new(state.db.clone())),
        Arc::new(PublicShapes),
        Duration::from_secs(24 * 3600),
    )
    .with_subscribers(Arc::new(OneTarget))
}

/// Starts `app`'s poller, publishing to [`TARGET`].
pub fn start_polling(app: &TestApp) -> Polling {
    let stop = CancellationToken::new();
    let poller = spawn_poller(&app.state, publisher(app), stop.clone());
    Polling { stop, poller }
}

/// `app`'s change detector, publishing to [`TARGET`] (what ClinicGate's own writes report to).
pub fn detector(app: &TestApp) -> ChangeDetector {
    change_detector(&app.state, publisher(app))
}

/// A clinic connected to the sandbox account on `shard`.
pub struct Connected {
    pub owner: Clinic,
    pub tenant: TenantId,
    pub key: SandboxKey,
}

/// Signs `subdomain` up and connects it to the sandbox account on `shard`.
pub async fn connected(
    app: &TestApp,
    sandbox: &Sandbox,
    subdomain: &str,
    shard: &str,
) -> Connected {
    let owner = clinic(app, subdomain).await;
    let key = admin_key(sandbox, shard);
    connect_cliniko(app, &owner, &key.key).await;
    let tenant = TenantId::from_uuid(owner.clinic.id.parse().unwrap());
    Connected { owner, tenant, key }
}

/// A clinic connected to its own sandbox account on a polling app, its baseline read.
pub struct Scene {
    pub app: TestApp,
    pub sandbox: Sandbox,
    pub clinic: Connected,
    pub tenant: TenantId,
    pub desk: Reception,
    pub polling: Polling,
}

impl Scene {
    /// Signs `subdomain` up on a new app, connects it to the sandbox account on `shard`, starts
    /// polling and waits for the baseline.
    pub async fn start(subdomain: &str, shard: &str) -> Self {
        let sandbox = roomy_sandbox();
        let app = watching_app(&sandbox).await;
        let clinic = connected(&app, &sandbox, subdomain, shard).await;
        let tenant = clinic.tenant;
        let polling = start_polling(&app);
        baseline(&app, tenant).await;
        let desk = Reception::at(&sandbox, &clinic.key);
        Self {
            app,
            sandbox,
            clinic,
            tenant,
            desk,
            polling,
        }
    }
}

/// The data of the first event of type `wanted` among `events`.
pub fn data_of<'a>(events: &'a [Seen], wanted: &str) -> &'a Value {
    &events
        .iter()
        .find(|e| e.event_type == wanted)
        .unwrap_or_else(|| panic!("no {wanted}"))
        .data
}

/// One committed event, opened.
#[derive(Debug, Clone)]
pub struct Seen {
    pub event_type: String,
    pub data: Value,
}

/// The clinic's committed events, oldest first.
pub async fn events(app: &TestApp, tenant: TenantId) -> Vec<Seen> {
    let query = Query::select()
        .columns([
            Alias::new("event_type"),
            Alias::new("data"),
            Alias::new("data_key_version"),
        ])
        .from(Alias::new("events"))
        .and_where(Expr::col(Alias::new("tenant_id")).eq(tenant.as_uuid()))
        .order_by(Alias::new("id"), Order::Asc)
        .to_owned();
    let rows = app.state.db.query_all(&query).await.unwrap();
    let mut seen = Vec::new();
    for row in rows {
        let sealed = SealedSecret {
            ciphertext: row.try_get("", "data").unwrap(),
            key_version: row.try_get("", "data_key_version").unwrap(),
        };
        let json = app
            .state
            .vault
            .open(tenant, SecretPurpose::EventData, &sealed)
            .await
            .unwrap();
        seen.push(Seen {
            event_type: row.try_get("", "event_type").unwrap(),
            data: serde_json::from_str(json.expose_secret()).unwrap(),
        });
    }
    seen
}

/// The types of the clinic's events after the first `skip`, in order.
pub async fn types_after(app: &TestApp, tenant: TenantId, skip: usize) -> Vec<String> {
    events(app, tenant)
        .await
        .into_iter()
        .skip(skip)
        .map(|e| e.event_type)
        .collect()
}

/// Waits until the clinic has events of all of `wanted` types after the first `skip`; returns
/// those events (every one after `skip`).
pub async fn wait_for(app: &TestApp, tenant: TenantId, skip: usize, wanted: &[&str]) -> Vec<Seen> {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let fresh: Vec<Seen> = events(app, tenant).await.into_iter().skip(skip).collect();
        let missing: Vec<&&str> = wanted
            .iter()
            .filter(|w| !fresh.iter().any(|e| e.event_type == **w))
            .collect();
        if missing.is_empty() {
            return fresh;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still waiting for {missing:?}; have {:?}",
            fresh.iter().map(|e| &e.event_type).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until every resource of the clinic has its baseline.
pub async fn baseline(app: &TestApp, tenant: TenantId) {
    let store = SeaPollStore::new(app.state.db.clone());
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let cursors = store.cursors(tenant).await.unwrap();
        let done = Resource::ALL.iter().all(|resource| {
            cursors
                .iter()
                .any(|c| c.resource == *resource && c.baseline_done)
        });
        if done {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no baseline: {cursors:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Lets a few polls go by (to show something did *not* happen).
pub async fn a_few_polls() {
    tokio::time::sleep(Duration::from_millis(2500)).await;
}

/// The number of deliveries to the test target.
pub async fn deliveries(app: &TestApp, tenant: TenantId) -> usize {
    SeaDeliveryQueue::new(app.state.db.clone())
        .deliveries(tenant, TARGET, 1000)
        .await
        .unwrap()
        .len()
}

/// Direct calls to the sandbox with a clinic's key, as reception working in Cliniko.
pub struct Reception {
    http: reqwest::Client,
    base: String,
    key: String,
}

impl Reception {
    pub fn at(sandbox: &Sandbox, key: &SandboxKey) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: sandbox.base_url().replace("{shard}", &key.shard),
            key: key.key.clone(),
        }
    }

    pub async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .basic_auth(&self.key, Some(""))
            .header("user-agent", "Reception desk (desk@clinic.example)");
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        assert!(status.is_success(), "{method} {path}: {status}");
        response.json().await.unwrap_or(Value::Null)
    }

    pub async fn get(&self, path: &str) -> Value {
        self.call(reqwest::Method::GET, path, None).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Value {
        self.call(reqwest::Method::PATCH, path, Some(body)).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Value {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    /// A new patient; its id.
    pub async fn new_patient(&self, first: &str, last: &str) -> String {
        let created = self
            .post(
                "/patients",
                json!({"first_name": first, "last_name": last, "email": format!("{first}@mail.example")}),
            )
            .await;
        created["id"].as_str().unwrap().to_owned()
    }

    /// The practitioner, business and appointment type of an existing appointment: a
    /// combination the account has.
    pub async fn bookable(&self) -> (String, String, String) {
        let page = self.get("/individual_appointments?per_page=1").await;
        let appointment = &page["individual_appointments"][0];
        let id = |name: &str| {
            appointment[name]["links"]["self"]
                .as_str()
                .unwrap()
                .rsplit('/')
                .next()
                .unwrap()
                .to_owned()
        };
        (id("practitioner"), id("business"), id("appointment_type"))
    }

    /// Books `patient` from `starts_at` to `ends_at`; the appointment's id.
    pub async fn book(
        &self,
        patient: &str,
        starts_at: DateTime<Utc>,
        ends_at: DateTime<Utc>,
    ) -> String {
        let (practitioner, business, appointment_type) = self.bookable().await;
        let stamp = |at: DateTime<Utc>| at.to_rfc3339_opts(SecondsFormat::Secs, true);
        let created = self
            .post(
                "/individual_appointments",
                json!({
                    "patient_id": patient, "practitioner_id": practitioner,
                    "business_id": business, "appointment_type_id": appointment_type,
                    "starts_at": stamp(starts_at), "ends_at": stamp(ends_at),
                }),
            )
            .await;
        created["id"].as_str().unwrap().to_owned()
    }
}
