//! The invariants of a compensated run: on its record (every undo recorded
//! once, in reverse dependency order, after the failure) and on the
//! consumers' side effects, which they log (nothing undone twice unless a
//! process died mid-undo or the broker went away under it).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use isoqube::{Run, StepStatus};
use uuid::Uuid;

use crate::checks::{in_window, Window};

/// The step a compensated soak run fails at (`fail_step`): the last, so
/// every compensation of `linux-release` is needed.
pub const FAILING: &str = "BroadcastRelease";

/// The compensations of a `linux-release` run that failed at its last step:
/// the three builds' and the two deployments'.
pub const COMPENSATIONS: usize = 5;

/// The line each compensation's consumer logs once its undo is done (the
/// sample's `services`), by the compensation's event.
const SIDE_EFFECTS: [(&str, &str); 3] = [
    ("RemoveLinuxArtifacts", "removed app-"),
    ("UndeployFromVm", "undeployed the release from"),
    ("RemoveContainerImage", "deleted registry.local"),
];

/// The run variables that start a run meant to be compensated.
pub fn failing_vars(work_ms: u64) -> isoqube::Variables {
    isoqube::context::vars_from(serde_json::json!({"work_ms": work_ms, "fail_step": FAILING}))
}

/// For each step: the steps that run after it, directly or not.
fn later_steps(run: &Run) -> Vec<BTreeSet<usize>> {
    let n = run.steps.len();
    let mut later = vec![BTreeSet::new(); n];
    // Steps come in dependency order: a step's dependencies are earlier.
    for step in run.steps.iter().rev() {
        for d in step.deps() {
            if d < n {
                let mut add = later[step.index].clone();
                add.insert(step.index);
                later[d].extend(add);
            }
        }
    }
    later
}

/// Each compensation recorded `Succeeded` once (one handler succeeded, none
/// left in flight), started after the failure, and not before every
/// compensation of a step that ran after its step had completed (the
/// deployments' undos before every build's).
pub fn check_record(run: &Run) {
    let failed_at = run
        .steps
        .iter()
        .find(|s| s.event == FAILING)
        .and_then(|s| s.failed_at)
        .unwrap_or_else(|| panic!("run {}: {FAILING} has no failure time", run.id));
    let mut undone = 0;
    for step in &run.steps {
        let Some(c) = &step.compensation else {
            continue;
        };
        let what = format!(
            "run {} compensation {} of step {}",
            run.id, c.event, step.index
        );
        assert_eq!(c.status, StepStatus::Succeeded, "{what}: {c:#?}");
        let finished = c
            .handlers
            .iter()
            .filter(|h| h.status == StepStatus::Succeeded)
            .count();
        assert_eq!(finished, 1, "{what}: succeeded handlers: {c:#?}");
        assert!(
            c.handlers.iter().all(|h| h.status != StepStatus::Invoked),
            "{what} keeps a handler in flight: {c:#?}"
        );
        assert!(
            c.handled_by.is_some() && c.completed_at.is_some(),
            "{what}: {c:#?}"
        );
        let started = c
            .invoked_at
            .unwrap_or_else(|| panic!("{what} has no start: {c:#?}"));
        assert!(
            started >= failed_at,
            "{what} started at {started}, before {FAILING} failed at {failed_at}"
        );
        undone += 1;
    }
    assert_eq!(undone, COMPENSATIONS, "run {}: compensations", run.id);
    let later = later_steps(run);
    for step in &run.steps {
        let Some(c) = &step.compensation else {
            continue;
        };
        // Every start the record kept: the first pick-up and each handler's.
        let starts = c
            .invoked_at
            .into_iter()
            .chain(c.handlers.iter().filter_map(|h| h.started_at));
        let first = starts.min();
        for &j in &later[step.index] {
            let Some(after) = &run.steps[j].compensation else {
                continue;
            };
            let done = after.completed_at;
            assert!(
                first.is_some() && done.is_some() && first >= done,
                "run {}: {} of step {} started at {first:?}, before {} of step {j} (which ran \
                 after it) completed at {done:?}",
                run.id,
                c.event,
                step.index,
                after.event
            );
        }
    }
}

/// A run that succeeded ran no compensation.
pub fn check_none_ran(run: &Run) {
    for step in &run.steps {
        if let Some(c) = &step.compensation {
            assert!(
                c.handlers.is_empty()
                    && !matches!(
                        c.status,
                        StepStatus::Invoked | StepStatus::Succeeded | StepStatus::Failed
                    ),
                "run {} succeeded, yet step {}'s compensation ran: {c:#?}",
                run.id,
                step.index
            );
        }
    }
}

