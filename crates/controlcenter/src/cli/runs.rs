//! `runs ...`: start, show, re-run, resume, cancel and watch runs (and
//! following one to its end); `list` and `delete` are in `run_lists`.
//!
//! It may use the [`Operator`], the text formats ([`crate::text`]) and the
//! CLI's arguments, exit mapping and output.

use std::io::Write;
use std::time::Duration;

use isoqube::{Rerun, Resume, Run, RunStatus, StartRun, StepStatus};
use uuid::Uuid;

use super::args::{parse_vars, RunsCommand, WaitArgs};
use super::exit::{finished_status, io_failure, ExitStatus, Failure, Outcome};
use super::print::{print_json, print_run, say};
use crate::ops::Operator;
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

/// What was last printed of each step and of its undo, and of the run.
struct Shown {
    steps: Vec<(StepStatus, Option<StepStatus>)>,
    run: RunStatus,
    logs: usize,
}

/// Follows a run until it finishes (or `timeout` passes): each step and each
/// undo as it finishes (number from 1, place in the graph, status, duration,
/// error), then the run's outcome once; the exit code is the run's. The
/// steps and undos of one change are printed before the run's status, so an
/// undo finishing with the run is never shown after its end.
async fn follow(
    op: &Operator,
    mut run: Run,
    timeout: u64,
    detail: Detail,
    out: &mut dyn Write,
) -> Outcome {
    out.flush().map_err(io_failure)?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
    let mut shown = Shown {
        steps: vec![(StepStatus::Pending, None); run.steps.len()],
        run: run.status,
        logs: 0,
    };
    loop {
        print_changes(&run, &mut shown, detail, out)?;
        if detail == Detail::Everything {
            let lines = op.run_logs(run.id, shown.logs).await?;
            shown.logs += lines.len();
            for l in &lines {
                say!(out, "{}", log_line(l));
            }
        }
        out.flush().map_err(io_failure)?;
        if run.status.is_finished() {
            if detail == Detail::Everything {
                // Log lines are written in batches: give the last ones a moment.
                tokio::time::sleep(Duration::from_millis(300)).await;
                for l in op.run_logs(run.id, shown.logs).await? {
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

/// Prints what changed in `run` since `shown`: finished steps and undos
/// (and, with [`Detail::Everything`], starts and a status the run has not
/// finished in; its end is [`follow`]'s last line).
fn print_changes(
    run: &Run,
    shown: &mut Shown,
    detail: Detail,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    let everything = detail == Detail::Everything;
    for s in &run.steps {
        let Some(slot) = shown.steps.get_mut(s.index) else {
            continue;
        };
        if slot.0 != s.status {
            match s.status {
                StepStatus::Pending => {}
                StepStatus::Invoked if everything => {
                    say!(
                        out,
                        "step {:>2} {:<32} {}",
                        s.index + 1,
                        s.name(),
                        s.status.as_str()
                    );
                }
                StepStatus::Invoked => {}
                _ => say!(out, "{}", crate::text::finished_step_line(s)),
            }
            slot.0 = s.status;
        }
        let Some(c) = &s.compensation else {
            continue;
        };
        if slot.1 == Some(c.status) {
            continue;
        }
        match c.status {
            StepStatus::Pending | StepStatus::Skipped => {}
            StepStatus::Invoked if everything => {
                say!(
                    out,
                    "undo {:>2} {:<32} {}  ({})",
                    s.index + 1,
                    c.event,
                    c.status.as_str(),
                    s.name()
                );
            }
            StepStatus::Invoked => {}
            _ => say!(out, "{}", crate::text::finished_undo_line(s, c)),
        }
        slot.1 = Some(c.status);
    }
    if everything && run.status != shown.run && !run.status.is_finished() {
        say!(out, "run {}", run.status.as_str());
    }
    shown.run = run.status;
    Ok(())
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
                .start(StartRun::new(definition).vars(vars).priority_opt(priority))
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
            all,
            before,
            query,
            out: f,
        } => {
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
