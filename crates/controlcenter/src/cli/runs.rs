//! `runs ...`: start, list, show, re-run, resume, cancel and watch runs.
//!
//! It may use the [`Operator`], the text formats ([`crate::text`]) and the
//! CLI's arguments, exit mapping and output.

use std::io::Write;
use std::time::Duration;

use isoqube::{CorruptRun, Run, RunFilter, RunStatus, StepStatus, StuckStep};
use uuid::Uuid;

use super::args::{parse_search_vars, parse_vars, RunsCommand, WaitArgs};
use super::exit::{finished_status, io_failure, ExitStatus, Failure, Outcome};
use super::print::{print_json, print_run, run_line, say};
use crate::ops::Operator;
use crate::text::{log_line, stuck_line};

async fn started(
    op: &Operator,
    run: Run,
    wait: WaitArgs,
    json: bool,
    verb: &str,
    out: &mut dyn Write,
) -> Outcome {
    if wait.wait && !json {
        say!(out, "{verb} run {} of {}", run.id, run.definition);
        return follow(op, run, wait.timeout, out).await;
    }
    let run = if wait.wait {
        op.control()
            .wait_for_run(run.id, Duration::from_secs(wait.timeout))
            .await?
    } else {
        run
    };
    if json {
        print_json(out, &run)?;
    } else {
        say!(out, "{verb} run {} of {}", run.id, run.definition);
    }
    Ok(if wait.wait {
        finished_status(&run)
    } else {
        ExitStatus::Ok
    })
}

