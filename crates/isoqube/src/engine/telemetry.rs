//! Console logging and the step log.
//!
//! Every consumer invocation runs inside a `step` span (run id, step, event,
//! endpoint, attempt), so each console line of a step carries them. The
//! [`StepLogLayer`] also copies those lines into the store's log, through a
//! bounded channel drained in batches by a writer task, off the hot path: a slow
//! store drops log lines (counted) rather than delaying a consumer.
//!
//! Lines with the [`LIFECYCLE`] target go to the console only: a first
//! attempt starting and a step succeeding are in the run record already (its
//! start, end, attempts and handler), and storing them again was a quarter of
//! the CPU a no-op step cost (the chain bench).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::mpsc;
use tracing::field::{Field, Visit};
use tracing::{Event as TracingEvent, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;
use tracing_subscriber::EnvFilter;
use uuid::Uuid;

use crate::model::LogRecord;
use crate::store::RunStore;

/// The `tracing` target of lines the [`StepLogLayer`] does not copy into the
/// store, because the run record holds what they say (see the module docs).
///
/// ```
/// tracing::info!(target: isoqube::telemetry::LIFECYCLE, "console only");
/// ```
pub const LIFECYCLE: &str = "isoqube::lifecycle";

/// Log lines waiting for the store, at most.
const LOG_BUFFER: usize = 10_000;
/// Lines written per store call, at most.
const LOG_BATCH: usize = 500;

tokio::task_local! {
    static STEP_SCOPE: StepScope;
}

/// What the log layer needs to turn a tracing event into a [`LogRecord`].
#[derive(Clone)]
pub(crate) struct StepScope {
    pub run_id: Uuid,
    pub step: Option<usize>,
    pub event: String,
    pub service: Arc<str>,
    pub sink: LogSink,
}

impl StepScope {
    /// Runs `fut` with this scope, so its log lines reach the store.
    pub(crate) async fn enter<F: std::future::Future>(self, fut: F) -> F::Output {
        STEP_SCOPE.scope(self, fut).await
    }
}

/// The sending end of the step log.
#[derive(Clone)]
pub struct LogSink {
    tx: mpsc::Sender<LogRecord>,
    dropped: Arc<AtomicU64>,
}

impl LogSink {
    fn push(&self, rec: LogRecord) {
        if self.tx.try_send(rec).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Log lines dropped because the store fell behind.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// Starts the writer task that batches step log lines into `store`; it ends and
/// flushes once every [`LogSink`] clone is dropped.
pub fn spawn_log_writer(store: Arc<dyn RunStore>) -> (LogSink, tokio::task::JoinHandle<()>) {
    let (tx, mut rx) = mpsc::channel::<LogRecord>(LOG_BUFFER);
    let handle = tokio::spawn(async move {
        let mut batch = Vec::with_capacity(LOG_BATCH);
        while let Some(first) = rx.recv().await {
            batch.push(first);
            while batch.len() < LOG_BATCH {
                match rx.try_recv() {
                    Ok(rec) => batch.push(rec),
                    Err(_) => break,
                }
            }
            let mut tries = 0;
            while let Err(e) = store.append_logs(&batch).await {
                tries += 1;
                if tries >= 3 {
                    eprintln!("isoqube: dropping {} step log lines: {e}", batch.len());
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200 * tries)).await;
            }
            batch.clear();
        }
    });
    (
        LogSink {
            tx,
            dropped: Arc::new(AtomicU64::new(0)),
        },
        handle,
    )
}

/// A `tracing` layer that copies events emitted inside a step into the store.
///
/// ```
/// use tracing_subscriber::prelude::*;
/// let subscriber = tracing_subscriber::registry().with(isoqube::telemetry::StepLogLayer);
/// # let _ = subscriber;
/// ```
pub struct StepLogLayer;

#[derive(Default)]
struct MessageVisitor {
    message: String,
    fields: String,
}

impl Visit for MessageVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={value}", field.name());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }
}

impl<S: Subscriber> Layer<S> for StepLogLayer {
    fn on_event(&self, event: &TracingEvent<'_>, _ctx: Context<'_, S>) {
        if event.metadata().target() == LIFECYCLE {
            return;
        }
        let _ = STEP_SCOPE.try_with(|scope| {
            let mut v = MessageVisitor::default();
            event.record(&mut v);
            scope.sink.push(LogRecord {
                run_id: scope.run_id,
                step: scope.step,
                event: Some(scope.event.clone()),
                level: event.metadata().level().to_string(),
                message: format!("{}{}", v.message, v.fields),
                service: scope.service.to_string(),
                host: crate::host::host_name(),
                timestamp: Utc::now(),
            });
        });
    }
}

/// Installs console logging (text, or JSON when `ISOQUBE_LOG_FORMAT=json`) with
/// the filter from `ISOQUBE_LOG` or `RUST_LOG` (default `info`), plus the
/// [`StepLogLayer`]. Does nothing when a subscriber is already installed.
///
/// ```
/// isoqube::telemetry::init();
/// ```
pub fn init() {
    let json = std::env::var("ISOQUBE_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    init_with(&filter_from_env(), json);
}

/// Like [`init`], for tests: the lines go through the test harness's output
/// capture, so a passing test prints nothing and a failing one shows its own
/// log (all of it with `--nocapture`). The [`StepLogLayer`] is installed, so
/// step logs reach the store as in production.
///
/// ```
/// isoqube::telemetry::init_for_tests();
/// ```
pub fn init_for_tests() {
    let _ = tracing_subscriber::registry()
        .with(env_filter(&filter_from_env()))
        .with(StepLogLayer)
        .with(
            tracing_subscriber::fmt::layer()
                .with_target(false)
                .with_test_writer(),
        )
        .try_init();
}

/// `ISOQUBE_LOG`, else `RUST_LOG`, else `info`.
fn filter_from_env() -> String {
    std::env::var("ISOQUBE_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".to_string())
}

/// `filter` with the chatty client libraries quieted unless it names them
/// (see [`super::log_filter`]).
fn env_filter(filter: &str) -> EnvFilter {
    super::log_filter::env_filter(filter, "warn", "info")
}

/// Installs console logging with this filter (`info`, `debug,lapin=warn`, ...),
/// as text or JSON lines on stderr (coloured only on a terminal without
/// `NO_COLOR`, see [`colour_on_stderr`]), plus the [`StepLogLayer`]. The chatty client
/// libraries are kept quiet unless the filter names them (lapin off, or at
/// `warn` under `debug`; the MongoDB driver at `warn`). Does nothing when a
/// subscriber is already installed.
///
/// ```
/// isoqube::telemetry::init_with("info", false);
/// ```
pub fn init_with(filter: &str, json: bool) {
    let registry = tracing_subscriber::registry()
        .with(env_filter(filter))
        .with(StepLogLayer);
    // On stderr: stdout is the program's output (a summary, `--json`), which
    // must stay parseable when the two are read apart.
    let _ = if json {
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_current_span(true)
                    .with_writer(std::io::stderr),
            )
            .try_init()
    } else {
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_target(false)
                    .with_ansi(colour_on_stderr())
                    .with_writer(std::io::stderr),
            )
            .try_init()
    };
}

