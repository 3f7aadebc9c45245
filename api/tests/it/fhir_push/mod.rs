//! FHIR push through the real HTTP surface: a clinic configures a FHIR destination (a wiremock
//! FHIR server with its token endpoint), and patients created in the Cliniko sandbox reach it
//! through the app's own poller and delivery worker as conditional updates of valid R4
//! resources; tokens are cached and refreshed; 5xx retried; 4xx failed and shown; SMART
//! assertions verified by an independent JWT library against the published JWKS; secrets never
//! shown or stored in the clear; clinicians refused; other clinics' destinations 404; "send
//! existing records" durable and idempotent.

mod backfill;
mod config;
mod delivery;

use clinicgate_cliniko_sandbox::Sandbox;
use figment::Figment;
use figment::providers::Serialized;
use reqwest::Method;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::common::TestApp;
use crate::polling::{Connected, Reception, baseline, connected, polling_on, roomy_sandbox};
use crate::public_api::app_on;
use crate::tokens::Clinic;
use crate::webhooks::allow_loopback;

/// The client secret the tests' token endpoints accept.
pub const CLIENT_SECRET: &str = "fhir-client-secret-5c2e81d9";

/// Lets outbound calls reach loopback (where wiremock listens); with `poll`, runs the app's own
/// Cliniko poller quickly.
fn settings(figment: Figment, poll: bool) -> Figment {
    let figment = allow_loopback(polling_on(figment));
    figment.merge(Serialized::default("polling.enabled", poll))
}

/// A clinic connected to the sandbox, and a FHIR server.
pub struct Scene {
    pub app: TestApp,
    _sandbox: Sandbox,
    pub clinic: Connected,
    pub desk: Reception,
    pub fhir: MockServer,
}

impl Scene {
    /// A clinic `subdomain` on a new app over a new sandbox account; `poll` runs the app's own
    /// poller (and waits for its baseline).
    pub async fn start(subdomain: &str, poll: bool) -> Self {
        let sandbox = roomy_sandbox();
        let app = app_on(&sandbox, |f| settings(f, poll)).await;
        let clinic = connected(&app, &sandbox, subdomain, "au1").await;
        if poll {
            baseline(&app, clinic.tenant).await;
        }
        let desk = Reception::at(&sandbox, &clinic.key);
        Self {
            app,
            _sandbox: sandbox,
            clinic,
            desk,
            fhir: MockServer::start().await,
        }
    }

    pub fn owner(&self) -> &Clinic {
        &self.clinic.owner
    }

    /// `method /api/tenant/fhir-destinations{suffix}` as `clinic` (a cookie), on its host.
    pub async fn call(
        &self,
        clinic: &Clinic,
        method: Method,
        suffix: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        let path = format!("/api/tenant/fhir-destinations{suffix}");
        let mut request = self
            .app
            .on(method, clinic.sub(), &path, Some(&clinic.cookie));
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap()
    }

    /// The FHIR base URL of the mock server.
    pub fn base_url(&self) -> String {
        format!("{}/fhir/r4", self.fhir.uri())
    }

    /// Its token endpoint.
    pub fn token_url(&self) -> String {
        format!("{}/oauth/token", self.fhir.uri())
    }

    /// Adds a destination with `auth`, pushing patients; its JSON.
    pub async fn add(&self, auth: Value) -> Value {
        let response = self
            .call(
                self.owner(),
                Method::POST,
                "",
                Some(json!({
                    "name": "Hospital EHR",
                    "base_url": self.base_url(),
                    "auth": auth,
                    "resources": ["Patient"],
                    "enabled": true,
                })),
            )
            .await;
        assert_eq!(response.status(), 201);
        response.json().await.unwrap()
    }

    /// Adds a client-credentials destination.
    pub async fn add_oauth(&self) -> Value {
        self.add(json!({
            "type": "client_credentials",
            "token_url": self.token_url(),
            "client_id": "clinicgate",
            "client_secret": CLIENT_SECRET,
            "scope": "system/Patient.cu",
        }))
        .await
    }

    /// The destination's deliveries as the clinic sees them.
    pub async fn deliveries(&self, destination: &Value) -> Vec<Value> {
        let id = destination["id"].as_str().unwrap();
        let response = self
            .call(
                self.owner(),
                Method::GET,
                &format!("/{id}/deliveries"),
                None,
            )
            .await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        body["data"].as_array().unwrap().clone()
    }

    /// The requests the FHIR server received for `path_part`.
    pub async fn received(&self, method_name: &str, path_part: &str) -> Vec<Request> {
        self.fhir
            .received_requests()
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r.method.as_str() == method_name && r.url.path().contains(path_part))
            .collect()
    }
}

/// A token answer holding `token`, living `expires_in` seconds.
pub fn token_answer(token: &str, expires_in: u64) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(
        json!({"access_token": token, "token_type": "bearer", "expires_in": expires_in}),
    )
}

/// The token endpoint answers every request with `token`.
pub async fn issue_tokens(server: &MockServer, token: &str, expires_in: u64) {
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(token_answer(token, expires_in))
        .mount(server)
        .await;
}

/// The FHIR server answers every `PUT /fhir/r4/Patient` with `status`.
pub async fn accept_patients(server: &MockServer, status: u16) {
    Mock::given(method("PUT"))
        .and(path("/fhir/r4/Patient"))
        .respond_with(
            ResponseTemplate::new(status)
                .set_body_json(json!({"resourceType": "Patient", "id": "srv-1"})),
        )
        .mount(server)
        .await;
}
