//! The chain benchmark: how many steps per second an Isoqube chain moves, next to
//! a hand-written lapin chain of the same shape on the same broker.
//!
//! ```text
//! cargo bench -p isoqube --bench chain -- [--runs N] [--steps K | --width W] [--concurrency C]
//!     [--store sqlite|mongo] [--transport amqp|memory] [--warmup W] [--repeat R]
//!     [--sides both|isoqube|all]
//! cargo bench -p isoqube --bench chain -- --help
//! ```
//!
//! Defaults: N=5000, K=5, C=64, W=max(N/10, C) warm-up runs per side, R=1.
//!
//! * **isoqube**: K no-op events (`BenchStep1..K`), one consumer each (concurrency C,
//!   so prefetch C per queue), a definition of the K events, N runs started through
//!   [`Control::start`] with at most C runs in flight. The store records every
//!   step (claim + complete). A run's latency is from just before `start` to
//!   the moment the store recorded the run `Succeeded` (the last `complete_step`
//!   returned; seen through a thin delegating store wrapper, so there is no
//!   polling).
//! * **raw lapin**: K durable fanout exchanges + durable queues; a run is one
//!   persistent JSON message (about the size of Isoqube's envelope) hopping queue
//!   1 -> 2 -> ... -> K. Each hop: consume (prefetch C, manual acks), parse,
//!   publish the next message with `mandatory` and publisher confirms, wait for the
//!   confirm, then ack. Same N and C. Skipped with `--transport memory` and with
//!   `--sides isoqube` (to profile Isoqube alone).
//! * **floor** (`--sides all`): raw lapin again, but doing what the brief makes
//!   any framework do on the wire and the least it can do to record a step:
//!   MassTransit's topology (event exchange bound exchange-to-exchange to the
//!   endpoint's exchange, bound to its queue), the three headers Isoqube puts on
//!   a step message, and one small SQLite row per step written by a thread of its
//!   own in group commits (WAL, `synchronous=NORMAL`) before the next message is
//!   published. No claim, no run document, no consumer call: what is left between
//!   it and Isoqube is Isoqube's own work.
//!
//! Names are prefixed with a fresh `bench-<id>.` (`bench-raw-<id>.`,
//! `bench-floor-<id>.`); everything declared is deleted at the end. The SQLite
//! file lives in a fresh temp dir; the Mongo store
//! (`ISOQUBE_MONGO_URL`) uses a fresh database, dropped at the end, reached through
//! a small counting TCP proxy that tallies the commands the driver sends.
//!
//! Consumer concurrency is a compile-time option of `#[consumer]`, so the bench
//! registers one group of consumers per supported C (1, 8, 16, 32, 64, 128, 256)
//!
//! This file only wires the sides together and runs the reps: [`args`] (the
//! command line), [`events`] (the chain's events and consumer groups),
//! [`drive`] (starting and timing runs), [`watched`] (the store wrapper that
//! sees runs finish), [`isoqube_side`], [`raw`] (the raw lapin and floor
//! sides), [`floor`] (the floor's headers and step rows), [`mongo_proxy`] (the
//! counting proxy), [`cpu`] (CPU per step from `/proc`) and [`report`] (what is
//! printed). Nothing below imports this file; the modules import only
//! [`args`], [`events`], [`drive`], [`watched`] and [`floor`], never each other
//! in a loop.

mod args;
mod cpu;
mod drive;
mod events;
mod floor;
mod isoqube_side;
mod mongo_proxy;
mod raw;
mod report;
mod watched;

use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use crate::args::{Args, Sides, StoreKind, TransportKind};
use crate::cpu::{broker_pid, CpuSample};
use crate::drive::Waiters;
use crate::isoqube_side::{isoqube_envelope_size, isoqube_side};
use crate::mongo_proxy::{diff, mongo_host_port, mongo_proxy, CommandCounts};
use crate::raw::{raw_side, RawShape};
use crate::report::{banner, row, store_wait_line, table_header, Tally};
use crate::watched::StoreTiming;

fn main() {
    let args = Args::parse_checked();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(bench(args));
}

async fn bench(args: Args) {
    let id = Uuid::new_v4().simple().to_string()[..8].to_string();
    let warmup = args.warmup_runs();
    let size = isoqube_envelope_size();
    let waiters = Arc::new(Waiters::default());
    let broker = broker_pid();

    let counts = Arc::new(CommandCounts::default());
    let mongo_url = match args.store {
        StoreKind::Mongo => {
            let url = std::env::var(isoqube::store::mongo::URL_ENV).expect(
                "--store mongo needs ISOQUBE_MONGO_URL (scripts/mongo-test-server.sh start)",
            );
            Some(mongo_proxy(mongo_host_port(&url), counts.clone()).await)
        }
        StoreKind::Sqlite => None,
    };

    banner(&args, warmup, size, &id);

    let timing = Arc::new(StoreTiming::default());
    let iso = isoqube_side(
        &args,
        &id,
        waiters.clone(),
        timing.clone(),
        mongo_url.as_deref(),
    )
    .await;
    let mut raws = Vec::new();
    if args.transport == TransportKind::Amqp && args.sides != Sides::Isoqube {
        raws.push(raw_side(&args, &id, waiters.clone(), size, RawShape::Plain).await);
        if args.sides == Sides::All {
            raws.push(raw_side(&args, &id, waiters.clone(), size, RawShape::Floor).await);
        }
    }

    // warm-up
    let w = iso.run(&args, warmup, &waiters).await;
    eprintln!(
        "warm-up isoqube: {} runs in {:.2}s",
        w.runs,
        w.wall.as_secs_f64()
    );
    for raw in &raws {
        let w = raw.run(&args, warmup, &waiters).await;
        eprintln!(
            "warm-up {:<8} {} runs in {:.2}s",
            format!("{}:", raw.shape.label()),
            w.runs,
            w.wall.as_secs_f64()
        );
    }

    table_header();
    let mut tally = Tally::default();
    for rep in 1..=args.repeat {
        let before = counts.snapshot();
        let t0 = timing.snapshot();
        let c0 = CpuSample::take(broker);
        let m = iso.run(&args, args.runs, &waiters).await;
        let c1 = CpuSample::take(broker);
        let t1 = timing.snapshot();
        let after = counts.snapshot();
        row("isoqube", rep, &m);
        tally.store_lines.push(store_wait_line(rep, t0, t1));
        tally
            .store_lines
            .push(format!("isoqube rep {rep}: {}", c0.per_step(&c1, m.steps)));
        tally.iso_rates.push(m.steps_per_s());
        if args.store == StoreKind::Mongo {
            tally
                .mongo_per_step
                .push((diff(&after, &before), m.runs, m.steps));
        }
        for raw in &raws {
            let c0 = CpuSample::take(broker);
            let r = raw.run(&args, args.runs, &waiters).await;
            let c1 = CpuSample::take(broker);
            let label = raw.shape.label();
            row(label, rep, &r);
            tally
                .store_lines
                .push(format!("{label} rep {rep}: {}", c0.per_step(&c1, r.steps)));
            match raw.shape {
                RawShape::Plain => {
                    tally.raw_rates.push(r.steps_per_s());
                    tally.ratios.push(m.steps_per_s() / r.steps_per_s());
                }
                RawShape::Floor => tally.floor_rates.push((r.steps_per_s(), m.steps_per_s())),
            }
        }
    }
    tally.print(args.repeat);

    for raw in &raws {
        raw.cleanup().await;
    }
    iso.cleanup().await;
    // Let the MongoDB client finish closing its pool before the runtime goes away.
    tokio::time::sleep(Duration::from_millis(300)).await;
}
