//! Cancelling a run while a step runs: the consumer is told (`ctx.cancelled()`),
//! one that ignores it is dropped after the service's cancel grace, the step
//! is recorded cancelled either way, and resume waits for it to stop.

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use isoqube::{consumer, event, Error, RunStatus, Service, StepContext, StepStatus};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::fixtures::*;
use super::harness::Harness;

/// A long step that stops when its run is cancelled.
#[event]
#[derive(Serialize, Deserialize)]
pub struct Patient {}

/// A long step that ignores cancellation.
#[event]
#[derive(Serialize, Deserialize)]
pub struct Stubborn {}

fn told() -> &'static Mutex<HashSet<Uuid>> {
    static TOLD: OnceLock<Mutex<HashSet<Uuid>>> = OnceLock::new();
    TOLD.get_or_init(Default::default)
}

#[consumer(service = "suite")]
async fn patient(_ev: Patient, ctx: StepContext) -> anyhow::Result<()> {
    tokio::select! {
        _ = ctx.cancelled() => {
            told().lock().unwrap().insert(ctx.run_id().unwrap_or_default());
            anyhow::bail!("stopped: the run was cancelled")
        }
        _ = tokio::time::sleep(Duration::from_secs(30)) => Ok(()),
    }
}

#[consumer(service = "suite")]
async fn stubborn(_ev: Stubborn, ctx: StepContext) -> anyhow::Result<()> {
    let ms = ctx.var_opt::<u64>("stubborn_ms").unwrap_or(30_000);
    tokio::time::sleep(Duration::from_millis(ms)).await;
    Ok(())
}

async fn service(h: &Harness, grace: Duration) -> Service {
    Service::builder("suite")
        .transport(h.pair.transport.clone())
        .store(h.pair.store.clone())
        .endpoints(["patient", "stubborn", "alpha"])
        .heartbeat_interval(Duration::from_millis(200))
        .cancel_poll(Duration::from_millis(100))
        .cancel_grace(grace)
        .start()
        .await
        .expect("service starts")
}

/// Waits until step `step` of run `id` is `status` (or fails the test).
async fn step_becomes(h: &Harness, id: Uuid, step: usize, status: StepStatus, within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let run = h.control.get_run(id).await.expect("run");
        if run.steps[step].status == status {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "step {step} of {id} not {status:?} within {within:?}: {run:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A consumer awaiting `ctx.cancelled()` is told and stops; the step is
/// cancelled (not failed, not dead-lettered) long before it would have ended.
pub async fn cancel_tells_the_running_step(h: Harness) {
    let svc = service(&h, Duration::from_secs(20)).await;
    h.define("patient", &["Patient", "Alpha"]).await;
    let id = h.start("patient", json!({})).await;
    h.wait_step(id, 0, StepStatus::Invoked).await;
    h.control.cancel(id).await.expect("cancelled");
    step_becomes(&h, id, 0, StepStatus::Cancelled, Duration::from_secs(5)).await;
    assert!(
        told().lock().unwrap().contains(&id),
        "the consumer saw ctx.cancelled()"
    );
    let run = h.control.get_run(id).await.unwrap();
    assert_eq!(run.status, RunStatus::Cancelled);
    assert_eq!(
        run.steps[1].status,
        StepStatus::Skipped,
        "never started: {run:#?}"
    );
    // Its error queue may not even exist (nothing was ever dead-lettered there).
    let dead = h
        .transport()
        .message_count("patient_error")
        .await
        .unwrap_or(0);
    assert_eq!(dead, 0, "not dead-lettered");
    svc.shutdown().await.unwrap();
}

/// A consumer that ignores the signal is dropped after the grace; while it
/// runs, resume is refused (it would run the step twice); after, resume runs it.
pub async fn cancel_drops_a_stubborn_step_after_the_grace(h: Harness) {
    let svc = service(&h, Duration::from_millis(1500)).await;
    h.define("stubborn", &["Stubborn", "Alpha"]).await;
    let id = h.start("stubborn", json!({})).await;
    h.wait_step(id, 0, StepStatus::Invoked).await;
    h.control.cancel(id).await.expect("cancelled");
    let refused = h
        .control
        .resume(id, isoqube::Resume::new())
        .await
        .unwrap_err();
    assert!(matches!(refused, Error::InvalidState(_)), "{refused}");
    assert!(refused.to_string().contains("still running"), "{refused}");
    step_becomes(&h, id, 0, StepStatus::Cancelled, Duration::from_secs(10)).await;
    // Resumed, the step runs again (quick this time) and the run finishes.
    let resumed = h
        .control
        .resume(id, isoqube::Resume::new())
        .await
        .expect("resumed once stopped");
    assert_eq!(resumed.status, RunStatus::Running);
    assert_eq!(resumed.steps[0].status, StepStatus::Pending);
    h.control.cancel(id).await.expect("cancelled again");
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
    // The cancelled step's handling is over and published no next step.
    h.wait_settled(&svc, "alpha", 1).await;
    let alpha = svc.metrics().endpoint("alpha").expect("alpha");
    assert_eq!(
        alpha.published(),
        0,
        "a step after the cancel was published"
    );
    assert_eq!(call_count(id, "beta"), 0);
    assert!(matches!(
        h.control.cancel(id).await,
        Err(Error::InvalidState(_))
    ));
    svc.shutdown().await.unwrap();
}
