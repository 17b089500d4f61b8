//! Engine layer: one endpoint's loop: take deliveries up to the consumer's
//! concurrency, read each body by its content type (the MassTransit envelope
//! or raw JSON; a fault otherwise), check its message type
//! (skipped otherwise) and hand run steps to [`super::step`] and plain events to
//! the consumer; settle (ack or requeue) each delivery when done.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{warn, Instrument};

use crate::consumer::{ConsumerRegistration, HandlerError};
use crate::context::EventPublisher;
use crate::engine::metrics::EndpointMetrics;
use crate::engine::publish::Publisher;
use crate::engine::telemetry::{LogSink, StepScope};
use crate::event::EventInfo;
use crate::model::{Budget, Variables};
use crate::retry::RetryPolicy;
use crate::store::RunStore;
use crate::transport::{Delivery, RawMessage, Transport, ERROR_SUFFIX, SKIPPED_SUFFIX};
use crate::wire::content::{reader, Reader};
use crate::wire::envelope::Incoming;
use crate::wire::headers::redelivery_count;
use crate::wire::urn::same_type;

pub(super) struct Shared {
    pub(super) name: Arc<str>,
    pub(super) instance: String,
    pub(super) transport: Arc<dyn Transport>,
    pub(super) store: Arc<dyn RunStore>,
    pub(super) publisher: Publisher,
    pub(super) sink: LogSink,
    pub(super) store_patience: Duration,
    pub(super) record_start_after: Option<Duration>,
    pub(super) cancel_poll: Duration,
    pub(super) cancel_grace: Duration,
    /// An attempt's limit when the step names no `timeout`.
    pub(super) default_step_timeout: Option<Duration>,
    /// A retry further off than this is run by the store's timer.
    pub(super) durable_retry_after: Duration,
    /// Attempts lost with their process in a row that end a step.
    pub(super) lost_limit: u32,
    /// The eight `MT-Host-*` headers of this service, for moved messages.
    pub(super) host_headers: BTreeMap<String, Value>,
}

/// See [`ServiceBuilder::record_start_after`](super::ServiceBuilder::record_start_after).
pub const DEFAULT_RECORD_START_AFTER: Duration = Duration::from_millis(250);

/// See [`ServiceBuilder::default_step_timeout`](super::ServiceBuilder::default_step_timeout): an hour, longer than any
/// step a service should hold in one delivery (a longer wait is a wait step or
/// a timer, not a consumer), short enough that a hung consumer is noticed the
/// same day.
pub const DEFAULT_STEP_TIMEOUT: Duration = Duration::from_secs(3600);

/// See [`ServiceBuilder::durable_retries_after`](super::ServiceBuilder::durable_retries_after):
/// a retry due within 5 s waits in memory, its message unacknowledged; a later
/// one is run by the store's timer, its message acknowledged meanwhile.
pub const DEFAULT_DURABLE_RETRY_AFTER: Duration = Duration::from_secs(5);

/// See [`ServiceBuilder::lost_attempts_limit`](super::ServiceBuilder::lost_attempts_limit):
/// like RabbitMQ's delivery limit on quorum queues, high enough that processes
/// killed by something else (deploys, a node lost, a chaos test) do not end a
/// step, low enough that a message that kills its process every time ends.
pub const DEFAULT_LOST_ATTEMPTS_LIMIT: u32 = 10;

pub(super) struct Endpoint {
    pub(super) shared: Arc<Shared>,
    pub(super) reg: &'static ConsumerRegistration,
    pub(super) name: String,
    pub(super) info: &'static EventInfo,
    /// The message type URNs consumed as `info` (its own and the ones it
    /// accepts), built once: matched against every delivery.
    pub(super) types: Vec<String>,
    /// The service's publisher, counting into this endpoint's metrics.
    pub(super) publisher: Publisher,
    /// The same publisher, as step contexts see it (made once: one clone of
    /// an `Arc` per step).
    pub(super) events: Arc<dyn EventPublisher>,
    pub(super) metrics: Arc<EndpointMetrics>,
    /// The consumer's policy, or the service default when it names none.
    pub(super) retry: RetryPolicy,
    /// The consumer's limit, capped by the service's.
    pub(super) concurrency: u16,
    /// The time one handling may take (its attempts' timeouts, the retries'
    /// delays), which a recorded claim turns into the handler's deadline.
    pub(super) budget: Budget,
    /// The run steps it is handling now.
    pub(super) in_hand: super::in_hand::InHand,
}

