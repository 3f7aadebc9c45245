//! Webhook messages as a receiver sees them: signed so that the Standard Webhooks reference
//! library verifies them, retried with the same `webhook-id` after a 500 or a timeout, given up
//! at once on a 410 or an address the outbound guard refuses, held while the endpoint is paused —
//! each through the real queue on the backend the environment selects.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use clinicgate_adapters::deliveries::SeaDeliveryQueue;
use clinicgate_adapters::outbound::{IpNet, OutboundClient, OutboundConfig};
use clinicgate_adapters::secrets::SeaDataKeyRepository;
use clinicgate_adapters::webhooks::WebhookSender;
use clinicgate_core::crypto::{MasterKey, MasterKeyring};
use clinicgate_core::delivery::{
    AttemptResult, DeliveryQueue as _, DeliveryStatus, DeliveryWorker, EventId, OutboundKind,
    RetrySchedule, StoredEvent, Target, TransportFailure, WorkerSettings,
};
use clinicgate_core::events::EventType;
use clinicgate_core::ids::TenantId;
use clinicgate_core::secrets::{SecretPurpose, Vault};
use clinicgate_core::webhooks::{
    Deliverable, DeliveryEndpoint, DeliveryEndpoints, WebhookEndpointId, WebhookSecret,
};
use secrecy::SecretString;
use standardwebhooks::Webhook;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::backends::{clinic, migrated_database};

const DATA: &str = r#"{"id":"836447129235991234","status":"booked"}"#;

/// What the fake endpoint store answers for an endpoint.
#[derive(Debug, Clone)]
enum State {
    Send {
        url: String,
        secrets: Vec<String>,
        failing_since: Option<DateTime<Utc>>,
    },
    Held,
    Gone,
}

/// Endpoints as the delivery side sees them, with every failing-streak write remembered.
#[derive(Debug, Default)]
struct Endpoints {
    states: Mutex<HashMap<WebhookEndpointId, State>>,
    notes: Mutex<Vec<bool>>,
}

#[async_trait]
impl DeliveryEndpoints for Endpoints {
    async fn deliverable(
        &self,
        _: TenantId,
        endpoint: WebhookEndpointId,
        _: EventType,
    ) -> clinicgate_core::Result<Deliverable> {
        Ok(match self.states.lock().unwrap()[&endpoint].clone() {
            State::Send {
                url,
                secrets,
                failing_since,
            } => Deliverable::Send(std::sync::Arc::new(DeliveryEndpoint {
                url,
                secrets: secrets
                    .iter()
                    .map(|s| WebhookSecret::parse(s).unwrap())
                    .collect(),
                failing_since,
            })),
            State::Held => Deliverable::Held,
            State::Gone => Deliverable::Gone,
        })
    }

    async fn note_outcome(
        &self,
        _: TenantId,
        _: WebhookEndpointId,
        delivered: bool,
        _: DateTime<Utc>,
    ) -> clinicgate_core::Result<bool> {
        self.notes.lock().unwrap().push(delivered);
        Ok(false)
    }
}

struct Harness {
    _database: clinicgate_adapters::testing::TestDatabase,
    tenant: TenantId,
    vault: Vault,
    queue: Arc<SeaDeliveryQueue>,
    endpoints: Arc<Endpoints>,
}

impl Harness {
    async fn new() -> Self {
        let (database, db) = migrated_database().await;
        let tenant = clinic(&db, "webhook-sender").await;
        Self {
            vault: Vault::new(
                Arc::new(MasterKeyring::new(MasterKey::generate())),
                Arc::new(SeaDataKeyRepository::new(db.clone())),
            ),
            queue: Arc::new(SeaDeliveryQueue::new(db.clone())),
            endpoints: Arc::new(Endpoints::default()),
            tenant,
            _database: database,
        }
    }

