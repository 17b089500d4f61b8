//! The compensation scenarios of the behaviour suite: a failed run undoes
//! what it did in reverse dependency order (parallel branches in parallel),
//! with each step's variables as they were when it succeeded; compensations
//! retry, can fail and be resumed; a hung step times out and then the run
//! compensates; cancel compensates only when asked. Written once against
//! the seams, as the rest of the suite.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use isoqube::{consumer, event, Definition, RunStatus, StepContext, StepDef, StepStatus};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use uuid::Uuid;

use super::Harness;

/// Undoes any graph step (the step it undoes is `ctx.compensating()`).
#[event]
#[derive(Serialize, Deserialize)]
pub struct GraphUndo {}

/// One compensation's run: which step it undid, when, and what it saw.
#[derive(Debug, Clone)]
pub(super) struct Undo {
    pub(super) step: usize,
    undoes: String,
    /// Whether `ctx.compensating_for::<GraphBranch>()` said so.
    undoes_a_branch: bool,
    attempt: u32,
    start: Instant,
    end: Instant,
    variables: serde_json::Map<String, Value>,
}

fn undos() -> &'static Mutex<HashMap<Uuid, Vec<Undo>>> {
    static UNDOS: OnceLock<Mutex<HashMap<Uuid, Vec<Undo>>>> = OnceLock::new();
    UNDOS.get_or_init(Default::default)
}

pub(super) fn undone(run: Uuid) -> Vec<Undo> {
    undos()
        .lock()
        .unwrap()
        .get(&run)
        .cloned()
        .unwrap_or_default()
}

