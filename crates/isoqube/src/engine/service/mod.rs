//! Hosting consumers: the service builder, one loop per endpoint, the chain rule
//! applied to every delivery, the heartbeat, and graceful shutdown.
//!
//! Per delivery: parse the envelope (a fault otherwise), check the message type
//! (skipped otherwise), claim the step in the store, run the consumer with its
//! retry policy, record the outcome, publish the next step, and only then ack.

use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{SecondsFormat, Utc};
use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use serde_json::Value;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tracing::{error, info, warn, Instrument};
use uuid::Uuid;

use crate::consumer::{ConsumerRegistration, HandlerError};
use crate::context::EventPublisher;
use crate::context::{ContextParts, StepContext};
use crate::engine::control::Control;
use crate::engine::metrics::{EndpointMetrics, Metrics};
use crate::engine::publish::Publisher;
use crate::engine::readiness::{Health, Readiness};
use crate::engine::telemetry::{spawn_log_writer, LogSink, StepScope, LIFECYCLE};
use crate::error::{Error, Result};
use crate::event::EventInfo;
use crate::model::{
    ClaimOutcome, CompleteOutcome, FailOutcome, NextStep, ServiceRecord, StepKey, Variables,
};
use crate::registry::{Registry, Selection};
use crate::retry::RetryPolicy;
use crate::store::{RunStore, SqliteStore};
use crate::wire::envelope::Incoming;
use crate::wire::lineage::Parent;
mod sidecar;

pub use sidecar::{RunningSidecar, Sidecar};

use crate::transport::{
    Delivery, InProcessTransport, OutgoingMessage, RawMessage, Transport, ERROR_SUFFIX,
    SKIPPED_SUFFIX,
};

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
    name: String,
    transport: Option<Arc<dyn Transport>>,
    store: Option<Arc<dyn RunStore>>,
    selection: Selection,
    heartbeat: Duration,
    grace: Duration,
    store_patience: Duration,
    record_start_after: Option<Duration>,
    sidecars: Vec<Box<dyn Sidecar>>,
    default_retry: RetryPolicy,
    concurrency_limit: Option<u16>,
}

impl ServiceBuilder {
    /// Uses this transport (default: a new [`InProcessTransport`]).
    pub fn transport(mut self, transport: impl Transport) -> Self {
        self.transport = Some(Arc::new(transport));
        self
    }

    /// Uses this shared transport.
    pub fn transport_arc(mut self, transport: Arc<dyn Transport>) -> Self {
        self.transport = Some(transport);
        self
    }

