//! The chaos suite: the sample's services as separate processes on RabbitMQ
//! (a broker node of the suite's own) and a store shared between them, while
//! service processes are SIGKILLed at random and restarted, the broker is
//! restarted once, and the MongoDB-wire server is SIGKILLed right after a
//! step's write (a server of the scenario's own). Every 4th run is started
//! with `fail_step = "BroadcastRelease"`, so it fails at its last step and is
//! compensated under the same kills. Then: every run finished (`Succeeded`,
//! or `Compensated` when it was meant to fail), none is lost or stuck, every
//! step and every compensation was recorded succeeded exactly once, the undos
//! ran in reverse dependency order and did their side effect once, and no
//! step or compensation message was published twice except where a publisher
//! died before it could acknowledge or the broker went away
//! (docs/RELIABILITY.md explains that window). Every 5th run asks for a step
//! no process consumes (`unbound-release`, a Windows build with no Windows
//! pool running): each ends `Compensated`, its Linux builds undone.
//!
//! A scenario of its own ([`bulk`]) fills an error queue with 1,000 messages
//! and requeues and discards them in bulk while its service consumes and
//! more faults arrive: every message accounted for once.
//!
//! `cargo test -p sample-build-server --test chaos` runs the bounded CI mode.
//! By hand, longer: `... --test chaos -- --runs 300 --kills 60 [--seed N]
//! [--store mongo|sqlite|both] [--no-store-kill] [--bulk N] [--bulk-only]`
//! (`--bulk 0` leaves the bulk scenario out, `--bulk-only` runs only it).
//! A failure prints the seed; `--seed` replays the same choices (the timing still varies).
//!
//! The harness is our own (`harness = false`): one scenario after another,
//! never in parallel, each printing its figures.

mod bulk;
mod checks;
#[path = "../deployment/mod.rs"]
mod deployment;
mod fleet;
mod rng;
mod soak;
mod spy;
mod store_kill;
mod unbound;
mod undo;
mod waits;

use std::time::{Duration, Instant};

use deployment::StoreKind;

/// What one invocation does.
#[derive(Debug, Clone)]
pub struct Plan {
    pub runs: usize,
    pub kills: usize,
    pub seed: u64,
    pub mongo: bool,
    pub sqlite: bool,
    pub store_kill: bool,
    /// `work_ms` of each step (±50 %).
    pub work_ms: u64,
    /// Gap between kills, in milliseconds (uniform in the range).
    pub gap_ms: (u64, u64),
    /// Messages in the bulk scenario's error queue (0: no bulk scenario).
    pub bulk: usize,
}

impl Plan {
    fn from_args() -> Result<Option<Plan>, String> {
        let mut plan = Plan {
            runs: 24,
            kills: 10,
            seed: rng::seed_from_clock(),
            mongo: true,
            sqlite: true,
            store_kill: true,
            work_ms: 200,
            gap_ms: (700, 2000),
            bulk: 1000,
        };
        let mut args = std::env::args().skip(1);
        let mut filters = Vec::new();
        while let Some(arg) = args.next() {
            let mut value = |name: &str| {
                args.next()
                    .ok_or_else(|| format!("{name} needs a value"))
                    .and_then(|v| v.parse::<u64>().map_err(|e| format!("{name} {v}: {e}")))
            };
            match arg.as_str() {
                "--runs" => plan.runs = value("--runs")? as usize,
                "--kills" => plan.kills = value("--kills")? as usize,
                "--seed" => plan.seed = value("--seed")?,
                "--work-ms" => plan.work_ms = value("--work-ms")?,
                "--bulk" => plan.bulk = value("--bulk")? as usize,
                "--bulk-only" => {
                    (plan.mongo, plan.sqlite, plan.store_kill) = (false, false, false);
                }
                "--store-kill" => plan.store_kill = true,
                "--no-store-kill" => plan.store_kill = false,
                "--store" => match args.next().as_deref() {
                    Some("mongo") => plan.sqlite = false,
                    Some("sqlite") => plan.mongo = false,
                    Some("both") => {}
                    other => return Err(format!("--store mongo|sqlite|both, not {other:?}")),
                },
                // What cargo's own harness would be asked: there is one test.
                "--list" => {
                    println!("chaos: test");
                    return Ok(None);
                }
                a if a.starts_with("--") => {} // libtest flags (--nocapture, ...)
                filter => filters.push(filter.to_string()),
            }
        }
        // `cargo test NAME` passes NAME to every test binary; run only when it names us.
        if !filters.is_empty() && !filters.iter().any(|f| "chaos".contains(f.as_str())) {
            println!("chaos: filtered out by {filters:?}");
            return Ok(None);
        }
        if plan.runs == 0 {
            return Err("--runs must be at least 1".into());
        }
        Ok(Some(plan))
    }

    /// Whether the `i`th run of a scenario is started with `fail_step` (to end
    /// `Compensated`): every 4th, from an offset the seed picks, so a replay
    /// with `--seed` compensates the same runs.
    pub fn compensates(&self, i: usize) -> bool {
        let offset = rng::Rng::new(self.seed ^ 0x00c0_ffee).next() % 4;
        (i as u64 + offset) % 4 == 0
    }

    /// Whether the `i`th run is an `unbound-release` (its Windows step has
    /// no consumer): every 5th, from an offset the seed picks.
    pub fn unbound(&self, i: usize) -> bool {
        let offset = rng::Rng::new(self.seed ^ 0x0b0b).next() % 5;
        (i as u64 + offset) % 5 == 0
    }
}

fn main() {
    let plan = match Plan::from_args() {
        Ok(Some(plan)) => plan,
        Ok(None) => return,
        Err(e) => {
            eprintln!("chaos: {e}");
            std::process::exit(2);
        }
    };
    println!("chaos: {plan:?}");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let started = Instant::now();
    runtime.block_on(async {
        if plan.mongo {
            let db = isoqube::testing::unique("isoqube_chaos").replace('-', "_");
            let store = StoreKind::Mongo {
                url: isoqube::testing::mongo_url(),
                db,
            };
            soak::soak("mongodb", store, &plan).await;
        }
        if plan.sqlite {
            let path = std::env::temp_dir()
                .join("isoqube-chaos")
                .join(format!("{}.db", uuid::Uuid::new_v4()));
            soak::soak("sqlite", StoreKind::Sqlite(path), &plan).await;
        }
        if plan.sqlite {
            let path = std::env::temp_dir()
                .join("isoqube-chaos")
                .join(format!("waits-{}.db", uuid::Uuid::new_v4()));
            waits::waits("waits, sqlite", StoreKind::Sqlite(path), &plan).await;
        }
        if plan.store_kill && plan.mongo {
            store_kill::store_kill(&plan).await;
        }
        if plan.bulk > 0 {
            bulk::bulk(plan.bulk, false).await;
            bulk::bulk(plan.bulk, true).await;
        }
    });
    runtime.shutdown_timeout(Duration::from_secs(5));
    println!(
        "chaos: all scenarios passed in {:.0} s (seed {})",
        started.elapsed().as_secs_f64(),
        plan.seed
    );
}
