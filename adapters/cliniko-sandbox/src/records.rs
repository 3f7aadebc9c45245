//! The sandbox's records: Cliniko's JSON fields kept as they are sent, plus the related records
//! (which Cliniko renders as `{"links": {"self": URL}}`) kept as ids, so filters like
//! `patient_id:=…` work and links are rendered absolute against the request's host.

use serde_json::{Map, Value, json};

/// A related record: rendered as `"{name}": {"links": {"self": "{base}/{collection}/{id}"}}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ref {
    /// The JSON key (`patient`).
    pub name: &'static str,
    /// The collection path (`patients`).
    pub collection: &'static str,
    /// The related record's id.
    pub id: i64,
}

/// One record of a collection.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Record {
    /// Cliniko's id (above 2^53, rendered as a string).
    pub id: i64,
    /// The plain fields, as Cliniko sends them.
    pub fields: Map<String, Value>,
    /// Related records.
    pub refs: Vec<Ref>,
}

impl Record {
    /// A record with `fields` (a JSON object; anything else gives no fields).
    pub(crate) fn new(id: i64, fields: Value, refs: Vec<Ref>) -> Self {
        let fields = match fields {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        Self { id, fields, refs }
    }

    /// The id of the related record called `name`.
    pub(crate) fn ref_id(&self, name: &str) -> Option<i64> {
        self.refs.iter().find(|r| r.name == name).map(|r| r.id)
    }

    /// Points the relation `name` at `id` (adding it if missing).
    pub(crate) fn set_ref(&mut self, name: &'static str, collection: &'static str, id: i64) {
        match self.refs.iter_mut().find(|r| r.name == name) {
            Some(existing) => existing.id = id,
            None => self.refs.push(Ref {
                name,
                collection,
                id,
            }),
        }
    }

    /// A field as text (`None` for null, absent or not a string).
    pub(crate) fn text(&self, field: &str) -> Option<&str> {
        self.fields.get(field).and_then(Value::as_str)
    }

    /// Whether a timestamp field is set.
    pub(crate) fn is_set(&self, field: &str) -> bool {
        self.text(field).is_some_and(|text| !text.is_empty())
    }

    /// The JSON Cliniko would send, with absolute links under `base` (`http://host/shard/v1`).
    pub(crate) fn render(&self, base: &str, collection: &str) -> Value {
        let mut out = self.fields.clone();
        out.insert("id".into(), Value::String(self.id.to_string()));
        for r in &self.refs {
            out.insert(
                r.name.into(),
                json!({"links": {"self": format!("{base}/{}/{}", r.collection, r.id)}}),
            );
        }
        out.insert(
            "links".into(),
            json!({"self": format!("{base}/{collection}/{}", self.id)}),
        );
        Value::Object(out)
    }
}
