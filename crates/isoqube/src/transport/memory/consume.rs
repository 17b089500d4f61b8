//! Consuming from the in-process broker: a stream per consumer that takes
//! messages in turn with the queue's other consumers under its prefetch,
//! hands its unsettled deliveries back when dropped (like a closed AMQP
//! channel), and the acker that settles one delivery.
//!
//! May use: [`super::broker`], the seam's delivery types, the ground layer
//! (`crate::error`) and tokio.

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::Notify;

use super::super::{Acker, Delivery, DeliveryStream};
use super::broker::{missing_queue, Broker};
use crate::error::{Error, Result};

/// One consumer of one queue.
pub(super) struct MemoryStream {
    broker: Arc<Broker>,
    queue: String,
    consumer: u64,
    notify: Arc<Notify>,
    cancelled: bool,
}

impl MemoryStream {
    /// A new consumer of `queue` with at most `prefetch` unsettled deliveries;
    /// it goes to the back of the queue's turns.
    pub(super) fn open(broker: &Arc<Broker>, queue: &str, prefetch: u16) -> Result<Self> {
        let mut st = broker.lock();
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
        Ok(MemoryStream {
            broker: broker.clone(),
            queue: queue.to_string(),
            consumer,
            notify,
            cancelled: false,
        })
    }

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
            q.give_back(self.consumer);
        }
    }
}

/// Settles one delivery, by its tag.
pub(super) struct MemoryAcker {
    pub(super) broker: Arc<Broker>,
    pub(super) queue: String,
    pub(super) tag: u64,
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
            q.requeue(msg);
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
