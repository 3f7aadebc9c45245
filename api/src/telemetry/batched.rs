//! A log writer that hands lines to one writer thread in batches.
//!
//! Written here because tracing-appender's non-blocking writer wakes its thread for nearly every
//! line under load: the thread drains the channel faster than lines arrive, blocks, and the next
//! line's send wakes it again. Measured on the public-API benchmark that was one wake-up and one
//! `write(2)` per request — tens of thousands of context switches a second on the cores the HTTP
//! workers need, which showed up in the latency tail. Here loggers append whole lines to a shared
//! buffer and wake the writer only when the buffer was empty (so a quiet server's lines still
//! appear within [`Limits::linger`]) or has grown past [`Limits::wake_at`]; the writer lets lines
//! gather for up to `linger` and writes them with one call.
//!
//! Never lossy: when [`Limits::capacity`] bytes are waiting, loggers wait for the writer. Lines
//! logged after the [`BatchGuard`] is dropped are discarded, as with any writer thread that has
//! stopped.

use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

/// When the writer thread wakes and how much may wait for it.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// How long the writer lets lines gather after the first one arrives.
    pub linger: Duration,
    /// Waiting bytes that wake the writer before `linger` is up.
    pub wake_at: usize,
    /// Waiting bytes at which loggers wait for the writer instead of adding more.
    pub capacity: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            linger: Duration::from_millis(10),
            wake_at: 64 * 1024,
            capacity: 4 * 1024 * 1024,
        }
    }
}

/// The logger side: a [`MakeWriter`] whose writers append to the shared batch.
#[derive(Debug, Clone)]
pub struct BatchedWriter {
    shared: Arc<Shared>,
}

/// Stops the writer thread when dropped, after it has written every waiting line.
#[must_use = "dropping the guard stops the log writer"]
#[derive(Debug)]
pub struct BatchGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Debug)]
struct Shared {
    limits: Limits,
    batch: Mutex<Batch>,
    /// Signalled when the writer should look at the batch.
    wake_writer: Condvar,
    /// Signalled when the writer has taken the batch (room for waiting loggers).
    room: Condvar,
}

