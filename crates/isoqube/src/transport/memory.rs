//! The in-process transport: a small broker inside the process with RabbitMQ's
//! semantics (fanout exchanges, exchange-to-exchange bindings, queues shared by
//! competing consumers, prefetch, manual acks, requeue of unacked messages when a
//! consumer goes away), so everything works with no broker installed.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use tokio::sync::Notify;

use super::{
    Acker, Binding, Delivery, DeliveryStream, OutgoingMessage, RawMessage, Topology, Transport,
};
use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Dest {
    Exchange(String),
    Queue(String),
}

#[derive(Default)]
struct Queue {
    ready: VecDeque<RawMessage>,
    unacked: HashMap<u64, (u64, RawMessage)>,
    notify: Arc<Notify>,
}

#[derive(Default)]
struct State {
    exchanges: HashMap<String, Vec<Dest>>,
    queues: HashMap<String, Queue>,
    in_flight: HashMap<u64, usize>,
    next_tag: u64,
    next_consumer: u64,
}

#[derive(Default)]
struct Broker {
    state: Mutex<State>,
}

impl Broker {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind; keep going.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The embedded transport. Cloning gives another handle to the same broker, so
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

fn missing_queue(queue: &str) -> Error {
    Error::Transport(format!("queue '{queue}' does not exist"))
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
            st.queues.entry(q.clone()).or_default();
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
            redelivered: false,
        };
        for q in queues {
            if let Some(queue) = st.queues.get_mut(&q) {
                queue.ready.push_back(raw.clone());
                queue.notify.notify_waiters();
            }
        }
        Ok(())
    }

    async fn consume(&self, queue: &str, prefetch: u16) -> Result<Box<dyn DeliveryStream>> {
        let mut st = self.broker.lock();
        let notify = st
            .queues
            .get(queue)
            .ok_or_else(|| missing_queue(queue))?
            .notify
            .clone();
        st.next_consumer += 1;
        let consumer = st.next_consumer;
        st.in_flight.insert(consumer, 0);
        Ok(Box::new(MemoryStream {
            broker: self.broker.clone(),
            queue: queue.to_string(),
            consumer,
            prefetch: usize::from(prefetch.max(1)),
            notify,
            cancelled: false,
        }))
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

    async fn browse(&self, queue: &str, max: usize) -> Result<Vec<RawMessage>> {
        let st = self.broker.lock();
        let q = st.queues.get(queue).ok_or_else(|| missing_queue(queue))?;
        Ok(q.ready.iter().take(max).cloned().collect())
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

struct MemoryStream {
    broker: Arc<Broker>,
    queue: String,
    consumer: u64,
    prefetch: usize,
    notify: Arc<Notify>,
    cancelled: bool,
}

impl MemoryStream {
    fn try_take(&self) -> Option<Result<Delivery>> {
        let mut st = self.broker.lock();
        if st.in_flight.get(&self.consumer).copied().unwrap_or(0) >= self.prefetch {
            return None;
        }
        st.next_tag += 1;
        let tag = st.next_tag;
        let Some(q) = st.queues.get_mut(&self.queue) else {
            return Some(Err(missing_queue(&self.queue)));
        };
        let msg = q.ready.pop_front()?;
        q.unacked.insert(tag, (self.consumer, msg.clone()));
        *st.in_flight.entry(self.consumer).or_default() += 1;
        Some(Ok(Delivery {
            message: msg,
            acker: Box::new(MemoryAcker {
                broker: self.broker.clone(),
                queue: self.queue.clone(),
                tag,
            }),
        }))
    }
}

#[async_trait]
impl DeliveryStream for MemoryStream {
    async fn next(&mut self) -> Option<Result<Delivery>> {
        loop {
            if self.cancelled {
                return None;
            }
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(d) = self.try_take() {
                return Some(d);
            }
            notified.await;
        }
    }

    async fn cancel(&mut self) {
        self.cancelled = true;
        self.notify.notify_waiters();
    }
}

impl Drop for MemoryStream {
    /// Like a closed AMQP channel: whatever this consumer had not settled goes
    /// back to the head of the queue, marked redelivered.
    fn drop(&mut self) {
        let mut st = self.broker.lock();
        st.in_flight.remove(&self.consumer);
        if let Some(q) = st.queues.get_mut(&self.queue) {
            let mut mine: Vec<u64> = q
                .unacked
                .iter()
                .filter(|(_, (c, _))| *c == self.consumer)
                .map(|(tag, _)| *tag)
                .collect();
            mine.sort_unstable();
            for tag in mine.into_iter().rev() {
                if let Some((_, mut msg)) = q.unacked.remove(&tag) {
                    msg.redelivered = true;
                    q.ready.push_front(msg);
                }
            }
            q.notify.notify_waiters();
        }
    }
}

struct MemoryAcker {
    broker: Arc<Broker>,
    queue: String,
    tag: u64,
}

impl MemoryAcker {
    fn settle(&self, requeue: bool) -> Result<()> {
        let mut st = self.broker.lock();
        let q = st
            .queues
            .get_mut(&self.queue)
            .ok_or_else(|| missing_queue(&self.queue))?;
        let (consumer, mut msg) = q.unacked.remove(&self.tag).ok_or_else(|| {
            Error::Transport(format!(
                "delivery {} on '{}' is already settled or its consumer is gone",
                self.tag, self.queue
            ))
        })?;
        if requeue {
            msg.redelivered = true;
            q.ready.push_front(msg);
        }
        q.notify.notify_waiters();
        if let Some(n) = st.in_flight.get_mut(&consumer) {
            *n = n.saturating_sub(1);
        }
        Ok(())
    }
}

#[async_trait]
impl Acker for MemoryAcker {
    async fn ack(&self) -> Result<()> {
        self.settle(false)
    }

    async fn nack(&self, requeue: bool) -> Result<()> {
        self.settle(requeue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topo() -> Topology {
        Topology {
            exchanges: vec!["event".into(), "a".into(), "b".into()],
            queues: vec!["a".into(), "b".into()],
            bindings: vec![
                Binding::Queue {
                    source: "a".into(),
                    queue: "a".into(),
                },
                Binding::Queue {
                    source: "b".into(),
                    queue: "b".into(),
                },
                Binding::Exchange {
                    source: "event".into(),
                    destination: "a".into(),
                },
                Binding::Exchange {
                    source: "event".into(),
                    destination: "b".into(),
                },
            ],
        }
    }

    fn msg(id: &str) -> OutgoingMessage {
        OutgoingMessage {
            body: id.as_bytes().to_vec(),
            message_id: id.into(),
            correlation_id: None,
            headers: Default::default(),
        }
    }

    #[tokio::test]
    async fn fanout_prefetch_and_requeue_on_drop() {
        let t = InProcessTransport::new();
        t.declare(&topo()).await.unwrap();
        t.declare(&topo()).await.unwrap();
        t.publish("event", msg("1")).await.unwrap();
        t.publish("event", msg("2")).await.unwrap();
        assert_eq!(t.message_count("a").await.unwrap(), 2);
        assert_eq!(t.message_count("b").await.unwrap(), 2);

        let mut s = t.consume("a", 1).await.unwrap();
        let d1 = s.next().await.unwrap().unwrap();
        assert_eq!(d1.message.message_id.as_deref(), Some("1"));
        // prefetch 1: the second waits until the first is settled
        let blocked = tokio::time::timeout(std::time::Duration::from_millis(50), s.next()).await;
        assert!(blocked.is_err());
        d1.acker.ack().await.unwrap();
        assert!(d1.acker.ack().await.is_err(), "double ack is refused");
        let d2 = s.next().await.unwrap().unwrap();
        assert!(!d2.message.redelivered);
        drop(s);
        assert_eq!(t.unacked_count("a"), 0);
        let again = t.get("a").await.unwrap().unwrap();
        assert!(again.redelivered);
        assert!(
            d2.acker.ack().await.is_err(),
            "ack after the consumer closed fails"
        );
        assert!(matches!(
            t.publish("nope", msg("x")).await,
            Err(Error::Transport(_))
        ));
    }

    #[tokio::test]
    async fn unroutable_is_an_error() {
        let t = InProcessTransport::new();
        t.declare(&Topology {
            exchanges: vec!["lonely".into()],
            ..Default::default()
        })
        .await
        .unwrap();
        assert!(matches!(
            t.publish("lonely", msg("1")).await,
            Err(Error::Unroutable(_))
        ));
    }
}
