//! The Isoqube control center: the operator's tool.
//!
//! From the ground up (a module uses only those above it in this list):
//! - [`text`]: the text formats every surface shares (`KEY=VALUE`, schedule
//!   specs, ages, log lines); pure.
//! - [`ops`]: what an operator can see and do ([`Operator`]), over the store and
//!   transport seams; the CLI, the terminal UI and the HTTP API all use it.
//! - [`connect`]: finding RabbitMQ and MongoDB (or the embedded store file).
//! - the surfaces, which do not use each other: [`tui`], the terminal UI
//!   (ratatui), and [`api`], the HTTP API (`controlcenter serve`, axum) with
//!   webhooks.
//! - [`cli`]: the scriptable subcommands with `--json` and meaningful exit
//!   codes; it dispatches to the terminal UI and the HTTP API too.
//!
//! The `controlcenter` binary only parses arguments and calls into this crate.

pub mod api;
pub mod cli;
pub mod config;
pub mod connect;
pub mod ops;
pub mod text;
pub mod tui;

pub use connect::ConnectArgs;
pub use ops::Operator;
pub use text::{age, log_line};
