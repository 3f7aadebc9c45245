//! Webhooks: partners' endpoints and how ClinicGate signs what it tells them (the Standard
//! Webhooks scheme).
//!
//! - `endpoints`: the delivery machinery's port ([`DeliveryEndpoints`]) and its types;
//! - `store`: the storage port ([`WebhookEndpointRepository`]) and the endpoint as stored;
//! - `service`: [`WebhookEndpointService`], endpoint management for partners and clinics, which
//!   also answers the delivery machinery (`delivery`) and the publisher ([`Subscribers`]);
//! - `history`: an endpoint's deliveries, resend and recovery;
//! - `input`: reading a partner's URL, event types and description;
//! - `signature`: Standard Webhooks signatures.
//!
//! [`Subscribers`]: crate::events::Subscribers

mod delivery;
mod endpoints;
mod history;
mod input;
mod service;
mod signature;
mod store;

pub use endpoints::{
    DISABLE_AFTER_FAILING_FOR, Deliverable, DeliveryEndpoint, DeliveryEndpoints, DisabledReason,
    WebhookEndpointId,
};
pub use history::{EndpointActivity, RECENT};
pub use input::{MAX_DESCRIPTION_CHARS, MAX_URL_LEN};
pub use service::{
    EndpointPatch, EndpointWithSecret, NewEndpointRequest, ROTATION_GRACE, WebhookEndpointService,
};
pub use signature::{
    ID_HEADER, SECRET_PREFIX, SIGNATURE_HEADER, SecretError, TIMESTAMP_HEADER, WebhookSecret,
    signature_header,
};
pub use store::{
    DeliveryView, EndpointChange, NewWebhookEndpoint, Owner, SealedSecrets, Subscription,
    WebhookEndpoint, WebhookEndpointRepository,
};