pub(super) enum Settle {
    Ack,
    Requeue,
}

/// How long an endpoint with nothing in hand waits for a delivery before it
/// checks whether its queue holds messages it is not being given.
const IDLE_CHECK: Duration = Duration::from_secs(15);

/// A queue a service consumes: a consumer's endpoint, or the signal
/// endpoint ([`super::signals`]). [`run_endpoint`] drives either.
pub(super) trait Consuming: Send + Sync + 'static {
    /// The queue.
    fn queue(&self) -> &str;
    /// How many deliveries it handles at once (the prefetch).
    fn prefetch(&self) -> u16;
    /// The transport it consumes from.
    fn transport(&self) -> &Arc<dyn Transport>;
    /// Its metrics.
    fn metrics(&self) -> &Arc<EndpointMetrics>;
    /// Handles one delivery and settles it.
    fn handle(&self, delivery: Delivery) -> impl std::future::Future<Output = ()> + Send;
}

impl Consuming for Endpoint {
    fn queue(&self) -> &str {
        &self.name
    }
    fn prefetch(&self) -> u16 {
        self.concurrency
    }
    fn transport(&self) -> &Arc<dyn Transport> {
        &self.shared.transport
    }
    fn metrics(&self) -> &Arc<EndpointMetrics> {
        &self.metrics
    }
    fn handle(&self, delivery: Delivery) -> impl std::future::Future<Output = ()> + Send {
        Endpoint::handle(self, delivery)
    }
}

pub(super) async fn run_endpoint<E: Consuming>(
    ep: Arc<E>,
    mut shutdown: watch::Receiver<bool>,
    grace: Duration,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        if *shutdown.borrow() {
            return;
        }
        let mut stream = match ep.transport().consume(ep.queue(), ep.prefetch()).await {
            Ok(s) => {
                backoff = Duration::from_millis(100);
                ep.metrics().set_consuming(true);
                s
            }
            Err(e) => {
                warn!(endpoint = %ep.queue(), "cannot consume, retrying in {backoff:?}: {e}");
                tokio::select! {
                    _ = shutdown.changed() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(10));
                continue;
            }
        };
        let mut in_flight = JoinSet::new();
        // A tick per IDLE_CHECK and a count of deliveries: no timer is set
        // per delivery.
        let mut idle =
            tokio::time::interval_at(tokio::time::Instant::now() + IDLE_CHECK, IDLE_CHECK);
        idle.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut delivered = 0u64;
        let stopping = loop {
            tokio::select! {
                _ = shutdown.changed() => break true,
                Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
                // Nothing in hand and nothing delivered for a while: if the
                // queue holds ready messages, this consumer is not being
                // fed (seen once after a broker restart, cause unknown: see
                // docs/RELIABILITY.md), so it consumes again.
                _ = idle.tick() => {
                    let quiet = std::mem::take(&mut delivered) == 0 && in_flight.is_empty();
                    if quiet {
                        if let Ok(ready) = ep.transport().message_count(ep.queue()).await {
                            if ready > 0 {
                                warn!(endpoint = %ep.queue(), ready, "messages wait in the queue but none was delivered for {IDLE_CHECK:?}; consuming again");
                                break false;
                            }
                        }
                    }
                }
                next = stream.next() => match next {
                    Some(Ok(delivery)) => {
                        delivered += 1;
                        let ep = ep.clone();
                        in_flight.spawn(async move { ep.handle(delivery).await });
                    }
                    Some(Err(e)) => {
                        warn!(endpoint = %ep.queue(), "delivery failed, consuming again: {e}");
                        break false;
                    }
                    None => {
                        warn!(endpoint = %ep.queue(), "consumer closed by the transport, consuming again");
                        break false;
                    }
                },
            }
        };
        ep.metrics().set_consuming(false);
        if stopping {
            stream.cancel().await;
            let drained = tokio::time::timeout(grace, async {
                while in_flight.join_next().await.is_some() {}
            })
            .await;
            if drained.is_err() {
                warn!(endpoint = %ep.queue(), "{} steps still running after {grace:?}; they will be redelivered", in_flight.len());
                in_flight.abort_all();
            }
            return;
        }
        while in_flight.join_next().await.is_some() {}
        tokio::time::sleep(backoff).await;
    }
}