    /// Uses this store (default: [`SqliteStore`] at `./isoqube.db`).
    pub fn store(mut self, store: impl RunStore) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// Uses this shared store.
    pub fn store_arc(mut self, store: Arc<dyn RunStore>) -> Self {
        self.store = Some(store);
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
    /// let b = isoqube::Service::builder("x").default_retry(isoqube::retry::interval(3, 500));
    /// # let _ = b;
    /// ```
    pub fn default_retry(mut self, policy: RetryPolicy) -> Self {
        self.default_retry = policy;
        self
    }

    /// Caps every consumer's concurrency (and so its prefetch), e.g. for a small
    /// machine; a consumer's own lower limit still applies. Zero is ignored.
    pub fn concurrency_limit(mut self, limit: u16) -> Self {
        self.concurrency_limit = (limit > 0).then_some(limit);
        self
    }

    /// Runs `sidecar` beside the consumers (how [`crate::health`] adds its
    /// server: see `health_addr`).
    pub fn sidecar(mut self, sidecar: Box<dyn Sidecar>) -> Self {
        self.sidecars.push(sidecar);
        self
    }

    /// Declares the topology, records the service, and starts consuming.
    pub async fn start(self) -> Result<Service> {
        // Step logs reach the store through a tracing layer; a program that set
        // up no logging at all still gets them (and no console output).
        if !tracing::dispatcher::has_been_set() {
            crate::engine::telemetry::init_without_console();
        }
        let registry = Arc::new(Registry::linked()?);
        let consumers = registry.select(&self.selection)?;
        // Bind first, so a port in use fails start-up before anything is declared.
        let mut sidecars = self.sidecars;
        for sidecar in &mut sidecars {
            sidecar.prepare().await?;
        }
        let transport = match self.transport {
            Some(t) => t,
            None => Arc::new(InProcessTransport::new()),
        };
        let store = match self.store {
            Some(s) => s,
            None => {
                Arc::new(SqliteStore::open(Path::new(crate::store::sqlite::DEFAULT_PATH)).await?)
            }
        };
        transport.declare(&registry.topology(&consumers)).await?;
        store
            .upsert_topics(&registry.topic_records(&consumers))
            .await?;

        let host = crate::host::host_name();
        let pid = std::process::id();
        let instance_id = format!(
            "{}@{host}:{pid}:{}",
            self.name,
            &Uuid::new_v4().simple().to_string()[..8]
        );
        let now = Utc::now();
        store
            .register_service(&ServiceRecord {
                id: instance_id.clone(),
                name: self.name.clone(),
                host: host.clone(),
                pid,
                events: registry.events().map(|e| e.name.to_string()).collect(),
                consumers: consumers.iter().map(|c| c.endpoint_name()).collect(),
                transport: transport.kind().to_string(),
                started_at: now,
                last_seen: now,
            })
            .await?;

        let (sink, log_writer) = spawn_log_writer(store.clone());
        let publisher = Publisher::new(
            transport.clone(),
            registry.clone(),
            Some(store.clone()),
            &self.name,
        );
        let shared = Arc::new(Shared {
            name: self.name.clone().into(),
            instance: instance_id.clone(),
            transport: transport.clone(),
            store: store.clone(),
            publisher,
            sink,
            store_patience: self.store_patience,
            record_start_after: self.record_start_after,
        });
        let metrics = Arc::new(Metrics::new(
            self.name.clone(),
            instance_id.clone(),
            consumers.iter().map(|c| c.endpoint_name()),
        ));
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let endpoints = consumers
            .iter()
            .zip(metrics.endpoints())
            .map(|(reg, metrics)| {
                let publisher = shared.publisher.clone().counting(metrics.published_counter());
                let ep = Arc::new(Endpoint {
                    shared: shared.clone(),
                    reg,
                    name: reg.endpoint_name(),
                    info: reg.event_info(),
                    events: Arc::new(publisher.clone()),
                    publisher,
                    metrics: metrics.clone(),
                    retry: reg.retry.unwrap_or(self.default_retry),
                    concurrency: self
                        .concurrency_limit
                        .map_or(reg.concurrency, |cap| reg.concurrency.min(cap)),
                });
                info!(service = %self.name, endpoint = %ep.name, event = ep.info.name, concurrency = ep.concurrency, "consuming");
                tokio::spawn(run_endpoint(ep, shutdown_rx.clone(), self.grace))
            })
            .collect();
        let heartbeat = tokio::spawn(heartbeat_loop(
            store.clone(),
            instance_id.clone(),
            self.heartbeat,
            shutdown_rx,
        ));
        let control = Control::new(store.clone(), transport.clone())?;
        let health = Health::new(transport.clone(), store.clone(), metrics);
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
            log_writer,
            control,
            health,
            sidecars,
        })
    }
}

/// A running service: its consumers are taking messages.
pub struct Service {
    shared: Option<Arc<Shared>>,
    instance_id: String,
    shutdown_tx: watch::Sender<bool>,
    endpoints: Vec<JoinHandle<()>>,
    heartbeat: JoinHandle<()>,
    log_writer: JoinHandle<()>,
    control: Control,
    health: Health,
    sidecars: Vec<Box<dyn RunningSidecar>>,
}

impl Service {
    /// Starts configuring a service named `name`.
    pub fn builder(name: impl Into<String>) -> ServiceBuilder {
        ServiceBuilder {
            name: name.into(),
            transport: None,
            store: None,
            selection: Selection::All,
            heartbeat: Duration::from_secs(5),
            grace: Duration::from_secs(30),
            store_patience: Duration::from_secs(30),
            record_start_after: Some(DEFAULT_RECORD_START_AFTER),
            sidecars: Vec::new(),
            default_retry: RetryPolicy::None,
            concurrency_limit: None,
        }
    }

    /// Operator actions over this service's store and transport.
    pub fn control(&self) -> &Control {
        &self.control
    }

    /// This instance's id in the services collection.
    pub fn instance_id(&self) -> &str {
        &self.instance_id
    }

