//! A clinic's use of its Cliniko budget, as the UI shows it.

use std::time::Duration;

use super::Lane;

/// How a clinic is using its Cliniko budget, the same on every instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClinikoUsage {
    /// Sustained calls allowed per minute.
    pub budget_per_minute: u32,
    /// Calls that could go right now without waiting.
    pub available_now: u32,
    /// Time left on a pause imposed by a Cliniko 429, if any.
    pub paused_for: Option<Duration>,
    /// One entry per lane, highest priority first.
    pub lanes: Vec<LaneUsage>,
}

/// One lane's calls in the current and the previous clock minute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaneUsage {
    /// The lane.
    pub lane: Lane,
    /// Calls sent to Cliniko this minute.
    pub sent_this_minute: u64,
    /// Calls sent to Cliniko in the previous minute.
    pub sent_last_minute: u64,
    /// Calls our budget refused (never sent) this minute.
    pub refused_this_minute: u64,
    /// Calls our budget refused in the previous minute.
    pub refused_last_minute: u64,
}
