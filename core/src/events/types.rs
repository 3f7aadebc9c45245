//! The kinds of event ClinicGate tells partners about, and what a partner must hold to hear them.

use std::fmt;

use crate::tokens::Scope;

/// A kind of event. The string forms are a public contract (webhook `type`, subscriptions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EventType {
    /// An appointment was booked.
    AppointmentCreated,
    /// An appointment's time, doctor, type or notes changed.
    AppointmentUpdated,
    /// An appointment was cancelled.
    AppointmentCancelled,
    /// The patient of an appointment arrived.
    AppointmentPatientArrived,
    /// The patient of an appointment did not arrive.
    AppointmentDidNotArrive,
    /// An appointment ended and its patient had arrived.
    AppointmentCompleted,
    /// A patient was created.
    PatientCreated,
    /// A patient's details changed.
    PatientUpdated,
    /// A doctor's bookable slots in the next 14 days changed (coalesced per doctor per minute).
    DoctorAvailabilityChanged,
    /// A doctor's queue for a day changed: who has arrived, in order, and who is being seen.
    DoctorQueueUpdated,
}

impl EventType {
    /// Every event type, in a stable order.
    pub const ALL: [Self; 10] = [
        Self::AppointmentCreated,
        Self::AppointmentUpdated,
        Self::AppointmentCancelled,
        Self::AppointmentPatientArrived,
        Self::AppointmentDidNotArrive,
        Self::AppointmentCompleted,
        Self::PatientCreated,
        Self::PatientUpdated,
        Self::DoctorAvailabilityChanged,
        Self::DoctorQueueUpdated,
    ];

    /// The wire form, e.g. `appointment.created`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::AppointmentCreated => "appointment.created",
            Self::AppointmentUpdated => "appointment.updated",
            Self::AppointmentCancelled => "appointment.cancelled",
            Self::AppointmentPatientArrived => "appointment.patient_arrived",
            Self::AppointmentDidNotArrive => "appointment.did_not_arrive",
            Self::AppointmentCompleted => "appointment.completed",
            Self::PatientCreated => "patient.created",
            Self::PatientUpdated => "patient.updated",
            Self::DoctorAvailabilityChanged => "doctor.availability_changed",
            Self::DoctorQueueUpdated => "doctor.queue_updated",
        }
    }

    /// Parses the wire form.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == raw)
    }

    /// The scope a client must hold for its endpoints to receive this type: an event carries
    /// the same data as the API resource it is about, so it needs the scope that reads it.
    pub const fn scope(self) -> Scope {
        match self {
            Self::AppointmentCreated
            | Self::AppointmentUpdated
            | Self::AppointmentCancelled
            | Self::AppointmentPatientArrived
            | Self::AppointmentDidNotArrive
            | Self::AppointmentCompleted => Scope::AppointmentsRead,
            Self::PatientCreated | Self::PatientUpdated => Scope::PatientsRead,
            Self::DoctorAvailabilityChanged | Self::DoctorQueueUpdated => Scope::DoctorsRead,
        }
    }

    /// One sentence for the catalogue (`GET /api/public/event-types`) and the OpenAPI document.
    pub const fn description(self) -> &'static str {
        match self {
            Self::AppointmentCreated => {
                "An appointment was booked, through ClinicGate or in Cliniko."
            }
            Self::AppointmentUpdated => "An appointment's time, doctor, type or notes changed.",
            Self::AppointmentCancelled => "An appointment was cancelled.",
            Self::AppointmentPatientArrived => "The patient of an appointment was marked arrived.",
            Self::AppointmentDidNotArrive => {
                "The patient of an appointment was marked as not arrived."
            }
            Self::AppointmentCompleted => "An appointment ended and its patient had arrived.",
            Self::PatientCreated => "A patient was created, through ClinicGate or in Cliniko.",
            Self::PatientUpdated => "A patient's details changed.",
            Self::DoctorAvailabilityChanged => {
                "A doctor's bookable slots in the next 14 days changed (a booking, a cancellation \
                 or a change of availability); at most one per doctor per minute."
            }
            Self::DoctorQueueUpdated => {
                "A doctor's queue for a day changed: the patients who have arrived, in arrival \
                 order, and the one being seen."
            }
        }
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_round_trips_through_its_wire_form_and_names_are_unique() {
        let mut names: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
        for event_type in EventType::ALL {
            assert_eq!(EventType::parse(event_type.as_str()), Some(event_type));
            assert_eq!(event_type.to_string(), event_type.as_str());
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), EventType::ALL.len());
        assert_eq!(EventType::parse("appointment.deleted"), None);
        assert_eq!(EventType::parse("Appointment.Created"), None);
    }

    #[test]
    fn each_type_needs_the_scope_that_reads_its_data() {
        assert_eq!(
            EventType::AppointmentCancelled.scope(),
            Scope::AppointmentsRead
        );
        assert_eq!(EventType::PatientCreated.scope(), Scope::PatientsRead);
        assert_eq!(EventType::DoctorQueueUpdated.scope(), Scope::DoctorsRead);
    }
}
