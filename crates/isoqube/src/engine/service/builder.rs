//! Engine layer: configuring and starting a service: select its consumers,
//! declare their topology, record the service and its topics, start one loop
//! per endpoint, the heartbeat and any sidecar.

use crate::consumer::ConsumerRegistration;
use crate::engine::metrics::EndpointMetrics;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::watch;
use tracing::info;
use uuid::Uuid;

use crate::engine::control::Control;
use crate::engine::metrics::Metrics;
use crate::engine::publish::Publisher;
use crate::engine::readiness::Health;
use crate::engine::telemetry::{spawn_log_writer, LogSink};
use crate::error::Result;
use crate::model::{Budget, ServiceRecord};
use crate::registry::{Registry, Selection};
use crate::retry::RetryPolicy;
use crate::store::{IntoStore, RunStore};
use crate::transport::{InProcessTransport, IntoTransport, Transport};

use tokio::task::JoinHandle;

use super::signals::{SignalEndpoint, SIGNAL_ENDPOINT};
use super::{heartbeat_loop, run_endpoint, Endpoint, Service, Shared, Sidecar};

/// Configures and starts a [`Service`].
///
/// ```no_run
/// # async fn run() -> isoqube::Result<()> {
/// let service = isoqube::Service::builder("linux-pool")
///     .services(["linux-pool"])
///     .start()
///     .await?;
/// service.run_until_signal().await
/// # }
/// ```
pub struct ServiceBuilder {
    pub(super) name: String,
    pub(super) transport: Option<Arc<dyn Transport>>,
    pub(super) store: Option<Arc<dyn RunStore>>,
    pub(super) selection: Selection,
    pub(super) heartbeat: Duration,
    pub(super) grace: Duration,
    pub(super) store_patience: Duration,
    pub(super) record_start_after: Option<Duration>,
    pub(super) cancel_poll: Duration,
    pub(super) cancel_grace: Duration,
    pub(super) default_step_timeout: Option<Duration>,
    pub(super) durable_retry_after: Duration,
    pub(super) lost_limit: u32,
    pub(super) sidecars: Vec<Box<dyn Sidecar>>,
    pub(super) default_retry: RetryPolicy,
    pub(super) concurrency_limit: Option<u16>,
    pub(super) priorities: bool,
}

impl ServiceBuilder {
    /// Uses this transport, owned or already shared (default: a new
    /// [`InProcessTransport`]).
    pub fn transport(mut self, transport: impl IntoTransport) -> Self {
        self.transport = Some(transport.into_transport());
        self
    }

    /// Uses this store, owned or already shared (default: `SqliteStore` at
    /// `./isoqube.db`).
    pub fn store(mut self, store: impl IntoStore) -> Self {
        self.store = Some(store.into_store());
        self
    }

    /// Hosts the consumers a selection picks (default: all).
    pub fn select(mut self, selection: Selection) -> Self {
        self.selection = selection;
        self
    }

    /// Hosts only the consumers of these services.
    pub fn services<S: Into<String>>(self, names: impl IntoIterator<Item = S>) -> Self {
        self.select(Selection::Services(
            names.into_iter().map(Into::into).collect(),
        ))
    }

    /// Hosts only these endpoints.
    pub fn endpoints<S: Into<String>>(self, names: impl IntoIterator<Item = S>) -> Self {
        self.select(Selection::Endpoints(
            names.into_iter().map(Into::into).collect(),
        ))
    }

    /// How often the service record's `last_seen` is refreshed (default 5 s).
    pub fn heartbeat_interval(mut self, every: Duration) -> Self {
        self.heartbeat = every;
        self
    }

    /// How long shutdown waits for in-flight steps (default 30 s).
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// How often a running step's run is checked for a cancellation (default
    /// 1 s; a step that ends sooner is never checked).
    pub fn cancel_poll(mut self, every: Duration) -> Self {
        self.cancel_poll = every.max(Duration::from_millis(10));
        self
    }

    /// How long a step of a cancelled run may go on after
    /// [`crate::StepContext::cancelled`] fired (default 10 s): then its
    /// consumer is dropped and the step recorded cancelled.
    pub fn cancel_grace(mut self, grace: Duration) -> Self {
        self.cancel_grace = grace;
        self
    }