    /// Where `/health/*` and `/metrics` are served (the port actually bound),
    /// when `ServiceBuilder::health_addr` was set (the first sidecar's address).
    pub fn health_addr(&self) -> Option<SocketAddr> {
        self.sidecars.iter().find_map(|s| s.addr())
    }

    /// The service's metrics (what `/metrics` renders).
    pub fn metrics(&self) -> &Arc<Metrics> {
        self.health.metrics()
    }

    /// Runs the readiness checks `/health/ready` runs.
    pub async fn readiness(&self) -> Readiness {
        self.health.readiness().await
    }

    /// Waits for SIGINT or SIGTERM, then shuts down gracefully.
    pub async fn run_until_signal(self) -> Result<()> {
        shutdown_signal().await;
        info!("shutdown requested");
        self.shutdown().await
    }

    /// Stops taking messages, lets in-flight steps finish (up to the grace
    /// period), removes the service record and flushes the step log. Readiness
    /// fails from the start; the health server stops at the end.
    pub async fn shutdown(mut self) -> Result<()> {
        self.health.metrics().set_stopping();
        let _ = self.shutdown_tx.send(true);
        for ep in self.endpoints.drain(..) {
            if let Err(e) = ep.await {
                error!("endpoint task ended abnormally: {e}");
            }
        }
        let _ = (&mut self.heartbeat).await;
        let shared = self.shared.take();
        if let Some(shared) = &shared {
            if let Err(e) = shared.store.remove_service(&self.instance_id).await {
                warn!("could not remove the service record: {e}");
            }
        }
        // The log writer ends once the last sink is gone: the service's and the control's.
        drop(shared);
        let _ = tokio::time::timeout(Duration::from_secs(10), &mut self.log_writer).await;
        for sidecar in self.sidecars.drain(..) {
            sidecar.stop().await;
        }
        info!(service = %self.instance_id, "service stopped");
        Ok(())
    }

    /// Stops everything at once without settling anything, as a crash would:
    /// unacked messages go back to their queues. For fault tests.
    pub fn abort(mut self) {
        for ep in self.endpoints.drain(..) {
            ep.abort();
        }
        self.heartbeat.abort();
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.health.metrics().set_stopping();
        let _ = self.shutdown_tx.send(true);
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

async fn heartbeat_loop(
    store: Arc<dyn RunStore>,
    id: String,
    every: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tokio::time::sleep(every) => {
                if let Err(e) = store.heartbeat(&id, Utc::now()).await {
                    warn!(service = %id, "heartbeat failed: {e}");
                }
            }
        }
    }
}

struct Shared {
    name: Arc<str>,
    instance: String,
    transport: Arc<dyn Transport>,
    store: Arc<dyn RunStore>,
    publisher: Publisher,
    sink: LogSink,
    store_patience: Duration,
    record_start_after: Option<Duration>,
}

/// See [`ServiceBuilder::record_start_after`].
pub const DEFAULT_RECORD_START_AFTER: Duration = Duration::from_millis(250);

struct Endpoint {
    shared: Arc<Shared>,
    reg: &'static ConsumerRegistration,
    name: String,
    info: &'static EventInfo,
    /// The service's publisher, counting into this endpoint's metrics.
    publisher: Publisher,
    /// The same publisher, as step contexts see it (made once: one clone of
    /// an `Arc` per step).
    events: Arc<dyn EventPublisher>,
    metrics: Arc<EndpointMetrics>,
    /// The consumer's policy, or the service default when it names none.
    retry: RetryPolicy,
    /// The consumer's limit, capped by the service's.
    concurrency: u16,
}

enum Settle {
    Ack,
    Requeue,
}

