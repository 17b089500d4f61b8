//! The in-process transport: a small broker inside the process with RabbitMQ's
//! semantics (fanout exchanges, exchange-to-exchange bindings, queues shared by
//! competing consumers, prefetch, manual acks, requeue of unacked messages when a
//! consumer goes away), so everything works with no broker installed.
//!
//! Backend layer: may use the transport seam (`super`) and the ground layer
//! (`crate::error`), nothing above. Its modules: `broker` (the state behind
//! one lock), `consume` (streams and acks), `pass` (one pass over a
//! queue) and `handle`
//! ([`InProcessTransport`] and its [`Transport`](super::Transport) impl).

mod broker;
mod consume;
mod handle;
mod pass;

#[cfg(test)]
mod tests;

pub use handle::InProcessTransport;
