//! The chain benchmark: how many steps per second an Isoqube chain moves, next to
//! a hand-written lapin chain of the same shape on the same broker.
//!
//! ```text
//! cargo bench -p isoqube --bench chain -- [--runs N] [--steps K] [--concurrency C]
//!     [--store sqlite|mongo] [--transport amqp|memory] [--warmup W] [--repeat R]
//!     [--sides both|isoqube|all]
//! ```
//!
//! Defaults: N=5000, K=5, C=64, W=max(N/10, C) warm-up runs per side, R=1.
//!
//! * **isoqube**: K no-op events (`BenchStep1..K`), one consumer each (concurrency C,
//!   so prefetch C per queue), a definition of the K events, N runs started through
//!   [`Control::start_run`] with at most C runs in flight. The store records every
//!   step (claim + complete). A run's latency is from just before `start_run` to
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
//! `bench-floor-<id>.`); everything declared is deleted at the end. The SQLite file lives in a fresh temp dir; the Mongo store
//! (`ISOQUBE_MONGO_URL`) uses a fresh database, dropped at the end, reached through
//! a small counting TCP proxy that tallies the commands the driver sends.
//!
//! Consumer concurrency is a compile-time option of `#[consumer]`, so the bench
//! registers one group of consumers per supported C (1, 8, 16, 32, 64, 128, 256)
//! and hosts the group asked for. K is at most 8.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use isoqube::model::{ClaimOutcome, CompleteOutcome, FailOutcome};
use isoqube::transport::{AmqpConfig, AmqpTransport};
use isoqube::{
    Control, Definition, Event, InProcessTransport, LogRecord, MongoStore, NextStep, Run,
    RunFilter, RunStore, ServiceRecord, SqliteStore, StepKey, TopicRecord, Transport, Variables,
};
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, ExchangeBindOptions, ExchangeDeclareOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Confirmation, Connection, ConnectionProperties, ExchangeKind};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{oneshot, Semaphore};
use uuid::Uuid;

const MAX_STEPS: usize = 8;
const CONCURRENCIES: [usize; 7] = [1, 8, 16, 32, 64, 128, 256];
const RUN_TIMEOUT: Duration = Duration::from_secs(120);

// ---------------------------------------------------------------- events and consumers

macro_rules! bench_events {
    ($($name:ident),*) => {$(
        /// A no-op step of the benchmark chain.
        #[isoqube::event]
        #[derive(Serialize, Deserialize)]
        pub struct $name {}
    )*};
}

bench_events!(
    BenchStep1, BenchStep2, BenchStep3, BenchStep4, BenchStep5, BenchStep6, BenchStep7, BenchStep8
);

const EVENT_NAMES: [&str; MAX_STEPS] = [
    "BenchStep1",
    "BenchStep2",
    "BenchStep3",
    "BenchStep4",
    "BenchStep5",
    "BenchStep6",
    "BenchStep7",
    "BenchStep8",
];

/// One group of no-op consumers (one per event) with concurrency `$c`, hosted by
/// service `$svc`, in module `$m`.
macro_rules! bench_group {
    ($m:ident, $c:literal, $svc:literal, [$e1:literal, $e2:literal, $e3:literal, $e4:literal, $e5:literal, $e6:literal, $e7:literal, $e8:literal]) => {
        mod $m {
            use super::*;
            bench_group!(@one $c, $svc, s1, BenchStep1, $e1);
            bench_group!(@one $c, $svc, s2, BenchStep2, $e2);
            bench_group!(@one $c, $svc, s3, BenchStep3, $e3);
            bench_group!(@one $c, $svc, s4, BenchStep4, $e4);
            bench_group!(@one $c, $svc, s5, BenchStep5, $e5);
            bench_group!(@one $c, $svc, s6, BenchStep6, $e6);
            bench_group!(@one $c, $svc, s7, BenchStep7, $e7);
            bench_group!(@one $c, $svc, s8, BenchStep8, $e8);
        }
    };
    (@one $c:literal, $svc:literal, $f:ident, $ev:ident, $ep:literal) => {
        #[isoqube::consumer(service = $svc, endpoint = $ep, concurrency = $c)]
        async fn $f(_ev: $ev) -> anyhow::Result<()> {
            Ok(())
        }
    };
}

bench_group!(
    c1,
    1,
    "bench-c1",
    ["c1-s1", "c1-s2", "c1-s3", "c1-s4", "c1-s5", "c1-s6", "c1-s7", "c1-s8"]
);
bench_group!(
    c8,
    8,
    "bench-c8",
    ["c8-s1", "c8-s2", "c8-s3", "c8-s4", "c8-s5", "c8-s6", "c8-s7", "c8-s8"]
);
bench_group!(
    c16,
    16,
    "bench-c16",
    ["c16-s1", "c16-s2", "c16-s3", "c16-s4", "c16-s5", "c16-s6", "c16-s7", "c16-s8"]
);
bench_group!(
    c32,
    32,
    "bench-c32",
    ["c32-s1", "c32-s2", "c32-s3", "c32-s4", "c32-s5", "c32-s6", "c32-s7", "c32-s8"]
);
bench_group!(
    c64,
    64,
    "bench-c64",
    ["c64-s1", "c64-s2", "c64-s3", "c64-s4", "c64-s5", "c64-s6", "c64-s7", "c64-s8"]
);
bench_group!(
    c128,
    128,
    "bench-c128",
    ["c128-s1", "c128-s2", "c128-s3", "c128-s4", "c128-s5", "c128-s6", "c128-s7", "c128-s8"]
);
bench_group!(
    c256,
    256,
    "bench-c256",
    ["c256-s1", "c256-s2", "c256-s3", "c256-s4", "c256-s5", "c256-s6", "c256-s7", "c256-s8"]
);