async fn run_endpoint(ep: Arc<Endpoint>, mut shutdown: watch::Receiver<bool>, grace: Duration) {
    let mut backoff = Duration::from_millis(100);
    loop {
        if *shutdown.borrow() {
            return;
        }
        let mut stream = match ep.shared.transport.consume(&ep.name, ep.concurrency).await {
            Ok(s) => {
                backoff = Duration::from_millis(100);
                ep.metrics.set_consuming(true);
                s
            }
            Err(e) => {
                warn!(endpoint = %ep.name, "cannot consume, retrying in {backoff:?}: {e}");
                tokio::select! {
                    _ = shutdown.changed() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(10));
                continue;
            }
        };
        let mut in_flight = JoinSet::new();
        let stopping = loop {
            tokio::select! {
                _ = shutdown.changed() => break true,
                Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
                next = stream.next() => match next {
                    Some(Ok(delivery)) => {
                        let ep = ep.clone();
                        in_flight.spawn(async move { ep.handle(delivery).await });
                    }
                    Some(Err(e)) => {
                        warn!(endpoint = %ep.name, "delivery failed, consuming again: {e}");
                        break false;
                    }
                    None => {
                        warn!(endpoint = %ep.name, "consumer closed by the transport, consuming again");
                        break false;
                    }
                },
            }
        };
        ep.metrics.set_consuming(false);
        if stopping {
            stream.cancel().await;
            let drained = tokio::time::timeout(grace, async {
                while in_flight.join_next().await.is_some() {}
            })
            .await;
            if drained.is_err() {
                warn!(endpoint = %ep.name, "{} steps still running after {grace:?}; they will be redelivered", in_flight.len());
                in_flight.abort_all();
            }
            return;
        }
        while in_flight.join_next().await.is_some() {}
        tokio::time::sleep(backoff).await;
    }
}

/// The fault a step message is dead-lettered with when the runtime (not the
/// consumer) cannot handle it.
fn step_error(e: &Error) -> HandlerError {
    let kind = if e.is_corrupt() {
        "isoqube::CorruptRecord"
    } else {
        "isoqube::StepError"
    };
    HandlerError::new(kind, e.to_string(), false)
}

fn header_str(v: &str) -> Value {
    Value::String(v.to_string())
}

impl Endpoint {
    async fn handle(&self, delivery: Delivery) {
        self.metrics.record_consumed();
        let _in_flight = self.metrics.in_flight_guard();
        let settle = self.process(&delivery.message).await;
        let settled = match settle {
            Settle::Ack => delivery.acker.ack().await,
            Settle::Requeue => {
                tokio::time::sleep(Duration::from_millis(500)).await;
                delivery.acker.nack(true).await
            }
        };
        if let Err(e) = settled {
            warn!(endpoint = %self.name, "could not settle a delivery (it will be redelivered): {e}");
        }
    }

    async fn process(&self, msg: &RawMessage) -> Settle {
        let env = match Incoming::from_slice(&msg.body) {
            Ok(env) => env,
            Err(e) => {
                warn!(endpoint = %self.name, message_id = ?msg.message_id, "{e}");
                let err = HandlerError::new("isoqube::MalformedMessage", e.to_string(), false);
                return self.dead_letter(ERROR_SUFFIX, msg, Some(&err), 0).await;
            }
        };
        if !env
            .message_type
            .iter()
            .any(|urn| self.info.matches_urn(urn))
        {
            let types: Vec<&str> = env.message_type.iter().map(|t| &**t).collect();
            warn!(endpoint = %self.name, message_type = ?types, "no consumer here understands this message type; moving it to {}{SKIPPED_SUFFIX}", self.name);
            return self.dead_letter(SKIPPED_SUFFIX, msg, None, 0).await;
        }
        match env.run_step() {
            Some((run_id, step)) => {
                let scope = StepScope {
                    run_id,
                    step: Some(step),
                    event: self.info.name.to_string(),
                    service: self.shared.name.clone(),
                    sink: self.shared.sink.clone(),
                };
                let span = tracing::info_span!("step", run_id = %run_id, step, event = self.info.name, endpoint = %self.name);
                // Boxed, as are the big awaits below it: a delivery's task is
                // allocated and copied per message, and nested async state adds
                // up (7 KB per task before, measured with size_of_val).
                let step = Box::pin(self.process_step(msg, &env, run_id, step).instrument(span));
                scope.enter(step).await
            }
            None => {
                let span = tracing::info_span!("message", message_id = %&*env.message_id, event = self.info.name, endpoint = %self.name);
                Box::pin(self.process_plain(msg, &env).instrument(span)).await
            }
        }
    }

    async fn process_plain(&self, msg: &RawMessage, env: &Incoming<'_>) -> Settle {
        let (result, attempts, _) = self.invoke(env, None, None, Variables::new(), 0).await;
        match result {
            Ok(()) => Settle::Ack,
            Err(e) => {
                self.dead_letter(ERROR_SUFFIX, msg, Some(&e), attempts)
                    .await
            }
        }
    }

