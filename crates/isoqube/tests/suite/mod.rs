//! The behaviour suite: every scenario of the run engine, written once against
//! the transport and store seams. Each test binary (`embedded.rs`, `real.rs`)
//! instantiates it with its own pair through `behaviour_tests!`.
#![allow(dead_code)]

pub mod masstransit;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use isoqube::envelope::Envelope;
use isoqube::publish::Parent;
use isoqube::{
    consumer, event, Control, Definition, Error, Event, RunStatus, RunStore, Service, StepContext,
    StepKey, StepStatus, Transport, Variables,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use uuid::Uuid;

/// A transport and a store, fresh for one test.
pub struct Pair {
    pub transport: Arc<dyn Transport>,
    pub store: Arc<dyn RunStore>,
}

mod cancel;
mod compensation;
mod graph;
mod priority;
mod step_log;
#[allow(unused_imports)]
pub use cancel::*;
#[allow(unused_imports)]
pub use compensation::*;
// Not every binary that includes the suite instantiates the scenarios.
#[allow(unused_imports)]
pub use graph::*;
#[allow(unused_imports)]
pub use priority::*;
#[allow(unused_imports)]
pub use step_log::*;

// ---------------------------------------------------------------- events

/// First step of the test chain.
#[event]
#[derive(Serialize, Deserialize)]
pub struct Alpha {
    #[serde(default)]
    pub sleep_ms: Value,
}

/// Second step of the test chain.
#[event(description = "second")]
#[derive(Serialize, Deserialize)]
pub struct Beta {}

/// Third step of the test chain.
#[event(exchange = "suite-gamma")]
#[derive(Serialize, Deserialize)]
pub struct Gamma {}

/// An event two endpoints consume.
#[event]
#[derive(Serialize, Deserialize)]
pub struct Fan {}

/// An extra event a consumer publishes outside the chain.
#[event]
#[derive(Serialize, Deserialize)]
pub struct Notice {
    pub text: String,
}

// ---------------------------------------------------------------- behaviour knobs

type Calls = Mutex<HashMap<(Uuid, String), Vec<String>>>;

fn calls() -> &'static Calls {
    static CALLS: OnceLock<Calls> = OnceLock::new();
    CALLS.get_or_init(Default::default)
}

type Attempts = Mutex<HashMap<(Uuid, String), Vec<u32>>>;

/// `ctx.attempt()` of each invocation, per run and endpoint.
fn attempts_seen() -> &'static Attempts {
    static ATTEMPTS: OnceLock<Attempts> = OnceLock::new();
    ATTEMPTS.get_or_init(Default::default)
}

/// Records an invocation: by which service instance, at which attempt.
pub fn record_call(ctx: &StepContext) {
    let run = ctx.run_id().unwrap_or_default();
    let ep = ctx.endpoint().to_string();
    calls()
        .lock()
        .unwrap()
        .entry((run, ep.clone()))
        .or_default()
        .push(ctx.service_instance().to_string());
    attempts_seen()
        .lock()
        .unwrap()
        .entry((run, ep.clone()))
        .or_default()
        .push(ctx.attempt());
}

