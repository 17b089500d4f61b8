//! The scriptable face of the control center: every operation as a subcommand,
//! human tables by default and `--json` for scripts, and exit codes that mean
//! something (see [`ExitStatus`]).
//!
//! - `args`: the clap types ([`Cli`], [`Command`], ...).
//! - `exit`: exit codes and the mapping of errors to them ([`Failure`]).
//! - `print`: JSON and the human forms of definitions and runs.
//! - `definitions`, `runs`, `errors`, `queues`: one file per command group;
//!   `run_lists`: `runs list` and `runs delete`; `signals`: `runs signal`;
//!   `definition_files`: `definitions apply` and `export`.
//! - `serve`: the HTTP API with the scheduler.
//! - `dispatch`: [`dispatch`] and [`run`], which pick the command's file.
//!
//! The CLI is the top of the crate: it may use every other module (it starts
//! the terminal UI and the HTTP API); nothing else uses it.

mod args;
mod definition_files;
mod definitions;
mod dispatch;
mod errors;
mod exit;
mod print;
mod queues;
mod run_lists;
mod runs;
mod serve;
mod signals;

/// The text formats the flags take, also at their historical paths here.
pub use crate::text::{parse_flag_var as parse_var, parse_schedule, schedule_lines, schedule_spec};
pub use args::{
    Cli, Command, ConfigCommand, DefinitionsCommand, ErrorsCommand, JsonFlag, QueuesAction,
    QueuesArgs, RunsCommand, ServeArgs, TriggerArgs, WaitArgs,
};
pub use dispatch::{dispatch, run};
pub use exit::{ExitStatus, Failure};
pub use print::run_line;
