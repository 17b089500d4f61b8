//! A failing step: retried until it succeeds or its retries run out (then the
//! run fails and the message goes to the error queue), and a failed run taken
//! up again by resume (from its failed step) or re-run (a new run).

use isoqube::envelope::Envelope;
use isoqube::{Error, RunStatus, StepStatus};
use serde_json::{json, Value};
use uuid::Uuid;

use super::fixtures::*;
use super::harness::*;

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

/// A step whose every attempt takes its process down with it (here: the
/// service aborted mid-step, as a kill would) is not redelivered for ever:
/// the attempts lost count, and after three in a row (the service's
/// `lost_attempts_limit`) it goes to `_error` with the reason and the run fails.
pub async fn a_step_that_kills_its_process_every_time_ends_in_error(h: Harness) {
    h.define("crash-loop", &["Crasher"]).await;
    let crasher = || async {
        isoqube::Service::builder("suite")
            .transport(h.pair.transport.clone())
            .store(h.pair.store.clone())
            .endpoints(["crasher"])
            .lost_attempts_limit(3)
            .start()
            .await
            .expect("service starts")
    };
    let first = crasher().await;
    let id = h.start("crash-loop", json!({})).await;
    let mut svc = Some(first);
    for round in 1..=3u32 {
        let service = match svc.take() {
            Some(s) => s,
            None => crasher().await,
        };
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let run = h.control().get_run(id).await.expect("run");
            let started = run.steps[0]
                .handlers
                .first()
                .is_some_and(|h| h.status == StepStatus::Invoked && h.attempts == round - 1);
            if started && call_count(id, "crasher") == round as usize {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "round {round}: {run:#?}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        service.abort();
    }
    let svc = crasher().await;
    let run = h.finish(id).await;
    assert_eq!(run.status, RunStatus::Failed, "{run:#?}");
    let error = run.steps[0].last_error.clone().unwrap_or_default();
    assert!(error.contains("not run again"), "{error}");
    assert_eq!(call_count(id, "crasher"), 3, "not run a fourth time");
    h.wait_queue("crasher_error", 1).await;
    svc.shutdown().await.unwrap();
}

/// A service whose retries further off than 300 ms are the store's.
async fn durable_retries(h: &Harness) -> isoqube::Service {
    isoqube::Service::builder("suite")
        .transport(h.pair.transport.clone())
        .store(h.pair.store.clone())
        .endpoints(["alpha", "tardy"])
        .durable_retries_after(std::time::Duration::from_millis(300))
        .start()
        .await
        .expect("service starts")
}

/// A retry a second off is not held in memory: the failed attempt is
/// recorded, the step waits for its retry in the store, the message is
/// acknowledged; with every service down past its time, the next one up
/// runs it, and the attempts count as one budget.
pub async fn a_far_off_retry_survives_a_restart(h: Harness) {
    h.define("later-retry", &["Alpha", "Tardy"]).await;
    let svc = durable_retries(&h).await;
    let id = h
        .start("later-retry", json!({"fail_times": {"tardy": 1}}))
        .await;
    h.wait_step(id, 1, StepStatus::Waiting).await;
    let run = h.control().get_run(id).await.expect("run");
    let retry_at = run.steps[1].retry_at.expect("a retry time");
    assert_eq!(run.steps[1].attempts, 1, "{run:#?}");
    assert_eq!(run.wake_at, Some(retry_at));
    assert_eq!(
        h.transport().message_count("tardy").await.unwrap(),
        0,
        "acked"
    );
    svc.shutdown().await.unwrap();
    while chrono::Utc::now() < retry_at + chrono::Duration::milliseconds(200) {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(call_count(id, "tardy"), 1, "nobody was up to retry it");
    let svc = durable_retries(&h).await;
    let run = h.finish(id).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{run:#?}");
    assert_eq!(run.steps[1].attempts, 2);
    assert_eq!(
        attempts_seen().lock().unwrap()[&(id, "tardy".to_string())],
        vec![1, 2]
    );
    svc.shutdown().await.unwrap();
}

/// Durable retries spend the retry policy's budget: a step failing every
/// time fails after its attempts (3), then the run fails as usual.
pub async fn far_off_retries_run_out_as_retries_do(h: Harness) {
    h.define("later-fail", &["Alpha", "Tardy"]).await;
    let svc = durable_retries(&h).await;
    let id = h
        .start("later-fail", json!({"fail_times": {"tardy": 99}}))
        .await;
    let run = h.finish(id).await;
    assert_eq!(run.status, RunStatus::Failed, "{run:#?}");
    assert_eq!(run.steps[1].attempts, 3, "{run:#?}");
    assert_eq!(call_count(id, "tardy"), 3);
    h.wait_queue("tardy_error", 1).await;
    svc.shutdown().await.unwrap();
}
