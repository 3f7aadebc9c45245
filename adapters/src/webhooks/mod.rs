//! Webhook delivery: one signed Standard Webhooks message POSTed through the outbound guard
//! ([`send_signed`]), and the delivery machinery's sender for webhook endpoints
//! ([`WebhookSender`]).

mod sender;

pub(crate) use sender::HOLD_UNREADABLE;
pub use sender::{HOLD_PAUSED, REQUEST_TIMEOUT, WebhookSender, message_body, send_signed};
