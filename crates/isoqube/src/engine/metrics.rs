//! Engine layer: a service's metrics, plain atomics the hot path bumps without
//! a lock (the service creates one [`EndpointMetrics`] per endpoint at start-up
//! and hands it to that endpoint's loop), and their Prometheus text rendering.
//! Uses only `std`; the `health` surface serves them over HTTP.
//!
//! The metrics, labelled by `endpoint` (the consumer's queue):
//!
//! | name | type | counts |
//! | --- | --- | --- |
//! | `isoqube_messages_consumed_total` | counter | deliveries taken from the queue |
//! | `isoqube_messages_failed_total` | counter | consumer attempts that failed |
//! | `isoqube_messages_retried_total` | counter | attempts retried after a failure |
//! | `isoqube_messages_dead_lettered_total` | counter | messages moved to `<q>_error` or `<q>_skipped` |
//! | `isoqube_messages_published_total` | counter | messages the endpoint published (next steps and extra events) |
//! | `isoqube_messages_in_flight` | gauge | deliveries being handled now |
//! | `isoqube_endpoint_consuming` | gauge | 1 while the endpoint holds a consume stream |
//! | `isoqube_step_duration_seconds` | histogram | time in the consumer per message, retries included |
//!
//! plus `isoqube_up` (always 1), `isoqube_ready` (the readiness check, 0 or 1)
//! and `isoqube_service_info{service,instance}` (always 1).
//!
//! ```
//! use std::time::Duration;
//! let metrics = isoqube::health::Metrics::new("builder", "builder@host:1", ["linux-build"]);
//! let ep = metrics.endpoint("linux-build").unwrap();
//! ep.record_consumed();
//! ep.observe_step(Duration::from_millis(30));
//! let text = metrics.render(true);
//! assert!(text.contains("isoqube_messages_consumed_total{endpoint=\"linux-build\"} 1\n"));
//! assert!(text.contains("isoqube_step_duration_seconds_count{endpoint=\"linux-build\"} 1\n"));
//! ```

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Upper bounds (seconds) of the `isoqube_step_duration_seconds` buckets; `+Inf` follows.
pub const DURATION_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0,
];

/// A monotonically increasing count, cheap to clone and to bump from any task.
///
/// ```
/// let c = isoqube::health::Counter::default();
/// c.inc();
/// c.clone().add(2);
/// assert_eq!(c.get(), 3);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Counter(Arc<AtomicU64>);

impl Counter {
    /// Adds one.
    pub fn inc(&self) {
        self.add(1);
    }

    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// The current value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A histogram of durations over [`DURATION_BUCKETS`].
///
/// ```
/// use std::time::Duration;
/// let h = isoqube::health::Histogram::default();
/// h.observe(Duration::from_millis(3));
/// h.observe(Duration::from_secs(90));
/// assert_eq!(h.count(), 2);
/// assert_eq!(h.cumulative_buckets()[0], 1); // le="0.005"
/// ```
#[derive(Debug, Default)]
pub struct Histogram {
    /// Non-cumulative counts per bucket; observations above the last bound are in `count` only.
    buckets: [AtomicU64; DURATION_BUCKETS.len()],
    sum_micros: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    /// Records one observation.
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        if let Some(i) = DURATION_BUCKETS.iter().position(|le| secs <= *le) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        let micros = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Sum of the observations, in seconds.
    pub fn sum_seconds(&self) -> f64 {
        self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6
    }

    /// Cumulative counts per bound of [`DURATION_BUCKETS`] (without `+Inf`).
    pub fn cumulative_buckets(&self) -> Vec<u64> {
        let mut total = 0;
        self.buckets
            .iter()
            .map(|b| {
                total += b.load(Ordering::Relaxed);
                total
            })
            .collect()
    }
}

/// The counters of one consumer endpoint.
///
/// ```
/// let m = isoqube::health::Metrics::new("svc", "svc@h:1", ["build"]);
/// let ep = m.endpoint("build").unwrap();
/// ep.record_failed_attempt();
/// assert_eq!(ep.failed(), 1);
/// assert_eq!(ep.name(), "build");
/// ```
#[derive(Debug)]
pub struct EndpointMetrics {
    name: String,
    consumed: Counter,
    failed: Counter,
    retried: Counter,
    dead_lettered: Counter,
    published: Counter,
    in_flight: AtomicI64,
    consuming: AtomicBool,
    step_duration: Histogram,
}

impl EndpointMetrics {
    fn new(name: String) -> Self {
        EndpointMetrics {
            name,
            consumed: Counter::default(),
            failed: Counter::default(),
            retried: Counter::default(),
            dead_lettered: Counter::default(),
            published: Counter::default(),
            in_flight: AtomicI64::new(0),
            consuming: AtomicBool::new(false),
            step_duration: Histogram::default(),
        }
    }