#[derive(Debug, Default)]
struct Batch {
    pending: Vec<u8>,
    closed: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Batch> {
        self.batch.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Appends one formatted event (the fmt layer writes each event with a single `write_all`,
    /// so lines from different threads never interleave).
    fn append(&self, line: &[u8]) {
        let mut batch = self.lock();
        while batch.pending.len() >= self.limits.capacity && !batch.closed {
            batch = self
                .room
                .wait(batch)
                .unwrap_or_else(PoisonError::into_inner);
        }
        if batch.closed {
            return;
        }
        let before = batch.pending.len();
        batch.pending.extend_from_slice(line);
        let after = batch.pending.len();
        if before == 0 || (before < self.limits.wake_at && after >= self.limits.wake_at) {
            self.wake_writer.notify_one();
        }
    }

    /// The writer thread: waits for a first line, lets more gather, writes them all at once.
    fn write_batches(&self, mut sink: impl Write) {
        let mut taken = Vec::new();
        let mut batch = self.lock();
        loop {
            while batch.pending.is_empty() && !batch.closed {
                batch = self
                    .wake_writer
                    .wait(batch)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            if !batch.closed && batch.pending.len() < self.limits.wake_at {
                batch = self
                    .wake_writer
                    .wait_timeout_while(batch, self.limits.linger, |b| {
                        !b.closed && b.pending.len() < self.limits.wake_at
                    })
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
            std::mem::swap(&mut batch.pending, &mut taken);
            let closed = batch.closed;
            drop(batch);
            self.room.notify_all();
            // Nowhere to report a failing stderr; the lines are lost either way.
            let _ = sink.write_all(&taken).and_then(|()| sink.flush());
            taken.clear();
            taken.shrink_to(self.limits.wake_at * 2);
            if closed {
                return;
            }
            batch = self.lock();
        }
    }
}

impl BatchedWriter {
    /// Starts the writer thread (named `thread_name`) writing to `sink`.
    pub fn spawn(
        sink: impl Write + Send + 'static,
        limits: Limits,
        thread_name: &str,
    ) -> io::Result<(Self, BatchGuard)> {
        let shared = Arc::new(Shared {
            limits,
            batch: Mutex::new(Batch::default()),
            wake_writer: Condvar::new(),
            room: Condvar::new(),
        });
        let writer = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name(thread_name.to_owned())
            .spawn(move || writer.write_batches(sink))?;
        Ok((
            Self {
                shared: Arc::clone(&shared),
            },
            BatchGuard {
                shared,
                thread: Some(thread),
            },
        ))
    }
}

/// One event's writer (see [`BatchedWriter`]).
#[derive(Debug)]
pub struct LineWriter<'a> {
    shared: &'a Shared,
}

impl Write for LineWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.shared.append(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for BatchedWriter {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter {
            shared: &self.shared,
        }
    }
}

impl Drop for BatchGuard {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.wake_writer.notify_one();
        self.shared.room.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::Instant;

    use super::*;

    /// A sink that reports each `write_all` batch on a channel.
    struct Batches(mpsc::Sender<Vec<u8>>);

    impl Write for Batches {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let _ = self.0.send(buf.to_vec());
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// A writer that gathers lines for `linger` before writing them to a [`Batches`] sink, and
    /// the sink's receiving end.
    fn lingering(linger: Duration) -> (BatchedWriter, BatchGuard, mpsc::Receiver<Vec<u8>>) {
        let (tx, rx) = mpsc::channel();
        let limits = Limits {
            linger,
            ..Limits::default()
        };
        let (writer, guard) = BatchedWriter::spawn(Batches(tx), limits, "test-log").expect("spawn");
        (writer, guard, rx)
    }

    fn log(writer: &BatchedWriter, line: &str) {
        writer
            .make_writer()
            .write_all(line.as_bytes())
            .expect("appending never fails");
    }

    #[test]
    fn lines_from_many_threads_are_all_written_whole_and_in_order_per_thread() {
        let (tx, rx) = mpsc::channel();
        let (writer, guard) =
            BatchedWriter::spawn(Batches(tx), Limits::default(), "test-log").expect("spawn");
        std::thread::scope(|scope| {
            for t in 0..4 {
                let writer = writer.clone();
                scope.spawn(move || {
                    for i in 0..2_000 {
                        log(
                            &writer,
                            &format!("thread {t} line {i:05} {}\n", "x".repeat(40)),
                        );
                    }
                });
            }
        });
        drop(guard);
        let written: Vec<u8> = rx.try_iter().flatten().collect();
        let text = String::from_utf8(written).expect("utf-8");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 8_000);
        for t in 0..4 {
            let numbers: Vec<usize> = lines
                .iter()
                .filter(|l| l.starts_with(&format!("thread {t} ")))
                .map(|l| {
                    assert!(l.ends_with(&"x".repeat(40)), "torn line: {l}");
                    l[14..19].parse().expect("line number")
                })
                .collect();
            assert_eq!(numbers, (0..2_000).collect::<Vec<_>>());
        }
    }

    #[test]
    fn a_lone_line_is_written_after_the_linger_without_more_traffic() {
        let (writer, _guard, rx) = lingering(Duration::from_millis(20));
        let started = Instant::now();
        log(&writer, "only line\n");
        let batch = rx
            .recv_timeout(Duration::from_secs(5))
            .expect("written without more lines or a flush");
        assert_eq!(batch, b"only line\n");
        assert!(
            started.elapsed() >= Duration::from_millis(15),
            "lines gather first"
        );
    }

    #[test]
    fn lines_gathered_within_the_linger_are_written_together() {
        let (writer, _guard, rx) = lingering(Duration::from_millis(200));
        for i in 0..100 {
            log(&writer, &format!("line {i}\n"));
        }
        let batch = rx.recv_timeout(Duration::from_secs(5)).expect("written");
        assert_eq!(String::from_utf8_lossy(&batch).lines().count(), 100);
    }

    #[test]
    fn a_full_batch_makes_loggers_wait_rather_than_drop_lines() {
        // The sink blocks until the test lets it go, so the batch fills up.
        let (release, gate) = mpsc::channel::<()>();
        struct Gated(mpsc::Receiver<()>, Arc<Mutex<Vec<u8>>>);
        impl Write for Gated {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                let _ = self.0.recv();
                self.1.lock().expect("lock").extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let written = Arc::new(Mutex::new(Vec::new()));
        let limits = Limits {
            linger: Duration::from_millis(1),
            wake_at: 10,
            capacity: 100,
        };
        let (writer, guard) =
            BatchedWriter::spawn(Gated(gate, Arc::clone(&written)), limits, "test-log")
                .expect("spawn");
        let (done_tx, done_rx) = mpsc::channel();
        let logger = std::thread::spawn(move || {
            for i in 0..100 {
                log(&writer, &format!("line {i:03}\n"));
            }
            let _ = done_tx.send(());
        });
        // 900 bytes cannot fit in 100 bytes of batch plus one blocked write: the logger waits.
        assert!(done_rx.recv_timeout(Duration::from_millis(300)).is_err());
        for _ in 0..1_000 {
            let _ = release.send(());
        }
        done_rx
            .recv_timeout(Duration::from_secs(5))
            .expect("the logger finishes once the writer drains");
        logger.join().expect("logger");
        drop(guard);
        let text = String::from_utf8(written.lock().expect("lock").clone()).expect("utf-8");
        let expected: String = (0..100).map(|i| format!("line {i:03}\n")).collect();
        assert_eq!(text, expected);
    }
}
