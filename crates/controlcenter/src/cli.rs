//! The scriptable face of the control center: every operation as a subcommand,
//! human tables by default and `--json` for scripts, and exit codes that mean
//! something (see [`ExitStatus`]).

use std::io::Write;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use isoqube::schedule::Webhook;
use isoqube::{Definition, Error, Run, RunFilter, RunStatus, StepStatus, Variables};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use crate::connect::ConnectArgs;
use crate::ops::Operator;
pub use crate::text::{parse_flag_var as parse_var, parse_schedule, schedule_lines, schedule_spec};

/// What the process exit code says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ExitStatus {
    /// Done.
    Ok = 0,
    /// The run (waited for or watched) ended failed or cancelled.
    RunFailed = 1,
    /// Bad input: invalid definition, malformed variable, duplicate name, wrong state.
    BadInput = 2,
    /// The definition, run or message does not exist.
    NotFound = 3,
    /// The broker or the store cannot be reached or refused the operation.
    Unavailable = 4,
    /// Gave up waiting for the run to finish.
    Timeout = 5,
}

const EXIT_CODES: &str = "Exit codes: 0 ok; 1 the run failed or was cancelled (--wait, watch); \
2 bad input; 3 not found; 4 broker or store unavailable; 5 timed out waiting.";

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
    /// Start, list, show, re-run, resume, cancel or watch runs.
    #[command(subcommand)]
    Runs(RunsCommand),
    /// Messages in the error queues: list, requeue, discard.
    #[command(subcommand)]
    Errors(ErrorsCommand),
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
    /// Delete a definition (runs of it are kept).
    Delete {
        /// Definition name.
        name: String,
        /// Confirm the deletion.
        #[arg(long)]
        yes: bool,
    },
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

impl TriggerArgs {
    fn apply(&self, def: &mut Definition) -> std::result::Result<(), Failure> {
        for spec in &self.schedules {
            let s = parse_schedule(spec).map_err(Failure::bad_input)?;
            def.schedules.retain(|old| old.id != s.id);
            def.schedules.push(s);
        }
        if let (Some(id), Some(secret)) = (&self.webhook_id, &self.webhook_secret) {
            def.webhook = Some(Webhook {
                id: id.clone(),
                secret: secret.clone(),
            });
        }
        Ok(())
    }
}

