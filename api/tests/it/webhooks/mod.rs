//! Webhook endpoints through the real HTTP surface: the scope that manages them, a partner's
//! endpoints (create, read, change, rotate, delete; the secret shown once), the SSRF guard at
//! create time, a signed test ping verified by the Standard Webhooks reference library, the
//! delivery history with resend and recovery, and the clinic's view and controls.

mod acceptance;
mod clinic;
mod deliveries;
mod delivery;
mod endpoints;
mod ping;
mod scope;
mod ssrf;
mod suspended;

use reqwest::Method;
use serde_json::Value;

use crate::common::{TestApp, spawn_app_with};
use crate::tokens::{Client, Clinic, clinic, create_client, token};

pub use crate::common::allow_loopback;

/// An app, a clinic, and a client of it holding `scopes` with a token for all of them.
pub struct Partner {
    pub app: TestApp,
    pub clinic: Clinic,
    pub client: Client,
    pub token: String,
}

impl Partner {
    /// On a fresh app that lets outbound calls reach loopback.
    pub async fn new(scopes: &[&str]) -> Self {
        Self::on(spawn_app_with(allow_loopback).await, "harbour", scopes).await
    }

    /// A clinic `subdomain` on `app` with a client holding `scopes`.
    pub async fn on(app: TestApp, subdomain: &str, scopes: &[&str]) -> Self {
        let clinic = clinic(&app, subdomain).await;
        Self::on_clinic(app, clinic, scopes).await
    }

    /// A client holding `scopes` of `clinic`, already signed up on `app`.
    pub async fn on_clinic(app: TestApp, clinic: Clinic, scopes: &[&str]) -> Self {
        let client = create_client(&app, &clinic, scopes, None).await;
        let token = token(&app, &client).await;
        Self {
            app,
            clinic,
            client,
            token,
        }
    }

    /// A token of another client of the same clinic, holding `scopes`.
    pub async fn sibling_token(&self, scopes: &[&str]) -> String {
        let client = create_client(&self.app, &self.clinic, scopes, None).await;
        token(&self.app, &client).await
    }

    /// `method path` on the root host with `token` and an optional JSON body.
    pub async fn call_as(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut request = self
            .app
            .client
            .request(method, format!("{}{path}", self.app.address))
            .bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap()
    }

    /// `method path` with this partner's token; the status and the JSON body (`Null` if none).
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        status_and_json(self.call_as(&self.token, method, path, body).await).await
    }

    /// Creates an endpoint sent `event_types` at `url`; its JSON (with the secret).
    pub async fn create(&self, url: &str, event_types: &[&str]) -> Value {
        let (status, body) = self
            .call(
                Method::POST,
                "/api/public/webhooks",
                Some(serde_json::json!({"url": url, "event_types": event_types})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body
    }
}

impl Partner {
    /// The path of `endpoint` (its JSON) with `suffix`.
    pub fn path_of(endpoint: &Value, suffix: &str) -> String {
        format!(
            "/api/public/webhooks/{}{suffix}",
            endpoint["id"].as_str().unwrap()
        )
    }

    /// `PATCH`es `endpoint` (its JSON) with `body`.
    pub async fn patch(&self, endpoint: &Value, body: Value) -> (u16, Value) {
        self.call(Method::PATCH, &Self::path_of(endpoint, ""), Some(body))
            .await
    }

    /// Sends `endpoint` (its JSON) a test ping.
    pub async fn ping(&self, endpoint: &Value) -> (u16, Value) {
        self.call(Method::POST, &Self::path_of(endpoint, "/test"), None)
            .await
    }
}

/// A response's status and JSON body (`Null` when it has none).
pub async fn status_and_json(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap()
    };
    (status, body)
}

/// Whether the Standard Webhooks reference library, holding `secret`, accepts `request`.
pub fn verifies(request: &wiremock::Request, secret: &str) -> bool {
    let mut headers = http::HeaderMap::new();
    for (name, value) in &request.headers {
        headers.insert(
            http::HeaderName::from_bytes(name.as_str().as_bytes()).unwrap(),
            http::HeaderValue::from_bytes(value.as_bytes()).unwrap(),
        );
    }
    standardwebhooks::Webhook::new(secret)
        .unwrap()
        .verify(&request.body, &headers)
        .is_ok()
}

/// The JSON message `request` carries, once the reference library verified it with `secret`.
pub fn verified(request: &wiremock::Request, secret: &str) -> Value {
    assert!(
        verifies(request, secret),
        "the reference library verifies the message"
    );
    serde_json::from_slice(&request.body).unwrap()
}

/// The codes of a validation problem's field errors, as `field:code`.
pub fn field_codes(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .unwrap_or(&Vec::new())
        .iter()
        .map(|e| {
            format!(
                "{}:{}",
                e["field"].as_str().unwrap(),
                e["code"].as_str().unwrap()
            )
        })
        .collect()
}
