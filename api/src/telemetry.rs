//! Tracing set-up: JSON (see [`JsonLines`]) or pretty lines on stderr, level from `RUST_LOG`
//! (default `info`).
//!
//! Lines are handed to a dedicated writer thread (`tracing-appender`'s non-blocking writer)
//! rather than written by the HTTP worker that logs them: a synchronous write to stderr per
//! request cost about a quarter of an API call's throughput. The writer is not lossy — when its
//! queue is full, loggers wait — so no line is ever dropped silently. The [`LogGuard`] flushes
//! what is queued when it is dropped, at the end of the process.

use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

use crate::config::LogFormat;

mod json_lines;

pub use json_lines::{JsonLines, JsonSpanFields};

/// Lines waiting for the writer thread before loggers have to wait for it.
const QUEUED_LINES: usize = 16 * 1024;

/// Keeps the log writer thread alive; dropping it flushes the queued lines.
#[must_use = "dropping the guard stops the log writer"]
#[derive(Debug)]
pub struct LogGuard {
    _writer: Option<WorkerGuard>,
}

/// Installs the global subscriber (once per process; later calls are ignored) and returns the
/// guard to keep until the process ends.
pub fn init(format: LogFormat) -> LogGuard {
    // sqlx and the HTTP client internals are noisy at info and can echo query text.
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn"));
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(false)
        .buffered_lines_limit(QUEUED_LINES)
        .thread_name("clinicgate-log")
        .finish(std::io::stderr());
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
    LogGuard {
        _writer: Some(guard),
    }
}
