//! Compensation's transitions, tested without any store.

use chrono::Utc;

use super::*;

fn key(run: &Run, step: usize, ep: &str) -> StepKey {
    StepKey::new(run.id, step, ep, "h")
}

fn undo_key(run: &Run, step: usize) -> StepKey {
    StepKey::new(run.id, step, "undo", "h").compensating()
}

/// A -> (B, C) -> D, each undone by `Undo`.
fn diamond() -> Run {
    let def = Definition::new(
        "d",
        [
            StepDef::new("A").compensate("Undo"),
            StepDef::new("B").after(["A"]).compensate("Undo"),
            StepDef::new("C").after(["A"]).compensate("Undo"),
            StepDef::new("D").after(["B", "C"]).compensate("Undo"),
        ],
    );
    Run::new(&def, Variables::new(), "test")
}

fn succeed(run: &mut Run, step: usize, patch: Variables) -> CompleteOutcome {
    let k = key(run, step, "ep");
    run.claim(&k, false, Utc::now()).expect("claim");
    run.complete(&k, patch, 1, Utc::now()).expect("complete")
}

fn fail(run: &mut Run, step: usize) -> FailOutcome {
    let k = key(run, step, "ep");
    run.claim(&k, false, Utc::now()).expect("claim");
    run.fail(&k, "boom", 3, Utc::now()).expect("fail")
}

fn undo(run: &mut Run, step: usize) -> CompleteOutcome {
    let k = undo_key(run, step);
    let claimed = run.claim(&k, false, Utc::now()).expect("claim");
    assert!(
        matches!(claimed, ClaimOutcome::Claimed { .. }),
        "{claimed:?}"
    );
    run.complete(&k, Variables::new(), 1, Utc::now())
        .expect("complete")
}

fn indices(next: &[NextStep]) -> Vec<usize> {
    next.iter().map(|n| n.index).collect()
}

fn vars(k: &str, v: i64) -> Variables {
    let mut m = Variables::new();
    m.insert(k.into(), v.into());
    m
}

#[test]
fn a_diamond_is_compensated_in_reverse_order_branches_in_parallel() {
    let mut run = diamond();
    succeed(&mut run, 0, Variables::new());
    succeed(&mut run, 1, Variables::new());
    succeed(&mut run, 2, Variables::new());
    let FailOutcome::Compensate { next } = fail(&mut run, 3) else {
        panic!("the failure compensates");
    };
    assert_eq!(run.status, RunStatus::Compensating);
    // D failed: nothing of it to undo; B and C in parallel, A after both.
    assert_eq!(indices(&next), [1, 2]);
    assert!(next.iter().all(|n| n.event == "Undo"));
    assert_eq!(next[0].compensates.as_deref(), Some("B"));
    // A's compensation is not due while C's is not done.
    let early = run.claim(&undo_key(&run, 0), false, Utc::now()).unwrap();
    assert_eq!(
        early,
        ClaimOutcome::NotDue {
            waits_for: 1,
            status: StepStatus::Succeeded
        }
    );
    assert_eq!(
        undo(&mut run, 2),
        CompleteOutcome::Compensate { next: vec![] }
    );
    let CompleteOutcome::Compensate { next } = undo(&mut run, 1) else {
        panic!("more to undo");
    };
    assert_eq!(indices(&next), [0]);
    assert_eq!(undo(&mut run, 0), CompleteOutcome::Compensated);
    assert_eq!(run.status, RunStatus::Compensated);
    assert!(run.finished_at.is_some());
    // The failed step's compensation was not needed and shows so.
    let d = run.steps[3].compensation.as_ref().unwrap();
    assert_eq!(d.status, StepStatus::Skipped);
    assert_eq!(run.error.as_deref(), Some("step 4 (D) failed: boom"));
    // What was undone cannot be resumed forward.
    let refused = run.resume(Utc::now()).unwrap_err().to_string();
    assert!(refused.contains("was compensated"), "{refused}");
}

#[test]
fn a_compensation_sees_the_variables_of_its_steps_success() {
    let mut run = diamond();
    succeed(&mut run, 0, vars("vm", 1));
    succeed(&mut run, 1, vars("vm", 2));
    succeed(&mut run, 2, vars("image", 3));
    fail(&mut run, 3);
    let due = run.compensations_due();
    let b = due.iter().find(|n| n.index == 1).unwrap();
    assert_eq!(b.variables.get("vm"), Some(&2.into()));
    assert!(!b.variables.contains_key("image"), "C finished after B");
    undo(&mut run, 1);
    let CompleteOutcome::Compensate { next } = undo(&mut run, 2) else {
        panic!("A is due");
    };
    assert_eq!(next[0].variables.get("vm"), Some(&1.into()));
    // The claim hands the same snapshot to the consumer.
    let ClaimOutcome::Claimed { variables, .. } =
        run.claim(&undo_key(&run, 0), false, Utc::now()).unwrap()
    else {
        panic!("claimed");
    };
    assert_eq!(variables.get("vm"), Some(&1.into()));
    assert_eq!(run.variables.get("vm"), Some(&2.into()));
}

