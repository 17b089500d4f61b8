//! Engine layer: the console's log filter, with the client libraries kept
//! quiet unless asked for.
//!
//! lapin logs every failure it meets at `warn` or `error` (a refused login
//! three times, each message the broker returns with its whole body) and then
//! hands the same failure to us as an error, which the engine reports in its
//! own words, once, naming the broker (credentials scrubbed). So lapin is off
//! unless the filter asks for `debug` or `trace` (then its warnings and errors
//! show) or names it. The MongoDB driver is quieter: it stays at the level the
//! caller gives.
//!
//! May use only `tracing-subscriber`.

use tracing_subscriber::EnvFilter;

/// `filter` (an `ISOQUBE_LOG` value) with the client libraries it does not
/// name quieted: lapin off (at `warn` under a `debug` or `trace` filter), the
/// MongoDB driver at `mongodb`.
///
/// ```ignore
/// assert_eq!(directives("info", "warn"), "info,lapin=off,mongodb=warn");
/// ```
pub(crate) fn directives(filter: &str, mongodb: &str) -> String {
    let verbose = filter.split(',').any(|d| {
        let d = d.trim();
        !d.contains('=') && (d.eq_ignore_ascii_case("debug") || d.eq_ignore_ascii_case("trace"))
    });
    let mut out = filter.to_string();
    if !filter.contains("lapin") {
        out.push_str(if verbose { ",lapin=warn" } else { ",lapin=off" });
    }
    if !filter.contains("mongodb") {
        out.push_str(&format!(",mongodb={mongodb}"));
    }
    out
}

/// The [`EnvFilter`] of `filter` with [`directives`]; a filter that does not
/// parse is named on stderr and `fallback` is used instead.
pub(crate) fn env_filter(filter: &str, mongodb: &str, fallback: &str) -> EnvFilter {
    EnvFilter::try_new(directives(filter, mongodb)).unwrap_or_else(|e| {
        eprintln!("isoqube: ignoring log filter '{filter}': {e}");
        EnvFilter::new(directives(fallback, mongodb))
    })
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::prelude::*;

    use super::*;

    /// A writer into a shared buffer.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| std::io::Error::other("poisoned"))?
                .extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// What the console shows under `filter` of lapin's lines and ours.
    fn shown(filter: &str) -> String {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::registry()
            .with(env_filter(filter, "warn", "info"))
            .with(tracing_subscriber::fmt::layer().with_writer(move || writer.clone()));
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(target: "lapin::returned_messages", "Server returned us a message");
            tracing::error!(target: "lapin::channels", "Connection error");
            tracing::error!(target: "isoqube::engine", "our own line");
        });
        let bytes = buffer.0.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    #[test]
    fn lapin_is_silent_by_default_and_shows_under_debug() {
        for filter in ["info", "warn", "error", "isoqube=debug"] {
            let out = shown(filter);
            assert!(out.contains("our own line"), "{filter}: {out}");
            assert!(!out.contains("lapin"), "{filter}: {out}");
            assert!(!out.contains("returned us"), "{filter}: {out}");
        }
        for filter in ["debug", "trace", "info,lapin=warn"] {
            let out = shown(filter);
            assert!(
                out.contains("Server returned us a message"),
                "{filter}: {out}"
            );
            assert!(out.contains("Connection error"), "{filter}: {out}");
        }
    }

    #[test]
    fn directives_name_what_the_filter_leaves_out() {
        assert_eq!(directives("info", "warn"), "info,lapin=off,mongodb=warn");
        assert_eq!(directives("debug", "warn"), "debug,lapin=warn,mongodb=warn");
        assert_eq!(
            directives("warn,lapin=error", "error"),
            "warn,lapin=error,mongodb=error"
        );
    }
}
