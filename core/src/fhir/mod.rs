//! FHIR R4 resources built from Cliniko records: the pure mapping (no HTTP, no I/O) that the
//! `/fhir/r4` facade serves and the FHIR push sends to clinics' own FHIR servers, so both always
//! show a record the same way. The mapping table is in `docs/fhir.md`.

mod appointment;
mod patient;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{Value, json};

use crate::cliniko::ClinikoId;

pub use appointment::{
    STATUSES as APPOINTMENT_STATUSES, appointment, status as appointment_status,
};
pub use patient::{PatientResource, patient};

/// A FHIR resource as a Bundle entry needs it: serialisable, with the type and id its
/// `fullUrl` is made of. Resources built as JSON trees and typed ones (the searchset's
/// patients) share one Bundle this way.
pub trait Resource: serde::Serialize {
    /// `resourceType`.
    fn resource_type(&self) -> &str;
    /// The resource's logical id.
    fn id(&self) -> &str;
}

impl Resource for Value {
    fn resource_type(&self) -> &str {
        self["resourceType"].as_str().unwrap_or("")
    }

    fn id(&self) -> &str {
        self["id"].as_str().unwrap_or("")
    }
}

/// The identifier system of a kind of Cliniko record (`patient`, `practitioner`, …): stable
/// across installations, so a partner can match records however it reached them.
pub fn system(kind: &str) -> String {
    format!("https://clinicgate.dev/fhir/sid/cliniko-{kind}-id")
}

/// The identifier carrying a record's Cliniko id.
pub fn identifier(kind: &str, id: &ClinikoId) -> Value {
    json!([Identifier::of(kind, id)])
}

/// A record's Cliniko id as a FHIR `Identifier`: the one shape [`identifier`] and the typed
/// resources both write.
#[derive(Debug, Serialize)]
pub(crate) struct Identifier<'a> {
    #[serde(rename = "use")]
    purpose: &'static str,
    system: String,
    value: &'a str,
}

impl<'a> Identifier<'a> {
    /// The identifier of the Cliniko record of `kind` with `id`.
    pub(crate) fn of(kind: &str, id: &'a ClinikoId) -> Self {
        Self {
            purpose: "official",
            system: system(kind),
            value: id.as_str(),
        }
    }
}

/// FHIR's `instant`: UTC, whole seconds, `Z`.
pub fn instant(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// `meta` from Cliniko's `updated_at`: the version is the change time, so an `ETag` changes
/// whenever Cliniko's record does.
pub fn meta(updated_at: Option<DateTime<Utc>>) -> Value {
    match Meta::of(updated_at) {
        Some(meta) => json!(meta),
        None => json!({}),
    }
}

/// `meta` as [`meta`] and the typed resources write it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Meta {
    version_id: String,
    last_updated: String,
}

impl Meta {
    /// The `meta` of a record changed at `updated_at`; none without a change time.
    pub(crate) fn of(updated_at: Option<DateTime<Utc>>) -> Option<Self> {
        updated_at.map(|at| Self {
            version_id: at.timestamp().to_string(),
            last_updated: instant(at),
        })
    }
}

/// A non-empty string, or nothing (FHIR strings may not be empty).
pub fn text(value: Option<&str>) -> Option<String> {
    trimmed(value).map(str::to_owned)
}

/// [`text`] borrowed from `value`.
pub fn trimmed(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

/// Drops `null`s and empty arrays and objects from a resource (FHIR allows none of them).
pub fn prune(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, prune(v)))
                .filter(|(_, v)| !is_empty(v))
                .collect(),
        ),
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(prune)
                .filter(|v| !is_empty(v))
                .collect(),
        ),
        other => other,
    }
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Array(items) => items.is_empty(),
        Value::Object(map) => map.is_empty(),
        _ => false,
    }
}