#[test]
fn steps_in_flight_finish_first_and_are_compensated_too() {
    let mut run = diamond();
    succeed(&mut run, 0, Variables::new());
    let c = key(&run, 2, "ep");
    run.claim(&c, false, Utc::now()).unwrap();
    // B fails while C runs: nothing is published until C returns.
    assert_eq!(fail(&mut run, 1), FailOutcome::Compensate { next: vec![] });
    assert_eq!(run.steps[3].status, StepStatus::Skipped);
    // A forward message of the compensating run does not run.
    let d = run.claim(&key(&run, 3, "ep"), false, Utc::now()).unwrap();
    assert_eq!(d, ClaimOutcome::NotRunning(RunStatus::Compensating));
    let done = run.complete(&c, Variables::new(), 1, Utc::now()).unwrap();
    let CompleteOutcome::Compensate { next } = done else {
        panic!("C's return starts the compensation");
    };
    assert_eq!(indices(&next), [2]);
    assert_eq!(run.steps[2].status, StepStatus::Succeeded);
}

#[test]
fn a_failed_compensation_is_resumed_and_counts_its_attempts() {
    let mut run = diamond();
    succeed(&mut run, 0, Variables::new());
    fail(&mut run, 1);
    let k = undo_key(&run, 0);
    run.claim(&k, false, Utc::now()).unwrap();
    assert_eq!(
        run.fail(&k, "vm gone", 3, Utc::now()).unwrap(),
        FailOutcome::CompensationFailed
    );
    assert_eq!(run.status, RunStatus::CompensationFailed);
    let error = run.error.clone().unwrap();
    assert!(
        error.contains("step 2 (B) failed: boom")
            && error.contains("compensating step 1 (A) with Undo failed: vm gone"),
        "{error}"
    );
    let next = run.resume(Utc::now()).unwrap();
    assert_eq!(indices(&next), [0]);
    assert_eq!(run.status, RunStatus::Compensating);
    assert_eq!(run.error.as_deref(), Some("step 2 (B) failed: boom"));
    let ClaimOutcome::Claimed { attempts, .. } = run.claim(&k, false, Utc::now()).unwrap() else {
        panic!("claimed again");
    };
    assert_eq!(attempts, 3, "the earlier attempts are kept");
    assert_eq!(
        run.complete(&k, Variables::new(), 1, Utc::now()).unwrap(),
        CompleteOutcome::Compensated
    );
    assert_eq!(run.steps[0].compensation.as_ref().unwrap().attempts, 4);
}

#[test]
fn a_run_with_nothing_to_undo_fails_as_before() {
    let mut run = diamond();
    assert_eq!(fail(&mut run, 0), FailOutcome::RunFailed);
    assert_eq!(run.status, RunStatus::Failed);
    // And it resumes forward as a failed run does.
    assert_eq!(indices(&run.resume(Utc::now()).unwrap()), [0]);
}

#[test]
fn cancel_and_compensate_waits_for_the_step_in_flight() {
    let mut run = diamond();
    succeed(&mut run, 0, Variables::new());
    let b = key(&run, 1, "ep");
    run.claim(&b, false, Utc::now()).unwrap();
    assert!(run.cancel_and_compensate(Utc::now()).unwrap().is_empty());
    assert_eq!(run.status, RunStatus::Compensating);
    assert!(run.cancelled_at.is_some());
    let out = run.fail(&b, "cancelled", 1, Utc::now()).unwrap();
    assert_eq!(
        out,
        FailOutcome::Compensate {
            next: vec![run.compensation_step(0)]
        }
    );
    assert_eq!(undo(&mut run, 0), CompleteOutcome::Compensated);
    // Nothing done yet: cancelled, not "compensated".
    let mut fresh = diamond();
    assert!(fresh.cancel_and_compensate(Utc::now()).unwrap().is_empty());
    assert_eq!(fresh.status, RunStatus::Cancelled);
    let again = fresh.cancel_and_compensate(Utc::now()).unwrap_err();
    assert!(again.to_string().contains("only pending or running"));
}