    /// The longest one attempt of a step may run when its definition names no
    /// `timeout` (default [`DEFAULT_STEP_TIMEOUT`], an hour; `None`: no limit).
    /// Past it the attempt is dropped and fails (`isoqube::StepTimeout`) and
    /// is retried per the consumer's policy, as for a step's own `timeout`.
    /// The control center's stuck report flags a step still running past its
    /// attempts' timeouts and the retries' delays, even on a live instance.
    ///
    /// ```
    /// let b = isoqube::Service::builder("x").default_step_timeout(Some(std::time::Duration::from_secs(600)));
    /// ```
    ///
    /// [`DEFAULT_STEP_TIMEOUT`]: crate::engine::service::DEFAULT_STEP_TIMEOUT
    pub fn default_step_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.default_step_timeout = timeout.filter(|t| !t.is_zero());
        self
    }

    /// How long a store failure is retried before the message is requeued (default 30 s).
    pub fn store_patience(mut self, patience: Duration) -> Self {
        self.store_patience = patience;
        self
    }

    /// How long a step may run before its start is recorded in the store
    /// (default 250 ms). A step that finishes sooner is recorded once, start and
    /// outcome together: one store write per step instead of two. Watchers see
    /// a longer step as running from then on; a redelivered message always has
    /// its start recorded before the consumer runs. `Duration::ZERO` records
    /// every start before the consumer runs.
    ///
    /// ```
    /// let b = isoqube::Service::builder("x").record_start_after(std::time::Duration::ZERO);
    /// # let _ = b;
    /// ```
    pub fn record_start_after(mut self, after: Duration) -> Self {
        self.record_start_after = (!after.is_zero()).then_some(after);
        self
    }

    /// The retry policy of consumers that name none (default: no retry).
    ///
    /// ```
    /// let b = isoqube::Service::builder("x").default_retry("interval(attempts = 3, every = 500ms)".parse()?);
    /// # let _ = b;
    /// # Ok::<(), isoqube::retry::RetrySyntaxError>(())
    /// ```
    pub fn default_retry(mut self, policy: RetryPolicy) -> Self {
        self.default_retry = policy;
        self
    }

    /// Retries due further off than `after` (default
    /// [`DEFAULT_DURABLE_RETRY_AFTER`](super::DEFAULT_DURABLE_RETRY_AFTER), 5 s)
    /// are not waited for in memory with the message unacknowledged: the
    /// failed attempt is recorded, the step waits for its retry in the store
    /// (`Waiting`, with its `retry_at`), the message is acknowledged, and the
    /// store's timer publishes it again when the retry is due, whichever
    /// service is up then. So a `retry = exponential(...)` with minutes of
    /// backoff survives restarts and holds no prefetch slot. Compensations'
    /// retries always wait in memory.
    ///
    /// ```
    /// let b = isoqube::Service::builder("x").durable_retries_after(std::time::Duration::from_secs(30));
    /// # let _ = b;
    /// ```
    pub fn durable_retries_after(mut self, after: Duration) -> Self {
        self.durable_retry_after = after;
        self
    }

    /// A step whose last `limit` attempts in a row each stopped with their
    /// process before recording an outcome (killed mid-step, its channel
    /// closed) is not run again: its message goes to `<q>_error` with the
    /// reason and the step fails as when its retries run out, so a message
    /// that kills its process every time is not redelivered for ever
    /// (default [`DEFAULT_LOST_ATTEMPTS_LIMIT`](super::DEFAULT_LOST_ATTEMPTS_LIMIT),
    /// 10; at least 1). Lost attempts also use up the retry policy's attempts
    /// of the deliveries after them.
    ///
    /// ```
    /// let b = isoqube::Service::builder("x").lost_attempts_limit(5);
    /// # let _ = b;
    /// ```
    pub fn lost_attempts_limit(mut self, limit: u32) -> Self {
        self.lost_limit = limit.max(1);
        self
    }

    /// Caps every consumer's concurrency (and so its prefetch), e.g. for a small
    /// machine; a consumer's own lower limit still applies. Zero is ignored.
    pub fn concurrency_limit(mut self, limit: u16) -> Self {
        self.concurrency_limit = (limit > 0).then_some(limit);
        self
    }

    /// Runs `sidecar` beside the consumers (how the `health` surface adds its
    /// server: see `health_addr`).
    pub fn sidecar(mut self, sidecar: Box<dyn Sidecar>) -> Self {
        self.sidecars.push(sidecar);
        self
    }

    /// Declares the endpoint queues as priority queues (RabbitMQ's
    /// `x-max-priority`, [`MAX_PRIORITY`](crate::transport::MAX_PRIORITY)), so
    /// the step of a run of a higher priority is taken before a backlog of
    /// lower ones (default: off, plain queues). A queue declared before
    /// without the argument must be deleted first (or the option left off):
    /// the broker refuses to redeclare it, and start-up fails naming it.
    ///
    /// ```no_run
    /// # async fn run() -> isoqube::Result<()> {
    /// let service = isoqube::Service::builder("linux-pool").priorities(true).start().await?;
    /// # let _ = service; Ok(()) }
    /// ```
    pub fn priorities(mut self, on: bool) -> Self {
        self.priorities = on;
        self
    }

    /// What every endpoint of the service shares.
    fn shared(
        &self,
        registry: &Arc<Registry>,
        instance_id: &str,
        transport: &Arc<dyn Transport>,
        store: &Arc<dyn RunStore>,
        sink: LogSink,
    ) -> Arc<Shared> {
        let publisher = Publisher::new(
            transport.clone(),
            registry.clone(),
            Some(store.clone()),
            &self.name,
        );
        Arc::new(Shared {
            name: self.name.clone().into(),
            instance: instance_id.to_string(),
            transport: transport.clone(),
            store: store.clone(),
            publisher,
            sink,
            store_patience: self.store_patience,
            record_start_after: self.record_start_after,
            cancel_poll: self.cancel_poll,
            cancel_grace: self.cancel_grace,
            default_step_timeout: self.default_step_timeout,
            durable_retry_after: self.durable_retry_after,
            lost_limit: self.lost_limit,
            host_headers: super::dead_letter::host_headers(
                &crate::wire::envelope::HostInfo::current(&self.name),
            ),
        })
    }

    /// One task per consumer endpoint, each taking its queue's deliveries.
    fn spawn_endpoints(
        &self,
        shared: &Arc<Shared>,
        consumers: &[&'static ConsumerRegistration],
        metrics: &Metrics,
        shutdown: &watch::Receiver<bool>,
    ) -> Vec<JoinHandle<()>> {
        consumers
            .iter()
            .zip(metrics.endpoints())
            .map(|(reg, metrics)| {
                let retry = reg.retry.unwrap_or(self.default_retry);
                let limit = self.concurrency_limit;
                let timeout = self.default_step_timeout;
                let ep = endpoint(shared, reg, metrics, retry, timeout, limit);
                info!(service = %self.name, endpoint = %ep.name, event = ep.info.name, concurrency = ep.concurrency, "consuming");
                tokio::spawn(run_endpoint(ep, shutdown.clone(), self.grace))
            })
            .collect()
    }

    /// Declares the topology, records the service, and starts consuming.
    pub async fn start(mut self) -> Result<Service> {
        // Step logs reach the store through a tracing layer; a program that set
        // up no logging at all still gets them (and no console output).
        if !tracing::dispatcher::has_been_set() {
            crate::engine::telemetry::init_without_console();
        }
        let registry = Arc::new(Registry::linked()?);
        let consumers = registry.select(&self.selection)?;
        // Bind first, so a port in use fails start-up before anything is declared.
        let mut sidecars = std::mem::take(&mut self.sidecars);
        for sidecar in &mut sidecars {
            sidecar.prepare().await?;
        }
        let transport = match self.transport.take() {
            Some(t) => t,
            None => Arc::new(InProcessTransport::new()),
        };
        let store = match self.store.take() {
            Some(s) => s,
            None => default_store().await?,
        };
        declare_topology(&*transport, &registry, &consumers, self.priorities).await?;
        let topics = registry.topic_records(&consumers);
        store.upsert_topics(&topics).await?;

        let record = service_record(&self.name, &registry, &consumers, transport.kind());
        let instance_id = record.id.clone();
        store.register_service(&record).await?;

        let (sink, log_writer) = spawn_log_writer(store.clone());
        let shared = self.shared(&registry, &instance_id, &transport, &store, sink);
        let control = Control::new(store.clone(), transport.clone())?;
        control.declare_signal_endpoint().await?;
        let metrics = Arc::new(Metrics::new(
            self.name.clone(),
            instance_id.clone(),
            consumers
                .iter()
                .map(|c| c.endpoint_name())
                .chain([SIGNAL_ENDPOINT.to_string()]),
        ));
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let endpoints = self.spawn_endpoints(&shared, &consumers, &metrics, &shutdown_rx);
        let signals = Arc::new(SignalEndpoint {
            shared: shared.clone(),
            control: control.clone(),
            registry: registry.clone(),
            metrics: metrics.endpoints()[consumers.len()].clone(),
        });
        let signals = tokio::spawn(run_endpoint(signals, shutdown_rx.clone(), self.grace));
        let endpoints: Vec<_> = endpoints.into_iter().chain([signals]).collect();
        let record_id = record.id.clone();
        let (registered_tx, registered_again) = tokio::sync::watch::channel(0u64);
        let heartbeat = tokio::spawn(heartbeat_loop(
            store.clone(),
            record,
            topics,
            self.heartbeat,
            shutdown_rx.clone(),
            registered_tx,
        ));
        let timers = tokio::spawn(crate::engine::waits::timer_loop(
            control.clone(),
            shutdown_rx,
        ));
        let health = Health::new(transport.clone(), store.clone(), metrics).with_service(record_id);
        let sidecars = sidecars
            .into_iter()
            .map(|s| s.start(health.clone()))
            .collect::<Result<Vec<_>>>()?;
        info!(service = %self.name, transport = transport.kind(), store = store.kind(), consumers = consumers.len(), "service started");
        Ok(Service {
            shared: Some(shared),
            instance_id,
            shutdown_tx,
            endpoints,
            heartbeat,
            timers,
            log_writer,
            control,
            health,
            sidecars,
            registered_again,
        })
    }
}

