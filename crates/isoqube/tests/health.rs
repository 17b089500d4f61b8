//! Health and metrics over HTTP (`/health/live`, `/health/ready`, `/metrics`) on
//! both pairs: the embedded one (in-process transport + SQLite file) and the
//! real one (RabbitMQ on a fresh name prefix + MongoDB through `mongo_support`).
//! The real servers must be reachable: these tests fail, not skip, when they
//! are not.

mod mongo_support;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use isoqube::model::{ClaimOutcome, CompleteOutcome, FailOutcome};
use isoqube::transport::{AmqpConfig, AmqpTransport};
use isoqube::{
    consumer, event, model::LogRecord, model::NextStep, model::ServiceRecord, model::StepKey,
    model::TopicRecord, Control, Definition, Run, RunFilter, RunStatus, RunStore, Service,
    StepContext, StepStatus, Transport, Variables,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------- events and consumers

/// First step: succeeds (after `sleep_ms.health-first` milliseconds, if set).
#[event]
#[derive(Serialize, Deserialize)]
pub struct HealthFirst {}

/// Second step: fails its first attempt, succeeds on the retry.
#[event]
#[derive(Serialize, Deserialize)]
pub struct HealthSecond {}

#[consumer(service = "health")]
async fn health_first(_ev: HealthFirst, ctx: StepContext) -> anyhow::Result<()> {
    if let Some(ms) = ctx
        .vars()
        .get("sleep_ms")
        .and_then(|m| m.get("health-first"))
        .and_then(Value::as_u64)
    {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    Ok(())
}

#[consumer(service = "health", retry = immediate(attempts = 4))]
async fn health_flaky(_ev: HealthSecond, ctx: StepContext) -> anyhow::Result<()> {
    if ctx.attempt() == 1 {
        anyhow::bail!("health-flaky fails its first attempt on purpose");
    }
    Ok(())
}

// ---------------------------------------------------------------- pairs

struct Pair {
    transport: Arc<dyn Transport>,
    store: Arc<dyn RunStore>,
}

async fn embedded_pair() -> Pair {
    let path = std::env::temp_dir()
        .join("isoqube-tests")
        .join(format!("health-{}.db", Uuid::new_v4()));
    let store = isoqube::SqliteStore::open(&path)
        .await
        .expect("sqlite store");
    Pair {
        transport: Arc::new(isoqube::InProcessTransport::new()),
        store: Arc::new(store),
    }
}

async fn real_pair() -> Pair {
    let config = AmqpConfig {
        prefix: format!("h-{}.", &Uuid::new_v4().simple().to_string()[..8]),
        ..Default::default()
    };
    let url = isoqube::transport::amqp::redact_url(&config.url);
    let transport = AmqpTransport::connect(config)
        .await
        .unwrap_or_else(|e| panic!("RabbitMQ must be reachable at {url} for these tests: {e}"));
    Pair {
        transport: Arc::new(transport),
        store: Arc::new(mongo_support::store("isoqube_health").await),
    }
}

/// A store whose `ping` can be broken (fails) or hung (never answers); every
/// other operation goes to the real store underneath.
struct SwitchStore {
    inner: Arc<dyn RunStore>,
    /// 0 healthy, 1 ping fails, 2 ping hangs.
    mode: AtomicU8,
}

const HEALTHY: u8 = 0;
const BROKEN: u8 = 1;
const HUNG: u8 = 2;

#[async_trait]
impl RunStore for SwitchStore {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }
    async fn ping(&self) -> isoqube::Result<()> {
        match self.mode.load(Ordering::SeqCst) {
            BROKEN => Err(isoqube::Error::Store("connection refused (test)".into())),
            HUNG => {
                tokio::time::sleep(Duration::from_secs(60)).await;
                Ok(())
            }
            _ => self.inner.ping().await,
        }
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
    async fn list_runs(&self, filter: &RunFilter) -> isoqube::Result<isoqube::model::RunPage> {
        self.inner.list_runs(filter).await
    }
    async fn delete_run(&self, id: Uuid) -> isoqube::Result<bool> {
        self.inner.delete_run(id).await
    }
    async fn claim_step(&self, key: &StepKey, redelivered: bool) -> isoqube::Result<ClaimOutcome> {
        self.inner.claim_step(key, redelivered).await
    }
    async fn claim_step_unrecorded(&self, key: &StepKey) -> isoqube::Result<(ClaimOutcome, bool)> {
        self.inner.claim_step_unrecorded(key).await
    }
    async fn complete_step(
        &self,
        key: &StepKey,
        patch: Variables,
        attempts: u32,
    ) -> isoqube::Result<CompleteOutcome> {
        self.inner.complete_step(key, patch, attempts).await
    }
    async fn fail_step(
        &self,
        key: &StepKey,
        error: &str,
        attempts: u32,
    ) -> isoqube::Result<FailOutcome> {
        self.inner.fail_step(key, error, attempts).await
    }
    async fn cancel_run(&self, id: Uuid) -> isoqube::Result<Run> {
        self.inner.cancel_run(id).await
    }
    async fn cancel_and_compensate(&self, id: Uuid) -> isoqube::Result<(Run, Vec<NextStep>)> {
        self.inner.cancel_and_compensate(id).await
    }
    async fn resume_run(
        &self,
        id: Uuid,
        vars: isoqube::Variables,
    ) -> isoqube::Result<(Run, Vec<NextStep>)> {
        self.inner.resume_run(id, vars).await
    }
    async fn retry_step_later(
        &self,
        key: &isoqube::model::StepKey,
        error: &str,
        attempts: u32,
        at: chrono::DateTime<chrono::Utc>,
    ) -> isoqube::Result<Option<isoqube::model::FailOutcome>> {
        self.inner.retry_step_later(key, error, attempts, at).await
    }
    async fn signal_run(
        &self,
        id: Uuid,
        signal: &isoqube::model::Signal,
    ) -> isoqube::Result<(Run, isoqube::model::SignalOutcome)> {
        self.inner.signal_run(id, signal).await
    }
    async fn runs_to_wake(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        limit: usize,
    ) -> isoqube::Result<Vec<Uuid>> {
        self.inner.runs_to_wake(now, limit).await
    }
    async fn fire_timers(&self, id: Uuid) -> isoqube::Result<(Run, Vec<NextStep>)> {
        self.inner.fire_timers(id).await
    }
    async fn fail_unpublished(
        &self,
        id: Uuid,
        next: &NextStep,
        reason: &str,
    ) -> isoqube::Result<FailOutcome> {
        self.inner.fail_unpublished(id, next, reason).await
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

// ---------------------------------------------------------------- a tiny HTTP/1.1 client

struct Reply {
    status: u16,
    headers: BTreeMap<String, String>,
    body: String,
}

/// `GET path` with `Connection: close`; reads the whole answer.
async fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<Reply> {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await?;
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAccept: */*\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await?;
        Ok::<_, std::io::Error>(raw)
    };
    let raw = tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer in 10 s"))??;
    let text = String::from_utf8(raw)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| bad("no end of headers"))?;
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("no status line"))?;
    let headers: BTreeMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    assert!(
        !headers
            .get("transfer-encoding")
            .is_some_and(|t| t.contains("chunked")),
        "this little client reads only length-delimited bodies"
    );
    Ok(Reply {
        status,
        headers,
        body: body.to_string(),
    })
}

async fn get(addr: SocketAddr, path: &str) -> Reply {
    http_get(addr, path)
        .await
        .unwrap_or_else(|e| panic!("GET {path} on {addr}: {e}"))
}

/// Polls `path` until it answers `status`; returns that answer.
async fn wait_status(addr: SocketAddr, path: &str, status: u16) -> Reply {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let reply = get(addr, path).await;
        if reply.status == status {
            return reply;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{path} never answered {status}; last: {} {}",
            reply.status,
            reply.body
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---------------------------------------------------------------- exposition format

/// The samples of a Prometheus text exposition, by `name{labels}` as written;
/// panics on any line that is not a HELP/TYPE comment or a valid sample, and
/// on a sample of a family that has no TYPE line.
fn parse_exposition(text: &str) -> BTreeMap<String, f64> {
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut helps: BTreeSet<String> = BTreeSet::new();
    let mut samples = BTreeMap::new();
    let is_name = |n: &str| {
        !n.is_empty()
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
            && !n.starts_with(|c: char| c.is_ascii_digit())
    };
    assert!(text.ends_with('\n'), "exposition must end with a newline");
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').expect("HELP name text");
            assert!(is_name(name) && !help.is_empty(), "bad HELP line: {line}");
            helps.insert(name.to_string());
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            assert!(is_name(name), "bad TYPE line: {line}");
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "bad TYPE: {line}"
            );
            assert!(
                types.insert(name.to_string(), kind.to_string()).is_none(),
                "TYPE twice: {line}"
            );
            continue;
        }
        assert!(!line.starts_with('#'), "unexpected comment: {line}");
        let (series, value) = line.rsplit_once(' ').expect("sample: series value");
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("bad value in: {line}")),
        };
        let name = match series.split_once('{') {
            Some((name, labels)) => {
                let labels = labels.strip_suffix('}').expect("labels end with }");
                for pair in labels.split("\",").filter(|p| !p.is_empty()) {
                    let (k, v) = pair.split_once('=').expect("label k=\"v\"");
                    assert!(is_name(k), "bad label name in: {line}");
                    assert!(v.starts_with('"'), "label value quoted in: {line}");
                }
                assert!(labels.ends_with('"'), "label value quoted in: {line}");
                name
            }
            None => series,
        };
        assert!(is_name(name), "bad metric name: {line}");
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| {
                name.strip_suffix(suffix)
                    .filter(|base| types.get(*base).is_some_and(|k| k == "histogram"))
            })
            .unwrap_or(name);
        assert!(
            types.contains_key(family),
            "sample without a TYPE line: {line}"
        );
        assert!(helps.contains(family), "sample without a HELP line: {line}");
        assert!(
            samples.insert(series.to_string(), value).is_none(),
            "sample twice: {line}"
        );
    }
    samples
}

fn sample(samples: &BTreeMap<String, f64>, series: &str) -> f64 {
    *samples
        .get(series)
        .unwrap_or_else(|| panic!("no sample {series} in {samples:#?}"))
}

fn ep(name: &str, endpoint: &str) -> String {
    format!("{name}{{endpoint=\"{endpoint}\"}}")
}

// ---------------------------------------------------------------- scenarios

async fn start_service(transport: Arc<dyn Transport>, store: Arc<dyn RunStore>) -> Service {
    isoqube::telemetry::init_for_tests();
    Service::builder("health")
        .transport(transport)
        .store(store)
        .heartbeat_interval(Duration::from_millis(200))
        .health_addr(SocketAddr::from(([127, 0, 0, 1], 0)))
        .start()
        .await
        .expect("service starts")
}

/// Live and ready answer 200; a run through both consumers (one failing once)
/// shows in `/metrics` with the right labels and counts; readiness turns 503 as
/// soon as shutdown begins; the server is gone once shutdown is done.
async fn live_ready_metrics(pair: Pair) {
    let control = Control::new(pair.store.clone(), pair.transport.clone()).expect("control");
    let svc = start_service(pair.transport.clone(), pair.store.clone()).await;
    let addr = svc.health_addr().expect("health server bound");
    assert_ne!(addr.port(), 0, "the bound port is reported");

    let live = get(addr, "/health/live").await;
    assert_eq!((live.status, live.body.as_str()), (200, "ok"));
    let ready = wait_status(addr, "/health/ready", 200).await;
    let body: Value = serde_json::from_str(&ready.body).expect("ready body is JSON");
    assert_eq!(body["status"], "ready", "{body}");
    for check in ["transport", "consumers", "store"] {
        assert_eq!(body["checks"][check], "ok", "{body}");
    }
    let missing = get(addr, "/nope").await;
    assert_eq!(missing.status, 404);

    control
        .create_definition(Definition::new(
            "health-chain",
            ["HealthFirst", "HealthSecond"],
        ))
        .await
        .expect("definition saved");
    let id = control
        .start(isoqube::StartRun::new("health-chain").started_by("test"))
        .await
        .expect("run starts")
        .id;
    let run = control.wait_for_run(id, WAIT).await.expect("run readable");
    assert_eq!(run.status, RunStatus::Succeeded, "{run:#?}");
    assert_eq!(run.steps[1].attempts, 2, "{run:#?}");

    // In-flight drops to 0 once the last delivery is acked, just after the run is recorded.
    let deadline = tokio::time::Instant::now() + WAIT;
    let (reply, samples) = loop {
        let reply = get(addr, "/metrics").await;
        assert_eq!(reply.status, 200);
        let samples = parse_exposition(&reply.body);
        if sample(&samples, &ep("isoqube_messages_in_flight", "health-flaky")) == 0.0 {
            break (reply, samples);
        }
        assert!(tokio::time::Instant::now() < deadline, "{}", reply.body);
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let content_type = reply
        .headers
        .get("content-type")
        .cloned()
        .unwrap_or_default();
    assert!(
        content_type.starts_with("text/plain") && content_type.contains("version=0.0.4"),
        "{content_type}"
    );
    let m = |name: &str, endpoint: &str| sample(&samples, &ep(name, endpoint));
    assert_eq!(sample(&samples, "isoqube_up"), 1.0);
    assert_eq!(sample(&samples, "isoqube_ready"), 1.0);
    assert_eq!(m("isoqube_messages_consumed_total", "health-first"), 1.0);
    assert_eq!(m("isoqube_messages_consumed_total", "health-flaky"), 1.0);
    assert_eq!(m("isoqube_messages_failed_total", "health-first"), 0.0);
    assert_eq!(m("isoqube_messages_failed_total", "health-flaky"), 1.0);
    assert_eq!(m("isoqube_messages_retried_total", "health-first"), 0.0);
    assert_eq!(m("isoqube_messages_retried_total", "health-flaky"), 1.0);
    assert_eq!(
        m("isoqube_messages_dead_lettered_total", "health-flaky"),
        0.0
    );
    assert_eq!(
        m("isoqube_messages_published_total", "health-first"),
        1.0,
        "step 0 published step 1"
    );
    assert_eq!(m("isoqube_messages_published_total", "health-flaky"), 0.0);
    assert_eq!(m("isoqube_messages_in_flight", "health-first"), 0.0);
    assert_eq!(m("isoqube_endpoint_consuming", "health-first"), 1.0);
    let mut steps = 0.0;
    for endpoint in ["health-first", "health-flaky"] {
        let count = m("isoqube_step_duration_seconds_count", endpoint);
        let prefix = format!("isoqube_step_duration_seconds_bucket{{endpoint=\"{endpoint}\",le=");
        let buckets: Vec<f64> = samples
            .iter()
            .filter(|(k, _)| k.starts_with(&prefix))
            .map(|(_, v)| *v)
            .collect();
        assert!(buckets.len() >= 10, "{buckets:?}");
        let inf = sample(&samples, &format!("{prefix}\"+Inf\"}}"));
        assert_eq!(inf, count, "+Inf bucket equals the count");
        assert!(buckets.iter().all(|b| *b <= count));
        assert!(m("isoqube_step_duration_seconds_sum", endpoint) >= 0.0);
        steps += count;
    }
    assert_eq!(steps, 2.0, "one observation per step run");
    // The in-process view agrees with the scrape.
    let flaky = svc.metrics().endpoint("health-flaky").expect("endpoint");
    assert_eq!((flaky.failed(), flaky.retried()), (1, 1));

    // Readiness fails as soon as shutdown begins, while a step is still draining.
    let slow = control
        .start(
            isoqube::StartRun::new("health-chain")
                .vars(
                    json!({"sleep_ms": {"health-first": 2000}})
                        .as_object()
                        .cloned()
                        .unwrap_or_default(),
                )
                .started_by("test"),
        )
        .await
        .expect("run starts")
        .id;
    let deadline = tokio::time::Instant::now() + WAIT;
    while control.get_run(slow).await.expect("run").steps[0].status != StepStatus::Invoked {
        assert!(
            tokio::time::Instant::now() < deadline,
            "step 0 never started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stopping = tokio::spawn(svc.shutdown());
    let reply = wait_status(addr, "/health/ready", 503).await;
    let body: Value = serde_json::from_str(&reply.body).expect("JSON");
    assert_eq!(body["status"], "unavailable", "{body}");
    assert_eq!(body["checks"]["consumers"], "shutting down", "{body}");
    assert_eq!(get(addr, "/health/live").await.status, 200);
    stopping
        .await
        .expect("shutdown task")
        .expect("shutdown succeeds");
    assert!(
        http_get(addr, "/health/live").await.is_err(),
        "the health server stops with the service"
    );
}

/// Ready is 503 naming the store while its ping fails or hangs, 200 again after.
async fn store_down(pair: Pair) {
    let store = Arc::new(SwitchStore {
        inner: pair.store.clone(),
        mode: AtomicU8::new(HEALTHY),
    });
    let svc = start_service(pair.transport.clone(), store.clone()).await;
    let addr = svc.health_addr().expect("health server bound");
    wait_status(addr, "/health/ready", 200).await;

    store.mode.store(BROKEN, Ordering::SeqCst);
    let reply = get(addr, "/health/ready").await;
    assert_eq!(reply.status, 503, "{}", reply.body);
    let body: Value = serde_json::from_str(&reply.body).expect("JSON");
    let problem = body["checks"]["store"].as_str().unwrap_or_default();
    assert!(problem.contains("connection refused (test)"), "{body}");
    assert_eq!(body["checks"]["transport"], "ok", "{body}");
    assert_eq!(body["checks"]["consumers"], "ok", "{body}");
    let samples = parse_exposition(&get(addr, "/metrics").await.body);
    assert_eq!(sample(&samples, "isoqube_ready"), 0.0);
    assert_eq!(get(addr, "/health/live").await.status, 200, "still alive");

    store.mode.store(HUNG, Ordering::SeqCst);
    let started = tokio::time::Instant::now();
    let reply = get(addr, "/health/ready").await;
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert!(reply.body.contains("did not answer"), "{}", reply.body);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the ping is bounded"
    );

    store.mode.store(HEALTHY, Ordering::SeqCst);
    wait_status(addr, "/health/ready", 200).await;
    svc.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn embedded_live_ready_metrics() {
    live_ready_metrics(embedded_pair().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn embedded_store_down() {
    store_down(embedded_pair().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn real_live_ready_metrics() {
    live_ready_metrics(real_pair().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn real_store_down() {
    store_down(real_pair().await).await;
}

/// `/health/ready` is 503 while the store has no record of the instance (a
/// new or restored database), naming it, and 200 again once its heartbeat has
/// registered it again.
async fn record_missing(pair: Pair) {
    isoqube::telemetry::init_for_tests();
    let svc = Service::builder("health")
        .transport(pair.transport.clone())
        .store(pair.store.clone())
        .heartbeat_interval(Duration::from_millis(1500))
        .health_addr(SocketAddr::from(([127, 0, 0, 1], 0)))
        .start()
        .await
        .expect("service starts");
    let addr = svc.health_addr().expect("health server bound");
    let reply = wait_status(addr, "/health/ready", 200).await;
    let body: Value = serde_json::from_str(&reply.body).expect("JSON");
    assert_eq!(body["checks"]["registered"], "ok", "{body}");
    // A heartbeat between the loss and the look registers it at once: then
    // lose it again (a beat is 1.5 s apart, the look takes milliseconds).
    let mut reply = get(addr, "/health/ready").await;
    for _ in 0..3 {
        pair.store
            .remove_service(svc.instance_id())
            .await
            .expect("lose the record");
        reply = get(addr, "/health/ready").await;
        if reply.status == 503 {
            break;
        }
    }
    assert_eq!(reply.status, 503, "{}", reply.body);
    let body: Value = serde_json::from_str(&reply.body).expect("JSON");
    let problem = body["checks"]["registered"].as_str().unwrap_or_default();
    assert!(problem.contains(svc.instance_id()), "{body}");
    assert_eq!(body["checks"]["store"], "ok", "{body}");
    wait_status(addr, "/health/ready", 200).await;
    svc.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn embedded_record_missing() {
    record_missing(embedded_pair().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn real_record_missing() {
    record_missing(real_pair().await).await;
}

/// A port already in use fails start-up with an error naming the address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_port_in_use_fails_start() {
    let taken = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = taken.local_addr().expect("addr");
    let pair = embedded_pair().await;
    let err = match Service::builder("health")
        .transport(pair.transport)
        .store(pair.store)
        .health_addr(addr)
        .start()
        .await
    {
        Ok(_) => panic!("start-up must fail on a port in use"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains(&addr.to_string()), "{err}");
}

/// Without `health_addr` there is no HTTP server, but the metrics still count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_health_addr_no_server() {
    let pair = embedded_pair().await;
    let svc = Service::builder("health")
        .transport(pair.transport)
        .store(pair.store)
        .start()
        .await
        .expect("starts");
    assert!(svc.health_addr().is_none());
    // its two consumers' endpoints, and the signal endpoint every service has
    let names: Vec<&str> = svc.metrics().endpoints().iter().map(|e| e.name()).collect();
    assert_eq!(names.len(), 3, "{names:?}");
    assert!(
        names.contains(&isoqube::service::SIGNAL_ENDPOINT),
        "{names:?}"
    );
    svc.shutdown().await.expect("shutdown");
}
