//! The arithmetic of the sliding-window limiter ([`RateLimiter::take_in_window`]), as a pure
//! function of "now" and the stored sub-window counts, so both backends decide alike: the
//! in-process store calls it under its lock, and the Redis store calls it on the `now` and counts
//! its Lua script saw (the script repeats only the allow/store step, atomically).
//!
//! A window, not GCRA, because API clients are promised `q` requests per `w` seconds
//! (`RateLimit-Policy: "client";q=…;w=…`): a GCRA bucket of `q` refilling at `q / w` serves a full
//! bucket and then its refill, up to `2q − 1` in one `w`. Shrinking the bucket to fit would halve
//! what a steady client gets; counting what was taken in the last `w` keeps both promises.
//!
//! Sub-windows instead of a log of every grant: limits go up to ten million a minute, and 60
//! counters per key hold the same answer rounded in the safe direction. A sub-window counts
//! until its *end* is a whole window old, so a unit counts for at least `w` after it was taken and
//! at most `w / 60` longer: the limit is never exceeded, and a client at its limit waits at most
//! a sixtieth of the window longer than an exact log would make it.
//!
//! Times are integer microseconds.
//!
//! [`RateLimiter::take_in_window`]: clinicgate_core::ports::RateLimiter::take_in_window

use std::time::Duration;

use clinicgate_core::ports::{Quota, RateDecision};
use clinicgate_core::{Error, Result};

use super::gcra::{MAX_PERIOD_US, ceil_to_ms, micros};

/// Sub-windows per window.
const SUB_WINDOWS: u128 = 60;

/// One `take_in_window` request's constants, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SlidingWindow {
    limit: u32,
    cost: u32,
    /// The window, µs.
    window_us: i64,
    /// One sub-window, µs (≥ 1).
    slot_us: i64,
    /// How long after the grant the units may still be handed out, µs.
    hold_us: i64,
}

/// What to do after evaluating a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Evaluation {
    /// What to tell the caller.
    pub decision: RateDecision,
    /// The sub-window to add the cost to, when granted.
    pub record: Option<i64>,
    /// When the key's last counted unit leaves the window (µs), after this decision.
    pub lapses_at_us: i64,
}

impl SlidingWindow {
    /// Validates the quota (`limit ≥ 1`, `0 < period ≤ ~35 years`) and the hold (≤ ~35 years).
    ///
    /// # Errors
    /// [`Error::Internal`] for an invalid quota: quotas come from code, so a bad one is a bug.
    pub(crate) fn new(quota: Quota, cost: u32, hold: Duration) -> Result<Self> {
        if quota.limit == 0 {
            return Err(Error::internal("rate-limit window with a limit of 0"));
        }
        let window_us = quota.period.as_micros();
        let hold_us = hold.as_micros();
        if window_us == 0 || window_us > MAX_PERIOD_US || hold_us > MAX_PERIOD_US {
            return Err(Error::internal(format!(
                "rate-limit window with an unusable period {:?} or hold {hold:?}",
                quota.period
            )));
        }
        // All three fit: each is at most 2^50.
        let slot_us = (window_us / SUB_WINDOWS).max(1);
        Ok(Self {
            limit: quota.limit,
            cost,
            window_us: i64::try_from(window_us).map_err(Error::internal)?,
            slot_us: i64::try_from(slot_us).map_err(Error::internal)?,
            hold_us: i64::try_from(hold_us).map_err(Error::internal)?,
        })
    }

    /// The Redis script's arguments: window, sub-window and hold (µs), limit, cost.
    pub(crate) fn script_args(&self) -> [i64; 5] {
        [
            self.window_us,
            self.slot_us,
            self.hold_us,
            i64::from(self.limit),
            i64::from(self.cost),
        ]
    }

    /// When sub-window `index` stops counting: a whole window after its end.
    fn leaves_at(&self, index: i64) -> i128 {
        (i128::from(index) + 1) * i128::from(self.slot_us) + i128::from(self.window_us)
    }

