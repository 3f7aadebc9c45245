//! Idempotency keys for the public API's writes: a partner may retry a `POST`/`PATCH` with the
//! same `Idempotency-Key` and get the first answer again, without ClinicGate touching Cliniko
//! twice (Cliniko itself has no idempotency, so a retried booking would be a second booking).
//!
//! Records are kept per clinic and API client for a configurable time (24 h by default) with a
//! fingerprint of the request:
//! - same key, same request, finished → the stored status and body ([`Begun::Replay`]);
//! - same key, another request → [`Begun::Mismatch`] (`422 idempotency_key_reused`);
//! - same key while the first is still running → the duplicate waits a little for it, then gets
//!   [`Begun::Busy`] (`409 idempotency_in_progress`);
//! - expired records are ignored (replaced) and pruned.
//!
//! Only successful (2xx) answers are kept: a failed attempt releases the key, so the partner may
//! retry it as it is. Stored bodies are sealed with the clinic's data key (they may hold
//! appointment notes).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret as _, SecretString};
use sha2::{Digest as _, Sha256};

use crate::ids::TenantId;
use crate::secrets::{SealedSecret, SecretPurpose, Vault};
use crate::tenancy::TenantContext;
use crate::{Error, Result};

/// The longest key accepted.
pub const MAX_KEY_LEN: usize = 255;

/// How often a duplicate looks whether the first request has finished.
const POLL: Duration = Duration::from_millis(50);

/// Least time between two prunes of expired records by one instance.
const PRUNE_EVERY_SECS: i64 = 600;

/// An `Idempotency-Key` value: 1 to 255 visible ASCII characters (a UUID is typical).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Parses a header value.
    ///
    /// # Errors
    /// [`Error::Validation`] naming the header.
    pub fn parse(raw: &str) -> Result<Self> {
        let valid =
            (1..=MAX_KEY_LEN).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_graphic());
        if valid {
            Ok(Self(raw.to_owned()))
        } else {
            Err(Error::invalid(
                "Idempotency-Key",
                "invalid",
                format!("use 1 to {MAX_KEY_LEN} visible ASCII characters, e.g. a UUID"),
            ))
        }
    }

    /// The key.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What makes two requests "the same": method, path and the JSON body, compared as JSON (key
/// order and whitespace do not matter), as a SHA-256 hex digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint(String);

impl Fingerprint {
    /// The fingerprint of a request.
    pub fn of(method: &str, path: &str, body: &serde_json::Value) -> Self {
        let mut hash = Sha256::new();
        hash.update(method.as_bytes());
        hash.update(b"\n");
        hash.update(path.as_bytes());
        hash.update(b"\n");
        // serde_json's maps are ordered by key, so equal JSON serialises identically.
        hash.update(body.to_string().as_bytes());
        Self(crate::crypto::hex(&hash.finalize()))
    }

    /// Wraps a stored fingerprint.
    pub fn from_stored(hex: String) -> Self {
        Self(hex)
    }

    /// The hex digest.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One record's identity: clinic, API client, key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyScope {
    /// The clinic.
    pub tenant: TenantId,
    /// The API client.
    pub client: String,
    /// The key.
    pub key: IdempotencyKey,
}

/// A finished answer.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredResponse {
    /// HTTP status.
    pub status: u16,
    /// JSON body.
    pub body: String,
}

impl std::fmt::Debug for StoredResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredResponse")
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

/// A record found where a claim wanted to insert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExistingRecord {
    /// Its request is still running (until `lease_until`).
    InProgress {
        /// The first request's fingerprint.
        fingerprint: Fingerprint,
    },
    /// Its request finished.
    Completed {
        /// The first request's fingerprint.
        fingerprint: Fingerprint,
        /// The status.
        status: u16,
        /// The body, sealed.
        body: SealedSecret,
    },
}

/// The result of a claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claimed {
    /// The caller now holds the key (a fresh record, or an expired or abandoned one taken over).
    Acquired,
    /// A live record holds it.
    Existing(ExistingRecord),
}

/// Storage of idempotency records, shared by every instance.
#[async_trait]
pub trait IdempotencyRepository: Send + Sync + std::fmt::Debug {
    /// Inserts an in-progress record for `scope` leased until `lease_until` and living until
    /// `expires_at`, unless a live one exists. A record past `expires_at`, or in progress past its
    /// lease (its instance died), is replaced.
    async fn claim(
        &self,
        scope: &IdempotencyScope,
        fingerprint: &Fingerprint,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<Claimed>;

    /// Marks the record finished with `status` and the sealed `body`.
    async fn complete(
        &self,
        scope: &IdempotencyScope,
        status: u16,
        body: &SealedSecret,
    ) -> Result<()>;

    /// Forgets the record (the request failed; the key may be used again).
    async fn release(&self, scope: &IdempotencyScope) -> Result<()>;

    /// Deletes every record past its expiry; how many.
    async fn prune(&self, now: DateTime<Utc>) -> Result<u64>;
}

/// How long records live and how long a duplicate waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdempotencyPolicy {
    /// How long a finished answer is replayed.
    pub ttl: Duration,
    /// How long a running request holds its key before another instance may take it over.
    pub lease: Duration,
    /// How long a concurrent duplicate waits for the first to finish.
    pub wait: Duration,
}

