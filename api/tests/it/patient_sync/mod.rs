//! Outbound partner patient sync through the real HTTP surface: a clinic connects an API client's
//! patient API (the in-repo partner stub, `clinicgate partner-stub`), patients created and changed
//! in the Cliniko sandbox reach it through the app's own poller and delivery worker, and the
//! failure paths (a partner that already has the patient, one that is down, one that refuses)
//! end as the contract in `docs/partner-sync.md` says.

mod config;
mod delivery;

use std::net::TcpListener;
use std::time::Duration;

use clinicgate_adapters::deliveries::SeaDeliveryQueue;
use clinicgate_adapters::patient_syncs::SeaPatientSyncRepository;
use clinicgate_cliniko_sandbox::{PartnerStub, Sandbox};
use clinicgate_core::cliniko::ClinikoId;
use clinicgate_core::delivery::{
    AttemptRecord, Delivery, DeliveryQueue as _, DeliveryStatus, OutboundKind, Target,
};
use clinicgate_core::partner_links::PartnerId;
use clinicgate_core::patient_sync::PatientSyncRepository as _;
use clinicgate_core::tokens::ClientId;
use figment::Figment;
use figment::providers::Serialized;
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::TestApp;
use crate::polling::{Connected, Reception, baseline, connected, polling_on, roomy_sandbox};
use crate::public_api::app_on;
use crate::tokens::{Client, Clinic, create_client, token};
use crate::webhooks::allow_loopback;

/// The bearer token the tests' partner stubs require.
pub const PARTNER_TOKEN: &str = "partner-token-7f3a91c2";

/// How long a test waits for something the poller and the worker should do in a few rounds.
const PATIENCE: Duration = Duration::from_secs(30);

/// The scopes of the partner's client.
const SCOPES: &[&str] = &["patients:read", "patients:write"];

/// Lets outbound calls reach loopback (where the stub listens) and, with `poll`, runs the app's
/// own Cliniko poller quickly.
fn settings(figment: Figment, poll: bool) -> Figment {
    let figment = allow_loopback(polling_on(figment));
    if poll {
        figment.merge(Serialized::default("polling.enabled", true))
    } else {
        figment
    }
}

/// A partner stub on `port` (0: any).
pub fn partner_stub(port: u16) -> PartnerStub {
    PartnerStub::start(
        TcpListener::bind(("127.0.0.1", port)).unwrap(),
        PARTNER_TOKEN,
    )
    .unwrap()
}

/// A clinic connected to the sandbox, with a partner's API client.
pub struct Scene {
    pub app: TestApp,
    /// Kept so the Cliniko sandbox serves for the whole test.
    _sandbox: Sandbox,
    pub clinic: Connected,
    pub client: Client,
    pub token: String,
    pub desk: Reception,
}

impl Scene {
    /// A clinic `subdomain` on a new app over a new sandbox account on `au1`; `poll` runs the
    /// app's own poller (and waits for its baseline).
    pub async fn start(subdomain: &str, poll: bool) -> Self {
        let sandbox = roomy_sandbox();
        let app = app_on(&sandbox, |f| settings(f, poll)).await;
        let clinic = connected(&app, &sandbox, subdomain, "au1").await;
        let client = create_client(&app, &clinic.owner, SCOPES, None).await;
        let token = token(&app, &client).await;
        if poll {
            baseline(&app, clinic.tenant).await;
        }
        let desk = Reception::at(&sandbox, &clinic.key);
        Self {
            app,
            _sandbox: sandbox,
            clinic,
            client,
            token,
            desk,
        }
    }

    pub fn owner(&self) -> &Clinic {
        &self.clinic.owner
    }

    /// `method …/patient-sync{suffix}` of the client as `clinic`'s owner, on its host.
    pub async fn sync_call(
        &self,
        clinic: &Clinic,
        method: Method,
        suffix: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        let path = format!(
            "/api/tenant/clients/{}/patient-sync{suffix}",
            self.client.id
        );
        let mut request = self
            .app
            .on(method, clinic.sub(), &path, Some(&clinic.cookie));
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap()
    }

    /// Connects the client's patient sync to `base_url` with the stub's token; the sync.
    pub async fn connect(&self, base_url: &str) -> Value {
        let response = self
            .sync_call(
                self.owner(),
                Method::PUT,
                "",
                Some(json!({
                    "base_url": base_url,
                    "auth": {"type": "bearer", "token": PARTNER_TOKEN},
                    "identifier_system": "https://partner.example/patient-ids",
                    "enabled": true,
                })),
            )
            .await;
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    pub fn client_id(&self) -> ClientId {
        ClientId::parse(&self.client.id).unwrap()
    }

    /// The partner id the client's link gives `patient`, if any.
    pub async fn link_of(&self, patient: &str) -> Option<String> {
        self.app
            .state
            .partner_links
            .partner_id_of(
                self.clinic.tenant,
                &self.client_id(),
                &ClinikoId::parse(patient).unwrap(),
            )
            .await
            .unwrap()
            .map(|id: PartnerId| id.as_str().to_owned())
    }

    /// The deliveries to the client's sync, newest first, each with its attempts.
    pub async fn deliveries(&self) -> Vec<(Delivery, Vec<AttemptRecord>)> {
        let queue = SeaDeliveryQueue::new(self.app.state.db.clone());
        let sync = SeaPatientSyncRepository::new(self.app.state.db.clone())
            .find_in_tenant(self.clinic.tenant, &self.client_id())
            .await
            .unwrap()
            .expect("the client has a patient sync");
        let target = Target {
            kind: OutboundKind::PatientSync,
            id: sync.id.as_uuid(),
        };
        let mut out = Vec::new();
        for delivery in queue
            .deliveries(self.clinic.tenant, target, 100)
            .await
            .unwrap()
        {
            let attempts = queue
                .attempts(self.clinic.tenant, delivery.id)
                .await
                .unwrap();
            out.push((delivery, attempts));
        }
        out
    }
}

/// Waits until `done` holds, up to [`PATIENCE`]; panics with `what` otherwise.
pub async fn eventually(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !done().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "still waiting: {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Whether every delivery is settled (none pending).
pub fn settled(deliveries: &[(Delivery, Vec<AttemptRecord>)]) -> bool {
    deliveries
        .iter()
        .all(|(d, _)| d.status != DeliveryStatus::Pending)
}
