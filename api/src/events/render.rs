//! Event data rendered as the public API renders the same resources, so a webhook's `data` and a
//! `GET` of the resource never disagree.

use clinicgate_core::Result;
use clinicgate_core::error::Error;
use clinicgate_core::events::{EventData, RenderEvent};
use serde::Serialize;

use crate::public::AppointmentOut;

/// Renders [`EventData`] with the public API's response types.
#[derive(Debug, Clone, Copy, Default)]
pub struct PublicShapes;

fn json(value: impl Serialize) -> Result<serde_json::Value> {
    serde_json::to_value(value)
        .map_err(|err| Error::internal(format!("event data is not serialisable: {err}")))
}

impl RenderEvent for PublicShapes {
    fn render(&self, data: &EventData) -> Result<serde_json::Value> {
        match data {
            EventData::Appointment(booked) => json(AppointmentOut::from(booked.clone())),
        }
    }
}
