//! The command line: the clap types of every subcommand and flag, and what
//! their free-text values mean (variables, run ids) as [`Failure`]s the exit
//! code can carry.
//!
//! It may use the connection flags ([`crate::connect::ConnectArgs`]), the text
//! formats ([`crate::text`]) and the exit mapping ([`super::exit`]).

use clap::{Args, Parser, Subcommand};
use isoqube::Variables;

use super::exit::{Failure, EXIT_CODES};
use crate::connect::ConnectArgs;
use crate::text::parse_flag_var;

/// `controlcenter`: define, start, replay and watch runs.
#[derive(Debug, Parser)]
#[command(name = "controlcenter", version, about, after_help = EXIT_CODES)]
pub struct Cli {
    /// Where the store and the broker are.
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Registered events, their consumers and the services hosting them.
    Events(JsonFlag),
    /// Service instances with host, pid and heartbeat.
    Services(JsonFlag),
    /// List, show, create, update or delete definitions.
    #[command(subcommand)]
    Definitions(DefinitionsCommand),
    /// Start, list, show, re-run, resume, signal, cancel or watch runs.
    #[command(subcommand)]
    Runs(RunsCommand),
    /// Messages in the error queues: list, requeue, discard.
    #[command(subcommand)]
    Errors(ErrorsCommand),
    /// Every endpoint's queue and error queue: messages ready, consumers, and
    /// the net rate (change of ready messages per second over --sample).
    Queues(QueuesArgs),
    /// The terminal UI.
    Tui,
    /// The effective configuration (file, ISOQUBE_* variables, flags), secrets hidden.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Serve the HTTP API (and webhooks) and run the scheduler until SIGINT/SIGTERM.
    Serve(ServeArgs),
}

/// `serve`: the HTTP API ([`crate::api`]); flags over the `[api]` section.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on (default: [api] listen, 127.0.0.1:8090).
    #[arg(long, value_name = "HOST:PORT")]
    pub listen: Option<String>,
    /// Bearer token every API call must send (prefer ISOQUBE_API_TOKEN or the
    /// configuration file: a flag shows in the process list).
    #[arg(long, env = "ISOQUBE_API_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

/// `queues`.
#[derive(Debug, Clone, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct QueuesArgs {
    /// Seconds between the two looks at each queue the rates come from (0: no rates).
    #[arg(long, default_value_t = 1.0, value_name = "SECS")]
    pub sample: f64,
    /// Only the stale queues: those of endpoints no live service hosts any
    /// more (`queues delete NAME --yes` removes one).
    #[arg(long)]
    pub stale: bool,
    #[command(flatten)]
    pub out: JsonFlag,
    #[command(subcommand)]
    pub action: Option<QueuesAction>,
}

/// `queues ...` actions.
#[derive(Debug, Clone, Subcommand)]
pub enum QueuesAction {
    /// Delete a stale queue (its name as `queues` shows it, with or without
    /// the broker prefix). Refused for a queue of an endpoint a live service
    /// hosts, one with consumers, and one holding messages unless --force.
    Delete {
        /// The queue.
        name: String,
        /// Confirm deleting.
        #[arg(long)]
        yes: bool,
        /// Delete it even though it holds messages (they go with it).
        #[arg(long)]
        force: bool,
    },
}

/// `config ...`
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the effective configuration as TOML.
    Show,
}

