//! The topology by names: durable fanout exchanges, durable queues and the
//! bindings between them, and the MassTransit layout of an endpoint's
//! exchanges and queues (the registry says which names).
//!
//! May use: nothing but `std`: the seam does not know consumers or events.

use std::collections::BTreeMap;

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
/// let t = isoqube::transport::Topology::default();
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
    /// Queues (of `queues`) declared as priority queues, with their highest
    /// priority (RabbitMQ's `x-max-priority`): a message of a higher priority
    /// is taken first. The others are plain FIFO queues.
    pub priority_queues: BTreeMap<String, u8>,
}

/// The highest run priority (runs go from 0, the default, to 9); the
/// `x-max-priority` of an endpoint queue of a service configured for
/// priorities.
pub const MAX_PRIORITY: u8 = 9;

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
    /// let t = isoqube::transport::Topology::for_names(
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

    /// One endpoint `q` (its exchange and queue, `_error` and `_skipped`)
    /// that takes the events of every exchange of `event_exchanges`.
    ///
    /// ```
    /// let t = isoqube::transport::Topology::endpoint("signals", ["Ns:Paid".to_string(), "Ns:Approved".to_string()]);
    /// assert_eq!(t.queues, ["signals", "signals_error", "signals_skipped"]);
    /// assert_eq!(t.bindings.len(), 5);
    /// ```
    pub fn endpoint(q: &str, event_exchanges: impl IntoIterator<Item = String>) -> Self {
        let mut t = Topology::for_names([], []);
        for name in [
            q.to_string(),
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
        for event_exchange in event_exchanges {
            t.add_exchange(event_exchange.clone());
            t.add_binding(Binding::Exchange {
                source: event_exchange,
                destination: q.to_string(),
            });
        }
        t
    }

    /// The same topology with the endpoint queues `endpoints` (not their
    /// `_error`/`_skipped` queues) declared as priority queues of up to `max`.
    ///
    /// ```
    /// let t = isoqube::transport::Topology::for_names([], [("build".to_string(), "Ns:Build".to_string())])
    ///     .with_priorities(["build".to_string()], 9);
    /// assert_eq!(t.priority_queues.get("build"), Some(&9));
    /// assert!(t.priority_queues.get("build_error").is_none());
    /// ```
    pub fn with_priorities(mut self, endpoints: impl IntoIterator<Item = String>, max: u8) -> Self {
        for q in endpoints {
            if self.queues.contains(&q) {
                self.priority_queues.insert(q, max);
            }
        }
        self
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