/// `--wait` without `--json`: each step as it finishes (number from 1,
/// place in the graph, event, status, duration), then the run's outcome;
/// the exit code is the run's.
async fn follow(op: &Operator, mut run: Run, timeout: u64, out: &mut dyn Write) -> Outcome {
    out.flush().map_err(io_failure)?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
    let mut shown = vec![false; run.steps.len()];
    loop {
        for s in &run.steps {
            let done = !matches!(s.status, StepStatus::Pending | StepStatus::Invoked);
            if done && !shown.get(s.index).copied().unwrap_or(true) {
                say!(out, "{}", crate::text::finished_step_line(s));
                if let Some(slot) = shown.get_mut(s.index) {
                    *slot = true;
                }
            }
        }
        out.flush().map_err(io_failure)?;
        if run.status.is_finished() {
            let took = run
                .finished_at
                .map(|f| format!(" in {}", crate::text::duration_text(f - run.created_at)))
                .unwrap_or_default();
            say!(out, "run {} {}{took}", run.id, run.status.as_str());
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
            .wait_for_change(run.id, run.version, left.min(Duration::from_secs(1)))
            .await?
        {
            run = newer;
        }
    }
}

/// Runs a `runs` subcommand.
pub(super) async fn execute(op: &Operator, cmd: RunsCommand, out: &mut dyn Write) -> Outcome {
    match cmd {
        RunsCommand::Start {
            definition,
            vars,
            priority,
            wait,
            out: f,
        } => {
            let vars = parse_vars(&vars)?;
            let run = op
                .start_with_priority(&definition, vars, &crate::ops::started_by(), priority)
                .await?;
            started(op, run, wait, f.json, "started", out).await
        }
        RunsCommand::List {
            status,
            stuck,
            definition,
            id_prefix,
            vars,
            log_text,
            limit,
            out: f,
        } => {
            if stuck {
                return list_stuck(op, definition.as_deref(), f.json, out).await;
            }
            let status = status
                .map(|s| RunStatus::parse(&s))
                .transpose()
                .map_err(|e| Failure::bad_input(e.to_string()))?;
            let page = op
                .runs(&RunFilter {
                    status,
                    definition,
                    id_prefix: id_prefix
                        .map(|p| {
                            crate::text::run_id_prefix(&p).ok_or_else(|| {
                                Failure::bad_input(format!(
                                    "--id '{p}' cannot start a run id (hex digits and '-')"
                                ))
                            })
                        })
                        .transpose()?,
                    variables: parse_search_vars(&vars)?,
                    log_text,
                    limit: limit.max(1),
                    ..RunFilter::default()
                })
                .await?;
            let stuck = op.stuck_steps(&page.runs).await?;
            if f.json {
                return print_json(
                    out,
                    &serde_json::json!({"runs": page.runs, "stuck": stuck, "corrupt": page.corrupt}),
                );
            }
            if page.runs.is_empty() {
                say!(out, "no runs");
            }
            let now = chrono::Utc::now();
            for r in &page.runs {
                let marker = if stuck.iter().any(|s| s.run_id == r.id) {
                    "  STUCK"
                } else {
                    ""
                };
                say!(out, "{}{marker}", run_line(r, now));
            }
            report_corrupt(&page.corrupt);
            Ok(ExitStatus::Ok)
        }
        RunsCommand::Show { id, logs, out: f } => {
            let run = op.run(op.run_id(&id).await?).await?;
            let lines = if logs {
                op.run_logs(run.id, 0).await?
            } else {
                Vec::new()
            };
            let stuck = op.stuck_steps(std::slice::from_ref(&run)).await?;
            if f.json {
                return print_json(
                    out,
                    &serde_json::json!({"run": run, "logs": lines, "stuck": stuck}),
                );
            }
            print_run(out, &run, &stuck, chrono::Utc::now())?;
            for l in lines {
                say!(out, "{}", log_line(&l));
            }
            Ok(ExitStatus::Ok)
        }
        RunsCommand::Rerun {
            id,
            vars,
            wait,
            out: f,
        } => {
            let vars = parse_vars(&vars)?;
            let run = op.rerun_with(op.run_id(&id).await?, vars).await?;
            started(op, run, wait, f.json, "started", out).await
        }
        RunsCommand::Resume {
            id,
            vars,
            wait,
            out: f,
        } => {
            let vars = parse_vars(&vars)?;
            let run = op.resume_with(op.run_id(&id).await?, vars).await?;
            started(op, run, wait, f.json, "resumed", out).await
        }
        RunsCommand::Cancel {
            id,
            compensate,
            out: f,
        } => {
            let id = op.run_id(&id).await?;
            let run = if compensate {
                op.cancel_and_compensate(id).await?
            } else {
                op.cancel(id).await?
            };
            if f.json {
                return print_json(out, &run);
            }
            match run.status {
                isoqube::RunStatus::Compensating => say!(
                    out,
                    "cancelled run {}; compensating what it did (runs watch {} follows it)",
                    run.id,
                    crate::text::short_id(&run.id)
                ),
                _ => say!(out, "cancelled run {}", run.id),
            }
            Ok(ExitStatus::Ok)
        }
        RunsCommand::Watch { id, timeout } => watch(op, op.run_id(&id).await?, timeout, out).await,
    }
}

/// `runs list --stuck`: every stuck run with its stuck steps.
async fn list_stuck(
    op: &Operator,
    definition: Option<&str>,
    json: bool,
    out: &mut dyn Write,
) -> Outcome {
    let report = op.stuck_runs(definition).await?;
    if json {
        let runs: Vec<&Run> = report.runs.iter().map(|s| &s.run).collect();
        let stuck: Vec<&StuckStep> = report.runs.iter().flat_map(|s| &s.steps).collect();
        return print_json(
            out,
            &serde_json::json!({"runs": runs, "stuck": stuck, "corrupt": report.corrupt}),
        );
    }
    if report.runs.is_empty() {
        say!(
            out,
            "no stuck runs (none has a step with no live handler for more than {}s)",
            op.stuck_rule().after.as_secs()
        );
    }
    let now = chrono::Utc::now();
    for s in &report.runs {
        say!(out, "{}  STUCK", run_line(&s.run, now));
        for step in &s.steps {
            say!(out, "    {}", stuck_line(step, now));
        }
    }
    report_corrupt(&report.corrupt);
    Ok(ExitStatus::Ok)
}

/// Names the records a list skipped, on stderr (stdout stays the list).
fn report_corrupt(corrupt: &[CorruptRun]) {
    if corrupt.is_empty() {
        return;
    }
    let ids: Vec<&str> = corrupt.iter().map(|c| c.id.as_str()).collect();
    eprintln!(
        "skipped {} corrupt run record(s): {} (`runs show ID` says what does not parse)",
        corrupt.len(),
        ids.join(", ")
    );
}

/// Prints step changes and new log lines as they happen, until the run finishes.
async fn watch(op: &Operator, id: Uuid, timeout: u64, out: &mut dyn Write) -> Outcome {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
    let mut run = op.run(id).await?;
    say!(out, "watching run {} of {}", run.id, run.definition);
    // What was last printed of each step and of its compensation, and of the
    // run: every change is a line, so parallel branches show as they go.
    let mut shown: Vec<(StepStatus, Option<StepStatus>)> =
        vec![(StepStatus::Pending, None); run.steps.len()];
    let mut run_shown = run.status;
    let mut logs_seen = 0usize;
    loop {
        if run.status != run_shown {
            say!(out, "run {}", run.status.as_str());
            run_shown = run.status;
        }
        for s in &run.steps {
            let Some(slot) = shown.get_mut(s.index) else {
                continue;
            };
            if slot.0 != s.status {
                let place = s.place().map(|p| format!("  ({p})")).unwrap_or_default();
                let attempts = match s.status {
                    StepStatus::Invoked | StepStatus::Pending | StepStatus::Skipped => {
                        String::new()
                    }
                    _ => format!("  attempts {}", s.attempts),
                };
                say!(
                    out,
                    "step {:>2} {:<32} {}{attempts}{place}",
                    s.index + 1,
                    s.name(),
                    s.status.as_str()
                );
                slot.0 = s.status;
            }
            let undo = s
                .compensation
                .as_ref()
                .filter(|c| !matches!(c.status, StepStatus::Pending | StepStatus::Skipped));
            if let Some(c) = undo {
                if slot.1 != Some(c.status) {
                    say!(
                        out,
                        "undo {:>2} {:<32} {}  ({})",
                        s.index + 1,
                        c.event,
                        c.status.as_str(),
                        s.name()
                    );
                    slot.1 = Some(c.status);
                }
            }
        }
        let lines = op.run_logs(id, logs_seen).await?;
        logs_seen += lines.len();
        for l in &lines {
            say!(out, "{}", log_line(l));
        }
        out.flush().map_err(io_failure)?;
        if run.status.is_finished() {
            // Log lines are written in batches: give the last ones a moment.
            tokio::time::sleep(Duration::from_millis(300)).await;
            for l in op.run_logs(id, logs_seen).await? {
                say!(out, "{}", log_line(&l));
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
