//! Bulk requeue and discard of a big error queue while a service consumes
//!: a consumer that fails every message fills its error queue with
//! `--bulk` messages (1,000 by default); then, while more events arrive and
//! every 10th message fails again (so new faults land in the same error queue
//! during the passes), the control center requeues the first 60 % listed and
//! discards the rest. Every listed message must be reported done, and in the
//! end each one is accounted for exactly once: consumed (once), back in the
//! error queue (a poisoned one, failed again), or discarded (never consumed,
//! not in the queue); the events sent meanwhile likewise. On RabbitMQ (the
//! machine's broker, names of its own), with classic queues and with quorum
//! queues, and SQLite: the store holds only the endpoint's record here, so
//! one store is enough.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use controlcenter::Operator;
use isoqube::publish::Parent;
use isoqube::testing::{amqp_url, unique};
use isoqube::transport::{AmqpConfig, AmqpTransport, ERROR_SUFFIX};
use isoqube::{consumer, event, Publisher, Registry, Service, SqliteStore, StepContext, Transport};
use serde::{Deserialize, Serialize};

/// The event of this scenario.
#[event]
#[derive(Serialize, Deserialize)]
pub struct ChaosBulk {
    /// Its number.
    pub n: usize,
    /// It fails every time.
    pub poison: bool,
}

/// The endpoint `chaos_bulk` consumes (and its error queue).
const ENDPOINT: &str = "chaos-bulk";

/// While set, every message fails (filling the error queue).
static FAILING: AtomicBool = AtomicBool::new(true);

/// How many times each message was consumed successfully.
fn consumed() -> &'static Mutex<BTreeMap<usize, usize>> {
    static SEEN: OnceLock<Mutex<BTreeMap<usize, usize>>> = OnceLock::new();
    SEEN.get_or_init(Default::default)
}

#[consumer(service = "chaos-bulk", retry = none(), concurrency = 32)]
async fn chaos_bulk(ev: ChaosBulk, _ctx: StepContext) -> anyhow::Result<()> {
    if ev.poison || FAILING.load(Ordering::SeqCst) {
        anyhow::bail!("message {} fails on purpose", ev.n);
    }
    if let Ok(mut seen) = consumed().lock() {
        *seen.entry(ev.n).or_default() += 1;
    }
    Ok(())
}

