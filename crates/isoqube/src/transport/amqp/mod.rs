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
//! * `supervisor` — reconnecting with backoff and declaring again;
//! * `handle` — [`AmqpTransport`] and its [`Transport`](super::Transport) impl.

mod config;
mod connection;
mod consume;
mod declare;
mod errors;
mod handle;
mod headers;
mod publish;
mod routed;
mod supervisor;
mod tls;

#[cfg(test)]
mod tests;

pub use crate::redact::redact_url;
pub use config::{
    AmqpConfig, CONTENT_TYPE, DEFAULT_URL, PREFIX_ENV, QUORUM_ENV, TLS_CA_ENV, TLS_CERT_ENV,
    TLS_KEY_ENV, URL_ENV,
};
pub use handle::AmqpTransport;
pub use headers::{headers_from_amqp, headers_to_amqp};
