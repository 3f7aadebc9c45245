//! The arithmetic of the GCRA rate limiter (generic cell rate algorithm), as a pure function of
//! "now" and the stored theoretical arrival time (TAT), so both backends report identical
//! decisions: the in-process store calls it under its lock, and the Redis store calls it on the
//! `now` and TAT its Lua script saw (the script repeats only the allow/store step, atomically).
//!
//! Times are integer microseconds. The emission interval `T = period / limit` is rounded down to
//! whole microseconds (at least 1) and the burst tolerance is `limit × T` rather than `period`, so
//! that a fresh key always grants exactly `limit` units, however `period / limit` rounds; the
//! sustained rate is faster than asked by under one microsecond per unit.

use std::time::Duration;

use clinicgate_core::ports::{Quota, RateDecision};
use clinicgate_core::{Error, Result};

/// The longest accepted period. Redis evaluates the script with Lua doubles, exact only below
/// 2^53: microsecond timestamps (≈ 2^51 today) plus a period up to 2^50 µs (≈ 35 years) stay exact.
pub(super) const MAX_PERIOD_US: u128 = 1 << 50;

/// One acquire request's constants, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Gcra {
    limit: u32,
    /// The emission interval `T`, µs (≥ 1).
    emission_us: i64,
    /// The burst tolerance `limit × T`, µs.
    tolerance_us: i64,
    /// `cost × T`, µs: how far a grant pushes the TAT.
    increment_us: i128,
    /// `reserve × T − tolerance − slack`, µs: a grant needs `new_tat + offset ≤ now`.
    allow_offset_us: i128,
    /// How far in the future a grant may fall (0 for plain acquisitions), µs.
    slack_us: i128,
}

/// What to do after evaluating a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Evaluation {
    /// What to tell the caller.
    pub decision: RateDecision,
    /// The new TAT to store, when the request was granted and moved it past `now`.
    pub store_tat_us: Option<i64>,
    /// When granted: how long until the units may be used (zero unless booked with slack).
    pub wait: Duration,
}

impl Gcra {
    /// Validates the quota (`limit ≥ 1`, `0 < period ≤ ~35 years`).
    ///
    /// # Errors
    /// [`Error::Internal`] for an invalid quota: quotas come from code, so a bad one is a bug.
    pub(crate) fn new(quota: Quota, cost: u32, reserve: u32) -> Result<Self> {
        Self::booking(quota, cost, reserve, Duration::ZERO)
    }

    /// Like [`Self::new`], but a request is granted when its units will be available within
    /// `slack`: the units are booked now (the TAT moves, so later requests queue behind them) and
    /// the caller uses them after [`Evaluation::wait`]. Conformance is unchanged: calls made at
    /// the end of their wait are exactly those a plain GCRA would have granted then.
    ///
    /// # Errors
    /// As [`Self::new`].
    pub(crate) fn booking(quota: Quota, cost: u32, reserve: u32, slack: Duration) -> Result<Self> {
        if quota.limit == 0 {
            return Err(Error::internal("rate-limit quota with a limit of 0"));
        }
        let period_us = quota.period.as_micros();
        if period_us == 0 || period_us > MAX_PERIOD_US {
            return Err(Error::internal(format!(
                "rate-limit quota with an unusable period {:?}",
                quota.period
            )));
        }
        // Both fit: period_us ≤ 2^50 and limit ≤ 2^32.
        let emission = (period_us / u128::from(quota.limit)).max(1);
        let emission_us = i64::try_from(emission).map_err(Error::internal)?;
        let tolerance_us = emission_us * i64::from(quota.limit);
        let emission = i128::from(emission_us);
        let slack_us =
            i128::try_from(slack.as_micros().min(MAX_PERIOD_US)).map_err(Error::internal)?;
        Ok(Self {
            limit: quota.limit,
            emission_us,
            tolerance_us,
            increment_us: i128::from(cost) * emission,
            allow_offset_us: i128::from(reserve) * emission - i128::from(tolerance_us) - slack_us,
            slack_us,
        })
    }

    /// How far a grant pushes the TAT, µs (an argument of the Redis script).
    pub(crate) fn increment_us(&self) -> i128 {
        self.increment_us
    }

    /// `reserve × T − tolerance − slack`, µs (an argument of the Redis script).
    pub(crate) fn allow_offset_us(&self) -> i128 {
        self.allow_offset_us
    }

    /// The TAT to store after giving back `cost` units at `now_us` (`None`: delete the key, the
    /// bucket is full). Never before `now`: a refund cannot make the bucket more than full.
    pub(crate) fn refunded(&self, now_us: i64, stored_tat_us: Option<i64>) -> Option<i64> {
        let tat = i128::from(stored_tat_us?) - self.increment_us;
        (tat > i128::from(now_us))
            .then(|| i64::try_from(tat).ok())
            .flatten()
    }