    /// Whether sub-window `index` still counts at `now_us`.
    pub(crate) fn still_counts(&self, index: i64, now_us: i64) -> bool {
        self.leaves_at(index) > i128::from(now_us)
    }

    /// Decides a request at `now_us` given the stored `(sub-window, units)` pairs (any order,
    /// lapsed ones included).
    pub(crate) fn evaluate(&self, now_us: i64, stored: &[(i64, u64)]) -> Evaluation {
        let now = i128::from(now_us);
        let mut live: Vec<(i64, u64)> = stored
            .iter()
            .copied()
            .filter(|&(index, _)| self.still_counts(index, now_us))
            .collect();
        live.sort_unstable_by_key(|&(index, _)| index);
        let used: u64 = live.iter().map(|&(_, units)| units).sum();
        let (limit, cost) = (u64::from(self.limit), u64::from(self.cost));
        let allowed = used + cost <= limit;
        let record = (allowed && cost > 0)
            .then(|| (now_us.saturating_add(self.hold_us)).div_euclid(self.slot_us));
        let newest = live
            .last()
            .map(|&(index, _)| index)
            .into_iter()
            .chain(record)
            .max();
        let lapses_at = newest.map_or(now, |index| self.leaves_at(index));
        let used_after = if allowed { used + cost } else { used };
        let retry_after = if allowed {
            Duration::ZERO
        } else {
            self.wait_for(used + cost - limit, &live, now)
                .max(Duration::from_millis(1))
        };
        Evaluation {
            decision: RateDecision {
                allowed,
                limit: self.limit,
                // At most `limit`, so it fits.
                remaining: u32::try_from(limit.saturating_sub(used_after)).unwrap_or(0),
                retry_after,
                reset_after: micros(lapses_at - now),
            },
            record,
            lapses_at_us: i64::try_from(lapses_at).unwrap_or(i64::MAX),
        }
    }