// ---------------------------------------------------------------- arguments

#[derive(Debug, Clone, Copy, PartialEq)]
enum StoreKind {
    Sqlite,
    Mongo,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum TransportKind {
    Amqp,
    Memory,
}

#[derive(Debug, Clone)]
struct Args {
    runs: usize,
    steps: usize,
    concurrency: usize,
    warmup: Option<usize>,
    repeat: usize,
    store: StoreKind,
    transport: TransportKind,
    sides: Sides,
}

/// Which sides an invocation measures (`--sides`).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Sides {
    /// Isoqube and raw lapin (the default; the ratio of the issue's target).
    Both,
    /// Isoqube alone (for profiling it).
    Isoqube,
    /// Isoqube, raw lapin and the floor (raw lapin on MassTransit's topology
    /// with a SQLite row written per step).
    All,
}

fn usage() -> ! {
    eprintln!(
        "usage: cargo bench -p isoqube --bench chain -- [--runs N] [--steps K (1..={MAX_STEPS})] \
         [--concurrency C (one of {CONCURRENCIES:?})] [--store sqlite|mongo] \
         [--transport amqp|memory] [--warmup W] [--repeat R] [--sides both|isoqube|all]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut args = Args {
        runs: 5000,
        steps: 5,
        concurrency: 64,
        warmup: None,
        repeat: 1,
        store: StoreKind::Sqlite,
        transport: TransportKind::Amqp,
        sides: Sides::Both,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let (key, inline) = match a.split_once('=') {
            Some((k, v)) if k.starts_with("--") => (k.to_string(), Some(v.to_string())),
            _ => (a.clone(), None),
        };
        let known = [
            "--runs",
            "--steps",
            "--concurrency",
            "--warmup",
            "--repeat",
            "--store",
            "--transport",
            "--sides",
        ];
        if !known.contains(&key.as_str()) {
            if key == "--help" || key == "-h" {
                usage();
            }
            // cargo passes `--bench`; anything else unknown is ignored too.
            continue;
        }
        let Some(value) = inline.or_else(|| it.next()) else {
            eprintln!("{key} needs a value");
            usage()
        };
        let num = |v: &str| -> usize {
            v.parse().unwrap_or_else(|_| {
                eprintln!("{key}: '{v}' is not a number");
                usage()
            })
        };
        match key.as_str() {
            "--runs" => args.runs = num(&value),
            "--steps" => args.steps = num(&value),
            "--concurrency" => args.concurrency = num(&value),
            "--warmup" => args.warmup = Some(num(&value)),
            "--repeat" => args.repeat = num(&value).max(1),
            "--store" => {
                args.store = match value.as_str() {
                    "sqlite" => StoreKind::Sqlite,
                    "mongo" | "mongodb" => StoreKind::Mongo,
                    _ => usage(),
                }
            }
            "--transport" => {
                args.transport = match value.as_str() {
                    "amqp" => TransportKind::Amqp,
                    "memory" => TransportKind::Memory,
                    _ => usage(),
                }
            }
            "--sides" => {
                args.sides = match value.as_str() {
                    "both" => Sides::Both,
                    "isoqube" => Sides::Isoqube,
                    "all" => Sides::All,
                    _ => usage(),
                }
            }
            _ => unreachable!(),
        }
    }
    if args.steps == 0 || args.steps > MAX_STEPS {
        eprintln!("--steps must be 1..={MAX_STEPS}");
        usage();
    }
    if !CONCURRENCIES.contains(&args.concurrency) {
        eprintln!(
            "--concurrency must be one of {CONCURRENCIES:?} (consumer concurrency is a compile-time option)"
        );
        usage();
    }
    if args.runs == 0 {
        usage();
    }
    args
}

// ---------------------------------------------------------------- run completion

/// Who waits for which run; completions that arrive before their waiter are kept.
#[derive(Default)]
struct Waiters {
    slots: Mutex<HashMap<Uuid, Slot>>,
}

enum Slot {
    Waiting(oneshot::Sender<(Instant, bool)>),
    Done(Instant, bool),
}

