//! One pass over an in-process queue ([`QueuePass`]): the messages ready when
//! it began, each handed out once and held as a consumer's delivery is, the
//! ones not acked put back in their places when it closes (or is dropped).
//!
//! May use: [`super::broker`], [`super::consume`]'s acker, the seam's delivery
//! types and the ground layer (`crate::error`).

use std::sync::Arc;

use async_trait::async_trait;

use super::super::{Delivery, QueuePass};
use super::broker::{missing_queue, Broker};
use super::consume::MemoryAcker;
use crate::error::Result;

/// A pass over one queue: a consumer of its own, outside the queue's
/// round-robin turns (it takes only when asked).
pub(super) struct MemoryPass {
    broker: Arc<Broker>,
    queue: String,
    consumer: u64,
    /// Messages still to hand out of those ready at the start.
    left: usize,
    closed: bool,
}

impl MemoryPass {
    pub(super) fn open(broker: &Arc<Broker>, queue: &str) -> Result<Self> {
        let mut st = broker.lock();
        let left = st
            .queues
            .get(queue)
            .ok_or_else(|| missing_queue(queue))?
            .ready
            .len();
        st.next_consumer += 1;
        let consumer = st.next_consumer;
        // The acker counts in-flight deliveries per consumer.
        st.in_flight.insert(consumer, 0);
        Ok(MemoryPass {
            broker: broker.clone(),
            queue: queue.to_string(),
            consumer,
            left,
            closed: false,
        })
    }

    fn end(&mut self) {
        if self.closed {
            return;
        }
        self.closed = true;
        let mut st = self.broker.lock();
        st.in_flight.remove(&self.consumer);
        if let Some(q) = st.queues.get_mut(&self.queue) {
            q.give_back(self.consumer);
        }
    }
}

#[async_trait]
impl QueuePass for MemoryPass {
    async fn next(&mut self) -> Option<Result<Delivery>> {
        if self.closed || self.left == 0 {
            return None;
        }
        let mut st = self.broker.lock();
        st.next_tag += 1;
        let tag = st.next_tag;
        let Some(q) = st.queues.get_mut(&self.queue) else {
            return Some(Err(missing_queue(&self.queue)));
        };
        let msg = q.ready.pop_front()?;
        q.unacked.insert(tag, (self.consumer, msg.clone()));
        *st.in_flight.entry(self.consumer).or_default() += 1;
        self.left -= 1;
        Some(Ok(Delivery {
            message: msg,
            acker: Box::new(MemoryAcker {
                broker: self.broker.clone(),
                queue: self.queue.clone(),
                tag,
            }),
        }))
    }

    async fn close(&mut self) -> Result<()> {
        self.end();
        Ok(())
    }
}

impl Drop for MemoryPass {
    /// Like a closed AMQP channel: what the pass held goes back.
    fn drop(&mut self) {
        self.end();
    }
}
