//! Schedules: exactly one run per due time however many schedulers share a
//! store, and a missed due time run once or skipped as the schedule says.

use std::time::Duration;

use isoqube::schedule::{Missed, Schedule, Scheduler, When};
use isoqube::{Control, Definition, RunStatus};
use serde_json::json;

use super::harness::*;

/// Two schedulers on one store start exactly one run per due time of an
/// every-second schedule.
pub async fn schedules_start_one_run_per_due_time(h: Harness) {
    let svc = h.service(&["alpha"]).await;
    let control = || Control::new(h.store().clone(), h.transport().clone()).unwrap();
    let mut def = Definition::new("ticking", ["Alpha"]);
    def.schedules = vec![Schedule::new(
        "each-second",
        When::Interval { every_secs: 1 },
    )];
    control().create_definition(def).await.unwrap();
    let ticking = || async {
        h.store()
            .list_runs(&isoqube::RunFilter {
                definition: Some("ticking".into()),
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap()
            .runs
    };
    let started = tokio::time::Instant::now();
    let a = Scheduler::start(control(), "scheduler-a");
    let b = Scheduler::start(control(), "scheduler-b");
    // The schedule's due times are the wall clock's, so this waits for
    // three of them, however long they take to come.
    while ticking().await.len() < 3 {
        assert!(started.elapsed() < WAIT, "three due times never fired");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    a.stop().await;
    b.stop().await;
    let elapsed = started.elapsed().as_secs();
    let runs = ticking().await;
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
    // One run per second gone by (and one for the start), not one per
    // scheduler.
    assert!(
        n <= usize::try_from(elapsed).unwrap() + 2,
        "{n} runs in {elapsed} s: {ticks:?}"
    );
    for r in &runs {
        assert!(
            r.started_by.starts_with("schedule:each-second@"),
            "{}",
            r.started_by
        );
        assert_eq!(h.finish(r.id).await.status, RunStatus::Succeeded);
    }
    svc.shutdown().await.unwrap();
}

/// A missed due time is run once or skipped, as the schedule says: hourly
/// schedules whose last tick is two hours old.
pub async fn missed_due_times_run_once_or_skip(h: Harness) {
    let svc = h.service(&["alpha"]).await;
    let control = || Control::new(h.store().clone(), h.transport().clone()).unwrap();
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
    // The first pass decides both schedules; stopping waits for the pass.
    let c = Scheduler::start(control(), "scheduler-c");
    let deadline = tokio::time::Instant::now() + WAIT;
    while runs_of("catch-up").await.is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the missed due time was never run"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    c.stop().await;
    let caught_up = runs_of("catch-up").await;
    assert_eq!(caught_up.len(), 1, "one run for the missed hours");
    let expected = chrono::DateTime::from_timestamp(last_boundary, 0)
        .unwrap()
        .to_rfc3339();
    assert_eq!(caught_up[0].params["scheduled_at"], json!(expected));
    assert!(runs_of("skipper").await.is_empty(), "missed time skipped");
    svc.shutdown().await.unwrap();
}