/// `--json`.
#[derive(Debug, Clone, Args)]
pub struct JsonFlag {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `definitions ...`
#[derive(Debug, Subcommand)]
pub enum DefinitionsCommand {
    /// Every definition.
    List(JsonFlag),
    /// One definition.
    Show {
        /// Definition name.
        name: String,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// A new definition.
    Create {
        /// Unique name.
        name: String,
        /// Event names in order, comma-separated.
        #[arg(long, value_delimiter = ',', required = true)]
        steps: Vec<String>,
        /// What it is for.
        #[arg(long, default_value = "")]
        description: String,
        /// Default variable KEY=VALUE (JSON value or string); repeatable.
        #[arg(long = "var", value_name = "KEY=VALUE")]
        vars: Vec<String>,
        /// The priority of its runs, 0-9 (default 0).
        #[arg(long, value_parser = clap::value_parser!(u8).range(0..=9))]
        priority: Option<u8>,
        #[command(flatten)]
        triggers: TriggerArgs,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Change a definition (only what is given).
    Update {
        /// Definition name.
        name: String,
        /// New event names in order, comma-separated.
        #[arg(long, value_delimiter = ',')]
        steps: Option<Vec<String>>,
        /// New description.
        #[arg(long)]
        description: Option<String>,
        /// Set a default variable KEY=VALUE; repeatable.
        #[arg(long = "var", value_name = "KEY=VALUE")]
        vars: Vec<String>,
        /// Remove a default variable; repeatable.
        #[arg(long = "unset", value_name = "KEY")]
        unset: Vec<String>,
        /// New priority of its runs, 0-9.
        #[arg(long, value_parser = clap::value_parser!(u8).range(0..=9))]
        priority: Option<u8>,
        #[command(flatten)]
        triggers: TriggerArgs,
        /// Remove the schedule with this id; repeatable.
        #[arg(long = "remove-schedule", value_name = "ID")]
        remove_schedules: Vec<String>,
        /// Remove the webhook.
        #[arg(long)]
        remove_webhook: bool,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Create or update a definition from a file (TOML or JSON, by its
    /// extension or --format), printing what changed.
    Apply {
        /// The file (`-`: standard input, with --format).
        #[arg(short = 'f', long = "file", value_name = "FILE")]
        file: std::path::PathBuf,
        /// The file's format, when its extension does not say.
        #[arg(long, value_enum)]
        format: Option<FileFormatArg>,
        /// Check the file and show what would change; write nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Write a definition in the format `apply` reads (webhook secret hidden).
    Export {
        /// Definition name.
        name: String,
        /// The format to write.
        #[arg(long, value_enum, default_value = "toml")]
        format: FileFormatArg,
        /// Write to this file instead of standard output.
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: Option<std::path::PathBuf>,
    },
    /// Delete a definition (runs of it are kept).
    Delete {
        /// Definition name.
        name: String,
        /// Confirm the deletion.
        #[arg(long)]
        yes: bool,
    },
}

/// A definition file's format on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FileFormatArg {
    /// TOML.
    Toml,
    /// JSON.
    Json,
}

impl From<FileFormatArg> for isoqube::model::FileFormat {
    fn from(f: FileFormatArg) -> Self {
        match f {
            FileFormatArg::Toml => isoqube::model::FileFormat::Toml,
            FileFormatArg::Json => isoqube::model::FileFormat::Json,
        }
    }
}

/// Schedules and the webhook of a definition.
#[derive(Debug, Clone, Args)]
pub struct TriggerArgs {
    /// Add or replace a schedule: `ID=every:SECONDS`, `ID=cron:EXPR[@TZ]` or
    /// `ID=at:RFC3339`, optionally followed by `;missed=run-once` and
    /// `;var=KEY=VALUE`; repeatable. Example: `nightly=cron:0 2 * * *@Europe/Paris`.
    #[arg(long = "schedule", value_name = "SPEC")]
    pub schedules: Vec<String>,
    /// Let `POST /hooks/ID` start runs (with --webhook-secret).
    #[arg(long, value_name = "ID", requires = "webhook_secret")]
    pub webhook_id: Option<String>,
    /// The webhook's secret (at least 16 characters).
    #[arg(long, value_name = "SECRET", requires = "webhook_id")]
    pub webhook_secret: Option<String>,
}

/// `runs ...`
#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// Start a run of a definition.
    Start {
        /// Definition name.
        definition: String,
        /// Run variable KEY=VALUE (JSON value or string); repeatable.
        #[arg(long = "var", value_name = "KEY=VALUE")]
        vars: Vec<String>,
        /// The run's priority, 0-9 (default: the definition's): on services
        /// with priority queues, its steps overtake those of lower runs.
        #[arg(long, value_parser = clap::value_parser!(u8).range(0..=9))]
        priority: Option<u8>,
        /// Start it later, at TIME (RFC 3339, e.g. 2026-12-08T14:00:00Z): stored
        /// now, Pending; its first steps are published then by whichever
        /// service is up (the store's timer).
        #[arg(long, value_name = "TIME", value_parser = parse_at, conflicts_with = "in_")]
        at: Option<chrono::DateTime<chrono::Utc>>,
        /// Start it later, SPAN from now (10m, 2h, 1h30m).
        #[arg(long = "in", id = "in_", value_name = "SPAN", value_parser = parse_in)]
        in_: Option<std::time::Duration>,
        #[command(flatten)]
        wait: WaitArgs,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Runs, newest first (stuck ones marked STUCK; corrupt records named on stderr).
    List {
        /// Only runs with this status (Pending, Running, Succeeded, Failed, Cancelled,
        /// Compensating, Compensated, CompensationFailed), or Waiting: running
        /// runs with a step waiting for a signal.
        #[arg(long, conflicts_with = "stuck")]
        status: Option<String>,
        /// Only stuck runs: a step `Invoked` whose handler's service instance
        /// has been gone or silent longer than --stuck-after; all of them
        /// (--limit does not apply), each with its stuck step, handler and since when.
        #[arg(long)]
        stuck: bool,
        /// Only runs of this definition.
        #[arg(long)]
        definition: Option<String>,
        /// Only runs whose id starts with this (any case).
        #[arg(long = "id", value_name = "PREFIX", conflicts_with = "stuck")]
        id_prefix: Option<String>,
        /// Only runs whose variable KEY is VALUE: a string equal to VALUE, or
        /// equal to VALUE read as JSON (`n=2` finds 2 and "2"); repeatable (all must hold).
        #[arg(long = "var", value_name = "KEY=VALUE", conflicts_with = "stuck")]
        vars: Vec<String>,
        /// Only runs with a log line containing TEXT (any case).
        #[arg(long, value_name = "TEXT", conflicts_with = "stuck")]
        log_text: Option<String>,
        /// At most this many (newest first); when there are more, stderr says
        /// so and how to see them.
        #[arg(long, default_value_t = 20, conflicts_with = "all")]
        limit: usize,
        /// Every matching run, however many.
        #[arg(long, conflicts_with = "stuck")]
        all: bool,
        /// A search (the TUI's `/` grammar, with the flags): words that must
        /// all hold: `status:failed,cancelled` (`status:waiting`: a step
        /// waits for a signal), `def:NAME`, `id:PREFIX`,
        /// `KEY=VALUE`, `log:TEXT`, `"quoted words"`, plain words (found in
        /// the id's start, definition, status, starter, error, variables, steps).
        #[arg(value_name = "QUERY", conflicts_with = "stuck")]
        query: Vec<String>,
        /// Only runs older than this: a run id (or its start; the runs listed
        /// after it, the next page) or a time (`2026-01-31`, RFC 3339).
        #[arg(long, value_name = "RUN_ID|TIME", conflicts_with = "stuck")]
        before: Option<String>,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Delete finished runs with their log lines: one, or every run created
    /// before a time (of a status). A run not finished (pending, running,
    /// compensating) is never deleted: it is named and the exit code is 2.
    Delete {
        /// Run id, or any unique start of it.
        #[arg(required_unless_present = "before", conflicts_with = "before")]
        id: Option<String>,
        /// Every run created before this time (`2026-01-31`, RFC 3339).
        #[arg(long, value_name = "TIME")]
        before: Option<String>,
        /// With --before: only runs with this status (Succeeded, Failed,
        /// Cancelled, Compensated, CompensationFailed).
        #[arg(long, requires = "before")]
        status: Option<String>,
        /// Confirm the deletion (without it, nothing is deleted).
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// One run with its steps (and logs with --logs).
    Show {
        /// Run id, or any unique start of it (the short id lists show).
        id: String,
        /// Also print the run's log lines.
        #[arg(long)]
        logs: bool,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Start a new run with the same definition and variables.
    Rerun {
        /// Run id, or any unique start of it (the short id lists show).
        id: String,
        /// Over the old run's variables: KEY=VALUE (JSON value or string); repeatable.
        #[arg(long = "var", value_name = "KEY=VALUE")]
        vars: Vec<String>,
        #[command(flatten)]
        wait: WaitArgs,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Continue a failed or cancelled run from its failed step.
    Resume {
        /// Run id, or any unique start of it (the short id lists show).
        id: String,
        /// Over the run's variables before it goes on: KEY=VALUE (JSON value
        /// or string); repeatable.
        #[arg(long = "var", value_name = "KEY=VALUE")]
        vars: Vec<String>,
        #[command(flatten)]
        wait: WaitArgs,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Deliver an event to a run that waits for it (a wait step completes,
    /// its data merged into the run's variables; one not due yet keeps it),
    /// or with --match to every run waiting for it by a correlate key the
    /// data matches. Refused (exit 2, with the reason) when nothing waits.
    #[command(
        override_usage = "controlcenter runs signal ID EVENT [--data JSON] [--var K=V]...\n       \
                          controlcenter runs signal --match EVENT [--data JSON] [--var K=V]..."
    )]
    Signal {
        /// Run id, or any unique start of it (not with --match).
        #[arg(value_name = "ID", required_unless_present = "matching")]
        id: Option<String>,
        /// The event the run waits for (as its wait step names it).
        #[arg(value_name = "EVENT", required_unless_present = "matching")]
        event: Option<String>,
        /// No run id: deliver EVENT to every pending or running run that waits
        /// for it by a correlate key whose value the data holds.
        #[arg(long = "match", value_name = "EVENT", conflicts_with_all = ["id", "event"])]
        matching: Option<String>,
        /// The signal's data: a JSON object, merged into the run's variables.
        #[arg(long, value_name = "JSON")]
        data: Option<String>,
        /// Data KEY=VALUE (JSON value or string), over --data; repeatable.
        #[arg(long = "var", value_name = "KEY=VALUE")]
        vars: Vec<String>,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Cancel a pending or running run (or stop a compensating one).
    Cancel {
        /// Run id, or any unique start of it (the short id lists show).
        id: String,
        /// Also undo what it did: tell the steps in flight to stop, then run
        /// every succeeded step's compensation (the run is `Compensating`).
        #[arg(long)]
        compensate: bool,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Stream a run's steps and logs until it finishes.
    Watch {
        /// Run id, or any unique start of it (the short id lists show).
        id: String,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 3600)]
        timeout: u64,
    },
}

/// `--wait` / `--timeout`.
#[derive(Debug, Clone, Args)]
pub struct WaitArgs {
    /// Wait until the run finishes; exit 1 when it did not succeed.
    #[arg(long)]
    pub wait: bool,
    /// Seconds to wait with --wait.
    #[arg(long, default_value_t = 600)]
    pub timeout: u64,
}

/// `errors ...`
#[derive(Debug, Subcommand)]
pub enum ErrorsCommand {
    /// Messages in every endpoint's error queue, with their fault reason.
    List {
        /// Only this endpoint (or its error queue, `ENDPOINT_error`).
        #[arg(long)]
        endpoint: Option<String>,
        /// Only messages whose endpoint, id, run id, step (`#N`), message
        /// type or reason hold every word of TEXT (as the TUI's filter).
        #[arg(long = "match", value_name = "TEXT")]
        matching: Option<String>,
        /// Show at most N messages of each queue (the count is always the
        /// queue's whole; default 100).
        #[arg(long, value_name = "N", default_value_t = crate::ops::ERROR_PAGE)]
        limit: usize,
        /// Show every message of each queue.
        #[arg(long, conflicts_with = "limit")]
        all: bool,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Send a message back to its endpoint's queue; a failed or cancelled
    /// run's message resumes the run from its step (refused when that step has
    /// succeeded since, or the run stopped before it). With --all, every
    /// message (of ENDPOINT, matching --match) is requeued, each outcome said.
    Requeue {
        /// Endpoint name, or its error queue's (`ENDPOINT_error`, as `errors list` prints it);
        /// with --all, only this endpoint's (all when omitted).
        #[arg(required_unless_present = "all")]
        endpoint: Option<String>,
        /// The message id (from `errors list`).
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        message_id: Option<String>,
        /// Every message (of ENDPOINT when given).
        #[arg(long)]
        all: bool,
        /// With --all: only messages matching TEXT (see `errors list --match`).
        #[arg(long = "match", value_name = "TEXT", requires = "all")]
        matching: Option<String>,
        /// Confirm requeueing with --all.
        #[arg(long, requires = "all")]
        yes: bool,
    },
    /// Delete a message from an error queue, (--settled) every message
    /// whose step has succeeded since, or (--all) every message.
    Discard {
        /// Endpoint name, or its error queue's (`ENDPOINT_error`, as `errors list` prints it);
        /// with --settled or --all, only this endpoint's (all when omitted).
        #[arg(required_unless_present_any = ["settled", "all"])]
        endpoint: Option<String>,
        /// The message id (from `errors list`).
        #[arg(
            required_unless_present_any = ["settled", "all"],
            conflicts_with_all = ["settled", "all"]
        )]
        message_id: Option<String>,
        /// Every message whose step has succeeded since (`errors list` marks them).
        #[arg(long, conflicts_with = "all")]
        settled: bool,
        /// Every message (of ENDPOINT when given).
        #[arg(long)]
        all: bool,
        /// With --all: only messages matching TEXT (see `errors list --match`).
        #[arg(long = "match", value_name = "TEXT", requires = "all")]
        matching: Option<String>,
        /// Confirm discarding with --settled or --all.
        #[arg(long)]
        yes: bool,
    },
}

/// Parses repeated `--var KEY=VALUE` flags.
/// `--at TIME`: an RFC 3339 time.
fn parse_at(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|e| format!("'{text}' is not an RFC 3339 time (2026-12-08T14:00:00Z): {e}"))
}

/// `--in SPAN`: a duration as a definition writes one.
fn parse_in(text: &str) -> Result<std::time::Duration, String> {
    isoqube::model::parse_span(text).map_err(|e| e.to_string())
}

pub(super) fn parse_vars(vars: &[String]) -> Result<Variables, Failure> {
    let mut out = Variables::new();
    for v in vars {
        let (k, val) = parse_flag_var(v).map_err(Failure::bad_input)?;
        out.insert(k, val);
    }
    Ok(out)
}

/// Parses repeated `--var KEY=VALUE` search flags: the key and the value as typed.
pub(super) fn parse_search_vars(vars: &[String]) -> Result<Vec<(String, String)>, Failure> {
    vars.iter()
        .map(|v| {
            crate::text::split_var(v)
                .map(|(k, val)| (k.to_string(), val.to_string()))
                .map_err(|e| Failure::bad_input(e.describe(&format!("--var '{v}'"))))
        })
        .collect()
}
