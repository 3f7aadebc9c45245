//! Webhooks: partners' endpoints and how ClinicGate signs what it tells them (the Standard
//! Webhooks scheme).

mod endpoints;
mod signature;

pub use endpoints::{
    DISABLE_AFTER_FAILING_FOR, Deliverable, DeliveryEndpoint, DeliveryEndpoints, DisabledReason,
    WebhookEndpointId,
};
pub use signature::{
    ID_HEADER, SECRET_PREFIX, SIGNATURE_HEADER, SecretError, TIMESTAMP_HEADER, WebhookSecret,
    signature_header,
};
