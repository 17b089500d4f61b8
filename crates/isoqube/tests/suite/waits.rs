//! Runs that wait: a signal completes a wait step (on time, early, by a
//! correlate key), a signal nothing waits for is refused with the reason,
//! a wait past its deadline fails the run (which compensates) or, when
//! optional, lets it go on, and a deadline that passed while every service
//! was down fires once one is up again. Written once against the seams.

use std::time::Duration;

use isoqube::model::{Signal, SignalOutcome, WaitDef};
use isoqube::{event, Definition, Error, RunStatus, StepDef, StepStatus, Variables};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::compensation::undone;
use super::fixtures::call_count;
use super::Harness;

/// What an approver sends: nobody consumes it; runs wait for it.
#[event]
#[derive(Serialize, Deserialize)]
pub struct Approval {
    #[serde(default)]
    pub order_id: String,
}

const ENDPOINTS: [&str; 3] = ["alpha", "beta", "graph-undo"];

fn wait(timeout: Option<Duration>) -> StepDef {
    StepDef::new("Approval").waiting(WaitDef {
        correlate: None,
        timeout,
    })
}

/// Alpha (undone by GraphUndo) -> `wait` -> Beta.
async fn define(h: &Harness, name: &str, wait: StepDef) {
    let def = Definition::new(
        name,
        [
            StepDef::new("Alpha").compensate("GraphUndo"),
            wait,
            StepDef::new("Beta"),
        ],
    );
    h.control.create_definition(def).await.expect("saved");
}

fn data(v: serde_json::Value) -> Variables {
    match v {
        serde_json::Value::Object(m) => m,
        _ => Variables::new(),
    }
}