    /// An endpoint in `state`, and one event appended with a delivery to it.
    async fn delivery_to(&self, state: State) -> (WebhookEndpointId, EventId) {
        let endpoint = WebhookEndpointId::new();
        self.endpoints
            .states
            .lock()
            .unwrap()
            .insert(endpoint, state);
        let data = self
            .vault
            .seal(
                self.tenant,
                SecretPurpose::EventData,
                &SecretString::from(DATA.to_owned()),
            )
            .await
            .unwrap();
        let now = Utc::now();
        let event = StoredEvent {
            id: EventId::new(),
            tenant_id: self.tenant,
            event_type: EventType::AppointmentCreated,
            occurred_at: now,
            data,
            expires_at: now + chrono::Duration::days(30),
        };
        self.queue
            .append(&event, &[target(endpoint)])
            .await
            .unwrap();
        (endpoint, event.id)
    }

    fn worker(&self, outbound: OutboundClient, timeout: Duration) -> DeliveryWorker {
        let sender =
            WebhookSender::new(outbound, self.endpoints.clone()).with_request_timeout(timeout);
        DeliveryWorker::new(
            self.queue.clone(),
            self.vault.clone(),
            // Retries due almost at once, so a test sees the second attempt.
            RetrySchedule::new(vec![Duration::from_millis(20); 3]),
            WorkerSettings::default(),
        )
        .with_sender(OutboundKind::Webhook, Arc::new(sender))
    }

    async fn attempts(&self, endpoint: WebhookEndpointId) -> (DeliveryStatus, Vec<AttemptResult>) {
        let deliveries = self
            .queue
            .deliveries(self.tenant, target(endpoint), 10)
            .await
            .unwrap();
        assert_eq!(deliveries.len(), 1);
        let attempts = self
            .queue
            .attempts(self.tenant, deliveries[0].id)
            .await
            .unwrap();
        (
            deliveries[0].status,
            attempts.into_iter().map(|a| a.result).collect(),
        )
    }
}

fn target(endpoint: WebhookEndpointId) -> Target {
    Target {
        kind: OutboundKind::Webhook,
        id: endpoint.as_uuid(),
    }
}

fn outbound(allowed: &[&str]) -> OutboundClient {
    let networks: Vec<IpNet> = allowed.iter().map(|n| n.parse().unwrap()).collect();
    OutboundClient::new(&OutboundConfig::new(networks, true)).unwrap()
}

fn answered(status: u16) -> AttemptResult {
    AttemptResult::Answered {
        status,
        retry_after: None,
    }
}

/// Runs rounds until nothing is due or claimed any more (retries here are due within 20 ms).
async fn drain(worker: &DeliveryWorker) {
    for _ in 0..50 {
        if worker.run_once().await.unwrap() == 0 {
            tokio::time::sleep(Duration::from_millis(30)).await;
            if worker.run_once().await.unwrap() == 0 {
                return;
            }
        }
    }
    panic!("the queue never drained");
}

/// Verifies a received request with the reference library and `secret`; returns its id.
fn verified(request: &Request, secret: &str) -> String {
    let mut headers = http::HeaderMap::new();
    for (name, value) in &request.headers {
        headers.insert(
            http::HeaderName::from_bytes(name.as_str().as_bytes()).unwrap(),
            http::HeaderValue::from_bytes(value.as_bytes()).unwrap(),
        );
    }
    Webhook::new(secret)
        .unwrap()
        .verify(&request.body, &headers)
        .unwrap_or_else(|err| panic!("the reference library refused the message: {err:?}"));
    headers["webhook-id"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_500_is_retried_with_the_same_id_and_both_secrets_of_a_rotation_verify() {
    let harness = Harness::new().await;
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500).set_body_string("try later"))
        .up_to_n_times(1)
        .mount(&receiver)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&receiver)
        .await;
    let (current, previous) = (
        WebhookSecret::generate().expose(),
        WebhookSecret::generate().expose(),
    );
    let (endpoint, event) = harness
        .delivery_to(State::Send {
            url: format!("{}/hooks/clinicgate", receiver.uri()),
            secrets: vec![current.clone(), previous.clone()],
            failing_since: None,
        })
        .await;

    drain(&harness.worker(outbound(&["127.0.0.0/8"]), Duration::from_secs(5))).await;

    let requests = receiver.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2);
    for request in &requests {
        assert_eq!(verified(request, &current), event.to_string());
        assert_eq!(verified(request, &previous), event.to_string());
        assert_eq!(request.headers["content-type"], "application/json");
        let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(body["type"], "appointment.created");
        assert_eq!(
            body["data"],
            serde_json::from_str::<serde_json::Value>(DATA).unwrap()
        );
        assert!(body["timestamp"].as_str().unwrap().ends_with('Z'));
    }
    let (status, attempts) = harness.attempts(endpoint).await;
    assert_eq!(status, DeliveryStatus::Delivered);
    assert_eq!(attempts, [answered(500), answered(204)]);
    assert_eq!(
        *harness.endpoints.notes.lock().unwrap(),
        [false],
        "a failure writes the streak; a success writes only when a streak is on record"
    );
}

