//! Client keys published at a URL (`jwks_uri`) rather than registered inline: fetched through
//! the outbound SSRF guard ([`JwksFetcher`], implemented in the adapters), kept for
//! [`JWKS_CACHE_TTL`], and fetched again when an assertion names a key the copy does not hold
//! (the client rotated its keys) — at most once per [`UNKNOWN_KID_REFETCH`] per URL.
//!
//! The cache is per instance and in memory: a JWKS is public, re-fetchable at any time, and
//! losing the copy costs one fetch, so there is nothing to share between instances.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::Value;

use super::client_keys::ClientJwks;

/// How long a fetched JWKS is used before it is fetched again.
pub const JWKS_CACHE_TTL: Duration = Duration::from_secs(600);

/// The least time between two fetches of one URL caused by unknown `kid`s, so assertions
/// naming made-up keys cannot make ClinicGate hammer the client's server. Fetches for other
/// reasons (registration, expiry) do not count: the first unknown `kid` after a rotation is
/// always looked up.
pub const UNKNOWN_KID_REFETCH: Duration = Duration::from_secs(60);

/// The largest JWKS document read (64 KiB holds dozens of RSA keys).
pub const MAX_JWKS_BYTES: usize = 64 * 1024;

/// How long fetching a JWKS may take, connection to last byte.
pub const JWKS_FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// Fetches a JWKS document from a client's `jwks_uri`, behind the SSRF guard, within
/// [`JWKS_FETCH_TIMEOUT`] and [`MAX_JWKS_BYTES`].
#[async_trait]
pub trait JwksFetcher: Send + Sync + fmt::Debug {
    /// The JSON document at `url`, or why there is none (for the log: a status, a timeout, a
    /// refused address, too large, not JSON).
    async fn fetch(&self, url: &str) -> Result<Value, String>;
}

#[derive(Clone)]
struct Entry {
    jwks: ClientJwks,
    fetched_at: Instant,
    /// The last fetch caused by an unknown `kid`.
    refetched_at: Option<Instant>,
}

/// The cache of remote JWKS documents; cheap to clone (one cache shared by the clones).
#[derive(Clone)]
pub struct RemoteJwks {
    fetcher: Arc<dyn JwksFetcher>,
    entries: Arc<Mutex<HashMap<String, Entry>>>,
    ttl: Duration,
    refetch_after: Duration,
}

impl fmt::Debug for RemoteJwks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteJwks")
            .field("ttl", &self.ttl)
            .field("refetch_after", &self.refetch_after)
            .finish_non_exhaustive()
    }
}

/// Why a remote JWKS is not usable (logged with the refusal; the client sees `invalid_client`).
pub const FETCH_FAILED: &str = "the client's jwks_uri could not be fetched or holds no usable key";

impl RemoteJwks {
    /// A cache over `fetcher` with the standard [`JWKS_CACHE_TTL`] and [`UNKNOWN_KID_REFETCH`].
    pub fn new(fetcher: Arc<dyn JwksFetcher>) -> Self {
        Self::with_timings(fetcher, JWKS_CACHE_TTL, UNKNOWN_KID_REFETCH)
    }

    /// A cache with other timings (tests).
    pub fn with_timings(
        fetcher: Arc<dyn JwksFetcher>,
        ttl: Duration,
        refetch_after: Duration,
    ) -> Self {
        Self {
            fetcher,
            entries: Arc::default(),
            ttl,
            refetch_after,
        }
    }

