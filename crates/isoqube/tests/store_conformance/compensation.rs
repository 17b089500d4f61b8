//! Compensation on the store seam: the records round-trip, and two
//! compensations finishing at the same instant on two handles (as two
//! processes would) release the step they both ran after exactly once.

use std::sync::Arc;

use isoqube::model::{ClaimOutcome, CompleteOutcome, FailOutcome};
use isoqube::{Definition, Run, RunStatus, StepDef, StepKey, StepStatus, Variables};
use serde_json::json;

use super::fixture::{vars, Fixture};

/// A -> (B, C) -> D, each undone by `Undo`.
fn undoable() -> Definition {
    Definition::new(
        "undoable",
        [
            StepDef::new("A").compensate("Undo"),
            StepDef::new("B").after(["A"]).compensate("Undo"),
            StepDef::new("C").after(["A"]).compensate("Undo"),
            StepDef::new("D").after(["B", "C"]).compensate("Undo"),
        ],
    )
}

pub async fn compensation_race(f: Fixture) {
    let s = f.store.clone();
    for round in 0..6 {
        let run = Run::new(&undoable(), Variables::new(), "test");
        s.insert_run(&run).await.unwrap();
        for (step, ep) in [(0, "a"), (1, "b"), (2, "c")] {
            let k = StepKey::new(run.id, step, ep, "h");
            s.claim_step(&k, false).await.unwrap();
            let patch = vars(json!({ format!("by_{step}"): step }));
            s.complete_step(&k, patch, 1).await.unwrap();
        }
        let d = StepKey::new(run.id, 3, "d", "h");
        s.claim_step(&d, false).await.unwrap();
        match s.fail_step(&d, "boom", 2).await.unwrap() {
            FailOutcome::Compensate { next } => {
                assert_eq!(next.iter().map(|n| n.index).collect::<Vec<_>>(), [1, 2]);
                assert!(next.iter().all(|n| n.event == "Undo"));
                assert_eq!(next[0].compensates.as_deref(), Some("B"));
                assert!(!next[0].variables.contains_key("by_2"), "B's snapshot");
            }
            other => panic!("unexpected {other:?}"),
        }
        let undos = [
            StepKey::new(run.id, 1, "undo", "h1").compensating(),
            StepKey::new(run.id, 2, "undo", "h2").compensating(),
        ];
        for k in &undos {
            let claimed = s.claim_step(k, false).await.unwrap();
            assert!(
                matches!(claimed, ClaimOutcome::Claimed { .. }),
                "{claimed:?}"
            );
        }
        let barrier = Arc::new(tokio::sync::Barrier::new(2));
        let mut tasks = Vec::new();
        for (i, k) in undos.into_iter().enumerate() {
            let (h, barrier) = (f.handle(i), barrier.clone());
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                h.complete_step(&k, Variables::new(), 1).await
            }));
        }
        let mut released = 0;
        for t in tasks {
            match t.await.unwrap().unwrap() {
                CompleteOutcome::Compensate { next } => {
                    assert!(next.iter().all(|n| n.index == 0), "{next:?}");
                    released += next.len();
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(released, 1, "round {round}: A's compensation is named once");
        let a = StepKey::new(run.id, 0, "undo", "h").compensating();
        s.claim_step(&a, false).await.unwrap();
        assert_eq!(
            s.complete_step(&a, Variables::new(), 1).await.unwrap(),
            CompleteOutcome::Compensated
        );
        let stored = s.get_run(run.id).await.unwrap().unwrap();
        assert_eq!(stored.status, RunStatus::Compensated);
        for i in 0..3 {
            let c = stored.steps[i].compensation.as_ref().unwrap();
            assert_eq!(c.status, StepStatus::Succeeded);
            assert_eq!(c.handlers.len(), 1);
            let snapshot = c.variables.as_ref().expect("the snapshot is stored");
            assert!(snapshot.contains_key(&format!("by_{i}")));
        }
        assert_eq!(
            stored.steps[3].compensation.as_ref().unwrap().status,
            StepStatus::Skipped
        );
    }
}

/// Cancel-and-compensate through the store: the run and what is due come
/// back, and the cancel time is kept.
pub async fn cancel_and_compensate(f: Fixture) {
    let s = f.store.clone();
    let run = Run::new(&undoable(), Variables::new(), "test");
    s.insert_run(&run).await.unwrap();
    let a = StepKey::new(run.id, 0, "a", "h");
    s.claim_step(&a, false).await.unwrap();
    s.complete_step(&a, Variables::new(), 1).await.unwrap();
    let (cancelled, next) = s.cancel_and_compensate(run.id).await.unwrap();
    assert_eq!(cancelled.status, RunStatus::Compensating);
    assert_eq!(next.iter().map(|n| n.index).collect::<Vec<_>>(), [0]);
    let stored = s.get_run(run.id).await.unwrap().unwrap();
    assert_eq!(stored.cancelled_at, cancelled.cancelled_at);
    assert!(stored.cancelled_at.is_some());
    let again = s.cancel_and_compensate(run.id).await.unwrap_err();
    assert!(
        again.to_string().contains("only pending or running"),
        "{again}"
    );
}