    /// How long until `excess` units have left the window, oldest first. A cost above the limit
    /// is never granted; it is told to wait a whole window and hold.
    fn wait_for(&self, excess: u64, live: &[(i64, u64)], now: i128) -> Duration {
        let mut freed = 0;
        for &(index, units) in live {
            freed += units;
            if freed >= excess {
                return ceil_to_ms(self.leaves_at(index) - now);
            }
        }
        ceil_to_ms(i128::from(self.window_us) + i128::from(self.slot_us + self.hold_us))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_750_000_000_000_000;
    const SECOND: i64 = 1_000_000;

    fn window(limit: u32, period_secs: u64, cost: u32, hold: Duration) -> SlidingWindow {
        SlidingWindow::new(
            Quota {
                limit,
                period: Duration::from_secs(period_secs),
            },
            cost,
            hold,
        )
        .unwrap()
    }

    /// Runs one request at `now`, storing what it records into `stored`.
    fn take(w: &SlidingWindow, now: i64, stored: &mut Vec<(i64, u64)>) -> RateDecision {
        let eval = w.evaluate(now, stored);
        if let Some(index) = eval.record {
            match stored.iter_mut().find(|(i, _)| *i == index) {
                Some(slot) => slot.1 += u64::from(w.cost),
                None => stored.push((index, u64::from(w.cost))),
            }
        }
        eval.decision
    }

    #[test]
    fn a_fresh_key_grants_exactly_the_limit_and_then_nothing_for_a_whole_window() {
        let w = window(5, 60, 1, Duration::ZERO);
        let mut stored = Vec::new();
        let remaining: Vec<u32> = (0..5)
            .map(|_| take(&w, NOW, &mut stored).remaining)
            .collect();
        assert_eq!(remaining, [4, 3, 2, 1, 0]);
        let refused = take(&w, NOW, &mut stored);
        assert!(!refused.allowed);
        // Unlike a bucket, nothing drips back: the five leave together, one window later.
        assert!(refused.retry_after > Duration::from_secs(60));
        assert!(refused.retry_after <= Duration::from_secs(61));
        assert_eq!(refused.reset_after, refused.retry_after);
        assert!(!take(&w, NOW + 59 * SECOND, &mut stored).allowed);
        assert!(take(&w, NOW + 61 * SECOND, &mut stored).allowed);
    }

    #[test]
    fn no_span_of_one_window_ever_sees_more_than_the_limit() {
        // A request every 100 ms for five windows: each window of 10 s admits at most 7.
        let w = window(7, 10, 1, Duration::ZERO);
        let mut stored = Vec::new();
        let granted: Vec<i64> = (0..500)
            .map(|step| NOW + step * SECOND / 10)
            .filter(|&now| take(&w, now, &mut stored).allowed)
            .collect();
        for (i, &start) in granted.iter().enumerate() {
            let within = granted[i..]
                .iter()
                .take_while(|&&at| at < start + 10 * SECOND)
                .count();
            assert!(within <= 7, "{within} within 10 s from {start}");
        }
        // …and the quota comes back each window (at most one sub-window late).
        assert!(granted.len() >= 7 * 4, "{}", granted.len());
    }

    #[test]
    fn held_units_count_until_a_window_after_the_hold() {
        let w = window(10, 60, 10, Duration::from_secs(1));
        let mut stored = Vec::new();
        assert!(take(&w, NOW, &mut stored).allowed);
        let single = window(10, 60, 1, Duration::ZERO);
        // Units handed out up to 1 s after the grant still count a window after that.
        assert!(!take(&single, NOW + 60 * SECOND + SECOND / 2, &mut stored).allowed);
        assert!(take(&single, NOW + 62 * SECOND, &mut stored).allowed);
    }

    #[test]
    fn a_refusal_waits_for_just_enough_units_to_leave_and_takes_nothing() {
        let one = window(4, 60, 1, Duration::ZERO);
        let mut stored = Vec::new();
        take(&one, NOW, &mut stored);
        take(&one, NOW, &mut stored);
        take(&one, NOW + 30 * SECOND, &mut stored);
        let three = window(4, 60, 3, Duration::ZERO);
        let refused = three.evaluate(NOW + 30 * SECOND, &stored);
        assert!(!refused.decision.allowed);
        assert_eq!(refused.record, None);
        assert_eq!(refused.decision.remaining, 1);
        // Two units must leave: both were taken at NOW, so about 30 s from now.
        let wait = refused.decision.retry_after;
        assert!(
            wait > Duration::from_secs(30) && wait <= Duration::from_secs(31),
            "{wait:?}"
        );
        // The later unit decides when everything is back.
        assert!(refused.decision.reset_after > Duration::from_secs(60));
    }

    #[test]
    fn a_cost_above_the_limit_is_refused_with_a_finite_wait() {
        let eval = window(2, 60, 3, Duration::ZERO).evaluate(NOW, &[]);
        assert!(!eval.decision.allowed);
        assert_eq!(eval.decision.remaining, 2);
        assert!(eval.decision.retry_after >= Duration::from_secs(60));
    }

    #[test]
    fn lapsed_sub_windows_are_ignored() {
        let w = window(1, 1, 1, Duration::ZERO);
        let eval = w.evaluate(NOW, &[(NOW / 16_666 - 200, 5)]);
        assert!(eval.decision.allowed);
    }

    #[test]
    fn an_invalid_quota_or_hold_is_refused() {
        let quota = |limit, period| Quota { limit, period };
        let second = Duration::from_secs(1);
        assert!(SlidingWindow::new(quota(0, second), 1, Duration::ZERO).is_err());
        assert!(SlidingWindow::new(quota(1, Duration::ZERO), 1, Duration::ZERO).is_err());
        assert!(SlidingWindow::new(quota(1, Duration::MAX), 1, Duration::ZERO).is_err());
        assert!(SlidingWindow::new(quota(1, second), 1, Duration::MAX).is_err());
    }
}
