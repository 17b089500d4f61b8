//! Part (a): what runs that wait cost a service in memory. Starts rounds of
//! runs whose first step waits (an hour), through `Control::start`, and
//! reads the process's RSS (`VmRSS` in `/proc/self/status`) before and after
//! each round, once the service's timer loop has looked at the store a few
//! times. Uses the bench's setup.

use std::time::{Duration, Instant};

use isoqube::{StartRun, StepStatus};

use crate::setup::{Bench, IDLE};

/// The resident set of this process, in KiB.
pub fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a VmRSS line")
}

/// Starts `n` runs of `definition`, `concurrency` at a time; returns their ids.
pub async fn start_runs(
    bench: &Bench,
    definition: &str,
    n: usize,
    concurrency: usize,
) -> Vec<uuid::Uuid> {
    let mut ids = Vec::with_capacity(n);
    let mut set = tokio::task::JoinSet::new();
    for i in 0..n {
        if set.len() >= concurrency {
            ids.push(join_one(&mut set).await);
        }
        let control = bench.control.clone();
        let start = StartRun::new(definition).started_by("wait-bench");
        set.spawn(async move {
            let run = control.start(start).await.expect("the run starts");
            assert_eq!(run.steps[0].status, StepStatus::Waiting, "run {i} waits");
            run.id
        });
    }
    while !set.is_empty() {
        ids.push(join_one(&mut set).await);
    }
    ids
}

async fn join_one(set: &mut tokio::task::JoinSet<uuid::Uuid>) -> uuid::Uuid {
    set.join_next()
        .await
        .expect("a task")
        .expect("the start task did not panic")
}

/// One round's numbers.
pub struct Round {
    pub waiting: usize,
    pub rss_kib: u64,
    pub start_secs: f64,
}

/// Warms the service up with `warmup` runs, then `rounds` rounds of `n`
/// waiting runs; returns the RSS before (after the warm-up) and after each round.
pub async fn measure(bench: &Bench, n: usize, rounds: usize, warmup: usize) -> (u64, Vec<Round>) {
    let settle = || tokio::time::sleep(Duration::from_secs(3));
    let mut waiting = start_runs(bench, IDLE, warmup, 64).await.len();
    settle().await;
    let before = rss_kib();
    let mut out = Vec::new();
    for _ in 0..rounds {
        let t = Instant::now();
        waiting += start_runs(bench, IDLE, n, 64).await.len();
        let start_secs = t.elapsed().as_secs_f64();
        // The timer loop ticks every 250 ms: a dozen ticks over the waiting runs.
        settle().await;
        out.push(Round {
            waiting,
            rss_kib: rss_kib(),
            start_secs,
        });
    }
    (before, out)
}