#[test]
fn a_redelivery_republishes_compensations_nobody_picked_up() {
    let mut run = diamond();
    succeed(&mut run, 0, Variables::new());
    let b = key(&run, 1, "ep");
    run.claim(&b, false, Utc::now()).unwrap();
    run.fail(&b, "boom", 1, Utc::now()).unwrap();
    // The failing process died before publishing: its message comes back.
    let again = run.claim(&b, true, Utc::now()).unwrap();
    assert_eq!(
        again,
        ClaimOutcome::AlreadyDone {
            republish: vec![run.compensation_step(0)]
        }
    );
    // Once picked up, it is not published again, and a second copy of the
    // compensation does not run beside the first.
    let k = undo_key(&run, 0);
    run.claim(&k, false, Utc::now()).unwrap();
    assert_eq!(
        run.claim(&b, true, Utc::now()).unwrap(),
        ClaimOutcome::AlreadyDone { republish: vec![] }
    );
    assert_eq!(
        run.claim(&k, false, Utc::now()).unwrap(),
        ClaimOutcome::InFlight
    );
}

#[test]
fn a_retried_store_call_answers_as_its_first_try() {
    let mut run = diamond();
    succeed(&mut run, 0, Variables::new());
    fail(&mut run, 1);
    let k = undo_key(&run, 0).handled(uuid::Uuid::new_v4());
    run.claim(&k, false, Utc::now()).unwrap();
    let first = run.complete(&k, Variables::new(), 1, Utc::now()).unwrap();
    assert_eq!(first, CompleteOutcome::Compensated);
    let again = run.complete(&k, Variables::new(), 1, Utc::now()).unwrap();
    assert_eq!(again, first);
    assert_eq!(run.steps[0].compensation.as_ref().unwrap().attempts, 1);
}

#[test]
fn starts_of_compensable_runs_are_always_recorded() {
    let run = diamond();
    assert_eq!(run.peek_claim(&key(&run, 0, "ep"), false).unwrap(), None);
    let plain = Run::new(&Definition::new("d", ["A"]), Variables::new(), "t");
    assert!(plain
        .peek_claim(&key(&plain, 0, "ep"), false)
        .unwrap()
        .is_some());
}

/// A run as the version before compensation stored it loads, and behaves
/// as before: its failure fails it.
#[test]
fn a_document_of_the_previous_version_loads_and_fails_as_before() {
    let stored = r#"{"id":"6a7a3d8e-0a3f-4b8e-9a57-5d8b7f0d1c2e","definition":"d",
        "description":"","status":"Running","params":{},"variables":{"a":1},
        "steps":[{"index":0,"event":"A","status":"Succeeded","invoked_at":"2026-12-01T10:00:00Z",
        "completed_at":"2026-12-01T10:00:01Z","failed_at":null,"cancelled_at":null,"attempts":1,
        "last_error":null,"handled_by":"a@h","handlers":[{"endpoint":"a","host":"h",
        "status":"Succeeded","attempts":1,"started_at":"2026-12-01T10:00:00Z",
        "finished_at":"2026-12-01T10:00:01Z","error":null}]},
        {"index":1,"event":"B","status":"Pending","invoked_at":null,"completed_at":null,
        "failed_at":null,"cancelled_at":null,"attempts":0,"last_error":null,"handled_by":null,
        "handlers":[]}],
        "created_at":"2026-12-01T10:00:00Z","modified_at":"2026-12-01T10:00:01Z",
        "finished_at":null,"started_by":"cli","rerun_of":null,"error":null,"version":3}"#;
    let mut run: Run = serde_json::from_str(stored).expect("today's shape loads");
    assert!(!run.compensable());
    assert_eq!(run.cancelled_at, None);
    assert_eq!(fail(&mut run, 1), FailOutcome::RunFailed);
    assert_eq!(run.status, RunStatus::Failed);
}

#[test]
fn an_old_run_document_loads_without_compensation() {
    let run = Run::new(&Definition::new("d", ["A", "B"]), Variables::new(), "t");
    let json = serde_json::to_string(&run).unwrap();
    assert!(!json.contains("compensation") && !json.contains("cancelled_at\":\""));
    let back: Run = serde_json::from_str(&json).unwrap();
    assert!(!back.compensable());
}

