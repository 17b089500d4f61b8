//! Racing writers on one store through several handles, as processes
//! would: one claim wins, a join is published once, schedule ticks are
//! claimed once, no handler and no completion is lost.

use std::sync::Arc;

use isoqube::model::{ClaimOutcome, CompleteOutcome};
use isoqube::{Run, StepKey, StepStatus, Variables};
use serde_json::json;

use super::fixture::*;

pub async fn concurrent_claims(f: Fixture) {
    let s = f.store.clone();
    let run = new_run("race");
    s.insert_run(&run).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..16 {
        let s = f.handle(i);
        let key = StepKey::new(run.id, 0, "ep", format!("host-{i}"));
        tasks.push(tokio::spawn(async move { s.claim_step(&key, false).await }));
    }
    let (mut claimed, mut in_flight) = (0, 0);
    for t in tasks {
        match t.await.unwrap().unwrap() {
            ClaimOutcome::Claimed { .. } => claimed += 1,
            ClaimOutcome::InFlight => in_flight += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((claimed, in_flight), (1, 15));
    let stored = s.get_run(run.id).await.unwrap().unwrap();
    assert_eq!(stored.steps[0].handlers.len(), 1);
    assert_eq!(stored.version, 1);
}

/// The two branches of a join finish at the same instant on two handles (as
/// two processes would): exactly one of the two completions names the join
/// to publish, every round.
pub async fn join_race(f: Fixture) {
    let s = f.store.clone();
    for round in 0..8 {
        let run = Run::new(&diamond_def("join"), Variables::new(), "test");
        s.insert_run(&run).await.unwrap();
        let a = StepKey::new(run.id, 0, "a", "h");
        s.claim_step(&a, false).await.unwrap();
        match s.complete_step(&a, Variables::new(), 1).await.unwrap() {
            CompleteOutcome::Advanced { next } => assert_eq!(
                next.iter().map(|n| n.index).collect::<Vec<_>>(),
                [1, 2],
                "the fork names both branches"
            ),
            other => panic!("unexpected {other:?}"),
        }
        let branches = [
            StepKey::new(run.id, 1, "b", "h1"),
            StepKey::new(run.id, 2, "c", "h2"),
        ];
        for k in &branches {
            s.claim_step(k, false).await.unwrap();
        }
        let barrier = Arc::new(tokio::sync::Barrier::new(2));
        let mut tasks = Vec::new();
        for (i, k) in branches.into_iter().enumerate() {
            let (h, barrier) = (f.handle(i), barrier.clone());
            let patch = vars(json!({ format!("from_{i}"): i }));
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                h.complete_step(&k, patch, 1).await
            }));
        }
        let mut joins = 0;
        for t in tasks {
            match t.await.unwrap().unwrap() {
                CompleteOutcome::Advanced { next } => {
                    joins += next.iter().filter(|n| n.index == 3).count();
                    assert!(next.iter().all(|n| n.index == 3), "{next:?}");
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(joins, 1, "round {round}: the join is named once");
        let stored = s.get_run(run.id).await.unwrap().unwrap();
        assert_eq!(stored.steps[3].status, StepStatus::Pending);
        assert_eq!(
            stored.variables.get("from_0"),
            Some(&json!(0)),
            "both branches' variables"
        );
        assert_eq!(stored.variables.get("from_1"), Some(&json!(1)));
    }
}

/// Schedule ticks: many claimants of one due time, exactly one wins; only a
/// later due time can be claimed next; the last claimed one is remembered.
pub async fn schedule_ticks(f: Fixture) {
    let s = f.store.clone();
    let key = format!("nightly-{}/every-second", uuid::Uuid::new_v4());
    assert_eq!(s.last_tick(&key).await.unwrap(), None);
    let due: chrono::DateTime<chrono::Utc> = "2026-11-23T10:00:00Z".parse().unwrap();
    for round in 0..3i64 {
        let at = due + chrono::Duration::seconds(round);
        let mut tasks = Vec::new();
        for i in 0..12 {
            let h = f.handle(i);
            let key = key.clone();
            tasks.push(tokio::spawn(async move { h.claim_tick(&key, at).await }));
        }
        let mut won = 0;
        for t in tasks {
            if t.await.unwrap().unwrap() {
                won += 1;
            }
        }
        assert_eq!(won, 1, "round {round}: exactly one claimant wins");
        assert_eq!(s.last_tick(&key).await.unwrap(), Some(at));
    }
    // Going back or claiming the same time again wins nothing.
    assert!(!s.claim_tick(&key, due).await.unwrap());
    assert!(!s
        .claim_tick(&key, due + chrono::Duration::seconds(2))
        .await
        .unwrap());
    // Keys are independent.
    assert!(s.claim_tick(&format!("{key}-other"), due).await.unwrap());
}

/// Racing writers on one run lose nothing: 16 endpoints claiming one step at
/// once are all recorded (a lost update would drop a handler).
pub async fn concurrent_claims_distinct_endpoints(f: Fixture) {
    let s = f.store.clone();
    for round in 0..5 {
        let run = new_run("fan-claims");
        s.insert_run(&run).await.unwrap();
        let mut tasks = Vec::new();
        for i in 0..16 {
            let s = f.handle(i);
            let key = StepKey::new(run.id, 0, format!("ep-{i:02}"), "h");
            tasks.push(tokio::spawn(async move { s.claim_step(&key, false).await }));
        }
        for t in tasks {
            assert!(matches!(
                t.await.unwrap().unwrap(),
                ClaimOutcome::Claimed { attempts: 0, .. }
            ));
        }
        let stored = s.get_run(run.id).await.unwrap().unwrap();
        assert_eq!(stored.steps[0].handlers.len(), 16, "round {round}");
        assert_eq!(stored.version, 16, "round {round}");
    }
}

pub async fn concurrent_completes(f: Fixture) {
    let s = f.store.clone();
    let run = new_run("fan");
    s.insert_run(&run).await.unwrap();
    for i in 0..16 {
        let key = StepKey::new(run.id, 0, format!("ep-{i:02}"), "h");
        assert!(matches!(
            s.claim_step(&key, false).await.unwrap(),
            ClaimOutcome::Claimed { .. }
        ));
    }
    let mut tasks = Vec::new();
    for i in 0..16 {
        let s = f.handle(i);
        let key = StepKey::new(run.id, 0, format!("ep-{i:02}"), "h");
        let patch = vars(json!({ format!("by_{i}"): i }));
        tasks.push(tokio::spawn(async move {
            s.complete_step(&key, patch, 1).await
        }));
    }
    let (mut advanced, mut recorded) = (0, 0);
    for t in tasks {
        match t.await.unwrap().unwrap() {
            CompleteOutcome::Advanced { next } => {
                assert_eq!(next.iter().map(|n| n.index).collect::<Vec<_>>(), [1]);
                advanced += 1
            }
            CompleteOutcome::Recorded => recorded += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((advanced, recorded), (1, 15));
    let stored = s.get_run(run.id).await.unwrap().unwrap();
    let step = &stored.steps[0];
    assert_eq!(step.status, StepStatus::Succeeded);
    assert_eq!(step.handlers.len(), 16);
    assert_eq!(step.attempts, 16);
    assert!(step
        .handlers
        .iter()
        .all(|h| h.status == StepStatus::Succeeded));
    // Every success was recorded: 16 claims + 16 completes.
    assert_eq!(stored.version, 32);
    // Every patch was kept (the run was running for all of them).
    assert_eq!(
        (0..16)
            .filter(|i| stored.variables.contains_key(&format!("by_{i}")))
            .count(),
        16
    );
}
