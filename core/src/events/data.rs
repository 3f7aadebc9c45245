//! What an event carries, as domain values. The JSON a subscriber receives is rendered from
//! these by the API layer ([`RenderEvent`]), with the same shapes as the public API's resources,
//! so an event's `data` and a `GET` of the same resource never disagree.

use std::fmt;

use crate::Result;
use crate::booking::BookedAppointment;

/// An event's data.
#[derive(Clone)]
pub enum EventData {
    /// An appointment, in its clinic's time zone (the `appointment.*` events).
    Appointment(BookedAppointment),
}

impl fmt::Debug for EventData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Ids only: the data is PHI.
        match self {
            Self::Appointment(booked) => f
                .debug_tuple("Appointment")
                .field(&booked.appointment.id)
                .finish(),
        }
    }
}

/// Renders event data as the public API's JSON (implemented where the API's resource shapes
/// live).
pub trait RenderEvent: Send + Sync + fmt::Debug {
    /// The JSON `data` of an event.
    ///
    /// # Errors
    /// `Internal` when the data cannot be rendered.
    fn render(&self, data: &EventData) -> Result<serde_json::Value>;
}
