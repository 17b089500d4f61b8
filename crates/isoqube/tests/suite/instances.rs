//! Service instances coming and going: a graceful shutdown, a grace that
//! runs out, an instance killed mid-step, a store answer lost on the way back,
//! and a service recording itself and its heartbeat.

use std::time::Duration;

use isoqube::{RunStatus, Service, StepStatus};
use serde_json::json;

use super::fixtures::*;
use super::harness::*;

/// Graceful shutdown lets the step in flight finish and record; the next step
/// waits in its queue for the next instance.
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
    // The heartbeat (every 200 ms here) moves last_seen.
    let deadline = tokio::time::Instant::now() + WAIT;
    while h.store().list_services().await.unwrap()[0].last_seen <= first_seen {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the heartbeat did not update last_seen"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    svc.shutdown().await.unwrap();
}
