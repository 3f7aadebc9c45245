//! The Cliniko client as the application wires it: reachable as `state.cliniko`, configured from
//! `[cliniko]`, reporting per-clinic usage by lane in `/metrics`; and the `cliniko-sandbox`
//! command an operator runs.

use std::net::TcpListener;

use clinicgate_cliniko_sandbox::{Sandbox, SandboxConfig};
use clinicgate_core::cliniko::{ClinikoAccount, ClinikoApiKey, Lane};
use clinicgate_core::ids::TenantId;
use figment::providers::Serialized;

use crate::common::spawn_app_with;

#[tokio::test]
async fn the_app_calls_cliniko_through_its_state_and_shows_each_clinics_calls_by_lane_in_metrics() {
    let sandbox = Sandbox::start(
        TcpListener::bind("127.0.0.1:0").unwrap(),
        &SandboxConfig::default(),
    )
    .unwrap();
    let base_url = sandbox.base_url();
    let app = spawn_app_with(|figment| {
        figment
            .merge(Serialized::default("cliniko.base_url", base_url))
            .merge(Serialized::default(
                "cliniko.user_agent",
                "ClinicGate Tests (tests@clinicgate.dev)",
            ))
    })
    .await;
    let key = sandbox
        .keys()
        .iter()
        .find(|k| k.shard == "uk1" && k.role == "administrator")
        .unwrap();
    let account = ClinikoAccount {
        tenant_id: TenantId::new(),
        key: ClinikoApiKey::parse(&key.key).unwrap(),
        caller: None,
    };
    let user = app
        .state
        .cliniko
        .current_user(&account, Lane::Interactive)
        .await
        .unwrap();
    assert_eq!(user.role.as_deref(), Some("administrator"));
    let usage = app.state.cliniko.usage(&account).await.unwrap();
    assert_eq!(usage.budget_per_minute, 190, "the configured default");

    let metrics = app.get("/metrics").await.text().await.unwrap();
    let tenant = account.tenant_id.to_string();
    let line = metrics
        .lines()
        .find(|line| line.starts_with("cliniko_requests_total{") && line.contains(&tenant))
        .unwrap_or_else(|| panic!("no Cliniko series for the clinic in:\n{metrics}"));
    assert!(
        line.contains("lane=\"interactive\"") && line.contains("outcome=\"ok\""),
        "{line}"
    );
    assert!(line.ends_with(" 1"), "{line}");
    assert!(
        !metrics.contains(&key.key),
        "a key never appears in metrics"
    );
}

#[cfg(feature = "cliniko-sandbox")]
#[test]
fn the_sandbox_command_prints_its_base_url_and_keys_and_serves_them_on_loopback() {
    use std::io::{BufRead as _, BufReader};
    use std::process::{Command, Stdio};
    use std::time::Duration;

    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_clinicgate"))
        .args([
            "cliniko-sandbox",
            "--port",
            &port.to_string(),
            "--rate-limit",
            "50",
            "--seed",
            "9",
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut printed = Vec::new();
    while printed.len() < 6 {
        printed.push(lines.next().unwrap().unwrap());
    }
    let result = std::panic::catch_unwind(|| {
        assert_eq!(
            printed[0],
            format!("Cliniko sandbox listening on http://127.0.0.1:{port}")
        );
        assert_eq!(
            printed[1],
            format!("CLINICGATE_CLINIKO__BASE_URL=http://127.0.0.1:{port}/{{shard}}/v1")
        );
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let keys: serde_json::Value = runtime.block_on(async {
            reqwest::Client::new()
                .get(format!("http://127.0.0.1:{port}/__sandbox/keys"))
                .timeout(Duration::from_secs(5))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap()
        });
        let first = keys["keys"][0]["key"].as_str().unwrap();
        assert!(printed[4].contains(first), "{printed:?}");
        let shards: std::collections::HashSet<_> = keys["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["shard"].as_str().unwrap().to_owned())
            .collect();
        assert!(shards.len() >= 2, "{shards:?}");
    });
    child.kill().unwrap();
    child.wait().unwrap();
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}
