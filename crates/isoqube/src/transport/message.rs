//! What moves over a transport: a message to publish, a message taken from a
//! queue, and a delivery with the acker that settles it; a stream of
//! deliveries.
//!
//! May use: the ground layer (`crate::error`, the content type of
//! `crate::wire::headers`) and `serde_json` values.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde_json::Value;

use crate::error::Result;
use crate::wire::headers::CONTENT_TYPE;

/// The AMQP basic properties of a message besides its ids, so a message
/// moved to another queue keeps them (as MassTransit's error and skipped
/// transports do). `user_id` is not carried: the broker refuses one that is
/// not the publishing connection's user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Properties {
    /// `content_type`; `None` on publish means MassTransit's
    /// (`application/vnd.masstransit+json`).
    pub content_type: Option<String>,
    /// `content_encoding`.
    pub content_encoding: Option<String>,
    /// `delivery_mode` (2 persistent); `None` on publish means persistent.
    pub delivery_mode: Option<u8>,
    /// `priority`.
    pub priority: Option<u8>,
    /// `reply_to`.
    pub reply_to: Option<String>,
    /// `expiration` (milliseconds, as text).
    pub expiration: Option<String>,
    /// `timestamp` (seconds since the epoch).
    pub timestamp: Option<u64>,
    /// `type`.
    pub kind: Option<String>,
    /// `app_id`.
    pub app_id: Option<String>,
}

impl Properties {
    /// The properties a message is published with: these, MassTransit's
    /// content type and persistence where they say nothing.
    ///
    /// ```
    /// let p = isoqube::transport::Properties::default().published();
    /// assert_eq!(p.content_type.as_deref(), Some("application/vnd.masstransit+json"));
    /// assert_eq!(p.delivery_mode, Some(2));
    /// ```
    pub fn published(&self) -> Properties {
        let mut p = self.clone();
        p.content_type
            .get_or_insert_with(|| CONTENT_TYPE.to_string());
        p.delivery_mode.get_or_insert(2);
        p
    }
}

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
    /// The other AMQP properties (default: MassTransit's content type,
    /// persistent).
    pub properties: Properties,
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
    /// The other AMQP properties, as they arrived.
    pub properties: Properties,
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

/// One pass over a queue ([`super::Transport::pass`]): each message that was
/// in the queue when the pass began is handed out once, held (not removed)
/// until it is settled: acked (removed), or left alone to go back to the
/// queue, in its place, when the pass closes. Messages that arrive during the
/// pass are not handed out, so a pass ends even when what it acts on comes
/// back to the same queue (a requeued message that fails again). Leave a
/// message to keep it: a nack with requeue would put it back at the head,
/// where this pass would take it again (and miss one at the end).
#[async_trait]
pub trait QueuePass: Send {
    /// The next message; `None` once every message the queue held when the
    /// pass began has been handed out (or the queue is empty).
    async fn next(&mut self) -> Option<Result<Delivery>>;
    /// Ends the pass: every message handed out and not acked goes back to
    /// the queue. An error means the broker may not have recorded the acks
    /// before the pass ended (the messages acked may still be there).
    async fn close(&mut self) -> Result<()>;
}

/// A queue as the broker tells it at one moment ([`super::Transport::queue_stats`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct QueueStats {
    /// Messages ready (not delivered, or delivered and returned).
    pub messages: u32,
    /// Messages delivered and not yet acknowledged (in flight), when the
    /// transport can tell: RabbitMQ tells it only through its management
    /// plugin's HTTP API, not over AMQP, so the AMQP transport does not.
    pub unacked: Option<u32>,
    /// Consumers attached, when the transport can tell.
    pub consumers: Option<u32>,
}
