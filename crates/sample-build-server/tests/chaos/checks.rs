//! The invariants every scenario ends with, on the store's records and on what
//! the spy saw.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use isoqube::{Control, Run, RunStatus, StepStatus};
use uuid::Uuid;

use crate::spy::Sightings;

/// A time span in which publishing could be cut off by the broker going away.
pub type Window = (DateTime<Utc>, DateTime<Utc>);

/// Waits until every run has finished; a run still unfinished at the deadline
/// fails the scenario (it is stuck), with the logs.
pub async fn wait_all(control: &Control, ids: &[Uuid], within: Duration, logs: &str) -> Vec<Run> {
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
        assert!(
            run.status.is_finished(),
            "run {id} is stuck in {:?}: {:#?}\n{logs}",
            run.status,
            run.steps
                .iter()
                .map(|s| (&s.event, s.status))
                .collect::<Vec<_>>()
        );
        done.push(run);
    }
    done
}

/// Every run succeeded with every step recorded succeeded once, by a handler
/// that finished it, and the release saw every build's artifact.
pub fn check_runs(runs: &[Run], logs: &str) {
    for run in runs {
        assert_eq!(
            run.status,
            RunStatus::Succeeded,
            "run {} ended {:?}: {:#?}\n{logs}",
            run.id,
            run.status,
            run.steps
        );
        for (i, step) in run.steps.iter().enumerate() {
            assert_eq!(
                step.status,
                StepStatus::Succeeded,
                "run {} step {i}",
                run.id
            );
            let finished: Vec<_> = step
                .handlers
                .iter()
                .filter(|h| h.status == StepStatus::Succeeded)
                .collect();
            assert!(
                !finished.is_empty() && step.handled_by.is_some() && step.completed_at.is_some(),
                "run {} step {i} has no finished handler: {step:#?}",
                run.id
            );
            assert!(
                step.handlers
                    .iter()
                    .all(|h| h.status != StepStatus::Invoked),
                "run {} step {i} keeps a handler in flight: {step:#?}",
                run.id
            );
        }
        let artifacts = run
            .variables
            .keys()
            .filter(|k| k.starts_with("artifact_"))
            .count();
        assert_eq!(artifacts, 3, "run {}: {:?}", run.id, run.variables);
        assert!(
            run.variables.contains_key("release_notes"),
            "run {}",
            run.id
        );
    }
}

/// Waits (bounded) until the spy has seen every step of every run, then
/// checks that no step was published twice except by a process that was
/// SIGKILLed (it may die after the broker confirmed its publish and before it
/// acknowledged the message it consumed: the redelivery publishes again), or
/// while the broker was going away (a publish whose confirm was lost is
/// published again). Returns the number of such explained duplicates.
pub async fn check_spy(
    runs: &[Run],
    seen: &Sightings,
    killed: &BTreeSet<u32>,
    outages: &[Window],
) -> usize {
    let expected: usize = runs.iter().map(|r| r.steps.len()).sum();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let count = {
            let seen = seen.lock().expect("spy lock");
            runs.iter()
                .flat_map(|r| (0..r.steps.len()).map(move |i| (r.id, i)))
                .filter(|k| seen.contains_key(k))
                .count()
        };
        if count == expected {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the spy saw {count} of {expected} step messages"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let seen = seen.lock().expect("spy lock");
    let mut explained = 0;
    for run in runs {
        for i in 0..run.steps.len() {
            let copies = &seen[&(run.id, i)];
            if copies.len() == 1 {
                continue;
            }
            let by_killed = copies
                .iter()
                .any(|c| c.pid.is_some_and(|p| killed.contains(&p)));
            let in_outage = copies.iter().any(|c| {
                c.sent
                    .is_some_and(|t| outages.iter().any(|(a, b)| *a <= t && t <= *b))
            });
            assert!(
                by_killed || in_outage,
                "run {} step {i} was published {} times by live processes outside any outage: {copies:?}",
                run.id,
                copies.len()
            );
            explained += copies.len() - 1;
        }
    }
    explained
}