/// The store of a service given none: the embedded file.
#[cfg(feature = "sqlite")]
async fn default_store() -> Result<Arc<dyn RunStore>> {
    let path = std::path::Path::new(crate::store::DEFAULT_STORE_PATH);
    Ok(Arc::new(crate::store::SqliteStore::open(path).await?))
}

/// Without the `sqlite` feature there is no embedded store to fall back on.
#[cfg(not(feature = "sqlite"))]
async fn default_store() -> Result<Arc<dyn RunStore>> {
    Err(crate::error::Error::Config(
        "no store given: call ServiceBuilder::store (this build has no embedded \
         SQLite store: the `sqlite` feature is off)"
            .into(),
    ))
}

/// The time one handling of `retry`'s consumer may take: its attempts, each
/// within its step's timeout (else `default_timeout`), and the delays between.
fn budget(retry: RetryPolicy, default_timeout: Option<Duration>) -> Budget {
    let attempts = retry.max_attempts();
    let delays: Duration = (1..attempts).map(|a| retry.delay(a)).sum();
    Budget {
        default_timeout_ms: default_timeout.map(|t| t.as_millis().try_into().unwrap_or(u64::MAX)),
        attempts,
        delays_ms: delays.as_millis().try_into().unwrap_or(u64::MAX),
    }
}