impl Waiters {
    fn finish(&self, run: Uuid, ok: bool) {
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

    async fn wait(&self, run: Uuid) -> (Instant, bool) {
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

/// Delegates to the real store and tells [`Waiters`] when a run finished.
struct Watched {
    inner: Arc<dyn RunStore>,
    waiters: Arc<Waiters>,
    timing: Arc<StoreTiming>,
}

/// Time spent in the hot-path store calls, as the runtime waits for them.
#[derive(Default)]
struct StoreTiming {
    claim_ns: AtomicU64,
    claims: AtomicU64,
    complete_ns: AtomicU64,
    completes: AtomicU64,
}

impl StoreTiming {
    fn snapshot(&self) -> [u64; 4] {
        [
            self.claim_ns.load(Ordering::Relaxed),
            self.claims.load(Ordering::Relaxed),
            self.complete_ns.load(Ordering::Relaxed),
            self.completes.load(Ordering::Relaxed),
        ]
    }
}

#[async_trait]
impl RunStore for Watched {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }
    async fn ping(&self) -> isoqube::Result<()> {
        self.inner.ping().await
    }
    async fn create_definition(&self, def: &Definition) -> isoqube::Result<()> {
        self.inner.create_definition(def).await
    }
    async fn update_definition(&self, def: &Definition) -> isoqube::Result<()> {
        self.inner.update_definition(def).await
    }
    async fn get_definition(&self, name: &str) -> isoqube::Result<Option<Definition>> {
        self.inner.get_definition(name).await
    }
    async fn list_definitions(&self) -> isoqube::Result<Vec<Definition>> {
        self.inner.list_definitions().await
    }
    async fn delete_definition(&self, name: &str) -> isoqube::Result<bool> {
        self.inner.delete_definition(name).await
    }
    async fn insert_run(&self, run: &Run) -> isoqube::Result<()> {
        self.inner.insert_run(run).await
    }
    async fn get_run(&self, id: Uuid) -> isoqube::Result<Option<Run>> {
        self.inner.get_run(id).await
    }
    async fn list_runs(&self, filter: &RunFilter) -> isoqube::Result<Vec<Run>> {
        self.inner.list_runs(filter).await
    }
    async fn claim_step(&self, key: &StepKey, redelivered: bool) -> isoqube::Result<ClaimOutcome> {
        let t = Instant::now();
        let out = self.inner.claim_step(key, redelivered).await;
        self.timing
            .claim_ns
            .fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
        self.timing.claims.fetch_add(1, Ordering::Relaxed);
        out
    }
    async fn claim_step_unrecorded(&self, key: &StepKey) -> isoqube::Result<(ClaimOutcome, bool)> {
        let t = Instant::now();
        let out = self.inner.claim_step_unrecorded(key).await;
        self.timing
            .claim_ns
            .fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
        self.timing.claims.fetch_add(1, Ordering::Relaxed);
        out
    }
    async fn complete_step(
        &self,
        key: &StepKey,
        patch: Variables,
        attempts: u32,
    ) -> isoqube::Result<CompleteOutcome> {
        let t = Instant::now();
        let out = self.inner.complete_step(key, patch, attempts).await;
        self.timing
            .complete_ns
            .fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
        self.timing.completes.fetch_add(1, Ordering::Relaxed);
        if let Ok(CompleteOutcome::Advanced { next: None }) = &out {
            self.waiters.finish(key.run_id, true);
        }
        out
    }
    async fn fail_step(
        &self,
        key: &StepKey,
        error: &str,
        attempts: u32,
    ) -> isoqube::Result<FailOutcome> {
        let out = self.inner.fail_step(key, error, attempts).await;
        if let Ok(FailOutcome::RunFailed) = &out {
            self.waiters.finish(key.run_id, false);
        }
        out
    }
    async fn cancel_run(&self, id: Uuid) -> isoqube::Result<Run> {
        self.inner.cancel_run(id).await
    }
    async fn resume_run(&self, id: Uuid) -> isoqube::Result<(Run, NextStep)> {
        self.inner.resume_run(id).await
    }
    async fn abort_run(&self, id: Uuid, reason: &str) -> isoqube::Result<Run> {
        let out = self.inner.abort_run(id, reason).await;
        self.waiters.finish(id, false);
        out
    }
    async fn register_service(&self, service: &ServiceRecord) -> isoqube::Result<()> {
        self.inner.register_service(service).await
    }
    async fn heartbeat(&self, service_id: &str, at: DateTime<Utc>) -> isoqube::Result<()> {
        self.inner.heartbeat(service_id, at).await
    }
    async fn remove_service(&self, service_id: &str) -> isoqube::Result<()> {
        self.inner.remove_service(service_id).await
    }
    async fn list_services(&self) -> isoqube::Result<Vec<ServiceRecord>> {
        self.inner.list_services().await
    }
    async fn upsert_topics(&self, topics: &[TopicRecord]) -> isoqube::Result<()> {
        self.inner.upsert_topics(topics).await
    }
    async fn list_topics(&self) -> isoqube::Result<Vec<TopicRecord>> {
        self.inner.list_topics().await
    }
    async fn claim_tick(&self, key: &str, due: DateTime<Utc>) -> isoqube::Result<bool> {
        self.inner.claim_tick(key, due).await
    }
    async fn last_tick(&self, key: &str) -> isoqube::Result<Option<DateTime<Utc>>> {
        self.inner.last_tick(key).await
    }
    async fn append_logs(&self, logs: &[LogRecord]) -> isoqube::Result<()> {
        self.inner.append_logs(logs).await
    }
    async fn run_logs(&self, run_id: Uuid, skip: usize) -> isoqube::Result<Vec<LogRecord>> {
        self.inner.run_logs(run_id, skip).await
    }
    async fn wait_for_change(
        &self,
        id: Uuid,
        seen_version: u64,
        timeout: Duration,
    ) -> isoqube::Result<Option<Run>> {
        self.inner.wait_for_change(id, seen_version, timeout).await
    }
}

// ---------------------------------------------------------------- driving runs

struct Measured {
    runs: usize,
    steps: usize,
    failed: usize,
    wall: Duration,
    latencies: Vec<Duration>,
}

impl Measured {
    fn steps_per_s(&self) -> f64 {
        self.steps as f64 / self.wall.as_secs_f64()
    }
    fn runs_per_s(&self) -> f64 {
        self.runs as f64 / self.wall.as_secs_f64()
    }
    fn pct(&self, p: f64) -> f64 {
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
async fn drive<S, F>(
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

// ---------------------------------------------------------------- the isoqube side

struct IsoqubeSide {
    control: Control,
    service: Option<isoqube::Service>,
    amqp: Option<AmqpTransport>,
    transport: Arc<dyn Transport>,
    mongo: Option<MongoStore>,
    tmp: Option<std::path::PathBuf>,
    definition: String,
}

async fn isoqube_side(
    args: &Args,
    id: &str,
    waiters: Arc<Waiters>,
    timing: Arc<StoreTiming>,
    mongo_url: Option<&str>,
) -> IsoqubeSide {
    let (transport, amqp): (Arc<dyn Transport>, Option<AmqpTransport>) = match args.transport {
        TransportKind::Amqp => {
            let t = AmqpTransport::connect(AmqpConfig {
                prefix: format!("bench-{id}."),
                ..Default::default()
            })
            .await
            .expect(
                "RabbitMQ reachable (ISOQUBE_AMQP_URL or amqp://guest:guest@127.0.0.1:5672/%2f)",
            );
            (Arc::new(t.clone()), Some(t))
        }
        TransportKind::Memory => (Arc::new(InProcessTransport::new()), None),
    };
    let (inner, mongo, tmp): (Arc<dyn RunStore>, _, _) = match args.store {
        StoreKind::Sqlite => {
            let dir = std::env::temp_dir().join(format!("isoqube-bench-{id}"));
            let store = SqliteStore::open(&dir.join("bench.db"))
                .await
                .expect("sqlite store opens");
            (Arc::new(store), None, Some(dir))
        }
        StoreKind::Mongo => {
            let url = mongo_url.expect("mongo url");
            let store = MongoStore::connect(url, &format!("isoqube_bench_{id}"))
                .await
                .expect("MongoDB reachable");
            (Arc::new(store.clone()), Some(store), None)
        }
    };
    let store: Arc<dyn RunStore> = Arc::new(Watched {
        inner,
        waiters,
        timing,
    });
    let service = isoqube::Service::builder("bench")
        .transport_arc(transport.clone())
        .store_arc(store.clone())
        .services([format!("bench-c{}", args.concurrency)])
        .start()
        .await
        .expect("service starts");
    let control = Control::new(store, transport.clone()).expect("registry");
    let definition = format!("bench-chain-{}", args.steps);
    control
        .create_definition(Definition::new(
            definition.clone(),
            EVENT_NAMES[..args.steps].iter().copied(),
        ))
        .await
        .expect("definition saved");
    IsoqubeSide {
        control,
        service: Some(service),
        amqp,
        transport,
        mongo,
        tmp,
        definition,
    }
}

impl IsoqubeSide {
    async fn run(&self, args: &Args, runs: usize, waiters: &Arc<Waiters>) -> Measured {
        let control = self.control.clone();
        let def = self.definition.clone();
        drive(runs, args.steps, args.concurrency, waiters, move || {
            let control = control.clone();
            let def = def.clone();
            async move {
                control
                    .start_run(&def, Variables::new(), "bench")
                    .await
                    .expect("run starts")
                    .id
            }
        })
        .await
    }

    async fn cleanup(mut self) {
        if let Some(svc) = self.service.take() {
            let _ = svc.shutdown().await;
        }
        if let Some(t) = &self.amqp {
            if let Err(e) = t.delete_declared().await {
                eprintln!("could not delete the isoqube queues/exchanges: {e}");
            }
        }
        let _ = self.transport.close().await;
        if let Some(m) = &self.mongo {
            if let Err(e) = m.drop_database().await {
                eprintln!("could not drop the bench database: {e}");
            }
        }
        if let Some(dir) = &self.tmp {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// The size of the envelope Isoqube sends for a step of this benchmark (the raw
/// side pads its messages to it).
fn isoqube_envelope_size() -> usize {
    let info = BenchStep2::info();
    let run = Uuid::new_v4().to_string();
    let mut env = isoqube::Envelope::new(info.message_type(), json!({}));
    env.initiator_id = Some(Uuid::new_v4().to_string());
    env.conversation_id = Some(run.clone());
    env.correlation_id = Some(run.clone());
    env.source_address = Some(format!("isoqube://{}/c64-s1", isoqube::host_name()));
    env.destination_address = Some(format!(
        "isoqube://{}/{}",
        isoqube::host_name(),
        info.exchange_name()
    ));
    env.host = Some(isoqube::envelope::Host::new(
        &isoqube::envelope::HostInfo::current("bench"),
    ));
    env.headers
        .insert("Isoqube-Run-Id".into(), Value::String(run));
    env.headers.insert("Isoqube-Step".into(), Value::from(1u64));
    env.headers.insert(
        "Isoqube-Definition".into(),
        Value::String("bench-chain-5".into()),
    );
    env.to_vec().len()
}

// ---------------------------------------------------------------- the raw lapin side

/// What a raw lapin side does besides hopping a message from queue to queue.
#[derive(Debug, Clone, Copy, PartialEq)]
enum RawShape {
    /// The issue's baseline: exchange -> queue, no headers, nothing recorded.
    Plain,
    /// The floor under any framework that follows the brief: MassTransit's
    /// topology (event exchange -> endpoint exchange -> queue), the three
    /// headers Isoqube puts on a step message, and one SQLite row written per
    /// step (a thread of its own, group commits, WAL) before the next message is
    /// published. Nothing else: no claim, no run document, no consumer call.
    Floor,
}

impl RawShape {
    fn label(self) -> &'static str {
        match self {
            RawShape::Plain => "raw-lapin",
            RawShape::Floor => "floor",
        }
    }
}

struct RawSide {
    conn: Connection,
    /// Where a run's hop `i` is published (the event exchanges for the floor).
    entries: Vec<String>,
    /// Everything declared, deleted at the end.
    exchanges: Vec<String>,
    queues: Vec<String>,
    publish: lapin::Channel,
    /// The consumer tasks (they hold the side; aborted at clean-up).
    consumers: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// Deliveries being handled (published on, not yet acked).
    busy: AtomicU64,
    size: usize,
    shape: RawShape,
    /// The floor's run headers name this definition (Isoqube's side's name).
    headers_definition: Option<String>,
    recorder: Option<StepRecorder>,
}

fn raw_body(run: &str, hop: usize, size: usize) -> Vec<u8> {
    let mut v = json!({
        "messageId": Uuid::new_v4().to_string(),
        "correlationId": run,
        "hop": hop,
        "pad": "",
    });
    let base = serde_json::to_vec(&v).expect("json").len();
    v["pad"] = Value::String("x".repeat(size.saturating_sub(base)));
    serde_json::to_vec(&v).expect("json")
}

/// A hop's properties; with `definition`, also the run headers Isoqube puts on
/// a step message.
fn raw_props(run: &str, hop: usize, definition: Option<&str>) -> BasicProperties {
    let props = BasicProperties::default()
        .with_content_type(ShortString::from("application/json"))
        .with_delivery_mode(2)
        .with_message_id(ShortString::from(Uuid::new_v4().to_string()))
        .with_correlation_id(ShortString::from(run.to_string()));
    match definition {
        None => props,
        Some(definition) => {
            let mut headers = FieldTable::default();
            headers.insert(
                ShortString::from("Isoqube-Run-Id"),
                AMQPValue::LongString(run.to_string().into()),
            );
            headers.insert(
                ShortString::from("Isoqube-Step"),
                AMQPValue::LongLongInt(hop as i64),
            );
            headers.insert(
                ShortString::from("Isoqube-Definition"),
                AMQPValue::LongString(definition.to_string().into()),
            );
            props.with_headers(headers)
        }
    }
}

async fn raw_publish(
    channel: &lapin::Channel,
    exchange: &str,
    run: &str,
    hop: usize,
    definition: Option<&str>,
    body: &[u8],
) {
    let confirm = channel
        .basic_publish(
            ShortString::from(exchange.to_string()),
            ShortString::default(),
            BasicPublishOptions {
                mandatory: true,
                ..Default::default()
            },
            body,
            raw_props(run, hop, definition),
        )
        .await
        .expect("raw publish");
    match confirm.await.expect("raw publish confirm") {
        Confirmation::Ack(None) => {}
        other => panic!("raw publish to {exchange} not confirmed cleanly: {other:?}"),
    }
}

/// The floor's store: one thread, one connection, each wake-up writes every
/// queued step row in one transaction (the same group commit Isoqube's SQLite
/// store does), then answers them.
struct StepRecorder {
    jobs: std::sync::mpsc::Sender<(String, usize, oneshot::Sender<()>)>,
    dir: std::path::PathBuf,
}

impl StepRecorder {
    fn start(dir: std::path::PathBuf) -> StepRecorder {
        std::fs::create_dir_all(&dir).expect("floor dir");
        let conn = rusqlite::Connection::open(dir.join("floor.db")).expect("floor db");
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;
             CREATE TABLE steps (run TEXT NOT NULL, hop INTEGER NOT NULL, at INTEGER NOT NULL);",
        )
        .expect("floor schema");
        let (jobs, rx) = std::sync::mpsc::channel::<(String, usize, oneshot::Sender<()>)>();
        std::thread::Builder::new()
            .name("floor-sqlite".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    let mut group = vec![first];
                    group.extend(rx.try_iter());
                    conn.execute_batch("BEGIN").expect("begin");
                    {
                        let mut insert = conn
                            .prepare_cached("INSERT INTO steps (run, hop, at) VALUES (?1, ?2, ?3)")
                            .expect("prepare");
                        let at = Utc::now().timestamp_micros();
                        for (run, hop, _) in &group {
                            insert
                                .execute(rusqlite::params![run, *hop as i64, at])
                                .expect("insert");
                        }
                    }
                    conn.execute_batch("COMMIT").expect("commit");
                    for (_, _, done) in group {
                        let _ = done.send(());
                    }
                }
            })
            .expect("floor thread");
        StepRecorder { jobs, dir }
    }

    async fn record(&self, run: &str, hop: usize) {
        let (done, wait) = oneshot::channel();
        self.jobs
            .send((run.to_string(), hop, done))
            .expect("floor thread alive");
        wait.await.expect("floor step recorded");
    }
}

async fn declare_fanout(admin: &lapin::Channel, name: &str) {
    admin
        .exchange_declare(
            ShortString::from(name.to_string()),
            ExchangeKind::Fanout,
            ExchangeDeclareOptions {
                durable: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .expect("declare exchange");
}

async fn raw_side(
    args: &Args,
    id: &str,
    waiters: Arc<Waiters>,
    size: usize,
    shape: RawShape,
) -> Arc<RawSide> {
    let url = AmqpConfig::default().url;
    let conn = Connection::connect(&url, ConnectionProperties::default())
        .await
        .expect("RabbitMQ reachable for the raw side");
    let admin = conn.create_channel().await.expect("admin channel");
    let prefix = match shape {
        RawShape::Plain => format!("bench-raw-{id}"),
        RawShape::Floor => format!("bench-floor-{id}"),
    };
    let mut entries = Vec::new();
    let mut exchanges = Vec::new();
    let mut queues = Vec::new();
    for i in 1..=args.steps {
        let q = format!("{prefix}.q{i}");
        let ex = match shape {
            RawShape::Plain => format!("{prefix}.ex{i}"),
            RawShape::Floor => q.clone(),
        };
        declare_fanout(&admin, &ex).await;
        admin
            .queue_declare(
                ShortString::from(q.clone()),
                QueueDeclareOptions {
                    durable: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .expect("declare queue");
        admin
            .queue_bind(
                ShortString::from(q.clone()),
                ShortString::from(ex.clone()),
                ShortString::default(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("bind queue");
        if shape == RawShape::Floor {
            let event = format!("{prefix}.ev{i}");
            declare_fanout(&admin, &event).await;
            admin
                .exchange_bind(
                    ShortString::from(ex.clone()),
                    ShortString::from(event.clone()),
                    ShortString::default(),
                    ExchangeBindOptions::default(),
                    FieldTable::default(),
                )
                .await
                .expect("bind exchange to exchange");
            exchanges.push(event.clone());
            entries.push(event);
        } else {
            entries.push(ex.clone());
        }
        exchanges.push(ex);
        queues.push(q);
    }
    let recorder = (shape == RawShape::Floor)
        .then(|| StepRecorder::start(std::env::temp_dir().join(format!("isoqube-{prefix}"))));
    let publish = conn.create_channel().await.expect("publish channel");
    publish
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .expect("confirm select");
    let side = Arc::new(RawSide {
        conn,
        entries,
        exchanges,
        queues,
        publish,
        consumers: Mutex::new(Vec::new()),
        busy: AtomicU64::new(0),
        size,
        shape,
        headers_definition: (shape == RawShape::Floor)
            .then(|| format!("bench-chain-{}", args.steps)),
        recorder,
    });
    let mut consumers = Vec::new();
    for (i, q) in side.queues.iter().enumerate() {
        let channel = side.conn.create_channel().await.expect("consumer channel");
        channel
            .basic_qos(args.concurrency as u16, BasicQosOptions::default())
            .await
            .expect("qos");
        let mut consumer = channel
            .basic_consume(
                ShortString::from(q.clone()),
                ShortString::from(format!("{}-{i}", side.shape.label())),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("consume");
        let next = side.entries.get(i + 1).cloned();
        let side_for_hops = side.clone();
        let waiters = waiters.clone();
        consumers.push(tokio::spawn(async move {
            let _channel = channel;
            while let Some(Ok(delivery)) = consumer.next().await {
                let next = next.clone();
                let side = side_for_hops.clone();
                let waiters = waiters.clone();
                side.busy.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let msg: Value = serde_json::from_slice(&delivery.data).expect("raw json");
                    let run = msg["correlationId"].as_str().expect("run id").to_string();
                    let hop = msg["hop"].as_u64().expect("hop") as usize;
                    if let Some(recorder) = &side.recorder {
                        recorder.record(&run, hop).await;
                    }
                    if let Some(ex) = &next {
                        let body = raw_body(&run, hop + 1, side.size);
                        let definition = side.headers_definition.as_deref();
                        raw_publish(&side.publish, ex, &run, hop + 1, definition, &body).await;
                    }
                    // Ack before a run counts as finished: once the last run is
                    // finished the bench tears the channels down.
                    if let Err(e) = delivery.acker.ack(BasicAckOptions::default()).await {
                        eprintln!("raw ack failed: {e}");
                    }
                    if next.is_none() {
                        waiters.finish(Uuid::parse_str(&run).expect("uuid"), true);
                    }
                    side.busy.fetch_sub(1, Ordering::SeqCst);
                });
            }
        }));
    }
    side.consumers
        .lock()
        .expect("raw consumers lock")
        .extend(consumers);
    side
}

impl RawSide {
    async fn run(&self, args: &Args, runs: usize, waiters: &Arc<Waiters>) -> Measured {
        let publish = self.publish.clone();
        let first = self.entries[0].clone();
        let size = self.size;
        let definition = self.headers_definition.clone();
        drive(runs, args.steps, args.concurrency, waiters, move || {
            let publish = publish.clone();
            let first = first.clone();
            let definition = definition.clone();
            async move {
                let id = Uuid::new_v4();
                let run = id.to_string();
                let body = raw_body(&run, 1, size);
                raw_publish(&publish, &first, &run, 1, definition.as_deref(), &body).await;
                id
            }
        })
        .await
    }

    async fn cleanup(&self) {
        // A run is finished at its last hop, while earlier hops may still be
        // acking: closing their channels now would fail those acks.
        let patience = Instant::now() + Duration::from_secs(10);
        while self.busy.load(Ordering::SeqCst) > 0 && Instant::now() < patience {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        for c in self.consumers.lock().expect("raw consumers lock").drain(..) {
            c.abort();
        }
        if let Some(recorder) = &self.recorder {
            let _ = std::fs::remove_dir_all(&recorder.dir);
        }
        let admin = match self.conn.create_channel().await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("raw cleanup: no channel: {e}");
                return;
            }
        };
        for q in &self.queues {
            if let Err(e) = admin
                .queue_delete(ShortString::from(q.clone()), Default::default())
                .await
            {
                eprintln!("raw cleanup: deleting queue {q}: {e}");
            }
        }
        for ex in &self.exchanges {
            if let Err(e) = admin
                .exchange_delete(ShortString::from(ex.clone()), Default::default())
                .await
            {
                eprintln!("raw cleanup: deleting exchange {ex}: {e}");
            }
        }
        let _ = self.conn.close(200, ShortString::from("bench done")).await;
    }
}

// ---------------------------------------------------------------- counting mongo proxy

/// Commands the driver sent, by name (OP_MSG body's first key).
#[derive(Default)]
struct CommandCounts {
    by_name: Mutex<BTreeMap<String, u64>>,
}

impl CommandCounts {
    fn bump(&self, name: &str) {
        *self
            .by_name
            .lock()
            .expect("counts lock")
            .entry(name.to_string())
            .or_default() += 1;
    }
    fn snapshot(&self) -> BTreeMap<String, u64> {
        self.by_name.lock().expect("counts lock").clone()
    }
}

/// The command name of one client->server wire message.
fn command_name(msg: &[u8]) -> String {
    let op = msg
        .get(12..16)
        .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    match op {
        // OP_MSG: header(16) flags(4) kind(1)=0 then a BSON document: len(4) type(1) name\0
        Some(2013) if msg.get(20) == Some(&0) => {
            let name = msg.get(26..).unwrap_or_default();
            let end = name.iter().position(|b| *b == 0).unwrap_or(0);
            String::from_utf8_lossy(&name[..end]).into_owned()
        }
        Some(2012) => "<compressed>".into(),
        Some(other) => format!("<op {other}>"),
        None => "<short>".into(),
    }
}

/// Listens on 127.0.0.1 and forwards every connection to `upstream`, counting
/// the commands clients send. Returns the URL to give the driver.
async fn mongo_proxy(upstream: String, counts: Arc<CommandCounts>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("proxy listens");
    let port = listener.local_addr().expect("proxy address").port();
    tokio::spawn(async move {
        loop {
            let Ok((client, _)) = listener.accept().await else {
                return;
            };
            let upstream = upstream.clone();
            let counts = counts.clone();
            tokio::spawn(async move {
                let Ok(server) = tokio::net::TcpStream::connect(&upstream).await else {
                    return;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                let up = async move {
                    loop {
                        let mut len = [0u8; 4];
                        if cr.read_exact(&mut len).await.is_err() {
                            return;
                        }
                        let n = i32::from_le_bytes(len).max(4) as usize;
                        let mut msg = vec![0u8; n];
                        msg[..4].copy_from_slice(&len);
                        if cr.read_exact(&mut msg[4..]).await.is_err() {
                            return;
                        }
                        counts.bump(&command_name(&msg));
                        if sw.write_all(&msg).await.is_err() {
                            return;
                        }
                    }
                };
                let down = async move {
                    let _ = tokio::io::copy(&mut sr, &mut cw).await;
                };
                tokio::select! {
                    _ = up => {},
                    _ = down => {},
                }
            });
        }
    });
    format!("mongodb://127.0.0.1:{port}/?directConnection=true")
}

/// `host:port` of a `mongodb://[user:pass@]host:port[/...]` URL.
fn mongo_host_port(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = host.split(',').next().unwrap_or(host);
    if host.contains(':') {
        host.to_string()
    } else {
        format!("{host}:27017")
    }
}

fn diff(after: &BTreeMap<String, u64>, before: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0)))
        .filter(|(_, v)| *v > 0)
        .collect()
}

// ---------------------------------------------------------------- CPU accounting

/// CPU time (user + system) read from `/proc`: of the broker (a local
/// `beam.smp`, when there is one) and of this process's threads grouped by name
/// (`tokio-runtime-w`, `isoqube-sqlite`, lapin's threads...). The machine is
/// CPU-bound, so where the CPU goes per step says more than wall time alone.
#[derive(Clone, Default)]
struct CpuSample {
    broker: Option<u64>,
    threads: BTreeMap<String, u64>,
    /// Context switches (voluntary + involuntary) of this process's threads.
    switches: u64,
}

/// `voluntary_ctxt_switches` + `nonvoluntary_ctxt_switches` of a `/proc/.../status`.
fn context_switches(path: &std::path::Path) -> u64 {
    std::fs::read_to_string(path)
        .map(|text| {
            text.lines()
                .filter(|l| l.contains("ctxt_switches:"))
                .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum()
        })
        .unwrap_or(0)
}

/// utime + stime (fields 14 and 15) of a `/proc/.../stat` file, in clock ticks.
fn stat_ticks(path: &std::path::Path) -> Option<(String, u64)> {
    let text = std::fs::read_to_string(path).ok()?;
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let name = text[open + 1..close].to_string();
    let fields: Vec<&str> = text[close + 2..].split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((name, utime + stime))
}

fn broker_pid() -> Option<u32> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let comm = std::fs::read_to_string(e.path().join("comm")).ok()?;
        (comm.trim() == "beam.smp").then_some(pid)
    })
}

impl CpuSample {
    fn take(broker: Option<u32>) -> Self {
        let broker = broker
            .and_then(|pid| stat_ticks(std::path::Path::new(&format!("/proc/{pid}/stat"))))
            .map(|(_, t)| t);
        let mut threads = BTreeMap::new();
        let mut switches = 0;
        if let Ok(dir) = std::fs::read_dir("/proc/self/task") {
            for e in dir.flatten() {
                if let Some((name, t)) = stat_ticks(&e.path().join("stat")) {
                    // tokio numbers nothing, lapin numbers its threads: group by stem
                    let stem = name.trim_end_matches(|c: char| c.is_ascii_digit() || c == '-');
                    *threads.entry(stem.to_string()).or_insert(0) += t;
                }
                switches += context_switches(&e.path().join("status"));
            }
        }
        CpuSample {
            broker,
            threads,
            switches,
        }
    }

    /// CPU microseconds per step between `self` and `later`, as one line.
    fn per_step(&self, later: &CpuSample, steps: usize) -> String {
        // USER_HZ is 100 on Linux (sysconf is not reachable without libc).
        let us = |ticks: u64| ticks as f64 * 10_000.0 / steps.max(1) as f64;
        let total = |s: &CpuSample| s.threads.values().sum::<u64>();
        let own = total(later).saturating_sub(total(self));
        let mut parts = vec![format!("bench process {:.0}", us(own))];
        if let (Some(a), Some(b)) = (self.broker, later.broker) {
            parts.insert(0, format!("broker {:.0}", us(b.saturating_sub(a))));
        }
        let mut groups: Vec<(String, u64)> = later
            .threads
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.saturating_sub(self.threads.get(k).copied().unwrap_or(0)),
                )
            })
            .filter(|(_, v)| *v > 0)
            .collect();
        groups.sort_by_key(|g| std::cmp::Reverse(g.1));
        let groups = groups
            .iter()
            .map(|(k, v)| format!("{k} {:.0}", us(*v)))
            .collect::<Vec<_>>()
            .join(", ");
        // Threads that ended in between take their switches with them: a
        // lower bound, good enough for a bench whose threads live throughout.
        let switches = later.switches.saturating_sub(self.switches) as f64 / steps.max(1) as f64;
        format!(
            "{} us of CPU per step ({groups}); {switches:.1} context switches per step",
            parts.join(", ")
        )
    }
}

