//! The [`Transport`] trait: what the runtime asks of a broker.
//!
//! May use: the seam's [`super::message`] and [`super::topology`] types and
//! the ground layer (`crate::error`, the address form of `crate::wire`).

use async_trait::async_trait;

use super::message::{DeliveryStream, OutgoingMessage, QueuePass, QueueStats, RawMessage};
use super::topology::Topology;
use crate::error::{Error, Result};
use crate::wire::address::LOOPBACK_BASE;

/// Whether a transport moves messages at all ([`Transport::reach`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// It delivers messages (when [`Transport::is_ready`]).
    Delivers,
    /// It never delivers: every run it would start would stay pending.
    Nowhere {
        /// Why, and what to do instead (shown to whoever tried).
        why: &'static str,
    },
}

/// The transport seam. Implementations: [`InProcessTransport`](super::InProcessTransport)
/// (embedded default) and [`AmqpTransport`](super::AmqpTransport) for RabbitMQ.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use isoqube::{InProcessTransport, Transport, transport::Topology, transport::{Binding, OutgoingMessage}};
/// let t = InProcessTransport::new();
/// t.declare(&Topology {
///     exchanges: vec!["ex".into()],
///     queues: vec!["q".into()],
///     bindings: vec![Binding::Queue { source: "ex".into(), queue: "q".into() }],
///     ..Default::default()
/// }).await.unwrap();
/// let msg = OutgoingMessage { body: b"{}".to_vec(), message_id: "1".into(), correlation_id: None, headers: Default::default(), properties: Default::default() };
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
    /// that reaches no queue is [`Error::Unroutable`].
    async fn publish(&self, exchange: &str, message: OutgoingMessage) -> Result<()>;
    /// Publishes an event nobody may be subscribed to: like [`Transport::publish`],
    /// but a message that reaches no queue is dropped, not an error.
    async fn publish_event(&self, exchange: &str, message: OutgoingMessage) -> Result<()> {
        match self.publish(exchange, message).await {
            Err(Error::Unroutable(_)) => Ok(()),
            other => other,
        }
    }
    /// Starts consuming a queue with at most `prefetch` unacknowledged deliveries.
    async fn consume(&self, queue: &str, prefetch: u16) -> Result<Box<dyn DeliveryStream>>;
    /// Takes one message off a queue (acknowledged), if there is one.
    async fn get(&self, queue: &str) -> Result<Option<RawMessage>>;
    /// Messages ready in a queue.
    async fn message_count(&self, queue: &str) -> Result<u32>;
    /// A queue's depth (messages ready) and consumers, as the broker tells
    /// them now. The default knows the depth only.
    async fn queue_stats(&self, queue: &str) -> Result<QueueStats> {
        Ok(QueueStats {
            messages: self.message_count(queue).await?,
            unacked: None,
            consumers: None,
        })
    }
    /// Deletes `queue` when nothing consumes it (and, with `if_empty`, when
    /// it holds no message): the broker refuses otherwise, so a consumer
    /// that attaches meanwhile keeps its queue. Returns how many messages
    /// went with it.
    async fn delete_queue(&self, queue: &str, if_empty: bool) -> Result<u32> {
        let _ = (queue, if_empty);
        Err(Error::Transport(format!(
            "the {} transport cannot delete queues",
            self.kind()
        )))
    }
    /// `name` as the broker calls it (the AMQP transport's prefix in front).
    fn broker_name(&self, name: &str) -> String {
        name.to_string()
    }
    /// Up to `max` messages at the head of a queue, left in the queue (for the
    /// control center's error-queue view).
    async fn browse(&self, queue: &str, max: usize) -> Result<Vec<RawMessage>> {
        let _ = (queue, max);
        Err(Error::Transport(format!(
            "the {} transport cannot browse queues",
            self.kind()
        )))
    }
    /// Removes the message with this `message_id` from a queue and returns it;
    /// the others stay. `None` when it is not there (any more).
    async fn take(&self, queue: &str, message_id: &str) -> Result<Option<RawMessage>> {
        let _ = (queue, message_id);
        Err(Error::Transport(format!(
            "the {} transport cannot take a chosen message",
            self.kind()
        )))
    }
    /// One pass over `queue` (see [`QueuePass`]): the way to act on many
    /// chosen messages of a queue (the control center's bulk requeue and
    /// discard) taking each once, whatever their number, and losing none:
    /// what is not acked goes back when the pass closes (or when its
    /// connection drops).
    async fn pass(&self, queue: &str) -> Result<Box<dyn QueuePass>> {
        let _ = queue;
        Err(Error::Transport(format!(
            "the {} transport cannot pass over a queue",
            self.kind()
        )))
    }
    /// Declares a temporary endpoint `name`: an exchange and a queue of that
    /// name, bound, that go away with their consumer (RabbitMQ: not durable,
    /// auto-delete, MassTransit's `?temporary=true` endpoints). A request
    /// client's response endpoint. By default a plain endpoint.
    async fn declare_temporary(&self, name: &str) -> Result<()> {
        self.declare(&Topology {
            exchanges: vec![name.to_string()],
            queues: vec![name.to_string()],
            bindings: vec![super::Binding::Queue {
                source: name.to_string(),
                queue: name.to_string(),
            }],
            ..Default::default()
        })
        .await
    }
    /// What every endpoint address on this transport starts with, as
    /// MassTransit writes it (`rabbitmq://host/vhost/` and the name prefix
    /// for RabbitMQ; `loopback://localhost/` in process).
    fn address_base(&self) -> String {
        LOOPBACK_BASE.to_string()
    }
    /// The address of the endpoint, exchange or queue `name`
    /// (`sourceAddress`, `destinationAddress`, `MT-Fault-InputAddress`).
    fn address(&self, name: &str) -> String {
        format!("{}{name}", self.address_base())
    }
    /// Whether it can move messages right now.
    async fn is_ready(&self) -> bool {
        true
    }
    /// Whether it moves messages at all: [`Reach::Nowhere`] for a stand-in
    /// that only lets a store be read (a control center started without a
    /// broker). [`Control`](crate::Control) refuses to start work over it
    /// before writing anything, with its reason.
    fn reach(&self) -> Reach {
        Reach::Delivers
    }
    /// Closes connections cleanly.
    async fn close(&self) -> Result<()> {
        Ok(())
    }
}

/// What the builders and constructors that take a transport accept: a
/// transport, or one already shared (`Arc<T>`, `Arc<dyn Transport>`), so each takes it
/// with one method. (`Into<Arc<dyn Transport>>` cannot say this: the standard
/// library has no conversion that turns `T` into `Arc<dyn Trait>`.)
pub trait IntoTransport {
    /// The transport, shared.
    fn into_transport(self) -> std::sync::Arc<dyn Transport>;
}

impl<T: Transport> IntoTransport for T {
    fn into_transport(self) -> std::sync::Arc<dyn Transport> {
        std::sync::Arc::new(self)
    }
}

impl IntoTransport for std::sync::Arc<dyn Transport> {
    fn into_transport(self) -> std::sync::Arc<dyn Transport> {
        self
    }
}

impl<T: Transport> IntoTransport for std::sync::Arc<T> {
    fn into_transport(self) -> std::sync::Arc<dyn Transport> {
        self
    }
}