impl Endpoint {
    pub(super) async fn handle(&self, delivery: Delivery) {
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

    pub(super) async fn process(&self, msg: &RawMessage) -> Settle {
        let reader = match reader(msg.properties.content_type.as_deref()) {
            Ok(reader) => reader,
            Err(reason) => {
                warn!(endpoint = %self.name, message_id = ?msg.message_id, "{reason}; message moved to {}{ERROR_SUFFIX}", self.name);
                let err = HandlerError::new("isoqube::UnsupportedContentType", reason, false);
                return self.dead_letter(ERROR_SUFFIX, msg, Some(&err), 0).await;
            }
        };
        let parsed = match reader {
            Reader::Envelope => Incoming::from_slice(&msg.body),
            Reader::Raw => Incoming::raw(
                &msg.body,
                msg.message_id.as_deref(),
                msg.correlation_id.as_deref(),
            ),
        };
        let mut env = match parsed {
            Ok(env) => env,
            Err(e) => {
                warn!(endpoint = %self.name, message_id = ?msg.message_id, "{e}");
                let err = HandlerError::new("isoqube::MalformedMessage", e.to_string(), false);
                return self.dead_letter(ERROR_SUFFIX, msg, Some(&err), 0).await;
            }
        };
        env.redelivery_count = redelivery_count(&msg.headers);
        // A raw message names no type: like MassTransit's raw JSON reader,
        // it is taken as the type of the consumer it reached.
        if reader == Reader::Envelope
            && !env
                .message_type
                .iter()
                .any(|urn| self.types.iter().any(|t| same_type(t, urn)))
        {
            let types: Vec<&str> = env.message_type.iter().map(|t| &**t).collect();
            warn!(endpoint = %self.name, message_type = ?types, "no consumer here understands this message type; moving it to {}{SKIPPED_SUFFIX}", self.name);
            return self.dead_letter(SKIPPED_SUFFIX, msg, None, 0).await;
        }
        let run_step = match env.run_step() {
            Ok(run_step) => run_step,
            Err(reason) => {
                warn!(endpoint = %self.name, message_id = %&*env.message_id, "{reason}; consumer not run, message moved to {}{ERROR_SUFFIX}", self.name);
                let err = HandlerError::new("isoqube::BadRunHeader", reason, false);
                return self.dead_letter(ERROR_SUFFIX, msg, Some(&err), 0).await;
            }
        };
        match run_step {
            Some((run_id, step)) => {
                let scope = StepScope {
                    run_id,
                    step: Some(step),
                    event: self.info.name.to_string(),
                    service: self.shared.name.clone(),
                    sink: self.shared.sink.clone(),
                };
                // `step` counts from 1, as every step a person reads does
                // (the summary, `runs show`, the TUI); the index stays in JSON.
                let span = tracing::info_span!("step", run_id = %run_id, step = step + 1, event = self.info.name, endpoint = %self.name);
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

    pub(super) async fn process_plain(&self, msg: &RawMessage, env: &Incoming<'_>) -> Settle {
        let (result, attempts, _, _) = self.invoke(env, None, Variables::new(), 0).await;
        match result {
            Ok(()) => Settle::Ack,
            Err(e) => {
                self.dead_letter(ERROR_SUFFIX, msg, Some(&e), attempts)
                    .await
            }
        }
    }
}