pub async fn wait_signal_completes_the_step(h: Harness) {
    let _svc = h.service(&ENDPOINTS).await;
    define(&h, "approved", wait(Some(Duration::from_secs(3600)))).await;
    let id = h.start("approved", json!({})).await;
    h.wait_step(id, 1, StepStatus::Waiting).await;
    let run = h.control.get_run(id).await.expect("run");
    let until = run.steps[1].wait.as_ref().and_then(|w| w.until);
    assert!(until.is_some_and(|t| t > chrono::Utc::now() + chrono::Duration::minutes(59)));
    assert_eq!(
        call_count(id, "beta"),
        0,
        "nothing after the wait runs before it"
    );
    let signal = Signal::new("Approval", data(json!({"approved_by": "ann"})), "test");
    let (_, outcome) = h.control.signal(id, signal.clone()).await.expect("signal");
    assert!(
        matches!(outcome, SignalOutcome::Completed { step: 1, .. }),
        "{outcome:?}"
    );
    let run = h.finish(id).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{run:#?}");
    assert_eq!(run.variables.get("approved_by"), Some(&json!("ann")));
    assert_eq!(run.steps[1].handled_by.as_deref(), Some("signal@test"));
    assert_eq!(call_count(id, "beta"), 1);
    // the same signal again (a redelivery) does nothing more
    let (_, again) = h.control.signal(id, signal).await.expect("replayed signal");
    assert_eq!(again, SignalOutcome::AlreadyDone { republish: vec![] });
    assert_eq!(call_count(id, "beta"), 1);
}

pub async fn wait_early_signal_is_kept_until_due(h: Harness) {
    let _svc = h.service(&ENDPOINTS).await;
    define(&h, "early", wait(Some(Duration::from_secs(3600)))).await;
    let id = h.start("early", json!({"sleep_ms": {"alpha": 1500}})).await;
    h.wait_step(id, 0, StepStatus::Invoked).await;
    let signal = Signal::new("Approval", data(json!({"ticket": 7})), "test");
    let (_, outcome) = h.control.signal(id, signal).await.expect("signal");
    assert_eq!(outcome, SignalOutcome::Kept { step: 1 });
    let run = h.finish(id).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{run:#?}");
    assert_eq!(run.variables.get("ticket"), Some(&json!(7)));
    assert!(run.signals.is_empty(), "the kept signal was used: {run:#?}");
}

pub async fn wait_signal_nothing_waits_for_is_refused(h: Harness) {
    let _svc = h.service(&ENDPOINTS).await;
    h.define("no-wait", &["Alpha", "Beta"]).await;
    let unknown = h
        .control
        .signal(
            Uuid::new_v4(),
            Signal::new("Approval", Variables::new(), "test"),
        )
        .await;
    assert!(
        matches!(unknown, Err(Error::NotFound { .. })),
        "{unknown:?}"
    );
    let id = h.start("no-wait", json!({})).await;
    let run = h.finish(id).await;
    assert_eq!(run.status, RunStatus::Succeeded);
    let refused = h
        .control
        .signal(id, Signal::new("Approval", Variables::new(), "test"))
        .await;
    match refused {
        Err(Error::InvalidState(why)) => assert!(why.contains("Succeeded"), "{why}"),
        other => panic!("{other:?}"),
    }
    // by key, with no definition that correlates: refused, naming the event
    let by_key = h
        .control
        .signal_matching(Signal::new(
            "Approval",
            data(json!({"orderId": "x"})),
            "test",
        ))
        .await;
    assert!(
        matches!(&by_key, Err(Error::InvalidState(why)) if why.contains("Approval")),
        "{by_key:?}"
    );
}

pub async fn wait_correlated_by_key(h: Harness) {
    let _svc = h.service(&ENDPOINTS).await;
    let keyed = StepDef::new("Approval").waiting(WaitDef {
        correlate: Some("order_id".into()),
        timeout: Some(Duration::from_secs(3600)),
    });
    define(&h, "keyed", keyed).await;
    // a key no field of the event can match is refused on save
    let wrong = StepDef::new("Approval").waiting(WaitDef {
        correlate: Some("invoice".into()),
        timeout: None,
    });
    let refused = h
        .control
        .create_definition(Definition::new("wrong-key", [StepDef::new("Alpha"), wrong]))
        .await;
    assert!(
        matches!(&refused, Err(Error::InvalidDefinition(why)) if why.contains("no field invoice") && why.contains("order_id")),
        "{refused:?}"
    );
    let a = h.start("keyed", json!({"order_id": "A-1"})).await;
    let b = h.start("keyed", json!({"order_id": "B-2"})).await;
    h.wait_step(a, 1, StepStatus::Waiting).await;
    h.wait_step(b, 1, StepStatus::Waiting).await;
    // the MassTransit peer's field is camelCase
    let signal = Signal::new("Approval", data(json!({"orderId": "A-1"})), "test");
    let reached = h.control.signal_matching(signal).await.expect("signal");
    assert_eq!(reached.len(), 1, "{reached:?}");
    assert_eq!(reached[0].0, a);
    assert_eq!(h.finish(a).await.status, RunStatus::Succeeded);
    let b_now = h.control.get_run(b).await.expect("run");
    assert_eq!(b_now.steps[1].status, StepStatus::Waiting, "{b_now:#?}");
    let missing = h
        .control
        .signal_matching(Signal::new(
            "Approval",
            data(json!({"orderId": "C-3"})),
            "test",
        ))
        .await;
    assert!(
        matches!(&missing, Err(Error::InvalidState(why)) if why.contains("order_id = C-3")),
        "{missing:?}"
    );
    h.control.cancel(b).await.expect("cancel");
}

pub async fn wait_timeout_compensates(h: Harness) {
    let _svc = h.service(&ENDPOINTS).await;
    define(&h, "unapproved", wait(Some(Duration::from_secs(1)))).await;
    let id = h.start("unapproved", json!({})).await;
    let run = h.finish(id).await;
    assert_eq!(run.status, RunStatus::Compensated, "{run:#?}");
    assert_eq!(run.steps[1].status, StepStatus::Failed);
    let error = run.error.clone().unwrap_or_default();
    assert!(error.contains("waited 1s for Approval"), "{error}");
    let undid: Vec<usize> = undone(id).iter().map(|u| u.step).collect();
    assert_eq!(undid, [0], "Alpha undone once");
    assert_eq!(call_count(id, "beta"), 0);
    assert!(run.wake_at.is_none());
}

pub async fn wait_optional_timeout_goes_on(h: Harness) {
    let _svc = h.service(&ENDPOINTS).await;
    let mut optional = wait(Some(Duration::from_millis(800)));
    optional.optional = true;
    define(&h, "optional-approval", optional).await;
    let id = h.start("optional-approval", json!({})).await;
    let run = h.finish(id).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{run:#?}");
    assert_eq!(run.steps[1].status, StepStatus::Failed);
    assert_eq!(call_count(id, "beta"), 1);
}

pub async fn wait_deadline_passed_while_down_fires_on_start(h: Harness) {
    let svc = h.service(&ENDPOINTS).await;
    define(&h, "down", wait(Some(Duration::from_secs(2)))).await;
    let id = h.start("down", json!({})).await;
    h.wait_step(id, 1, StepStatus::Waiting).await;
    // Shut down, not aborted: an aborted service on a shared AMQP connection
    // leaves its consumers registered at the broker, where a message can go
    // and stay (a real kill closes the connection; the chaos suite does that).
    svc.shutdown().await.expect("shutdown");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let still = h.control.get_run(id).await.expect("run");
    assert_eq!(
        still.steps[1].status,
        StepStatus::Waiting,
        "nobody was up to fire it"
    );
    let _svc = h.service(&ENDPOINTS).await;
    let started = std::time::Instant::now();
    let run = h.finish(id).await;
    assert_eq!(run.status, RunStatus::Compensated, "{run:#?}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(undone(id).len(), 1, "fired once, undone once");
}

/// A MassTransit peer's envelope of `Approval` for run `run` (none: no
/// correlationId), published on the event's exchange.
async fn publish_approval(h: &Harness, run: Option<Uuid>, message: serde_json::Value) -> Uuid {
    use isoqube::Event;
    let id = Uuid::new_v4();
    let mut body = json!({
        "messageId": id,
        "messageType": [Approval::info().message_type()],
        "message": message,
    });
    if let Some(run) = run {
        body["correlationId"] = json!(run);
    }
    let bytes = serde_json::to_vec(&body).expect("json");
    h.publish_raw(&Approval::info().exchange_name(), &bytes)
        .await;
    id
}

pub async fn wait_signal_published_on_the_broker(h: Harness) {
    let _svc = h.service(&ENDPOINTS).await;
    define(&h, "broker-approved", wait(Some(Duration::from_secs(3600)))).await;
    let id = h.start("broker-approved", json!({})).await;
    h.wait_step(id, 1, StepStatus::Waiting).await;
    publish_approval(&h, Some(id), json!({"orderId": "A-1", "approvedBy": "bob"})).await;
    let run = h.finish(id).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{run:#?}");
    assert_eq!(run.variables.get("approvedBy"), Some(&json!("bob")));
    assert_eq!(run.steps[1].handled_by.as_deref(), Some("signal@broker"));
    // from code: the publisher's signal (what `ctx.signal` sends)
    let second = h.start("broker-approved", json!({})).await;
    h.wait_step(second, 1, StepStatus::Waiting).await;
    h.publisher()
        .signal(
            second,
            &Approval {
                order_id: "B-2".into(),
            },
        )
        .await
        .expect("a service takes the signal");
    let run = h.finish(second).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{run:#?}");
    assert_eq!(run.variables.get("order_id"), Some(&json!("B-2")));
}

pub async fn wait_signal_nothing_waits_for_is_skipped_with_a_reason(h: Harness) {
    let svc = h.service(&ENDPOINTS).await;
    define(&h, "skipping", wait(Some(Duration::from_secs(3600)))).await;
    let skipped = format!("{}_skipped", isoqube::service::SIGNAL_ENDPOINT);
    let before = h
        .transport()
        .message_count(&skipped)
        .await
        .expect("skipped queue");
    // a run that does not exist, and a run that waits for nothing (finished)
    publish_approval(&h, Some(Uuid::new_v4()), json!({})).await;
    h.define("plain", &["Alpha"]).await;
    let done = h.start("plain", json!({})).await;
    h.finish(done).await;
    publish_approval(&h, Some(done), json!({})).await;
    // no run named, and no wait correlates by a key
    publish_approval(&h, None, json!({"orderId": "A-1"})).await;
    h.wait_queue(&skipped, before + 3).await;
    let moved = h.transport().browse(&skipped, 100).await.expect("browse");
    let reasons: Vec<String> = moved
        .iter()
        .filter_map(|m| m.headers.get(isoqube::service::HEADER_REASON))
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    assert!(reasons.iter().any(|r| r.contains("no run")), "{reasons:?}");
    assert!(
        reasons.iter().any(|r| r.contains("Succeeded")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("correlate")),
        "{reasons:?}"
    );
    drop(svc);
}

pub async fn wait_delay_step_fires_on_time(h: Harness) {
    let _svc = h.service(&ENDPOINTS).await;
    let def = Definition::new(
        "delayed-beta",
        [
            StepDef::new("Alpha"),
            StepDef::new("Beta").delayed(Duration::from_millis(1500)),
        ],
    );
    h.control.create_definition(def).await.expect("saved");
    let id = h.start("delayed-beta", json!({})).await;
    h.wait_step(id, 1, StepStatus::Waiting).await;
    let held = h.control.get_run(id).await.expect("run");
    let release = held.steps[1]
        .hold
        .as_ref()
        .and_then(|h| h.until)
        .expect("a release time");
    assert_eq!(call_count(id, "beta"), 0);
    let run = h.finish(id).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{run:#?}");
    let started = run.steps[1].invoked_at.expect("Beta ran");
    assert!(
        started >= release,
        "not before its time: {started} < {release}"
    );
    assert!(
        started - release < chrono::Duration::seconds(2),
        "within a tick or two: {started} vs {release}"
    );
    assert_eq!(call_count(id, "beta"), 1);
}

pub async fn wait_delayed_start_fires_on_time(h: Harness) {
    let svc = h.service(&ENDPOINTS).await;
    h.define("later", &["Alpha", "Beta"]).await;
    let at = chrono::Utc::now() + chrono::Duration::milliseconds(2500);
    let run = h
        .control
        .start(isoqube::StartRun::new("later").at(at).started_by("test"))
        .await
        .expect("stored");
    assert_eq!(run.status, RunStatus::Pending);
    assert_eq!(run.start_at, Some(at));
    // every service goes down before its time; one comes back after it
    svc.shutdown().await.expect("shutdown");
    tokio::time::sleep(Duration::from_millis(3000)).await;
    assert_eq!(call_count(run.id, "alpha"), 0, "nothing ran with nobody up");
    let _svc = h.service(&ENDPOINTS).await;
    let done = h.finish(run.id).await;
    assert_eq!(done.status, RunStatus::Succeeded, "{done:#?}");
    let first = done.steps[0].invoked_at.expect("Alpha ran");
    assert!(first >= at, "not before its time: {first} < {at}");
    assert_eq!(call_count(run.id, "alpha"), 1, "started once");
}