/// Whether console lines may carry colour escapes: only when stderr is a
/// terminal and `NO_COLOR` is unset or empty (<https://no-color.org>), so a
/// log redirected to a file or a pipe reads as plain text.
pub fn colour_on_stderr() -> bool {
    use std::io::IsTerminal;
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    !no_color && std::io::stderr().is_terminal()
}

/// Console logging for command-line tools: warnings and errors only (unless
/// `ISOQUBE_LOG`/`RUST_LOG` say otherwise), on stderr, so stdout stays the
/// command's output.
///
/// ```
/// isoqube::telemetry::init_for_cli();
/// ```
pub fn init_for_cli() {
    let filter = std::env::var("ISOQUBE_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "warn".to_string());
    let filter = super::log_filter::env_filter(&filter, "error", "warn");
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(
            tracing_subscriber::fmt::layer()
                .with_target(false)
                .with_ansi(colour_on_stderr())
                .with_writer(std::io::stderr),
        )
        .try_init();
}

/// Step logs to the store only, nothing on the console: for a process whose
/// terminal belongs to a full-screen UI (the sample's `tui`).
///
/// ```
/// isoqube::telemetry::init_without_console();
/// ```
pub fn init_without_console() {
    let filter = super::log_filter::env_filter(&filter_from_env(), "warn", "info");
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(StepLogLayer)
        .try_init();
}
