//! Event data rendered as the public API renders the same resources, so a webhook's `data` and a
//! `GET` of the resource never disagree.

use clinicgate_core::Result;
use clinicgate_core::events::{EventData, RenderEvent};

/// Renders [`EventData`] with the public API's response types (`public::render_event`).
#[derive(Debug, Clone, Copy, Default)]
pub struct PublicShapes;

impl RenderEvent for PublicShapes {
    fn render(&self, data: &EventData) -> Result<serde_json::Value> {
        crate::public::render_event(data)
    }
}
