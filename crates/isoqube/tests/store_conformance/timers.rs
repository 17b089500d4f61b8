//! Timers and signals in the store: the runs whose timers are due are found
//! through the index (and only those), a due timer raced by every handle
//! fires once, and a signal reaches the stored run as the model says.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use isoqube::model::{Signal, SignalOutcome, StepKey, WaitDef};
use isoqube::{Definition, Run, RunStatus, RunStore, StepDef, StepStatus, Variables};

use super::Fixture;

/// A -> a wait for `Approval` of `timeout` -> B; A undone by `UndoA`.
fn waiting_run(timeout: Duration) -> Run {
    let def = Definition::new(
        "waits",
        [
            StepDef::new("A").compensate("UndoA"),
            StepDef::new("Approval").waiting(WaitDef {
                correlate: None,
                timeout: Some(timeout),
            }),
            StepDef::new("B"),
        ],
    );
    Run::new(&def, Variables::new(), "test")
}

/// Stores `run` and completes its first step, so it waits.
async fn insert_waiting(s: &Arc<dyn RunStore>, run: &Run) {
    s.insert_run(run).await.unwrap();
    let a = StepKey::new(run.id, 0, "a", "h");
    s.claim_step(&a, false).await.unwrap();
    s.complete_step(&a, Variables::new(), 1).await.unwrap();
}

pub async fn timers_due_are_found_by_the_index(f: Fixture) {
    let s = f.store.clone();
    let soon = waiting_run(Duration::from_millis(1));
    let later = waiting_run(Duration::from_secs(3600));
    insert_waiting(&s, &soon).await;
    insert_waiting(&s, &later).await;
    let stored = s.get_run(later.id).await.unwrap().unwrap();
    assert_eq!(stored.steps[1].status, StepStatus::Waiting);
    assert!(stored.wake_at.is_some(), "the deadline is stored");
    tokio::time::sleep(Duration::from_millis(20)).await;
    let due = s.runs_to_wake(Utc::now(), 100).await.unwrap();
    assert!(due.contains(&soon.id), "{due:?}");
    assert!(!due.contains(&later.id), "{due:?}");
    let in_two_hours = Utc::now() + chrono::Duration::hours(2);
    let both = s.runs_to_wake(in_two_hours, 100).await.unwrap();
    assert!(
        both.contains(&soon.id) && both.contains(&later.id),
        "{both:?}"
    );
    assert_eq!(
        s.runs_to_wake(in_two_hours, 1).await.unwrap(),
        [soon.id],
        "earliest first"
    );
    // fired: the run no longer wakes
    let (run, next) = s.fire_timers(soon.id).await.unwrap();
    assert_eq!(run.status, RunStatus::Compensating, "{run:#?}");
    assert_eq!(next.len(), 1, "A's undo: {next:?}");
    assert!(!s
        .runs_to_wake(in_two_hours, 100)
        .await
        .unwrap()
        .contains(&soon.id));
    // signalled: neither
    let (_, out) = s
        .signal_run(later.id, &Signal::new("Approval", Variables::new(), "test"))
        .await
        .unwrap();
    assert!(
        matches!(out, SignalOutcome::Completed { step: 1, .. }),
        "{out:?}"
    );
    assert!(s.runs_to_wake(in_two_hours, 100).await.unwrap().is_empty());
}

pub async fn timer_raced_by_every_handle_fires_once(f: Fixture) {
    for round in 0..6 {
        let run = waiting_run(Duration::from_millis(1));
        insert_waiting(&f.store, &run).await;
        tokio::time::sleep(Duration::from_millis(5)).await;
        let barrier = Arc::new(tokio::sync::Barrier::new(4));
        let mut tasks = Vec::new();
        for i in 0..4 {
            let (h, barrier) = (f.handle(i), barrier.clone());
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                h.fire_timers(run.id).await
            }));
        }
        let mut undos = 0;
        for t in tasks {
            let (_, next) = t.await.unwrap().unwrap();
            undos += next.len();
        }
        assert_eq!(undos, 1, "round {round}: the undo is named once");
        let stored = f.store.get_run(run.id).await.unwrap().unwrap();
        assert_eq!(stored.steps[1].status, StepStatus::Failed);
        assert_eq!(stored.wake_at, None);
    }
}

pub async fn signal_raced_by_every_handle_completes_once(f: Fixture) {
    let run = waiting_run(Duration::from_secs(3600));
    insert_waiting(&f.store, &run).await;
    let signal = Signal::new("Approval", Variables::new(), "test");
    let barrier = Arc::new(tokio::sync::Barrier::new(4));
    let mut tasks = Vec::new();
    for i in 0..4 {
        let (h, barrier, signal) = (f.handle(i), barrier.clone(), signal.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            h.signal_run(run.id, &signal).await
        }));
    }
    let mut completed = 0;
    for t in tasks {
        match t.await.unwrap().unwrap().1 {
            SignalOutcome::Completed { next, .. } => {
                completed += 1;
                assert_eq!(next.len(), 1, "{next:?}");
            }
            // the same signal, once it is taken: B (unpublished) named again
            SignalOutcome::AlreadyDone { .. } => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(completed, 1);
}