    /// The endpoint (queue) name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Counts a delivery taken from the queue.
    pub fn record_consumed(&self) {
        self.consumed.inc();
    }

    /// Counts a consumer attempt that failed.
    pub fn record_failed_attempt(&self) {
        self.failed.inc();
    }

    /// Counts a retry after a failed attempt.
    pub fn record_retry(&self) {
        self.retried.inc();
    }

    /// Counts a message moved to the error or skipped queue.
    pub fn record_dead_lettered(&self) {
        self.dead_lettered.inc();
    }

    /// Records the time a message spent in the consumer (all attempts).
    pub fn observe_step(&self, d: Duration) {
        self.step_duration.observe(d);
    }

    /// The counter of messages this endpoint published (handed to its publisher).
    pub fn published_counter(&self) -> Counter {
        self.published.clone()
    }

    /// Marks one delivery in flight until the returned guard drops.
    pub fn in_flight_guard(self: &Arc<Self>) -> InFlightGuard {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlightGuard(self.clone())
    }

    /// Whether the endpoint holds a consume stream.
    pub fn set_consuming(&self, on: bool) {
        self.consuming.store(on, Ordering::Relaxed);
    }

    /// Deliveries taken from the queue.
    pub fn consumed(&self) -> u64 {
        self.consumed.get()
    }

    /// Consumer attempts that failed.
    pub fn failed(&self) -> u64 {
        self.failed.get()
    }

    /// Retries after failed attempts.
    pub fn retried(&self) -> u64 {
        self.retried.get()
    }

    /// Messages moved to the error or skipped queue.
    pub fn dead_lettered(&self) -> u64 {
        self.dead_lettered.get()
    }

    /// Messages published.
    pub fn published(&self) -> u64 {
        self.published.get()
    }

    /// Deliveries being handled now.
    pub fn in_flight(&self) -> i64 {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Whether the endpoint holds a consume stream now.
    pub fn is_consuming(&self) -> bool {
        self.consuming.load(Ordering::Relaxed)
    }

    /// The step duration histogram.
    pub fn step_duration(&self) -> &Histogram {
        &self.step_duration
    }
}

/// Keeps a delivery counted in `isoqube_messages_in_flight` while alive (also
/// when the task handling it is aborted).
pub struct InFlightGuard(Arc<EndpointMetrics>);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The metrics of one service instance: one [`EndpointMetrics`] per endpoint,
/// fixed at start-up.
///
/// ```
/// let m = isoqube::health::Metrics::new("svc", "svc@h:1", ["a", "b"]);
/// assert_eq!(m.endpoints().len(), 2);
/// assert!(m.endpoint("c").is_none());
/// assert!(m.render(false).contains("isoqube_ready 0\n"));
/// ```
#[derive(Debug)]
pub struct Metrics {
    service: String,
    instance: String,
    endpoints: Vec<Arc<EndpointMetrics>>,
    stopping: AtomicBool,
}

impl Metrics {
    /// Metrics for a service instance hosting these endpoints.
    pub fn new<S: Into<String>>(
        service: impl Into<String>,
        instance: impl Into<String>,
        endpoints: impl IntoIterator<Item = S>,
    ) -> Self {
        Metrics {
            service: service.into(),
            instance: instance.into(),
            endpoints: endpoints
                .into_iter()
                .map(|e| Arc::new(EndpointMetrics::new(e.into())))
                .collect(),
            stopping: AtomicBool::new(false),
        }
    }

    /// Every endpoint's metrics, in start-up order.
    pub fn endpoints(&self) -> &[Arc<EndpointMetrics>] {
        &self.endpoints
    }

    /// One endpoint's metrics.
    pub fn endpoint(&self, name: &str) -> Option<&Arc<EndpointMetrics>> {
        self.endpoints.iter().find(|e| e.name == name)
    }

    /// Marks the service as shutting down (it is no longer ready).
    pub fn set_stopping(&self) {
        self.stopping.store(true, Ordering::SeqCst);
    }