/// A definition as JSON, with the webhook secret hidden.
fn redacted(def: &Definition) -> Value {
    let mut v = serde_json::to_value(def).unwrap_or(Value::Null);
    if let Some(hook) = v.get_mut("webhook").and_then(Value::as_object_mut) {
        hook.insert("secret".into(), Value::String("***".into()));
    }
    if let Some(obj) = v.as_object_mut() {
        let now = chrono::Utc::now();
        let next: Vec<Value> = def
            .schedules
            .iter()
            .map(|s| {
                serde_json::json!({
                    "id": s.id,
                    "next_due": s.next_after(now).ok().flatten().filter(|_| s.enabled),
                })
            })
            .collect();
        if !next.is_empty() {
            obj.insert("next_due".into(), Value::Array(next));
        }
    }
    v
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
        #[command(flatten)]
        wait: WaitArgs,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Runs, newest first.
    List {
        /// Only runs with this status (Pending, Running, Succeeded, Failed, Cancelled).
        #[arg(long)]
        status: Option<String>,
        /// Only runs of this definition.
        #[arg(long)]
        definition: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// One run with its steps (and logs with --logs).
    Show {
        /// Run id.
        id: String,
        /// Also print the run's log lines.
        #[arg(long)]
        logs: bool,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Start a new run with the same definition and variables.
    Rerun {
        /// Run id.
        id: String,
        #[command(flatten)]
        wait: WaitArgs,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Continue a failed or cancelled run from its failed step.
    Resume {
        /// Run id.
        id: String,
        #[command(flatten)]
        wait: WaitArgs,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Cancel a pending or running run.
    Cancel {
        /// Run id.
        id: String,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Stream a run's steps and logs until it finishes.
    Watch {
        /// Run id.
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
        /// Only this endpoint.
        #[arg(long)]
        endpoint: Option<String>,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Send a message back to its endpoint's queue.
    Requeue {
        /// Endpoint (queue) name.
        endpoint: String,
        /// The message id (from `errors list`).
        message_id: String,
    },
    /// Delete a message from an error queue.
    Discard {
        /// Endpoint (queue) name.
        endpoint: String,
        /// The message id (from `errors list`).
        message_id: String,
    },
}

/// A failure with the exit status it maps to.
#[derive(Debug)]
pub struct Failure {
    /// Exit status.
    pub status: ExitStatus,
    /// What to tell the user.
    pub message: String,
}

impl Failure {
    fn bad_input(message: impl Into<String>) -> Self {
        Failure {
            status: ExitStatus::BadInput,
            message: message.into(),
        }
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        let status = match &e {
            Error::NotFound { .. } => ExitStatus::NotFound,
            Error::InvalidDefinition(_)
            | Error::Conflict { .. }
            | Error::InvalidState(_)
            | Error::Malformed(_)
            | Error::Config(_)
            | Error::Registry(_) => ExitStatus::BadInput,
            _ => ExitStatus::Unavailable,
        };
        Failure {
            status,
            message: e.to_string(),
        }
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        match e.downcast::<Error>() {
            Ok(e) => e.into(),
            Err(e) => Failure {
                status: ExitStatus::Unavailable,
                message: format!("{e:#}"),
            },
        }
    }
}

type Outcome = std::result::Result<ExitStatus, Failure>;

fn parse_vars(vars: &[String]) -> std::result::Result<Variables, Failure> {
    let mut out = Variables::new();
    for v in vars {
        let (k, val) = parse_var(v).map_err(Failure::bad_input)?;
        out.insert(k, val);
    }
    Ok(out)
}

fn parse_id(id: &str) -> std::result::Result<Uuid, Failure> {
    Uuid::parse_str(id.trim())
        .map_err(|_| Failure::bad_input(format!("'{id}' is not a run id (a UUID)")))
}

/// Runs a parsed command (except `tui` and `serve`, which the binary starts) and returns the
/// exit status; errors are printed to stderr as one clear line.
pub async fn run(op: &Operator, command: Command, out: &mut dyn Write) -> ExitStatus {
    match execute(op, command, out).await {
        Ok(status) => status,
        Err(f) => {
            eprintln!("error: {}", f.message);
            f.status
        }
    }
}

fn print_json<T: Serialize>(out: &mut dyn Write, value: &T) -> Outcome {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Failure::bad_input(format!("cannot print JSON: {e}")))?;
    writeln!(out, "{text}").map_err(io_failure)?;
    Ok(ExitStatus::Ok)
}

fn io_failure(e: std::io::Error) -> Failure {
    Failure {
        status: ExitStatus::Unavailable,
        message: format!("cannot write the output: {e}"),
    }
}

macro_rules! say {
    ($out:expr, $($arg:tt)*) => {
        writeln!($out, $($arg)*).map_err(io_failure)?
    };
}

async fn execute(op: &Operator, command: Command, out: &mut dyn Write) -> Outcome {
    match command {
        Command::Events(f) => {
            let events = op.events().await?;
            if f.json {
                return print_json(out, &events);
            }
            if events.is_empty() {
                say!(out, "no events recorded yet (start a service)");
            }
            for e in events {
                say!(out, "{}  ->  exchange {}", e.name, e.exchange);
                if !e.description.is_empty() {
                    say!(out, "    {}", e.description);
                }
                for c in e.consumers {
                    say!(
                        out,
                        "    consumer {} ({})",
                        c.endpoint,
                        c.services.join(", ")
                    );
                }
            }
            Ok(ExitStatus::Ok)
        }
        Command::Services(f) => {
            let services = op.services().await?;
            if f.json {
                return print_json(out, &services);
            }
            if services.is_empty() {
                say!(out, "no services recorded");
            }
            for s in services {
                say!(
                    out,
                    "{:<16} {:<6} {}  host {} pid {}  heartbeat {}s ago  consumers {}",
                    s.record.name,
                    if s.alive { "alive" } else { "GONE" },
                    s.record.id,
                    s.record.host,
                    s.record.pid,
                    s.heartbeat_age_secs,
                    s.record.consumers.join(",")
                );
            }
            Ok(ExitStatus::Ok)
        }
        Command::Definitions(cmd) => definitions(op, cmd, out).await,
        Command::Runs(cmd) => runs(op, cmd, out).await,
        Command::Errors(cmd) => errors(op, cmd, out).await,
        Command::Tui | Command::Config(_) | Command::Serve(_) => Err(Failure::bad_input(
            "this command is handled by the binary, not by cli::run",
        )),
    }
}

fn print_definition(out: &mut dyn Write, d: &Definition) -> Outcome {
    say!(out, "{}", d.name);
    if !d.description.is_empty() {
        say!(out, "  {}", d.description);
    }
    for (i, s) in d.steps.iter().enumerate() {
        say!(out, "  {:>2}. {s}", i + 1);
    }
    for (k, v) in &d.variables {
        say!(out, "  var {k} = {v}");
    }
    for line in schedule_lines(d, chrono::Utc::now()) {
        say!(out, "  {line}");
    }
    if let Some(hook) = &d.webhook {
        say!(out, "  webhook POST /hooks/{}", hook.id);
    }
    Ok(ExitStatus::Ok)
}

async fn definitions(op: &Operator, cmd: DefinitionsCommand, out: &mut dyn Write) -> Outcome {
    match cmd {
        DefinitionsCommand::List(f) => {
            let defs = op.definitions().await?;
            if f.json {
                return print_json(out, &defs.iter().map(redacted).collect::<Vec<_>>());
            }
            if defs.is_empty() {
                say!(out, "no definitions");
            }
            for d in defs {
                say!(
                    out,
                    "{:<24} {:>2} steps  {}",
                    d.name,
                    d.steps.len(),
                    d.description
                );
            }
            Ok(ExitStatus::Ok)
        }
        DefinitionsCommand::Show { name, out: f } => {
            let d = op.definition(&name).await?;
            if f.json {
                return print_json(out, &redacted(&d));
            }
            print_definition(out, &d)
        }
        DefinitionsCommand::Create {
            name,
            steps,
            description,
            vars,
            triggers,
            out: f,
        } => {
            let mut def = Definition::new(name, steps.iter().map(|s| s.trim().to_string()))
                .with_description(description)
                .with_variables(parse_vars(&vars)?);
            triggers.apply(&mut def)?;
            let saved = op.create_definition(def).await?;
            if f.json {
                return print_json(out, &redacted(&saved));
            }
            say!(out, "created definition {}", saved.name);
            Ok(ExitStatus::Ok)
        }
        DefinitionsCommand::Update {
            name,
            steps,
            description,
            vars,
            unset,
            triggers,
            remove_schedules,
            remove_webhook,
            out: f,
        } => {
            let mut def = op.definition(&name).await?;
            if let Some(steps) = steps {
                def.steps = steps.iter().map(|s| s.trim().to_string()).collect();
            }
            if let Some(d) = description {
                def.description = d;
            }
            def.variables.extend(parse_vars(&vars)?);
            for k in unset {
                def.variables.remove(&k);
            }
            for id in &remove_schedules {
                let before = def.schedules.len();
                def.schedules.retain(|s| &s.id != id);
                if def.schedules.len() == before {
                    return Err(Error::not_found("schedule", id.clone()).into());
                }
            }
            if remove_webhook {
                def.webhook = None;
            }
            triggers.apply(&mut def)?;
            let saved = op.update_definition(def).await?;
            if f.json {
                return print_json(out, &redacted(&saved));
            }
            say!(out, "updated definition {}", saved.name);
            Ok(ExitStatus::Ok)
        }
        DefinitionsCommand::Delete { name, yes } => {
            if !yes {
                return Err(Failure::bad_input(format!(
                    "deleting definition '{name}' needs --yes"
                )));
            }
            op.delete_definition(&name).await?;
            say!(out, "deleted definition {name}");
            Ok(ExitStatus::Ok)
        }
    }
}

/// One line per run: id, status, definition, progress, age.
pub fn run_line(r: &Run, now: chrono::DateTime<chrono::Utc>) -> String {
    format!(
        "{}  {:<9} {:<24} {:>2}/{:<2} {}",
        r.id,
        r.status.as_str(),
        r.definition,
        r.steps_succeeded(),
        r.steps.len(),
        crate::text::age(now - r.created_at)
    )
}

fn print_run(out: &mut dyn Write, r: &Run) -> Outcome {
    say!(out, "run {}  {}  {}", r.id, r.definition, r.status.as_str());
    say!(
        out,
        "  started {} by {}{}",
        r.created_at.format("%Y-%m-%d %H:%M:%S UTC"),
        r.started_by,
        r.rerun_of
            .map(|o| format!(" (re-run of {o})"))
            .unwrap_or_default()
    );
    for s in &r.steps {
        let duration = s
            .duration()
            .map(|d| format!("{} ms", d.num_milliseconds()))
            .unwrap_or_else(|| "-".into());
        say!(
            out,
            "  {:>2}. {:<32} {:<9} {:>9}  attempts {}  {}",
            s.index + 1,
            s.event,
            s.status.as_str(),
            duration,
            s.attempts,
            s.handled_by.clone().unwrap_or_default()
        );
        if let Some(e) = &s.last_error {
            if s.status != StepStatus::Succeeded {
                say!(out, "      error: {e}");
            }
        }
    }
    if let Some(e) = &r.error {
        say!(out, "  {e}");
    }
    Ok(ExitStatus::Ok)
}

fn finished_status(r: &Run) -> ExitStatus {
    match r.status {
        RunStatus::Succeeded => ExitStatus::Ok,
        RunStatus::Failed | RunStatus::Cancelled => ExitStatus::RunFailed,
        RunStatus::Pending | RunStatus::Running => ExitStatus::Timeout,
    }
}

async fn started(
    op: &Operator,
    run: Run,
    wait: WaitArgs,
    json: bool,
    verb: &str,
    out: &mut dyn Write,
) -> Outcome {
    let run = if wait.wait {
        op.control()
            .wait_for_run(run.id, Duration::from_secs(wait.timeout))
            .await?
    } else {
        run
    };
    if json {
        print_json(out, &run)?;
    } else if wait.wait {
        print_run(out, &run)?;
    } else {
        say!(out, "{verb} run {} of {}", run.id, run.definition);
    }
    Ok(if wait.wait {
        finished_status(&run)
    } else {
        ExitStatus::Ok
    })
}

async fn runs(op: &Operator, cmd: RunsCommand, out: &mut dyn Write) -> Outcome {
    match cmd {
        RunsCommand::Start {
            definition,
            vars,
            wait,
            out: f,
        } => {
            let vars = parse_vars(&vars)?;
            let run = op.start(&definition, vars).await?;
            started(op, run, wait, f.json, "started", out).await
        }
        RunsCommand::List {
            status,
            definition,
            limit,
            out: f,
        } => {
            let status = status
                .map(|s| RunStatus::parse(&s))
                .transpose()
                .map_err(|e| Failure::bad_input(e.to_string()))?;
            let runs = op
                .runs(&RunFilter {
                    status,
                    definition,
                    limit: limit.max(1),
                    ..RunFilter::default()
                })
                .await?;
            if f.json {
                return print_json(out, &runs);
            }
            if runs.is_empty() {
                say!(out, "no runs");
            }
            let now = chrono::Utc::now();
            for r in &runs {
                say!(out, "{}", run_line(r, now));
            }
            Ok(ExitStatus::Ok)
        }
        RunsCommand::Show { id, logs, out: f } => {
            let run = op.run(parse_id(&id)?).await?;
            let lines = if logs {
                op.run_logs(run.id, 0).await?
            } else {
                Vec::new()
            };
            if f.json {
                return print_json(out, &serde_json::json!({"run": run, "logs": lines}));
            }
            print_run(out, &run)?;
            for l in lines {
                say!(out, "{}", crate::text::log_line(&l));
            }
            Ok(ExitStatus::Ok)
        }
        RunsCommand::Rerun { id, wait, out: f } => {
            let run = op.rerun(parse_id(&id)?).await?;
            started(op, run, wait, f.json, "started", out).await
        }
        RunsCommand::Resume { id, wait, out: f } => {
            let run = op.resume(parse_id(&id)?).await?;
            started(op, run, wait, f.json, "resumed", out).await
        }
        RunsCommand::Cancel { id, out: f } => {
            let run = op.cancel(parse_id(&id)?).await?;
            if f.json {
                return print_json(out, &run);
            }
            say!(out, "cancelled run {}", run.id);
            Ok(ExitStatus::Ok)
        }
        RunsCommand::Watch { id, timeout } => watch(op, parse_id(&id)?, timeout, out).await,
    }
}

/// Prints step changes and new log lines as they happen, until the run finishes.
async fn watch(op: &Operator, id: Uuid, timeout: u64, out: &mut dyn Write) -> Outcome {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
    let mut run = op.run(id).await?;
    say!(out, "watching run {} of {}", run.id, run.definition);
    let mut shown: Vec<StepStatus> = vec![StepStatus::Pending; run.steps.len()];
    let mut logs_seen = 0usize;
    loop {
        for s in &run.steps {
            if shown.get(s.index) != Some(&s.status) {
                say!(
                    out,
                    "step {:>2} {:<32} {}",
                    s.index + 1,
                    s.event,
                    s.status.as_str()
                );
                if let Some(slot) = shown.get_mut(s.index) {
                    *slot = s.status;
                }
            }
        }
        let lines = op.run_logs(id, logs_seen).await?;
        logs_seen += lines.len();
        for l in &lines {
            say!(out, "{}", crate::text::log_line(l));
        }
        out.flush().map_err(io_failure)?;
        if run.status.is_finished() {
            // Log lines are written in batches: give the last ones a moment.
            tokio::time::sleep(Duration::from_millis(300)).await;
            for l in op.run_logs(id, logs_seen).await? {
                say!(out, "{}", crate::text::log_line(&l));
            }
            say!(out, "run {} {}", run.id, run.status.as_str());
            if let Some(e) = &run.error {
                say!(out, "{e}");
            }
            return Ok(finished_status(&run));
        }
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            say!(out, "still {} after {timeout}s", run.status.as_str());
            return Ok(ExitStatus::Timeout);
        }
        if let Some(newer) = op
            .wait_for_change(id, run.version, left.min(Duration::from_secs(1)))
            .await?
        {
            run = newer;
        }
    }
}

async fn errors(op: &Operator, cmd: ErrorsCommand, out: &mut dyn Write) -> Outcome {
    match cmd {
        ErrorsCommand::List { endpoint, out: f } => {
            let mut queues = op.error_queues().await?;
            if let Some(ep) = &endpoint {
                queues.retain(|q| &q.endpoint == ep);
                if queues.is_empty() {
                    return Err(Error::not_found("endpoint", ep.clone()).into());
                }
            }
            if f.json {
                return print_json(out, &queues);
            }
            let total: u32 = queues.iter().map(|q| q.count).sum();
            say!(out, "{total} message(s) in error queues");
            for q in queues.iter().filter(|q| q.count > 0) {
                say!(out, "{}_error: {}", q.endpoint, q.count);
                for m in &q.messages {
                    say!(
                        out,
                        "  {}  {}  {}{}",
                        m.message_id,
                        if m.exception_type.is_empty() {
                            "-"
                        } else {
                            &m.exception_type
                        },
                        m.reason,
                        m.run_id
                            .as_ref()
                            .map(|r| format!("  (run {r})"))
                            .unwrap_or_default()
                    );
                }
            }
            Ok(ExitStatus::Ok)
        }
        ErrorsCommand::Requeue {
            endpoint,
            message_id,
        } => {
            op.requeue(&endpoint, &message_id).await?;
            say!(out, "requeued {message_id} to {endpoint}");
            Ok(ExitStatus::Ok)
        }
        ErrorsCommand::Discard {
            endpoint,
            message_id,
        } => {
            op.discard(&endpoint, &message_id).await?;
            say!(out, "discarded {message_id} from {endpoint}_error");
            Ok(ExitStatus::Ok)
        }
    }
}

/// Runs a parsed command line to the end, as the `controlcenter` binary does
/// (also `sample-build-server ctl`): `config show`, `serve`, `tui`, or a CLI
/// command on the connected store and transport. Errors are printed to stderr.
pub async fn dispatch(cli: Cli) -> ExitStatus {
    if let Command::Config(ConfigCommand::Show) = cli.command {
        return match cli.connect.config() {
            Ok(config) => {
                print!("{}", config.to_toml_redacted());
                ExitStatus::Ok
            }
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitStatus::BadInput
            }
        };
    }
    if let Command::Serve(args) = &cli.command {
        return serve(&cli.connect, args).await;
    }
    let tui = matches!(cli.command, Command::Tui);
    if !tui {
        isoqube::telemetry::init_for_cli();
    }
    let op = match cli.connect.connect().await {
        Ok(op) => op,
        Err(e) => {
            // A configuration mistake is bad input (2); anything else means the
            // broker or the store could not be reached (4).
            let failure = Failure::from(e);
            eprintln!("error: {}", failure.message);
            return failure.status;
        }
    };
    if tui {
        let store = op.store().clone();
        let outcome = crate::tui::run(op).await;
        let _ = store.close().await;
        return match outcome {
            Ok(()) => ExitStatus::Ok,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitStatus::Unavailable
            }
        };
    }
    let mut stdout = std::io::stdout();
    let status = run(&op, cli.command, &mut stdout).await;
    let _ = op.store().close().await;
    status
}

/// `serve`: the HTTP API and the scheduler until SIGINT/SIGTERM.
async fn serve(connect: &ConnectArgs, args: &ServeArgs) -> ExitStatus {
    isoqube::telemetry::init();
    let settings = connect.config().and_then(|config| {
        let mut api = config.api.clone();
        if let Some(listen) = &args.listen {
            api.listen = listen.clone();
        }
        if let Some(token) = args.token.as_ref().filter(|t| !t.is_empty()) {
            api.token = Some(token.clone());
        }
        crate::api::ApiSettings::from_config(&api)
    });
    let settings = match settings {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitStatus::BadInput;
        }
    };
    let op = match connect.connect().await {
        Ok(op) => op,
        Err(e) => {
            let failure = Failure::from(e);
            eprintln!("error: {}", failure.message);
            return failure.status;
        }
    };
    let instance = format!("{}-{}", isoqube::host_name(), std::process::id());
    let scheduler = isoqube::schedule::Scheduler::start(op.control().clone(), instance);
    let store = op.store().clone();
    let served = crate::api::serve(op, settings, isoqube::service::shutdown_signal()).await;
    scheduler.stop().await;
    let _ = store.close().await;
    match served {
        Ok(()) => ExitStatus::Ok,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitStatus::Unavailable
        }
    }
}
