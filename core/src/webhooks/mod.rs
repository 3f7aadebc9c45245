//! Webhooks: how ClinicGate signs what it tells partners (the Standard Webhooks scheme).

mod signature;

pub use signature::{
    ID_HEADER, SECRET_PREFIX, SIGNATURE_HEADER, SecretError, TIMESTAMP_HEADER, WebhookSecret,
    signature_header,
};
