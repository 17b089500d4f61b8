//! The transport seam: how messages move between services.
//!
//! The model is RabbitMQ's (fanout exchanges, durable queues, exchange-to-exchange
//! bindings, manual acks), so the in-process transport and the AMQP transport
//! behave the same and the runtime above them does not care which it has.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde_json::Value;

use crate::error::Result;

pub mod amqp;
pub mod memory;

pub use amqp::{AmqpConfig, AmqpTransport};
pub use memory::InProcessTransport;

/// A message to publish.
#[derive(Debug, Clone, PartialEq)]
pub struct OutgoingMessage {
    /// The body (a serialised envelope, normally).
    pub body: Vec<u8>,
    /// AMQP `message_id`.
    pub message_id: String,
    /// AMQP `correlation_id`.
    pub correlation_id: Option<String>,
    /// Transport headers (the `MT-*` fault headers, for instance).
    pub headers: BTreeMap<String, Value>,
}

/// A message taken from a queue, with nothing left to acknowledge.
#[derive(Debug, Clone, PartialEq)]
pub struct RawMessage {
    /// The body.
    pub body: Vec<u8>,
    /// AMQP `message_id`.
    pub message_id: Option<String>,
    /// AMQP `correlation_id`.
    pub correlation_id: Option<String>,
    /// Transport headers.
    pub headers: BTreeMap<String, Value>,
    /// Delivered before and not acknowledged.
    pub redelivered: bool,
}

/// Acknowledges one delivery.
#[async_trait]
pub trait Acker: Send + Sync {
    /// Done with it: remove it from the queue.
    async fn ack(&self) -> Result<()>;
    /// Give it back (`requeue`) or drop it.
    async fn nack(&self, requeue: bool) -> Result<()>;
}

/// A message delivered to a consumer, to be acked or nacked.
pub struct Delivery {
    /// What arrived.
    pub message: RawMessage,
    /// How to settle it.
    pub acker: Box<dyn Acker>,
}

/// A stream of deliveries from one queue.
#[async_trait]
pub trait DeliveryStream: Send {
    /// The next delivery; `None` once cancelled or closed.
    async fn next(&mut self) -> Option<Result<Delivery>>;
    /// Stop receiving; deliveries already handed out can still be settled.
    async fn cancel(&mut self);
}

/// A durable fanout exchange bound to another exchange or a queue.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Binding {
    /// Exchange-to-exchange.
    Exchange {
        /// Source exchange.
        source: String,
        /// Destination exchange.
        destination: String,
    },
    /// Exchange-to-queue.
    Queue {
        /// Source exchange.
        source: String,
        /// Destination queue.
        queue: String,
    },
}

/// What a service declares at start-up: exchanges, queues and bindings.
///
/// ```
/// let t = isoqube::Topology::default();
/// assert!(t.exchanges.is_empty());
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Topology {
    /// Durable fanout exchanges.
    pub exchanges: Vec<String>,
    /// Durable queues.
    pub queues: Vec<String>,
    /// Bindings.
    pub bindings: Vec<Binding>,
}

/// Suffix of an endpoint's error queue.
pub const ERROR_SUFFIX: &str = "_error";
/// Suffix of an endpoint's skipped queue.
pub const SKIPPED_SUFFIX: &str = "_skipped";

impl Topology {
    /// The MassTransit topology by names: an exchange per published event
    /// exchange; per endpoint `q` (with the exchange of the event it consumes)
    /// an exchange `q`, a queue `q`, the binding between them, the event
    /// exchange bound to `q`, and `q_error` and `q_skipped` (exchange + queue
    /// each). The registry says which names (`Registry::topology`).
    ///
    /// ```
    /// let t = isoqube::Topology::for_names(
    ///     ["Ns:Built".to_string()],
    ///     [("build".to_string(), "Ns:Build".to_string())],
    /// );
    /// assert_eq!(t.exchanges, ["Ns:Built", "Ns:Build", "build", "build_error", "build_skipped"]);
    /// assert_eq!(t.queues, ["build", "build_error", "build_skipped"]);
    /// ```
    pub fn for_names(
        event_exchanges: impl IntoIterator<Item = String>,
        endpoints: impl IntoIterator<Item = (String, String)>,
    ) -> Self {
        let mut t = Topology::default();
        for e in event_exchanges {
            t.add_exchange(e);
        }
        for (q, event_exchange) in endpoints {
            t.add_exchange(event_exchange.clone());
            for name in [
                q.clone(),
                format!("{q}{ERROR_SUFFIX}"),
                format!("{q}{SKIPPED_SUFFIX}"),
            ] {
                t.add_exchange(name.clone());
                t.add_queue(name.clone());
                t.add_binding(Binding::Queue {
                    source: name.clone(),
                    queue: name,
                });
            }
            t.add_binding(Binding::Exchange {
                source: event_exchange,
                destination: q,
            });
        }
        t
    }

