//! ClinicGate's own writes to Cliniko as a source of events.
//!
//! A booking, a move or a cancellation made through ClinicGate is told to the change detector
//! the moment Cliniko confirms it, with the record Cliniko answered. The detector diffs it against
//! the last state it saw, exactly as it does a polled record, and commits the events with the new
//! snapshot in one database transaction: so the partner hears at once, and the poller, seeing
//! the same record later, has nothing left to announce. Cliniko is not part of that transaction;
//! if this instance dies between Cliniko's answer and the commit, the poller finds the change
//! unannounced and publishes it — late, never lost, never twice.

use std::fmt;

use async_trait::async_trait;

use crate::Result;
use crate::booking::BookedAppointment;
use crate::ids::TenantId;

/// Where ClinicGate's own writes are announced.
#[async_trait]
pub trait OwnWrites: Send + Sync + fmt::Debug {
    /// An appointment as Cliniko holds it after ClinicGate booked or changed it.
    ///
    /// # Errors
    /// `Unavailable` when the events could not be stored (the poller will publish them).
    async fn appointment_written(
        &self,
        tenant: TenantId,
        appointment: &BookedAppointment,
    ) -> Result<()>;
}
