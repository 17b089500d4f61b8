//! The chain rule and what keeps a step from running twice or too early:
//! variables flowing from step to step, fan-out, competing consumers,
//! redelivered duplicates, a step that is not due, where a step's start is
//! recorded, and a crash between recording a step and publishing the next.

use std::time::Duration;

use isoqube::publish::Parent;
use isoqube::{RunStatus, StepKey, StepStatus, Variables};
use serde_json::{json, Value};

use super::fixtures::*;
use super::harness::*;

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
    // Three copies of step 0 handled: the first ran, the other two did not
    // and published nothing.
    h.wait_settled(&svc, "alpha", 3).await;
    h.wait_settled(&svc, "beta", 1).await;
    let alpha = svc.metrics().endpoint("alpha").expect("alpha");
    assert_eq!(alpha.published(), 1, "the next step was published again");
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
