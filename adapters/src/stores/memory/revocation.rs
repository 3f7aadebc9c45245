//! The in-process [`RevocationSet`]: moka sets of token ids, each for its own TTL, one per
//! generation. In-process state is lost only with the process, which loses its readers too, but
//! the set follows the same generation protocol as Redis's so both pass one contract.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use clinicgate_core::Result;
use clinicgate_core::ports::{Generation, RevocationSet};

use super::{Timed, TimedExpiry};
use crate::stores::at_least_1ms;

/// How long a refill may take before another may start (as in Redis).
const REFILL_LEASE: Duration = Duration::from_secs(60);

type Ids = moka::future::Cache<String, Timed<()>>;

/// One generation's revoked ids.
#[derive(Clone)]
struct Filled {
    generation: Generation,
    // Deliberately unbounded: evicting an entry early would silently un-revoke a token. Entries
    // are small and leave when their token would have expired anyway.
    ids: Ids,
}

/// The current generation and a refill under way.
#[derive(Default)]
struct Generations {
    current: Option<Filled>,
    refill: Option<(Filled, Instant)>,
    next: u64,
}

/// In-process revocation set.
#[derive(Clone, Default)]
pub(super) struct MemoryRevocationSet {
    state: Arc<Mutex<Generations>>,
}

opaque_debug!(MemoryRevocationSet);

impl MemoryRevocationSet {
    /// An empty set with no generation.
    pub(super) fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Generations> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The ids of the refill `generation`, if it is still under way.
    fn refilling(&self, generation: &Generation) -> Option<Ids> {
        self.lock()
            .live_refill(generation)
            .map(|filled| filled.ids.clone())
    }
}

impl Generations {
    /// The refill under way, if it is `generation`'s.
    fn live_refill(&self, generation: &Generation) -> Option<&Filled> {
        self.refill
            .as_ref()
            .filter(|(filled, started)| {
                filled.generation == *generation && started.elapsed() < REFILL_LEASE
            })
            .map(|(filled, _)| filled)
    }
}

async fn insert(ids: &Ids, token_id: &str, ttl: Duration) {
    ids.insert(
        token_id.to_owned(),
        Timed {
            value: (),
            ttl: at_least_1ms(ttl),
        },
    )
    .await;
}

#[async_trait]
impl RevocationSet for MemoryRevocationSet {
    async fn generation(&self) -> Result<Option<Generation>> {
        Ok(self
            .lock()
            .current
            .as_ref()
            .map(|filled| filled.generation.clone()))
    }

    async fn revoke(&self, token_id: &str, ttl: Duration) -> Result<()> {
        let targets: Vec<Ids> = {
            let state = self.lock();
            state
                .current
                .iter()
                .chain(state.refill.as_ref().map(|(filled, _)| filled))
                .map(|filled| filled.ids.clone())
                .collect()
        };
        for ids in &targets {
            insert(ids, token_id, ttl).await;
        }
        Ok(())
    }

    async fn is_revoked(&self, generation: &Generation, token_id: &str) -> Result<bool> {
        let ids = {
            let state = self.lock();
            state
                .current
                .as_ref()
                .filter(|filled| filled.generation == *generation)
                .map(|filled| filled.ids.clone())
        };
        Ok(match ids {
            Some(ids) => ids.get(token_id).await.is_some(),
            None => false,
        })
    }

    async fn begin_refill(&self) -> Result<Option<Generation>> {
        let mut state = self.lock();
        if state
            .refill
            .as_ref()
            .is_some_and(|(_, started)| started.elapsed() < REFILL_LEASE)
        {
            return Ok(None);
        }
        state.next += 1;
        let generation = Generation::new(format!("m{}", state.next));
        let ids = moka::future::Cache::builder()
            .expire_after(TimedExpiry)
            .build();
        state.refill = Some((
            Filled {
                generation: generation.clone(),
                ids,
            },
            Instant::now(),
        ));
        Ok(Some(generation))
    }

    async fn refill(
        &self,
        generation: &Generation,
        entries: &[(String, Duration)],
    ) -> Result<bool> {
        let Some(ids) = self.refilling(generation) else {
            return Ok(false);
        };
        for (token_id, ttl) in entries {
            insert(&ids, token_id, *ttl).await;
        }
        Ok(true)
    }

    async fn complete_refill(&self, generation: &Generation) -> Result<bool> {
        let mut state = self.lock();
        if state.live_refill(generation).is_none() {
            return Ok(false);
        }
        state.current = state.refill.take().map(|(filled, _)| filled);
        Ok(true)
    }

    async fn invalidate(&self) -> Result<()> {
        self.lock().current = None;
        Ok(())
    }
}
