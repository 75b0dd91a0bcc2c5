//! What a test needs to assert that a secret never shows: everything `tracing` records
//! while a [`TraceCapture`] lives, at every level, as plain text, and everything an error
//! shows ([`error_chain`]).
//!
//! `tracing` caches per-callsite interest across the threads of a process, so tests
//! running beside a capturing one without a subscriber could hide events from it: a test
//! that captures should be a test binary of its own.

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

use tracing::dispatcher::DefaultGuard;
use tracing_subscriber::fmt::MakeWriter;

/// The text `tracing` records while this value lives, at every level (`TRACE` and up),
/// formatted as the `fmt` subscriber does, without colours.
pub struct TraceCapture {
    buffer: Buffer,
    /// Present when capturing on this thread only: capture ends when it is dropped.
    _guard: Option<DefaultGuard>,
}

impl TraceCapture {
    /// Captures what this thread records until the value is dropped (on a
    /// `current_thread` runtime: everything the test's tasks record).
    pub fn on_this_thread() -> TraceCapture {
        let buffer = Buffer::default();
        let guard = tracing::subscriber::set_default(subscriber(&buffer));
        TraceCapture {
            buffer,
            _guard: Some(guard),
        }
    }

    /// Captures what every thread of the process records, for the rest of the process:
    /// the global default subscriber. Panics if one is set already (one per test binary).
    pub fn process_wide() -> TraceCapture {
        let buffer = Buffer::default();
        tracing::subscriber::set_global_default(subscriber(&buffer))
            .unwrap_or_else(|e| panic!("capture traces process-wide: {e}"));
        TraceCapture {
            buffer,
            _guard: None,
        }
    }

    /// Everything captured so far.
    pub fn text(&self) -> String {
        let bytes = self.buffer.0.lock().unwrap_or_else(PoisonError::into_inner);
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

fn subscriber(buffer: &Buffer) -> impl tracing::Subscriber + Send + Sync + 'static {
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(buffer.clone())
        .finish()
}

/// Everything an error shows: its `Display` and `Debug`, then those of every source, one
/// per line.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = format!("{err}\n{err:?}\n");
    let mut source = err.source();
    while let Some(s) = source {
        out.push_str(&format!("{s}\n{s:?}\n"));
        source = s.source();
    }
    out
}

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Buffer {
    type Writer = Buffer;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Outer(Inner);
    #[derive(Debug)]
    struct Inner;

    impl std::fmt::Display for Outer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("outer failed")
        }
    }
    impl std::fmt::Display for Inner {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("inner cause")
        }
    }
    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }
    impl std::error::Error for Inner {}

    #[test]
    fn an_error_chain_shows_display_and_debug_of_every_source() {
        assert_eq!(
            error_chain(&Outer(Inner)),
            "outer failed\nOuter(Inner)\ninner cause\nInner\n"
        );
    }

    #[test]
    fn events_and_span_fields_at_every_level_are_captured_until_dropped() {
        let logs = TraceCapture::on_this_thread();
        let span = tracing::trace_span!("request", path = "/items");
        span.in_scope(|| tracing::trace!(attempt = 2, "retrying"));
        let text = logs.text();
        assert!(text.contains("TRACE"), "{text}");
        assert!(text.contains("request{path=\"/items\"}"), "{text}");
        assert!(text.contains("retrying attempt=2"), "{text}");
        drop(logs);
        let after = TraceCapture::on_this_thread();
        tracing::info!("only the second");
        assert!(after.text().contains("only the second"));
        assert!(!after.text().contains("retrying"));
    }
}
