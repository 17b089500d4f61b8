//! The waits benchmark: what runs that wait cost a service, and how late
//! timers due in the same second fire. Run by hand (CI only builds it):
//!
//! ```text
//! cargo bench -p isoqube --bench waits -- [--runs N] [--rounds R] [--store sqlite|mongo]
//!     [--lead-secs L] [--timer-secs T] [--drain] [--skip-idle] [--skip-timers]
//! ```
//!
//! * **idle** ([`idle`]): one service (in-process transport, a fresh store),
//!   a warm-up of runs, then R rounds of N runs (default 2 x 10,000) whose
//!   first step waits an hour, started with `Control::start` (the run waits
//!   at once). The process's RSS before and after each round gives what a
//!   waiting run costs the service; the second round shows whether the cost
//!   grows with the runs or stops at the store's bounded caches.
//! * **timers** ([`timers`]): N runs whose first step is an optional wait,
//!   each given the same deadline (the first whole second L s from now),
//!   inserted, and fired by the service's own timer loop; the lag of each is
//!   its wait's `failed_at` minus the deadline. After the wait a no-op step
//!   runs (what a fired timer makes due is published and consumed). With
//!   `--drain` the bench also fires them itself, back to back, as a second
//!   firing process with no tick would.
//!
//! The SQLite file lives in a fresh temp dir, removed at the end; the MongoDB
//! store (`ISOQUBE_MONGO_URL`) uses a fresh database, dropped at the end.
//! Results and how to read them: docs/BENCHMARKS.md. This file parses the
//! flags, runs the parts and prints; the parts use only [`setup`].

mod idle;
mod setup;
mod timers;

use std::time::Duration;

use clap::Parser;

use crate::setup::{Bench, StoreKind};
use crate::timers::percentile;

/// What runs that wait cost a service, and how late timers due at once fire.
#[derive(Debug, Parser)]
struct Args {
    /// Runs per round (idle) and timers (timers).
    #[arg(long, default_value_t = 10_000)]
    runs: usize,
    /// Rounds of idle runs.
    #[arg(long, default_value_t = 2)]
    rounds: usize,
    /// Idle runs started before the first RSS reading.
    #[arg(long, default_value_t = 500)]
    warmup: usize,
    /// The store.
    #[arg(long, value_enum, default_value_t = StoreKind::Sqlite)]
    store: StoreKind,
    /// The timers' shared deadline is the first whole second this many seconds from now.
    #[arg(long, default_value_t = 15)]
    lead_secs: u64,
    /// The timers' definition's wait timeout (their deadline is then set for them).
    #[arg(long, default_value_t = 5)]
    timer_secs: u64,
    /// Give up waiting for the timers after this many seconds past the deadline.
    #[arg(long, default_value_t = 300)]
    give_up_secs: u64,
    /// Also fire the timers from the bench, back to back (see `timers::measure`).
    #[arg(long)]
    drain: bool,
    /// Skip the idle part.
    #[arg(long)]
    skip_idle: bool,
    /// Skip the timers part.
    #[arg(long)]
    skip_timers: bool,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let id = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
    println!(
        "waits bench: store {:?}, {} runs, {} rounds; {} cores, pid {}",
        args.store,
        args.runs,
        args.rounds,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::process::id()
    );
    let bench = Bench::start(args.store, &id).await;
    bench.define(Duration::from_secs(args.timer_secs)).await;
    if !args.skip_idle {
        let (before, rounds) = idle::measure(&bench, args.runs, args.rounds, args.warmup).await;
        report_idle(&bench, args.store, before, &rounds).await;
    }
    if !args.skip_timers {
        let lead = Duration::from_secs(args.lead_secs);
        let give_up = lead + Duration::from_secs(args.give_up_secs);
        let fired = timers::measure(&bench, args.runs, lead, give_up, args.drain).await;
        report_timers(&fired);
    }
    bench.cleanup().await;
}

async fn report_idle(bench: &Bench, store: StoreKind, before: u64, rounds: &[idle::Round]) {
    println!("\nidle: RSS after the warm-up {before} KiB");
    let mut last = before;
    for r in rounds {
        let grew = r.rss_kib as i64 - last as i64;
        println!(
            "  {:>6} runs waiting: RSS {} KiB ({grew:+} KiB this round; {:.0} bytes per run over all); started in {:.1} s",
            r.waiting,
            r.rss_kib,
            (r.rss_kib as f64 - before as f64) * 1024.0 / r.waiting as f64,
            r.start_secs
        );
        last = r.rss_kib;
    }
    // What the store's run cache can hold, from one waiting run's document.
    let page = bench
        .store
        .list_runs(&isoqube::RunFilter {
            limit: 1,
            ..Default::default()
        })
        .await
        .expect("a run");
    if let Some(run) = page.runs.first() {
        let doc = serde_json::to_vec(run).map_or(0, |d| d.len());
        let capacity = run_cache_capacity(store);
        println!(
            "  one waiting run's document: {doc} bytes of JSON; the {store:?} store's run cache keeps up to {capacity} runs (~{} KiB of JSON)",
            doc * capacity / 1024
        );
    }
}

/// How many runs the store keeps in its run cache (the bench uses the defaults).
fn run_cache_capacity(store: StoreKind) -> usize {
    match store {
        StoreKind::Sqlite => isoqube::store::sqlite::RUN_CACHE_CAPACITY,
        StoreKind::Mongo => isoqube::store::mongo::DEFAULT_RUN_CACHE_CAPACITY,
    }
}

fn report_timers(f: &timers::Fired) {
    let n = f.lags_ms.len();
    println!(
        "\ntimers: {} runs inserted in {:.1} s ({} after the deadline {}); {n} fired, {} not, {} runs went on and succeeded",
        n + f.unfired,
        f.insert_secs,
        f.late_inserts,
        f.deadline.to_rfc3339(),
        f.unfired,
        f.succeeded
    );
    if n == 0 {
        return;
    }
    println!(
        "  lag (failed_at - deadline): min {} ms, p50 {} ms, p99 {} ms, max {} ms; all fired {} ms after the deadline",
        f.lags_ms[0],
        percentile(&f.lags_ms, 50),
        percentile(&f.lags_ms, 99),
        f.lags_ms[n - 1],
        f.lags_ms[n - 1]
    );
    for pct in [10, 25, 75, 90] {
        print!("  p{pct} {} ms", percentile(&f.lags_ms, pct));
    }
    println!();
}
