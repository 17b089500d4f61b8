//! What moves over a transport: a message to publish, a message taken from a
//! queue, and a delivery with the acker that settles it; a stream of
//! deliveries.
//!
//! May use: the ground layer (`crate::error`) and `serde_json` values.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde_json::Value;

use crate::error::Result;

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
