//! Per-clinic cache of Cliniko reference data (practitioners, businesses, appointment types,
//! settings) in the shared cache port, with single-flight: a burst of lookups makes one Cliniko
//! call, within a process (one fetch per key at a time) and across instances (a short lock taken
//! with `set_if_absent`; the others wait for the value it stores).
//!
//! Entries are keyed by tenant, key id and a generation; invalidating a clinic moves it to a new
//! generation, so every entry it had (including per-business and per-practitioner lists) is
//! dropped at once on every instance. Errors are never cached. Patient data never comes here.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use clinicgate_core::cliniko::ClinikoAccount;
use clinicgate_core::ports::Cache;
use clinicgate_core::{Error, Result};
use rand::Rng as _;
use serde_json::Value;

use super::key_id::KeyId;
use super::telemetry::Telemetry;

/// How often an instance waiting on another's fetch looks for the value.
const POLL: Duration = Duration::from_millis(50);

/// How long a generation marker lives: far longer than any entry, so entries never outlive it.
const GENERATION_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

/// Cached reference data of every clinic; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct ReferenceCache {
    cache: Arc<dyn Cache>,
    ttl: Duration,
    lock_ttl: Duration,
    inflight: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
    telemetry: Telemetry,
}

impl ReferenceCache {
    /// Entries live `ttl`; a cross-instance fetch lock lives `lock_ttl` (longer than one fetch,
    /// so a crashed holder only delays the others that long).
    pub(crate) fn new(
        cache: Arc<dyn Cache>,
        ttl: Duration,
        lock_ttl: Duration,
        telemetry: Telemetry,
    ) -> Self {
        Self {
            cache,
            ttl,
            lock_ttl,
            inflight: Arc::default(),
            telemetry,
        }
    }

    /// The cached value of `resource` for the clinic, or what `fetch` returns (then cached).
    pub(crate) async fn get_or_fetch<F, Fut>(
        &self,
        account: &ClinikoAccount,
        resource: &str,
        fetch: F,
    ) -> Result<Value>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Value>>,
    {
        let key = self.entry_key(account, resource).await?;
        if let Some(hit) = self.read(&key).await? {
            self.telemetry.cache_lookup(&account.tenant_id, true);
            return Ok(hit);
        }
        let gate = self.gate(&key);
        let result = async {
            let _one_fetch_in_this_process = gate.lock().await;
            if let Some(hit) = self.read(&key).await? {
                self.telemetry.cache_lookup(&account.tenant_id, true);
                return Ok(hit);
            }
            self.telemetry.cache_lookup(&account.tenant_id, false);
            let lock_key = format!("{key}:lock");
            let deadline = Instant::now() + self.lock_ttl;
            let holds_lock = loop {
                if self
                    .cache
                    .set_if_absent(&lock_key, b"1", self.lock_ttl)
                    .await?
                {
                    break true;
                }
                tokio::time::sleep(POLL).await;
                if let Some(hit) = self.read(&key).await? {
                    return Ok(hit);
                }
                if Instant::now() >= deadline {
                    // The holder died or is stuck waiting for budget: fetch ourselves.
                    break false;
                }
            };
            let fetched = fetch().await;
            if let Ok(value) = &fetched {
                self.store(&key, value).await;
            }
            if holds_lock && let Err(err) = self.cache.delete(&lock_key).await {
                tracing::debug!(error = %err, "could not release a Cliniko cache lock; it expires on its own");
            }
            fetched
        }
        .await;
        self.forget_gate(&key, &gate);
        result
    }

    /// Drops every cached entry of the clinic's key, on every instance.
    pub(crate) async fn invalidate(&self, account: &ClinikoAccount) -> Result<()> {
        let generation = format!("{:016x}", rand::rng().random::<u64>());
        self.cache
            .set(
                &generation_key(account),
                generation.as_bytes(),
                GENERATION_TTL,
            )
            .await
    }

    async fn entry_key(&self, account: &ClinikoAccount, resource: &str) -> Result<String> {
        let generation = self
            .cache
            .get(&generation_key(account))
            .await?
            .and_then(|raw| String::from_utf8(raw).ok())
            .unwrap_or_else(|| "0".to_owned());
        Ok(format!(
            "cliniko:ref:{}:{}:{generation}:{resource}",
            account.tenant_id,
            KeyId::of(&account.key).as_str()
        ))
    }

    async fn read(&self, key: &str) -> Result<Option<Value>> {
        let Some(raw) = self.cache.get(key).await? else {
            return Ok(None);
        };
        // An entry we cannot read is treated as absent and replaced.
        Ok(serde_json::from_slice(&raw).ok())
    }

    /// Stores a fetched value; failing to cache only costs a later Cliniko call.
    async fn store(&self, key: &str, value: &Value) {
        let stored = match serde_json::to_vec(value) {
            Ok(bytes) => self.cache.set(key, &bytes, self.ttl).await,
            Err(err) => Err(Error::internal(err)),
        };
        if let Err(err) = stored {
            tracing::warn!(error = %err, "could not cache Cliniko reference data; carrying on");
        }
    }

    fn gate(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut inflight = self.inflight.lock().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(inflight.entry(key.to_owned()).or_default())
    }

    /// Removes the gate once no other task holds it, so the map does not grow.
    fn forget_gate(&self, key: &str, gate: &Arc<tokio::sync::Mutex<()>>) {
        let mut inflight = self.inflight.lock().unwrap_or_else(PoisonError::into_inner);
        let unused = inflight
            .get(key)
            .is_some_and(|current| Arc::ptr_eq(current, gate) && Arc::strong_count(gate) <= 2);
        if unused {
            inflight.remove(key);
        }
    }
}

fn generation_key(account: &ClinikoAccount) -> String {
    format!(
        "cliniko:ref:{}:{}:generation",
        account.tenant_id,
        KeyId::of(&account.key).as_str()
    )
}