/// Knobs by the undone step's index: `undo_work_ms.<i>` sleeps,
/// `undo_fail_until.<i>` fails while `ctx.attempt()` is at most that.
#[consumer(service = "suite", retry = immediate(attempts = 2))]
async fn graph_undo(_ev: GraphUndo, ctx: StepContext) -> anyhow::Result<()> {
    let step = ctx.step().unwrap_or_default();
    let knob = |name: &str| {
        ctx.vars()
            .get(name)
            .and_then(|m| m.get(step.to_string()))
            .and_then(Value::as_u64)
    };
    let start = Instant::now();
    if let Some(ms) = knob("undo_work_ms") {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    undos()
        .lock()
        .unwrap()
        .entry(ctx.run_id().unwrap_or_default())
        .or_default()
        .push(Undo {
            step,
            undoes: ctx
                .compensating_step()
                .unwrap_or("(not a compensation)")
                .into(),
            undoes_a_branch: ctx.compensating_for::<super::graph::GraphBranch>(),
            attempt: ctx.attempt(),
            start,
            end: Instant::now(),
            variables: ctx.vars(),
        });
    if knob("undo_fail_until").is_some_and(|n| u64::from(ctx.attempt()) <= n) {
        anyhow::bail!("undo of step {} fails on purpose", step + 1);
    }
    Ok(())
}

const ENDPOINTS: [&str; 4] = ["graph-start", "graph-branch", "graph-join", "graph-undo"];

/// start → b1, b2, b3 → join, every step undone by `GraphUndo`.
fn undoable(name: &str) -> Definition {
    Definition::new(
        name,
        [
            StepDef::new("GraphStart")
                .named("start")
                .compensate("GraphUndo"),
            StepDef::new("GraphBranch")
                .named("b1")
                .after(["start"])
                .compensate("GraphUndo"),
            StepDef::new("GraphBranch")
                .named("b2")
                .after(["start"])
                .compensate("GraphUndo"),
            StepDef::new("GraphBranch")
                .named("b3")
                .after(["start"])
                .compensate("GraphUndo"),
            StepDef::new("GraphJoin")
                .compensate("GraphUndo")
                .after(["b1", "b2", "b3"]),
        ],
    )
}

/// The join fails: the branches are undone in parallel (their spans
/// overlap), the start after all of them, each with the variables of its
/// own success, and the run ends `Compensated` with every record kept.
pub async fn compensation_undoes_a_diamond_in_reverse_order(h: Harness) {
    let svc = h.service(&ENDPOINTS).await;
    h.control
        .create_definition(undoable("undo-diamond"))
        .await
        .expect("saved");
    let vars = json!({"fail_until": {"4": 9}, "undo_work_ms": {"1": 1000, "2": 1000, "3": 1000}});
    let id = h.start("undo-diamond", vars).await;
    let run = h.finish(id).await;
    assert_eq!(run.status, RunStatus::Compensated, "{run:#?}");
    assert!(
        run.error
            .as_deref()
            .unwrap_or("")
            .contains("step 5 (GraphJoin) failed"),
        "{run:#?}"
    );
    let calls = undone(id);
    let mut steps: Vec<usize> = calls.iter().map(|u| u.step).collect();
    steps.sort_unstable();
    assert_eq!(
        steps,
        [0, 1, 2, 3],
        "each succeeded step undone once: {calls:?}"
    );
    let by = |i: usize| calls.iter().find(|u| u.step == i).unwrap();
    let branches = [by(1), by(2), by(3)];
    let last_start = branches.iter().map(|u| u.start).max().unwrap();
    let first_end = branches.iter().map(|u| u.end).min().unwrap();
    assert!(
        last_start < first_end,
        "branches undone in parallel: {calls:?}"
    );
    assert!(
        branches.iter().all(|b| b.end <= by(0).start),
        "the start is undone after every branch: {calls:?}"
    );
    assert_eq!(by(2).undoes, "b2");
    // The undo is told the undone step's event type (the step is named).
    assert!(branches.iter().all(|b| b.undoes_a_branch), "{calls:?}");
    assert!(!by(0).undoes_a_branch, "{calls:?}");
    // Each sees what was there when its step succeeded: the start's undo
    // does not see the branches' variables.
    assert!(by(0).variables.contains_key("by_0"));
    assert!(
        !by(0).variables.contains_key("by_1"),
        "{:?}",
        by(0).variables
    );
    assert!(by(3).variables.contains_key("by_3"));
    for i in 0..4 {
        let c = run.steps[i]
            .compensation
            .as_ref()
            .expect("a compensation record");
        assert_eq!(c.status, StepStatus::Succeeded, "{run:#?}");
        assert_eq!(c.attempts, 1);
        assert!(c
            .handled_by
            .as_deref()
            .unwrap_or("")
            .starts_with("graph-undo@"));
    }
    let join = run.steps[4].compensation.as_ref().unwrap();
    assert_eq!(
        join.status,
        StepStatus::Skipped,
        "it failed: nothing to undo"
    );
    svc.shutdown().await.unwrap();
}

/// A compensation that fails once is retried by its consumer's policy and
/// the run still ends `Compensated`.
pub async fn compensation_retried_then_succeeds(h: Harness) {
    let svc = h.service(&ENDPOINTS).await;
    let def = Definition::new(
        "undo-retry",
        [
            StepDef::new("GraphStart").compensate("GraphUndo"),
            StepDef::new("GraphJoin"),
        ],
    );
    h.control.create_definition(def).await.expect("saved");
    let id = h
        .start(
            "undo-retry",
            json!({"fail_until": {"1": 9}, "undo_fail_until": {"0": 1}}),
        )
        .await;
    let run = h.finish(id).await;
    assert_eq!(run.status, RunStatus::Compensated, "{run:#?}");
    let c = run.steps[0].compensation.as_ref().unwrap();
    assert_eq!(c.attempts, 2, "{run:#?}");
    let attempts: Vec<u32> = undone(id).iter().map(|u| u.attempt).collect();
    assert_eq!(attempts, [1, 2]);
    svc.shutdown().await.unwrap();
}

/// A compensation that runs out of retries leaves the run
/// `CompensationFailed`, naming it; resumed, it runs again (its attempts
/// counted on) and the run ends `Compensated`, without undoing again what
/// was already undone.
pub async fn compensation_failed_then_resumed(h: Harness) {
    let svc = h.service(&ENDPOINTS).await;
    let def = Definition::new(
        "undo-resume",
        [
            StepDef::new("GraphStart").compensate("GraphUndo"),
            StepDef::new("GraphBranch").compensate("GraphUndo"),
            StepDef::new("GraphJoin"),
        ],
    );
    h.control.create_definition(def).await.expect("saved");
    // Step 1's undo fails its two attempts of the first delivery.
    let vars = json!({"fail_until": {"2": 9}, "undo_fail_until": {"0": 2}});
    let id = h.start("undo-resume", vars).await;
    let run = h.finish(id).await;
    assert_eq!(run.status, RunStatus::CompensationFailed, "{run:#?}");
    let error = run.error.clone().unwrap_or_default();
    assert!(
        error.contains("compensating step 1 (GraphStart) with GraphUndo failed"),
        "{error}"
    );
    assert_eq!(
        run.steps[1].compensation.as_ref().unwrap().status,
        StepStatus::Succeeded
    );
    let resumed = h
        .control
        .resume(id, isoqube::Resume::new())
        .await
        .expect("resumed");
    assert_eq!(resumed.status, RunStatus::Compensating);
    let run = h.finish(id).await;
    assert_eq!(run.status, RunStatus::Compensated, "{run:#?}");
    let c = run.steps[0].compensation.as_ref().unwrap();
    assert_eq!(c.attempts, 3, "{run:#?}");
    let of_step_1 = undone(id).iter().filter(|u| u.step == 1).count();
    assert_eq!(of_step_1, 1, "what was undone is not undone again");
    svc.shutdown().await.unwrap();
}

/// A consumer that hangs on every attempt: each attempt is dropped at the
/// step's timeout and retried, then the run compensates what came before.
pub async fn compensation_after_a_hung_step_times_out(h: Harness) {
    let svc = h.service(&ENDPOINTS).await;
    let def = Definition::new(
        "undo-timeout",
        [
            StepDef::new("GraphStart").compensate("GraphUndo"),
            StepDef::new("GraphBranch").timeout(Duration::from_millis(300)),
        ],
    );
    h.control.create_definition(def).await.expect("saved");
    let id = h
        .start("undo-timeout", json!({"hang_until": {"1": 9}}))
        .await;
    let run = h.finish(id).await;
    assert_eq!(run.status, RunStatus::Compensated, "{run:#?}");
    assert_eq!(run.steps[1].attempts, 2, "timed out, retried, timed out");
    assert!(run.steps[1]
        .last_error
        .as_deref()
        .unwrap_or("")
        .contains("timeout"));
    assert_eq!(undone(id).len(), 1);
    svc.shutdown().await.unwrap();
}

/// Plain cancel leaves what was done in place; cancel with compensation
/// stops the step in flight and then undoes what succeeded.
pub async fn cancel_compensates_only_when_asked(h: Harness) {
    let svc = h.service(&ENDPOINTS).await;
    let def = Definition::new(
        "undo-cancel",
        [
            StepDef::new("GraphStart").compensate("GraphUndo"),
            StepDef::new("GraphBranch").compensate("GraphUndo"),
        ],
    );
    h.control.create_definition(def).await.expect("saved");
    let vars = json!({"work_ms": {"1": 1500}});
    let plain = h.start("undo-cancel", vars.clone()).await;
    h.wait_step(plain, 1, StepStatus::Invoked).await;
    let cancelled = h.control.cancel(plain).await.expect("cancelled");
    assert_eq!(cancelled.status, RunStatus::Cancelled);
    let undo = h.start("undo-cancel", vars).await;
    h.wait_step(undo, 1, StepStatus::Invoked).await;
    let compensating = h
        .control
        .cancel_and_compensate(undo)
        .await
        .expect("cancelled to compensate");
    assert_eq!(compensating.status, RunStatus::Compensating);
    let run = h.finish(undo).await;
    assert_eq!(run.status, RunStatus::Compensated, "{run:#?}");
    assert!(run.cancelled_at.is_some());
    // The step in flight finished (its work is done) and is undone too,
    // after it and before the step it ran after.
    let calls = undone(undo);
    let order: Vec<usize> = calls.iter().map(|u| u.step).collect();
    assert_eq!(order, [1, 0], "{calls:?}");
    // Give the plain run's step time to return: nothing is undone there.
    h.wait_step(plain, 1, StepStatus::Cancelled).await;
    assert!(undone(plain).is_empty());
    let again = h.control.cancel_and_compensate(plain).await.unwrap_err();
    assert!(
        again.to_string().contains("only pending or running"),
        "{again}"
    );
    svc.shutdown().await.unwrap();
}

/// A step no consumer is bound to is a step failure like any other: it is
/// recorded `Failed` with the reason, the run compensates what succeeded,
/// the branch still running when it failed included (undone after it
/// finishes, before the step it ran after), and an undo nobody consumes
/// leaves the run `CompensationFailed` naming it.
pub async fn compensation_after_a_step_nobody_consumes(h: Harness) {
    // Nobody hosts `graph-join`.
    let svc = h
        .service(&["graph-start", "graph-branch", "graph-undo"])
        .await;
    let def = Definition::new(
        "undo-unbound",
        [
            StepDef::new("GraphStart")
                .named("start")
                .compensate("GraphUndo"),
            StepDef::new("GraphBranch")
                .named("slow")
                .after(["start"])
                .compensate("GraphUndo"),
            StepDef::new("GraphBranch")
                .named("mid")
                .after(["start"])
                .compensate("GraphUndo"),
            StepDef::new("GraphJoin").named("orphan").after(["mid"]),
            StepDef::new("GraphBranch")
                .named("last")
                .after(["slow", "orphan"]),
        ],
    );
    h.control.create_definition(def).await.expect("saved");
    // `slow` still runs when `orphan` reaches no queue.
    let id = h
        .start("undo-unbound", json!({"work_ms": {"1": 1500, "2": 100}}))
        .await;
    let run = h.finish(id).await;
    assert_eq!(run.status, RunStatus::Compensated, "{run:#?}");
    let orphan = &run.steps[3];
    assert_eq!(orphan.status, StepStatus::Failed, "{run:#?}");
    assert!(orphan.failed_at.is_some());
    let why = orphan.last_error.as_deref().unwrap_or("");
    assert!(why.contains("no consumer is bound"), "{why}");
    assert!(
        run.error
            .as_deref()
            .unwrap_or("")
            .contains("step 4 (GraphJoin) failed"),
        "{run:#?}"
    );
    // The slow branch finished after the failure: recorded, and undone.
    assert_eq!(run.steps[1].status, StepStatus::Succeeded, "{run:#?}");
    assert!(run.steps[1].completed_at > orphan.failed_at, "{run:#?}");
    assert_eq!(run.steps[4].status, StepStatus::Skipped, "{run:#?}");
    let mut order: Vec<usize> = undone(id).iter().map(|u| u.step).collect();
    assert_eq!(order.pop(), Some(0), "the start last: {order:?}");
    order.sort_unstable();
    assert_eq!(order, [1, 2], "both branches undone once");

    // An undo nobody consumes (nobody hosts `graph-join`).
    let def = Definition::new(
        "undo-unbound-undo",
        [
            StepDef::new("GraphStart").compensate("GraphJoin"),
            StepDef::new("GraphBranch"),
        ],
    );
    h.control.create_definition(def).await.expect("saved");
    let id = h
        .start("undo-unbound-undo", json!({"fail_until": {"1": 9}}))
        .await;
    let run = h.finish(id).await;
    assert_eq!(run.status, RunStatus::CompensationFailed, "{run:#?}");
    let failed_undos: Vec<usize> = run
        .steps
        .iter()
        .filter(|s| {
            s.compensation
                .as_ref()
                .is_some_and(|c| c.status == StepStatus::Failed)
        })
        .map(|s| s.index)
        .collect();
    assert!(!failed_undos.is_empty(), "{run:#?}");
    let error = run.error.as_deref().unwrap_or("");
    assert!(
        error.contains("with GraphJoin failed") && error.contains("no consumer is bound"),
        "{error}"
    );
    svc.shutdown().await.unwrap();
}