// ---------------------------------------------------------------- main

fn row(side: &str, rep: usize, m: &Measured) {
    println!(
        "{side:<10} {rep:>3} {:>6} {:>7} {:>8.2} {:>9.0} {:>8.1} {:>8.1} {:>8.1} {:>6}",
        m.runs,
        m.steps,
        m.wall.as_secs_f64(),
        m.steps_per_s(),
        m.runs_per_s(),
        m.pct(0.50),
        m.pct(0.99),
        m.failed
    );
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return f64::NAN;
    }
    v[v.len() / 2]
}

fn main() {
    let args = parse_args();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(bench(args));
}

async fn bench(args: Args) {
    let id = Uuid::new_v4().simple().to_string()[..8].to_string();
    let warmup = args
        .warmup
        .unwrap_or((args.runs / 10).max(args.concurrency));
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

    println!(
        "chain bench: K={} steps, C={} runs in flight (consumer concurrency {}), N={} runs \
         (+{warmup} warm-up), store={:?}, transport={:?}, step message ~{size} B, id {id}, \
         {} CPUs",
        args.steps,
        args.concurrency,
        args.concurrency,
        args.runs,
        args.store,
        args.transport,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );

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

    println!(
        "{:<10} {:>3} {:>6} {:>7} {:>8} {:>9} {:>8} {:>8} {:>8} {:>6}",
        "side", "rep", "runs", "steps", "wall_s", "steps/s", "runs/s", "p50_ms", "p99_ms", "failed"
    );
    let mut iso_rates = Vec::new();
    let mut raw_rates = Vec::new();
    // (floor steps/s, isoqube steps/s of the same rep)
    let mut floor_rates = Vec::new();
    let mut ratios = Vec::new();
    let mut mongo_per_step = Vec::new();
    let mut store_lines = Vec::new();
    for rep in 1..=args.repeat {
        let before = counts.snapshot();
        let t0 = timing.snapshot();
        let c0 = CpuSample::take(broker);
        let m = iso.run(&args, args.runs, &waiters).await;
        let c1 = CpuSample::take(broker);
        let t1 = timing.snapshot();
        let after = counts.snapshot();
        row("isoqube", rep, &m);
        let avg_ms = |ns: u64, n: u64| ns as f64 / n.max(1) as f64 / 1e6;
        store_lines.push(format!(
            "isoqube rep {rep}: store wait per step (as the runtime sees it): claim_step {:.2} ms, complete_step {:.2} ms (mean over {} + {} calls)",
            avg_ms(t1[0] - t0[0], t1[1] - t0[1]),
            avg_ms(t1[2] - t0[2], t1[3] - t0[3]),
            t1[1] - t0[1],
            t1[3] - t0[3],
        ));
        store_lines.push(format!("isoqube rep {rep}: {}", c0.per_step(&c1, m.steps)));
        iso_rates.push(m.steps_per_s());
        if args.store == StoreKind::Mongo {
            mongo_per_step.push((diff(&after, &before), m.runs, m.steps));
        }
        for raw in &raws {
            let c0 = CpuSample::take(broker);
            let r = raw.run(&args, args.runs, &waiters).await;
            let c1 = CpuSample::take(broker);
            let label = raw.shape.label();
            row(label, rep, &r);
            store_lines.push(format!("{label} rep {rep}: {}", c0.per_step(&c1, r.steps)));
            match raw.shape {
                RawShape::Plain => {
                    raw_rates.push(r.steps_per_s());
                    ratios.push(m.steps_per_s() / r.steps_per_s());
                }
                RawShape::Floor => floor_rates.push((r.steps_per_s(), m.steps_per_s())),
            }
        }
    }
    if args.repeat > 1 {
        println!(
            "median steps/s: isoqube {:.0}{}",
            median(iso_rates.clone()),
            if raw_rates.is_empty() {
                String::new()
            } else {
                format!(", raw-lapin {:.0}", median(raw_rates.clone()))
            }
        );
    }
    if !ratios.is_empty() {
        let r = median(ratios.clone());
        println!(
            "isoqube/raw steps/s ratio: {:.2} (per rep: {}) — target >= 0.70: {}",
            r,
            ratios
                .iter()
                .map(|r| format!("{r:.2}"))
                .collect::<Vec<_>>()
                .join(", "),
            if r >= 0.70 { "met" } else { "MISSED" }
        );
    }
    if !floor_rates.is_empty() && floor_rates.len() == raw_rates.len() {
        let floor_of_raw: Vec<f64> = floor_rates
            .iter()
            .zip(&raw_rates)
            .map(|((f, _), r)| f / r)
            .collect();
        let iso_of_floor: Vec<f64> = floor_rates.iter().map(|(f, i)| i / f).collect();
        let list = |v: &[f64]| {
            v.iter()
                .map(|r| format!("{r:.2}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        println!(
            "floor/raw steps/s ratio: {:.2} (per rep: {}); isoqube/floor: {:.2} (per rep: {})",
            median(floor_of_raw.clone()),
            list(&floor_of_raw),
            median(iso_of_floor.clone()),
            list(&iso_of_floor)
        );
    }
    for line in &store_lines {
        println!("{line}");
    }
    for (cmds, runs, steps) in &mongo_per_step {
        let total: u64 = cmds.values().sum();
        println!(
            "mongo commands during the measured runs ({runs} runs, {steps} steps): {total} \
             ({:.2} per step, {:.2} per run)",
            total as f64 / *steps as f64,
            total as f64 / *runs as f64
        );
        for (name, n) in cmds {
            println!(
                "  {name:<16} {n:>8}  {:>6.2}/step  {:>6.2}/run",
                *n as f64 / *steps as f64,
                *n as f64 / *runs as f64
            );
        }
    }

    for raw in &raws {
        raw.cleanup().await;
    }
    iso.cleanup().await;
    // Let the MongoDB client finish closing its pool before the runtime goes away.
    tokio::time::sleep(Duration::from_millis(300)).await;
}