    async fn process_step(
        &self,
        msg: &RawMessage,
        env: &Incoming<'_>,
        run_id: Uuid,
        step: usize,
    ) -> Settle {
        let key = StepKey::new(
            run_id,
            step,
            self.name.clone(),
            self.shared.instance.clone(),
        );
        let parent = Parent::consumed(env, &self.name);
        let definition = env.definition().unwrap_or_default().to_string();
        let key = key.started(chrono::Utc::now());
        // A first delivery's start is recorded with its outcome when the step is
        // quick (see `ServiceBuilder::record_start_after`); a redelivery's before
        // the consumer runs, so an interrupted handling is visible at once.
        let record_later = self.shared.record_start_after.filter(|_| !msg.redelivered);
        let claim = Box::pin(self.store_op("claim the step", || async {
            match record_later {
                Some(_) => self.shared.store.claim_step_unrecorded(&key).await,
                None => Ok((
                    self.shared.store.claim_step(&key, msg.redelivered).await?,
                    true,
                )),
            }
        }))
        .await;
        let (variables, prior, step_count, recorded) = match claim {
            Ok((
                ClaimOutcome::Claimed {
                    variables,
                    attempts,
                    step_count,
                },
                recorded,
            )) => (variables, attempts, step_count, recorded),
            Ok((ClaimOutcome::AlreadyDone { republish }, _)) => {
                info!("step already done here; not running it again");
                let Some(next) = republish else {
                    return Settle::Ack;
                };
                let next = match self.shared.record_start_after {
                    None => next,
                    // A quick next step records its start with its outcome:
                    // give it time to show up before concluding it was never
                    // published, or it would be published (and run) twice.
                    Some(after) => match self.still_unpublished(&key, after * 2).await {
                        Ok(Some(next)) => next,
                        Ok(None) => return Settle::Ack,
                        Err(e) if e.is_transient() => {
                            error!("store unavailable, requeueing: {e}");
                            return Settle::Requeue;
                        }
                        Err(e) => {
                            // Better a duplicate (recorded once) than a run stuck.
                            warn!("cannot check the next step again, publishing it anyway: {e}");
                            next
                        }
                    },
                };
                info!(
                    next = next.index,
                    "the next step was never picked up; publishing it again"
                );
                return Box::pin(self.publish_next(run_id, &definition, &next, &parent)).await;
            }
            Ok((ClaimOutcome::InFlight, _)) => {
                info!("another copy of this step is being handled; dropping this one");
                return Settle::Ack;
            }
            Ok((ClaimOutcome::Cancelled, _)) => {
                info!("run cancelled; step not run");
                return Settle::Ack;
            }
            Ok((ClaimOutcome::NotRunning(status), _)) => {
                info!("run is {}; step not run", status.as_str());
                return Settle::Ack;
            }
            Err(e) if e.is_transient() => {
                error!("store unavailable, requeueing: {e}");
                return Settle::Requeue;
            }
            Err(e) => {
                // Not transient: a corrupt run record, say, never parses on a
                // later try, so the message goes aside and the endpoint goes on.
                error!("cannot handle this step message: {e}");
                return self
                    .dead_letter(ERROR_SUFFIX, msg, Some(&step_error(&e)), 0)
                    .await;
            }
        };
        let started = Instant::now();
        let invoke = Box::pin(self.invoke(
            env,
            Some((run_id, step)),
            Some(step_count),
            variables,
            prior,
        ));
        let (result, attempts, patch) = match record_later.filter(|_| !recorded) {
            None => invoke.await,
            Some(after) => {
                let mut invoke = invoke;
                tokio::select! {
                    done = &mut invoke => done,
                    _ = tokio::time::sleep(after) => {
                        // Still running: let watchers see it. The outcome is
                        // recorded after this, whatever it says.
                        let record = async {
                            if let Err(e) = self.shared.store.claim_step(&key, false).await {
                                warn!("could not record the step's start (its outcome will be): {e}");
                            }
                        };
                        tokio::join!(invoke, record).0
                    }
                }
            }
        };
        match result {
            Ok(()) => {
                let outcome = Box::pin(self.store_op("record the step", || {
                    self.shared
                        .store
                        .complete_step(&key, patch.clone(), attempts)
                }))
                .await;
                match outcome {
                    Ok(CompleteOutcome::Advanced { next: Some(next) }) => {
                        info!(
                            target: LIFECYCLE,
                            elapsed_ms = started.elapsed().as_millis() as u64,
                            "step succeeded"
                        );
                        Box::pin(self.publish_next(run_id, &definition, &next, &parent)).await
                    }
                    Ok(CompleteOutcome::Advanced { next: None }) => {
                        info!(
                            target: LIFECYCLE,
                            elapsed_ms = started.elapsed().as_millis() as u64,
                            "step succeeded; run succeeded"
                        );
                        Settle::Ack
                    }
                    Ok(CompleteOutcome::Recorded) => {
                        info!("step succeeded here; the run was already advanced");
                        Settle::Ack
                    }
                    Ok(CompleteOutcome::Cancelled) => {
                        info!("step finished but the run was cancelled; step marked cancelled");
                        Settle::Ack
                    }
                    Err(e) if e.is_corrupt() => {
                        error!("could not record the step: {e}");
                        self.dead_letter(ERROR_SUFFIX, msg, Some(&step_error(&e)), attempts)
                            .await
                    }
                    Err(e) => {
                        error!("could not record the step, requeueing: {e}");
                        Settle::Requeue
                    }
                }
            }
            Err(err) => {
                error!(attempts, "step failed: {err}");
                if let Settle::Requeue = self
                    .dead_letter(ERROR_SUFFIX, msg, Some(&err), attempts)
                    .await
                {
                    return Settle::Requeue;
                }
                let reason = err.to_string();
                match self
                    .store_op("record the failure", || {
                        self.shared.store.fail_step(&key, &reason, attempts)
                    })
                    .await
                {
                    Ok(FailOutcome::RunFailed) => {
                        error!("run failed at step {step}");
                        Settle::Ack
                    }
                    Ok(_) => Settle::Ack,
                    Err(e) => {
                        error!("could not record the failure: {e}");
                        Settle::Ack
                    }
                }
            }
        }
    }

