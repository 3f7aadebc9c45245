//! JSON log lines in the shape of tracing-subscriber's `json()` with flattened events and the
//! current span: `{"timestamp", "level", <the event's fields>, "target", "span": {<its fields>,
//! "name"}}`, written straight into the line.
//!
//! Written here because both well-kept JSON formatters cost too much per line: measured with
//! `perf` on the request line every request logs, tracing-subscriber's `json()` took about a fifth
//! of an authenticated API call (it re-parses the span's stored JSON for every event), and
//! json-subscriber over a third (it builds a map per event). This writes each field once. Strings
//! are escaped by serde_json.

use std::fmt::{self, Write as _};

use chrono::{SecondsFormat, Utc};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// Formats events as JSON lines (see the module docs).
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonLines;

/// Formats span fields as `"key":value` pairs, comma-separated, for [`JsonLines`] to embed.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonSpanFields;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut line = Vec::with_capacity(320);
        line.extend_from_slice(b"{\"timestamp\":");
        push_json_str(
            &mut line,
            &Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true),
        );
        line.extend_from_slice(b",\"level\":");
        push_json_str(&mut line, meta.level().as_str());
        event.record(&mut Fields::new(&mut line, true));
        line.extend_from_slice(b",\"target\":");
        push_json_str(&mut line, meta.target());
        if let Some(span) = ctx.lookup_current() {
            line.extend_from_slice(b",\"span\":{");
            if let Some(fields) = span.extensions().get::<FormattedFields<N>>()
                && !fields.fields.is_empty()
            {
                line.extend_from_slice(fields.fields.as_bytes());
                line.push(b',');
            }
            line.extend_from_slice(b"\"name\":");
            push_json_str(&mut line, span.name());
            line.push(b'}');
        }
        line.extend_from_slice(b"}\n");
        writer.write_str(std::str::from_utf8(&line).map_err(|_| fmt::Error)?)
    }
}

impl<'writer> FormatFields<'writer> for JsonSpanFields {
    fn format_fields<R: RecordFields>(
        &self,
        mut writer: Writer<'writer>,
        fields: R,
    ) -> fmt::Result {
        let mut pairs = Vec::new();
        fields.record(&mut Fields::new(&mut pairs, false));
        writer.write_str(std::str::from_utf8(&pairs).map_err(|_| fmt::Error)?)
    }

    fn add_fields(
        &self,
        current: &'writer mut FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> fmt::Result {
        let mut pairs = Vec::new();
        fields.record(&mut Fields::new(&mut pairs, !current.fields.is_empty()));
        current
            .fields
            .push_str(std::str::from_utf8(&pairs).map_err(|_| fmt::Error)?);
        Ok(())
    }
}

/// Writes each visited field as `"name":value`, separated by commas.
struct Fields<'a> {
    line: &'a mut Vec<u8>,
    /// Whether a comma goes before the next pair.
    comma: bool,
    /// Reused for fields that are formatted with `Debug` (messages, `%`/`?` values).
    scratch: String,
}

impl<'a> Fields<'a> {
    fn new(line: &'a mut Vec<u8>, comma: bool) -> Self {
        Self {
            line,
            comma,
            scratch: String::new(),
        }
    }

    fn key(&mut self, field: &Field) {
        if self.comma {
            self.line.push(b',');
        }
        self.comma = true;
        push_json_str(self.line, field.name());
        self.line.push(b':');
    }

    fn number(&mut self, field: &Field, value: impl fmt::Display) {
        self.key(field);
        self.scratch.clear();
        // Writing to a String cannot fail.
        let _ = write!(self.scratch, "{value}");
        self.line.extend_from_slice(self.scratch.as_bytes());
    }
}

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.key(field);
        push_json_str(self.line, value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.scratch.clear();
        let _ = write!(self.scratch, "{value:?}");
        self.key(field);
        push_json_str(self.line, &self.scratch);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.number(field, value);
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.number(field, value);
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        self.number(field, value);
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        self.number(field, value);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.number(field, value);
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        if value.is_finite() {
            self.number(field, value);
        } else {
            // JSON has no NaN or infinity.
            self.number(field, "null");
        }
    }
}

/// Appends `value` as a JSON string (quoted and escaped).
fn push_json_str(line: &mut Vec<u8>, value: &str) {
    // Serialising a `&str` into a `Vec` cannot fail.
    let _ = serde_json::to_writer(line, value);
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::{Arc, Mutex, PoisonError};

    use serde_json::{Value, json};
    use tracing_subscriber::fmt::MakeWriter;

    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Buffer {
        type Writer = Self;

        fn make_writer(&'a self) -> Self {
            self.clone()
        }
    }

    fn lines(emit: impl FnOnce()) -> Vec<Value> {
        let buffer = Buffer::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(buffer.clone())
            .fmt_fields(JsonSpanFields)
            .event_format(JsonLines)
            .finish();
        tracing::subscriber::with_default(subscriber, emit);
        let bytes = buffer.0.lock().unwrap().clone();
        String::from_utf8(bytes)
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    #[test]
    fn events_are_flat_json_with_their_span() {
        let logged = lines(|| {
            let span = tracing::info_span!(
                "request",
                request_id = "r-1",
                tenant_id = tracing::field::Empty
            );
            span.record("tenant_id", "t-9");
            let _entered = span.enter();
            tracing::warn!(
                status = 503_u16,
                latency_ms = 1.5,
                ratio = f64::NAN,
                ok = false,
                delta = -3_i64,
                quoted = "say \"hi\"\n",
                shown = %"display",
                "shared store down"
            );
        });
        assert_eq!(logged.len(), 1);
        let line = &logged[0];
        assert!(line["timestamp"].as_str().unwrap().ends_with('Z'));
        assert_eq!(line["level"], "WARN");
        assert_eq!(line["message"], "shared store down");
        assert_eq!(line["status"], 503);
        assert_eq!(line["latency_ms"], 1.5);
        assert_eq!(line["ratio"], Value::Null);
        assert_eq!(line["ok"], false);
        assert_eq!(line["delta"], -3);
        assert_eq!(line["quoted"], "say \"hi\"\n");
        assert_eq!(line["shown"], "display");
        assert_eq!(line["target"], module_path!());
        assert_eq!(
            line["span"],
            json!({"request_id": "r-1", "tenant_id": "t-9", "name": "request"})
        );
    }

    #[test]
    fn events_outside_spans_have_no_span() {
        let logged = lines(|| tracing::info!(route = "/healthz", "request served"));
        assert_eq!(logged[0]["route"], "/healthz");
        assert!(logged[0].get("span").is_none());
    }
}