    fn add_exchange(&mut self, name: String) {
        if !self.exchanges.contains(&name) {
            self.exchanges.push(name);
        }
    }

    fn add_queue(&mut self, name: String) {
        if !self.queues.contains(&name) {
            self.queues.push(name);
        }
    }

    fn add_binding(&mut self, b: Binding) {
        if !self.bindings.contains(&b) {
            self.bindings.push(b);
        }
    }
}

/// The transport seam. Implementations: [`InProcessTransport`] (embedded default)
/// and [`AmqpTransport`] for RabbitMQ.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use isoqube::{InProcessTransport, Transport, Topology, transport::{Binding, OutgoingMessage}};
/// let t = InProcessTransport::new();
/// t.declare(&Topology {
///     exchanges: vec!["ex".into()],
///     queues: vec!["q".into()],
///     bindings: vec![Binding::Queue { source: "ex".into(), queue: "q".into() }],
/// }).await.unwrap();
/// let msg = OutgoingMessage { body: b"{}".to_vec(), message_id: "1".into(), correlation_id: None, headers: Default::default() };
/// t.publish("ex", msg).await.unwrap();
/// assert_eq!(t.message_count("q").await.unwrap(), 1);
/// # });
/// ```
#[async_trait]
pub trait Transport: Send + Sync + 'static {
    /// A short name for logs and the service record (`in-process`, `amqp`).
    fn kind(&self) -> &'static str;
    /// Declares exchanges, queues and bindings; idempotent.
    async fn declare(&self, topology: &Topology) -> Result<()>;
    /// Publishes to an exchange and waits for the broker's confirmation. A message
    /// that reaches no queue is [`crate::Error::Unroutable`].
    async fn publish(&self, exchange: &str, message: OutgoingMessage) -> Result<()>;
    /// Publishes an event nobody may be subscribed to: like [`Transport::publish`],
    /// but a message that reaches no queue is dropped, not an error.
    async fn publish_event(&self, exchange: &str, message: OutgoingMessage) -> Result<()> {
        match self.publish(exchange, message).await {
            Err(crate::Error::Unroutable(_)) => Ok(()),
            other => other,
        }
    }
    /// Starts consuming a queue with at most `prefetch` unacknowledged deliveries.
    async fn consume(&self, queue: &str, prefetch: u16) -> Result<Box<dyn DeliveryStream>>;
    /// Takes one message off a queue (acknowledged), if there is one.
    async fn get(&self, queue: &str) -> Result<Option<RawMessage>>;
    /// Messages ready in a queue.
    async fn message_count(&self, queue: &str) -> Result<u32>;
    /// Up to `max` messages at the head of a queue, left in the queue (for the
    /// control center's error-queue view).
    async fn browse(&self, queue: &str, max: usize) -> Result<Vec<RawMessage>> {
        let _ = (queue, max);
        Err(crate::Error::Transport(format!(
            "the {} transport cannot browse queues",
            self.kind()
        )))
    }
    /// Removes the message with this `message_id` from a queue and returns it;
    /// the others stay. `None` when it is not there (any more).
    async fn take(&self, queue: &str, message_id: &str) -> Result<Option<RawMessage>> {
        let _ = (queue, message_id);
        Err(crate::Error::Transport(format!(
            "the {} transport cannot take a chosen message",
            self.kind()
        )))
    }
    /// Whether it can move messages right now.
    async fn is_ready(&self) -> bool {
        true
    }
    /// Closes connections cleanly.
    async fn close(&self) -> Result<()> {
        Ok(())
    }
}