/// One side-effect line: which process logged it, when, and what it says.
#[derive(Debug)]
struct Undid {
    log: String,
    at: Option<DateTime<Utc>>,
    marker: &'static str,
}

/// The side-effect lines in the processes' logs, by run and step. A line is
/// `<time>  INFO step{run_id=<id> step=<n> event=... }: <message>`, `n`
/// numbered from 1.
fn side_effects(logs: &[(String, String)]) -> BTreeMap<(Uuid, usize), Vec<Undid>> {
    let mut found: BTreeMap<(Uuid, usize), Vec<Undid>> = BTreeMap::new();
    for (log, text) in logs {
        for line in text.lines() {
            let Some(marker) = SIDE_EFFECTS
                .iter()
                .map(|(_, m)| *m)
                .find(|m| line.contains(&format!("}}: {m}")))
            else {
                continue;
            };
            let run = line
                .split_once("run_id=")
                .and_then(|(_, rest)| rest.get(..36))
                .and_then(|id| id.parse::<Uuid>().ok());
            let step = line
                .split_once(" step=")
                .and_then(|(_, rest)| rest.split(|c: char| !c.is_ascii_digit()).next())
                .and_then(|n| n.parse::<usize>().ok())
                .and_then(|n| n.checked_sub(1));
            let (Some(run), Some(step)) = (run, step) else {
                panic!("a side-effect line without its run and step in {log}: {line}");
            };
            let at = line
                .split_whitespace()
                .next()
                .and_then(|t| t.parse::<DateTime<Utc>>().ok());
            found.entry((run, step)).or_default().push(Undid {
                log: log.clone(),
                at,
                marker,
            });
        }
    }
    found
}

/// Every compensation recorded succeeded did its undo (a consumer logs the
/// line before it returns, on unbuffered stderr), the undo its step names,
/// and at most once, except where a process was SIGKILLed mid-undo (after the
/// line, before its success was recorded: the redelivery runs it again in
/// another process), or the broker went away under it (the delivery's
/// channel closed, so the message is redelivered while the first consumer
/// still runs; the claim lets a redelivery take over an unfinished handler).
/// So: more than one line only when at most one of them came from a process
/// still alive, or one was logged inside an outage. No undo in a run that
/// succeeded, nor of a step that names none. Returns the explained repeats.
pub fn check_side_effects(
    runs: &[Run],
    compensated: &BTreeSet<Uuid>,
    logs: &[(String, String)],
    killed_logs: &BTreeSet<String>,
    outages: &[Window],
) -> usize {
    let mut found = side_effects(logs);
    let mut repeats = 0;
    for run in runs.iter().filter(|r| compensated.contains(&r.id)) {
        for step in &run.steps {
            // Not undone (not needed, or not reached): what undid it is stray.
            let Some(c) = step
                .compensation
                .as_ref()
                .filter(|c| c.status == StepStatus::Succeeded)
            else {
                continue;
            };
            let lines = found.remove(&(run.id, step.index)).unwrap_or_default();
            let what = format!(
                "run {} compensation {} of step {}",
                run.id, c.event, step.index
            );
            assert!(
                !lines.is_empty(),
                "{what} is recorded succeeded, yet no process logged its undo"
            );
            let marker = SIDE_EFFECTS
                .iter()
                .find(|(e, _)| *e == c.event)
                .map(|(_, m)| *m);
            assert!(
                lines.iter().all(|l| Some(l.marker) == marker),
                "{what}: another undo ran for it: {lines:?}"
            );
            if lines.len() > 1 {
                let live = lines
                    .iter()
                    .filter(|l| !killed_logs.contains(&l.log))
                    .count();
                let in_outage = lines
                    .iter()
                    .any(|l| l.at.is_some_and(|t| in_window(outages, t)));
                assert!(
                    live <= 1 || in_outage,
                    "{what} was undone {} times, {live} of them by processes never killed, \
                     outside any outage: {lines:?}",
                    lines.len()
                );
                repeats += lines.len() - 1;
            }
        }
    }
    let ours: BTreeSet<Uuid> = runs.iter().map(|r| r.id).collect();
    let stray: Vec<_> = found
        .iter()
        .filter(|((r, _), _)| ours.contains(r))
        .collect();
    assert!(
        stray.is_empty(),
        "undos in runs that succeeded or of steps that name none (run, step): {stray:?}"
    );
    repeats
}
