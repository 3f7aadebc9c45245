//! In-process implementations of the shared-state ports, for a single ClinicGate instance with no
//! Redis. Their state lives and dies with the process, and two processes never see each other's:
//! running several instances requires the Redis stores.
//!
//! TTL-only stores use `moka` with a per-entry expiry; stores that need an atomic
//! read-modify-write (rate limits, sessions) use a `std::sync::Mutex` over plain maps, held
//! only for the computation (never across an `.await`) and swept of expired entries as they go.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use clinicgate_core::ports::SharedState;

/// Implements `Debug` as the type name only: a store's `Debug` must not dump its entries (cache
/// contents, job payloads, session records), which end up in logs when a handle is printed.
macro_rules! opaque_debug {
    ($name:ident) => {
        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($name)).finish_non_exhaustive()
            }
        }
    };
}

mod cache;
mod rate_limit;
mod revocation;
mod sessions;

/// A fresh set of in-process stores (sharing nothing with any other set).
pub(super) fn shared_state() -> SharedState {
    SharedState {
        cache: Arc::new(cache::MemoryCache::new()),
        rate_limiter: Arc::new(rate_limit::MemoryRateLimiter::new()),
        revocations: Arc::new(revocation::MemoryRevocationSet::new()),
        sessions: Arc::new(sessions::MemorySessionStore::new()),
    }
}

/// A moka value that carries its own time-to-live.
#[derive(Debug, Clone)]
struct Timed<V> {
    value: V,
    ttl: Duration,
}

/// Gives each moka entry the TTL it was written with, restarted on every write (as Redis `PX`).
#[derive(Debug, Clone, Copy)]
struct TimedExpiry;

impl<K, V> moka::Expiry<K, Timed<V>> for TimedExpiry {
    fn expire_after_create(
        &self,
        _key: &K,
        value: &Timed<V>,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(value.ttl)
    }

    fn expire_after_update(
        &self,
        _key: &K,
        value: &Timed<V>,
        _updated_at: Instant,
        _duration_until_expiry: Option<Duration>,
    ) -> Option<Duration> {
        Some(value.ttl)
    }
}

/// Locks `mutex`, carrying on after a panic elsewhere: every critical section here leaves the maps
/// consistent at each step, so a poisoned lock holds usable state and refusing it would only turn
/// one failed request into a permanently failed store.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// How often the mutex-based stores drop expired entries nobody asked for again.
const SWEEP_EVERY: Duration = Duration::from_secs(30);