/// Records an invocation (by service instance) and applies the knobs in the run
/// variables: `sleep_ms.<endpoint>`, `fail_times.<endpoint>`.
async fn behave(ctx: &StepContext) -> anyhow::Result<()> {
    record_call(ctx);
    let ep = ctx.endpoint().to_string();
    let vars = ctx.vars();
    if let Some(ms) = vars
        .get("sleep_ms")
        .and_then(|m| m.get(&ep))
        .and_then(Value::as_u64)
    {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    if let Some(n) = vars
        .get("fail_times")
        .and_then(|m| m.get(&ep))
        .and_then(Value::as_u64)
    {
        if u64::from(ctx.attempt()) <= n {
            anyhow::bail!("{ep} fails on purpose (attempt {})", ctx.attempt());
        }
    }
    ctx.log().info(format_args!("{ep} did its work"));
    Ok(())
}

/// How many times `endpoint` ran for `run`.
pub fn call_count(run: Uuid, endpoint: &str) -> usize {
    calls()
        .lock()
        .unwrap()
        .get(&(run, endpoint.to_string()))
        .map_or(0, Vec::len)
}

fn callers(run: Uuid, endpoint: &str) -> Vec<String> {
    calls()
        .lock()
        .unwrap()
        .get(&(run, endpoint.to_string()))
        .cloned()
        .unwrap_or_default()
}

#[consumer(service = "suite")]
async fn alpha(_ev: Alpha, ctx: StepContext) -> anyhow::Result<()> {
    behave(&ctx).await?;
    ctx.set("from_alpha", "a1")?;
    Ok(())
}

#[consumer(service = "suite", retry = immediate(3))]
async fn beta(_ev: Beta, ctx: StepContext) -> anyhow::Result<()> {
    let from_alpha: String = ctx.var("from_alpha")?;
    behave(&ctx).await?;
    ctx.set("from_beta", format!("{from_alpha}+b"))?;
    Ok(())
}

#[consumer(service = "suite", endpoint = "gamma-endpoint", retry = interval(1, 10))]
async fn gamma(_ev: Gamma, ctx: StepContext) -> anyhow::Result<()> {
    behave(&ctx).await?;
    let chain: String = ctx.var("from_beta").unwrap_or_else(|_| "none".into());
    ctx.set("chain", chain)?;
    ctx.publish(&Notice {
        text: "gamma done".into(),
    })
    .await?;
    Ok(())
}

#[consumer(service = "fan")]
async fn fan_a(_ev: Fan, ctx: StepContext) -> anyhow::Result<()> {
    behave(&ctx).await?;
    ctx.set("fan_a", true)?;
    Ok(())
}

#[consumer(service = "fan")]
async fn fan_b_consumer(_ev: Fan, ctx: StepContext) -> anyhow::Result<()> {
    behave(&ctx).await
}

#[consumer(service = "notices")]
async fn notice(ev: Notice) -> Result<(), std::io::Error> {
    if ev.text.is_empty() {
        return Err(std::io::Error::other("empty notice"));
    }
    Ok(())
}

// ---------------------------------------------------------------- harness

const WAIT: Duration = Duration::from_secs(30);

pub struct Harness {
    pub pair: Pair,
    control: Control,
}

impl Harness {
    pub fn new(pair: Pair) -> Self {
        isoqube::telemetry::init_for_tests();
        let control = Control::new(pair.store.clone(), pair.transport.clone()).expect("registry");
        Harness { pair, control }
    }

    pub fn store(&self) -> &Arc<dyn RunStore> {
        &self.pair.store
    }

    pub fn transport(&self) -> &Arc<dyn Transport> {
        &self.pair.transport
    }

    pub fn control(&self) -> &Control {
        &self.control
    }

    /// [`Harness::service`] with its endpoint queues declared as priority queues.
    pub async fn priority_service(&self, endpoints: &[&str]) -> Service {
        Service::builder("suite")
            .transport_arc(self.pair.transport.clone())
            .store_arc(self.pair.store.clone())
            .endpoints(endpoints.iter().copied())
            .heartbeat_interval(Duration::from_millis(200))
            .priorities(true)
            .start()
            .await
            .expect("service starts")
    }

    pub async fn service(&self, endpoints: &[&str]) -> Service {
        Service::builder("suite")
            .transport_arc(self.pair.transport.clone())
            .store_arc(self.pair.store.clone())
            .endpoints(endpoints.iter().copied())
            .heartbeat_interval(Duration::from_millis(200))
            .start()
            .await
            .expect("service starts")
    }

    pub async fn define(&self, name: &str, steps: &[&str]) {
        self.control
            .create_definition(Definition::new(name, steps.iter().copied()))
            .await
            .expect("definition saved");
    }

    pub async fn start(&self, def: &str, vars: Value) -> Uuid {
        let vars = match vars {
            Value::Object(m) => m,
            _ => Variables::new(),
        };
        self.control
            .start(isoqube::StartRun::new(def).vars(vars).started_by("test"))
            .await
            .expect("run starts")
            .id
    }

    pub async fn finish(&self, id: Uuid) -> isoqube::Run {
        let run = self
            .control
            .wait_for_run(id, WAIT)
            .await
            .expect("run readable");
        assert!(
            run.status.is_finished(),
            "run {id} did not finish within {WAIT:?}: {run:#?}"
        );
        run
    }

    pub async fn wait_step(&self, id: Uuid, step: usize, status: StepStatus) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let run = self.control.get_run(id).await.expect("run readable");
            if run.steps[step].status == status {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "step {step} never became {status:?}: {run:#?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until `queue` holds `n` messages.
    pub async fn wait_queue(&self, queue: &str, n: u32) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let count = self
                .pair
                .transport
                .message_count(queue)
                .await
                .expect("queue exists");
            if count == n {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "queue {queue} holds {count}, expected {n}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn publish_raw(&self, exchange: &str, body: &[u8]) {
        let msg = isoqube::transport::OutgoingMessage {
            body: body.to_vec(),
            message_id: Uuid::new_v4().to_string(),
            correlation_id: None,
            headers: Default::default(),
            properties: Default::default(),
        };
        self.pair
            .transport
            .publish(exchange, msg)
            .await
            .expect("publish");
    }

    fn publisher(&self) -> isoqube::Publisher {
        isoqube::Publisher::new(
            self.pair.transport.clone(),
            Arc::new(isoqube::Registry::linked().expect("registry")),
            Some(self.pair.store.clone()),
            "suite-test",
        )
    }
}

// ---------------------------------------------------------------- scenarios

/// The chain rule over three steps: each step succeeds once, variables flow
/// from step to step, timestamps and handlers are recorded, logs are stored.
pub async fn chain_rule(h: Harness) {
    let svc = h
        .service(&["alpha", "beta", "gamma-endpoint", "notice"])
        .await;
    h.define("chain", &["Alpha", "Beta", "Gamma"]).await;
    let id = h.start("chain", json!({"customer": "acme"})).await;
    let run = h.finish(id).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{run:#?}");
    assert_eq!(run.variables["chain"], "a1+b");
    assert_eq!(run.variables["customer"], "acme");
    for (i, step) in run.steps.iter().enumerate() {
        assert_eq!(step.status, StepStatus::Succeeded);
        assert_eq!(step.index, i);
        assert_eq!(step.attempts, 1);
        assert!(step.invoked_at.is_some() && step.completed_at.is_some());
        assert!(step
            .duration()
            .is_some_and(|d| d >= chrono::Duration::zero()));
        assert!(step
            .handled_by
            .as_deref()
            .is_some_and(|h| h.contains(svc.instance_id())));
    }
    assert!(run.finished_at.is_some());
    for ep in ["alpha", "beta", "gamma-endpoint"] {
        assert_eq!(call_count(id, ep), 1, "{ep}");
    }
    // the extra event published by gamma reached its consumer, outside the run
    h.wait_queue("notice", 0).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let logs = h.store().run_logs(id, 0).await.expect("logs");
        if logs
            .iter()
            .any(|l| l.message.contains("beta did its work") && l.step == Some(1))
        {
            assert!(logs.iter().all(|l| l.run_id == id));
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "step logs never reached the store: {logs:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    svc.shutdown().await.expect("shutdown");
}

/// Two endpoints of one event each get a copy; the run advances once.
pub async fn fan_out(h: Harness) {
    let svc = h.service(&["fan-a", "fan-b", "gamma-endpoint"]).await;
    h.define("fan", &["Fan", "Gamma"]).await;
    let id = h.start("fan", json!({})).await;
    let run = h.finish(id).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{run:#?}");
    // the slower endpoint may still be recording its copy
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let run = h.control.get_run(id).await.unwrap();
        if run.steps[0]
            .handlers
            .iter()
            .filter(|hd| hd.status == StepStatus::Succeeded)
            .count()
            == 2
        {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{run:#?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(call_count(id, "fan-a"), 1);
    assert_eq!(call_count(id, "fan-b"), 1);
    assert_eq!(
        call_count(id, "gamma-endpoint"),
        1,
        "next step published once"
    );
    svc.shutdown().await.unwrap();
}

/// Two instances of one endpoint share its queue.
pub async fn competing_consumers(h: Harness) {
    let one = h.service(&["alpha"]).await;
    let two = h.service(&["alpha"]).await;
    h.define("solo", &["Alpha"]).await;
    let mut ids = Vec::new();
    for _ in 0..16 {
        ids.push(h.start("solo", json!({"sleep_ms": {"alpha": 60}})).await);
    }
    let mut seen = std::collections::BTreeSet::new();
    for id in &ids {
        let run = h.finish(*id).await;
        assert_eq!(run.status, RunStatus::Succeeded);
        assert_eq!(call_count(*id, "alpha"), 1);
        seen.extend(callers(*id, "alpha"));
    }
    assert!(
        seen.contains(one.instance_id()) && seen.contains(two.instance_id()),
        "both instances consumed: {seen:?}"
    );
    one.shutdown().await.unwrap();
    two.shutdown().await.unwrap();
}

/// A duplicate of a finished step message neither runs the consumer again nor
/// publishes the next step again; a duplicate of an in-flight one is dropped.
pub async fn idempotent_redelivery(h: Harness) {
    let svc = h.service(&["alpha", "beta"]).await;
    h.define("pair", &["Alpha", "Beta"]).await;
    let id = h.start("pair", json!({"sleep_ms": {"alpha": 900}})).await;
    // a second copy of step 0 while the first is in flight
    h.wait_step(id, 0, StepStatus::Invoked).await;
    let run = h.control.get_run(id).await.unwrap();
    let publisher = h.publisher();
    publisher
        .publish_step(id, "pair", &run.next_step(0), &Parent::default())
        .await
        .unwrap();
    let run = h.finish(id).await;
    assert_eq!(run.status, RunStatus::Succeeded);
    // and a third copy after it finished
    publisher
        .publish_step(id, "pair", &run.next_step(0), &Parent::default())
        .await
        .unwrap();
    h.wait_queue("alpha", 0).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(call_count(id, "alpha"), 1);
    assert_eq!(call_count(id, "beta"), 1);
    let after = h.control.get_run(id).await.unwrap();
    assert_eq!(after.status, RunStatus::Succeeded);
    assert_eq!(after.steps[0].attempts, 1);
    assert_eq!(h.transport().message_count("beta").await.unwrap(), 0);
    svc.shutdown().await.unwrap();
}

/// A step runs only when it is due: a valid message for the last step of a
/// run, published while the first step still runs, is not run; it goes to
/// `<q>_error` naming the run, the step and what it waits for, and the run
/// then finishes normally, every step run once and succeeded.
pub async fn step_not_due_is_refused(h: Harness) {
    let svc = h
        .service(&["alpha", "beta", "gamma-endpoint", "notice"])
        .await;
    h.define("due", &["Alpha", "Beta", "Gamma"]).await;
    let id = h.start("due", json!({"sleep_ms": {"alpha": 800}})).await;
    h.wait_step(id, 0, StepStatus::Invoked).await;
    let run = h.control.get_run(id).await.unwrap();
    h.publisher()
        .publish_step(id, "due", &run.next_step(2), &Parent::default())
        .await
        .unwrap();
    h.wait_queue("gamma-endpoint_error", 1).await;
    let faulted = h
        .transport()
        .get("gamma-endpoint_error")
        .await
        .unwrap()
        .expect("the early step message is in the error queue");
    let header = |k: &str| {
        faulted
            .headers
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(header("MT-Fault-ExceptionType"), "isoqube::StepNotDue");
    let reason = header("MT-Fault-Message");
    assert!(
        reason.contains(&id.to_string())
            && reason.contains("step 3")
            && reason.contains("waits for step 2"),
        "{reason}"
    );
    assert_eq!(call_count(id, "gamma-endpoint"), 0, "the early step ran");
    let run = h.finish(id).await;
    assert_eq!(run.status, RunStatus::Succeeded);
    assert!(
        run.steps.iter().all(|s| s.status == StepStatus::Succeeded),
        "{run:#?}"
    );
    for ep in ["alpha", "beta", "gamma-endpoint"] {
        assert_eq!(call_count(id, ep), 1, "{ep} ran once");
    }
    svc.shutdown().await.unwrap();
}

/// A quick step's start is recorded with its outcome; a step that runs longer
/// than `record_start_after` (default 250 ms) shows as invoked while it runs.
/// Either way the step's start and duration are the consumer's.
pub async fn step_start_recorded(h: Harness) {
    let svc = h.service(&["alpha", "beta"]).await;
    h.define("pair", &["Alpha", "Beta"]).await;
    let id = h.start("pair", json!({"sleep_ms": {"alpha": 1200}})).await;
    h.wait_step(id, 0, StepStatus::Invoked).await;
    let running = h.control.get_run(id).await.unwrap();
    assert_eq!(running.status, RunStatus::Running);
    assert!(running.steps[0].completed_at.is_none(), "{running:#?}");
    assert_eq!(call_count(id, "alpha"), 1);
    let run = h.finish(id).await;
    assert_eq!(run.status, RunStatus::Succeeded);
    let slow = &run.steps[0];
    let took = slow.duration().expect("a duration");
    assert!(took.num_milliseconds() >= 1200, "slow step took {took}");
    assert_eq!(slow.handlers[0].started_at, slow.invoked_at);
    let quick = &run.steps[1];
    let (started, done) = (quick.invoked_at.unwrap(), quick.completed_at.unwrap());
    assert!(started <= done && started >= slow.completed_at.unwrap());
    assert_eq!(quick.handlers[0].started_at, Some(started));
    assert_eq!((slow.attempts, quick.attempts), (1, 1));
    svc.shutdown().await.unwrap();
}

/// A process that recorded a step but died before publishing the next one: the
/// redelivered message runs nothing again and publishes the next step.
pub async fn crash_between_record_and_publish(h: Harness) {
    let svc = h.service(&["alpha", "beta"]).await;
    h.define("pair", &["Alpha", "Beta"]).await;
    let def = h.store().get_definition("pair").await.unwrap().unwrap();
    let run = isoqube::Run::new(&def, Variables::new(), "test");
    h.store().insert_run(&run).await.unwrap();
    let key = StepKey::new(run.id, 0, "alpha", "crashed-instance");
    h.store().claim_step(&key, false).await.unwrap();
    let mut patch = Variables::new();
    patch.insert("from_alpha".into(), json!("a1"));
    h.store().complete_step(&key, patch, 1).await.unwrap();
    // the unacked message comes back
    h.publisher()
        .publish_step(run.id, "pair", &run.next_step(0), &Parent::default())
        .await
        .unwrap();
    let done = h.finish(run.id).await;
    assert_eq!(done.status, RunStatus::Succeeded, "{done:#?}");
    assert_eq!(call_count(run.id, "alpha"), 0, "alpha is not run again");
    assert_eq!(call_count(run.id, "beta"), 1);
    svc.shutdown().await.unwrap();
}

/// A consumer failing twice with three retries allowed succeeds on attempt 3.
pub async fn retry_then_succeed(h: Harness) {
    let svc = h.service(&["alpha", "beta"]).await;
    h.define("pair", &["Alpha", "Beta"]).await;
    let id = h.start("pair", json!({"fail_times": {"beta": 2}})).await;
    let run = h.finish(id).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{run:#?}");
    assert_eq!(run.steps[1].attempts, 3);
    assert_eq!(call_count(id, "beta"), 3);
    assert!(run.steps[1].last_error.is_none());
    assert_eq!(h.transport().message_count("beta_error").await.unwrap(), 0);
    svc.shutdown().await.unwrap();
}

/// Retries run out: step and run failed, error recorded, later steps skipped,
/// the message in the error queue with the fault headers.
pub async fn retry_exhausted(h: Harness) {
    let svc = h.service(&["alpha", "beta", "gamma-endpoint"]).await;
    h.define("chain", &["Alpha", "Beta", "Gamma"]).await;
    let id = h.start("chain", json!({"fail_times": {"beta": 99}})).await;
    let run = h.finish(id).await;
    assert_eq!(run.status, RunStatus::Failed);
    let step = &run.steps[1];
    assert_eq!(step.status, StepStatus::Failed);
    assert_eq!(step.attempts, 4, "1 attempt + 3 retries");
    assert!(step.failed_at.is_some());
    assert!(
        step.last_error
            .as_deref()
            .is_some_and(|e| e.contains("beta fails on purpose")),
        "{step:#?}"
    );
    assert!(
        run.error
            .as_deref()
            .is_some_and(|e| e.contains("step 2 (Beta)")),
        "the run's error names the step as people count: {:?}",
        run.error
    );
    assert_eq!(run.steps[2].status, StepStatus::Skipped);
    assert_eq!(call_count(id, "gamma-endpoint"), 0);
    h.wait_queue("beta_error", 1).await;
    let faulted = h
        .transport()
        .get("beta_error")
        .await
        .unwrap()
        .expect("message in error queue");
    let env = Envelope::from_slice(&faulted.body).expect("the original envelope");
    assert_eq!(env.run_step(), Some((id, 1)));
    let header = |k: &str| faulted.headers.get(k).cloned().unwrap_or(Value::Null);
    assert_eq!(header("MT-Reason"), "fault");
    assert!(header("MT-Fault-Message")
        .as_str()
        .is_some_and(|m| m.contains("fails on purpose")));
    assert!(header("MT-Fault-ExceptionType")
        .as_str()
        .is_some_and(|t| t.contains("anyhow")));
    assert_eq!(header("MT-Fault-RetryCount").as_u64(), Some(3));
    assert_eq!(
        header("MT-Fault-InputAddress"),
        h.transport().address("beta").as_str()
    );
    for k in [
        "MT-Fault-Timestamp",
        "MT-Fault-StackTrace",
        "MT-Host-MachineName",
    ] {
        assert!(header(k).is_string(), "{k} missing");
    }
    svc.shutdown().await.unwrap();
}

/// Cancel while a step runs: no further step, the running step is marked
/// cancelled when it returns, later steps skipped.
pub async fn cancel(h: Harness) {
    let svc = h.service(&["alpha", "beta"]).await;
    h.define("pair", &["Alpha", "Beta"]).await;
    let id = h.start("pair", json!({"sleep_ms": {"alpha": 400}})).await;
    h.wait_step(id, 0, StepStatus::Invoked).await;
    let cancelled = h.control.cancel(id).await.unwrap();
    assert_eq!(cancelled.status, RunStatus::Cancelled);
    h.wait_step(id, 0, StepStatus::Cancelled).await;
    let run = h.control.get_run(id).await.unwrap();
    assert!(run.steps[0].cancelled_at.is_some());
    assert_eq!(run.steps[1].status, StepStatus::Skipped);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(call_count(id, "beta"), 0);
    assert!(matches!(
        h.control.cancel(id).await,
        Err(Error::InvalidState(_))
    ));
    svc.shutdown().await.unwrap();
}

/// Resume continues a failed run from its failed step, not from the start.
pub async fn resume(h: Harness) {
    let svc = h.service(&["alpha", "beta", "gamma-endpoint"]).await;
    h.define("chain", &["Alpha", "Beta", "Gamma"]).await;
    let id = h.start("chain", json!({"fail_times": {"beta": 4}})).await;
    assert_eq!(h.finish(id).await.status, RunStatus::Failed);
    assert!(matches!(
        h.control
            .resume(Uuid::new_v4(), isoqube::Resume::new())
            .await,
        Err(Error::NotFound { .. })
    ));
    let resumed = h.control.resume(id, isoqube::Resume::new()).await.unwrap();
    assert_eq!(resumed.status, RunStatus::Running);
    let run = h.finish(id).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{run:#?}");
    assert_eq!(
        call_count(id, "alpha"),
        1,
        "succeeded steps are not run again"
    );
    assert_eq!(call_count(id, "beta"), 5);
    assert_eq!(run.steps[1].attempts, 5);
    assert_eq!(call_count(id, "gamma-endpoint"), 1);
    assert!(matches!(
        h.control.resume(id, isoqube::Resume::new()).await,
        Err(Error::InvalidState(_))
    ));
    svc.shutdown().await.unwrap();
}

/// Re-run makes a new run of the same definition with the same parameters.
pub async fn rerun(h: Harness) {
    let svc = h.service(&["alpha", "beta"]).await;
    h.define("pair", &["Alpha", "Beta"]).await;
    let first = h.start("pair", json!({"customer": "acme"})).await;
    h.finish(first).await;
    let again = h
        .control
        .rerun(first, isoqube::Rerun::new().started_by("test"))
        .await
        .unwrap();
    assert_ne!(again.id, first);
    assert_eq!(again.rerun_of, Some(first));
    let run = h.finish(again.id).await;
    assert_eq!(run.status, RunStatus::Succeeded);
    assert_eq!(run.params["customer"], "acme");
    assert_eq!(call_count(again.id, "alpha"), 1);
    assert_eq!(call_count(first, "alpha"), 1);
    let listed = h.store().list_runs(&Default::default()).await.unwrap().runs;
    assert_eq!(
        listed.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![again.id, first],
        "newest first"
    );
    svc.shutdown().await.unwrap();
}

/// Invalid definitions are refused with a clear message and nothing is written.
pub async fn invalid_definitions(h: Harness) {
    h.define("good", &["Alpha"]).await;
    let before = h.store().list_definitions().await.unwrap();
    let cases: Vec<(Definition, &str)> = vec![
        (
            Definition::new("bad", ["Alpha", "Nope"]),
            "unknown event 'Nope'",
        ),
        (Definition::new("", ["Alpha"]), "name is empty"),
        (Definition::new("empty", Vec::<String>::new()), "no steps"),
        (Definition::new("good", ["Beta"]), "already exists"),
    ];
    for (def, expected) in cases {
        let err = h
            .control
            .create_definition(def)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(expected),
            "'{err}' should mention '{expected}'"
        );
    }
    let err = h
        .control
        .update_definition(Definition::new("good", ["Alph"]))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("did you mean 'Alpha'"), "{err}");
    assert_eq!(
        h.store().list_definitions().await.unwrap(),
        before,
        "nothing written"
    );
    let err = h
        .control
        .start(isoqube::StartRun::new("missing").started_by("test"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
    assert!(h
        .store()
        .list_runs(&Default::default())
        .await
        .unwrap()
        .runs
        .is_empty());
}

/// Malformed messages go to the error queue, unknown types to the skipped
/// queue, and the consumer keeps working.
pub async fn malformed_message(h: Harness) {
    let svc = h.service(&["alpha", "beta"]).await;
    h.publish_raw("alpha", b"this is not json").await;
    h.publish_raw(
        "alpha",
        br#"{"messageId":"1","messageType":["urn:message:Suite:Alpha"]}"#,
    )
    .await;
    let foreign = Envelope::new("urn:message:Other:Unknown", json!({}));
    h.publish_raw("alpha", &foreign.to_vec()).await;
    let unknown_run = {
        let mut env = Envelope::new(Alpha::info().message_type(), json!({}));
        env.headers
            .insert("Isoqube-RunId".into(), json!(Uuid::new_v4().to_string()));
        env.headers.insert("Isoqube-Step".into(), json!(0));
        env
    };
    h.publish_raw("alpha", &unknown_run.to_vec()).await;
    h.wait_queue("alpha_error", 3).await;
    h.wait_queue("alpha_skipped", 1).await;
    // A broker does not promise the error queue's order across the consumer's
    // concurrent handling, so look for the non-JSON message among the three.
    let mut errors = Vec::new();
    for _ in 0..3 {
        errors.push(h.transport().get("alpha_error").await.unwrap().unwrap());
    }
    let not_json = errors
        .iter()
        .find(|m| m.body == b"this is not json")
        .expect("the non-JSON message is in the error queue");
    assert_eq!(
        not_json
            .headers
            .get("MT-Fault-ExceptionType")
            .and_then(Value::as_str),
        Some("isoqube::MalformedMessage")
    );
    let skipped = h.transport().get("alpha_skipped").await.unwrap().unwrap();
    assert_eq!(
        skipped.headers.get("MT-Reason").and_then(Value::as_str),
        Some("dead-letter")
    );
    // still consuming
    h.define("pair", &["Alpha", "Beta"]).await;
    let id = h.start("pair", json!({})).await;
    assert_eq!(h.finish(id).await.status, RunStatus::Succeeded);
    svc.shutdown().await.unwrap();
}

/// A message whose run headers are there but unusable (a run id that is not
/// a UUID, a negative step) is not run as a plain message: it goes to
/// `<q>_error` naming the header, and the consumer never runs.
pub async fn bad_run_headers_are_refused(h: Harness) {
    let svc = h.service(&["alpha", "beta"]).await;
    let before = call_count(Uuid::nil(), "alpha");
    for (run, step) in [
        (json!("4"), json!(0)),
        (json!(Uuid::new_v4().to_string()), json!(-1)),
    ] {
        let mut env = Envelope::new(Alpha::info().message_type(), json!({}));
        env.headers.insert("Isoqube-RunId".into(), run);
        env.headers.insert("Isoqube-Step".into(), step);
        h.publish_raw("alpha", &env.to_vec()).await;
    }
    h.wait_queue("alpha_error", 2).await;
    let mut reasons = Vec::new();
    for _ in 0..2 {
        let m = h.transport().get("alpha_error").await.unwrap().unwrap();
        let header = |k: &str| {
            m.headers
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        assert_eq!(header("MT-Fault-ExceptionType"), "isoqube::BadRunHeader");
        reasons.push(header("MT-Fault-Message"));
    }
    reasons.sort();
    assert!(
        reasons[0].contains("Isoqube-RunId '4' is not a run id"),
        "{reasons:?}"
    );
    assert!(
        reasons[1].contains("Isoqube-Step -1 is not a step index"),
        "{reasons:?}"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(call_count(Uuid::nil(), "alpha"), before, "the consumer ran");
    svc.shutdown().await.unwrap();
}

/// Graceful shutdown lets the step in flight finish and record; the next step
/// waits in its queue for the next instance.
/// Schedules: two schedulers on one store start exactly one run per due time
/// of an every-second schedule; a missed due time is run once or skipped, as
/// the schedule says.
pub async fn schedules(h: Harness) {
    use isoqube::schedule::{Missed, Schedule, Scheduler, When};
    let svc = h.service(&["alpha"]).await;
    let control = || Control::new(h.store().clone(), h.transport().clone()).unwrap();
    let mut def = Definition::new("ticking", ["Alpha"]);
    def.schedules = vec![Schedule::new(
        "each-second",
        When::Interval { every_secs: 1 },
    )];
    control().create_definition(def).await.unwrap();
    let a = Scheduler::start(control(), "scheduler-a");
    let b = Scheduler::start(control(), "scheduler-b");
    tokio::time::sleep(Duration::from_millis(3_500)).await;
    a.stop().await;
    b.stop().await;
    let runs = h
        .store()
        .list_runs(&isoqube::RunFilter {
            definition: Some("ticking".into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .runs;
    let mut ticks: Vec<String> = runs
        .iter()
        .map(|r| {
            r.params["scheduled_at"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    ticks.sort();
    let n = ticks.len();
    ticks.dedup();
    assert_eq!(ticks.len(), n, "a due time started two runs: {ticks:?}");
    assert!((2..=5).contains(&n), "{n} runs in 3.5 s: {ticks:?}");
    for r in &runs {
        assert!(
            r.started_by.starts_with("schedule:each-second@"),
            "{}",
            r.started_by
        );
        assert_eq!(h.finish(r.id).await.status, RunStatus::Succeeded);
    }

    // Hourly schedules whose last tick is two hours old: one due time was missed.
    let hour = 3_600;
    let now = chrono::Utc::now().timestamp();
    let last_boundary = now - now.rem_euclid(hour);
    for (name, missed) in [("catch-up", Missed::RunOnce), ("skipper", Missed::Skip)] {
        let mut def = Definition::new(name, ["Alpha"]);
        let mut s = Schedule::new("hourly", When::Interval { every_secs: 3_600 });
        s.missed = missed;
        def.schedules = vec![s];
        control().create_definition(def).await.unwrap();
        let old = chrono::DateTime::from_timestamp(last_boundary - 2 * hour, 0).unwrap();
        assert!(h
            .store()
            .claim_tick(&isoqube::schedule::tick_key(name, "hourly"), old)
            .await
            .unwrap());
    }
    let c = Scheduler::start(control(), "scheduler-c");
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    c.stop().await;
    let runs_of = |name: &'static str| {
        let store = h.store().clone();
        async move {
            store
                .list_runs(&isoqube::RunFilter {
                    definition: Some(name.into()),
                    ..Default::default()
                })
                .await
                .unwrap()
                .runs
        }
    };
    let caught_up = runs_of("catch-up").await;
    assert_eq!(caught_up.len(), 1, "one run for the missed hours");
    let expected = chrono::DateTime::from_timestamp(last_boundary, 0)
        .unwrap()
        .to_rfc3339();
    assert_eq!(caught_up[0].params["scheduled_at"], json!(expected));
    assert!(runs_of("skipper").await.is_empty(), "missed time skipped");
    svc.shutdown().await.unwrap();
}

/// The error queue can be read without emptying it, and one chosen message taken
/// out of it (the control center's error-queue view: requeue / discard).
pub async fn error_queue_browse_and_take(h: Harness) {
    let svc = h.service(&["alpha"]).await;
    for n in 0..3 {
        h.publish_raw("alpha", format!("not json {n}").as_bytes())
            .await;
    }
    h.wait_queue("alpha_error", 3).await;
    let seen = h.transport().browse("alpha_error", 10).await.unwrap();
    assert_eq!(seen.len(), 3);
    h.wait_queue("alpha_error", 3).await; // browsing left them there
    let limited = h.transport().browse("alpha_error", 2).await.unwrap();
    assert_eq!(limited.len(), 2);
    h.wait_queue("alpha_error", 3).await;
    let chosen = seen[1].message_id.clone().expect("a message id");
    let taken = h
        .transport()
        .take("alpha_error", &chosen)
        .await
        .unwrap()
        .expect("taken");
    assert_eq!(taken.body, seen[1].body);
    h.wait_queue("alpha_error", 2).await;
    assert!(h
        .transport()
        .take("alpha_error", &chosen)
        .await
        .unwrap()
        .is_none());
    let rest = h.transport().browse("alpha_error", 10).await.unwrap();
    assert_eq!(rest.len(), 2);
    assert!(rest
        .iter()
        .all(|m| m.message_id.as_deref() != Some(&chosen)));
    svc.shutdown().await.unwrap();
}

pub async fn graceful_shutdown(h: Harness) {
    let svc = h.service(&["alpha", "beta"]).await;
    h.define("pair", &["Alpha", "Beta"]).await;
    let id = h
        .start("pair", json!({"sleep_ms": {"alpha": 400, "beta": 0}}))
        .await;
    h.wait_step(id, 0, StepStatus::Invoked).await;
    svc.shutdown().await.unwrap();
    let run = h.control.get_run(id).await.unwrap();
    assert_eq!(
        run.steps[0].status,
        StepStatus::Succeeded,
        "in-flight step finished: {run:#?}"
    );
    assert_eq!(run.status, RunStatus::Running);
    assert_eq!(call_count(id, "beta"), 0, "nothing consumed after shutdown");
    h.wait_queue("beta", 1).await;
    assert!(
        h.store().list_services().await.unwrap().is_empty(),
        "service record removed"
    );
    let next = h.service(&["alpha", "beta"]).await;
    assert_eq!(h.finish(id).await.status, RunStatus::Succeeded);
    next.shutdown().await.unwrap();
}

/// A shutdown whose grace runs out before the step ends: the step is
/// redelivered, and the cut-off attempt counts.
pub async fn grace_expiry_counts_the_attempt(h: Harness) {
    let hasty = Service::builder("suite")
        .transport_arc(h.pair.transport.clone())
        .store_arc(h.pair.store.clone())
        .endpoints(["alpha"])
        .heartbeat_interval(Duration::from_millis(200))
        .shutdown_grace(Duration::from_millis(100))
        .start()
        .await
        .expect("service starts");
    h.define("pair", &["Alpha", "Beta"]).await;
    let id = h.start("pair", json!({"sleep_ms": {"alpha": 800}})).await;
    h.wait_step(id, 0, StepStatus::Invoked).await;
    hasty.shutdown().await.unwrap();
    assert_eq!(
        h.control.get_run(id).await.unwrap().steps[0].status,
        StepStatus::Invoked,
        "cut off, not finished"
    );
    let next = h.service(&["alpha", "beta"]).await;
    let run = h.finish(id).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{run:#?}");
    assert_eq!(
        attempts_seen().lock().unwrap()[&(id, "alpha".to_string())],
        vec![1, 2]
    );
    assert_eq!(run.steps[0].attempts, 2, "{run:#?}");
    next.shutdown().await.unwrap();
}

/// The store applies a write but its answer is lost (the server died after
/// the write, the connection dropped): the retried call is recognised as the
/// same handling, the run still advances, and nothing is counted twice.
pub async fn lost_store_answers(h: Harness) {
    let faulty = isoqube::testing::FaultyStore::new(h.pair.store.clone());
    let svc = Service::builder("suite")
        .transport_arc(h.pair.transport.clone())
        .store_arc(faulty.clone())
        .endpoints(["alpha", "beta"])
        .heartbeat_interval(Duration::from_millis(200))
        .record_start_after(Duration::ZERO)
        .start()
        .await
        .expect("service starts");
    h.define("pair", &["Alpha", "Beta"]).await;
    // The first claim, and the completions of both steps (the one that
    // publishes the next step, and the one that ends the run).
    faulty.lose_answers("claim_step", 1);
    faulty.lose_answers("complete_step", 2);
    let id = h.start("pair", json!({})).await;
    let run = h.finish(id).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{run:#?}");
    assert_eq!(call_count(id, "alpha"), 1, "the retried claim ran it once");
    assert_eq!(call_count(id, "beta"), 1);
    assert_eq!(run.steps[0].attempts, 1, "{run:#?}");
    assert_eq!(run.steps[1].attempts, 1, "{run:#?}");
    assert!(
        faulty.calls("complete_step") >= 4,
        "both completions retried"
    );
    svc.shutdown().await.unwrap();
}

/// An instance dying mid-step: the message goes back to the queue and another
/// instance finishes the step, which is recorded once.
pub async fn instance_killed_mid_step(h: Harness) {
    let doomed = h.service(&["alpha"]).await;
    h.define("pair", &["Alpha", "Beta"]).await;
    let id = h.start("pair", json!({"sleep_ms": {"alpha": 500}})).await;
    h.wait_step(id, 0, StepStatus::Invoked).await;
    doomed.abort();
    let survivor = h.service(&["alpha", "beta"]).await;
    let run = h.finish(id).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{run:#?}");
    assert_eq!(call_count(id, "alpha"), 2, "started twice, finished once");
    // The killed attempt counts: the store and the rerun's context say 2.
    assert_eq!(
        attempts_seen().lock().unwrap()[&(id, "alpha".to_string())],
        vec![1, 2]
    );
    assert_eq!(run.steps[0].attempts, 2, "{run:#?}");
    assert_eq!(run.steps[0].handlers[0].attempts, 2);
    assert_eq!(run.steps[1].attempts, 1);
    assert_eq!(run.steps[0].handlers.len(), 1);
    assert!(run.steps[0]
        .handled_by
        .as_deref()
        .is_some_and(|by| by.contains(survivor.instance_id())));
    assert_eq!(call_count(id, "beta"), 1);
    survivor.shutdown().await.unwrap();
}

/// The service records itself, its events and consumers; the heartbeat moves.
pub async fn service_registration(h: Harness) {
    let svc = h.service(&["alpha", "fan-a", "fan-b"]).await;
    let services = h.store().list_services().await.unwrap();
    assert_eq!(services.len(), 1);
    let rec = &services[0];
    assert_eq!(rec.id, svc.instance_id());
    assert_eq!(rec.consumers, vec!["alpha", "fan-a", "fan-b"]);
    assert!(rec.events.contains(&"Gamma".to_string()));
    let first_seen = rec.last_seen;
    let topics = h.store().list_topics().await.unwrap();
    let fan = topics
        .iter()
        .find(|t| t.name == "Fan")
        .expect("Fan recorded");
    assert_eq!(fan.consumers, vec!["fan-a", "fan-b"]);
    assert_eq!(
        topics.iter().find(|t| t.name == "Gamma").unwrap().exchange,
        "suite-gamma"
    );
    assert!(topics
        .iter()
        .find(|t| t.name == "Alpha")
        .unwrap()
        .schema
        .contains(&"sleep_ms: Value".to_string()));
    tokio::time::sleep(Duration::from_millis(600)).await;
    let later = h.store().list_services().await.unwrap();
    assert!(
        later[0].last_seen > first_seen,
        "heartbeat updates last_seen"
    );
    svc.shutdown().await.unwrap();
}

/// Instantiates every scenario as a test, with `$pair` (an async fn returning a
/// `Pair`) providing the transport and the store.
#[macro_export]
macro_rules! behaviour_tests {
    ($pair:path) => {
        $crate::behaviour_tests!(@each $pair;
            chain_rule, fan_out, competing_consumers, idempotent_redelivery, step_not_due_is_refused, step_start_recorded,
            crash_between_record_and_publish, retry_then_succeed, retry_exhausted, cancel,
            resume, rerun, invalid_definitions, malformed_message, bad_run_headers_are_refused, error_queue_browse_and_take, schedules, graceful_shutdown,
            grace_expiry_counts_the_attempt, instance_killed_mid_step, redelivered_attempt_says_why, lost_store_answers, service_registration,
            graph_branches_run_in_parallel_and_join_once, graph_optional_failure_lets_the_run_go_on,
            graph_step_timeout, graph_default_step_timeout, graph_resume_republishes_every_failed_branch, graph_definitions_are_validated,
            cancel_tells_the_running_step, cancel_drops_a_stubborn_step_after_the_grace,
            compensation_undoes_a_diamond_in_reverse_order, compensation_retried_then_succeeds,
            compensation_failed_then_resumed, compensation_after_a_hung_step_times_out,
            cancel_compensates_only_when_asked, compensation_after_a_step_nobody_consumes,
            priority_overtakes_backlog, priority_out_of_range_is_refused);

    };
    (@each $pair:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                suite::$name(suite::Harness::new($pair().await)).await;
            }
        )*
    };
}
