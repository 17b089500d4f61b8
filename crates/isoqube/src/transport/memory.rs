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
    /// Its consumers, in the order they get the next message: like RabbitMQ,
    /// a queue hands its messages to its consumers round-robin, so one that
    /// takes a message goes to the back.
    turns: VecDeque<u64>,
}

#[derive(Default)]
struct State {
    exchanges: HashMap<String, Vec<Dest>>,
    queues: HashMap<String, Queue>,
    in_flight: HashMap<u64, usize>,
    prefetch: HashMap<u64, usize>,
    /// Consumers waiting in `next` for a message.
    waiting: HashSet<u64>,
    next_tag: u64,
    next_consumer: u64,
}

impl State {
    /// Whether `consumer` has room under its prefetch for another message.
    fn has_room(&self, consumer: u64) -> bool {
        self.in_flight.get(&consumer).copied().unwrap_or(0)
            < self.prefetch.get(&consumer).copied().unwrap_or(0)
    }

    /// Whether `consumer` could take a message now: it has room and is
    /// waiting for one.
    fn ready_to_take(&self, consumer: u64) -> bool {
        self.waiting.contains(&consumer) && self.has_room(consumer)
    }
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
        st.prefetch.insert(consumer, usize::from(prefetch.max(1)));
        if let Some(q) = st.queues.get_mut(queue) {
            q.turns.push_back(consumer);
        }
        Ok(Box::new(MemoryStream {
            broker: self.broker.clone(),
            queue: queue.to_string(),
            consumer,
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
    notify: Arc<Notify>,
    cancelled: bool,
}

impl MemoryStream {
    fn try_take(&self) -> Option<Result<Delivery>> {
        let mut st = self.broker.lock();
        if !st.has_room(self.consumer) {
            return None;
        }
        let Some(q) = st.queues.get(&self.queue) else {
            return Some(Err(missing_queue(&self.queue)));
        };
        if q.ready.is_empty() {
            return None;
        }
        // Another consumer's turn, when it can take the message: it has been
        // woken and will. (Only waiting consumers count, so a busy or gone one
        // never holds messages back.)
        let first = q
            .turns
            .iter()
            .copied()
            .find(|&c| c == self.consumer || st.ready_to_take(c));
        if first.is_some_and(|c| c != self.consumer) {
            return None;
        }
        st.next_tag += 1;
        let tag = st.next_tag;
        let q = st.queues.get_mut(&self.queue)?;
        let msg = q.ready.pop_front()?;
        q.unacked.insert(tag, (self.consumer, msg.clone()));
        if let Some(at) = q.turns.iter().position(|&c| c == self.consumer) {
            q.turns.remove(at);
            q.turns.push_back(self.consumer);
        }
        if !q.ready.is_empty() {
            // Consumers that let this one go first look again.
            q.notify.notify_waiters();
        }
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

    /// Marks this consumer waiting until the returned guard is dropped (also
    /// when `next` is dropped mid-wait).
    fn wait(&self) -> WaitGuard<'_> {
        self.broker.lock().waiting.insert(self.consumer);
        WaitGuard(self)
    }
}

/// While it lives, its consumer is waiting in `next`.
struct WaitGuard<'a>(&'a MemoryStream);

impl Drop for WaitGuard<'_> {
    fn drop(&mut self) {
        let stream = self.0;
        let mut st = stream.broker.lock();
        st.waiting.remove(&stream.consumer);
        // Others may have let this consumer go first: if it leaves without
        // taking (its `next` was dropped), they must look again.
        if let Some(q) = st.queues.get(&stream.queue) {
            if !q.ready.is_empty() && q.turns.len() > 1 {
                q.notify.notify_waiters();
            }
        }
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
            let waiting = self.wait();
            if let Some(d) = self.try_take() {
                return Some(d);
            }
            notified.await;
            drop(waiting);
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
        st.prefetch.remove(&self.consumer);
        st.waiting.remove(&self.consumer);
        if let Some(q) = st.queues.get_mut(&self.queue) {
            q.turns.retain(|&c| c != self.consumer);
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

    /// Like RabbitMQ, a queue hands its messages to its waiting consumers in
    /// turn, not all to whichever asks first.
    #[tokio::test]
    async fn competing_consumers_take_turns() {
        let t = InProcessTransport::new();
        t.declare(&topo()).await.unwrap();
        let taken = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for who in ["one", "two"] {
            let mut s = t.consume("a", 8).await.unwrap();
            let taken = taken.clone();
            tasks.push(tokio::spawn(async move {
                while let Some(Ok(d)) = s.next().await {
                    taken.lock().unwrap().push(who);
                    d.acker.ack().await.unwrap();
                }
            }));
        }
        // both consumers are waiting before anything is published
        tokio::task::yield_now().await;
        for i in 0..20 {
            t.publish("a", msg(&i.to_string())).await.unwrap();
        }
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
        while taken.lock().unwrap().len() < 20 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{:?}",
                taken.lock().unwrap()
            );
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        let taken = taken.lock().unwrap().clone();
        let ones = taken.iter().filter(|w| **w == "one").count();
        assert_eq!(ones, 10, "{taken:?}");
        for t in tasks {
            t.abort();
        }
    }

    /// A consumer whose turn it is but that stops waiting (its `next` was
    /// dropped) holds no message back from the others.
    #[tokio::test]
    async fn a_consumer_that_stops_waiting_holds_nothing_back() {
        let t = InProcessTransport::new();
        t.declare(&topo()).await.unwrap();
        let mut first = t.consume("a", 8).await.unwrap();
        let mut second = t.consume("a", 8).await.unwrap();
        let gave_up =
            tokio::time::timeout(std::time::Duration::from_millis(20), first.next()).await;
        assert!(gave_up.is_err(), "nothing to take yet");
        t.publish("a", msg("1")).await.unwrap();
        let d = tokio::time::timeout(std::time::Duration::from_secs(2), second.next())
            .await
            .expect("the message was held back for a consumer that left")
            .unwrap()
            .unwrap();
        assert_eq!(d.message.message_id.as_deref(), Some("1"));
        drop(first);
    }
}
