//! Run priorities: over priority queues (`ServiceBuilder::priorities`) the
//! step of a run of a higher priority overtakes a backlog of lower ones; a
//! priority out of range is refused with nothing written.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use isoqube::{consumer, event, Definition, StepContext, StepStatus};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::Harness;

/// A step taken one at a time, so its queue holds a backlog.
#[event]
#[derive(Serialize, Deserialize)]
pub struct Ranked {}

/// While set, the step being handled waits (the backlog builds behind it).
static HOLD: AtomicBool = AtomicBool::new(false);
/// The runs of `Ranked` in the order their step ran.
static ORDER: Mutex<Vec<Uuid>> = Mutex::new(Vec::new());

#[consumer(service = "suite", endpoint = "ranked", concurrency = 1)]
async fn ranked(_ev: Ranked, ctx: StepContext) -> anyhow::Result<()> {
    ORDER.lock().unwrap().push(ctx.run_id().unwrap_or_default());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while HOLD.load(Ordering::SeqCst) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

/// Ten runs of priority 2 (the definition's) wait behind one being handled;
/// a run started at priority 9 is handled next, before all ten, which keep
/// their order.
pub async fn priority_overtakes_backlog(h: Harness) {
    let def = format!("ranked-{}", Uuid::new_v4().simple());
    h.control()
        .create_definition(Definition::new(def.as_str(), [Ranked::NAME]).with_priority(2))
        .await
        .expect("definition saved");
    HOLD.store(true, Ordering::SeqCst);
    let svc = h.priority_service(&["ranked"]).await;
    let mut low = Vec::new();
    for _ in 0..11 {
        low.push(h.start(&def, serde_json::json!({})).await);
    }
    // The first is being handled (held); the other ten wait in the queue.
    h.wait_step(low[0], 0, StepStatus::Invoked).await;
    h.wait_queue("ranked", 10).await;
    let high = h
        .control()
        .start(isoqube::StartRun::new(def).started_by("test").priority(9))
        .await
        .expect("run starts")
        .id;
    h.wait_queue("ranked", 11).await;
    HOLD.store(false, Ordering::SeqCst);
    for id in low.iter().chain([&high]) {
        let run = h.finish(*id).await;
        assert_eq!(run.status, isoqube::RunStatus::Succeeded, "{run:#?}");
    }
    let order: Vec<Uuid> = ORDER
        .lock()
        .unwrap()
        .iter()
        .filter(|id| low.contains(id) || **id == high)
        .copied()
        .collect();
    let mut want = vec![low[0], high];
    want.extend(&low[1..]);
    assert_eq!(
        order, want,
        "the priority-9 run did not overtake the backlog"
    );
    assert_eq!(h.control().get_run(high).await.unwrap().priority, 9);
    assert_eq!(h.control().get_run(low[1]).await.unwrap().priority, 2);
    svc.shutdown().await.unwrap();
}

/// A priority above 9 is refused: at start (nothing written) and on a
/// definition (not saved).
pub async fn priority_out_of_range_is_refused(h: Harness) {
    let def = format!("ranked-bad-{}", Uuid::new_v4().simple());
    let e = h
        .control()
        .create_definition(Definition::new(def.as_str(), [Ranked::NAME]).with_priority(12))
        .await
        .unwrap_err();
    assert!(e.is_invalid_input(), "{e}");
    assert!(
        e.to_string().contains("priority 12 is out of range (0-9)"),
        "{e}"
    );
    assert!(h.store().get_definition(&def).await.unwrap().is_none());
    h.define(&def, &[Ranked::NAME]).await;
    let of_def = isoqube::RunFilter {
        definition: Some(def.clone()),
        ..Default::default()
    };
    let before = h.store().list_runs(&of_def).await.unwrap().runs.len();
    let e = h
        .control()
        .start(isoqube::StartRun::new(def).started_by("test").priority(10))
        .await
        .unwrap_err();
    assert!(e.is_invalid_input(), "{e}");
    assert!(e.to_string().contains("priority 10 is out of range"), "{e}");
    let after = h.store().list_runs(&of_def).await.unwrap().runs.len();
    assert_eq!(before, after, "a refused start wrote a run");
}
