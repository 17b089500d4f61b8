//! Driving runs and timing them, the same way for every side: at most C runs in
//! flight, each run's latency from just before its start to its completion as
//! reported to [`Waiters`]. Uses tokio only; knows nothing of Isoqube or lapin.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{oneshot, Semaphore};
use uuid::Uuid;

/// How long a run may take before the bench gives up on it (and panics).
const RUN_TIMEOUT: Duration = Duration::from_secs(120);

/// Who waits for which run; completions that arrive before their waiter are kept.
#[derive(Default)]
pub struct Waiters {
    slots: Mutex<HashMap<Uuid, Slot>>,
}

enum Slot {
    Waiting(oneshot::Sender<(Instant, bool)>),
    Done(Instant, bool),
}

impl Waiters {
    /// Run `run` finished (`ok`: it succeeded), now.
    pub fn finish(&self, run: Uuid, ok: bool) {
        let now = Instant::now();
        let mut slots = self.slots.lock().expect("waiters lock");
        match slots.remove(&run) {
            Some(Slot::Waiting(tx)) => {
                let _ = tx.send((now, ok));
            }
            Some(done @ Slot::Done(..)) => {
                slots.insert(run, done);
            }
            None => {
                slots.insert(run, Slot::Done(now, ok));
            }
        }
    }

    /// When run `run` finished and whether it succeeded; panics after [`RUN_TIMEOUT`].
    pub async fn wait(&self, run: Uuid) -> (Instant, bool) {
        let rx = {
            let mut slots = self.slots.lock().expect("waiters lock");
            match slots.remove(&run) {
                Some(Slot::Done(at, ok)) => return (at, ok),
                Some(Slot::Waiting(_)) => panic!("two waiters for run {run}"),
                None => {
                    let (tx, rx) = oneshot::channel();
                    slots.insert(run, Slot::Waiting(tx));
                    rx
                }
            }
        };
        match tokio::time::timeout(RUN_TIMEOUT, rx).await {
            Ok(Ok(v)) => v,
            Ok(Err(_)) => panic!("waiter for run {run} dropped"),
            Err(_) => panic!("run {run} did not finish within {RUN_TIMEOUT:?}"),
        }
    }
}

/// What one measured batch of runs gave.
pub struct Measured {
    pub runs: usize,
    /// Steps moved (runs x K).
    pub steps: usize,
    /// Runs that ended in failure.
    pub failed: usize,
    pub wall: Duration,
    /// Sorted, shortest first.
    latencies: Vec<Duration>,
}

impl Measured {
    pub fn steps_per_s(&self) -> f64 {
        self.steps as f64 / self.wall.as_secs_f64()
    }
    pub fn runs_per_s(&self) -> f64 {
        self.runs as f64 / self.wall.as_secs_f64()
    }
    /// The latency below which a fraction `p` of the runs finished, in ms.
    pub fn pct(&self, p: f64) -> f64 {
        if self.latencies.is_empty() {
            return f64::NAN;
        }
        let idx = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies[idx].as_secs_f64() * 1000.0
    }
}

/// Starts `runs` runs with `start`, at most `concurrency` in flight (a new one as
/// soon as one finishes); each run's latency is from just before its start to its
/// completion as reported to `waiters`.
pub async fn drive<S, F>(
    runs: usize,
    steps: usize,
    concurrency: usize,
    waiters: &Arc<Waiters>,
    start: S,
) -> Measured
where
    S: Fn() -> F,
    F: Future<Output = Uuid> + Send + 'static,
{
    let sem = Arc::new(Semaphore::new(concurrency));
    let mut tasks = tokio::task::JoinSet::new();
    let began = Instant::now();
    for _ in 0..runs {
        let permit = sem.clone().acquire_owned().await.expect("semaphore");
        let t0 = Instant::now();
        let fut = start();
        let waiters = waiters.clone();
        tasks.spawn(async move {
            let id = fut.await;
            let (at, ok) = waiters.wait(id).await;
            drop(permit);
            (at.saturating_duration_since(t0), ok)
        });
    }
    let mut latencies = Vec::with_capacity(runs);
    let mut failed = 0;
    while let Some(r) = tasks.join_next().await {
        let (lat, ok) = r.expect("run task");
        if !ok {
            failed += 1;
        }
        latencies.push(lat);
    }
    let wall = began.elapsed();
    latencies.sort();
    Measured {
        runs,
        steps: runs * steps,
        failed,
        wall,
        latencies,
    }
}
