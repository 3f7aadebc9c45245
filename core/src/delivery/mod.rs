//! The one delivery machinery every outbound kind (webhooks, FHIR push, partner sync,
//! notifications) shares: how an attempt's result is judged and when a failed delivery is tried
//! again, and a target's delivery history with resend and recovery. Each kind only says how to
//! build and send its request.

mod history;
mod outcome;
mod queue;
mod schedule;
mod worker;

pub use history::{
    DEFAULT_HISTORY_PAGE, DeliveryHistory, DeliveryRecord, HistoryFilter, HistoryPage,
    MAX_HISTORY_PAGE, MAX_RECOVERED, Recovered, Resend, StatusCounts, history_page,
};
pub use outcome::{AttemptResult, NOTHING_TO_SEND, TransportFailure, Verdict};
pub use queue::{
    AttemptRecord, Attempted, Claimed, Delivery, DeliveryId, DeliveryQueue, DeliveryStatus,
    EventId, LeaseId, Next, OutboundKind, QueueStats, RESPONSE_EXCERPT_BYTES, StoredEvent, Target,
    response_excerpt,
};
pub use schedule::{MAX_RETRY_AFTER, RetrySchedule, STANDARD_DELAYS};
pub use worker::{
    DeliveryWorker, EventMessage, Prepared, SendOutcome, Sender, Sent, WorkerSettings,
};