    /// After `wait`, the step to publish again if the step after `key`'s is
    /// still not picked up (see `ClaimOutcome::AlreadyDone`), else `None`.
    /// [`Self::check_unpublished`], boxed: rarely needed, and its state would
    /// otherwise make every delivery's task larger (copied and allocated
    /// per delivery).
    fn still_unpublished<'a>(
        &'a self,
        key: &'a StepKey,
        wait: Duration,
    ) -> BoxFuture<'a, Result<Option<NextStep>>> {
        Box::pin(self.check_unpublished(key, wait))
    }

    async fn check_unpublished(&self, key: &StepKey, wait: Duration) -> Result<Option<NextStep>> {
        tokio::time::sleep(wait).await;
        let again = self
            .store_op("check the next step", || {
                self.shared.store.claim_step(key, true)
            })
            .await?;
        Ok(match again {
            ClaimOutcome::AlreadyDone { republish } => republish,
            _ => None,
        })
    }

    async fn publish_next(
        &self,
        run_id: Uuid,
        definition: &str,
        next: &NextStep,
        parent: &Parent,
    ) -> Settle {
        match self
            .publisher
            .send_step(run_id, definition, next, parent)
            .await
        {
            Ok(()) => Settle::Ack,
            Err(Error::Unroutable(ex)) => {
                let reason = format!(
                    "step {} ({}) has no consumer bound to exchange '{ex}'",
                    next.index, next.event
                );
                error!("{reason}; failing the run");
                if let Err(e) = self.shared.store.abort_run(run_id, &reason).await {
                    error!("could not mark the run failed: {e}");
                }
                Settle::Ack
            }
            Err(e) => {
                error!("could not publish step {}, requeueing: {e}", next.index);
                Settle::Requeue
            }
        }
    }

    /// Runs the consumer with its retry policy; returns the outcome, the number of
    /// invocations and the variables the successful attempt set.
    async fn invoke(
        &self,
        env: &Incoming<'_>,
        run_step: Option<(Uuid, usize)>,
        step_count: Option<usize>,
        variables: Variables,
        prior: u32,
    ) -> (Result<(), HandlerError>, u32, Variables) {
        let policy = self.retry;
        let max = policy.max_attempts();
        let started = Instant::now();
        let mut attempt = 0;
        let outcome = loop {
            attempt += 1;
            let ctx = StepContext::new(ContextParts {
                run_id: run_step.map(|r| r.0),
                step: run_step.map(|r| r.1),
                step_count,
                attempt: prior + attempt,
                endpoint: self.name.clone(),
                instance: self.shared.instance.clone(),
                variables: variables.clone(),
                parent: Parent::consumed(env, &self.name),
                publisher: Some(self.events.clone()),
            });
            if prior + attempt > 1 {
                info!(attempt = prior + attempt, "step started");
            } else {
                info!(target: LIFECYCLE, attempt = 1, "step started");
            }
            let fut = (self.reg.handler)(&env.message, ctx.clone());
            let result = match AssertUnwindSafe(fut).catch_unwind().await {
                Ok(r) => r,
                Err(panic) => {
                    let text = panic
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "consumer panicked".into());
                    Err(HandlerError::new("panic", text, true))
                }
            };
            if result.is_err() {
                self.metrics.record_failed_attempt();
            }
            match result {
                Ok(()) => break (Ok(()), attempt, ctx.take_patch()),
                Err(e) if !e.retryable || attempt >= max => {
                    break (Err(e), attempt, Variables::new())
                }
                Err(e) => {
                    self.metrics.record_retry();
                    let delay = policy.delay(attempt);
                    warn!(
                        attempt = prior + attempt,
                        "attempt failed, retrying in {delay:?}: {e}"
                    );
                    tokio::time::sleep(delay).await;
                }
            }
        };
        self.metrics.observe_step(started.elapsed());
        outcome
    }

    /// Retries a store operation on transient errors for the configured patience.
    async fn store_op<T, F, Fut>(&self, what: &str, op: F) -> Result<T>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let deadline = Instant::now() + self.shared.store_patience;
        let mut delay = Duration::from_millis(100);
        loop {
            match op().await {
                Err(e) if e.is_transient() && Instant::now() + delay < deadline => {
                    warn!("could not {what}, retrying in {delay:?}: {e}");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
                other => return other,
            }
        }
    }

    /// Moves a message to `<q>_error` or `<q>_skipped` with MassTransit's headers.
    /// [`Self::move_to`], boxed: the exception path, whose state would
    /// otherwise make every delivery's task larger.
    fn dead_letter<'a>(
        &'a self,
        suffix: &'a str,
        msg: &'a RawMessage,
        err: Option<&'a HandlerError>,
        attempts: u32,
    ) -> BoxFuture<'a, Settle> {
        Box::pin(self.move_to(suffix, msg, err, attempts))
    }

    async fn move_to(
        &self,
        suffix: &str,
        msg: &RawMessage,
        err: Option<&HandlerError>,
        attempts: u32,
    ) -> Settle {
        let mut headers = msg.headers.clone();
        let input = format!("isoqube://{}/{}", crate::host::host_name(), self.name);
        headers.insert(
            "MT-Host-MachineName".into(),
            header_str(&crate::host::host_name()),
        );
        match err {
            Some(err) => {
                headers.insert("MT-Reason".into(), header_str("fault"));
                headers.insert("MT-Fault-ExceptionType".into(), header_str(&err.kind));
                headers.insert("MT-Fault-Message".into(), header_str(&err.message));
                headers.insert(
                    "MT-Fault-Timestamp".into(),
                    header_str(&Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true)),
                );
                headers.insert("MT-Fault-StackTrace".into(), header_str(""));
                headers.insert(
                    "MT-Fault-RetryCount".into(),
                    Value::from(attempts.saturating_sub(1)),
                );
                headers.insert("MT-Fault-InputAddress".into(), header_str(&input));
            }
            None => {
                headers.insert("MT-Reason".into(), header_str("skip"));
            }
        }
        let out = OutgoingMessage {
            body: msg.body.clone(),
            message_id: msg
                .message_id
                .clone()
                .unwrap_or_else(|| Uuid::new_v4().to_string()),
            correlation_id: msg.correlation_id.clone(),
            headers,
        };
        let queue = format!("{}{suffix}", self.name);
        match self.shared.transport.publish(&queue, out).await {
            Ok(()) => {
                self.metrics.record_dead_lettered();
                Settle::Ack
            }
            Err(e) => {
                error!(endpoint = %self.name, "could not move a message to {queue}, requeueing: {e}");
                Settle::Requeue
            }
        }
    }
}
