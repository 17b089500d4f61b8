//! The handle users hold: [`InProcessTransport`] and the [`Transport`] seam's
//! methods on the broker: declaring, routing a publish through fanout
//! exchanges to every bound queue, reading queues; consuming is
//! [`super::consume`]'s.
//!
//! May use: [`super::broker`], [`super::consume`], the seam (`super::super`)
//! and the ground layer (`crate::error`).

use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;

use super::super::{
    Binding, DeliveryStream, OutgoingMessage, QueuePass, QueueStats, RawMessage, Topology,
    Transport,
};
use super::broker::{missing_queue, Broker, Dest};
use super::consume::MemoryStream;
use super::pass::MemoryPass;
use crate::error::{Error, Result};

/// several services in one process talk to each other through it.
///
/// ```
/// let transport = isoqube::InProcessTransport::new();
/// let same_broker = transport.clone();
/// # let _ = same_broker;
/// ```
#[derive(Clone, Default)]
pub struct InProcessTransport {
    broker: Arc<Broker>,
}

impl InProcessTransport {
    /// An empty broker.
    pub fn new() -> Self {
        Self::default()
    }

    /// Deliveries handed out on `queue` and not yet settled (for tests and metrics).
    pub fn unacked_count(&self, queue: &str) -> usize {
        self.broker
            .lock()
            .queues
            .get(queue)
            .map_or(0, |q| q.unacked.len())
    }

    /// Names of the declared queues, sorted.
    pub fn queue_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.broker.lock().queues.keys().cloned().collect();
        names.sort();
        names
    }
}