    /// Whether shutdown has begun.
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// The Prometheus text exposition (format 0.0.4); `ready` fills `isoqube_ready`.
    pub fn render(&self, ready: bool) -> String {
        let mut out = String::with_capacity(4096);
        self.render_service(&mut out, ready);
        self.render_counters(&mut out);
        self.render_gauges(&mut out);
        self.render_step_durations(&mut out);
        out
    }

    /// `isoqube_up`, `isoqube_ready` and `isoqube_service_info`.
    fn render_service(&self, out: &mut String, ready: bool) {
        family(out, "isoqube_up", "gauge", "1 while the service runs.");
        out.push_str("isoqube_up 1\n");
        family(
            out,
            "isoqube_ready",
            "gauge",
            "1 when the service is ready (transport, consumers, store).",
        );
        let _ = writeln!(out, "isoqube_ready {}", u8::from(ready));
        family(
            out,
            "isoqube_service_info",
            "gauge",
            "The service name and instance id.",
        );
        let _ = writeln!(
            out,
            "isoqube_service_info{{service=\"{}\",instance=\"{}\"}} 1",
            escape(&self.service),
            escape(&self.instance)
        );
    }

    /// The per-endpoint counters.
    fn render_counters(&self, out: &mut String) {
        let counters: [(&str, &str, CounterOf); 5] = [
            (
                "isoqube_messages_consumed_total",
                "Deliveries taken from the endpoint's queue.",
                EndpointMetrics::consumed,
            ),
            (
                "isoqube_messages_failed_total",
                "Consumer attempts that failed.",
                EndpointMetrics::failed,
            ),
            (
                "isoqube_messages_retried_total",
                "Attempts retried after a failure.",
                EndpointMetrics::retried,
            ),
            (
                "isoqube_messages_dead_lettered_total",
                "Messages moved to the endpoint's error or skipped queue.",
                EndpointMetrics::dead_lettered,
            ),
            (
                "isoqube_messages_published_total",
                "Messages the endpoint published (next steps and extra events).",
                EndpointMetrics::published,
            ),
        ];
        for (name, help, get) in counters {
            family(out, name, "counter", help);
            for ep in &self.endpoints {
                let _ = writeln!(
                    out,
                    "{name}{{endpoint=\"{}\"}} {}",
                    escape(&ep.name),
                    get(ep)
                );
            }
        }
    }

    /// The per-endpoint gauges: in flight, consuming.
    fn render_gauges(&self, out: &mut String) {
        family(
            out,
            "isoqube_messages_in_flight",
            "gauge",
            "Deliveries being handled now.",
        );
        for ep in &self.endpoints {
            let _ = writeln!(
                out,
                "isoqube_messages_in_flight{{endpoint=\"{}\"}} {}",
                escape(&ep.name),
                ep.in_flight()
            );
        }
        family(
            out,
            "isoqube_endpoint_consuming",
            "gauge",
            "1 while the endpoint holds a consume stream.",
        );
        for ep in &self.endpoints {
            let _ = writeln!(
                out,
                "isoqube_endpoint_consuming{{endpoint=\"{}\"}} {}",
                escape(&ep.name),
                u8::from(ep.is_consuming())
            );
        }
    }

    /// The per-endpoint histogram of time spent in the consumer.
    fn render_step_durations(&self, out: &mut String) {
        let name = "isoqube_step_duration_seconds";
        family(
            out,
            name,
            "histogram",
            "Time a message spent in its consumer, retries included.",
        );
        for ep in &self.endpoints {
            let label = escape(&ep.name);
            let h = &ep.step_duration;
            // Read the count first: buckets never exceed it even under concurrent updates.
            let count = h.count();
            for (le, n) in DURATION_BUCKETS.iter().zip(h.cumulative_buckets()) {
                let _ = writeln!(
                    out,
                    "{name}_bucket{{endpoint=\"{label}\",le=\"{le}\"}} {}",
                    n.min(count)
                );
            }
            let _ = writeln!(
                out,
                "{name}_bucket{{endpoint=\"{label}\",le=\"+Inf\"}} {count}"
            );
            let _ = writeln!(
                out,
                "{name}_sum{{endpoint=\"{label}\"}} {}",
                h.sum_seconds()
            );
            let _ = writeln!(out, "{name}_count{{endpoint=\"{label}\"}} {count}");
        }
    }
}

/// Reads one counter of an endpoint.
type CounterOf = fn(&EndpointMetrics) -> u64;

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Escapes a label value (`\`, `"` and newlines).
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
