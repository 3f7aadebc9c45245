//! The in-process [`RateLimiter`]: GCRA buckets, sliding windows and fixed-window counters in
//! one locked map each.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use clinicgate_core::Result;
use clinicgate_core::ports::{Quota, RateDecision, RateLimiter};

use super::{SWEEP_EVERY, lock};
use crate::stores::at_least_1ms;
use crate::stores::gcra::{Evaluation, Gcra};
use crate::stores::window::SlidingWindow;

/// In-process rate limiter.
pub(super) struct MemoryRateLimiter {
    /// The origin of the µs clock the GCRA arithmetic runs on (monotonic, so a wall-clock step
    /// never refills or drains a bucket).
    epoch: Instant,
    state: Mutex<State>,
}

opaque_debug!(MemoryRateLimiter);

#[derive(Debug)]
struct State {
    /// Key → TAT in µs since `epoch`. A TAT at or before now is the same as no entry.
    buckets: HashMap<String, i64>,
    windows: HashMap<String, Window>,
    counters: HashMap<String, Counter>,
    last_sweep: Instant,
}

/// A key's sliding window: units per sub-window, and when the last of them stops counting.
#[derive(Debug, Default)]
struct Window {
    sub_windows: Vec<(i64, u64)>,
    lapses_at_us: i64,
}

#[derive(Debug, Clone, Copy)]
struct Counter {
    value: u64,
    expires: Instant,
}

impl MemoryRateLimiter {
    /// No buckets, no counters.
    pub(super) fn new() -> Self {
        let now = Instant::now();
        Self {
            epoch: now,
            state: Mutex::new(State {
                buckets: HashMap::new(),
                windows: HashMap::new(),
                counters: HashMap::new(),
                last_sweep: now,
            }),
        }
    }

    /// Evaluates `gcra` against `key`'s bucket and stores the new TAT, under the lock.
    fn evaluate(&self, key: &str, gcra: Gcra) -> Evaluation {
        let mut state = lock(&self.state);
        let now = Instant::now();
        let now_us = self.now_us(now);
        state.sweep(now, now_us);
        let evaluation = gcra.evaluate(now_us, state.buckets.get(key).copied());
        if let Some(tat) = evaluation.store_tat_us {
            state.buckets.insert(key.to_owned(), tat);
        }
        evaluation
    }

    fn now_us(&self, now: Instant) -> i64 {
        i64::try_from(now.duration_since(self.epoch).as_micros()).unwrap_or(i64::MAX)
    }
}

impl State {
    /// Drops the lapsed buckets and counters every [`SWEEP_EVERY`], so keys seen once do not stay.
    fn sweep(&mut self, now: Instant, now_us: i64) {
        if now.duration_since(self.last_sweep) < SWEEP_EVERY {
            return;
        }
        self.last_sweep = now;
        self.buckets.retain(|_, tat| *tat > now_us);
        self.windows
            .retain(|_, window| window.lapses_at_us > now_us);
        self.counters.retain(|_, counter| counter.expires > now);
    }

    fn live_counter(&self, key: &str, now: Instant) -> Option<Counter> {
        self.counters
            .get(key)
            .copied()
            .filter(|counter| counter.expires > now)
    }
}

#[async_trait]
impl RateLimiter for MemoryRateLimiter {
    async fn acquire(
        &self,
        key: &str,
        quota: Quota,
        cost: u32,
        reserve: u32,
    ) -> Result<RateDecision> {
        Ok(self
            .evaluate(key, Gcra::new(quota, cost, reserve)?)
            .decision)
    }

    async fn book(
        &self,
        key: &str,
        quota: Quota,
        cost: u32,
        reserve: u32,
        max_wait: Duration,
    ) -> Result<Option<Duration>> {
        let evaluation = self.evaluate(key, Gcra::booking(quota, cost, reserve, max_wait)?);
        Ok(evaluation.decision.allowed.then_some(evaluation.wait))
    }

    async fn refund(&self, key: &str, quota: Quota, units: u32) -> Result<()> {
        let gcra = Gcra::new(quota, units, 0)?;
        let mut state = lock(&self.state);
        let now_us = self.now_us(Instant::now());
        match gcra.refunded(now_us, state.buckets.get(key).copied()) {
            Some(tat) => state.buckets.insert(key.to_owned(), tat),
            None => state.buckets.remove(key),
        };
        Ok(())
    }

    async fn take_in_window(
        &self,
        key: &str,
        quota: Quota,
        cost: u32,
        hold: Duration,
    ) -> Result<RateDecision> {
        let sliding = SlidingWindow::new(quota, cost, hold)?;
        let mut state = lock(&self.state);
        let now = Instant::now();
        let now_us = self.now_us(now);
        state.sweep(now, now_us);
        let window = state.windows.entry(key.to_owned()).or_default();
        let evaluation = sliding.evaluate(now_us, &window.sub_windows);
        // Only what still counts is kept, so a window holds at most 60 sub-windows plus the hold's.
        window
            .sub_windows
            .retain(|&(index, _)| sliding.still_counts(index, now_us));
        if let Some(index) = evaluation.record {
            match window.sub_windows.iter_mut().find(|(i, _)| *i == index) {
                Some((_, units)) => *units += u64::from(cost),
                None => window.sub_windows.push((index, u64::from(cost))),
            }
        }
        window.lapses_at_us = evaluation.lapses_at_us;
        Ok(evaluation.decision)
    }

    async fn increment(&self, key: &str, window: Duration) -> Result<u64> {
        let mut state = lock(&self.state);
        let now = Instant::now();
        let now_us = self.now_us(now);
        state.sweep(now, now_us);
        // The window starts at the first increment and is not extended by later ones.
        let counter = match state.live_counter(key, now) {
            Some(counter) => Counter {
                value: counter.value.saturating_add(1),
                ..counter
            },
            None => Counter {
                value: 1,
                expires: now + at_least_1ms(window),
            },
        };
        state.counters.insert(key.to_owned(), counter);
        Ok(counter.value)
    }

    async fn count(&self, key: &str) -> Result<u64> {
        let state = lock(&self.state);
        Ok(state
            .live_counter(key, Instant::now())
            .map_or(0, |counter| counter.value))
    }

    async fn reset(&self, key: &str) -> Result<()> {
        let mut state = lock(&self.state);
        state.buckets.remove(key);
        state.windows.remove(key);
        state.counters.remove(key);
        Ok(())
    }
}
