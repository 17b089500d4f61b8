//! The CLI's output: JSON for `--json`, and the human forms of definitions and
//! runs (tables and detail lines). [`say!`](say) writes one line and turns a
//! write error into a [`Failure`](super::Failure).
//!
//! It may use the exit mapping ([`super::exit`]) and the text formats
//! ([`crate::text`]).

use std::io::Write;

use chrono::{DateTime, Utc};
use isoqube::model::StepHandler;
use isoqube::{model::StuckStep, Definition, Run, StepStatus};
use serde::Serialize;

use super::exit::{io_failure, ExitStatus, Failure, Outcome};
use crate::text::schedule_lines;

/// Writes one formatted line to `out`, returning a [`Failure`](super::Failure)
/// from the enclosing function when the write fails.
macro_rules! say {
    ($out:expr, $($arg:tt)*) => {
        writeln!($out, $($arg)*).map_err($crate::cli::exit::io_failure)?
    };
}
pub(super) use say;

/// Prints `value` as pretty JSON.
pub(super) fn print_json<T: Serialize>(out: &mut dyn Write, value: &T) -> Outcome {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Failure::bad_input(format!("cannot print JSON: {e}")))?;
    writeln!(out, "{text}").map_err(io_failure)?;
    Ok(ExitStatus::Ok)
}

/// A definition as JSON: the shape the API answers with
/// ([`crate::ops::DefinitionView`]).
pub(super) fn redacted(def: &Definition) -> crate::ops::DefinitionView {
    crate::ops::definition_view(def.clone(), chrono::Utc::now())
}

/// A definition as `definitions show` prints it.
pub(super) fn print_definition(out: &mut dyn Write, d: &Definition) -> Outcome {
    say!(out, "{}", d.name);
    if !d.description.is_empty() {
        say!(out, "  {}", d.description);
    }
    say!(out, "  priority {}", d.priority);
    for (i, s) in d.steps.iter().enumerate() {
        let undo = s
            .compensate
            .as_deref()
            .map(|c| format!(", undone by {c}"))
            .unwrap_or_default();
        say!(out, "  {:>2}. {}{undo}", i + 1, crate::text::step_text(s));
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

/// A priority as the lists show it: nothing for the default 0 (most runs),
/// else `  priority N`.
pub(super) fn priority_note(priority: u8) -> String {
    if priority == 0 {
        String::new()
    } else {
        format!("  priority {priority}")
    }
}

/// One line per run: id, status, definition, progress, age, duration (so
/// far, while it runs), its priority when not 0 and the first failed step
/// (numbered from 1).
pub fn run_line(r: &Run, now: chrono::DateTime<chrono::Utc>) -> String {
    let duration = crate::text::duration_text(r.finished_at.unwrap_or(now) - r.created_at);
    let failed = r
        .steps
        .iter()
        .find(|s| s.status == StepStatus::Failed)
        .map(|s| format!("  failed at step {} {}", s.index + 1, s.name()))
        .unwrap_or_default();
    format!(
        "{}  {:<9} {:<24} {:>2}/{:<2} {:>4} ago  took {:>7}{}{failed}",
        r.id,
        r.status.as_str(),
        r.definition,
        r.steps_succeeded(),
        r.steps.len(),
        crate::text::age(now - r.created_at),
        duration,
        priority_note(r.priority),
    )
}

/// A run with its steps, as `runs show` prints it at `now`: a running step
/// (or undo) with how long it has run and on which handler, a waiting one
/// with what it waits for and until when, and each of
/// `stuck` (the run's stuck steps) marked beneath its step.
pub(super) fn print_run(
    out: &mut dyn Write,
    r: &Run,
    stuck: &[StuckStep],
    now: DateTime<Utc>,
) -> Outcome {
    let marker = if stuck.is_empty() { "" } else { "  STUCK" };
    say!(
        out,
        "run {}  {}  {}{marker}",
        r.id,
        r.definition,
        r.status.as_str()
    );
    say!(
        out,
        "  started {} by {}{}  priority {}",
        r.created_at.format("%Y-%m-%d %H:%M:%S UTC"),
        r.started_by,
        r.rerun_of
            .map(|o| format!(" (re-run of {o})"))
            .unwrap_or_default(),
        r.priority
    );
    for s in &r.steps {
        let duration = s
            .duration()
            .map(|d| format!("{} ms", d.num_milliseconds()))
            .unwrap_or_else(|| "-".into());
        let place = s.place().map(|p| format!("  ({p})")).unwrap_or_default();
        let optional = if s.optional { "  optional" } else { "" };
        let handler = match s.status {
            StepStatus::Invoked => running(&s.handlers, s.invoked_at, now),
            _ => s.handled_by.clone().unwrap_or_default(),
        };
        say!(
            out,
            "  {:>2}. {:<32} {:<9} {:>9}  attempts {}  {handler}{place}{optional}",
            s.index + 1,
            s.name(),
            s.status.as_str(),
            duration,
            s.attempts,
        );
        if let Some(e) = &s.last_error {
            if s.status != StepStatus::Succeeded {
                say!(out, "      error: {e}");
            }
        }
        if let Some(wait) = crate::text::wait_line(s, now) {
            say!(out, "      {wait}");
        }
        for st in stuck.iter().filter(|st| st.step == s.index) {
            say!(out, "      STUCK: {}", crate::text::stuck_line(st, now));
        }
        // Its compensation, beneath it, once the run needed it.
        if let Some(c) = s
            .compensation
            .as_ref()
            .filter(|c| !matches!(c.status, StepStatus::Pending | StepStatus::Skipped))
        {
            let took = c
                .duration()
                .map(|d| format!("{} ms", d.num_milliseconds()))
                .unwrap_or_else(|| "-".into());
            let handler = match c.status {
                StepStatus::Invoked => running(&c.handlers, c.invoked_at, now),
                _ => c.handled_by.clone().unwrap_or_default(),
            };
            say!(
                out,
                "      undo {:<27} {:<9} {:>9}  attempts {}  {handler}",
                c.event,
                c.status.as_str(),
                took,
                c.attempts,
            );
            if let (Some(e), StepStatus::Failed) = (&c.last_error, c.status) {
                say!(out, "      error: {e}");
            }
        }
    }
    if let Some(at) = r.cancelled_at {
        say!(out, "  cancelled {}", at.format("%Y-%m-%d %H:%M:%S UTC"));
    }
    if let Some(e) = &r.error {
        say!(out, "  {e}");
    }
    Ok(ExitStatus::Ok)
}

/// Where and for how long a step (or an undo) runs: `running 12.3s on
/// linux-build (instance linux-pool@host:42:ab12)` for each handler working
/// on it, from its pick-up (the step's invocation when no handler is
/// recorded yet).
fn running(
    handlers: &[StepHandler],
    invoked_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> String {
    let since = |at: Option<DateTime<Utc>>| {
        at.map(|at| format!(" {}", crate::text::duration_text(now - at)))
            .unwrap_or_default()
    };
    let on: Vec<String> = handlers
        .iter()
        .filter(|h| h.status == StepStatus::Invoked)
        .map(|h| {
            format!(
                "running{} on {} (instance {})",
                since(h.started_at.or(invoked_at)),
                h.endpoint,
                h.host
            )
        })
        .collect();
    if on.is_empty() {
        format!("running{} (no handler recorded)", since(invoked_at))
    } else {
        on.join("; ")
    }
}
