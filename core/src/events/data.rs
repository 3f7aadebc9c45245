//! What an event carries, as domain values. The JSON a subscriber receives is rendered from
//! these by the API layer ([`RenderEvent`]), with the same shapes as the public API's resources,
//! so an event's `data` and a `GET` of the same resource never disagree.

use std::fmt;

use super::detected::{AvailabilityChange, DoctorQueue, PatientRecord};
use crate::Result;
use crate::booking::BookedAppointment;

/// An event's data.
#[derive(Clone)]
pub enum EventData {
    /// An appointment, in its clinic's time zone (the `appointment.*` events).
    Appointment(BookedAppointment),
    /// A patient as subscribers see it (the `patient.*` events).
    Patient(PatientRecord),
    /// A doctor's bookable time changed (`doctor.availability_changed`).
    DoctorAvailability(AvailabilityChange),
    /// A doctor's queue for a day (`doctor.queue_updated`).
    DoctorQueue(DoctorQueue),
}

impl fmt::Debug for EventData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Ids only: the data is PHI.
        match self {
            Self::Appointment(booked) => f
                .debug_tuple("Appointment")
                .field(&booked.appointment.id)
                .finish(),
            Self::Patient(patient) => f.debug_tuple("Patient").field(&patient.id).finish(),
            Self::DoctorAvailability(change) => f
                .debug_tuple("DoctorAvailability")
                .field(&change.doctor_id)
                .finish(),
            Self::DoctorQueue(queue) => f
                .debug_tuple("DoctorQueue")
                .field(&queue.doctor_id)
                .field(&queue.day)
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
