//! The Isoqube control center: the operator's tool.
//!
//! - [`ops`]: what an operator can see and do ([`Operator`]), over the store and
//!   transport seams; the CLI, the terminal UI and the HTTP API all use it.
//! - [`cli`]: the scriptable subcommands with `--json` and meaningful exit codes.
//! - [`tui`]: the terminal UI (ratatui).
//! - [`api`]: the HTTP API (`controlcenter serve`, axum), with webhooks.
//! - [`connect`]: finding RabbitMQ and MongoDB (or the embedded store file).
//!
//! The `controlcenter` binary only parses arguments and calls into this crate.

pub mod api;
pub mod cli;
pub mod connect;
pub mod ops;
pub mod tui;

pub use connect::ConnectArgs;
pub use ops::Operator;

/// A duration as a short age: `42s`, `5m`, `3h`, `2d`.
///
/// ```
/// assert_eq!(controlcenter::age(chrono::Duration::seconds(90)), "1m");
/// assert_eq!(controlcenter::age(chrono::Duration::seconds(-5)), "0s");
/// ```
pub fn age(d: chrono::Duration) -> String {
    let s = d.num_seconds().max(0);
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m", s / 60),
        3600..=86399 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86400),
    }
}

/// A stored log line as the console shows it.
///
/// ```
/// let line = isoqube::LogRecord {
///     run_id: uuid::Uuid::nil(), step: Some(2), event: Some("Build".into()),
///     level: "INFO".into(), message: "built".into(), service: "pool".into(),
///     host: "h".into(), timestamp: chrono::DateTime::UNIX_EPOCH,
/// };
/// assert!(controlcenter::log_line(&line).ends_with("INFO  [3 Build] built"));
/// ```
pub fn log_line(l: &isoqube::LogRecord) -> String {
    let place = match (l.step, &l.event) {
        (Some(i), Some(e)) => format!("[{} {e}] ", i + 1),
        (Some(i), None) => format!("[{}] ", i + 1),
        _ => String::new(),
    };
    format!(
        "{} {:<5} {place}{}",
        l.timestamp.format("%H:%M:%S%.3f"),
        l.level,
        l.message
    )
}
