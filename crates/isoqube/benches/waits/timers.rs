//! Part (b): timers due in the same second all fire. Builds runs of the
//! timers' definition with the model (`Run::new`, the run `Control::start`
//! builds: its first step, an optional wait, waits from the start), sets
//! every run's deadline to one whole second, inserts them, and lets the
//! service's timer loop fire them. Then reads every run back: the lag of each
//! fire is the wait step's `failed_at` minus its deadline (`wait.until`).
//! Uses the bench's setup and the model's run records.

use std::time::{Duration, Instant};

use chrono::{DateTime, SubsecRound, Utc};
use isoqube::{Run, StepStatus, Variables};

use crate::setup::{Bench, TIMERS};

/// What the timers' part saw.
pub struct Fired {
    pub deadline: DateTime<Utc>,
    /// Inserted after the deadline (their lag is partly the insert's).
    pub late_inserts: usize,
    pub insert_secs: f64,
    /// Each run's lag, in ms, sorted.
    pub lags_ms: Vec<i64>,
    /// Runs whose wait did not fail by the end.
    pub unfired: usize,
    /// Runs that went on to succeed (the step after the wait ran).
    pub succeeded: usize,
}

/// Inserts `n` runs all due at the first whole second `lead` from now,
/// waits until the timer loop fired them all (or `give_up`), reads them back.
/// With `drain`, this process also calls `Control::fire_due_timers` back to
/// back from the deadline on, as a timer loop with no tick would: the fires
/// are then bounded by the store's writes, not by the loop's batch per tick.
pub async fn measure(
    bench: &Bench,
    n: usize,
    lead: Duration,
    give_up: Duration,
    drain: bool,
) -> Fired {
    let def = bench
        .store
        .get_definition(TIMERS)
        .await
        .expect("store")
        .expect("the timers' definition");
    let deadline = (Utc::now() + chrono::Duration::from_std(lead).expect("lead")).trunc_subsecs(0)
        + chrono::Duration::seconds(1);
    let t = Instant::now();
    let mut ids = Vec::with_capacity(n);
    let mut late_inserts = 0;
    for _ in 0..n {
        let mut run = Run::new(&def, Variables::new(), "wait-bench");
        if let Some(wait) = run.steps[0].wait.as_mut() {
            wait.until = Some(deadline);
        }
        run.wake_at = Some(deadline);
        bench.store.insert_run(&run).await.expect("insert");
        late_inserts += usize::from(Utc::now() >= deadline);
        ids.push(run.id);
    }
    let insert_secs = t.elapsed().as_secs_f64();
    let drainer = drain.then(|| tokio::spawn(drain_from(bench.control.clone(), deadline)));
    wait_all_fired(bench, deadline, give_up).await;
    if let Some(task) = drainer {
        task.abort();
    }
    read_back(bench, &ids, deadline, late_inserts, insert_secs).await
}

/// From `deadline` on, fires due timers back to back until none is left.
async fn drain_from(control: isoqube::Control, deadline: DateTime<Utc>) {
    let wait = (deadline - Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(wait).await;
    loop {
        match control.fire_due_timers().await {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) => {
                eprintln!("fire_due_timers: {e}");
                return;
            }
        }
    }
}

/// Polls the timer index until no bench run is due by the deadline any more.
async fn wait_all_fired(bench: &Bench, deadline: DateTime<Utc>, give_up: Duration) {
    let end = Instant::now() + give_up;
    // The idle runs wait an hour: nothing else is due within a minute.
    let horizon = deadline + chrono::Duration::seconds(60);
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let left = bench
            .store
            .runs_to_wake(horizon, 1)
            .await
            .expect("the timer index");
        if (left.is_empty() && Utc::now() > deadline) || Instant::now() > end {
            return;
        }
    }
}

async fn read_back(
    bench: &Bench,
    ids: &[uuid::Uuid],
    deadline: DateTime<Utc>,
    late_inserts: usize,
    insert_secs: f64,
) -> Fired {
    let mut lags_ms = Vec::with_capacity(ids.len());
    let (mut unfired, mut succeeded) = (0, 0);
    for id in ids {
        let run = bench.store.get_run(*id).await.expect("store").expect("run");
        let step = &run.steps[0];
        match (step.status, step.failed_at) {
            (StepStatus::Failed, Some(at)) => lags_ms.push((at - deadline).num_milliseconds()),
            _ => unfired += 1,
        }
        succeeded += usize::from(run.status == isoqube::RunStatus::Succeeded);
    }
    lags_ms.sort_unstable();
    Fired {
        deadline,
        late_inserts,
        insert_secs,
        lags_ms,
        unfired,
        succeeded,
    }
}

/// The value at `pct` percent of sorted `v` (nearest rank).
pub fn percentile(v: &[i64], pct: usize) -> i64 {
    if v.is_empty() {
        return 0;
    }
    let rank = (v.len() * pct).div_ceil(100).max(1);
    v[rank - 1]
}
