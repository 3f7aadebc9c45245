//! Tracing set-up: JSON (see [`JsonLines`]) or pretty lines on stderr, level from `RUST_LOG`
//! (default `info`).
//!
//! Lines are handed to a dedicated writer thread in batches (see [`BatchedWriter`]) rather than
//! written by the HTTP worker that logs them: a synchronous write to stderr per request cost about
//! a quarter of an API call's throughput. The writer is not lossy — when its buffer is full,
//! loggers wait — so no line is ever dropped silently. The [`LogGuard`] writes what is waiting
//! when it is dropped, at the end of the process.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::fmt::writer::BoxMakeWriter;

use crate::config::LogFormat;

mod batched;
mod json_lines;

pub use batched::{BatchGuard, BatchedWriter, Limits};
pub use json_lines::{JsonLines, JsonSpanFields};

/// Keeps the log writer thread alive; dropping it writes the waiting lines.
#[must_use = "dropping the guard stops the log writer"]
#[derive(Debug)]
pub struct LogGuard {
    _writer: Option<BatchGuard>,
}

/// Installs the global subscriber (once per process; later calls are ignored) and returns the
/// guard to keep until the process ends.
pub fn init(format: LogFormat) -> LogGuard {
    // sqlx and the HTTP client internals are noisy at info and can echo query text.
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn"));
    // Without a writer thread (the OS refused one) lines are written synchronously instead.
    let (writer, guard) =
        match BatchedWriter::spawn(std::io::stderr(), Limits::default(), "clinicgate-log") {
            Ok((writer, guard)) => (BoxMakeWriter::new(writer), Some(guard)),
            Err(_) => (BoxMakeWriter::new(std::io::stderr), None),
        };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_span_events(FmtSpan::NONE);
    let installed = match format {
        LogFormat::Json => builder
            .fmt_fields(JsonSpanFields)
            .event_format(JsonLines)
            .try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
    if installed.is_err() {
        tracing::debug!("a tracing subscriber was already installed");
        return LogGuard { _writer: None };
    }
    LogGuard { _writer: guard }
}
