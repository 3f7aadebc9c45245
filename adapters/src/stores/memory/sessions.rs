//! The in-process [`SessionStore`]: sessions with an idle deadline capped by their absolute
//! expiry, plus a per-user index so a deactivated user's sessions can all be ended.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::Utc;
use clinicgate_core::Result;
use clinicgate_core::ids::UserId;
use clinicgate_core::ports::{SessionKey, SessionRecord, SessionStore};

use super::{SWEEP_EVERY, lock};
use crate::stores::at_least_1ms;

/// In-process session store.
pub(super) struct MemorySessionStore {
    state: Mutex<State>,
}

opaque_debug!(MemorySessionStore);

#[derive(Debug)]
struct State {
    sessions: HashMap<String, Live>,
    by_user: HashMap<UserId, HashSet<String>>,
    last_sweep: Instant,
}

#[derive(Debug)]
struct Live {
    record: SessionRecord,
    /// When the session lapses: the idle deadline, already capped by `record.expires_at`.
    deadline: Instant,
}

/// How long `record` may live from now: `idle_ttl`, but never past its absolute expiry. `None`
/// when the absolute expiry has passed.
fn lifetime(record: &SessionRecord, idle_ttl: Duration) -> Option<Duration> {
    let left = (record.expires_at - Utc::now()).to_std().ok()?;
    Some(at_least_1ms(idle_ttl).min(left)).filter(|ttl| !ttl.is_zero())
}

impl MemorySessionStore {
    /// No sessions.
    pub(super) fn new() -> Self {
        Self {
            state: Mutex::new(State {
                sessions: HashMap::new(),
                by_user: HashMap::new(),
                last_sweep: Instant::now(),
            }),
        }
    }
}

impl State {
    /// Removes one session and its index entry; returns it.
    fn take(&mut self, key: &str) -> Option<Live> {
        let live = self.sessions.remove(key)?;
        if let Some(keys) = self.by_user.get_mut(&live.record.user_id) {
            keys.remove(key);
            if keys.is_empty() {
                self.by_user.remove(&live.record.user_id);
            }
        }
        Some(live)
    }

    /// Drops lapsed sessions every [`SWEEP_EVERY`], so abandoned sessions do not accumulate.
    fn sweep(&mut self, now: Instant) {
        if now.duration_since(self.last_sweep) < SWEEP_EVERY {
            return;
        }
        self.last_sweep = now;
        let lapsed: Vec<String> = self
            .sessions
            .iter()
            .filter(|(_, live)| live.deadline <= now)
            .map(|(key, _)| key.clone())
            .collect();
        for key in lapsed {
            self.take(&key);
        }
    }
}

#[async_trait]
impl SessionStore for MemorySessionStore {
    async fn insert(
        &self,
        key: &SessionKey,
        record: &SessionRecord,
        idle_ttl: Duration,
    ) -> Result<()> {
        let Some(ttl) = lifetime(record, idle_ttl) else {
            return Ok(());
        };
        let mut state = lock(&self.state);
        let now = Instant::now();
        state.sweep(now);
        // A key is a digest of a fresh random secret, so replacing is only ever re-inserting the
        // same session; taking first keeps the user index right even if the user changed.
        state.take(key.as_str());
        state.sessions.insert(
            key.as_str().to_owned(),
            Live {
                record: record.clone(),
                deadline: now + ttl,
            },
        );
        state
            .by_user
            .entry(record.user_id)
            .or_default()
            .insert(key.as_str().to_owned());
        Ok(())
    }

    async fn get_and_touch(
        &self,
        key: &SessionKey,
        idle_ttl: Duration,
    ) -> Result<Option<SessionRecord>> {
        let mut state = lock(&self.state);
        let now = Instant::now();
        let Some(live) = state.sessions.get_mut(key.as_str()) else {
            return Ok(None);
        };
        let ttl = if live.deadline > now {
            lifetime(&live.record, idle_ttl)
        } else {
            None
        };
        match ttl {
            Some(ttl) => {
                live.deadline = now + ttl;
                Ok(Some(live.record.clone()))
            }
            None => {
                state.take(key.as_str());
                Ok(None)
            }
        }
    }

    async fn remove(&self, key: &SessionKey) -> Result<()> {
        lock(&self.state).take(key.as_str());
        Ok(())
    }

    async fn remove_all_for_user(&self, user_id: UserId) -> Result<u64> {
        let mut state = lock(&self.state);
        let now = Instant::now();
        let keys = state.by_user.remove(&user_id).unwrap_or_default();
        let mut ended = 0;
        for key in keys {
            if state
                .sessions
                .remove(&key)
                .is_some_and(|live| live.deadline > now)
            {
                ended += 1;
            }
        }
        Ok(ended)
    }
}