    /// Decides a request at `now_us` given the stored TAT (`None` when the key is absent).
    pub(crate) fn evaluate(&self, now_us: i64, stored_tat_us: Option<i64>) -> Evaluation {
        let now = i128::from(now_us);
        let tat = stored_tat_us.map_or(now, |stored| i128::from(stored).max(now));
        let new_tat = tat + self.increment_us;
        let allow_at = new_tat + self.allow_offset_us;
        let allowed = allow_at <= now;
        // After the decision the bucket holds `new_tat` if granted, the unchanged `tat` otherwise.
        let tat_after = if allowed { new_tat } else { tat };
        let backlog = tat_after - now;
        let emission = i128::from(self.emission_us);
        let remaining = ((i128::from(self.tolerance_us) - backlog).max(0) / emission)
            .min(i128::from(self.limit));
        let retry_after = if allowed {
            Duration::ZERO
        } else {
            ceil_to_ms(allow_at - now).max(Duration::from_millis(1))
        };
        // Without slack a grant is usable at once; with it, once `allow_at + slack` has passed.
        let wait = if allowed {
            micros(allow_at + self.slack_us - now)
        } else {
            Duration::ZERO
        };
        Evaluation {
            decision: RateDecision {
                allowed,
                limit: self.limit,
                // Clamped to [0, limit] just above, so it fits.
                remaining: u32::try_from(remaining).unwrap_or(0),
                retry_after,
                reset_after: micros(backlog),
            },
            store_tat_us: if allowed && new_tat > now {
                i64::try_from(new_tat).ok()
            } else {
                None
            },
            wait,
        }
    }
}

/// A non-negative µs span as a `Duration` (negative → zero, huge → saturated).
pub(super) fn micros(us: i128) -> Duration {
    Duration::from_micros(u64::try_from(us.max(0)).unwrap_or(u64::MAX))
}