#[async_trait]
impl Transport for InProcessTransport {
    fn kind(&self) -> &'static str {
        "in-process"
    }

    async fn declare(&self, topology: &Topology) -> Result<()> {
        let mut st = self.broker.lock();
        for ex in &topology.exchanges {
            st.exchanges.entry(ex.clone()).or_default();
        }
        for q in &topology.queues {
            let want = topology.priority_queues.get(q).copied();
            let queue = match st.queues.entry(q.clone()) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(Default::default()).max_priority = want;
                    continue;
                }
            };
            // RabbitMQ refuses to redeclare a queue with other arguments.
            if queue.max_priority != want {
                let has = |p: Option<u8>| match p {
                    Some(max) => format!("x-max-priority={max}"),
                    None => "no x-max-priority".to_string(),
                };
                return Err(Error::Transport(format!(
                    "queue '{q}' already exists with different arguments: it has {}, declared here with {}",
                    has(queue.max_priority),
                    has(want)
                )));
            }
        }
        for b in &topology.bindings {
            let (source, dest) = match b {
                Binding::Exchange {
                    source,
                    destination,
                } => {
                    if !st.exchanges.contains_key(destination) {
                        return Err(Error::Transport(format!(
                            "exchange '{destination}' does not exist"
                        )));
                    }
                    (source, Dest::Exchange(destination.clone()))
                }
                Binding::Queue { source, queue } => {
                    if !st.queues.contains_key(queue) {
                        return Err(missing_queue(queue));
                    }
                    (source, Dest::Queue(queue.clone()))
                }
            };
            let dests = st
                .exchanges
                .get_mut(source)
                .ok_or_else(|| Error::Transport(format!("exchange '{source}' does not exist")))?;
            if !dests.contains(&dest) {
                dests.push(dest);
            }
        }
        Ok(())
    }

    async fn publish(&self, exchange: &str, message: OutgoingMessage) -> Result<()> {
        let mut st = self.broker.lock();
        if !st.exchanges.contains_key(exchange) {
            return Err(Error::Transport(format!(
                "exchange '{exchange}' does not exist"
            )));
        }
        let mut seen: HashSet<Dest> = HashSet::new();
        let mut todo = vec![Dest::Exchange(exchange.to_string())];
        let mut queues = Vec::new();
        while let Some(d) = todo.pop() {
            if !seen.insert(d.clone()) {
                continue;
            }
            match d {
                Dest::Exchange(ex) => {
                    todo.extend(st.exchanges.get(&ex).cloned().unwrap_or_default())
                }
                Dest::Queue(q) => queues.push(q),
            }
        }
        if queues.is_empty() {
            return Err(Error::Unroutable(exchange.to_string()));
        }
        let raw = RawMessage {
            body: message.body,
            message_id: Some(message.message_id),
            correlation_id: message.correlation_id,
            headers: message.headers,
            properties: message.properties.published(),
            redelivered: false,
        };
        for q in queues {
            if let Some(queue) = st.queues.get_mut(&q) {
                queue.enqueue(raw.clone());
                queue.notify.notify_waiters();
            }
        }
        Ok(())
    }

    async fn consume(&self, queue: &str, prefetch: u16) -> Result<Box<dyn DeliveryStream>> {
        Ok(Box::new(MemoryStream::open(&self.broker, queue, prefetch)?))
    }

    async fn get(&self, queue: &str) -> Result<Option<RawMessage>> {
        let mut st = self.broker.lock();
        let q = st
            .queues
            .get_mut(queue)
            .ok_or_else(|| missing_queue(queue))?;
        Ok(q.ready.pop_front())
    }

    async fn message_count(&self, queue: &str) -> Result<u32> {
        let st = self.broker.lock();
        let q = st.queues.get(queue).ok_or_else(|| missing_queue(queue))?;
        Ok(u32::try_from(q.ready.len()).unwrap_or(u32::MAX))
    }

    async fn queue_stats(&self, queue: &str) -> Result<QueueStats> {
        let st = self.broker.lock();
        let q = st.queues.get(queue).ok_or_else(|| missing_queue(queue))?;
        Ok(QueueStats {
            messages: u32::try_from(q.ready.len()).unwrap_or(u32::MAX),
            unacked: Some(u32::try_from(q.unacked.len()).unwrap_or(u32::MAX)),
            consumers: Some(u32::try_from(q.turns.len()).unwrap_or(u32::MAX)),
        })
    }

    async fn delete_queue(&self, queue: &str, if_empty: bool) -> Result<u32> {
        let mut st = self.broker.lock();
        let q = st.queues.get(queue).ok_or_else(|| missing_queue(queue))?;
        // As RabbitMQ answers `queue.delete` with if-unused / if-empty.
        if !q.turns.is_empty() || !q.unacked.is_empty() {
            return Err(Error::Transport(format!("queue '{queue}' in use")));
        }
        if if_empty && !q.ready.is_empty() {
            return Err(Error::Transport(format!("queue '{queue}' not empty")));
        }
        let gone = u32::try_from(q.ready.len()).unwrap_or(u32::MAX);
        st.queues.remove(queue);
        let dest = Dest::Queue(queue.to_string());
        for dests in st.exchanges.values_mut() {
            dests.retain(|d| *d != dest);
        }
        Ok(gone)
    }

    async fn browse(&self, queue: &str, max: usize) -> Result<Vec<RawMessage>> {
        let st = self.broker.lock();
        let q = st.queues.get(queue).ok_or_else(|| missing_queue(queue))?;
        Ok(q.ready.iter().take(max).cloned().collect())
    }

    async fn pass(&self, queue: &str) -> Result<Box<dyn QueuePass>> {
        Ok(Box::new(MemoryPass::open(&self.broker, queue)?))
    }

    async fn take(&self, queue: &str, message_id: &str) -> Result<Option<RawMessage>> {
        let mut st = self.broker.lock();
        let q = st
            .queues
            .get_mut(queue)
            .ok_or_else(|| missing_queue(queue))?;
        let at = q
            .ready
            .iter()
            .position(|m| m.message_id.as_deref() == Some(message_id));
        Ok(at.and_then(|i| q.ready.remove(i)))
    }
}
