//! The graph scenarios of the behaviour suite: parallel branches, joins,
//! optional steps, step timeouts and resuming several branches. Written once
//! against the seams, as the rest of the suite.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use isoqube::{consumer, event, Definition, RunStatus, Service, StepContext, StepDef, StepStatus};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use uuid::Uuid;

use super::{call_count, Harness};

/// Starts a graph.
#[event]
#[derive(Serialize, Deserialize)]
pub struct GraphStart {}

/// One branch; a definition uses it several times, under step names.
#[event]
#[derive(Serialize, Deserialize)]
pub struct GraphBranch {}

/// Joins the branches.
#[event]
#[derive(Serialize, Deserialize)]
pub struct GraphJoin {}

type Spans = Mutex<HashMap<(Uuid, usize), (Instant, Instant)>>;

/// When each step's consumer ran (first start, last end), per run and step.
fn spans() -> &'static Spans {
    static SPANS: OnceLock<Spans> = OnceLock::new();
    SPANS.get_or_init(Default::default)
}

fn span(run: Uuid, step: usize) -> (Instant, Instant) {
    spans().lock().unwrap()[&(run, step)]
}

/// The graph consumers' knobs, by step index in the run variables:
/// `work_ms.<i>` sleeps, `fail_until.<i>` fails while `ctx.attempt()` is at
/// most that, `hang_until.<i>` sleeps a minute while it is.
async fn graph_behave(ctx: &StepContext) -> anyhow::Result<()> {
    super::record_call(ctx);
    let run = ctx.run_id().unwrap_or_default();
    let step = ctx.step().unwrap_or_default();
    let knob = |name: &str| {
        ctx.vars()
            .get(name)
            .and_then(|m| m.get(step.to_string()))
            .and_then(Value::as_u64)
    };
    let start = Instant::now();
    if knob("hang_until").is_some_and(|n| u64::from(ctx.attempt()) <= n) {
        tokio::time::sleep(Duration::from_secs(60)).await;
    }
    if let Some(ms) = knob("work_ms") {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    spans()
        .lock()
        .unwrap()
        .entry((run, step))
        .and_modify(|s| s.1 = Instant::now())
        .or_insert((start, Instant::now()));
    if knob("fail_until").is_some_and(|n| u64::from(ctx.attempt()) <= n) {
        anyhow::bail!(
            "step {} fails on purpose (attempt {})",
            step + 1,
            ctx.attempt()
        );
    }
    ctx.set(&format!("by_{step}"), ctx.attempt())?;
    Ok(())
}

#[consumer(service = "suite", retry = immediate(attempts = 2))]
async fn graph_start(_ev: GraphStart, ctx: StepContext) -> anyhow::Result<()> {
    graph_behave(&ctx).await
}

#[consumer(service = "suite", retry = immediate(attempts = 2))]
async fn graph_branch(_ev: GraphBranch, ctx: StepContext) -> anyhow::Result<()> {
    graph_behave(&ctx).await
}

#[consumer(service = "suite", retry = immediate(attempts = 2))]
async fn graph_join(_ev: GraphJoin, ctx: StepContext) -> anyhow::Result<()> {
    graph_behave(&ctx).await
}

const ENDPOINTS: [&str; 3] = ["graph-start", "graph-branch", "graph-join"];

/// start → b1, b2, b3 (in parallel) → join.
fn diamond(name: &str) -> Definition {
    Definition::new(
        name,
        [
            StepDef::new("GraphStart").named("start"),
            StepDef::new("GraphBranch").named("b1").after(["start"]),
            StepDef::new("GraphBranch").named("b2").after(["start"]),
            StepDef::new("GraphBranch").named("b3").after(["start"]),
            StepDef::new("GraphJoin").after(["b1", "b2", "b3"]),
        ],
    )
}

/// Branches run at the same time (their spans overlap), the join starts
/// once, after all of them, even with two service instances racing on it,
/// and the run's variables hold what every branch wrote.
pub async fn graph_branches_run_in_parallel_and_join_once(h: Harness) {
    let one = h.service(&ENDPOINTS).await;
    let two = h.service(&ENDPOINTS).await;
    h.control
        .create_definition(diamond("diamond"))
        .await
        .expect("saved");
    let work = json!({"1": 1000, "2": 1000, "3": 1000});
    let id = h.start("diamond", json!({ "work_ms": work })).await;
    let run = h.finish(id).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{run:#?}");
    let branches: Vec<_> = (1..=3).map(|i| span(id, i)).collect();
    let last_start = branches.iter().map(|s| s.0).max().unwrap();
    let first_end = branches.iter().map(|s| s.1).min().unwrap();
    assert!(
        last_start < first_end,
        "the three branches overlap in time: {branches:?}"
    );
    let join = span(id, 4);
    assert!(
        branches.iter().all(|b| b.1 <= join.0),
        "the join starts after every branch ended"
    );
    assert_eq!(call_count(id, "graph-join"), 1, "the join ran once");
    assert_eq!(call_count(id, "graph-branch"), 3);
    for i in 0..5 {
        assert_eq!(run.steps[i].status, StepStatus::Succeeded);
        assert_eq!(run.steps[i].attempts, 1, "step {i}: {run:#?}");
        assert!(run.variables.contains_key(&format!("by_{i}")), "{run:#?}");
    }
    one.shutdown().await.unwrap();
    two.shutdown().await.unwrap();
}

/// An optional step's failure is recorded and does not fail the run; what
/// runs after it still runs.
pub async fn graph_optional_failure_lets_the_run_go_on(h: Harness) {
    let svc = h.service(&ENDPOINTS).await;
    let def = Definition::new(
        "optional",
        [
            StepDef::new("GraphStart"),
            StepDef::new("GraphBranch").optional(),
            StepDef::new("GraphJoin"),
        ],
    );
    h.control.create_definition(def).await.expect("saved");
    let id = h.start("optional", json!({"fail_until": {"1": 9}})).await;
    let run = h.finish(id).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{run:#?}");
    assert_eq!(run.steps[1].status, StepStatus::Failed);
    assert_eq!(run.steps[1].attempts, 2, "its retries ran: {run:#?}");
    assert_eq!(run.steps[2].status, StepStatus::Succeeded);
    assert_eq!(call_count(id, "graph-join"), 1);
    svc.shutdown().await.unwrap();
}

/// An attempt past its step's timeout is dropped and retried; a step that
/// hangs on every attempt fails the run, saying it timed out.
pub async fn graph_step_timeout(h: Harness) {
    let svc = h.service(&ENDPOINTS).await;
    let def = Definition::new(
        "timeouts",
        [
            StepDef::new("GraphStart"),
            StepDef::new("GraphBranch").timeout(Duration::from_millis(300)),
        ],
    );
    h.control.create_definition(def).await.expect("saved");
    let once = h.start("timeouts", json!({"hang_until": {"1": 1}})).await;
    let run = h.finish(once).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{run:#?}");
    assert_eq!(run.steps[1].attempts, 2, "timed out once, then done");
    let always = h.start("timeouts", json!({"hang_until": {"1": 9}})).await;
    let run = h.finish(always).await;
    assert_eq!(run.status, RunStatus::Failed, "{run:#?}");
    let error = run.error.clone().unwrap_or_default();
    assert!(error.contains("timeout"), "{error}");
    svc.shutdown().await.unwrap();
}

/// A step whose definition names no timeout runs within the service's
/// default step timeout: a hung attempt is dropped there and retried, then
/// the run fails; the handler's record carries the deadline its service
/// reckoned (both attempts' timeouts), which the stuck report reads.
pub async fn graph_default_step_timeout(h: Harness) {
    let svc = Service::builder("suite")
        .transport(h.pair.transport.clone())
        .store(h.pair.store.clone())
        .endpoints(ENDPOINTS)
        .default_step_timeout(Some(Duration::from_millis(400)))
        .start()
        .await
        .expect("service starts");
    h.define("untimed", &["GraphStart", "GraphBranch"]).await;
    let id = h.start("untimed", json!({"hang_until": {"1": 9}})).await;
    let run = h.finish(id).await;
    assert_eq!(run.status, RunStatus::Failed, "{run:#?}");
    let step = &run.steps[1];
    assert_eq!(step.attempts, 2, "{run:#?}");
    let error = step.last_error.clone().unwrap_or_default();
    assert!(error.contains("timeout of 400ms"), "{error}");
    let handler = &step.handlers[0];
    let (start, deadline) = (handler.started_at.unwrap(), handler.deadline);
    assert_eq!(
        deadline,
        Some(start + chrono::Duration::milliseconds(800)),
        "two attempts of 400 ms: {run:#?}"
    );
    svc.shutdown().await.unwrap();
}

/// Two branches fail; resuming publishes both (not only the first), and the
/// join then runs once.
pub async fn graph_resume_republishes_every_failed_branch(h: Harness) {
    let svc = h.service(&ENDPOINTS).await;
    h.control
        .create_definition(diamond("resumable"))
        .await
        .expect("saved");
    // b1 and b3 fail both their attempts; b2 succeeds.
    let id = h
        .start(
            "resumable",
            json!({"fail_until": {"1": 2, "3": 2}, "work_ms": {"1": 100, "2": 100, "3": 100}}),
        )
        .await;
    let run = h.finish(id).await;
    assert_eq!(run.status, RunStatus::Failed, "{run:#?}");
    // Settle the in-flight branches before resuming.
    h.wait_step(id, 2, StepStatus::Succeeded).await;
    let failed = |r: &isoqube::Run| {
        r.steps
            .iter()
            .filter(|s| s.status == StepStatus::Failed)
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while failed(&h.control.get_run(id).await.unwrap()) < 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let resumed = h
        .control
        .resume(id, isoqube::Resume::new())
        .await
        .expect("resumed");
    assert_eq!(resumed.steps[1].status, StepStatus::Pending);
    assert_eq!(resumed.steps[3].status, StepStatus::Pending);
    assert_eq!(resumed.steps[2].status, StepStatus::Succeeded, "kept");
    let run = h.finish(id).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{run:#?}");
    assert_eq!(call_count(id, "graph-join"), 1);
    svc.shutdown().await.unwrap();
}

/// A graph that does not hold is refused on save, naming the problem, and
/// nothing is written.
pub async fn graph_definitions_are_validated(h: Harness) {
    let cycle = Definition::new(
        "cyclic",
        [
            StepDef::new("GraphStart").after(Vec::<String>::new()),
            StepDef::new("GraphBranch").named("x").after(["y"]),
            StepDef::new("GraphBranch").named("y").after(["x"]),
        ],
    );
    let err = h.control.create_definition(cycle).await.unwrap_err();
    assert!(err.to_string().contains("cycle: x -> y -> x"), "{err}");
    let unknown = Definition::new(
        "unknown-after",
        [
            StepDef::new("GraphStart"),
            StepDef::new("GraphJoin").after(["nope"]),
        ],
    );
    let err = h.control.create_definition(unknown).await.unwrap_err();
    assert!(err.to_string().contains("runs after 'nope'"), "{err}");
    for name in ["cyclic", "unknown-after"] {
        assert!(h.store().get_definition(name).await.unwrap().is_none());
    }
}
