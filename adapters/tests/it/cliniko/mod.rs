//! The Cliniko client against the in-repo sandbox (behaviour) and wiremock (faults), and its
//! shared budget and cache across several client instances on the backend the environment
//! selects (Redis when `CLINICGATE_TEST_REDIS_URL` is set, in-process otherwise).

mod budget;
mod cache;
mod faults;
mod sandbox;
mod sandbox_changes;

use std::net::TcpListener;
use std::time::Duration;

use clinicgate_adapters::cliniko::{
    BudgetConfig, ClinikoClientConfig, HttpClinikoClient, RetryConfig,
};
use clinicgate_cliniko_sandbox::{Sandbox, SandboxConfig, SandboxKey};
use clinicgate_core::cliniko::{ClinikoAccount, ClinikoApiKey};
use clinicgate_core::ids::TenantId;
use clinicgate_core::ports::SharedState;

use crate::stores::{TestStores, fresh_prefix, redis_url, stores, stores_with_prefix};

pub const USER_AGENT: &str = "ClinicGate tests (tests@clinicgate.dev)";

/// A sandbox on a free loopback port.
pub fn start_sandbox(config: SandboxConfig) -> Sandbox {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    Sandbox::start(listener, &config).unwrap()
}

/// The sandbox's administrator key for the account on `shard`.
pub fn admin_key(sandbox: &Sandbox, shard: &str) -> SandboxKey {
    sandbox
        .keys()
        .iter()
        .find(|k| k.shard == shard && k.role == "administrator")
        .cloned()
        .unwrap()
}

/// A fresh clinic using `key`.
pub fn account(key: &str) -> ClinikoAccount {
    ClinikoAccount {
        tenant_id: TenantId::new(),
        key: ClinikoApiKey::parse(key).unwrap(),
        caller: None,
    }
}

/// Client settings for tests: quick timeouts and backoff, a roomy budget.
pub fn config(base_url: &str) -> ClinikoClientConfig {
    ClinikoClientConfig {
        timeout: Duration::from_secs(5),
        retry: RetryConfig {
            max_retries: 2,
            base_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(200),
        },
        budget: BudgetConfig {
            limit: 6000,
            burst: 100,
            default_pause: Duration::from_secs(1),
            ..BudgetConfig::default()
        },
        ..ClinikoClientConfig::new(base_url, USER_AGENT)
    }
}

pub fn client(config: ClinikoClientConfig, shared: &SharedState) -> HttpClinikoClient {
    HttpClinikoClient::new(config, shared.clone()).unwrap()
}

/// `n` handles on one shared store, as `n` instances would have: separate Redis connections under
/// one prefix when Redis is selected, the same in-process store otherwise.
pub struct Instances {
    pub states: Vec<SharedState>,
    _stores: Vec<TestStores>,
}

pub async fn instances(n: usize) -> Instances {
    if redis_url().is_some() {
        let prefix = fresh_prefix();
        let mut stores_list = Vec::new();
        for _ in 0..n {
            stores_list.push(stores_with_prefix(&prefix).await);
        }
        Instances {
            states: stores_list.iter().map(|s| s.handle.state.clone()).collect(),
            _stores: stores_list,
        }
    } else {
        let one = stores().await;
        Instances {
            states: vec![one.handle.state.clone(); n],
            _stores: vec![one],
        }
    }
}
