//! The sandbox's rate limit: per key, a true sliding window (the instants of the calls accepted
//! in the last `window`), as strict as Cliniko's "200 per minute". Refused calls are not counted.
//! It also records, per account, how many calls were accepted and refused and the most accepted
//! in any one window, so benchmarks can check they never exceeded the limit.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// What a caller is told when refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Refusal {
    /// `X-RateLimit-Reset`: UNIX seconds when a call will be accepted again (rounded up).
    pub reset_epoch_secs: u64,
}

/// Per-account counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct KeyStats {
    /// Calls accepted.
    pub accepted: u64,
    /// Calls answered 429.
    pub rate_limited: u64,
    /// The most calls accepted within any one window.
    pub peak_in_window: usize,
}

/// Sliding windows per key.
#[derive(Debug)]
pub(crate) struct SlidingWindows {
    limit: usize,
    window: Duration,
    calls: HashMap<String, VecDeque<Instant>>,
    stats: HashMap<String, KeyStats>,
}

impl SlidingWindows {
    /// `limit` calls per `window` for every key.
    pub(crate) fn new(limit: u32, window: Duration) -> Self {
        Self {
            limit: usize::try_from(limit).unwrap_or(usize::MAX),
            window,
            calls: HashMap::new(),
            stats: HashMap::new(),
        }
    }

    /// Accepts (and counts) a call for `key`, or refuses it with the reset time. `account`
    /// names the statistics.
    pub(crate) fn admit(&mut self, key: &str, account: &str) -> Result<(), Refusal> {
        let now = Instant::now();
        let calls = self.calls.entry(key.to_owned()).or_default();
        while calls
            .front()
            .is_some_and(|first| now.duration_since(*first) >= self.window)
        {
            calls.pop_front();
        }
        let stats = self.stats.entry(account.to_owned()).or_default();
        if calls.len() >= self.limit {
            stats.rate_limited += 1;
            let oldest = calls.front().copied().unwrap_or(now);
            let free_in = self.window.saturating_sub(now.duration_since(oldest));
            let at = SystemTime::now() + free_in;
            let since_epoch = at.duration_since(UNIX_EPOCH).unwrap_or_default();
            let reset = since_epoch.as_secs() + u64::from(since_epoch.subsec_nanos() > 0);
            return Err(Refusal {
                reset_epoch_secs: reset,
            });
        }
        calls.push_back(now);
        stats.accepted += 1;
        stats.peak_in_window = stats.peak_in_window.max(calls.len());
        Ok(())
    }

    /// The counts so far, by account.
    pub(crate) fn stats(&self) -> HashMap<String, KeyStats> {
        self.stats.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_beyond_the_limit_are_refused_until_the_window_slides() {
        let mut windows = SlidingWindows::new(2, Duration::from_millis(200));
        assert!(windows.admit("k", "A").is_ok());
        assert!(windows.admit("k", "A").is_ok());
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let refusal = windows.admit("k", "A").unwrap_err();
        // The oldest call leaves the window within 200 ms; the reset is that instant rounded up.
        let reset = Duration::from_secs(refusal.reset_epoch_secs);
        assert!(
            reset > now && reset < now + Duration::from_millis(1300),
            "{reset:?} vs {now:?}"
        );
        assert!(windows.admit("other", "B").is_ok(), "keys are independent");
        std::thread::sleep(Duration::from_millis(210));
        assert!(windows.admit("k", "A").is_ok());
        let stats = windows.stats()["A"].clone();
        assert_eq!(
            (stats.accepted, stats.rate_limited, stats.peak_in_window),
            (3, 1, 2)
        );
    }
}
