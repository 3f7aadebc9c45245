//! Patients from Cliniko on clinic hosts: the button flow, the patient page and JSON, search and
//! recently viewed, failures, and the PHI access ledger. Cliniko is the in-repo sandbox (for
//! behaviour) or wiremock (for faults).

mod audit;
mod faults;
mod flow;
mod logs;
mod overload;
mod search;

use clinicgate_cliniko_sandbox::{Sandbox, SandboxConfig, SandboxKey};
use figment::Figment;
use figment::providers::Serialized;
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{PASSWORD, TestApp, spawn_app_with};

/// A ClinicGate whose Cliniko is a fresh sandbox.
pub(crate) struct SandboxApp {
    pub app: TestApp,
    pub sandbox: Sandbox,
}

/// A patient of a sandbox account with at least one medical alert.
#[derive(Debug, Clone)]
pub(crate) struct KnownPatient {
    pub id: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub phone: String,
    pub alert: String,
}

impl SandboxApp {
    pub(crate) async fn start() -> Self {
        Self::start_with(|f| f).await
    }

    /// As [`Self::start`], with `customise` applied to the app's settings.
    pub(crate) async fn start_with(customise: impl FnOnce(Figment) -> Figment) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let sandbox = Sandbox::start(listener, &SandboxConfig::default()).unwrap();
        let base = sandbox.base_url();
        let app = spawn_app_with(move |f| {
            customise(
                f.merge(Serialized::default("cliniko.base_url", base))
                    .merge(Serialized::default("cliniko.timeout_secs", 5)),
            )
        })
        .await;
        Self { app, sandbox }
    }

    /// The administrator key of sandbox account `index` (0, 1 or 2: different shards).
    pub(crate) fn key(&self, index: usize) -> SandboxKey {
        self.sandbox
            .keys()
            .iter()
            .filter(|k| k.role == "administrator")
            .nth(index)
            .unwrap()
            .clone()
    }

    /// Signs `subdomain` up, logs its owner in and, with `account`, connects that sandbox
    /// account; returns the owner's cookie.
    pub(crate) async fn clinic(&self, subdomain: &str, account: Option<usize>) -> String {
        let clinic = self.app.sign_up(subdomain).await;
        let cookie = self
            .app
            .log_in(subdomain, &clinic.owner_email, PASSWORD)
            .await;
        if let Some(account) = account {
            let response = self
                .app
                .on(
                    Method::PUT,
                    subdomain,
                    "/api/tenant/cliniko-key",
                    Some(&cookie),
                )
                .json(&json!({"api_key": self.key(account).key}))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "{:?}", response.text().await);
        }
        cookie
    }

    /// `GET path` on the sandbox, as account `account`'s administrator.
    pub(crate) async fn cliniko(&self, account: usize, path: &str) -> Value {
        let key = self.key(account);
        let url = format!("http://{}/{}/v1{path}", self.sandbox.address(), key.shard);
        let response = reqwest::Client::new()
            .get(url)
            .basic_auth(&key.key, Some(""))
            .header("user-agent", "ClinicGate Tests (tests@clinicgate.dev)")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    /// The `nth` distinct, not archived patient of account `account` that has a medical alert.
    pub(crate) async fn patient_with_alert(&self, account: usize, nth: usize) -> KnownPatient {
        let alerts = self.cliniko(account, "/medical_alerts?per_page=100").await;
        let mut seen = Vec::new();
        let mut live = 0;
        for alert in alerts["medical_alerts"].as_array().unwrap() {
            let link = alert["patient"]["links"]["self"].as_str().unwrap();
            let id = link.rsplit('/').next().unwrap().to_owned();
            if seen.contains(&id) {
                continue;
            }
            seen.push(id.clone());
            let patient = self.cliniko(account, &format!("/patients/{id}")).await;
            if !patient["archived_at"].is_null() {
                continue;
            }
            live += 1;
            if live <= nth {
                continue;
            }
            return KnownPatient {
                id,
                first_name: patient["first_name"].as_str().unwrap().to_owned(),
                last_name: patient["last_name"].as_str().unwrap().to_owned(),
                email: patient["email"].as_str().unwrap().to_owned(),
                phone: patient["patient_phone_numbers"][0]["number"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
                alert: alert["name"].as_str().unwrap().to_owned(),
            };
        }
        panic!("the sandbox has too few patients with alerts");
    }

    /// `GET path` on a clinic host as a browser would (HTML).
    pub(crate) async fn page(
        &self,
        subdomain: &str,
        path: &str,
        cookie: Option<&str>,
    ) -> reqwest::Response {
        self.app
            .on(Method::GET, subdomain, path, cookie)
            .header("accept", "text/html")
            .send()
            .await
            .unwrap()
    }

    /// `GET path` on a clinic host as the JSON API.
    pub(crate) async fn json(
        &self,
        subdomain: &str,
        path: &str,
        cookie: &str,
    ) -> reqwest::Response {
        self.app
            .on(Method::GET, subdomain, path, Some(cookie))
            .send()
            .await
            .unwrap()
    }

    /// The clinic's ledger as its owner reads it.
    pub(crate) async fn ledger(&self, subdomain: &str, cookie: &str, query: &str) -> Value {
        let response = self
            .json(subdomain, &format!("/api/tenant/audit{query}"), cookie)
            .await;
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }
}

/// Asserts the headers every patient response carries.
pub(crate) fn assert_phi_headers(response: &reqwest::Response) {
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .unwrap_or_else(|| panic!("no {name}"))
            .to_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(header("cache-control"), "no-store");
    assert_eq!(header("referrer-policy"), "no-referrer");
    let csp = header("content-security-policy");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{csp}"
    );
    assert!(
        !csp.contains("http:") && !csp.contains("https:") && !csp.contains('*'),
        "no other origin may be allowed: {csp}"
    );
}
