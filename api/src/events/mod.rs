//! The event engine as this service runs it: events rendered in the public API's shapes, and the
//! background work that delivers them and forgets them after their retention.

mod document;
mod render;
mod runtime;

pub use document::WebhookMessages;
pub use render::PublicShapes;
pub use runtime::{EventTasks, spawn_event_tasks};