/// The record of this service instance, as the store lists it.
fn service_record(
    name: &str,
    registry: &Registry,
    consumers: &[&'static ConsumerRegistration],
    transport: &str,
) -> ServiceRecord {
    let host = crate::host::host_name();
    let pid = std::process::id();
    let now = Utc::now();
    ServiceRecord {
        id: format!(
            "{name}@{host}:{pid}:{}",
            &Uuid::new_v4().simple().to_string()[..8]
        ),
        name: name.to_string(),
        host,
        pid,
        events: registry.events().map(|e| e.name.to_string()).collect(),
        consumers: consumers.iter().map(|c| c.endpoint_name()).collect(),
        transport: transport.to_string(),
        started_at: now,
        last_seen: now,
    }
}

/// One consumer's endpoint: its publisher counting into its metrics, its
/// retry policy and time budget, its concurrency capped by the service's.
fn endpoint(
    shared: &Arc<Shared>,
    reg: &'static ConsumerRegistration,
    metrics: &Arc<EndpointMetrics>,
    retry: RetryPolicy,
    default_step_timeout: Option<Duration>,
    concurrency_limit: Option<u16>,
) -> Arc<Endpoint> {
    let publisher = shared
        .publisher
        .clone()
        .counting(metrics.published_counter());
    Arc::new(Endpoint {
        shared: shared.clone(),
        reg,
        name: reg.endpoint_name(),
        info: reg.event_info(),
        types: reg.event_info().accepted_types(),
        events: Arc::new(publisher.clone()),
        publisher,
        metrics: metrics.clone(),
        retry,
        budget: budget(retry, default_step_timeout),
        in_hand: Default::default(),
        concurrency: concurrency_limit.map_or(reg.concurrency, |cap| reg.concurrency.min(cap)),
    })
}

/// Declares the consumers' exchanges and queues (with priorities when asked).
async fn declare_topology(
    transport: &dyn Transport,
    registry: &Registry,
    consumers: &[&'static ConsumerRegistration],
    priorities: bool,
) -> Result<()> {
    let mut topology = registry.topology(consumers);
    if priorities {
        topology = topology.with_priorities(
            consumers.iter().map(|c| c.endpoint_name()),
            crate::transport::MAX_PRIORITY,
        );
    }
    transport.declare(&topology).await
}