/// What to do with a request that carries a key.
#[derive(Debug)]
pub enum Begun {
    /// Run it, then call [`IdempotencyService::finish`] with the ticket.
    Proceed(Ticket),
    /// Answer this again.
    Replay(StoredResponse),
    /// The key was used for another request.
    Mismatch,
    /// The first request with this key is still running.
    Busy,
}

/// The right to run a request under a key, until finished.
#[derive(Debug)]
pub struct Ticket {
    scope: IdempotencyScope,
}

/// Idempotent execution of API writes; cheap to clone.
#[derive(Debug, Clone)]
pub struct IdempotencyService {
    records: Arc<dyn IdempotencyRepository>,
    vault: Vault,
    policy: IdempotencyPolicy,
    last_prune: Arc<AtomicI64>,
}

impl IdempotencyService {
    /// A service storing in `records`, sealing bodies with `vault`.
    pub fn new(
        records: Arc<dyn IdempotencyRepository>,
        vault: Vault,
        policy: IdempotencyPolicy,
    ) -> Self {
        Self {
            records,
            vault,
            policy,
            last_prune: Arc::default(),
        }
    }

    /// Starts a request under `key` for the calling API client.
    ///
    /// # Errors
    /// `Forbidden` for a caller that is not an API client; storage failures.
    pub async fn begin(
        &self,
        ctx: &TenantContext,
        key: IdempotencyKey,
        fingerprint: &Fingerprint,
    ) -> Result<Begun> {
        let client = ctx
            .client_id()
            .ok_or_else(|| Error::Forbidden("idempotency keys are for API clients".to_owned()))?;
        let scope = IdempotencyScope {
            tenant: ctx.tenant_id(),
            client: client.as_str().to_owned(),
            key,
        };
        self.prune_now_and_then().await;
        let deadline = tokio::time::Instant::now() + self.policy.wait;
        loop {
            let now = Utc::now();
            let claimed = self
                .records
                .claim(
                    &scope,
                    fingerprint,
                    now,
                    now + self.policy.lease,
                    now + self.policy.ttl,
                )
                .await?;
            let existing = match claimed {
                Claimed::Acquired => return Ok(Begun::Proceed(Ticket { scope })),
                Claimed::Existing(existing) => existing,
            };
            match existing {
                ExistingRecord::InProgress { fingerprint: first }
                | ExistingRecord::Completed {
                    fingerprint: first, ..
                } if &first != fingerprint => return Ok(Begun::Mismatch),
                ExistingRecord::Completed { status, body, .. } => {
                    let body = self
                        .vault
                        .open(scope.tenant, SecretPurpose::IdempotentResponse, &body)
                        .await?;
                    return Ok(Begun::Replay(StoredResponse {
                        status,
                        body: body.expose_secret().to_owned(),
                    }));
                }
                ExistingRecord::InProgress { .. } => {
                    if tokio::time::Instant::now() >= deadline {
                        return Ok(Begun::Busy);
                    }
                    tokio::time::sleep(POLL).await;
                }
            }
        }
    }

    /// Ends a request: a 2xx answer is stored for replay; anything else frees the key.
    ///
    /// # Errors
    /// Storage failures (the answer then goes out but is not stored).
    pub async fn finish(&self, ticket: Ticket, response: &StoredResponse) -> Result<()> {
        if (200..300).contains(&response.status) {
            let sealed = self
                .vault
                .seal(
                    ticket.scope.tenant,
                    SecretPurpose::IdempotentResponse,
                    &SecretString::from(response.body.clone()),
                )
                .await?;
            self.records
                .complete(&ticket.scope, response.status, &sealed)
                .await
        } else {
            self.records.release(&ticket.scope).await
        }
    }

    /// Deletes expired records at most every ten minutes per instance; a failure only delays it.
    async fn prune_now_and_then(&self) {
        let now = Utc::now().timestamp();
        let last = self.last_prune.load(Ordering::Relaxed);
        if now - last < PRUNE_EVERY_SECS
            || self
                .last_prune
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        match self.records.prune(Utc::now()).await {
            Ok(pruned) => tracing::debug!(pruned, "expired idempotency records pruned"),
            Err(err) => {
                tracing::warn!(error = %err, "could not prune idempotency records; retrying later")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn equal_json_has_one_fingerprint_and_any_difference_another() {
        let a = Fingerprint::of("POST", "/x", &json!({"a": 1, "b": [1, 2]}));
        let reordered: serde_json::Value =
            serde_json::from_str(r#"{ "b": [1,2], "a": 1 }"#).unwrap();
        assert_eq!(a, Fingerprint::of("POST", "/x", &reordered));
        assert_ne!(
            a,
            Fingerprint::of("POST", "/x", &json!({"a": 2, "b": [1, 2]}))
        );
        assert_ne!(
            a,
            Fingerprint::of("PATCH", "/x", &json!({"a": 1, "b": [1, 2]}))
        );
        assert_ne!(
            a,
            Fingerprint::of("POST", "/y", &json!({"a": 1, "b": [1, 2]}))
        );
    }

    #[test]
    fn keys_are_visible_ascii_of_bounded_length() {
        assert!(IdempotencyKey::parse("0b6f5c1e-3f7e-4c44-9c7d-2d3a0f5b8e11").is_ok());
        assert!(IdempotencyKey::parse("").is_err());
        assert!(IdempotencyKey::parse("has space").is_err());
        assert!(IdempotencyKey::parse(&"k".repeat(256)).is_err());
    }
}
