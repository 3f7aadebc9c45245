//! A clinic connected to the in-repo Cliniko sandbox, for the pages that show Cliniko's data.

use clinicgate_cliniko_sandbox::{Sandbox, SandboxConfig, SandboxKey};
use figment::Figment;
use figment::providers::Serialized;
use reqwest::Method;

use crate::common::{PASSWORD, TestApp, TestClinic, spawn_app_with};

/// ClinicGate on its own port (the browser's `*.localhost` origin needs it) with clinic
/// `harbour`, whose owner connected sandbox account 0's administrator key.
pub(crate) struct SandboxClinic {
    /// The Cliniko sandbox.
    pub sandbox: Sandbox,
    /// The key harbour connected.
    pub key: SandboxKey,
    /// ClinicGate.
    pub app: TestApp,
    /// Harbour.
    pub clinic: TestClinic,
    /// The owner's session cookie.
    pub owner: String,
    /// ClinicGate's port.
    pub port: u16,
}

impl SandboxClinic {
    /// Starts the sandbox and ClinicGate, signs harbour up and connects its Cliniko key.
    pub(crate) async fn start() -> Self {
        Self::start_with(|f| f).await
    }

    /// [`SandboxClinic::start`] with `customise` applied to ClinicGate's configuration last.
    pub(crate) async fn start_with(customise: impl FnOnce(Figment) -> Figment) -> Self {
        let sandbox = Sandbox::start(
            std::net::TcpListener::bind("127.0.0.1:0").unwrap(),
            &SandboxConfig::default(),
        )
        .unwrap();
        let key = sandbox
            .keys()
            .iter()
            .find(|k| k.role == "administrator")
            .unwrap()
            .clone();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let base = sandbox.base_url();
        let app = spawn_app_with(move |f| {
            let f = f
                .merge(Serialized::default("bind", format!("127.0.0.1:{port}")))
                .merge(Serialized::default(
                    "public_url",
                    format!("http://localhost:{port}"),
                ))
                .merge(Serialized::default("cliniko.base_url", base));
            customise(f)
        })
        .await;
        let clinic = app.sign_up("harbour").await;
        let owner = app.log_in("harbour", &clinic.owner_email, PASSWORD).await;
        let connected = app
            .on(
                Method::PUT,
                "harbour",
                "/api/tenant/cliniko-key",
                Some(&owner),
            )
            .json(&serde_json::json!({"api_key": key.key}))
            .send()
            .await
            .unwrap();
        assert_eq!(connected.status(), 200);
        Self {
            sandbox,
            key,
            app,
            clinic,
            owner,
            port,
        }
    }

    /// `GET {path}` on the sandbox as the connected key.
    pub(crate) async fn cliniko(&self, path: &str) -> serde_json::Value {
        reqwest::Client::new()
            .get(format!(
                "http://{}/{}/v1{path}",
                self.sandbox.address(),
                self.key.shard
            ))
            .basic_auth(&self.key.key, Some(""))
            .header("user-agent", "ClinicGate Tests (tests@clinicgate.dev)")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}