pub async fn bulk(n: usize, quorum: bool) {
    let started = Instant::now();
    let label = if quorum { "bulk, quorum" } else { "bulk" };
    FAILING.store(true, Ordering::SeqCst);
    if let Ok(mut seen) = consumed().lock() {
        seen.clear();
    }
    let transport = AmqpTransport::connect(AmqpConfig {
        url: amqp_url(),
        prefix: format!("{}.", unique("chaos-bulk")),
        quorum,
        ..Default::default()
    })
    .await
    .unwrap_or_else(|e| panic!("RabbitMQ must be reachable: {e}"));
    let path = std::env::temp_dir()
        .join("isoqube-chaos")
        .join(format!("bulk-{}.db", uuid::Uuid::new_v4()));
    let store = Arc::new(SqliteStore::open(&path).await.expect("store"));
    let service = Service::builder("chaos-bulk")
        .transport(transport.clone())
        .store_arc(store.clone())
        .services(["chaos-bulk"])
        .start()
        .await
        .expect("service");
    let shared: Arc<dyn Transport> = Arc::new(transport.clone());
    let publisher = Publisher::new(
        shared.clone(),
        Arc::new(Registry::linked().expect("registry")),
        Some(store.clone()),
        "chaos",
    );
    let send = |from: usize, to: usize| {
        let publisher = publisher.clone();
        async move {
            for i in from..to {
                let ev = ChaosBulk {
                    n: i,
                    poison: i % 10 == 0,
                };
                publisher
                    .publish_event(&ev, &Parent::default())
                    .await
                    .unwrap_or_else(|e| panic!("publish {i}: {e}"));
            }
        }
    };
    let error_queue = format!("{ENDPOINT}{ERROR_SUFFIX}");
    send(0, n).await;
    wait_for(&format!("{n} faults"), || async {
        shared.message_count(&error_queue).await.ok() == Some(n as u32)
    })
    .await;
    let filled = started.elapsed();
    FAILING.store(false, Ordering::SeqCst);

    let op = Operator::new(store.clone(), shared.clone()).expect("operator");
    let listed = op
        .faults_where(Some(ENDPOINT), |_| true)
        .await
        .expect("list");
    assert_eq!(listed.len(), n, "listed");
    let listed_n: Vec<usize> = listed.iter().map(number).collect();
    // Events meanwhile: a tenth of them fail into the error queue during
    // the passes.
    let extra = n / 5;
    let traffic = tokio::spawn(send(n, n + extra));
    let (requeue, discard) = listed.split_at(n * 6 / 10);
    let acted = Instant::now();
    let r = op.requeue_each(requeue.to_vec()).await;
    let d = op.discard_each(discard.to_vec()).await;
    let acting = acted.elapsed();
    traffic.await.expect("traffic");
    for (verb, b, want) in [
        ("requeued", &r, requeue.len()),
        ("discarded", &d, discard.len()),
    ] {
        assert!(
            b.failed.is_empty() && b.errors.is_empty(),
            "{verb}: {:?} {:?}",
            b.failed.first(),
            b.errors
        );
        assert_eq!(b.done.len(), want, "{verb}: every listed message reported");
    }

    // Where each message must end: consumed once, or failed again into the
    // error queue (the poisoned), or discarded (nowhere).
    let requeued: Vec<usize> = listed_n[..requeue.len()].to_vec();
    let sent: Vec<usize> = requeued.iter().copied().chain(n..n + extra).collect();
    let want_ok: BTreeMap<usize, usize> = sent
        .iter()
        .filter(|i| *i % 10 != 0)
        .map(|&i| (i, 1))
        .collect();
    let mut want_failed: Vec<usize> = sent.iter().copied().filter(|i| i % 10 == 0).collect();
    want_failed.sort_unstable();
    wait_for("the consumer and the error queue to settle", || async {
        let ok = consumed().lock().map(|s| s.len()).unwrap_or(0);
        let failed = shared.message_count(&error_queue).await.unwrap_or(0);
        ok >= want_ok.len() && failed as usize >= want_failed.len()
    })
    .await;
    let ok = consumed().lock().map(|s| s.clone()).unwrap_or_default();
    assert!(
        ok == want_ok,
        "consumed once each: {} of {} (first differences: {:?})",
        ok.len(),
        want_ok.len(),
        ok.iter()
            .filter(|(k, v)| want_ok.get(k) != Some(v))
            .take(5)
            .collect::<Vec<_>>()
    );
    let mut failed: Vec<usize> = op
        .faults_where(Some(ENDPOINT), |_| true)
        .await
        .expect("list")
        .iter()
        .map(number)
        .collect();
    failed.sort_unstable();
    assert_eq!(
        failed, want_failed,
        "the error queue holds the poisoned, once each"
    );
    println!(
        "chaos[{label}]: {n} faults ({:.1} s to fill); requeued {} and discarded {} in {:.1} s \
         while {extra} more events arrived; 0 lost: {} consumed once, {} failed again, none \
         of the discarded seen; {:.0} s",
        filled.as_secs_f64(),
        r.done.len(),
        d.done.len(),
        acting.as_secs_f64(),
        ok.len(),
        failed.len(),
        started.elapsed().as_secs_f64()
    );
    service.shutdown().await.expect("shutdown");
    let _ = transport.delete_declared().await;
}

/// The `n` of a listed fault's `ChaosBulk` body.
fn number(f: &controlcenter::ops::FaultView) -> usize {
    serde_json::from_str::<serde_json::Value>(&f.body)
        .ok()
        .and_then(|v| v["message"]["n"].as_u64())
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or_else(|| panic!("not a ChaosBulk message: {}", f.body))
}

/// Polls `done` until it holds, for up to two minutes.
async fn wait_for<F, Fut>(what: &str, done: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(120);
    while !done().await {
        assert!(Instant::now() < deadline, "chaos[bulk]: no {what} in time");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
