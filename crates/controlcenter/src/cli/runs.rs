//! `runs ...`: start, show, re-run, resume, cancel and watch runs (and
//! following one to its end); `list` and `delete` are in `run_lists`,
//! `signal` in `signals`.
//!
//! It may use the [`Operator`], the text formats ([`crate::text`]) and the
//! CLI's arguments, exit mapping and output.

use std::io::Write;
use std::time::Duration;

use futures_util::StreamExt;
use isoqube::{Rerun, Resume, Run, StartRun};
use uuid::Uuid;

use super::args::{parse_vars, RunsCommand, WaitArgs};
use super::exit::{finished_status, io_failure, ExitStatus, Failure, Outcome};
use super::print::{print_json, print_run, say};
use crate::ops::{Operator, RunChange, WatchFrom};
use crate::text::log_line;

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
        return follow(op, run, wait.timeout, Detail::Outcomes, out).await;
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

/// What [`follow`] prints besides each step and undo as it finishes and the
/// run's end: `runs watch` also shows starts, the run's status changes and
/// the log lines; `--wait` keeps to the outcomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Detail {
    /// `--wait`: finished steps and undos, then the end.
    Outcomes,
    /// `runs watch`: also starts, status changes and log lines.
    Everything,
}

/// Follows a run until it finishes (or `timeout` passes), formatting
/// [`Operator::watch`]'s changes: each step and each undo as it finishes
/// (number from 1, place in the graph, status, duration, error), then the
/// run's outcome once; the exit code is the run's. The steps and undos of
/// one change are printed before the run's status, so an undo finishing
/// with the run is never shown after its end.
async fn follow(
    op: &Operator,
    run: Run,
    timeout: u64,
    detail: Detail,
    out: &mut dyn Write,
) -> Outcome {
    out.flush().map_err(io_failure)?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
    let everything = detail == Detail::Everything;
    let from = WatchFrom {
        seen: None,
        logs: everything,
        slice: Duration::from_secs(1),
    };
    let changes = op.watch(run.id, from);
    futures_util::pin_mut!(changes);
    let (mut pending, mut status, mut logs) = (Vec::new(), run.status, 0);
    let mut printed = std::collections::HashMap::new();
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let Ok(next) = tokio::time::timeout(left, changes.next()).await else {
            say!(out, "still {} after {timeout}s", status.as_str());
            return Ok(ExitStatus::Timeout);
        };
        let Some(change) = next else {
            return Err(Failure::from(isoqube::Error::InvalidState(format!(
                "run {} is no longer there",
                run.id
            ))));
        };
        let run = match change? {
            RunChange::Logs(lines) => {
                logs += lines.len();
                for l in &lines {
                    say!(out, "{}", log_line(l));
                }
                out.flush().map_err(io_failure)?;
                continue;
            }
            c @ (RunChange::Step(_) | RunChange::Compensation(_)) => {
                pending.push(c);
                continue;
            }
            RunChange::Snapshot(run) | RunChange::Updated(run) => run,
        };
        for c in pending.drain(..) {
            let Some((key, status)) = step_status(&c) else {
                continue;
            };
            // A retry (attempts alone) or a status already printed: nothing new.
            if printed.insert(key, status) == Some(status) {
                continue;
            }
            if let Some(line) = change_line(&run, &c, everything) {
                say!(out, "{line}");
            }
        }
        if everything && run.status != status && !run.status.is_finished() {
            say!(out, "run {}", run.status.as_str());
        }
        status = run.status;
        out.flush().map_err(io_failure)?;
        if run.status.is_finished() {
            return finish(op, &run, everything, logs, out).await;
        }
    }
}

