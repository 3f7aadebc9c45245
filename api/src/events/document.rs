//! The OpenAPI document's top-level `webhooks` section (OpenAPI 3.1): one entry per event type,
//! describing the `POST` a partner's endpoint receives — the Standard Webhooks headers and the
//! `{"type", "timestamp", "data"}` body whose `data` is the public API's own schema.

use clinicgate_core::events::EventType;
use clinicgate_core::webhooks::{ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use serde_json::{Value, json};
use utoipa::openapi::path::Paths;

/// Adds the `webhooks` section.
#[derive(Debug, Clone, Copy)]
pub struct WebhookMessages;

impl utoipa::Modify for WebhookMessages {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        match serde_json::from_value::<Paths>(webhooks()) {
            Ok(paths) => openapi.webhooks = Some(paths),
            // Built from constants above: a failure is a bug the document tests catch.
            Err(err) => tracing::error!(error = %err, "the webhooks section is malformed"),
        }
    }
}

/// The component schema an event type's `data` has.
fn data_schema(event_type: EventType) -> &'static str {
    match event_type {
        EventType::AppointmentCreated
        | EventType::AppointmentUpdated
        | EventType::AppointmentCancelled
        | EventType::AppointmentPatientArrived
        | EventType::AppointmentDidNotArrive
        | EventType::AppointmentCompleted => "AppointmentOut",
        EventType::PatientCreated | EventType::PatientUpdated => "PatientEventOut",
        EventType::DoctorAvailabilityChanged => "DoctorAvailabilityOut",
        EventType::DoctorQueueUpdated => "DoctorQueueOut",
    }
}

fn header(name: &str, description: &str, example: &str) -> Value {
    json!({
        "name": name,
        "in": "header",
        "required": true,
        "description": description,
        "schema": {"type": "string"},
        "example": example,
    })
}

/// One entry per event type, keyed by the type's wire name.
fn webhooks() -> Value {
    let headers = json!([
        header(
            ID_HEADER,
            "The event's id: the same on every attempt of one event to one endpoint, so a \
             receiver can drop duplicates (delivery is at least once).",
            "0193a6c2-8f1e-7b7a-9c39-2f1d4a7b8e10",
        ),
        header(
            TIMESTAMP_HEADER,
            "When this attempt was signed, in Unix seconds. Receivers reject messages more than \
             five minutes away from their clock.",
            "1767225600",
        ),
        header(
            SIGNATURE_HEADER,
            "`v1,` + base64(HMAC-SHA256(secret, `{webhook-id}.{webhook-timestamp}.{body}`)), \
             the key being the base64 part of the endpoint's `whsec_` secret; several, separated \
             by spaces, while a rotated secret is still valid. Any Standard Webhooks library \
             verifies it.",
            "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=",
        ),
    ]);
    let mut entries = serde_json::Map::new();
    for event_type in EventType::ALL {
        let schema = data_schema(event_type);
        let name = event_type.as_str();
        entries.insert(
            name.to_owned(),
            json!({"post": {
                "tags": ["webhooks"],
                "operationId": format!("webhook_{}", name.replace('.', "_")),
                "summary": event_type.description(),
                "description": format!(
                    "Sent to endpoints subscribed to `{name}` whose client holds `{}`. Retried \
                     on timeouts, connection errors, 408, 409, 425, 429 and 5xx after 5 s, \
                     5 min, 30 min, 2 h, 5 h, 10 h and 10 h; any other answer but 2xx fails at \
                     once. Per-endpoint order is not guaranteed: order by `timestamp` or read \
                     the resource again.",
                    event_type.scope().as_str()
                ),
                "parameters": headers,
                "requestBody": {
                    "required": true,
                    "content": {"application/json": {"schema": {
                        "type": "object",
                        "required": ["type", "timestamp", "data"],
                        "properties": {
                            "type": {"type": "string", "const": name},
                            "timestamp": {
                                "type": "string",
                                "format": "date-time",
                                "description": "When the change happened (or was detected in \
                                                Cliniko)."
                            },
                            "data": {"$ref": format!("#/components/schemas/{schema}")},
                        },
                    }}},
                },
                "responses": {
                    "2XX": {"description": "Received. Answer quickly (within 15 s) and do the \
                                            work afterwards."},
                },
            }}),
        );
    }
    Value::Object(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_type_has_an_entry_that_parses_as_openapi_paths() {
        let paths = serde_json::from_value::<Paths>(webhooks()).expect("valid paths");
        for event_type in EventType::ALL {
            assert!(
                paths.paths.contains_key(event_type.as_str()),
                "{event_type} is documented"
            );
        }
    }
}
