//! The AMQP transport: RabbitMQ through [`lapin`], wire-compatible with MassTransit.
//!
//! What it does, in the terms of the [`Transport`](super::Transport) seam:
//!
//! * **declare** — durable fanout exchanges, durable queues (quorum queues when
//!   [`AmqpConfig::quorum`] is set), exchange-to-exchange and exchange-to-queue
//!   bindings. Every name gets [`AmqpConfig::prefix`] in front, so several test
//!   runs or tenants can share one vhost. Declarations are remembered and replayed
//!   after a reconnect.
//! * **publish** — persistent messages with content type
//!   `application/vnd.masstransit+json`, `message_id` / `correlation_id` properties
//!   and the transport headers; `mandatory` is set and publisher confirms are on,
//!   so a message that reaches no queue is
//!   [`Error::Unroutable`](crate::error::Error::Unroutable) and a nack or a
//!   missing confirmation is an error.
//! * **consume** — one channel per consumer with `basic.qos(prefetch)` and manual
//!   acks; closing the channel (dropping the stream) hands unacknowledged messages
//!   back to the broker, which redelivers them.
//! * **recovery** — a supervisor task watches the connection; when it drops it
//!   reconnects with exponential backoff (lapin's own recovery is not used),
//!   re-declares the topology, and the streams of the dead connection end so that
//!   the runtime consumes again on the new one.
//!
//! Credentials never appear in logs or errors: everything goes through
//! [`redact_url`].
//!
//! Backend layer: may use the transport seam (`super`) and the ground layer
//! (`crate::error`, `crate::redact`, `crate::host`), never the engine or the
//! author API. Its modules, from the ground up:
//!
//! * `config` — [`AmqpConfig`], its environment variables and defaults;
//! * `errors` — lapin's errors classified and scrubbed; reply codes;
//! * `headers` — AMQP field tables and properties to the seam's types and back;
//! * `routed` — the shared channel for `mandatory` publishes and its pump;
//! * `tls` — reading the `amqps://` CA and client certificate files;
//! * `connection` — the live connection, the shared state, the admin channel;
//! * `declare` — declaring, counting and deleting the topology;
//! * `publish` — publisher confirms, mandatory returns, retries;
//! * `consume` — consume streams, acks, `get`, browsing a queue;
//! * `pass` — one pass over a queue, each message taken once (bulk actions);
//! * `supervisor` — reconnecting with backoff and declaring again;
//! * `handle` — [`AmqpTransport`] and its [`Transport`](super::Transport) impl.

// The settings are plain data, there with or without the `amqp` feature (the
// configuration file names them either way); the rest needs lapin.
mod config;
#[cfg(feature = "amqp")]
mod connection;
#[cfg(feature = "amqp")]
mod consume;
#[cfg(feature = "amqp")]
mod declare;
#[cfg(feature = "amqp")]
mod errors;
#[cfg(feature = "amqp")]
mod handle;
#[cfg(feature = "amqp")]
mod headers;
#[cfg(feature = "amqp")]
mod pass;
#[cfg(feature = "amqp")]
mod publish;
#[cfg(feature = "amqp")]
mod queue_counts;
#[cfg(feature = "amqp")]
mod routed;
#[cfg(feature = "amqp")]
mod supervisor;
#[cfg(feature = "amqp")]
mod tls;

#[cfg(all(test, feature = "amqp"))]
mod tests;

pub use crate::redact::redact_url;
pub use config::{
    AmqpConfig, CONTENT_TYPE, DEFAULT_URL, PREFIX_ENV, QUORUM_ENV, TLS_CA_ENV, TLS_CERT_ENV,
    TLS_KEY_ENV, URL_ENV,
};
#[cfg(feature = "amqp")]
pub use handle::AmqpTransport;
#[cfg(feature = "amqp")]
pub use headers::{headers_from_amqp, headers_to_amqp};
