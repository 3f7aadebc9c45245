//! When a failed delivery is tried again.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;

use super::outcome::Verdict;
use super::queue::Next;

/// The pauses before each retry of the documented schedule: after the first failed attempt
/// 5 s, then 5 min, 30 min, 2 h, 5 h, 10 h and 10 h; a delivery whose eighth attempt fails has
/// failed (about 28 hours after it was first tried).
pub const STANDARD_DELAYS: [Duration; 7] = [
    Duration::from_secs(5),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(5 * 3600),
    Duration::from_secs(10 * 3600),
    Duration::from_secs(10 * 3600),
];

/// The longest `Retry-After` honoured: a receiver asking for more is retried after this.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(10 * 3600);

/// How far a pause may move either way (±20 %), so that deliveries that failed together (a
/// receiver's outage) do not all come back in the same second.
const JITTER: f64 = 0.2;

/// A retry schedule: the pause before each retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule {
    delays: Vec<Duration>,
}

impl Default for RetrySchedule {
    fn default() -> Self {
        Self::new(STANDARD_DELAYS.to_vec())
    }
}

impl RetrySchedule {
    /// A schedule of `delays` (tests and demos shorten the standard one).
    pub fn new(delays: Vec<Duration>) -> Self {
        Self { delays }
    }

    /// How many attempts a delivery gets in all.
    pub fn max_attempts(&self) -> u32 {
        u32::try_from(self.delays.len()).map_or(u32::MAX, |retries| retries.saturating_add(1))
    }

    /// The pause before the next attempt after `failed_attempts` attempts (from 1) have failed, or
    /// `None` when the schedule is exhausted. The pause is the schedule's, jittered, but never
    /// shorter than the receiver's `retry_after` (up to [`MAX_RETRY_AFTER`]): a receiver that asks
    /// for more time gets it, and one that answers `Retry-After: 0` is not hammered.
    pub fn next_delay(
        &self,
        failed_attempts: u32,
        retry_after: Option<Duration>,
        rng: &mut impl Rng,
    ) -> Option<Duration> {
        let index = usize::try_from(failed_attempts.checked_sub(1)?).ok()?;
        let base = *self.delays.get(index)?;
        let jittered = base.mul_f64(1.0 + rng.random_range(-JITTER..=JITTER));
        Some(match retry_after {
            Some(asked) => jittered.max(asked.min(MAX_RETRY_AFTER)),
            None => jittered,
        })
    }
}

impl RetrySchedule {
    /// What follows attempt number `attempts_made` (from 1), judged `verdict`, made at `now`.
    pub fn next(
        &self,
        attempts_made: u32,
        verdict: Verdict,
        now: DateTime<Utc>,
        rng: &mut impl Rng,
    ) -> Next {
        match verdict {
            Verdict::Delivered => Next::Delivered,
            Verdict::Fail => Next::Failed,
            Verdict::Retry { retry_after } => self
                .next_delay(attempts_made, retry_after, rng)
                .and_then(|delay| chrono::Duration::from_std(delay).ok())
                .map_or(Next::Failed, |delay| Next::RetryAt(now + delay)),
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng as _;
    use rand::rngs::StdRng;

    use super::*;

    #[test]
    fn the_standard_schedule_gives_eight_attempts_with_jittered_pauses() {
        let schedule = RetrySchedule::default();
        assert_eq!(schedule.max_attempts(), 8);
        let mut rng = StdRng::seed_from_u64(7);
        for (failed, base) in (1..).zip(STANDARD_DELAYS) {
            for _ in 0..200 {
                let delay = schedule.next_delay(failed, None, &mut rng).unwrap();
                assert!(
                    delay >= base.mul_f64(0.8) && delay <= base.mul_f64(1.2),
                    "{delay:?}"
                );
            }
        }
        assert_eq!(schedule.next_delay(8, None, &mut rng), None);
        assert_eq!(schedule.next_delay(0, None, &mut rng), None);
    }

    #[test]
    fn a_retryable_failure_is_due_again_until_the_schedule_runs_out() {
        let schedule = RetrySchedule::new(vec![Duration::from_secs(10)]);
        let mut rng = StdRng::seed_from_u64(5);
        let now = Utc::now();
        let retry = Verdict::Retry { retry_after: None };
        match schedule.next(1, retry, now, &mut rng) {
            Next::RetryAt(at) => {
                let wait = (at - now).num_milliseconds();
                assert!((8_000..=12_000).contains(&wait), "{wait}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(schedule.next(2, retry, now, &mut rng), Next::Failed);
        assert_eq!(schedule.next(1, Verdict::Fail, now, &mut rng), Next::Failed);
        assert_eq!(
            schedule.next(1, Verdict::Delivered, now, &mut rng),
            Next::Delivered
        );
    }

    #[test]
    fn jitter_spreads_pauses_rather_than_repeating_one() {
        let schedule = RetrySchedule::default();
        let mut rng = StdRng::seed_from_u64(1);
        let delays: std::collections::BTreeSet<_> = (0..50)
            .map(|_| schedule.next_delay(1, None, &mut rng).unwrap())
            .collect();
        assert!(delays.len() > 40);
    }

    #[test]
    fn retry_after_lengthens_a_pause_within_bounds_and_never_shortens_it() {
        let schedule = RetrySchedule::default();
        let mut rng = StdRng::seed_from_u64(3);
        let asked = Duration::from_secs(600);
        assert_eq!(schedule.next_delay(1, Some(asked), &mut rng), Some(asked));
        let zero = schedule
            .next_delay(1, Some(Duration::ZERO), &mut rng)
            .unwrap();
        assert!(zero >= Duration::from_secs(4));
        let huge = Duration::from_secs(7 * 24 * 3600);
        assert_eq!(
            schedule.next_delay(1, Some(huge), &mut rng),
            Some(MAX_RETRY_AFTER)
        );
    }
}
