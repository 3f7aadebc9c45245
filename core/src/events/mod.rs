//! ClinicGate's events: what changed in a clinic's Cliniko or through ClinicGate, which every
//! outbound kind (webhooks, FHIR push, partner sync, notifications) subscribes to.

mod data;
mod detected;
mod own_writes;
mod publish;
mod types;

pub use data::{EventData, RenderEvent};
pub use detected::{
    AvailabilityChange, DoctorQueue, PatientPhone, PatientRecord, QueueEntry, QueueStatus,
};
pub use own_writes::OwnWrites;
pub use publish::{DEFAULT_RETENTION, EventPublisher, NewEvent, PreparedEvent, Subscribers};
pub use types::EventType;