#[test]
fn a_step_nobody_consumes_fails_the_run_and_compensates_what_succeeded() {
    let mut run = diamond();
    succeed(&mut run, 0, Variables::new());
    // B runs while C's message reaches no queue.
    let b = key(&run, 1, "ep");
    run.claim(&b, false, Utc::now()).unwrap();
    let c = run.next_step(2);
    let out = run
        .fail_unpublished(&c, "no consumer is bound", Utc::now())
        .unwrap();
    // B is in flight: nothing to undo yet, but no forward step runs any more.
    assert_eq!(out, FailOutcome::Compensate { next: Vec::new() });
    assert_eq!(run.status, RunStatus::Compensating);
    assert_eq!(run.steps[2].status, StepStatus::Failed);
    assert_eq!(
        run.steps[2].last_error.as_deref(),
        Some("no consumer is bound")
    );
    assert!(run.steps[2].failed_at.is_some());
    assert_eq!(run.steps[3].status, StepStatus::Skipped);
    assert!(run.error.as_deref().unwrap().contains("step 3 (C) failed"));
    // B finishes after the failure: it is undone with the rest, B before A.
    let CompleteOutcome::Compensate { next } =
        run.complete(&b, Variables::new(), 1, Utc::now()).unwrap()
    else {
        panic!("the branch finishing afterwards starts the undo");
    };
    assert_eq!(indices(&next), [1]);
    let CompleteOutcome::Compensate { next } = undo(&mut run, 1) else {
        panic!("then A");
    };
    assert_eq!(indices(&next), [0]);
    assert_eq!(undo(&mut run, 0), CompleteOutcome::Compensated);
    assert_eq!(run.status, RunStatus::Compensated);
    // A second report of the same refusal changes nothing.
    let again = run.fail_unpublished(&c, "no consumer is bound", Utc::now());
    assert_eq!(again.unwrap(), FailOutcome::Recorded);
}

#[test]
fn an_undo_nobody_consumes_leaves_the_run_compensation_failed() {
    let mut run = diamond();
    succeed(&mut run, 0, Variables::new());
    let FailOutcome::Compensate { next } = fail(&mut run, 1) else {
        panic!("the failure compensates");
    };
    assert_eq!(indices(&next), [0]);
    let before = run.version;
    let out = run
        .fail_unpublished(&next[0], "no consumer is bound", Utc::now())
        .unwrap();
    assert_eq!(out, FailOutcome::CompensationFailed);
    assert_eq!(run.status, RunStatus::CompensationFailed);
    assert!(run.version > before);
    let undo_record = run.steps[0].compensation.as_ref().unwrap();
    assert_eq!(undo_record.status, StepStatus::Failed);
    assert_eq!(
        undo_record.last_error.as_deref(),
        Some("no consumer is bound")
    );
    let error = run.error.as_deref().unwrap();
    assert!(
        error.contains("step 2 (B) failed")
            && error.contains("compensating step 1 (A) with Undo failed"),
        "{error}"
    );
    // Resumed, the undo is due again.
    let next = run.resume(Utc::now()).unwrap();
    assert_eq!(indices(&next), [0]);
}

#[test]
fn an_optional_step_nobody_consumes_is_tolerated() {
    let def = Definition::new(
        "d",
        [
            StepDef::new("A").compensate("Undo"),
            StepDef::new("B").optional(),
            StepDef::new("C"),
        ],
    );
    let mut run = Run::new(&def, Variables::new(), "test");
    succeed(&mut run, 0, Variables::new());
    let out = run
        .fail_unpublished(&run.next_step(1), "no consumer is bound", Utc::now())
        .unwrap();
    let FailOutcome::Tolerated { next } = out else {
        panic!("optional: the run goes on, {out:?}");
    };
    assert_eq!(indices(&next), [2]);
    assert_eq!(run.status, RunStatus::Running);
    assert_eq!(run.steps[1].status, StepStatus::Failed);
}

#[test]
fn resuming_a_failed_compensation_with_variables_reaches_the_undo() {
    let mut run = diamond();
    succeed(&mut run, 0, vars("vm", 1));
    let FailOutcome::Compensate { next } = fail(&mut run, 1) else {
        panic!("the failure compensates");
    };
    assert_eq!(next[0].variables.get("vm"), Some(&1.into()));
    let k = undo_key(&run, 0);
    run.claim(&k, false, Utc::now()).unwrap();
    run.fail(&k, "no such vm", 3, Utc::now()).unwrap();
    assert_eq!(run.status, RunStatus::CompensationFailed);
    let next = run.resume_with(&vars("vm", 2), Utc::now()).unwrap();
    assert_eq!(indices(&next), [0]);
    assert_eq!(
        next[0].variables.get("vm"),
        Some(&2.into()),
        "the undo sees the correction"
    );
    assert_eq!(run.variables.get("vm"), Some(&2.into()));
    // A refused resume changes nothing.
    let mut done = run.clone();
    assert_eq!(undo(&mut done, 0), CompleteOutcome::Compensated);
    let kept = done.clone();
    assert!(done.resume_with(&vars("vm", 3), Utc::now()).is_err());
    assert_eq!(done, kept);
}
