//! The time scheduled work reads: the system clock, which tests and demos can move forward so a
//! reminder due tomorrow is sent now without waiting a day.
//!
//! Only what schedules by wall-clock time (the delivery worker's claims and the notification
//! reminders' due check) reads it; everything else keeps `Utc::now()`.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Duration, Utc};

/// The system clock, plus an offset that only moves forward. Clones share the offset.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    /// Milliseconds added to the system clock.
    offset_ms: Arc<AtomicI64>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self::default()
    }

    /// Now, as scheduled work sees it.
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + Duration::milliseconds(self.offset_ms.load(Ordering::Relaxed))
    }

    /// Moves this clock (and its clones) forward by `by`; a negative `by` is ignored, so
    /// scheduled work never sees time go back.
    pub fn advance(&self, by: Duration) {
        let ms = by.num_milliseconds().max(0);
        self.offset_ms.fetch_add(ms, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_advanced_clock_runs_ahead_in_every_clone_and_never_goes_back() {
        let clock = Clock::system();
        let clone = clock.clone();
        clock.advance(Duration::hours(25));
        assert!(clone.now() - Utc::now() > Duration::hours(24));
        clock.advance(Duration::hours(-30));
        assert!(clone.now() - Utc::now() > Duration::hours(24));
    }
}