/// The line a follower prints for a step's or an undo's change (`run` is
/// the run after it), the same for `runs watch` and `--wait`: a finished
/// one as [`crate::text::finished_step_line`] /
/// [`crate::text::finished_undo_line`]; a step that waits as
/// [`crate::text::wait_line`] says; a start only
/// with `starts` (`runs watch`); nothing for a step back to pending or an
/// undo skipped.
pub fn change_line(
    run: &isoqube::Run,
    change: &crate::ops::RunChange,
    starts: bool,
) -> Option<String> {
    use crate::ops::RunChange;
    use isoqube::StepStatus;
    let (c, undo) = match change {
        RunChange::Step(c) => (c, false),
        RunChange::Compensation(c) => (c, true),
        _ => return None,
    };
    let s = run.steps.get(c.index)?;
    match (undo, c.status) {
        (_, StepStatus::Pending) | (true, StepStatus::Skipped) => None,
        (false, StepStatus::Invoked) => starts.then(|| {
            format!(
                "step {:>2} {:<32} {}",
                c.index + 1,
                c.step,
                c.status.as_str()
            )
        }),
        (true, StepStatus::Invoked) => starts.then(|| {
            format!(
                "undo {:>2} {:<32} {}  ({})",
                c.index + 1,
                c.event,
                c.status.as_str(),
                c.step
            )
        }),
        (false, StepStatus::Waiting) => Some(format!(
            "step {:>2} {:<32} {}",
            c.index + 1,
            c.step,
            crate::text::wait_line(s, chrono::Utc::now())
                .unwrap_or_else(|| c.status.as_str().to_string())
        )),
        (false, _) => Some(crate::text::finished_step_line(s)),
        (true, _) => s
            .compensation
            .as_ref()
            .map(|u| crate::text::finished_undo_line(s, u)),
    }
}

/// Which step (or undo) a change is of, and its status.
fn step_status(change: &RunChange) -> Option<((usize, bool), isoqube::StepStatus)> {
    match change {
        RunChange::Step(c) => Some(((c.index, false), c.status)),
        RunChange::Compensation(c) => Some(((c.index, true), c.status)),
        _ => None,
    }
}

/// The run's end: its last log lines (with `logs`, after the `seen` ones),
/// then its outcome once.
async fn finish(op: &Operator, run: &Run, logs: bool, seen: usize, out: &mut dyn Write) -> Outcome {
    if logs {
        // Log lines are written in batches: give the last ones a moment.
        tokio::time::sleep(Duration::from_millis(300)).await;
        for l in op.run_logs(run.id, seen).await? {
            say!(out, "{}", log_line(&l));
        }
    }
    let took = run
        .finished_at
        .map(|f| format!(" in {}", crate::text::duration_text(f - run.created_at)))
        .unwrap_or_default();
    say!(out, "run {} {}{took}", run.id, run.status.as_str());
    if let Some(e) = &run.error {
        say!(out, "{e}");
    }
    out.flush().map_err(io_failure)?;
    Ok(finished_status(run))
}

/// `runs start`: starts the run (now, or later: then it says when) and
/// follows it as `--wait` asks.
async fn start_run(
    op: &Operator,
    start: StartRun,
    wait: WaitArgs,
    json: bool,
    out: &mut dyn Write,
) -> Outcome {
    let run = op.start(start).await?;
    if let Some(at) = run.start_at.filter(|_| !json) {
        say!(out, "run {} starts at {}", run.id, at.to_rfc3339());
    }
    started(op, run, wait, json, "started", out).await
}

/// `runs list`: the stuck runs, or a page of runs as the flags and words ask.
async fn list(op: &Operator, cmd: RunsCommand, out: &mut dyn Write) -> Outcome {
    let RunsCommand::List {
        status,
        stuck,
        definition,
        id_prefix,
        vars,
        log_text,
        limit,
        all,
        before,
        query,
        out: f,
    } = cmd
    else {
        unreachable!("execute passes a `runs list` only")
    };
    {
        if stuck {
            return super::run_lists::list_stuck(op, definition.as_deref(), f.json, out).await;
        }
        let query = super::run_lists::ListQuery {
            status,
            definition,
            id_prefix,
            vars,
            log_text,
            words: query,
            limit: if all { None } else { Some(limit.max(1)) },
            before,
        };
        super::run_lists::list(op, query, f.json, out).await
    }
}

