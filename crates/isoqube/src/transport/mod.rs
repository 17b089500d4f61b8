//! The transport seam: how messages move between services.
//!
//! The model is RabbitMQ's (fanout exchanges, durable queues, exchange-to-exchange
//! bindings, manual acks), so the in-process transport and the AMQP transport
//! behave the same and the runtime above them does not care which it has.
//!
//! Seam layer: may use the ground layer (`crate::error`) only; the backends
//! below it in the tree ([`amqp`], [`memory`]) are the layer above and use
//! the seam, never the other way (this face only re-exports them). Its
//! modules: `message` (what moves), `topology` (names to declare) and `seam`
//! (the [`Transport`] trait).

pub mod amqp;
pub mod memory;
mod message;
mod seam;
mod topology;

pub use amqp::AmqpConfig;
#[cfg(feature = "amqp")]
pub use amqp::AmqpTransport;
pub use memory::InProcessTransport;
pub use message::{
    Acker, Delivery, DeliveryStream, OutgoingMessage, Properties, QueuePass, QueueStats, RawMessage,
};
pub use seam::{IntoTransport, Reach, Transport};
pub use topology::{Binding, Topology, ERROR_SUFFIX, MAX_PRIORITY, SKIPPED_SUFFIX};