#[tokio::test]
async fn a_receiver_that_hangs_times_out_and_is_tried_again() {
    let harness = Harness::new().await;
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204).set_delay(Duration::from_secs(3)))
        .up_to_n_times(1)
        .mount(&receiver)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string("thanks"))
        .mount(&receiver)
        .await;
    let (endpoint, _) = harness
        .delivery_to(State::Send {
            url: receiver.uri(),
            secrets: vec![WebhookSecret::generate().expose()],
            failing_since: Some(Utc::now()),
        })
        .await;

    drain(&harness.worker(outbound(&["127.0.0.0/8"]), Duration::from_millis(300))).await;

    let (status, attempts) = harness.attempts(endpoint).await;
    assert_eq!(status, DeliveryStatus::Delivered);
    assert_eq!(
        attempts,
        [
            AttemptResult::Failed(TransportFailure::Timeout),
            answered(200)
        ]
    );
    assert_eq!(*harness.endpoints.notes.lock().unwrap(), [false, true]);
}

#[tokio::test]
async fn a_410_and_a_refused_address_fail_at_once() {
    let harness = Harness::new().await;
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(410))
        .mount(&receiver)
        .await;
    let (gone, _) = harness
        .delivery_to(State::Send {
            url: receiver.uri(),
            secrets: vec![WebhookSecret::generate().expose()],
            failing_since: None,
        })
        .await;
    drain(&harness.worker(outbound(&["127.0.0.0/8"]), Duration::from_secs(5))).await;
    assert_eq!(
        harness.attempts(gone).await,
        (DeliveryStatus::Failed, vec![answered(410)])
    );

    // Without the operator's exception, loopback is refused at send time, never contacted.
    let (refused, _) = harness
        .delivery_to(State::Send {
            url: receiver.uri(),
            secrets: vec![WebhookSecret::generate().expose()],
            failing_since: None,
        })
        .await;
    drain(&harness.worker(outbound(&[]), Duration::from_secs(5))).await;
    assert_eq!(
        harness.attempts(refused).await,
        (
            DeliveryStatus::Failed,
            vec![AttemptResult::Failed(TransportFailure::AddressNotAllowed)]
        )
    );
    assert_eq!(receiver.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_paused_endpoint_holds_its_delivery_and_a_deleted_one_fails_it_without_an_attempt() {
    let harness = Harness::new().await;
    let (held, _) = harness.delivery_to(State::Held).await;
    let (deleted, _) = harness.delivery_to(State::Gone).await;
    let worker = harness.worker(outbound(&["127.0.0.0/8"]), Duration::from_secs(5));

    assert_eq!(worker.run_once().await.unwrap(), 2);
    assert_eq!(
        worker.run_once().await.unwrap(),
        0,
        "the held one is not due"
    );

    assert_eq!(
        harness.attempts(held).await,
        (DeliveryStatus::Pending, vec![])
    );
    assert_eq!(
        harness.attempts(deleted).await,
        (DeliveryStatus::Failed, vec![])
    );
    let stats = harness.queue.stats().await.unwrap();
    assert_eq!(stats.pending, 1);
    assert!(stats.oldest_pending.is_some());
}
