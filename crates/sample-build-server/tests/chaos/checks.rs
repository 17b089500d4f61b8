//! The invariants every scenario ends with, on the store's records and on what
//! the spy saw.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use isoqube::{Control, Run, RunStatus, StepStatus};
use uuid::Uuid;

use crate::spy::{Key, Sightings};
use crate::undo;

/// A time span in which publishing could be cut off by the broker going away.
pub type Window = (DateTime<Utc>, DateTime<Utc>);

/// Waits until every run has finished; a run still unfinished at the deadline
/// fails the scenario (it is stuck), with what `diagnose` says then (the
/// logs' tails, each process's endpoints).
pub async fn wait_all(
    control: &Control,
    ids: &[Uuid],
    within: Duration,
    diagnose: &dyn Fn() -> String,
) -> Vec<Run> {
    let deadline = Instant::now() + within;
    let mut done = Vec::with_capacity(ids.len());
    for id in ids {
        let left = deadline.saturating_duration_since(Instant::now());
        let run = loop {
            match control
                .wait_for_run(*id, left.max(Duration::from_secs(1)))
                .await
            {
                Ok(run) => break run,
                // the store may be coming back from a kill
                Err(e) if e.is_unavailable() && Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(e) => panic!("run {id}: {e} (lost?)"),
            }
        };
        if !run.status.is_finished() {
            panic!(
                "run {id} is stuck in {:?}: {:#?}\n{}",
                run.status,
                run.steps
                    .iter()
                    .map(|s| (&s.event, s.status))
                    .collect::<Vec<_>>(),
                diagnose()
            );
        }
        done.push(run);
    }
    done
}

/// Every run ended as it was meant to: `Succeeded` with every step recorded
/// succeeded once, by a handler that finished it, and the release saw every
/// build's artifact; or, for a run in `compensated` (started with
/// `fail_step`), `Compensated`: every step before the failing one succeeded
/// as above, the failing one `Failed`, and each compensation as
/// [`undo::check_record`] says. A run that succeeded ran no compensation.
pub fn check_runs(runs: &[Run], compensated: &BTreeSet<Uuid>, logs: &str) {
    for run in runs {
        let undo = compensated.contains(&run.id);
        let want = if undo {
            RunStatus::Compensated
        } else {
            RunStatus::Succeeded
        };
        assert_eq!(
            run.status, want,
            "run {} ended {:?}, not {want:?}: {:#?}\n{logs}",
            run.id, run.status, run.steps
        );
        for (i, step) in run.steps.iter().enumerate() {
            assert!(
                step.handlers
                    .iter()
                    .all(|h| h.status != StepStatus::Invoked),
                "run {} step {i} keeps a handler in flight: {step:#?}",
                run.id
            );
            if undo && step.event == undo::FAILING {
                assert!(
                    step.status == StepStatus::Failed && step.failed_at.is_some(),
                    "run {} step {i} ({}) should have failed: {step:#?}",
                    run.id,
                    step.event
                );
                continue;
            }
            assert_eq!(
                step.status,
                StepStatus::Succeeded,
                "run {} step {i}",
                run.id
            );
            let finished = step
                .handlers
                .iter()
                .filter(|h| h.status == StepStatus::Succeeded)
                .count();
            assert!(
                finished > 0 && step.handled_by.is_some() && step.completed_at.is_some(),
                "run {} step {i} has no finished handler: {step:#?}",
                run.id
            );
        }
        let artifacts = run
            .variables
            .keys()
            .filter(|k| k.starts_with("artifact_"))
            .count();
        assert_eq!(artifacts, 3, "run {}: {:?}", run.id, run.variables);
        assert_eq!(
            run.variables.contains_key("release_notes"),
            !undo,
            "run {}: release notes only when the release went out",
            run.id
        );
        if undo {
            undo::check_record(run);
        } else {
            undo::check_none_ran(run);
        }
    }
}

/// The explained extra copies [`check_spy`] found.
#[derive(Debug, Default, Clone, Copy)]
pub struct Copies {
    /// Step messages seen more than once.
    pub steps: usize,
    /// Compensation messages seen more than once.
    pub compensations: usize,
}

/// Waits (bounded) until the spy has seen every step of every run and every
/// compensation of every compensated run, then checks that no message was
/// published twice except by a process that was SIGKILLed (it may die after
/// the broker confirmed its publish and before it acknowledged the message it
/// consumed: the redelivery publishes again), or while the broker was going
/// away (a publish whose confirm was lost is published again). A
/// compensation is keyed apart from its step (same `Isoqube-Step`, plus
/// `Isoqube-Compensate`) and judged by the same rule; a compensation message
/// for a run that succeeded, or for a step that names none, fails the check.
pub async fn check_spy(
    runs: &[Run],
    compensated: &BTreeSet<Uuid>,
    seen: &Sightings,
    killed: &BTreeSet<u32>,
    outages: &[Window],
) -> Copies {
    let expected: BTreeSet<Key> = runs
        .iter()
        .flat_map(|r| {
            let undo = compensated.contains(&r.id);
            r.steps.iter().flat_map(move |s| {
                let comp = (undo && s.compensation.is_some()).then_some((r.id, s.index, true));
                std::iter::once((r.id, s.index, false)).chain(comp)
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let count = {
            let seen = seen.lock().expect("spy lock");
            expected.iter().filter(|k| seen.contains_key(k)).count()
        };
        if count == expected.len() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the spy saw {count} of {} step and compensation messages",
            expected.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let seen = seen.lock().expect("spy lock");
    let ours: BTreeSet<Uuid> = runs.iter().map(|r| r.id).collect();
    let stray: Vec<_> = seen
        .keys()
        .filter(|k| ours.contains(&k.0) && !expected.contains(k))
        .collect();
    assert!(
        stray.is_empty(),
        "messages no run should have published (run, step, compensation): {stray:?}"
    );
    let mut explained = Copies::default();
    for key @ (run, i, compensation) in &expected {
        let copies = &seen[key];
        if copies.len() == 1 {
            continue;
        }
        let by_killed = copies
            .iter()
            .any(|c| c.pid.is_some_and(|p| killed.contains(&p)));
        let in_outage = copies
            .iter()
            .any(|c| c.sent.is_some_and(|t| in_window(outages, t)));
        let what = if *compensation {
            "compensation of step"
        } else {
            "step"
        };
        assert!(
            by_killed || in_outage,
            "run {run} {what} {i} was published {} times by live processes outside any outage: {copies:?}",
            copies.len()
        );
        let extra = copies.len() - 1;
        if *compensation {
            explained.compensations += extra;
        } else {
            explained.steps += extra;
        }
    }
    explained
}

/// Whether `t` is inside one of `windows`.
pub fn in_window(windows: &[Window], t: DateTime<Utc>) -> bool {
    windows.iter().any(|(a, b)| *a <= t && t <= *b)
}