    fn cached(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        // A poisoned lock only means another thread panicked mid-insert of a plain value.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Fetches `url` now and keeps the result.
    ///
    /// # Errors
    /// Why the document could not be fetched or read (logged, never shown to the client).
    pub async fn fetch(&self, url: &str) -> Result<ClientJwks, String> {
        self.fetch_keeping(url, None).await
    }

    async fn fetch_keeping(
        &self,
        url: &str,
        refetched_at: Option<Instant>,
    ) -> Result<ClientJwks, String> {
        let document = self.fetcher.fetch(url).await?;
        let jwks = ClientJwks::parse_remote(document)?;
        let mut cached = self.cached();
        let refetched_at = refetched_at.or_else(|| cached.get(url)?.refetched_at);
        cached.insert(
            url.to_owned(),
            Entry {
                jwks: jwks.clone(),
                fetched_at: Instant::now(),
                refetched_at,
            },
        );
        Ok(jwks)
    }

    /// The keys at `url`: the cached copy while it is younger than the TTL, else fetched.
    ///
    /// # Errors
    /// As [`Self::fetch`].
    pub async fn current(&self, url: &str) -> Result<ClientJwks, String> {
        let fresh = self
            .cached()
            .get(url)
            .filter(|entry| entry.fetched_at.elapsed() < self.ttl)
            .map(|entry| entry.jwks.clone());
        match fresh {
            Some(jwks) => Ok(jwks),
            None => self.fetch(url).await,
        }
    }

    /// The keys at `url` fetched again because an assertion named a key the copy lacks, unless
    /// such a refetch happened less than the refetch interval ago (`None`: nothing new to try).
    ///
    /// # Errors
    /// As [`Self::fetch`].
    pub async fn refetch_for_unknown_kid(&self, url: &str) -> Result<Option<ClientJwks>, String> {
        let now = Instant::now();
        {
            let mut cached = self.cached();
            let recent = cached.get(url).and_then(|entry| entry.refetched_at);
            if recent.is_some_and(|at| now.duration_since(at) < self.refetch_after) {
                return Ok(None);
            }
            // Claimed before fetching, so concurrent assertions with unknown kids make one
            // fetch, and a failing server is asked once per interval too.
            if let Some(entry) = cached.get_mut(url) {
                entry.refetched_at = Some(now);
            }
        }
        self.fetch_keeping(url, Some(now)).await.map(Some)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use serde_json::json;

    use super::*;

    #[derive(Debug, Default)]
    struct Counting {
        calls: AtomicUsize,
    }

    #[async_trait]
    impl JwksFetcher for Counting {
        async fn fetch(&self, _url: &str) -> Result<Value, String> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            Ok(json!({"keys": [{"kty": "EC", "crv": "P-384", "kid": "a",
                "x": "WV4d0u9yvBNbzadXew7Ui9J0MplhOXO5_4H1lmoTsc_9_ut7V6dZ3VSmPqS73Qwt",
                "y": "zHlzMvJPtBCm0Z9XPgj86D_wuRaEdvD9oaqa5cEyVvyMtDKsN9-wHFq-vOcH-cwW"}]}))
        }
    }

    #[tokio::test]
    async fn a_fetched_jwks_is_reused_within_its_ttl_and_refetches_are_rate_limited() {
        let fetcher = Arc::new(Counting::default());
        let cache = RemoteJwks::with_timings(
            fetcher.clone(),
            Duration::from_secs(3600),
            Duration::from_secs(3600),
        );
        cache.current("https://a.example/jwks").await.unwrap();
        cache.current("https://a.example/jwks").await.unwrap();
        assert_eq!(fetcher.calls.load(Ordering::SeqCst), 1);
        // The first unknown kid is looked up at once; the next within the interval is not.
        let first = cache
            .refetch_for_unknown_kid("https://a.example/jwks")
            .await
            .unwrap();
        assert!(first.is_some());
        let again = cache
            .refetch_for_unknown_kid("https://a.example/jwks")
            .await
            .unwrap();
        assert!(again.is_none(), "refetched twice within the interval");
        assert_eq!(fetcher.calls.load(Ordering::SeqCst), 2);

        let eager = RemoteJwks::with_timings(fetcher.clone(), Duration::ZERO, Duration::ZERO);
        eager.current("https://a.example/jwks").await.unwrap();
        eager.current("https://a.example/jwks").await.unwrap();
        assert!(
            eager
                .refetch_for_unknown_kid("https://a.example/jwks")
                .await
                .unwrap()
                .is_some()
        );
        assert_eq!(fetcher.calls.load(Ordering::SeqCst), 5);
    }
}