/// Rounds a µs span up to whole milliseconds, so "retry after" is never early.
pub(super) fn ceil_to_ms(us: i128) -> Duration {
    let ms = (us.max(0) + 999) / 1000;
    Duration::from_millis(u64::try_from(ms).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_750_000_000_000_000;

    fn gcra(limit: u32, period: Duration, cost: u32, reserve: u32) -> Gcra {
        Gcra::new(Quota { limit, period }, cost, reserve).unwrap()
    }

    /// Runs `n` requests at the same instant, threading the stored TAT through.
    fn run(g: &Gcra, n: usize, mut stored: Option<i64>) -> (Vec<RateDecision>, Option<i64>) {
        let mut decisions = Vec::new();
        for _ in 0..n {
            let eval = g.evaluate(NOW, stored);
            if let Some(tat) = eval.store_tat_us {
                stored = Some(tat);
            }
            decisions.push(eval.decision);
        }
        (decisions, stored)
    }

    #[test]
    fn a_fresh_key_grants_exactly_limit_with_remaining_counting_down() {
        let g = gcra(5, Duration::from_secs(10), 1, 0);
        let (decisions, _) = run(&g, 6, None);
        let allowed: Vec<bool> = decisions.iter().map(|d| d.allowed).collect();
        assert_eq!(allowed, [true, true, true, true, true, false]);
        let remaining: Vec<u32> = decisions.iter().map(|d| d.remaining).collect();
        assert_eq!(remaining, [4, 3, 2, 1, 0, 0]);
        assert!(decisions[..5].iter().all(|d| d.retry_after.is_zero()));
        // One unit drips back every T = 2 s.
        assert_eq!(decisions[5].retry_after, Duration::from_secs(2));
        assert_eq!(decisions[5].reset_after, Duration::from_secs(10));
        assert_eq!(decisions[0].reset_after, Duration::from_secs(2));
    }

    #[test]
    fn a_period_that_does_not_divide_evenly_still_grants_exactly_limit() {
        for (limit, period) in [
            (3, Duration::from_secs(1)),
            (7, Duration::from_millis(1)),
            (2000, Duration::from_millis(1)),
        ] {
            let g = gcra(limit, period, 1, 0);
            let (decisions, _) = run(&g, limit as usize + 1, None);
            let granted = decisions.iter().filter(|d| d.allowed).count();
            assert_eq!(granted, limit as usize, "{limit} per {period:?}");
        }
    }

    #[test]
    fn a_refused_request_leaves_the_stored_tat_unchanged() {
        let g = gcra(2, Duration::from_secs(1), 1, 0);
        let (_, stored) = run(&g, 2, None);
        let eval = g.evaluate(NOW, stored);
        assert!(!eval.decision.allowed);
        assert_eq!(eval.store_tat_us, None);
    }

    #[test]
    fn time_passing_refills_one_unit_per_emission_interval() {
        let g = gcra(4, Duration::from_secs(4), 1, 0);
        let (_, stored) = run(&g, 4, None);
        let early = g.evaluate(NOW + 999_999, stored);
        assert!(!early.decision.allowed);
        assert_eq!(early.decision.retry_after, Duration::from_millis(1));
        let on_time = g.evaluate(NOW + 1_000_000, stored);
        assert!(on_time.decision.allowed);
        assert_eq!(on_time.decision.remaining, 0);
    }

    #[test]
    fn reserve_keeps_headroom_and_cost_takes_several_units() {
        let g = gcra(10, Duration::from_secs(10), 1, 3);
        let (decisions, stored) = run(&g, 8, None);
        assert_eq!(decisions.iter().filter(|d| d.allowed).count(), 7);
        assert_eq!(decisions[6].remaining, 3);
        // Without the reserve the last three units are still there, and a cost of 3 takes them all.
        let big = gcra(10, Duration::from_secs(10), 3, 0).evaluate(NOW, stored);
        assert!(big.decision.allowed);
        assert_eq!(big.decision.remaining, 0);
    }

    #[test]
    fn a_cost_above_the_limit_is_refused_without_overflow() {
        let g = gcra(1, Duration::from_secs(86_400), u32::MAX, u32::MAX);
        let eval = g.evaluate(NOW, None);
        assert!(!eval.decision.allowed);
        assert!(eval.decision.retry_after > Duration::from_secs(86_400));
        assert_eq!(eval.decision.remaining, 1);
    }

    #[test]
    fn a_booking_grants_units_available_within_its_slack_and_says_how_long_to_wait() {
        // 5 per 5 s: T = 1 s. The bucket is empty after five units.
        let plain = gcra(5, Duration::from_secs(5), 1, 0);
        let (_, stored) = run(&plain, 5, None);
        let booking = |cost, slack_ms| {
            Gcra::booking(
                Quota {
                    limit: 5,
                    period: Duration::from_secs(5),
                },
                cost,
                0,
                Duration::from_millis(slack_ms),
            )
            .unwrap()
        };
        // Three more units are there in 3 s: within a 3 s slack, not within 2.9 s.
        let refused = booking(3, 2_900).evaluate(NOW, stored);
        assert!(!refused.decision.allowed);
        assert_eq!(refused.store_tat_us, None);
        let granted = booking(3, 3_000).evaluate(NOW, stored);
        assert!(granted.decision.allowed);
        assert_eq!(granted.wait, Duration::from_secs(3));
        // The next caller queues behind the booking: one unit is 4 s away now.
        let behind = plain.evaluate(NOW, granted.store_tat_us);
        assert!(!behind.decision.allowed);
        assert_eq!(behind.decision.retry_after, Duration::from_secs(4));
        // A cost above the bucket's size can be booked when the slack covers the difference.
        let big = booking(8, 3_000).evaluate(NOW, None);
        assert!(big.decision.allowed);
        assert_eq!(big.wait, Duration::from_secs(3));
        // A plain acquisition never waits.
        assert_eq!(plain.evaluate(NOW, None).wait, Duration::ZERO);
    }

    #[test]
    fn a_refund_gives_units_back_but_never_more_than_a_full_bucket() {
        let g = gcra(5, Duration::from_secs(5), 1, 0);
        let (_, stored) = run(&g, 5, None);
        let two = gcra(5, Duration::from_secs(5), 2, 0);
        let back = two.refunded(NOW, stored);
        assert_eq!(back, Some(NOW + 3_000_000));
        let (decisions, _) = run(&g, 3, back);
        assert_eq!(decisions.iter().filter(|d| d.allowed).count(), 2);
        // More than was taken: the bucket is just full.
        let many = gcra(5, Duration::from_secs(5), 50, 0);
        assert_eq!(many.refunded(NOW, stored), None);
        assert_eq!(many.refunded(NOW, None), None);
    }

    #[test]
    fn a_zero_cost_is_granted_and_stores_nothing_on_an_empty_bucket() {
        let eval = gcra(1, Duration::from_secs(1), 0, 0).evaluate(NOW, None);
        assert!(eval.decision.allowed);
        assert_eq!(eval.store_tat_us, None);
        assert_eq!(eval.decision.remaining, 1);
    }

    #[test]
    fn a_stale_stored_tat_counts_as_a_full_bucket() {
        let g = gcra(3, Duration::from_secs(3), 1, 0);
        let eval = g.evaluate(NOW, Some(NOW - 10_000_000));
        assert!(eval.decision.allowed);
        assert_eq!(eval.decision.remaining, 2);
    }

    #[test]
    fn an_invalid_quota_is_refused() {
        assert!(
            Gcra::new(
                Quota {
                    limit: 0,
                    period: Duration::from_secs(1)
                },
                1,
                0
            )
            .is_err()
        );
        assert!(
            Gcra::new(
                Quota {
                    limit: 1,
                    period: Duration::ZERO
                },
                1,
                0
            )
            .is_err()
        );
        assert!(
            Gcra::new(
                Quota {
                    limit: 1,
                    period: Duration::from_nanos(999)
                },
                1,
                0
            )
            .is_err()
        );
        assert!(
            Gcra::new(
                Quota {
                    limit: 1,
                    period: Duration::MAX
                },
                1,
                0
            )
            .is_err()
        );
    }
}