/// Runs a `runs` subcommand.
pub(super) async fn execute(op: &Operator, cmd: RunsCommand, out: &mut dyn Write) -> Outcome {
    match cmd {
        RunsCommand::Start {
            definition,
            vars,
            priority,
            at,
            in_,
            wait,
            out: f,
        } => {
            let mut start = StartRun::new(definition)
                .vars(parse_vars(&vars)?)
                .priority_opt(priority);
            start.at = at.or_else(|| in_.and_then(|d| StartRun::default().after(d).at));
            start_run(op, start, wait, f.json, out).await
        }
        cmd @ RunsCommand::List { .. } => list(op, cmd, out).await,
        RunsCommand::Delete {
            id,
            before,
            status,
            yes,
            out: f,
        } => super::run_lists::delete(op, id, before, status, yes, f.json, out).await,
        RunsCommand::Show { id, logs, out: f } => show(op, &id, logs, f.json, out).await,
        RunsCommand::Rerun {
            id,
            vars,
            wait,
            out: f,
        } => {
            let vars = parse_vars(&vars)?;
            let run = op
                .rerun(op.run_id(&id).await?, Rerun::new().vars(vars))
                .await?;
            started(op, run, wait, f.json, "started", out).await
        }
        RunsCommand::Resume {
            id,
            vars,
            wait,
            out: f,
        } => {
            let vars = parse_vars(&vars)?;
            let run = op
                .resume(op.run_id(&id).await?, Resume::new().vars(vars))
                .await?;
            started(op, run, wait, f.json, "resumed", out).await
        }
        RunsCommand::Signal {
            id,
            event,
            matching,
            data,
            vars,
            out: f,
        } => {
            use super::signals::{signal, Addressee};
            let to = match (matching, id, event) {
                (Some(event), _, _) => Addressee::Matching { event },
                (None, Some(id), Some(event)) => Addressee::Run { id, event },
                _ => {
                    return Err(super::exit::Failure::bad_input(
                        "runs signal takes a run id and an event, or --match EVENT",
                    ))
                }
            };
            signal(op, to, data, &vars, f.json, out).await
        }
        RunsCommand::Cancel {
            id,
            compensate,
            out: f,
        } => cancel(op, &id, compensate, f.json, out).await,
        RunsCommand::Watch { id, timeout } => watch(op, op.run_id(&id).await?, timeout, out).await,
    }
}

/// `runs show`: the run with its steps (a running one's handler and time, a
/// stuck one marked), and its log lines with `--logs`.
async fn show(op: &Operator, id: &str, logs: bool, json: bool, out: &mut dyn Write) -> Outcome {
    let run = op.run(op.run_id(id).await?).await?;
    let lines = if logs {
        op.run_logs(run.id, 0).await?
    } else {
        Vec::new()
    };
    let stuck = op.stuck_steps(std::slice::from_ref(&run)).await?;
    if json {
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

/// `runs cancel [--compensate]`.
async fn cancel(
    op: &Operator,
    id: &str,
    compensate: bool,
    json: bool,
    out: &mut dyn Write,
) -> Outcome {
    let id = op.run_id(id).await?;
    let run = if compensate {
        op.cancel_and_compensate(id).await?
    } else {
        op.cancel(id).await?
    };
    if json {
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

/// `runs watch`: starts, outcomes, status changes and log lines as they
/// happen, until the run finishes.
async fn watch(op: &Operator, id: Uuid, timeout: u64, out: &mut dyn Write) -> Outcome {
    let run = op.run(id).await?;
    say!(out, "watching run {} of {}", run.id, run.definition);
    follow(op, run, timeout, Detail::Everything, out).await
}
